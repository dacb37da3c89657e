"""Presets of the ResNet family: name -> constructor kwargs + metadata.

Backbone FLOPs and parameter counts are not written here: they are computed
from the built model (`lcnet_tf.flops`) and pinned by tests against the
published figures.
"""

from lcnet_tf.models.resnet.resnet_model import IMAGENET_MEAN, IMAGENET_STD


def _cifar(depth):
    blocks = (depth - 2) // 6
    return {
        "kwargs": {
            "stage_blocks": (blocks, blocks, blocks),
            "stage_widths": (16, 32, 64),
            "block_type": "basic",
            "stem": "cifar",
            "shortcut": "zero_pad",
            "image_size": 32,
            # Channel gating only where it pays in TFLite (docs/export.md, measured with
            # benchmarks/tflite_latency.py): the 64-channel stage, 2 groups, keep 1. At 16 and 32
            # channels the per-group convolutions are overhead-bound; block gating covers them.
            "channel_gate_stages": (2,),
            "channel_groups": 2,
            "channel_keep": 0.5,
        },
        "description": f"CIFAR ResNet-{depth} (He et al. 2016 family; 8 and 14 are the shallow "
        f"static references), 3x{blocks} basic blocks, "
        "16/32/64 channels, zero-padding shortcuts, 32x32 input.",
        "dataset": "cifar10",
    }


def _imagenet(depth, blocks, block_type):
    return {
        "kwargs": {
            "stage_blocks": blocks,
            "stage_widths": (64, 128, 256, 512),
            "block_type": block_type,
            "stem": "imagenet",
            "shortcut": "projection",
            "image_size": 224,
            "pixel_mean": IMAGENET_MEAN,
            "pixel_std": IMAGENET_STD,
        },
        "description": f"ImageNet ResNet-{depth}, {block_type} blocks {blocks}, projection "
        "shortcuts, stride in the 3x3 conv (v1.5), 224x224 input.",
        "dataset": "imagenet2012",
    }


RESNET_PRESETS = {
    **{f"resnet{depth}": _cifar(depth) for depth in (8, 14, 20, 32, 38, 44, 56, 74, 110)},
    "resnet18": _imagenet(18, (2, 2, 2, 2), "basic"),
    "resnet34": _imagenet(34, (3, 4, 6, 3), "basic"),
    "resnet50": _imagenet(50, (3, 4, 6, 3), "bottleneck"),
    "resnet101": _imagenet(101, (3, 4, 23, 3), "bottleneck"),
}

"""FLOPs accounting: published figures, exact counts pinned by hand counts written from the
architecture (basic, bottleneck, projection and channel-gated blocks, open and closed), rules.

Convention: 1 FLOP = 1 multiply-accumulate (ResNet-50 = 4.1 GFLOPs).
"""

import keras
import numpy as np
import pytest

import lcnet_tf
from lcnet_tf import flops as flops_lib

# Published figures, as rounded by their sources, 1 MAC = 1 FLOP, with the 1000-class head for
# ImageNet. CIFAR: He et al. 2016 give no FLOPs; 40.6M / 125M / 253M are the counts the
# dynamic-inference and pruning literature quotes (e.g. SkipNet, BlockDrop tables). ImageNet:
# He et al. 2016 Table 1 gives 1.8 G (ResNet-18); ResNet-50 there is v1 (3.8 G), our preset is
# v1.5 (4.1 G, NVIDIA DeepLearningExamples). Tolerance: the figure's own rounding.
PUBLISHED = {
    "resnet20": (40.6e6, 0.002),
    "resnet56": (125e6, 0.005),
    "resnet110": (253e6, 0.002),
    "resnet18": (1.8e9, 0.03),  # rounded to 2 digits: 1.81 G
    "resnet50": (4.1e9, 0.003),  # 4.089 G
}


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_published_backbone_flops(name):
    expected, tolerance = PUBLISHED[name]
    model = lcnet_tf.create_model(name, gating="none")
    assert flops_lib.backbone_flops(model) == pytest.approx(expected, rel=tolerance)


def conv_macs(kernel, in_channels, out_channels, out_size):
    return kernel * kernel * in_channels * out_channels * out_size * out_size


def resnet20_by_hand(num_classes=10):
    """ResNet-20 on 32x32: 3x3 stem, 3 stages x 3 basic blocks (16/32/64), GAP, dense."""
    total = conv_macs(3, 3, 16, 32)  # stem
    in_channels = 16
    for width, size in ((16, 32), (32, 16), (64, 8)):
        for _ in range(3):
            total += conv_macs(3, in_channels, width, size) + conv_macs(3, width, width, size)
            in_channels = width
    total += 8 * 8 * 64  # global average pool: one accumulate per input element
    total += 64 * num_classes  # classifier
    return total


@pytest.mark.parametrize("gating", ["none", "lc"])
def test_resnet20_backbone_equals_hand_count(gating):
    assert resnet20_by_hand() == 40_555_136
    model = lcnet_tf.create_model("resnet20", gating=gating)
    # Gates never change the backbone figure.
    assert flops_lib.backbone_flops(model) == resnet20_by_hand()
    assert flops_lib.backbone_flops(
        lcnet_tf.create_model("resnet20", gating=gating, num_classes=100)
    ) == resnet20_by_hand(100)


def test_unknown_layer_raises_type_error():
    layer = keras.layers.LSTM(4, name="mystery")
    with pytest.raises(TypeError, match="mystery.*LSTM.*FLOPS_RULES"):
        flops_lib.layer_flops(layer, (None, 5, 3))


def test_layer_rules_and_flops_opt_in():
    conv = keras.layers.Conv2D(8, 3, strides=2, padding="same")
    assert flops_lib.layer_flops(conv, (None, 16, 16, 4)) == 3 * 3 * 4 * 8 * 8 * 8
    assert flops_lib.layer_flops(keras.layers.Dense(5), (None, 7)) == 35
    assert flops_lib.layer_flops(keras.layers.GlobalAveragePooling2D(), (None, 4, 4, 6)) == 96
    assert flops_lib.layer_flops(keras.layers.BatchNormalization(), (None, 4, 4, 6)) == 0

    class Custom(keras.layers.Layer):
        def flops(self, input_shape):
            return 7 * input_shape[-1]

    assert flops_lib.layer_flops(Custom(), (None, 3)) == 21
    # A subclass of a known layer uses its parent's rule.

    class MyDense(keras.layers.Dense):
        pass

    assert flops_lib.layer_flops(MyDense(2), (None, 3)) == 6


def test_cost_table_terms_by_hand_for_resnet20_lc():
    model = lcnet_tf.create_model(
        "resnet20", gating="lc", channel_groups=4, channel_gate_stages=None, gate_hidden=16
    )
    table = flops_lib.cost_table(model)
    # First block: input (32, 32, 16), width 16, 4 groups of 4 channels.
    pool = 32 * 32 * 16
    block_gate = 16 * 16 + 16 * 2
    channel_gate = 16 * 16 + 16 * 4
    convs = 2 * conv_macs(3, 16, 16, 32)
    assert table["always"][0] == pool + block_gate
    assert table["run"][0] == channel_gate
    assert table["per_group"][0] == convs // 4
    assert table["groups"][0] == 4
    assert table["backbone_block"][0] == convs
    # First block of stage 2 (stride 2, zero-pad shortcut: no shortcut cost).
    assert table["per_group"][3] == (conv_macs(3, 16, 32, 16) + conv_macs(3, 32, 32, 16)) // 4
    assert table["fixed"] == conv_macs(3, 3, 16, 32) + 8 * 8 * 64 + 64 * 10


def test_per_example_flops_with_a_forced_pattern():
    model = lcnet_tf.create_model(
        "resnet20", gating="lc", channel_groups=4, channel_keep=0.5, channel_gate_stages=None,
        gate_downsampling=True,
    )
    table = flops_lib.cost_table(model)
    pattern = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1])
    for block, run in zip(model.blocks, pattern, strict=True):
        block.block_gate_layer.decision_offset.assign(1e4 if run else -1e4)
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    per_example = flops_lib.per_example_flops(model, images)
    kept = 2  # top-k with k = round(0.5 * 4) groups in every running block
    expected = table["fixed"] + sum(
        table["always"][b] + pattern[b] * (table["run"][b] + kept * table["per_group"][b])
        for b in range(9)
    )
    np.testing.assert_array_equal(per_example, np.full(3, expected))
    # Same by hand from the architecture for the running part of block 0.
    assert table["run"][0] + kept * table["per_group"][0] == (
        16 * 16 + 16 * 4 + conv_macs(3, 16, 16, 32)
    )
    assert flops_lib.closed_flops(model) < expected < flops_lib.open_flops(model)
    # Datasets of (images, labels) batches give the same answer.
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((images, np.zeros(3, "int32"))).batch(2)
    np.testing.assert_array_equal(flops_lib.per_example_flops(model, dataset), per_example)


def test_open_and_closed_flops_by_gating():
    # ResNet-20 has no projection shortcuts: every "always" cost is gate pooling + gate nets.
    layer_model = lcnet_tf.create_model("resnet20", gating="layer", gate_downsampling=True)
    table = flops_lib.cost_table(layer_model)
    assert flops_lib.closed_flops(layer_model) == table["fixed"] + table["always"].sum()
    assert flops_lib.open_flops(layer_model) == table["backbone"] + table["always"].sum()
    assert np.all(table["per_group"] == 0) and np.all(table["groups"] == 0)
    # Channel gates alone: blocks always run their ungrouped part and their channel gate.
    channel_model = lcnet_tf.create_model("resnet20", gating="channel")
    table = flops_lib.cost_table(channel_model)
    assert flops_lib.closed_flops(channel_model) == table["fixed"] + (
        table["always"] + table["run"]
    ).sum()
    assert flops_lib.open_flops(channel_model) == flops_lib.closed_flops(channel_model) + (
        table["groups"] * table["per_group"]
    ).sum()
    assert flops_lib.open_flops(channel_model) > table["backbone"]


# Independent references for bottleneck, projection and channel-gated blocks (written from the
# architecture, not from the cost table): each catches a mis-billed layer that the table would
# agree with itself about (conv3 billed per group, a projection billed only when the block runs).
def gate_macs(in_channels, hidden, outputs):
    return in_channels * hidden + hidden * outputs


def test_bottleneck_projection_block_by_hand():
    groups = 4
    model = lcnet_tf.create_model("resnet50", gating="lc", channel_groups=groups,
                                  channel_gate_stages=None, gate_downsampling=True)
    table = flops_lib.cost_table(model)
    # stage1_block1: input 56x56x64, width 64, output 256, stride 1, projection shortcut.
    pool = 56 * 56 * 64
    assert table["always"][0] == pool + gate_macs(64, 16, 2) + conv_macs(1, 64, 256, 56)
    assert table["run"][0] == gate_macs(64, 16, groups) + conv_macs(1, 64, 256, 56)  # C-gate, conv3
    assert table["per_group"][0] == (conv_macs(1, 64, 64, 56) + conv_macs(3, 64, 64, 56)) // groups
    # stage2_block1 (index 3): input 56x56x256, width 128, stride 2 in the 3x3 (v1.5).
    assert table["always"][3] == 56 * 56 * 256 + gate_macs(256, 16, 2) + conv_macs(1, 256, 512, 28)
    assert table["run"][3] == gate_macs(256, 16, groups) + conv_macs(1, 128, 512, 28)
    assert table["per_group"][3] == (conv_macs(1, 256, 128, 56) + conv_macs(3, 128, 128, 28)) // 4
    # A plain block (stage1_block2): no projection in "always".
    assert table["always"][1] == 56 * 56 * 256 + gate_macs(256, 16, 2)


def test_basic_projection_block_by_hand():
    model = lcnet_tf.create_model("resnet18", gating="layer", gate_downsampling=True)
    table = flops_lib.cost_table(model)
    # stage2_block1 (index 2): input 56x56x64, width 128, stride 2, projection 1x1/2.
    assert table["always"][2] == 56 * 56 * 64 + gate_macs(64, 16, 2) + conv_macs(1, 64, 128, 28)
    assert table["run"][2] == conv_macs(3, 64, 128, 28) + conv_macs(3, 128, 128, 28)
    assert table["per_group"][2] == 0


def resnet18_by_hand(num_classes=1000, closed=False, gates=False):
    """ResNet-18 at 224 (v1 and v1.5 agree: basic blocks), optionally every block skipped.

    `closed`: every block gated and skipped: only stem, projections, head (+ gates) run.
    `gates`: add the L-Net gates (pool + Dense(16) -> 2) of every block.
    """
    total = conv_macs(7, 3, 64, 112)
    in_channels, size = 64, 56
    for stage, width in enumerate((64, 128, 256, 512)):
        for index in range(2):
            stride = 2 if stage > 0 and index == 0 else 1
            out = size // stride
            if gates:
                total += size * size * in_channels + gate_macs(in_channels, 16, 2)
            if not closed:
                total += conv_macs(3, in_channels, width, out) + conv_macs(3, width, width, out)
            if stride != 1 or in_channels != width:
                total += conv_macs(1, in_channels, width, out)  # projection: runs when skipped
            in_channels, size = width, out
    return total + size * size * 512 + 512 * num_classes


def test_resnet18_open_and_closed_by_hand():
    assert resnet18_by_hand() == 1_814_098_432  # 1.81 GMACs with the 1000-class head
    model = lcnet_tf.create_model("resnet18", gating="layer", gate_downsampling=True)
    assert flops_lib.backbone_flops(model) == resnet18_by_hand()
    assert flops_lib.open_flops(model) == resnet18_by_hand(gates=True)
    assert flops_lib.closed_flops(model) == resnet18_by_hand(closed=True, gates=True)
    # The same through the model's own per-image accounting with every gate forced shut.
    small = lcnet_tf.create_model("resnet18", gating="layer", gate_downsampling=True,
                                  image_size=224)
    for block in small.blocks:
        block.block_gate_layer.decision_offset.assign(-1e4)
    images = np.zeros((1, 224, 224, 3), "uint8")
    assert flops_lib.per_example_flops(small, images)[0] == resnet18_by_hand(closed=True,
                                                                            gates=True)


def test_channel_gated_basic_block_open_and_closed_by_hand():
    """`channel` gating on ResNet-20's stage 3: no block gate, k of G groups of conv1."""
    model = lcnet_tf.create_model("resnet20", gating="channel", channel_groups=2,
                                  channel_keep=0.5, channel_gate_stages=(2,))
    table = flops_lib.cost_table(model)
    block = 7  # stage3_block2: 8x8x64 in and out
    conv = conv_macs(3, 64, 64, 8)
    assert table["always"][block] == 8 * 8 * 64  # gate pooling only
    assert table["run"][block] == gate_macs(64, 16, 2)
    assert table["per_group"][block] == 2 * conv // 2  # conv1 + conv2, per group of 32
    kept_one = table["always"][block] + table["run"][block] + conv  # half of both convs
    assert kept_one == 8 * 8 * 64 + gate_macs(64, 16, 2) + conv


# Exact backbone figures with their sources. CIFAR: He et al. 2016 give no FLOPs; 40.6M
# (ResNet-20) is the count in the pruning literature (e.g. He et al. 2018, soft filter pruning)
# and ours by hand. ImageNet (1000 classes, 224x224): He et al. 2016 Table 1 gives 1.8 GFLOPs
# (ResNet-18) and 3.8 GFLOPs (ResNet-50 v1, stride in the 1x1); the v1.5 ResNet-50 of our
# presets (stride in the 3x3) is 4.09 G (NVIDIA DeepLearningExamples). Our counts include the
# global pool and the classifier.
EXACT = {
    "resnet20": 40_555_136,
    "resnet56": 125_489_792,
    "resnet110": 252_891_776,
    "resnet18": 1_814_098_432,
    "resnet50": 4_089_284_608,  # = bottleneck_v1_by_hand(stride_in_1x1=False), keras-apps test
}


@pytest.mark.parametrize("name", list(EXACT))
def test_exact_backbone_flops(name):
    model = lcnet_tf.create_model(name, gating="none")
    assert model.num_classes == (1000 if name in ("resnet18", "resnet50") else 10)
    assert flops_lib.backbone_flops(model) == EXACT[name]


def test_exact_figures_equal_hand_counts():
    assert resnet18_by_hand() == EXACT["resnet18"]
    def cifar_by_hand(blocks):
        total = conv_macs(3, 3, 16, 32)
        in_channels = 16
        for width, size in ((16, 32), (32, 16), (64, 8)):
            for _ in range(blocks):
                total += conv_macs(3, in_channels, width, size) + conv_macs(3, width, width, size)
                in_channels = width
        return total + 8 * 8 * 64 + 64 * 10

    assert cifar_by_hand(3) == EXACT["resnet20"] == resnet20_by_hand()
    assert cifar_by_hand(9) == EXACT["resnet56"]
    assert cifar_by_hand(18) == EXACT["resnet110"]

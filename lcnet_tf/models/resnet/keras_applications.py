"""A gated ResNet from a `keras.applications` ResNet (v1) and its weights.

    >>> source = keras.applications.ResNet50(weights="imagenet", classifier_activation=None)
    >>> model = lcnet_tf.from_keras_application(source, gating="lc")
    >>> logits = model(pixels)  # RGB pixels 0-255, no `preprocess_input`

The converted backbone computes the source's function: the stride sits in each
bottleneck's first 1x1 convolution (`stride_in_1x1=True`, ResNet v1), the stem pads
symmetrically (`stem_padding="symmetric"`), every convolution's bias is folded into the
BatchNormalization after it, the caffe preprocessing of `keras.applications.resnet`
(RGB -> BGR, minus the BGR ImageNet mean, no scaling) becomes the model's input
normalisation and its first kernel's channel order, and the classifier is copied. The
gates are fresh: block-gate scales start at exactly 1 and channel saliencies within
1e-6 of 1, so with the gates forced open (`force_gates_open=True`) the model
reproduces the source's logits.
"""

import re

import keras
import numpy as np

from lcnet_tf.models.resnet.resnet_model import GATINGS, GatedResNet

# `keras.applications.resnet.preprocess_input` ("caffe"): BGR order, minus this BGR mean.
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
_SUPPORTED = ("ResNet50, ResNet101 or ResNet152 from keras.applications (ResNet v1, "
              "bottleneck blocks, layer names such as 'conv2_block1_1_conv')")
_BLOCK_CONV = re.compile(r"^conv(\d+)_block(\d+)_(\d)_conv$")
# Arguments that would change the backbone the weights are copied into.
_ARCHITECTURE = ("stage_blocks", "stage_widths", "block_type", "stem", "stem_padding",
                 "shortcut", "stride_in_1x1", "pixel_mean", "pixel_std")


def _refuse(message):
    return ValueError(f"Invalid value for `model`: expected {_SUPPORTED}. {message}")


def _layer(model, name):
    try:
        return model.get_layer(name)
    except ValueError:
        return None


def _describe(model):
    """`stage_blocks`, `stage_widths` and `stride_in_1x1` of a keras.applications ResNet."""
    if any(layer.name.endswith("_preact_bn") for layer in model.layers):
        raise _refuse(
            f"Received {model.name!r}, a pre-activation ResNet v2 (ResNet50V2 and kin), "
            "whose blocks normalise before the convolution: not convertible to this backbone."
        )
    blocks = {}
    for layer in model.layers:
        match = _BLOCK_CONV.match(layer.name)
        if match:
            stage, block, conv = (int(g) for g in match.groups())
            blocks.setdefault(stage, {}).setdefault(block, {})[conv] = layer
    if _layer(model, "conv1_conv") is None or sorted(blocks) != [2, 3, 4, 5]:
        raise _refuse(f"Received {model.name!r}, which has no such layers.")
    stage_blocks, stage_widths, strides = [], [], set()
    for stage in (2, 3, 4, 5):
        numbers = sorted(blocks[stage])
        if numbers != list(range(1, len(numbers) + 1)):
            raise _refuse(f"Stage conv{stage} has blocks {numbers}, not 1..n.")
        for number in numbers:
            convs = blocks[stage][number]
            if sorted(convs) not in ([1, 2, 3], [0, 1, 2, 3]) or (0 in convs) != (number == 1):
                raise _refuse(
                    f"Block conv{stage}_block{number} has convolutions {sorted(convs)}; "
                    "expected a projection (_0_) in the first block of each stage only and "
                    "_1_, _2_, _3_ (1x1, 3x3, 1x1) in every block (a bottleneck ResNet)."
                )
        first = blocks[stage][1]
        width = first[1].filters
        if first[2].kernel_size != (3, 3) or first[3].filters != 4 * width:
            raise _refuse(f"conv{stage}_block1 is not a 1x1-3x3-1x1 bottleneck of expansion 4.")
        stride = 1 if stage == 2 else 2
        if stage == 2:
            pass  # Stride 1: nothing tells v1 from v1.5.
        elif tuple(first[1].strides) == (stride, stride) and tuple(first[2].strides) == (1, 1):
            strides.add(True)
        elif tuple(first[2].strides) == (stride, stride) and tuple(first[1].strides) == (1, 1):
            strides.add(False)
        else:
            raise _refuse(f"conv{stage}_block1 does not stride by {stride} in one convolution.")
        stage_blocks.append(len(blocks[stage]))
        stage_widths.append(width)
    if len(strides) != 1:
        raise _refuse(
            "The stride sits in the 1x1 convolution in some stages, in the 3x3 in others."
        )
    return tuple(stage_blocks), tuple(stage_widths), strides.pop(), blocks


def _image_size(model, image_size):
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[-1] != 3:
        raise _refuse(
            f"Received an input of shape {shape}; expected (batch, height, width, 3), "
            "channels last (keras.config.image_data_format() == 'channels_last')."
        )
    height, width = shape[1], shape[2]
    if height is None and width is None:
        if image_size is None:
            raise ValueError(
                "Invalid value for `image_size`: the source accepts any input size "
                "(include_top=False without input_shape); pass `image_size=224` (or the size "
                "to fine-tune at). Received: image_size=None"
            )
        return image_size
    if height != width or height is None:
        raise _refuse(f"Received an input of shape {shape}; expected square images.")
    if image_size is not None and image_size != height:
        raise ValueError(
            f"Invalid value for `image_size`: the source takes {height}x{width} images. "
            f"Received: image_size={image_size!r}"
        )
    return height


def _classifier(model, num_classes):
    """`(dense layer or None, num_classes)`; the head is copied only when its size matches."""
    head = _layer(model, "predictions")
    if head is None:
        if num_classes is None:
            raise ValueError(
                "Invalid value for `num_classes`: the source has no classifier "
                "(include_top=False), so the gated model's head starts fresh and needs a "
                "class count, e.g. num_classes=1000. Received: num_classes=None"
            )
        return None, num_classes
    activation = keras.activations.serialize(head.activation)
    activation = activation if isinstance(activation, str) else activation.get("config", {}).get(
        "name", str(activation))
    if activation not in ("linear", "softmax"):
        raise _refuse(f"Its classifier has activation {activation!r}; expected None (logits) "
                      "or 'softmax', whose pre-activation logits are kept.")
    if num_classes is None or num_classes == head.units:
        return head, head.units
    return None, num_classes


def _fold_bn(target, bn, conv_bias=None):
    """Copies `bn` into `target` (epsilon 1e-5) with `conv_bias` folded into its mean."""
    gamma, beta, mean, variance = (np.asarray(w, "float64") for w in bn.get_weights())
    if conv_bias is not None:
        mean = mean - conv_bias  # BN(conv(x) + b) == BN'(conv(x)) with mean' = mean - b.
    variance = variance + (bn.epsilon - target.epsilon)  # The same denominator.
    target.set_weights([np.asarray(w, "float32") for w in (gamma, beta, mean, variance)])


def _copy_conv(target_conv, target_bn, conv, bn, kernel_transform=None):
    weights = conv.get_weights()
    kernel = weights[0] if kernel_transform is None else kernel_transform(weights[0])
    target_conv.set_weights([kernel])
    bias = np.asarray(weights[1], "float64") if conv.use_bias else None
    _fold_bn(target_bn, bn, bias)


def from_keras_application(model, gating="lc", *, num_classes=None, image_size=None,
                           **overrides):
    """Builds a `GatedResNet` that computes a `keras.applications` ResNet's function.

    Args:
        model: `keras.applications.ResNet50`, `ResNet101` or `ResNet152` (v1), any
            weights; `classifier_activation=None` (logits) or "softmax" (the gated model
            returns its pre-softmax logits); `include_top=False` needs `num_classes`.
        gating: "none", "layer", "channel" or "lc"; the gates start fresh and open.
        num_classes: classifier outputs; None keeps the source's. A different count (or
            a source without a head) gives a fresh classifier.
        image_size: input size; only needed (and only allowed to differ from the
            source's) when the source accepts any size.
        **overrides: other `GatedResNet` arguments (gate settings, `budget`, `name`...);
            the backbone's own (`stage_blocks`, `pixel_mean`...) come from the source.

    Returns:
        A built `GatedResNet` taking RGB pixels in 0-255 (the source's caffe
        preprocessing is inside it). Gates forced open (`force_gates_open=True`)
        reproduce the source's logits (to float rounding).

    Raises:
        ValueError: for a source that is not such a ResNet (another architecture, a
            ResNet v2, channels-first or non-square input), a head without a class
            count, or an override of the backbone's architecture.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"Invalid value for `model`: expected a keras.Model ({_SUPPORTED}). "
                         f"Received: model of type {type(model).__name__}")
    if gating not in GATINGS:
        raise ValueError(
            f"Invalid value for `gating`: expected one of {GATINGS}. Received: gating={gating!r}"
        )
    clash = sorted(set(overrides) & set(_ARCHITECTURE))
    if clash:
        raise ValueError(
            f"Invalid value for `overrides`: {clash} are set by the source network and cannot "
            f"be overridden. Received: { {k: overrides[k] for k in clash} }"
        )
    stage_blocks, stage_widths, stride_in_1x1, blocks = _describe(model)
    size = _image_size(model, image_size)
    head, num_classes = _classifier(model, num_classes)
    rgb_mean = tuple(v / 255.0 for v in reversed(CAFFE_BGR_MEAN))
    target = GatedResNet(
        stage_blocks=stage_blocks, stage_widths=stage_widths, block_type="bottleneck",
        stem="imagenet", stem_padding="symmetric", shortcut="projection",
        stride_in_1x1=stride_in_1x1, image_size=size, num_classes=num_classes, gating=gating,
        pixel_mean=rgb_mean, pixel_std=(1 / 255.0,) * 3,
        **{"name": f"{model.name}_{gating}", **overrides},
    )
    stem = {layer.name: layer for layer in target.stem_layers}
    # The source's first convolution reads BGR; ours reads RGB: reverse its input channels.
    _copy_conv(stem["stem_conv"], stem["stem_bn"], model.get_layer("conv1_conv"),
               model.get_layer("conv1_bn"), kernel_transform=lambda k: k[:, :, ::-1, :])
    index = 0
    for stage in (2, 3, 4, 5):
        for number in sorted(blocks[stage]):
            block = target.blocks[index]
            index += 1
            prefix = f"conv{stage}_block{number}"
            for position, (conv, bn) in enumerate(zip(block.convs, block.bns, strict=True)):
                _copy_conv(conv, bn, model.get_layer(f"{prefix}_{position + 1}_conv"),
                           model.get_layer(f"{prefix}_{position + 1}_bn"))
            if number == 1:
                _copy_conv(block.projection, block.projection_bn,
                           model.get_layer(f"{prefix}_0_conv"), model.get_layer(f"{prefix}_0_bn"))
            _open_fresh_gates(block)
    if head is not None:
        target.classifier.set_weights(head.get_weights())
    return target


def _open_fresh_gates(block):
    """Fresh gates that leave the backbone's function unchanged when forced open.

    The block gate's scale `1 + tanh(raw)` is exactly 1 with a zero output kernel
    (its bias starts at 0). The channel gate's saliency `2 * sigmoid(logit)` ranks the
    groups, so its output kernel stays random (a per-image ranking from the first
    step) but tiny: saliencies within about 1e-6 of 1.
    """
    if block.block_gate_layer is not None:
        scale = block.block_gate_layer.scale_dense
        scale.kernel.assign(np.zeros(tuple(scale.kernel.shape), "float32"))
    if block.channel_gate_layer is not None:
        saliency = block.channel_gate_layer.saliency_dense
        rng = np.random.default_rng(0)
        saliency.kernel.assign(rng.normal(0.0, 1e-7, tuple(saliency.kernel.shape)).astype(
            "float32"))


# `--init_from keras_applications:<name>[:<weights file>]`.
INIT_PREFIX = "keras_applications:"
APPLICATIONS = {"resnet50": "ResNet50", "resnet101": "ResNet101", "resnet152": "ResNet152"}


def is_application_spec(init_from):
    """Whether `init_from` names a keras.applications network (`keras_applications:...`)."""
    return isinstance(init_from, str) and init_from.startswith(INIT_PREFIX)


def load_application(spec):
    """The keras.applications ResNet named by `spec`, with its weights.

    `keras_applications:resnet50` downloads the ImageNet weights (Keras caches them
    under ~/.keras); `keras_applications:resnet50:/path/to/file.weights.h5` (or `.h5`)
    loads a local weights file instead, for machines without internet.

    Raises:
        ValueError: for an unknown name or a missing weights file.
    """
    rest = spec[len(INIT_PREFIX):]
    name, _, weights = rest.partition(":")
    if name not in APPLICATIONS:
        raise ValueError(
            f"Invalid value for `init_from`: expected {INIT_PREFIX}<name>[:<weights file>] "
            f"with a name in {sorted(APPLICATIONS)}. Received: init_from={spec!r}"
        )
    if weights and not _exists(weights):
        raise ValueError(
            f"Invalid value for `init_from`: no such weights file {weights!r}. "
            f"Received: init_from={spec!r}"
        )
    constructor = getattr(keras.applications, APPLICATIONS[name])
    return constructor(weights=weights or "imagenet", classifier_activation=None)


def _exists(path):
    import os

    return os.path.exists(path)

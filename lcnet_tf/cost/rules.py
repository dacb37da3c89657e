"""FLOPs rules: one table keyed by layer class.

Convention (as in the ResNet, SkipNet and LC-Net papers): 1 FLOP = 1
multiply-accumulate, so ResNet-50 is about 4.1 GFLOPs. Convolutions and dense
layers count their MACs; a global average pool counts one accumulate per
input element (it feeds every gate network, so it is not free); BatchNorm
(folded into the convolution at export), ReLU, padding, max-pooling and the
input normalisation count 0. An unknown layer raises instead of counting 0.
"""

import math

import keras

from lcnet_tf.layers.block_gate import BlockGate
from lcnet_tf.layers.channel_gate import ChannelGate


def _conv2d_flops(layer, input_shape):
    output_shape = layer.compute_output_shape(tuple(input_shape))
    kernel_h, kernel_w = layer.kernel_size
    in_channels = input_shape[-1] // layer.groups
    return kernel_h * kernel_w * in_channels * layer.filters * output_shape[1] * output_shape[2]


def _depthwise_flops(layer, input_shape):
    output_shape = layer.compute_output_shape(tuple(input_shape))
    kernel_h, kernel_w = layer.kernel_size
    return (
        kernel_h * kernel_w * input_shape[-1] * layer.depth_multiplier
        * output_shape[1] * output_shape[2]
    )


def _dense_flops(layer, input_shape):
    return math.prod(input_shape[1:-1] or (1,)) * input_shape[-1] * layer.units


def _global_pool_flops(layer, input_shape):
    return math.prod(input_shape[1:])


def _zero_flops(layer, input_shape):
    return 0


def _block_gate_flops(layer, input_shape):
    hidden = layer.hidden_units
    return input_shape[-1] * hidden + hidden * 2  # keep logit + scale


def _channel_gate_flops(layer, input_shape):
    return input_shape[-1] * layer.hidden_units + layer.hidden_units * layer.groups


FLOPS_RULES = {
    keras.layers.Conv2D: _conv2d_flops,
    keras.layers.DepthwiseConv2D: _depthwise_flops,
    keras.layers.Dense: _dense_flops,
    keras.layers.GlobalAveragePooling2D: _global_pool_flops,
    keras.layers.BatchNormalization: _zero_flops,
    keras.layers.ReLU: _zero_flops,
    keras.layers.Activation: _zero_flops,
    keras.layers.MaxPooling2D: _zero_flops,
    keras.layers.ZeroPadding2D: _zero_flops,
    keras.layers.Rescaling: _zero_flops,
    keras.layers.Normalization: _zero_flops,
    BlockGate: _block_gate_flops,
    ChannelGate: _channel_gate_flops,
}


def layer_flops(layer, input_shape):
    """MACs of one image through `layer` with the given (batched) input shape.

    Custom layers opt in with a `flops(input_shape)` method; otherwise the rule
    of the nearest class in `FLOPS_RULES` applies.

    Raises:
        TypeError: for a layer with no rule.

    Example:
        >>> layer_flops(keras.layers.Dense(5), (None, 7))  # 35
    """
    if hasattr(layer, "flops"):
        return int(layer.flops(input_shape))
    for cls in type(layer).__mro__:
        if cls in FLOPS_RULES:
            return int(FLOPS_RULES[cls](layer, input_shape))
    raise TypeError(
        f"No FLOPs rule for layer {layer.name!r} of class {type(layer).__name__}: add one to "
        "lcnet_tf.flops.FLOPS_RULES or give the layer a `flops(input_shape)` method."
    )

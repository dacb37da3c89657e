"""FLOPs accounting: one table of rules keyed by layer class.

Convention (as in the ResNet, SkipNet and LC-Net papers): 1 FLOP = 1
multiply-accumulate, so ResNet-50 is about 4.1 GFLOPs. Convolutions and dense
layers count their MACs; a global average pool counts one accumulate per
input element (it feeds every gate network, so it is not free); BatchNorm
(folded into the convolution at export), ReLU, padding, max-pooling and the
input normalisation count 0. An unknown layer raises instead of counting 0.

A gated model counts, per image: the fixed part (stem, head), then per block
`always + gate * (run + kept_groups * per_group)` where `always` is what runs
whether or not the block runs (gate pooling, the L-Net gate, a projection
shortcut), `run` what runs with the block (C-Net gate, ungrouped convs) and
`per_group` the cost of one kept channel group's convolutions.
"""

import math

import keras
import numpy as np

from lcnet_tf.layers import BlockGate, ChannelGate
from lcnet_tf.ops.budget_ops import realized_flops


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


def block_costs(block):
    """Cost terms of one `GatedResidualBlock`.

    Returns:
        Dict of ints: `always`, `run`, `per_group` (realized FLOPs terms, gates
        included) and `backbone` (the same block without gates, all channels).
    """
    costs = {"always": 0.0, "run": 0.0, "per_group": 0.0, "backbone": 0.0}
    for layer, input_shape, role, fraction, is_gate in block.cost_items():
        flops = layer_flops(layer, input_shape)
        costs[role] += flops * fraction
        if not is_gate:
            costs["backbone"] += flops
    return {key: int(round(value)) for key, value in costs.items()}


def cost_table(model):
    """Static cost vectors of a built gated model (see module docstring).

    Returns:
        Dict with `fixed` (int) and numpy int64 vectors over blocks `always`,
        `run`, `per_group`, `groups` and `backbone_block`, plus `backbone` (int).
    """
    fixed = sum(layer_flops(layer, shape) for layer, shape in model.fixed_cost_items())
    per_block = [block_costs(block) for block in model.blocks]
    table = {"fixed": int(fixed)}
    for key in ("always", "run", "per_group"):
        table[key] = np.array([costs[key] for costs in per_block], dtype=np.int64)
    table["groups"] = np.array(
        [block.channel_groups or 0 for block in model.blocks], dtype=np.int64
    )
    table["backbone_block"] = np.array([c["backbone"] for c in per_block], dtype=np.int64)
    table["backbone"] = int(fixed + table["backbone_block"].sum())
    return table


def backbone_flops(model):
    """MACs of one image through the ungated backbone of `model`.

    Example:
        >>> backbone_flops(lcnet_tf.create_model("resnet20"))  # about 40.6M
    """
    return cost_table(model)["backbone"]


def open_flops(model):
    """Per-image FLOPs with every gate forced open (`CostModel.forced_open_flops`)."""
    from lcnet_tf.cost import CostModel

    return CostModel.from_model(model).forced_open_flops()


def closed_flops(model):
    """Per-image FLOPs with every gate forced closed (`CostModel.forced_closed_flops`):
    gated blocks skipped, no channel groups kept; blocks without a block gate still run
    their ungrouped part. Not the lowest ratio calibration can reach with trained top-k
    channel gates: that is `CostModel.decision_range()`."""
    from lcnet_tf.cost import CostModel

    return CostModel.from_model(model).forced_closed_flops()


def realized_flops_from_info(table, gate, kept_groups):
    """Per-image FLOPs from block decisions; works on numpy arrays or tensors.

    Args:
        table: `cost_table(model)`.
        gate: (batch, blocks) 0/1 block decisions.
        kept_groups: (batch, blocks) kept channel groups per block.
    """
    return realized_flops(
        gate, kept_groups, table["fixed"], table["always"], table["run"], table["per_group"]
    )


def per_example_flops(model, images, batch_size=256):
    """FLOPs each image really executes in inference mode, gate networks included.

    Args:
        model: a gated model from `lcnet_tf.create_model`.
        images: array (N, H, W, 3) of pixels, or a `tf.data.Dataset` of images
            or `(images, labels)` batches.
        batch_size: batch size for arrays.

    Returns:
        numpy int64 array (N,).
    """
    import tensorflow as tf

    if isinstance(images, tf.data.Dataset):
        dataset = images.map(lambda *batch: batch[0])
    else:
        dataset = tf.data.Dataset.from_tensor_slices(np.asarray(images)).batch(batch_size)
    from lcnet_tf.cost import CostModel

    cost = getattr(model, "cost", None) or CostModel.from_model(model)
    results = []
    for batch in dataset:
        _, info = model(batch, training=False, return_gate_info=True)
        gate = np.rint(keras.ops.convert_to_numpy(info["gate"])).astype(np.int64)
        kept = np.rint(keras.ops.convert_to_numpy(info["kept_groups"])).astype(np.int64)
        results.append(cost.realized(gate, kept))
    return np.concatenate(results).astype(np.int64)

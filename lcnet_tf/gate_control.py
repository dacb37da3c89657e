"""Forcing every gate of a model open or closed (tests, calibration, analysis)."""

import numpy as np

from lcnet_tf.layers import BlockGate, ChannelGate
from lcnet_tf.layers.block_gate import check_override


def gate_layers(model):
    """Every `BlockGate` and `ChannelGate` inside `model` (a model with `blocks`)."""
    blocks = getattr(model, "blocks", None)
    if blocks is None:
        raise TypeError(
            "Invalid value for `model`: expected a gated model from lcnet_tf.create_model "
            f"(with `blocks`). Received: {type(model).__name__}"
        )
    layers = []
    for block in blocks:
        for gate in (block.block_gate_layer, block.channel_gate_layer):
            if isinstance(gate, BlockGate | ChannelGate):
                layers.append(gate)
    return layers


def set_gate_override(model, mode):
    """Forces every gate of `model`: "open", "closed", or None for learned decisions.

    Applies to training and inference alike and resets the model's compiled
    `fit`/`evaluate`/`predict` functions so the change takes effect. Not saved
    with the model.

    Example:
        >>> set_gate_override(model, "open")
        >>> set_gate_override(model, None)
    """
    check_override(mode)
    for layer in gate_layers(model):
        layer.override = mode
    for attr in ("train_function", "test_function", "predict_function"):
        if hasattr(model, attr):
            setattr(model, attr, None)


def gate_multipliers(model, images, batch_size=500):
    """The gates' multipliers of every gated block, with every gate forced open.

    The L-Net's learned block scale (each running block's output is multiplied by it)
    and the C-Net's channel-group saliency (each kept group's), read from the gates on
    the input each block receives in the full network (inference mode). A block scale
    far below 1 means the block contributes little even when it runs. In a model with
    `plain_open_path` the forced-open network does not apply them (its multipliers are 1):
    these are then what the gated network applies, read on the full network's inputs.

    Args:
        model: a gated model from `lcnet_tf.create_model`.
        images: uint8 images, (N, H, W, 3).
        batch_size: images per forward pass.

    Returns:
        `{block name: {"scale": (N,), "saliency": (N, G)}}` for the gated blocks (a key
        only where the block has that gate).
    """
    from keras import ops

    gate_layers(model)  # checks `model`
    found = {}
    for start in range(0, len(images), batch_size):
        x = model._normalize(ops.cast(images[start:start + batch_size], "float32"), False)
        for layer in model.stem_layers:
            x = layer(x, training=False)
        for block in model.blocks:
            if block.gate_pool is not None:
                pooled = block.gate_pool(x)
                entry = found.setdefault(block.name, {"scale": [], "saliency": []})
                if block.block_gate_layer is not None:
                    entry["scale"].append(ops.convert_to_numpy(
                        block.block_gate_layer(pooled)["scale"]))
                if block.channel_gate_layer is not None:
                    entry["saliency"].append(ops.convert_to_numpy(
                        block.channel_gate_layer(pooled)["saliency"]))
            x, _ = block(x, training=False, force_open=True)
    return {name: {key: np.concatenate(values) for key, values in entry.items() if values}
            for name, entry in found.items()}

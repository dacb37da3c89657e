"""Forcing every gate of a model open or closed (tests, calibration, analysis)."""

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

"""Setting gate weights to known or random decisions (export tests and latency benchmarks).

A gate forced by a Python or graph constant makes TFLite conversion fail (the
IF predicate folds to a constant), so these helpers change the *weights* of
the gate networks instead: decisions stay computed from the input in the
exported graph, exactly as in a trained model.
"""

import numpy as np

from lcnet_tf.layers import BlockGate, ChannelGate


def _gates(model):
    block_gates, channel_gates = [], []
    for block in model.blocks:
        block_gates.append(block.block_gate_layer)
        channel_gates.append(block.channel_gate_layer)
    return block_gates, channel_gates


def fix_gate_pattern(model, block_runs=None, kept_group_indices=None):
    """Makes every image take the same, known decisions.

    The last dense layer of each gate gets a zero kernel and a bias that
    encodes the decision, so the graph still computes the gate from the input.

    Args:
        model: a `GatedResNet`.
        block_runs: sequence of bools, one per block (ignored for blocks
            without a block gate); None leaves block gates open.
        kept_group_indices: sequence (one per block) of the channel-group
            indices to keep; each must have the block's `keep_groups` entries.
            None keeps groups 0..k-1.
    """
    block_gates, channel_gates = _gates(model)
    num_blocks = len(model.blocks)
    if block_runs is not None and len(block_runs) != num_blocks:
        raise ValueError(
            f"Invalid value for `block_runs`: expected {num_blocks} entries. "
            f"Received: {len(block_runs)}"
        )
    for index, (block_gate, channel_gate) in enumerate(zip(block_gates, channel_gates,
                                                          strict=True)):
        if isinstance(block_gate, BlockGate):
            runs = True if block_runs is None else bool(block_runs[index])
            dense = block_gate.keep_logit_dense
            dense.kernel.assign(np.zeros(dense.kernel.shape, "float32"))
            dense.bias.assign(np.full(dense.bias.shape, 8.0 if runs else -8.0, "float32"))
            block_gate.decision_offset.assign(0.0)
        if isinstance(channel_gate, ChannelGate):
            keep = (
                list(range(channel_gate.keep_groups))
                if kept_group_indices is None
                else list(kept_group_indices[index])
            )
            if len(keep) != channel_gate.keep_groups:
                raise ValueError(
                    f"Invalid value for `kept_group_indices`: block {index} keeps "
                    f"{channel_gate.keep_groups} groups. Received: {keep}"
                )
            bias = np.full((channel_gate.groups,), -4.0, "float32")
            for rank, group in enumerate(keep):
                bias[group] = 4.0 - 0.1 * rank
            dense = channel_gate.saliency_dense
            dense.kernel.assign(np.zeros(dense.kernel.shape, "float32"))
            dense.bias.assign(bias)


def randomize_gates(model, seed=0, block_keep_prob=0.5, logit_scale=4.0, images=None):
    """Random gate networks whose decisions vary from image to image.

    Block gates run on about `block_keep_prob` of images; channel gates pick
    image-dependent groups. Used to test parity of every branch of an
    exported model without a trained model.

    Args:
        model: a `GatedResNet`.
        seed: NumPy seed.
        block_keep_prob: target run rate of each block gate, in (0, 1).
        logit_scale: spread of the random logits (larger = fewer near-ties).
        images: optional (N, H, W, 3) pixels; when given, each block gate's
            `decision_offset` is set, block after block, so that it runs on
            `block_keep_prob` of these images.
    """
    if not 0.0 < block_keep_prob < 1.0:
        raise ValueError(
            "Invalid value for `block_keep_prob`: expected 0 < block_keep_prob < 1. "
            f"Received: block_keep_prob={block_keep_prob!r}"
        )
    rng = np.random.default_rng(seed)
    block_gates, channel_gates = _gates(model)
    for gate in [g for g in block_gates + channel_gates if g is not None]:
        hidden = gate.hidden
        hidden.kernel.assign(rng.normal(0.0, 1.0, hidden.kernel.shape).astype("float32"))
        hidden.bias.assign(rng.normal(0.0, 0.1, hidden.bias.shape).astype("float32"))
    for gate in block_gates:
        if gate is None:
            continue
        dense = gate.keep_logit_dense
        kernel = rng.normal(0.0, 1.0, dense.kernel.shape)
        kernel -= kernel.mean()  # Zero-mean over the (positive, ReLU) hidden units.
        dense.kernel.assign((logit_scale * kernel / np.sqrt(kernel.size)).astype("float32"))
        dense.bias.assign(np.zeros(dense.bias.shape, "float32"))
        logit_offset = np.log(block_keep_prob / (1.0 - block_keep_prob))
        gate.decision_offset.assign(float(logit_offset))
    for gate in channel_gates:
        if gate is None:
            continue
        dense = gate.saliency_dense
        dense.kernel.assign(
            (logit_scale * rng.normal(0.0, 1.0, dense.kernel.shape)
             / np.sqrt(dense.kernel.shape[0])).astype("float32")
        )
        dense.bias.assign(np.zeros(dense.bias.shape, "float32"))
    if images is not None:
        _calibrate_block_offsets(model, images, block_keep_prob)


def _calibrate_block_offsets(model, images, block_keep_prob):
    """Sets each block gate's offset to the (1 - p) quantile of its logits, in block order."""
    images = np.asarray(images)
    for index, block in enumerate(model.blocks):
        if block.block_gate_layer is None:
            continue
        _, info = model(images, training=False, return_gate_info=True)
        keep_prob = np.clip(np.asarray(info["keep_prob"])[:, index], 1e-7, 1 - 1e-7)
        keep_logit = np.log(keep_prob / (1.0 - keep_prob))
        threshold = np.quantile(keep_logit, 1.0 - block_keep_prob)
        block.block_gate_layer.decision_offset.assign(float(-threshold))

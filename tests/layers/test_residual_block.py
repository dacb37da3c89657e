"""GatedResidualBlock: config, gating semantics, gradients, batch-1 `cond` path == batched path."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from lcnet_tf.layers import GatedResidualBlock

# (block kwargs, input shape) of small blocks: identity, zero-pad downsampling, projection.
BLOCK_CASES = {
    "basic": (dict(filters=16, block_type="basic"), (6, 8, 8, 16)),
    "basic_down_zero_pad": (dict(filters=16, stride=2, block_type="basic"), (6, 8, 8, 8)),
    "bottleneck_projection": (
        dict(filters=4, stride=2, block_type="bottleneck", shortcut="projection"),
        (6, 8, 8, 8),
    ),
    "bottleneck_identity": (dict(filters=4, block_type="bottleneck"), (6, 6, 6, 16)),
}


def to_np(x):
    return keras.ops.convert_to_numpy(x)


def make_block(case, **kwargs):
    block_kwargs, input_shape = BLOCK_CASES[case]
    block = GatedResidualBlock(**block_kwargs, **kwargs)
    block.build((None, *input_shape[1:]))
    return block, input_shape


def randomize(block, rng, images=None):
    """Random BN statistics (so the folded-BN path is really tested) and gate weights.

    With `images`, the block gate's decision offset is set to the median keep logit so
    that about half of the images run the block and half skip it.
    """
    for bn in [*block.bns, *([block.projection_bn] if block.projection_bn else [])]:
        channels = bn.gamma.shape[0]
        bn.gamma.assign(rng.uniform(0.5, 1.5, channels).astype("float32"))
        bn.beta.assign(rng.normal(0, 0.2, channels).astype("float32"))
        bn.moving_mean.assign(rng.normal(0, 0.2, channels).astype("float32"))
        bn.moving_variance.assign(rng.uniform(0.5, 2.0, channels).astype("float32"))
    for gate in (block.block_gate_layer, block.channel_gate_layer):
        if gate is None:
            continue
        for dense in (gate.hidden, *(d for d in (getattr(gate, "keep_logit_dense", None),
                                                 getattr(gate, "scale_dense", None),
                                                 getattr(gate, "saliency_dense", None)) if d)):
            dense.kernel.assign(rng.normal(0, 1.0, dense.kernel.shape).astype("float32"))
    if images is not None and block.block_gate_layer is not None:
        pooled = block.gate_pool(images)
        logits = to_np(block.block_gate_layer(pooled, training=False)["keep_logit"])
        block.block_gate_layer.decision_offset.assign(-float(np.median(logits)))


def images_for(input_shape, rng):
    """Random feature maps whose per-image channel means differ (so pooled gate inputs do)."""
    batch, channels = input_shape[0], input_shape[-1]
    offsets = rng.normal(0, 2.0, size=(batch, 1, 1, channels))
    return tf.constant((rng.normal(size=input_shape) + offsets).astype("float32"))


def test_config_round_trip_and_same_outputs(rng):
    block, shape = make_block("bottleneck_projection", block_gate=True, channel_groups=2,
                              channel_keep=0.5, gate_hidden=8, init_keep_prob=0.7,
                              gate_temperature=0.5, gate_noise=False, plain_open_path=True,
                              name="blk")
    config = block.get_config()
    assert config["plain_open_path"] is True
    clone = GatedResidualBlock.from_config(config)
    clone.build((None, *shape[1:]))
    assert clone.get_config() == config
    clone.set_weights(block.get_weights())
    x = images_for(shape, rng)
    for training in (False, True):
        y1, info1 = block(x, training=training)
        y2, info2 = clone(x, training=training)
        np.testing.assert_array_equal(to_np(y1), to_np(y2))
        np.testing.assert_array_equal(to_np(info1["gate"]), to_np(info2["gate"]))
    assert keras.saving.get_registered_object("lcnet_tf>GatedResidualBlock") is GatedResidualBlock


@pytest.mark.parametrize("case", list(BLOCK_CASES))
def test_output_shape_and_info(rng, case):
    block, shape = make_block(case, block_gate=True, channel_groups=2)
    y, info = block(images_for(shape, rng), training=False)
    feature_shape, info_shapes = block.compute_output_shape(shape)
    assert tuple(y.shape) == feature_shape == block.output_feature_shape(shape)
    assert info_shapes["group_mask"] == (shape[0], 2)
    assert info["gate"].shape == (shape[0],)
    assert info["keep_prob"].shape == (shape[0],)
    np.testing.assert_array_equal(to_np(info["kept_groups"]), np.ones(shape[0]))
    assert info["group_mask"].shape == (shape[0], 2)
    assert np.all(to_np(y) >= 0)


def test_ungated_block_info():
    block, shape = make_block("basic")
    y, info = block(tf.ones(shape), training=False)
    np.testing.assert_array_equal(to_np(info["gate"]), np.ones(shape[0]))
    np.testing.assert_array_equal(to_np(info["kept_groups"]), np.zeros(shape[0]))
    assert info["group_mask"].shape == (shape[0], 0)  # no channel gate: an empty mask, not None


@pytest.mark.parametrize("case", ["basic_down_zero_pad", "bottleneck_projection"])
@pytest.mark.parametrize("training", [False, True])
def test_closed_gate_outputs_relu_of_shortcut_open_gate_runs_branch(rng, case, training):
    block, shape = make_block(case, block_gate=True, channel_groups=2)
    randomize(block, rng)
    x = images_for(shape, rng)
    block.block_gate_layer.override = "closed"
    y_closed, info = block(x, training=training)
    np.testing.assert_array_equal(to_np(info["gate"]), np.zeros(shape[0]))
    np.testing.assert_allclose(
        to_np(y_closed), to_np(tf.nn.relu(block._shortcut(x, training))), atol=1e-5
    )
    block.block_gate_layer.override = "open"
    y_open, info = block(x, training=training)
    np.testing.assert_array_equal(to_np(info["gate"]), np.ones(shape[0]))
    assert np.abs(to_np(y_open) - to_np(y_closed)).max() > 1e-3


def test_training_uses_batch_statistics_inference_moving_statistics(rng):
    block, shape = make_block("basic")
    randomize(block, rng)
    x = images_for(shape, rng)
    y_train, _ = block(x, training=True)
    y_infer, _ = block(x, training=False)
    assert np.abs(to_np(y_train) - to_np(y_infer)).max() > 1e-3


def test_force_open_overrides_learned_skip(rng):
    block, shape = make_block("basic", block_gate=True, channel_groups=4, channel_keep=0.25)
    randomize(block, rng)
    block.block_gate_layer.decision_offset.assign(-1e4)  # learned: always skip
    x = images_for(shape, rng)
    y_skip, info = block(x, training=False, force_open=tf.constant(False))
    np.testing.assert_array_equal(to_np(info["gate"]), np.zeros(shape[0]))
    # A skipped block computes no channel group.
    np.testing.assert_array_equal(to_np(info["kept_groups"]), np.zeros(shape[0]))
    y_forced, info = block(x, training=False, force_open=tf.constant(True))
    np.testing.assert_array_equal(to_np(info["gate"]), np.ones(shape[0]))
    np.testing.assert_array_equal(to_np(info["kept_groups"]), np.full(shape[0], 4))
    block.block_gate_layer.override = "open"
    block.channel_gate_layer.override = "open"
    y_open, _ = block(x, training=False)
    np.testing.assert_allclose(to_np(y_forced), to_np(y_open), atol=1e-6)
    assert np.abs(to_np(y_forced) - to_np(y_skip)).max() > 1e-3


def test_channel_gate_zeroes_dropped_groups(rng):
    """With every group closed the branch is BN(conv2(0)): the output no longer depends on conv1."""
    block, shape = make_block("basic", channel_groups=4)
    randomize(block, rng)
    x = images_for(shape, rng)
    block.channel_gate_layer.override = "closed"
    y_before, info = block(x, training=False)
    np.testing.assert_array_equal(to_np(info["kept_groups"]), np.zeros(shape[0]))
    block.convs[0].kernel.assign(rng.normal(size=block.convs[0].kernel.shape).astype("float32"))
    y_after, _ = block(x, training=False)
    np.testing.assert_allclose(to_np(y_before), to_np(y_after), atol=1e-6)


@pytest.mark.parametrize("case", ["basic_down_zero_pad", "bottleneck_projection"])
def test_gradient_reaches_every_trainable_weight(rng, case):
    block, shape = make_block(case, block_gate=True, channel_groups=2)
    randomize(block, rng)  # non-zero last-BN gamma, so bottleneck gates see a branch
    x = images_for(shape, rng)
    target = tf.constant(rng.normal(size=block.output_feature_shape(shape)).astype("float32"))
    with tf.GradientTape() as tape:
        y, info = block(x, training=True)
        loss = tf.reduce_sum(y * target) + 0.1 * tf.reduce_sum(info["keep_prob"])
    variables = block.trainable_variables
    grads = tape.gradient(loss, variables)
    for variable, grad in zip(variables, grads, strict=True):
        assert grad is not None, variable.path
        assert np.all(np.isfinite(to_np(grad))), variable.path
        assert np.abs(to_np(grad)).max() > 0, variable.path
    keep_kernel = block.block_gate_layer.keep_logit_dense.kernel
    # Straight-through: the keep-logit kernel gets gradient from the task term alone.
    with tf.GradientTape() as tape:
        y, _ = block(x, training=True)
        task_only = tf.reduce_sum(y * target)
    assert np.abs(to_np(tape.gradient(task_only, keep_kernel))).max() > 0


@pytest.mark.parametrize("case", list(BLOCK_CASES))
@pytest.mark.parametrize("gates", ["block", "channel", "both"])
def test_batch1_cond_path_equals_batched_path(rng, monkeypatch, case, gates):
    block_gate = gates in ("block", "both")
    channel_groups = 2 if gates in ("channel", "both") else None
    block, shape = make_block(case, block_gate=block_gate, channel_groups=channel_groups)
    shape = (8, *shape[1:])
    x = images_for(shape, rng)
    for _ in range(20):  # redraw gate weights until the images' channel choices differ
        randomize(block, rng, images=x)
        y_batched, info_batched = block(x, training=False)
        if not channel_groups or len({tuple(r) for r in to_np(info_batched["group_mask"])}) > 1:
            break
    decisions = to_np(info_batched["gate"])
    if block_gate:
        assert 0 < decisions.sum() < len(decisions), "want both run and skip"
    if channel_groups:
        masks = {tuple(row) for row in to_np(info_batched["group_mask"])}
        assert len(masks) > 1, "want different channel groups per image"

    conds = []
    real_cond = keras.ops.cond
    monkeypatch.setattr(keras.ops, "cond", lambda *a, **k: conds.append(1) or real_cond(*a, **k))
    singles = [block(x[i : i + 1], training=False, deployment=True) for i in range(shape[0])]
    expected_conds = (1 if block_gate else 0) + (channel_groups or 0)
    # Skipped blocks do not evaluate their inner group conds in eager mode.
    assert len(conds) >= shape[0] * min(expected_conds, 1)
    y_single = np.concatenate([to_np(y) for y, _ in singles])
    np.testing.assert_allclose(y_single, to_np(y_batched), rtol=1e-4, atol=1e-4)
    gate_single = np.concatenate([to_np(info["gate"]) for _, info in singles])
    np.testing.assert_array_equal(gate_single, decisions)
    kept_single = np.concatenate([to_np(info["kept_groups"]) for _, info in singles])
    np.testing.assert_array_equal(kept_single, to_np(info_batched["kept_groups"]))


def test_batch1_cond_path_in_a_traced_graph(rng):
    """The graph that export traces (static batch 1) holds IF ops and matches the batched path."""
    block, shape = make_block("basic", block_gate=True, channel_groups=2)
    x = images_for((8, *shape[1:]), rng)
    randomize(block, rng, images=x)
    fn = tf.function(lambda image: block(image, training=False, deployment=True)[0],
                     input_signature=[tf.TensorSpec((1, *shape[1:]), tf.float32)])
    op_types = {op.type for op in fn.get_concrete_function().graph.get_operations()}
    assert op_types & {"If", "StatelessIf"}, sorted(op_types)
    y_graph = np.concatenate([to_np(fn(x[i : i + 1])) for i in range(8)])
    np.testing.assert_allclose(y_graph, to_np(block(x, training=False)[0]), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs, name, value",
    [
        (dict(filters=0), "filters", 0),
        (dict(filters=8.0), "filters", 8.0),
        (dict(filters=8, block_type="wide"), "block_type", "wide"),
        (dict(filters=8, shortcut="conv"), "shortcut", "conv"),
        (dict(filters=8, stride=3), "stride", 3),
        (dict(filters=8, channel_groups=3), "channel_groups", 3),
        (dict(filters=8, channel_groups=0), "channel_groups", 0),
        (dict(filters=8, channel_keep=0.0), "channel_keep", 0.0),
        (dict(filters=8, channel_keep=1.5), "channel_keep", 1.5),
        (dict(filters=8, block_gate=True, init_keep_prob=1.0), "init_keep_prob", 1.0),
        (dict(filters=8, block_gate=True, gate_temperature=0), "temperature", 0),
    ],
)
def test_invalid_arguments(kwargs, name, value):
    with pytest.raises(ValueError, match=rf"`{name}`.*Received: {name}={value!r}"):
        GatedResidualBlock(**kwargs)


def test_zero_pad_shortcut_cannot_reduce_channels():
    block = GatedResidualBlock(8, shortcut="zero_pad")
    with pytest.raises(ValueError, match="zero_pad.*16.*projection"):
        block.build((None, 8, 8, 16))

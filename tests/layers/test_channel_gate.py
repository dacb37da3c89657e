"""ChannelGate (C-Net): config, top-k selection, overrides, gradients, argument checks."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from lcnet_tf.layers import ChannelGate


def to_np(x):
    return keras.ops.convert_to_numpy(x)


def built_gate(groups=4, keep_groups=2, channels=8, **kwargs):
    gate = ChannelGate(groups, keep_groups, **kwargs)
    gate.build((None, channels))
    return gate


def test_config_round_trip_and_same_outputs(rng):
    gate = built_gate(8, 3, hidden_units=6, name="cg")
    config = gate.get_config()
    clone = ChannelGate.from_config(config)
    clone.build((None, 8))
    assert clone.get_config() == config
    clone.set_weights(gate.get_weights())
    pooled = rng.normal(size=(5, 8)).astype("float32")
    for training in (False, True):
        a, b = gate(pooled, training=training), clone(pooled, training=training)
        np.testing.assert_array_equal(to_np(a["saliency"]), to_np(b["saliency"]))
        np.testing.assert_array_equal(to_np(a["group_mask"]), to_np(b["group_mask"]))
    assert keras.saving.get_registered_object("lcnet_tf>ChannelGate") is ChannelGate


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("keep_groups", [0, 1, 3, 4])
def test_keeps_the_top_k_salient_groups(rng, training, keep_groups):
    gate = built_gate(4, keep_groups)
    gate.saliency_dense.kernel.assign(rng.normal(size=(16, 4)).astype("float32"))
    out = gate(rng.normal(size=(32, 8)).astype("float32"), training=training)
    saliency, mask = to_np(out["saliency"]), to_np(out["group_mask"])
    assert np.all((saliency > 0) & (saliency < 2))
    np.testing.assert_array_equal(mask.sum(-1), np.full(32, keep_groups))
    expected = np.zeros_like(mask)
    order = np.argsort(-saliency, axis=-1, kind="stable")[:, :keep_groups]
    np.put_along_axis(expected, order, 1.0, axis=-1)
    np.testing.assert_array_equal(mask, expected)
    if 0 < keep_groups < 4:  # per-image choices really differ
        assert len({tuple(row) for row in mask}) > 1


@pytest.mark.parametrize("training", [False, True])
def test_override_open_and_closed_and_force_open(rng, training):
    gate = built_gate(4, 1)
    pooled = rng.normal(size=(3, 8)).astype("float32")
    gate.override = "open"
    np.testing.assert_array_equal(to_np(gate(pooled, training=training)["group_mask"]),
                                  np.ones((3, 4)))
    gate.override = "closed"
    np.testing.assert_array_equal(to_np(gate(pooled, training=training)["group_mask"]),
                                  np.zeros((3, 4)))
    np.testing.assert_array_equal(
        to_np(gate(pooled, training=training, force_open=tf.constant(True))["group_mask"]),
        np.ones((3, 4)),
    )
    gate.override = None
    learned = gate(pooled, training=training, force_open=tf.constant(False))["group_mask"]
    np.testing.assert_array_equal(to_np(learned).sum(-1), np.ones(3))


def test_gradient_reaches_every_gate_weight_through_the_saliency(rng):
    gate = built_gate(4, 2)
    pooled = tf.constant(np.abs(rng.normal(size=(16, 8))).astype("float32"))
    target = tf.constant(rng.normal(size=(16, 4)).astype("float32"))
    with tf.GradientTape() as tape:
        out = gate(pooled, training=True)
        loss = tf.reduce_sum(out["group_mask"] * out["saliency"] * target)
    grads = tape.gradient(loss, gate.trainable_variables)
    assert len(grads) == 4
    for variable, grad in zip(gate.trainable_variables, grads, strict=True):
        assert grad is not None, variable.path
        assert np.all(np.isfinite(to_np(grad)))
        assert np.abs(to_np(grad)).max() > 0, variable.path


@pytest.mark.parametrize("groups, keep_groups", [(2, 1), (4, 1), (4, 2), (4, 4)])
@pytest.mark.parametrize("force", [None, False, True])
def test_batch1_decide_matches_call(rng, groups, keep_groups, force):
    gate = built_gate(groups, keep_groups, channels=8)
    # Zeroing the output layer makes every logit equal: ties must go to the lower index.
    tied = built_gate(groups, keep_groups, channels=8)
    tied.saliency_dense.kernel.assign(np.zeros_like(to_np(tied.saliency_dense.kernel)))
    force_tensor = None if force is None else tf.constant(force)
    for layer in (gate, tied):
        for row in rng.normal(size=(6, 8)).astype("float32"):
            pooled = row[None]
            expected = to_np(layer(pooled, training=False, force_open=force_tensor)["group_mask"])
            keeps, logits, kept = layer.decide(pooled, force_open=force_tensor)
            got = np.array([[float(to_np(keep)) for keep in keeps]])
            np.testing.assert_array_equal(got, expected)
            np.testing.assert_array_equal(to_np(kept), expected.sum(-1))
            np.testing.assert_allclose(
                to_np(2.0 * keras.ops.sigmoid(logits)),
                to_np(layer(pooled, training=False)["saliency"]), rtol=1e-6,
            )


@pytest.mark.parametrize(
    "args, name, value",
    [
        ((0, 0), "groups", 0),
        ((2.0, 1), "groups", 2.0),
        ((4, 5), "keep_groups", 5),
        ((4, -1), "keep_groups", -1),
        ((4, 1.5), "keep_groups", 1.5),
        ((4, 2, 0), "hidden_units", 0),
    ],
)
def test_invalid_arguments(args, name, value):
    with pytest.raises(ValueError, match=rf"`{name}`.*Received: {name}={value!r}"):
        ChannelGate(*args)


@pytest.mark.parametrize("keep_groups", [1, 2])
@pytest.mark.parametrize("training", [False, True])
def test_plain_open_path_saliency_is_one_only_when_forced_open(rng, keep_groups, training):
    gate = built_gate(4, keep_groups, plain_open_path=True)
    pooled = rng.normal(size=(5, 8)).astype("float32")
    learned = to_np(gate(pooled, training=training)["saliency"])
    assert np.abs(learned - 1.0).max() > 0.01
    np.testing.assert_array_equal(
        to_np(gate(pooled, training=training, force_open=tf.constant(False))["saliency"]),
        learned)
    forced = gate(pooled, training=training, force_open=tf.constant(True))
    np.testing.assert_array_equal(to_np(forced["saliency"]), np.ones((5, 4)))
    np.testing.assert_array_equal(to_np(forced["group_mask"]), np.ones((5, 4)))
    gate.override = "open"
    np.testing.assert_array_equal(to_np(gate(pooled, training=training)["saliency"]),
                                  np.ones((5, 4)))
    gate.override = None
    for force in (False, True):  # The batch-1 path's logits give the same saliency.
        for row in pooled:
            _, logits, _ = gate.decide(row[None], force_open=tf.constant(force))
            expected = gate(row[None], training=False, force_open=tf.constant(force))
            np.testing.assert_allclose(to_np(2.0 * keras.ops.sigmoid(logits)),
                                       to_np(expected["saliency"]), rtol=1e-6)


def test_plain_open_path_round_trips_and_is_checked():
    gate = built_gate(plain_open_path=True)
    assert ChannelGate.from_config(gate.get_config()).plain_open_path is True
    with pytest.raises(ValueError, match=r"`plain_open_path`.*Received: plain_open_path='yes'"):
        ChannelGate(4, 2, plain_open_path="yes")

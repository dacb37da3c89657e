"""BlockGate (L-Net): config, training vs inference, overrides, gradients, argument checks."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from lcnet_tf.layers import BlockGate


def to_np(x):
    return keras.ops.convert_to_numpy(x)


def built_gate(channels=8, **kwargs):
    gate = BlockGate(**kwargs)
    gate.build((None, channels))
    return gate


def set_logit(gate, bias, kernel_std=0.0, seed=0):
    """Keep logit = bias (+ a random linear term of the hidden units)."""
    kernel = np.random.default_rng(seed).normal(0, kernel_std, size=(gate.hidden_units, 1))
    gate.keep_logit_dense.kernel.assign(kernel.astype("float32"))
    gate.keep_logit_dense.bias.assign([bias])


def test_config_round_trip_and_same_outputs(rng):
    gate = built_gate(hidden_units=5, init_keep_prob=0.8, temperature=0.5, noise=False,
                      name="g")
    config = gate.get_config()
    clone = BlockGate.from_config(config)
    clone.build((None, 8))
    assert clone.get_config() == config
    clone.set_weights(gate.get_weights())
    pooled = rng.normal(size=(4, 8)).astype("float32")
    for training in (False, True):  # noise=False: training is deterministic too
        a, b = gate(pooled, training=training), clone(pooled, training=training)
        for key in ("keep_logit", "keep_prob", "gate", "scale"):
            np.testing.assert_array_equal(to_np(a[key]), to_np(b[key]))
    assert keras.saving.get_registered_object("lcnet_tf>BlockGate") is BlockGate


def test_fresh_gate_is_mostly_open_with_unit_scale(rng):
    gate = built_gate(init_keep_prob=0.9)
    out = gate(rng.normal(size=(16, 8)).astype("float32"), training=False)
    np.testing.assert_allclose(to_np(out["keep_prob"]), 0.9, atol=0.02)
    np.testing.assert_array_equal(to_np(out["gate"]), np.ones(16))
    np.testing.assert_allclose(to_np(out["scale"]), 1.0, atol=0.1)
    assert out["scale"].shape == (16,)


def test_inference_is_deterministic_threshold_with_decision_offset(rng):
    gate = built_gate()
    set_logit(gate, 0.0, kernel_std=1.0)
    pooled = rng.normal(size=(64, 8)).astype("float32")
    out = gate(pooled, training=False)
    logit = to_np(out["keep_logit"])
    np.testing.assert_array_equal(to_np(out["gate"]), (logit > 0).astype("float32"))
    np.testing.assert_allclose(to_np(out["keep_prob"]), 1 / (1 + np.exp(-logit)), rtol=1e-5)
    offset = -float(np.median(logit))
    gate.decision_offset.assign(offset)
    shifted = to_np(gate(pooled, training=False)["gate"])
    np.testing.assert_array_equal(shifted, (logit + offset > 0).astype("float32"))
    assert 0 < shifted.sum() < 64
    np.testing.assert_array_equal(shifted, to_np(gate(pooled, training=False)["gate"]))
    assert not gate.decision_offset.trainable


def test_training_noise_draws_bernoulli_keep_prob():
    gate = built_gate()
    set_logit(gate, 0.8)  # keep_prob = sigmoid(0.8) = 0.69 for every row
    pooled = np.zeros((20_000, 8), "float32")
    train_gate = to_np(gate(pooled, training=True)["gate"])
    assert set(np.unique(train_gate)) == {0.0, 1.0}
    assert abs(train_gate.mean() - 1 / (1 + np.exp(-0.8))) < 0.02
    assert to_np(gate(pooled, training=False)["gate"]).min() == 1.0  # inference: always keep


def test_training_without_noise_is_hard_threshold():
    gate = built_gate(noise=False)
    set_logit(gate, -0.3)
    np.testing.assert_array_equal(to_np(gate(np.zeros((50, 8), "float32"), training=True)["gate"]),
                                  np.zeros(50))


@pytest.mark.parametrize("training", [False, True])
def test_override_open_and_closed_and_force_open(rng, training):
    gate = built_gate()
    set_logit(gate, -5.0)  # learned decision: skip
    pooled = rng.normal(size=(6, 8)).astype("float32")
    gate.override = "open"
    np.testing.assert_array_equal(to_np(gate(pooled, training=training)["gate"]), np.ones(6))
    set_logit(gate, 5.0)
    gate.override = "closed"
    np.testing.assert_array_equal(to_np(gate(pooled, training=training)["gate"]), np.zeros(6))
    gate.override = None
    set_logit(gate, -20.0)
    closed = gate(pooled, training=training, force_open=tf.constant(False))["gate"]
    forced = gate(pooled, training=training, force_open=tf.constant(True))["gate"]
    np.testing.assert_array_equal(to_np(closed), np.zeros(6))
    np.testing.assert_array_equal(to_np(forced), np.ones(6))


@pytest.mark.parametrize("force", [None, False, True])
def test_batch1_decide_matches_call(rng, force):
    gate = built_gate(hidden_units=6)
    set_logit(gate, 0.1, kernel_std=1.0)
    gate.decision_offset.assign(-0.3)
    force_tensor = None if force is None else tf.constant(force)
    for row in rng.normal(size=(16, 8)).astype("float32"):
        out = gate(row[None], training=False, force_open=force_tensor)
        keep, raw_scale, keep_prob = gate.decide(row[None], force_open=force_tensor)
        assert float(to_np(keep)) == float(to_np(out["gate"])[0])
        assert tuple(raw_scale.shape) == (1, 1)  # No scalar slice in the exported branch.
        np.testing.assert_allclose(
            to_np(1.0 + keras.ops.tanh(raw_scale))[:, 0], to_np(out["scale"]), rtol=1e-6
        )
        np.testing.assert_allclose(to_np(keep_prob), to_np(out["keep_prob"]), rtol=1e-5)


def test_gradient_reaches_every_gate_weight_in_training(rng):
    gate = built_gate(noise=True)
    pooled = tf.constant(np.abs(rng.normal(size=(8, 8))).astype("float32"))
    branch = tf.constant(rng.normal(size=(8,)).astype("float32"))
    with tf.GradientTape() as tape:
        out = gate(pooled, training=True)
        loss = tf.reduce_sum(out["gate"] * out["scale"] * branch)
    grads = tape.gradient(loss, gate.trainable_variables)
    names = [v.path for v in gate.trainable_variables]
    assert len(grads) == 6, names  # hidden, keep_logit, scale: kernel + bias each
    for name, grad in zip(names, grads, strict=True):
        assert grad is not None, name
        assert np.all(np.isfinite(to_np(grad))), name
        assert np.abs(to_np(grad)).max() > 0, name
    keep_kernel = gate.keep_logit_dense.kernel
    keep_grad = grads[[v is keep_kernel for v in gate.trainable_variables].index(True)]
    assert np.abs(to_np(keep_grad)).max() > 0


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"hidden_units": 0}, "hidden_units"),
        ({"hidden_units": 2.5}, "hidden_units"),
        ({"init_keep_prob": 1.0}, "init_keep_prob"),
        ({"init_keep_prob": 0.0}, "init_keep_prob"),
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
    ],
)
def test_invalid_arguments(kwargs, name):
    value = next(iter(kwargs.values()))
    with pytest.raises(ValueError, match=rf"`{name}`.*Received: {name}={value!r}"):
        BlockGate(**kwargs)


@pytest.mark.parametrize("training", [False, True])
def test_plain_open_path_drops_the_scale_only_when_forced_open(rng, training):
    gate = built_gate(noise=False, plain_open_path=True)
    gate.scale_dense.bias.assign([-1.0])  # learned scale 1 + tanh(-1 + ...) well below 1
    pooled = rng.normal(size=(6, 8)).astype("float32")
    learned = to_np(gate(pooled, training=training)["scale"])
    assert learned.max() < 0.5
    np.testing.assert_array_equal(
        to_np(gate(pooled, training=training, force_open=tf.constant(False))["scale"]), learned)
    forced = gate(pooled, training=training, force_open=tf.constant(True))["scale"]
    np.testing.assert_array_equal(to_np(forced), np.ones(6))
    gate.override = "open"
    np.testing.assert_array_equal(to_np(gate(pooled, training=training)["scale"]), np.ones(6))
    # The default keeps the learned scale in the forced-open path.
    default = built_gate(noise=False)
    default.set_weights(gate.get_weights())
    np.testing.assert_allclose(
        to_np(default(pooled, training=training, force_open=tf.constant(True))["scale"]),
        learned, rtol=1e-6)


@pytest.mark.parametrize("force", [False, True])
def test_plain_open_path_batch1_decide_matches_call(rng, force):
    gate = built_gate(hidden_units=6, plain_open_path=True)
    set_logit(gate, 0.1, kernel_std=1.0)
    gate.scale_dense.bias.assign([-0.7])
    for row in rng.normal(size=(4, 8)).astype("float32"):
        out = gate(row[None], training=False, force_open=tf.constant(force))
        _, raw_scale, _ = gate.decide(row[None], force_open=tf.constant(force))
        np.testing.assert_allclose(
            to_np(1.0 + keras.ops.tanh(raw_scale))[:, 0], to_np(out["scale"]), rtol=1e-6)
        assert (to_np(out["scale"]) == 1.0).all() == force
    gate.override = "open"
    keep, raw_scale, _ = gate.decide(rng.normal(size=(1, 8)).astype("float32"))
    assert bool(to_np(keep)) and float(to_np(raw_scale)[0, 0]) == 0.0


def test_plain_open_path_round_trips_and_is_checked():
    gate = built_gate(plain_open_path=True)
    assert BlockGate.from_config(gate.get_config()).plain_open_path is True
    with pytest.raises(ValueError, match=r"`plain_open_path`.*Received: plain_open_path=1"):
        BlockGate(plain_open_path=1)

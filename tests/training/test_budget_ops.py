"""Budget maths against few-line NumPy references, gradients included."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from lcnet_tf.ops import budget_ops

RNG = np.random.default_rng(0)
FIXED, BACKBONE = 7.0, 100.0
ALWAYS = np.array([1.0, 0.5, 2.0])
RUN = np.array([10.0, 20.0, 5.0])
PER_GROUP = np.array([3.0, 0.0, 6.0])


def np_ratio(gate, kept):
    return (FIXED + (ALWAYS + gate * (RUN + kept * PER_GROUP)).sum(-1)) / BACKBONE


def np_penalty(ratio, budget, over=20.0, sym=2.0):
    excess = ratio.mean() - budget
    return over * max(excess, 0.0) ** 2 + sym * excess**2


def test_flops_ratio_matches_numpy():
    gate = RNG.integers(0, 2, (5, 3)).astype("float32")
    kept = RNG.integers(0, 4, (5, 3)).astype("float32")
    got = budget_ops.flops_ratio(gate, kept, FIXED, ALWAYS, RUN, PER_GROUP, BACKBONE)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(got), np_ratio(gate, kept), rtol=1e-6)


def test_realized_flops_exact_on_int_arrays_and_same_on_tensors():
    # Counts near ResNet-56 size: float32 would round them, int64 numpy must not.
    gate = RNG.integers(0, 2, (4, 3))
    kept = RNG.integers(0, 3, (4, 3))
    always, run, per_group = (np.array(v, dtype=np.int64) for v in (
        [1_000_003, 7, 11], [40_000_001, 23_000_009, 5], [3, 0, 60_000_017]))
    got = budget_ops.realized_flops(gate, kept, 125_000_001, always, run, per_group)
    assert got.dtype == np.int64
    expected = [125_000_001 + sum(
        int(always[b]) + int(gate[i, b]) * (int(run[b]) + int(kept[i, b]) * int(per_group[b]))
        for b in range(3)) for i in range(4)]
    assert got.tolist() == expected
    tensor = budget_ops.realized_flops(
        tf.constant(gate, tf.float32), tf.constant(kept, tf.float32), 125_000_001.0,
        *(tf.constant(v, tf.float32) for v in (always, run, per_group)),
    )
    np.testing.assert_allclose(keras.ops.convert_to_numpy(tensor), expected, rtol=1e-6)


@pytest.mark.parametrize("ratios", [[0.6, 0.4], [0.2, 0.3], [0.4, 0.4]])
def test_budget_penalty_matches_numpy(ratios):
    ratios = np.array(ratios, "float32")
    got = float(budget_ops.budget_penalty(ratios, 0.4))
    assert got == pytest.approx(np_penalty(ratios, 0.4), rel=1e-5, abs=1e-8)


def test_budget_penalty_is_asymmetric():
    over = float(budget_ops.budget_penalty([0.5], 0.4))
    under = float(budget_ops.budget_penalty([0.3], 0.4))
    assert over == pytest.approx(22 * 0.01) and under == pytest.approx(2 * 0.01)


def test_penalty_gradient_through_gates_matches_numpy():
    """d penalty / d gate_{i,b} = dP/dmean * (run_b + kept*per_group_b) / (B * backbone)."""
    gate_values = RNG.integers(0, 2, (4, 3)).astype("float32")
    kept = RNG.integers(0, 3, (4, 3)).astype("float32")
    gate = tf.Variable(gate_values)
    with tf.GradientTape() as tape:
        ratio = budget_ops.flops_ratio(gate, kept, FIXED, ALWAYS, RUN, PER_GROUP, BACKBONE)
        penalty = budget_ops.budget_penalty(ratio, 0.2)
    gradient = tape.gradient(penalty, gate).numpy()
    excess = np_ratio(gate_values, kept).mean() - 0.2
    d_mean = 2 * 20.0 * max(excess, 0) + 2 * 2.0 * excess
    expected = d_mean * (RUN + kept * PER_GROUP) / (4 * BACKBONE)
    np.testing.assert_allclose(gradient, expected, rtol=1e-5)
    # And against a numeric derivative of the NumPy reference for one entry.
    eps = 1e-3
    bumped = gate_values.astype("float64").copy()
    bumped[1, 2] += eps
    numeric = (np_penalty(np_ratio(bumped, kept), 0.2)
               - np_penalty(np_ratio(gate_values, kept), 0.2)) / eps
    assert gradient[1, 2] == pytest.approx(numeric, rel=1e-2)


def test_penalty_gradient_flows_through_straight_through_gate():
    from lcnet_tf.ops import straight_through_gate

    logits = tf.Variable([[2.0, -1.0, 0.5], [0.3, 1.0, -2.0]])
    with tf.GradientTape() as tape:
        gate = straight_through_gate(logits)
        ratio = budget_ops.flops_ratio(gate, tf.zeros((2, 3)), FIXED, ALWAYS, RUN, PER_GROUP,
                                       BACKBONE)
        penalty = budget_ops.budget_penalty(ratio, 0.1)
    gradient = tape.gradient(penalty, logits).numpy()
    assert np.all(np.isfinite(gradient)) and np.all(gradient > 0)  # Over budget: push down.


def np_target_rate(budget, controlled, gated):
    base = FIXED + ALWAYS.sum() + ((1 - gated) * controlled).sum()
    total = (gated * controlled).sum()
    return 1.0 if total == 0 else float(np.clip((budget * BACKBONE - base) / total, 0, 1))


@pytest.mark.parametrize("budget", [0.05, 0.2, 0.3, 0.6, 1.0])
@pytest.mark.parametrize("gated", [[1, 1, 1], [1, 0, 1], [0, 0, 0]])
def test_uniform_target_rate_matches_numpy(budget, gated):
    controlled = RUN + 2 * PER_GROUP
    gated = np.array(gated, "float32")
    got = float(budget_ops.uniform_target_rate(budget, FIXED, ALWAYS, controlled, gated,
                                               BACKBONE))
    assert got == pytest.approx(np_target_rate(budget, controlled, gated), abs=1e-6)


def test_uniform_target_rate_meets_the_budget():
    controlled = RUN + 2 * PER_GROUP
    rate = float(budget_ops.uniform_target_rate(0.4, FIXED, ALWAYS, controlled, np.ones(3),
                                                BACKBONE))
    assert 0 < rate < 1
    assert np_ratio(np.full((1, 3), rate), np.full((1, 3), 2.0))[0] == pytest.approx(0.4)


def test_target_rate_loss_matches_numpy_and_gradient():
    keep = RNG.uniform(size=(6, 3)).astype("float32")
    gated = np.array([1.0, 0.0, 1.0])
    expected = (gated * (keep.mean(0) - 0.3) ** 2).sum() / gated.sum()
    variable = tf.Variable(keep)
    with tf.GradientTape() as tape:
        loss = budget_ops.target_rate_loss(variable, 0.3, gated)
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    gradient = tape.gradient(loss, variable).numpy()
    expected_gradient = np.broadcast_to(
        gated * 2 * (keep.mean(0) - 0.3) / 6 / gated.sum(), keep.shape
    )
    np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-5, atol=1e-7)
    assert float(budget_ops.target_rate_loss(keep, 0.3, np.zeros(3))) == 0.0


def test_linear_warmup_values_and_serialization():
    schedule = budget_ops.LinearWarmup(5.0, warmup_steps=10, initial_value=1.0)
    assert [float(schedule(s)) for s in (0, 5, 10, 50)] == pytest.approx([1.0, 3.0, 5.0, 5.0])
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(restored, budget_ops.LinearWarmup)
    assert restored.get_config() == schedule.get_config()
    assert float(budget_ops.LinearWarmup(2.0)(123)) == 2.0
    with pytest.raises(ValueError, match="warmup_steps"):
        budget_ops.LinearWarmup(1.0, warmup_steps=-1)


def test_distillation_loss_matches_numpy_reference():
    rng = np.random.default_rng(0)
    student = rng.normal(size=(6, 10)).astype("float32")
    teacher = rng.normal(size=(6, 10)).astype("float32") * 3
    temperature = 4.0

    def log_softmax(x):
        x = x - x.max(-1, keepdims=True)
        return x - np.log(np.exp(x).sum(-1, keepdims=True))

    t, s = log_softmax(teacher / temperature), log_softmax(student / temperature)
    expected = temperature**2 * (np.exp(t) * (t - s)).sum(-1).mean()
    got = float(budget_ops.distillation_loss(student, teacher, temperature))
    assert got == pytest.approx(expected, rel=1e-5)
    assert float(budget_ops.distillation_loss(teacher, teacher, 2.0)) == pytest.approx(0, abs=1e-6)

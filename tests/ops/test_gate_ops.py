"""lcnet_tf.ops.gate_ops against few-line NumPy references and edge cases."""

from fractions import Fraction

import keras
import numpy as np
import pytest
import tensorflow as tf

from lcnet_tf.ops import gate_ops


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def to_np(x):
    return keras.ops.convert_to_numpy(x)


def tensor(x):
    return keras.ops.convert_to_tensor(np.asarray(x, dtype="float32"))


# hard_threshold ---------------------------------------------------------------------------------
def test_hard_threshold_matches_numpy(rng):
    logits = rng.normal(size=(5, 7)).astype("float32")
    np.testing.assert_array_equal(
        to_np(gate_ops.hard_threshold(tensor(logits))), (logits > 0).astype("float32")
    )
    np.testing.assert_array_equal(
        to_np(gate_ops.hard_threshold(tensor(logits), 0.3)), (logits > 0.3).astype("float32")
    )


def test_hard_threshold_tie_at_threshold_is_skip():
    out = to_np(gate_ops.hard_threshold(tensor([-1.0, 0.0, -0.0, 1e-7, 2.0])))
    np.testing.assert_array_equal(out, [0.0, 0.0, 0.0, 1.0, 1.0])
    assert to_np(gate_ops.hard_threshold(tensor([0.5]), 0.5))[0] == 0.0


def test_hard_threshold_keeps_dtype():
    assert keras.ops.convert_to_tensor(
        gate_ops.hard_threshold(keras.ops.ones((2,), dtype="float16"))
    ).dtype == "float16"


# straight_through_gate ----------------------------------------------------------------------------
@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
@pytest.mark.parametrize("with_noise", [False, True])
def test_straight_through_forward_is_hard_backward_is_sigmoid_derivative(
    rng, temperature, with_noise
):
    logits = np.linspace(-4, 4, 401).astype("float32")
    noise = rng.logistic(size=logits.shape).astype("float32") if with_noise else None
    noisy = logits if noise is None else logits + noise
    logits_t = tf.Variable(logits)
    with tf.GradientTape() as tape:
        gate = gate_ops.straight_through_gate(
            logits_t, None if noise is None else tensor(noise), temperature
        )
        total = tf.reduce_sum(gate)
    # Exactly the hard value: no 0.99999994 from hard + soft - soft rounding.
    np.testing.assert_array_equal(to_np(gate), (noisy > 0).astype("float32"))
    soft = np_sigmoid(noisy / temperature)
    expected_grad = soft * (1 - soft) / temperature
    np.testing.assert_allclose(to_np(tape.gradient(total, logits_t)), expected_grad, atol=1e-6)


def test_straight_through_tie_at_zero_is_skip():
    assert to_np(gate_ops.straight_through_gate(tensor([0.0])))[0] == 0.0


# logistic_noise ---------------------------------------------------------------------------------
def test_logistic_noise_statistics():
    n = 200_000
    noise = to_np(gate_ops.logistic_noise((n,), seed=keras.random.SeedGenerator(7)))
    assert noise.shape == (n,)
    assert np.all(np.isfinite(noise))
    # Standard logistic: mean 0, variance pi^2 / 3 (std error of the mean ~ 0.004).
    assert abs(noise.mean()) < 0.02
    assert abs(noise.var() - np.pi**2 / 3) < 0.1
    # Thresholding logit + noise at 0 draws Bernoulli(sigmoid(logit)).
    for logit in (-2.0, -0.5, 0.0, 1.0, 3.0):
        rate = np.mean(logit + noise > 0)
        assert abs(rate - np_sigmoid(logit)) < 0.01, (logit, rate)


def test_logistic_noise_finite_at_extremes_and_bounded_by_eps():
    eps = 1e-6
    noise = to_np(gate_ops.logistic_noise((50_000,), seed=3, eps=eps))
    bound = np.log((1 - eps) / eps) + 1e-3
    assert np.all(np.isfinite(noise))
    assert np.abs(noise).max() <= bound
    # A huge eps squeezes the noise towards 0: the clipping really applies.
    narrow = to_np(gate_ops.logistic_noise((1000,), seed=3, eps=0.49))
    assert np.abs(narrow).max() <= np.log(0.51 / 0.49) + 1e-5


def test_logistic_noise_seeded_is_reproducible_and_varies():
    a = to_np(gate_ops.logistic_noise((64,), seed=11))
    b = to_np(gate_ops.logistic_noise((64,), seed=11))
    c = to_np(gate_ops.logistic_noise((64,), seed=12))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


# block_scale / positive_saliency ----------------------------------------------------------------
def test_block_scale_matches_numpy_range_and_zero():
    raw = np.array([-50.0, -1.0, 0.0, 0.7, 50.0], dtype="float32")
    out = to_np(gate_ops.block_scale(tensor(raw)))
    np.testing.assert_allclose(out, 1 + np.tanh(raw), rtol=1e-6)
    assert out[2] == 1.0
    moderate = to_np(gate_ops.block_scale(tensor(np.linspace(-5, 5, 101))))
    assert np.all((moderate > 0) & (moderate < 2))
    assert np.all(out >= 0) and np.all(out <= 2)


def test_positive_saliency_matches_numpy_range_and_zero():
    raw = np.array([-50.0, -1.0, 0.0, 0.7, 50.0], dtype="float32")
    out = to_np(gate_ops.positive_saliency(tensor(raw)))
    np.testing.assert_allclose(out, 2 * np_sigmoid(raw), rtol=1e-6)
    assert out[2] == 1.0
    moderate = to_np(gate_ops.positive_saliency(tensor(np.linspace(-5, 5, 101))))
    assert np.all((moderate > 0) & (moderate < 2))
    assert np.all(out >= 0) and np.all(out <= 2)


# top_k_group_mask -------------------------------------------------------------------------------
def np_top_k_mask(saliency, k):
    """Reference: stable sort by descending saliency, lower index first on ties."""
    mask = np.zeros_like(saliency)
    for row, values in enumerate(saliency):
        order = sorted(range(len(values)), key=lambda i: (-values[i], i))
        mask[row, order[:k]] = 1.0
    return mask


@pytest.mark.parametrize("k", [0, 1, 2, 3, 5, 8])
def test_top_k_group_mask_matches_numpy(rng, k):
    saliency = rng.uniform(size=(6, 8)).astype("float32")
    mask = to_np(gate_ops.top_k_group_mask(tensor(saliency), k))
    np.testing.assert_array_equal(mask, np_top_k_mask(saliency, k))
    np.testing.assert_array_equal(mask.sum(axis=-1), np.full(6, k))


def test_top_k_group_mask_edges_k0_and_kG():
    saliency = tensor([[0.3, 0.1, 0.9, 0.2]])
    np.testing.assert_array_equal(to_np(gate_ops.top_k_group_mask(saliency, 0)), [[0, 0, 0, 0]])
    np.testing.assert_array_equal(to_np(gate_ops.top_k_group_mask(saliency, 4)), [[1, 1, 1, 1]])


def test_top_k_group_mask_ties_lower_index_wins():
    saliency = np.array(
        [[0.5, 0.5, 0.5, 0.5], [0.1, 0.7, 0.7, 0.7], [0.9, 0.2, 0.2, 0.9]], dtype="float32"
    )
    mask = to_np(gate_ops.top_k_group_mask(tensor(saliency), 2))
    np.testing.assert_array_equal(mask, [[1, 1, 0, 0], [0, 1, 1, 0], [1, 0, 0, 1]])
    np.testing.assert_array_equal(mask, np_top_k_mask(saliency, 2))
    np.testing.assert_array_equal(mask.sum(-1), [2, 2, 2])


def test_top_k_group_mask_has_no_gradient():
    saliency = tf.Variable([[0.1, 0.9, 0.5]])
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(gate_ops.top_k_group_mask(saliency, 2) * saliency)
    # Only the explicit `* saliency` factor carries gradient, the mask none.
    np.testing.assert_allclose(to_np(tape.gradient(total, saliency)), [[0, 1, 1]])


@pytest.mark.parametrize("k", [-1, 5, 1.5, "2", None])
def test_top_k_group_mask_invalid_k(k):
    with pytest.raises(ValueError, match=r"`k`.*Received: k="):
        gate_ops.top_k_group_mask(tensor([[0.1, 0.2, 0.3, 0.4]]), k)


# kept_group_count -------------------------------------------------------------------------------
def reference_kept_groups(channel_keep, groups):
    """Reference: the count k >= 1 whose fraction k / groups is nearest, halves to the larger."""
    keep = Fraction(channel_keep)  # the float's exact value: ties are real ties
    return min(range(1, groups + 1), key=lambda k: (abs(Fraction(k, groups) - keep), -k))


def test_kept_group_count_matches_reference(rng):
    cases = [(j / 16, groups) for j in range(1, 17) for groups in range(1, 9)]
    cases += [(float(keep), int(groups)) for keep, groups in
              zip(rng.uniform(1e-3, 1.0, 50), rng.integers(1, 33, 50), strict=True)]
    for channel_keep, groups in cases:
        assert gate_ops.kept_group_count(channel_keep, groups) == reference_kept_groups(
            channel_keep, groups), (channel_keep, groups)


def test_kept_group_count_edges():
    assert gate_ops.kept_group_count(1.0, 4) == 4  # k = G: every group
    assert gate_ops.kept_group_count(1e-6, 4) == 1  # never 0: a running block computes a group
    assert gate_ops.kept_group_count(0.5, 3) == 2  # 1.5 rounds up
    assert gate_ops.kept_group_count(0.625, 4) == 3  # 2.5 rounds up
    assert gate_ops.kept_group_count(0.6, 1) == 1
    k = gate_ops.kept_group_count(0.5, np.int64(8))  # cost tables hold NumPy ints
    assert type(k) is int and k == 4
    assert to_np(gate_ops.top_k_group_mask(tensor(np.ones((2, 8))), k)).sum() == 8


@pytest.mark.parametrize("channel_keep, groups, name", [
    (0.0, 4, "channel_keep"), (-0.5, 4, "channel_keep"), (1.5, 4, "channel_keep"),
    (0.5, 0, "groups"), (0.5, -2, "groups"), (0.5, 2.0, "groups"), (0.5, True, "groups"),
    (0.5, None, "groups"),
])
def test_kept_group_count_invalid(channel_keep, groups, name):
    with pytest.raises(ValueError, match=rf"`{name}`.*Received: {name}="):
        gate_ops.kept_group_count(channel_keep, groups)


# expand_group_mask ------------------------------------------------------------------------------
def test_expand_group_mask_ordering_matches_numpy(rng):
    values = rng.normal(size=(3, 4)).astype("float32")
    out = to_np(gate_ops.expand_group_mask(tensor(values), 12))
    expected = np.stack([values[:, c // 3] for c in range(12)], axis=-1)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(
        to_np(gate_ops.expand_group_mask(tensor([[1.0, 0.0]]), 4)), [[1, 1, 0, 0]]
    )


def test_expand_group_mask_identity_when_groups_equal_channels():
    values = np.arange(6, dtype="float32").reshape(1, 6)
    np.testing.assert_array_equal(to_np(gate_ops.expand_group_mask(tensor(values), 6)), values)


def test_expand_group_mask_invalid_channels():
    with pytest.raises(ValueError, match=r"`channels`.*Received: channels=10"):
        gate_ops.expand_group_mask(tensor([[1.0, 0.0, 1.0, 0.0]]), 10)


# drop_path_multiplier -----------------------------------------------------------------------
def test_drop_path_multiplier_values_rate_and_mean():
    values = to_np(gate_ops.drop_path_multiplier(20_000, 0.3, seed=3))
    np.testing.assert_allclose(np.unique(values), [0.0, 1 / 0.7], rtol=1e-6)
    assert abs((values == 0).mean() - 0.3) < 0.02  # drop rate
    assert abs(values.mean() - 1.0) < 0.03  # expected value preserved (inverted scaling)


def test_drop_path_multiplier_zero_rate_is_ones_and_bad_rate_raises():
    np.testing.assert_array_equal(to_np(gate_ops.drop_path_multiplier(5, 0.0)), np.ones(5))
    for rate in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match="drop_rate"):
            gate_ops.drop_path_multiplier(5, rate)

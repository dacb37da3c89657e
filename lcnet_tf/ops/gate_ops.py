"""Gate maths for L-Net (block gates) and C-Net (channel-group gates).

Every function here is pure: tensors in, tensors out, no variables. Layers in
`lcnet_tf.layers` own the weights and call these.

Conventions:
- A gate *logit* `z` means "keep (run) when z > 0". The keep probability is
  `sigmoid(z)`; a decision is hard (0. or 1.) and made with a strict `>` so
  that an exact tie at 0 means "skip".
- Training uses a straight-through estimator over a logistic-noise relaxation:
  forward value is the hard decision of the noisy logit, backward gradient is
  the gradient of `sigmoid(noisy_logit / temperature)`.
"""

import math
import numbers

import keras
from keras import ops


def hard_threshold(logits, threshold=0.0):
    """Hard keep decision: 1.0 where `logits > threshold`, else 0.0.

    Args:
        logits: float tensor of gate logits.
        threshold: scalar or broadcastable tensor; a calibration offset.

    Returns:
        Float tensor of 0.0/1.0 with the dtype of `logits`.

    Example:
        >>> hard_threshold(keras.ops.convert_to_tensor([-1.0, 0.0, 2.0]))  # [0, 0, 1]
    """
    return ops.cast(ops.greater(logits, threshold), logits.dtype)


def logistic_noise(shape, seed=None, dtype="float32", eps=1e-6):
    """Samples standard logistic noise `log(u) - log(1 - u)`, u ~ U(eps, 1 - eps).

    Adding it to a logit and thresholding at 0 draws a Bernoulli decision with
    probability `sigmoid(logit)` (the Gumbel-max trick for two classes).

    Args:
        shape: output shape.
        seed: a `keras.random.SeedGenerator`, an int, or None.
        dtype: output dtype.
        eps: keeps `u` away from 0 and 1 so the noise stays finite.

    Returns:
        Tensor of logistic noise.
    """
    uniform = keras.random.uniform(shape, minval=eps, maxval=1.0 - eps, dtype=dtype, seed=seed)
    return ops.log(uniform) - ops.log1p(-uniform)


def straight_through_gate(logits, noise=None, temperature=1.0):
    """Hard gate with a straight-through gradient from a logistic relaxation.

    Forward: `hard = 1[(logits + noise) > 0]`. Backward: the gradient of
    `soft = sigmoid((logits + noise) / temperature)`. Implemented as
    `hard + (soft - stop_gradient(soft))`: the bracket is exactly 0 in the
    forward pass, so the value is exactly `hard` (`hard + soft - soft` is not:
    float rounding leaves values like 0.99999994).

    Args:
        logits: float tensor of gate logits.
        noise: optional tensor broadcastable to `logits` (e.g. `logistic_noise`);
            None means a deterministic gate.
        temperature: positive scalar; lower is closer to the hard step.

    Returns:
        Tensor with the values of the hard gate and a usable gradient.
    """
    noisy = logits if noise is None else logits + noise
    soft = ops.sigmoid(noisy / temperature)
    hard = hard_threshold(noisy)
    return hard + (soft - ops.stop_gradient(soft))


def block_scale(raw):
    """Positive scale `1 + tanh(raw)` in (0, 2) for a block's residual branch.

    Starts at 1 for `raw = 0` (so a fresh gate leaves the backbone unchanged)
    and stays bounded, which keeps early training stable.
    """
    return 1.0 + ops.tanh(raw)


def positive_saliency(raw):
    """Channel-group saliency `2 * sigmoid(raw)` in (0, 2), equal to 1 at raw = 0.

    Bounded and strictly positive (unlike FBS's ReLU, which can kill a group's
    gradient for good); a kept group is multiplied by this value.
    """
    return 2.0 * ops.sigmoid(raw)


def plain_when_open(values, plain_value, override=None, force_open=None):
    """`values`, or `plain_value` everywhere when the gate is forced open.

    The gates' multipliers (block scale, channel saliency) leave the forced-open
    network when a gate has `plain_open_path`: forced open by the "open" override
    (a Python string) or by `force_open` (a scalar bool tensor, or None).

    Args:
        values: tensor of multipliers (or of their raw logits).
        plain_value: Python float the forced-open network uses instead (1 for a
            multiplier, 0 for the logit whose map gives 1).
        override: None, "open" or "closed".
        force_open: optional scalar bool tensor.

    Example:
        >>> plain_when_open(keras.ops.convert_to_tensor([0.3, 1.5]), 1.0, "open")  # [1., 1.]
    """
    if override == "open":
        return ops.full_like(values, plain_value)
    if force_open is None:
        return values
    return ops.where(ops.cast(force_open, "bool"), ops.full_like(values, plain_value), values)


def kept_group_count(channel_keep, groups):
    """Channel groups a C-Net gate keeps per image: the `k` of `top_k_group_mask`.

    `k = max(1, floor(channel_keep * groups + 0.5))`: the nearest count, halves rounded up,
    and never 0 (a running block computes at least one group).

    Args:
        channel_keep: fraction of groups kept, 0 < channel_keep <= 1.
        groups: channel groups of the block, a positive int (Python or NumPy).

    Returns:
        Python int with 1 <= k <= groups.

    Example:
        >>> [kept_group_count(f, 4) for f in (0.1, 0.25, 0.5, 0.625, 1.0)]  # [1, 1, 2, 3, 4]
    """
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) or groups < 1:
        raise ValueError(
            f"Invalid value for `groups`: expected a positive int. Received: groups={groups!r}"
        )
    if not 0.0 < channel_keep <= 1.0:
        raise ValueError(
            "Invalid value for `channel_keep`: expected 0 < channel_keep <= 1. "
            f"Received: channel_keep={channel_keep!r}"
        )
    return max(1, math.floor(channel_keep * groups + 0.5))


def top_k_group_mask(saliency, k):
    """Mask keeping the `k` most salient groups of each row.

    Ties are broken towards the lower group index (as `top_k` does), so the
    mask always holds exactly `k` ones per row.

    Args:
        saliency: float tensor (batch, groups).
        k: Python int with 0 <= k <= groups.

    Returns:
        Float tensor (batch, groups) of 0.0/1.0, no gradient.

    Example:
        >>> top_k_group_mask(keras.ops.convert_to_tensor([[0.1, 0.9, 0.5]]), 2)  # [[0, 1, 1]]
    """
    groups = saliency.shape[-1]
    if not isinstance(k, int) or not 0 <= k <= groups:
        raise ValueError(
            f"Invalid value for `k`: expected an int with 0 <= k <= {groups}. Received: k={k!r}"
        )
    saliency = ops.stop_gradient(saliency)
    if k == 0:
        return ops.zeros_like(saliency)
    if k == groups:
        return ops.ones_like(saliency)
    _, indices = ops.top_k(saliency, k=k, sorted=False)
    one_hot = ops.one_hot(indices, groups, dtype=saliency.dtype)  # (batch, k, groups)
    return ops.max(one_hot, axis=-2)


def expand_group_mask(group_values, channels):
    """Repeats each group's value over its contiguous slice of channels.

    Args:
        group_values: tensor (batch, groups).
        channels: total channel count, a multiple of `groups`.

    Returns:
        Tensor (batch, channels): channel c gets the value of group c // (channels // groups).
    """
    groups = group_values.shape[-1]
    if channels % groups:
        raise ValueError(
            f"Invalid value for `channels`: expected a multiple of groups={groups}. "
            f"Received: channels={channels}"
        )
    return ops.repeat(group_values, channels // groups, axis=-1)


def drop_path_multiplier(batch_size, drop_rate, seed=None, dtype="float32"):
    """Per-image stochastic-depth multiplier: 0 with probability `drop_rate`, else 1/(1-rate).

    Stochastic depth (Huang et al. 2016) / LayerDrop (Fan et al. 2019) in the
    "inverted" form of timm's DropPath: a residual branch multiplied by this
    is skipped for a random subset of images in training and keeps its
    expected value, so inference (every block run) needs no rescaling.

    Args:
        batch_size: images in the batch (int or scalar tensor).
        drop_rate: probability of skipping, 0 <= drop_rate < 1.
        seed: a `keras.random.SeedGenerator`, an int, or None.
        dtype: output dtype.

    Returns:
        Tensor (batch_size,) of 0 and 1 / (1 - drop_rate).

    Example:
        >>> drop_path_multiplier(4, 0.5, seed=1)  # e.g. [2., 0., 0., 2.]
    """
    if not 0.0 <= drop_rate < 1.0:
        raise ValueError(
            "Invalid value for `drop_rate`: expected 0 <= drop_rate < 1. "
            f"Received: drop_rate={drop_rate!r}"
        )
    keep = 1.0 - drop_rate
    if drop_rate == 0.0:
        return ops.ones((batch_size,), dtype=dtype)
    uniform = keras.random.uniform((batch_size,), dtype=dtype, seed=seed)
    return ops.cast(uniform < keep, dtype) / keep

"""Post-training budget calibration: one decision offset shared by every block gate."""

import keras
import numpy as np
import tensorflow as tf

from lcnet_tf.gate_control import gate_layers
from lcnet_tf.layers import BlockGate


def block_gates(model):
    """Every `BlockGate` of `model`, in block order."""
    return [layer for layer in gate_layers(model) if isinstance(layer, BlockGate)]


def flops_ratio_range(model):
    """`(closed, open)` mean FLOPs ratios reachable by moving the block-gate threshold.

    Channel gates keep a fixed top-k, so only block decisions move the cost:
    `closed` skips every gated block, `open` runs them all (with k groups each).
    """
    return model.cost.decision_range()


def set_decision_offset(model, offset):
    """Writes `offset` into every `BlockGate.decision_offset` of `model`."""
    for gate in block_gates(model):
        gate.decision_offset.assign(float(offset))


def _ratio_function(model):
    backbone = float(model.cost.backbone)

    @tf.function(reduce_retracing=True)
    def batch_ratios(images):
        _, info = model(images, training=False, return_gate_info=True)
        return info["realized_flops"] / backbone

    return batch_ratios


def mean_flops_ratio(model, batches):
    """Mean realized FLOPs ratio (inference decisions) over a list of image batches."""
    batch_ratios = _ratio_function(model)
    return float(np.concatenate([batch_ratios(images).numpy() for images in batches]).mean())


def image_batches(dataset, batch_size=500):
    """Image batches of a `tf.data.Dataset` (of `(images, labels)` or images), a list of
    batches, or one image array (split into `batch_size` batches)."""
    if isinstance(dataset, tf.data.Dataset):
        return [batch[0] if isinstance(batch, tuple | list) else batch for batch in dataset]
    if isinstance(dataset, list):
        return dataset
    images = np.asarray(dataset)
    return [images[i : i + batch_size] for i in range(0, len(images), batch_size)]


def calibrate_budget(model, dataset, budget, *, tolerance=0.002, max_steps=25, bracket=8.0):
    """Finds the one gate-logit offset that makes the mean realized FLOPs ratio equal `budget`.

    Every block gate keeps an image when `keep_logit + decision_offset > 0`; the
    offset is found by bisection on `dataset` (use un-augmented
    training images, not the test set) and written into every gate. The same
    trained model can be recalibrated to any budget in its range.

    Args:
        model: a `GatedResNet` with block gates ("layer" or "lc" gating).
        dataset: `tf.data.Dataset` of `(images, labels)` or images, or an array of images.
        budget: target mean FLOPs ratio.
        tolerance: stop once within this ratio of `budget`.
        max_steps: bisection steps at most.
        bracket: initial offset range `[-bracket, bracket]` (widened if needed).

    Returns:
        Dict with `offset`, `flops_ratio` (mean ratio on `dataset` at that offset),
        `budget`, `steps` and `num_images`.

    Raises:
        ValueError: the model has no block gate, or `budget` is outside
            `flops_ratio_range(model)`.

    Example:
        >>> calib = make_dataset(builder, "train", batch_size=500, training=False, take=5000)
        >>> calibrate_budget(model, calib, 0.4)["flops_ratio"]  # ~0.400
    """
    if not block_gates(model):
        raise ValueError(
            f"Invalid value for `model`: calibration needs block gates (gating 'layer' or 'lc'); "
            f"model {model.name!r} has gating={getattr(model, 'gating', None)!r}."
        )
    closed, opened = flops_ratio_range(model)
    if not closed - 1e-6 <= budget <= opened + 1e-6:
        raise ValueError(
            f"Invalid value for `budget`: expected {closed:.4f} <= budget <= {opened:.4f} "
            f"(the FLOPs ratios of model {model.name!r} with every block gate closed / open). "
            f"Received: budget={budget!r}"
        )
    batches = [keras.ops.convert_to_tensor(batch) for batch in image_batches(dataset)]
    num_images = int(sum(batch.shape[0] for batch in batches))
    batch_ratios = _ratio_function(model)

    def ratio_at(offset):
        set_decision_offset(model, offset)
        return float(np.concatenate([batch_ratios(b).numpy() for b in batches]).mean())

    low, high = -bracket, bracket
    best = None
    steps = 0
    for _ in range(6):  # Widen until the bracket holds the budget.
        low_ratio, high_ratio = ratio_at(low), ratio_at(high)
        steps += 2
        if low_ratio <= budget <= high_ratio:
            break
        low, high = 2 * low, 2 * high
    candidates = [(abs(low_ratio - budget), low, low_ratio), (abs(high_ratio - budget), high,
                                                              high_ratio)]
    best = min(candidates)
    while steps < max_steps and best[0] > tolerance:
        middle = 0.5 * (low + high)
        ratio = ratio_at(middle)
        steps += 1
        best = min(best, (abs(ratio - budget), middle, ratio))
        if ratio > budget:
            high = middle
        else:
            low = middle
    _, offset, ratio = best
    set_decision_offset(model, offset)
    return {
        "offset": float(offset),
        "flops_ratio": float(ratio),
        "budget": float(budget),
        "steps": steps,
        "num_images": num_images,
    }


def recalibrate_batch_norm(model, dataset, *, max_batches=None):
    """Recomputes every BatchNormalization's moving statistics under the model's own decisions.

    A gated model's BN statistics were accumulated in training, where the gates
    explored with noise at the training budget; at inference the calibrated,
    deterministic decisions feed each layer other inputs. This runs `dataset`
    (un-augmented training images) through the model with BN in training mode
    and the gates deciding as in inference (calibrated offset, no noise), and
    sets each moving mean and variance to the plain average of the batch
    statistics (as slimmable networks do per width; Yu & Huang 2019). Nothing
    else changes; run `calibrate_budget` again afterwards, since the gates'
    inputs moved. Approximation: the batched path computes every block's branch
    for every image, so a BatchNorm inside a block averages over images that
    skip the block at inference too; what changes is the statistics of the
    features *between* blocks, which follow the calibrated decisions.

    Args:
        model: a `GatedResNet`.
        dataset: `tf.data.Dataset` of `(images, labels)` or images, a list of
            image batches, or one image array (split into batches of 500).
        max_batches: use at most this many batches.

    Returns:
        Number of images used.
    """
    batch_norms = [layer for layer in _all_layers(model)
                   if isinstance(layer, keras.layers.BatchNormalization)]
    batches = image_batches(dataset)
    momenta = [layer.momentum for layer in batch_norms]
    saved = [(layer.moving_mean.numpy(), layer.moving_variance.numpy()) for layer in batch_norms]
    for block in model.blocks:
        block.deterministic_gates = True
    seen = 0
    completed = False
    try:
        for index, images in enumerate(batches):
            if max_batches is not None and index >= max_batches:
                break
            for layer in batch_norms:
                # moving = moving * m + batch * (1 - m) with m = i / (i + 1): the running average.
                layer.momentum = index / (index + 1.0)
            model(keras.ops.convert_to_tensor(images), training=True)
            seen += int(images.shape[0])
        completed = True
    finally:
        if not completed:  # Leave the statistics as they were, not half rewritten.
            for layer, (mean, variance) in zip(batch_norms, saved, strict=True):
                layer.moving_mean.assign(mean)
                layer.moving_variance.assign(variance)
        for layer, momentum in zip(batch_norms, momenta, strict=True):
            layer.momentum = momentum
        for block in model.blocks:
            block.deterministic_gates = False
    return seen


def _all_layers(model):
    found, stack = [], [model]
    while stack:
        layer = stack.pop()
        found.append(layer)
        stack.extend(getattr(layer, "_layers", []))
    return found

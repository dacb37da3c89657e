"""Post-training budget calibration: `calibrate` sets any dynamic model's decisions for a budget.

A gated network's decision is one offset shared by every block gate; a cascade's, its exit
thresholds. Both are found on un-augmented training images so that the mean realized FLOPs
per image equals the budget.
"""

import keras
import numpy as np
import tensorflow as tf

from lcnet_tf.gate_control import gate_layers
from lcnet_tf.layers import BlockGate
from lcnet_tf.models.cascade import Cascade, simulate_cascade, stage_predictions
from lcnet_tf.ops import cascade_ops


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
            "Invalid value for `model`: expected a model with block gates (gating 'layer' or "
            f"'lc'); calibration needs block gates. Received: model {model.name!r} with "
            f"gating={getattr(model, 'gating', None)!r}"
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


# Cascades ---------------------------------------------------------------------------------
def _thresholds_for_fraction(predictions, fraction, confidence, ensemble):
    """Thresholds that send `fraction` of the images still running on past every stage."""
    thresholds, prediction = [], None
    alive = np.ones(len(predictions.probabilities[0]), bool)
    for index, stage_probabilities in enumerate(predictions.probabilities[:-1]):
        prediction = np.asarray(cascade_ops.combined_probabilities(
            prediction, stage_probabilities, index, ensemble))
        sure = np.asarray(cascade_ops.prediction_confidence(prediction, confidence))
        if fraction <= 0 or not alive.any():
            threshold = 0.0
        elif fraction >= 1:
            threshold = 1.0 + 1e-6
        else:
            # `fraction` of the running images below it: mid-way between the confidence
            # `np.quantile` picks and the next lower one, not on an image's confidence, so
            # that an ulp of difference between runtimes (Keras, TFLite, int8) cannot flip
            # the decision of a calibration image.
            values = sure[alive].astype(np.float32)
            upper = np.float32(np.quantile(values, fraction, method="higher"))
            below = values[values < upper]
            threshold = 0.0
            if below.size:  # In float32, as the graphs compare; adjacent floats: `upper`.
                middle = np.float32(0.5) * (below.max() + upper)
                threshold = float(middle if below.max() < middle < upper else upper)
        thresholds.append(threshold)
        alive &= sure < threshold
    return thresholds


def calibrate_cascade(cascade, predictions, target_flops, tolerance_flops):
    """Sets `cascade.thresholds` so that its mean FLOPs on `predictions` (its
    `stage_predictions` on calibration images) is `target_flops`.

    The rule: every escalation sends on the same fraction of the images that reach it,
    found by bisection (the mean cost grows with it); a gated stage keeps the decision
    offset it was calibrated to (its own budget), so the exit thresholds alone move the
    total. Use `calibrate`, which takes a budget.

    Returns:
        Dict: `thresholds`, `escalate_fraction`, `mean_flops`, `stage_rates`.
    """
    def realized_at(fraction):
        thresholds = _thresholds_for_fraction(predictions, fraction, cascade.confidence,
                                              cascade.ensemble)
        _, ran, realized = simulate_cascade(predictions, thresholds, cascade.confidence,
                                            cascade.ensemble)
        return float(realized.mean()), thresholds, ran

    # The cost moves in steps (one image at a time): keep the probe closest to the target,
    # the endpoints (nobody / everybody escalates) included.
    best = None
    lo, hi = 0.0, 1.0
    for fraction in (0.0, 1.0, *([None] * 50)):
        if fraction is None:
            fraction = 0.5 * (lo + hi)
        flops, thresholds, ran = realized_at(fraction)
        if best is None or abs(flops - target_flops) < abs(best[1] - target_flops):
            best = (fraction, flops, thresholds, ran)
        if abs(flops - target_flops) <= tolerance_flops:
            break
        if 0.0 < fraction < 1.0:
            lo, hi = (fraction, hi) if flops < target_flops else (lo, fraction)
    fraction, flops, thresholds, ran = best
    cascade.set_thresholds(thresholds)
    return {"thresholds": list(thresholds), "escalate_fraction": fraction, "mean_flops": flops,
            "stage_rates": [float(r) for r in ran.mean(axis=0)]}


# One entry point ----------------------------------------------------------------------------
def check_budget(model, budget, reference_flops=None, name="budget"):
    """Raises ValueError unless `budget` (a fraction of `reference_flops`, default the
    model's `reference_flops`) lies in the range the model's decisions can reach."""
    reference = float(reference_flops or model.reference_flops)
    low, high = (flops / reference for flops in model.flops_range())
    if isinstance(budget, bool) or not isinstance(budget, int | float | np.floating) or not (
            low - 1e-6 <= budget <= high + 1e-6):
        raise ValueError(
            f"Invalid value for `{name}`: expected a number in [{low:.3f}, {high:.3f}] (the "
            f"mean FLOPs {_describe(model)} can reach, as fractions of {reference:,.0f} "
            f"reference FLOPs). Received: {name}={budget!r}"
        )


def _describe(model):
    if isinstance(model, Cascade):
        return f"a cascade of {len(model.stages)} stages"
    return f"{model.name!r} (gating {getattr(model, 'gating', None)!r})"


def calibrate(model, dataset, budget, *, tolerance=0.002, reference_flops=None,
              predictions=None):
    """Sets a dynamic model's decisions so that its mean FLOPs per image on `dataset` is
    `budget` of `reference_flops`: one function for every dynamic model.

    - `GatedResNet` with block gates: the one decision offset added to every block gate's
      keep logit (bisection; `calibrate_budget`).
    - `Cascade`: the exit thresholds (each escalation sends on the same fraction of the
      images that reach it); a gated stage keeps its own calibrated offset, so a cascade
      with an LC-Net stage is calibrated by its thresholds alone (docs/design.md).

    Use un-augmented training images (the test set measures the result).

    Args:
        model: a `GatedResNet` ("layer" or "lc" gating) or a `Cascade`.
        dataset: `tf.data.Dataset` of `(images, labels)` or images, or an image array
            (may be None for a cascade when `predictions` is given).
        budget: mean FLOPs per image as a fraction of `reference_flops`.
        tolerance: stop once the realized ratio is this close to `budget`.
        reference_flops: what `budget` is a fraction of; None: `model.reference_flops`
            (a GatedResNet's backbone, a cascade's own setting).
        predictions: a cascade's `stage_predictions` on `dataset`, computed before (several
            budgets without running the networks again).

    Returns:
        Dict: `budget`, `reference_flops`, `mean_flops` and `flops_ratio` (realized on
        `dataset`), `num_images`, and the decision: `offset` (gated network) or
        `thresholds`, `escalate_fraction`, `stage_rates` (cascade).

    Raises:
        ValueError: `budget` outside the model's reachable range (named, with the range), or
            a model without decisions to calibrate.

    Example:
        >>> calib = make_dataset(builder, "train", batch_size=500, training=False, take=5000)
        >>> lcnet_tf.training.calibrate(model, calib, 0.4)["flops_ratio"]  # ~0.400
    """
    reference = float(reference_flops or model.reference_flops)
    if isinstance(model, Cascade):
        check_budget(model, budget, reference)
        if predictions is None:
            predictions = stage_predictions(model, dataset)
        # With gated stages at their own offsets, the exits reach less than `flops_range()`:
        # from the first stage alone to every stage, at what they cost on these images.
        low = float(np.mean(predictions.flops[0])) / reference
        high = float(sum(np.mean(flops) for flops in predictions.flops)) / reference
        if not low - 1e-6 <= budget <= high + 1e-6:
            raise ValueError(
                f"Invalid value for `budget`: expected a number in [{low:.3f}, {high:.3f}] "
                "(the mean FLOPs the exit thresholds reach on these images, its gated stages "
                f"at their own calibrated decisions, as fractions of {reference:,.0f} "
                f"reference FLOPs). Received: budget={budget!r}")
        record = calibrate_cascade(model, predictions, budget * reference, tolerance * reference)
        num_images = len(predictions.probabilities[0])
    else:
        if not block_gates(model):
            raise ValueError(
                "Invalid value for `model`: expected a Cascade or a network with block gates "
                "(gating 'layer' or 'lc'); calibration needs block gates. Received: model "
                f"{model.name!r} with gating={getattr(model, 'gating', None)!r}"
            )
        check_budget(model, budget, reference)
        backbone = float(model.cost.backbone)
        own = calibrate_budget(model, dataset, min(budget * reference / backbone,
                                                   model.cost.decision_range()[1]),
                               tolerance=tolerance * reference / backbone)
        record = {"offset": own["offset"], "mean_flops": own["flops_ratio"] * backbone,
                  "steps": own["steps"]}
        num_images = own["num_images"]
    return {"budget": float(budget), "reference_flops": int(reference),
            "flops_ratio": record["mean_flops"] / reference, "num_images": int(num_images),
            **record}


# The budget knob's table ------------------------------------------------------------------
DEFAULT_TABLE_ROWS = 9


def default_table_budgets(low, high, rows=DEFAULT_TABLE_ROWS):
    """`rows` budgets evenly spaced strictly inside `(low, high)`, rounded to 4 decimals.

    The ends are left out: at the very end of its range a network's calibration saturates
    (every gate closed for any offset below some value: bisection returns its bracket's end,
    e.g. -32), and a row interpolated from such a value misses its budget by far."""
    return sorted({round(float(b), 4) for b in np.linspace(low, high, rows + 2)[1:-1]})


def budget_table(model, dataset, budgets=None, *, include=(), tolerance=0.002,
                 reference_flops=None, predictions=None, verbose=0):
    """Calibrates `model` to every budget of a grid: the table a knob file carries.

    Each row is what `calibrate(model, dataset, budget)` finds (the decision values and the
    mean FLOPs they realized on `dataset`); the default row is the model's own decisions
    when called, which are restored afterwards (the model is left as it was).

    Args:
        model: a `GatedResNet` with block gates, or a `Cascade`.
        dataset: un-augmented training images, as `calibrate` takes them (may be None for a
            cascade when `predictions` is given).
        budgets: budgets (fractions of `reference_flops`) in the model's reachable range
            on these images; None: 9 evenly spaced inside that range
            (`default_table_budgets`).
        include: budgets added to `budgets` (e.g. those a benchmark times: exact rows).
        tolerance, reference_flops, predictions: as in `calibrate`.
        verbose: 1 prints one line per calibrated row (a gated network's row takes a dozen
            passes over `dataset`).

    Returns:
        A `lcnet_tf.budget_table.BudgetTable`.

    Raises:
        ValueError: a budget outside the reachable range (named), fewer than 2 distinct
            budgets, or a model without run-time decisions.

    Example:
        >>> table = budget_table(model, calibration_images, budgets=[0.3, 0.4, 0.6])
        >>> lcnet_tf.export.to_tflite(model, "knob.tflite", budget_table=table)
    """
    from lcnet_tf.budget_table import BudgetRow, BudgetTable

    names = model.decision_names()
    if not names:
        raise ValueError(
            "Invalid value for `model`: expected a Cascade or a network with block gates "
            "(gating 'layer' or 'lc'); a budget table needs run-time decisions. Received: "
            f"model {model.name!r} with gating={getattr(model, 'gating', None)!r}")
    reference = float(reference_flops or model.reference_flops)
    saved = model.decision_values()
    batches = None
    if isinstance(model, Cascade):
        if predictions is None:
            predictions = stage_predictions(model, dataset)
        num_images = len(predictions.probabilities[0])
        _, _, realized = simulate_cascade(predictions, model.thresholds, model.confidence,
                                          model.ensemble)
        default_flops = float(realized.mean())
        low = float(np.mean(predictions.flops[0])) / reference
        high = float(sum(np.mean(flops) for flops in predictions.flops)) / reference
    else:
        batches = [keras.ops.convert_to_tensor(batch) for batch in image_batches(dataset)]
        num_images = int(sum(int(batch.shape[0]) for batch in batches))
        default_flops = mean_flops_ratio(model, batches) * float(model.cost.backbone)
        low, high = (flops / reference for flops in model.flops_range())
    if budgets is None:
        budgets = default_table_budgets(low, high)
    budgets = sorted({round(float(budget), 12)
                      for budget in (*np.ravel(budgets), *np.ravel(include))})
    outside = [b for b in budgets if not low - 1e-6 <= b <= high + 1e-6]
    if outside:  # Before any calibration.
        raise ValueError(
            f"Invalid value for `budgets`: expected numbers in [{low:.4f}, {high:.4f}] (the "
            f"mean FLOPs {model.name!r} reaches on these {num_images} images, as fractions "
            f"of {reference:,.0f} reference FLOPs). Received: {outside}")
    if len(budgets) < 2:
        raise ValueError(
            "Invalid value for `budgets`: expected at least 2 distinct budgets (a knob needs "
            f"a range). Received: budgets={budgets!r}")
    rows = []
    try:
        for budget in budgets:
            record = calibrate(model, batches if batches is not None else dataset, budget,
                               tolerance=tolerance, reference_flops=reference,
                               predictions=predictions)
            rows.append(BudgetRow(float(budget), tuple(model.decision_values()),
                                  float(record["mean_flops"])))
            if verbose:
                print(f"  knob row {len(rows)}/{len(budgets)}: budget {budget:.4f} -> "
                      f"decisions {[round(v, 4) for v in rows[-1].decisions]}, "
                      f"{record['flops_ratio']:.4f} realized on {num_images} images", flush=True)
    finally:
        model.set_decision_values(saved)
    default = BudgetRow(default_flops / reference, tuple(saved), default_flops)
    return BudgetTable(decision_names=tuple(names), reference_flops=int(reference),
                       rows=tuple(rows), default=default, num_images=num_images)

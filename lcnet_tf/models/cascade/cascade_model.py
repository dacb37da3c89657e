"""`Cascade`: a small network for every image, larger ones only for the images it is unsure of.

The per-input decision here is the coarsest one an L-Net can take: skip *every* remaining
block, of a whole larger network, when the prediction so far is confident. Stage 0 runs on
every image; after stage i an image whose confidence (`lcnet_tf.ops.cascade_ops`) is below
`thresholds[i]` escalates to stage i + 1, and with `ensemble=True` the prediction is the mean
of the probabilities of the stages that ran. Thresholds are set for a FLOPs budget by
`calibrate_cascade` on training images, as a gated model's block-gate threshold is.

Two execution paths, one function (as `GatedResNet`): the batched path (training tools,
evaluation, any batch size) runs every stage and selects; `deployment=True` (one image, what
the TFLite export traces) nests each escalation in a `cond`, i.e. a TFLite IF, so a stage
that does not run costs nothing. Why a cascade at all, and what it costs: docs/design.md,
"Cascades".
"""

import keras
import numpy as np
from keras import ops

from lcnet_tf import deployment as deployment_graph
from lcnet_tf.ops import cascade_ops


def _invalid(name, value, allowed):
    return ValueError(f"Invalid value for `{name}`: expected {allowed}. Received: {name}={value!r}")


@keras.saving.register_keras_serializable(package="lcnet_tf")
class Cascade(keras.Model):
    """Stages of increasing cost; each image runs them in order until one is confident.

    Args:
        stages: two or more `GatedResNet`s (any gating; usually static ones, e.g.
            `create_model("resnet20", gating="none", width_multiplier=0.5)` then a wider
            one), cheapest first, with the same `image_size`, `num_classes` and input
            normalization. Each is trained on its own (the cascade adds no weights).
        thresholds: one confidence threshold per escalation (`len(stages) - 1` floats in
            [0, 1]); an image escalates past stage i when its confidence is below
            `thresholds[i]`. None: every image escalates (0 would let none) until
            `calibrate_cascade` sets them for a budget.
        confidence: "margin" (top-1 minus top-2 probability) or "max" (top-1 probability).
        ensemble: the prediction after a stage is the mean of the probabilities of all the
            stages that ran (True) or that stage's alone (False).
        **kwargs: `keras.Model` arguments (`name`, ...).

    The outputs are log-probabilities (valid logits: their softmax is the prediction).

    Example:
        >>> small = lcnet_tf.create_model("resnet20", gating="none", width_multiplier=0.5)
        >>> large = lcnet_tf.create_model("resnet20", gating="none", width_multiplier=0.75)
        >>> # ... train both ...
        >>> cascade = Cascade([small, large])
        >>> calibrate_cascade(cascade, train_images, budget=0.75)  # 0.75 of `large`'s FLOPs
        >>> logits, info = cascade(images, return_gate_info=True)  # info["realized_flops"]
    """

    def __init__(self, stages, thresholds=None, confidence="margin", ensemble=True, **kwargs):
        kwargs.setdefault("name", "cascade")
        super().__init__(**kwargs)
        if not isinstance(stages, list | tuple) or len(stages) < 2:
            raise _invalid("stages", stages, "a list of two or more lcnet_tf models")
        for index, stage in enumerate(stages):
            if not (isinstance(stage, keras.Model) and hasattr(stage, "cost")
                    and hasattr(stage, "image_size")):
                raise ValueError(
                    "Invalid value for `stages`: expected lcnet_tf models (GatedResNet, e.g. "
                    f"from lcnet_tf.create_model). Received: stages[{index}] of type "
                    f"{type(stage).__name__}"
                )
        first = stages[0]
        for index, stage in enumerate(stages[1:], start=1):
            for attribute in ("image_size", "num_classes", "pixel_mean", "pixel_std"):
                if tuple(np.ravel(getattr(stage, attribute))) != tuple(
                        np.ravel(getattr(first, attribute))):
                    raise ValueError(
                        f"Invalid value for `stages`: every stage needs the same `{attribute}`. "
                        f"Received: stages[0].{attribute}={getattr(first, attribute)!r}, "
                        f"stages[{index}].{attribute}={getattr(stage, attribute)!r}"
                    )
        cascade_ops.check_confidence(confidence)
        if not isinstance(ensemble, bool):
            raise _invalid("ensemble", ensemble, "True or False")
        self.stages = list(stages)
        self.thresholds = self._checked_thresholds(thresholds)
        self.confidence = confidence
        self.ensemble = ensemble
        self.image_size = first.image_size
        self.num_classes = first.num_classes
        # No weights of its own and the stages are built: callable, savable and exportable
        # at once (as a GatedResNet is).
        self.built = True

    def _checked_thresholds(self, thresholds):
        count = len(self.stages) - 1
        if thresholds is None:
            return [1.0 + 1e-6] * count  # Above every confidence: every image escalates.
        values = list(np.ravel(thresholds)) if not isinstance(thresholds, list | tuple) else list(
            thresholds)
        if len(values) != count or not all(
                isinstance(v, int | float | np.floating) and not isinstance(v, bool)
                and 0.0 <= float(v) <= 1.0 + 1e-6 for v in values):
            raise _invalid("thresholds", thresholds,
                           f"{count} numbers in [0, 1] (one per escalation), or None")
        return [float(v) for v in values]

    def set_thresholds(self, thresholds):
        """Replaces the escalation thresholds (checked as in the constructor)."""
        self.thresholds = self._checked_thresholds(thresholds)

    # Cost -------------------------------------------------------------------------------------
    @property
    def stage_flops(self):
        """Each stage's FLOPs with its gates forced open (a static stage's exact cost)."""
        return [int(stage.cost.forced_open_flops()) for stage in self.stages]

    @property
    def reference_flops(self):
        """The last (largest) stage's FLOPs: what a cascade `budget` is a fraction of."""
        return self.stage_flops[-1]

    def export_contract(self):
        """The batch-1 graph's contract (`lcnet_tf.deployment.ExportContract`): one IF per
        escalation plus the stages' own; the stages' float scopes."""
        contracts = [stage.export_contract() for stage in self.stages]
        return deployment_graph.ExportContract(
            if_ops=len(self.stages) - 1 + sum(c.if_ops for c in contracts),
            gate_dense_layers=sum(c.gate_dense_layers for c in contracts),
            float_scopes=tuple(sorted({s for c in contracts for s in c.float_scopes})),
            nonnegative_block_inputs=all(c.nonnegative_block_inputs for c in contracts),
        )

    # Forward ----------------------------------------------------------------------------------
    def call(self, inputs, training=None, return_gate_info=False, force_gates_open=None,
             deployment=False):
        """Log-probabilities, and with `return_gate_info` which stages ran and the FLOPs.

        Args:
            inputs: (batch, H, W, 3) pixels in 0-255.
            training: passed to the stages (a cascade is trained stage by stage; this is
                for BatchNorm mode only).
            return_gate_info: also return `{"gate": (batch, stages) 1 where the stage ran,
                "kept_groups": (batch, stages) zeros, "realized_flops": (batch,)}`.
            force_gates_open: run every stage on every image (and open the stages' gates).
            deployment: the batch-1 graph (see the module docstring).
        """
        if deployment:
            deployment_graph.check_deployment_call(inputs, training)
            log_probs, ran, realized = self._deployment(inputs, force_gates_open)
        else:
            log_probs, ran, realized = self._batched(inputs, training, force_gates_open)
        if not return_gate_info:
            return log_probs
        return log_probs, {"gate": ran, "keep_prob": ran, "kept_groups": ops.zeros_like(ran),
                           "realized_flops": realized}

    def _stage(self, index, inputs, training, force, deployment=False):
        logits, info = self.stages[index](inputs, training=training, return_gate_info=True,
                                          force_gates_open=force, deployment=deployment)
        return ops.softmax(logits, axis=-1), info["realized_flops"]

    def _batched(self, inputs, training, force):
        outputs, prediction, alive = None, None, None
        ran_columns, realized = [], None
        last = len(self.stages) - 1
        for index in range(len(self.stages)):
            probabilities, flops = self._stage(index, inputs, training, force)
            prediction = cascade_ops.combined_probabilities(prediction, probabilities, index,
                                                            self.ensemble)
            if alive is None:
                alive = ops.ones_like(flops)
                outputs, realized = prediction, flops
            else:
                outputs = outputs + alive[:, None] * (prediction - outputs)
                realized = realized + alive * flops
            ran_columns.append(alive)
            if index < last:
                go_on = cascade_ops.escalate(
                    cascade_ops.prediction_confidence(prediction, self.confidence),
                    self.thresholds[index])
                if force is not None:
                    go_on = ops.maximum(go_on, ops.cast(force, go_on.dtype))
                alive = alive * go_on
        return (cascade_ops.log_probabilities(outputs), ops.stack(ran_columns, axis=1),
                realized)

    def _deployment(self, inputs, force):
        stages = len(self.stages)

        def from_stage(index, prediction, realized):
            probabilities, flops = self._stage(index, inputs, False, force, deployment=True)
            prediction = cascade_ops.combined_probabilities(prediction, probabilities, index,
                                                            self.ensemble)
            realized = flops if realized is None else realized + flops

            def stop():
                # Made inside the branch: a constant captured from outside is one more IF input.
                ran = ops.convert_to_tensor(
                    [[1.0] * (index + 1) + [0.0] * (stages - index - 1)], "float32")
                return cascade_ops.log_probabilities(prediction), ran, realized

            if index == stages - 1:
                return stop()
            confidence = cascade_ops.prediction_confidence(prediction, self.confidence)
            go_on = ops.less(confidence, self.thresholds[index])[0]
            if force is not None:
                go_on = ops.logical_or(go_on, ops.cast(force, "bool"))
            return ops.cond(go_on, lambda: from_stage(index + 1, prediction, realized), stop)

        return from_stage(0, None, None)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    # Config -----------------------------------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        return {
            **config,
            "stages": [keras.saving.serialize_keras_object(stage) for stage in self.stages],
            "thresholds": list(self.thresholds),
            "confidence": self.confidence,
            "ensemble": self.ensemble,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["stages"] = [keras.saving.deserialize_keras_object(stage)
                            for stage in config["stages"]]
        return cls(**config)


def stage_predictions(cascade, dataset):
    """Every stage's probabilities and per-image FLOPs on `dataset` (all stages, all images).

    Args:
        cascade: a `Cascade`.
        dataset: batches of images, or of `(images, labels)` (a tf.data pipeline), or an
            array of images.

    Returns:
        `(probabilities, flops, labels)`: lists (one per stage) of (N, classes) and (N,)
        arrays, and the (N,) labels (None when the data has none).
    """
    probabilities = [[] for _ in cascade.stages]
    flops = [[] for _ in cascade.stages]
    labels = []
    batches = [dataset] if isinstance(dataset, np.ndarray) else dataset
    for batch in batches:
        images = batch
        if isinstance(batch, tuple | list):
            images, batch_labels = batch[0], batch[1]
            labels.append(np.asarray(batch_labels))
        for index in range(len(cascade.stages)):
            stage_probabilities, stage_flops = cascade._stage(index, images, False, None)
            probabilities[index].append(np.asarray(stage_probabilities))
            flops[index].append(np.asarray(stage_flops))
    if not probabilities[0]:
        raise ValueError("Invalid value for `dataset`: expected images or (images, labels) "
                         f"batches. Received: a {type(dataset).__name__} that yielded none")
    return ([np.concatenate(p) for p in probabilities], [np.concatenate(f) for f in flops],
            np.concatenate(labels) if labels else None)


def simulate_cascade(probabilities, flops, thresholds, confidence="margin", ensemble=True):
    """What a cascade with `thresholds` does on precomputed stage outputs (NumPy).

    The same rule as `Cascade.call`, on the arrays `stage_predictions` returns, so that a
    budget search or a knob curve does not run the networks again.

    Returns:
        `(prediction (N, classes), ran (N, stages), realized_flops (N,))`.
    """
    count = len(probabilities[0])
    prediction = outputs = None
    alive = np.ones(count)
    ran, realized = [], np.zeros(count)
    for index, (stage_probabilities, stage_flops) in enumerate(zip(probabilities, flops,
                                                                   strict=True)):
        prediction = np.asarray(cascade_ops.combined_probabilities(
            prediction, stage_probabilities, index, ensemble))
        outputs = prediction.copy() if outputs is None else np.where(
            alive[:, None] > 0, prediction, outputs)
        realized = realized + alive * stage_flops
        ran.append(alive.copy())
        if index < len(probabilities) - 1:
            sure = np.asarray(cascade_ops.prediction_confidence(prediction, confidence))
            alive = alive * (sure < thresholds[index])
    return outputs, np.stack(ran, axis=1), realized


def _thresholds_for_fraction(probabilities, fraction, confidence, ensemble):
    """Thresholds that send `fraction` of the images still running on past every stage."""
    thresholds, prediction = [], None
    alive = np.ones(len(probabilities[0]), bool)
    for index, stage_probabilities in enumerate(probabilities[:-1]):
        prediction = np.asarray(cascade_ops.combined_probabilities(
            prediction, stage_probabilities, index, ensemble))
        sure = np.asarray(cascade_ops.prediction_confidence(prediction, confidence))
        if fraction <= 0 or not alive.any():
            threshold = 0.0
        elif fraction >= 1:
            threshold = 1.0 + 1e-6
        else:
            # The smallest threshold with `fraction` of the running images below it.
            threshold = float(np.quantile(sure[alive], fraction, method="higher"))
        thresholds.append(threshold)
        alive &= sure < threshold
    return thresholds


def calibrate_cascade(cascade, dataset, budget, tolerance=1e-3, *, predictions=None):
    """Sets `cascade.thresholds` so that its mean FLOPs on `dataset` is `budget` of the largest
    stage's (`Cascade.reference_flops`).

    Every escalation sends on the same fraction of the images that reach it; that fraction is
    found by bisection (the mean cost grows with it). Use training images (un-augmented), as
    for a gated model's threshold: the test set measures the result.

    Args:
        cascade: a `Cascade` with trained stages.
        dataset: images (see `stage_predictions`); a few thousand are enough.
        budget: mean FLOPs as a fraction of the last stage's, between what stage 0 alone
            costs and what every stage together costs (both as fractions of the last).
        tolerance: bisection stops when the realized ratio is this close to the budget.
        predictions: `stage_predictions(cascade, dataset)` computed before (then `dataset`
            may be None): several budgets without running the networks again.

    Returns:
        Dict: `thresholds`, `escalate_fraction`, `flops_ratio` (realized on `dataset`),
        `stage_rates` (fraction of the images each stage ran on).

    Example:
        >>> calibrate_cascade(cascade, make_dataset(b, "train", batch_size=500,
        ...                   training=False, take=5000), budget=0.75)
    """
    flops = cascade.stage_flops
    low, high = flops[0] / flops[-1], sum(flops) / flops[-1]
    if isinstance(budget, bool) or not isinstance(budget, int | float) or not (
            low <= budget <= high):
        raise _invalid("budget", budget,
                       f"a number in [{low:.4f}, {high:.4f}] (stage 0 alone .. every stage, as "
                       "fractions of the last stage's FLOPs)")
    if predictions is None:
        predictions = stage_predictions(cascade, dataset)
    probabilities, stage_flops, _ = predictions

    def realized_ratio(fraction):
        thresholds = _thresholds_for_fraction(probabilities, fraction, cascade.confidence,
                                              cascade.ensemble)
        _, ran, realized = simulate_cascade(probabilities, stage_flops, thresholds,
                                            cascade.confidence, cascade.ensemble)
        return float(realized.mean()) / flops[-1], thresholds, ran

    # The ratio moves in steps (one image at a time): keep the probe closest to the budget,
    # the endpoints (nobody / everybody escalates) included.
    best = None
    lo, hi = 0.0, 1.0
    for fraction in (0.0, 1.0, *([None] * 50)):
        if fraction is None:
            fraction = 0.5 * (lo + hi)
        ratio, thresholds, ran = realized_ratio(fraction)
        if best is None or abs(ratio - budget) < abs(best[1] - budget):
            best = (fraction, ratio, thresholds, ran)
        if abs(ratio - budget) <= tolerance:
            break
        if 0.0 < fraction < 1.0:
            lo, hi = (fraction, hi) if ratio < budget else (lo, fraction)
    fraction, ratio, thresholds, ran = best
    cascade.set_thresholds(thresholds)
    return {"thresholds": list(thresholds), "escalate_fraction": fraction,
            "flops_ratio": ratio, "stage_rates": [float(r) for r in ran.mean(axis=0)]}


def cascade_report(cascade, dataset=None, *, predictions=None):
    """Accuracy and cost of `cascade` on labelled data, as `gate_report` reports a gated model.

    Args:
        cascade: a `Cascade` (its current thresholds).
        dataset: `(images, labels)` batches; or pass `predictions`.
        predictions: the `(probabilities, flops, labels)` of `stage_predictions` (to report
            several thresholds without running the networks again).

    Returns:
        Dict: `test_accuracy`, `mean_flops`, `reference_flops` (the last stage's),
        `flops_ratio` (mean / reference), `flops_cv` (coefficient of variation of the
        per-image FLOPs), `stage_rates` (fraction of images each stage ran on), `images`,
        `per_image_flops` ((N,) array).
    """
    if predictions is None:
        if dataset is None:
            raise ValueError("Invalid value for `dataset`: expected (images, labels) batches, "
                             "or pass `predictions`. Received: dataset=None, predictions=None")
        predictions = stage_predictions(cascade, dataset)
    probabilities, flops, labels = predictions
    if labels is None:
        raise ValueError("Invalid value for `dataset`: expected (images, labels) batches. "
                         "Received: batches without labels")
    outputs, ran, realized = simulate_cascade(probabilities, flops, cascade.thresholds,
                                              cascade.confidence, cascade.ensemble)
    mean = float(realized.mean())
    return {
        "test_accuracy": float((outputs.argmax(axis=1) == labels).mean()),
        "mean_flops": mean,
        "reference_flops": cascade.reference_flops,
        "flops_ratio": mean / cascade.reference_flops,
        "flops_cv": float(realized.std() / mean) if mean else 0.0,
        "stage_rates": [float(rate) for rate in ran.mean(axis=0)],
        "images": int(len(labels)),
        "per_image_flops": realized,
    }

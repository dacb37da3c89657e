"""`Cascade`: a small network for every image, larger ones only for the images it is unsure of.

The per-input decision here is the coarsest one an L-Net can take: skip *every* remaining
block, of a whole larger network, when the prediction so far is confident. Stage 0 runs on
every image; after stage i an image whose confidence (`lcnet_tf.ops.cascade_ops`) is below
`thresholds[i]` escalates to stage i + 1, and with `ensemble=True` the prediction is the mean
of the probabilities of the stages that ran. Thresholds are set for a FLOPs budget by
`lcnet_tf.training.calibrate` on training images, as a gated model's block-gate threshold is.

Two execution paths, one function (as `GatedResNet`): the batched path (training tools,
evaluation, any batch size) runs every stage and selects; `deployment=True` (one image, what
the TFLite export traces) nests each escalation in a `cond`, i.e. a TFLite IF, so a stage
that does not run costs nothing. Why a cascade at all, and what it costs: docs/design.md,
"Cascades".
"""

from typing import NamedTuple

import keras
import numpy as np
from keras import ops

import lcnet_tf.deployment as deployment_graph
from lcnet_tf.models.cascade.cascade_cost import CascadeCost
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
            `lcnet_tf.training.calibrate` sets them for a budget.
        confidence: "margin" (top-1 minus top-2 probability) or "max" (top-1 probability).
        ensemble: the prediction after a stage is the mean of the probabilities of all the
            stages that ran (True) or that stage's alone (False).
        reference_flops: the FLOPs a `budget` is a fraction of (`calibrate`, `report`);
            None: the last stage's backbone. `create_model(name, gating="cascade")` and
            `run_training` set it to the FLOPs of `name` at width 1, as for every model.
        **kwargs: `keras.Model` arguments (`name`, ...).

    The outputs are log-probabilities (valid logits: their softmax is the prediction).

    Example:
        >>> small = lcnet_tf.create_model("resnet20", gating="none", width_multiplier=0.5)
        >>> large = lcnet_tf.create_model("resnet20", gating="none", width_multiplier=0.75)
        >>> # ... train both ...
        >>> cascade = Cascade([small, large])
        >>> lcnet_tf.training.calibrate(cascade, train_images, budget=0.4)  # of reference_flops
        >>> logits, info = cascade(images, return_gate_info=True)  # info["realized_flops"]
    """

    def __init__(self, stages, thresholds=None, confidence="margin", ensemble=True,
                 reference_flops=None, **kwargs):
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
        if reference_flops is None:
            reference_flops = int(self.stages[-1].cost.backbone)
        if isinstance(reference_flops, bool) or not isinstance(
                reference_flops, int | float | np.integer | np.floating) or reference_flops <= 0:
            raise _invalid("reference_flops", reference_flops, "a positive number, or None")
        self.reference_flops = int(reference_flops)
        self.cost = CascadeCost(self.stages, self.reference_flops)
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

    # Run-time decisions (the budget knob) -------------------------------------------------
    def decision_names(self):
        """Names of the run-time decision values (`call(..., decisions=)`, the budget knob
        signature's input; docs/tflite_signature.md): the exit thresholds
        `threshold_0..threshold_{S-2}`, then `"<stage>.offset"` for every stage with block
        gates (its own gate offset)."""
        names = [f"threshold_{index}" for index in range(len(self.stages) - 1)]
        for stage in self.stages:
            names += [f"{stage.name}.{name}" for name in stage.decision_names()]
        return names

    def decision_values(self):
        """The stored decision values in `decision_names()` order."""
        values = list(self.thresholds)
        for stage in self.stages:
            values += stage.decision_values()
        return [float(value) for value in values]

    def set_decision_values(self, values):
        """Stores decision values (`decision_names()` order): thresholds and stage offsets."""
        values = deployment_graph.check_decision_values(values, self.decision_names())
        count = len(self.stages) - 1
        self.set_thresholds(values[:count])
        for stage, own in zip(self.stages, self._split_stage_decisions(values), strict=True):
            if own is not None:
                stage.set_decision_values(own)

    def _split_stage_decisions(self, values):
        """Each stage's slice of `values` (a list or a tensor), None for a stage without."""
        start, parts = len(self.stages) - 1, []
        for stage in self.stages:
            count = len(stage.decision_names())
            parts.append(values[start:start + count] if count else None)
            start += count
        return parts

    # Cost -------------------------------------------------------------------------------------
    @property
    def stage_flops(self):
        """Each stage's FLOPs with its gates forced open (a static stage's exact cost)."""
        return [int(stage.cost.forced_open_flops()) for stage in self.stages]

    def flops_range(self):
        """`(lowest, highest)` mean FLOPs per image calibration can reach
        (`CascadeCost.flops_range`)."""
        return self.cost.flops_range()

    def decision_units(self):
        """`(name, kind, gated)` of every column of `info["gate"]`: the stages, then the
        blocks of the gated stages (`CascadeCost`)."""
        return list(zip(self.cost.unit_names, self.cost.unit_kinds, self.cost.unit_gated,
                        strict=True))

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
             deployment=False, decisions=None):
        """Log-probabilities, and with `return_gate_info` which stages ran and the FLOPs.

        Args:
            inputs: (batch, H, W, 3) pixels in 0-255.
            training: passed to the stages (a cascade is trained stage by stage; this is
                for BatchNorm mode only).
            return_gate_info: also return `{"gate": (batch, units) 1 where the unit ran,
                "kept_groups": (batch, units), "realized_flops": (batch,)}`; units are the
                stages, then the blocks of each gated stage (0 where the stage did not
                run), as `decision_units()` names them.
            force_gates_open: run every stage on every image (and open the stages' gates).
            deployment: the batch-1 graph (see the module docstring).
            decisions: a (D,) tensor of decision values (`decision_names()`: thresholds,
                then gated stages' offsets) used instead of the stored ones (the budget
                knob's run-time input).
        """
        thresholds, stage_decisions = self.thresholds, [None] * len(self.stages)
        if decisions is not None:
            decisions = deployment_graph.check_decision_tensor(decisions, self.decision_names())
            thresholds = [decisions[index] for index in range(len(self.stages) - 1)]
            stage_decisions = self._split_stage_decisions(decisions)
        if deployment:
            deployment_graph.check_deployment_call(inputs, training)
            log_probs, ran, kept, realized = self._deployment(inputs, force_gates_open,
                                                              thresholds, stage_decisions)
        else:
            log_probs, ran, kept, realized = self._batched(inputs, training, force_gates_open,
                                                           thresholds, stage_decisions)
        if not return_gate_info:
            return log_probs
        return log_probs, {"gate": ran, "keep_prob": ran, "kept_groups": kept,  # keep_prob: hard
                           "realized_flops": realized}

    def _stage(self, index, inputs, training, force, deployment=False, decisions=None):
        """Stage `index`'s probabilities and its gate info (None for a static stage)."""
        logits, info = self.stages[index](inputs, training=training, return_gate_info=True,
                                          force_gates_open=force, deployment=deployment,
                                          decisions=decisions)
        info = info if self.cost.block_slices[index] is not None else None
        return ops.softmax(logits, axis=-1), info

    def _units(self, ran, infos):
        """`(gate, kept_groups)` over the units from the stage columns `ran` (batch, stages)
        and each stage's gate info (block columns zeroed where their stage did not run)."""
        gates, kept = [ran], [ops.zeros_like(ran)]
        for index, info in enumerate(infos):
            if info is None:
                continue
            mask = ran[:, index : index + 1]
            gates.append(ops.cast(info["gate"], "float32") * mask)
            kept.append(ops.cast(info["kept_groups"], "float32") * mask)
        return ops.concatenate(gates, axis=1), ops.concatenate(kept, axis=1)

    def _batched(self, inputs, training, force, thresholds, stage_decisions):
        outputs = [self._stage(index, inputs, training, force, decisions=stage_decisions[index])
                   for index in range(len(self.stages))]
        prediction, ran = cascade_ops.cascade_decisions(
            [probabilities for probabilities, _ in outputs], thresholds, self.confidence,
            self.ensemble, force)
        gate, kept = self._units(ran, [info for _, info in outputs])
        return cascade_ops.log_probabilities(prediction), gate, kept, self.cost.realized(
            gate, kept)

    def _deployment(self, inputs, force, thresholds, stage_decisions):
        stages = len(self.stages)

        def from_stage(index, prediction, infos):
            probabilities, info = self._stage(index, inputs, False, force, deployment=True,
                                              decisions=stage_decisions[index])
            prediction = cascade_ops.combined_probabilities(prediction, probabilities, index,
                                                            self.ensemble)
            infos = [*infos, info]

            def stop():
                # Made inside the branch: a constant captured from outside is one more IF input.
                ran = ops.convert_to_tensor(
                    [[1.0] * (index + 1) + [0.0] * (stages - index - 1)], "float32")
                padded = infos + [self._closed_info(later) for later in range(index + 1, stages)]
                gate, kept = self._units(ran, padded)
                return (cascade_ops.log_probabilities(prediction), gate, kept,
                        self.cost.realized(gate, kept))

            if index == stages - 1:
                return stop()
            confidence = cascade_ops.prediction_confidence(prediction, self.confidence)
            go_on = ops.less(confidence, thresholds[index])[0]
            if force is not None:
                go_on = ops.logical_or(go_on, ops.cast(force, "bool"))
            return ops.cond(go_on, lambda: from_stage(index + 1, prediction, infos), stop)

        return from_stage(0, None, [])

    def _closed_info(self, index):
        """Gate info of a stage that did not run: zeros in its block columns (or None)."""
        if self.cost.block_slices[index] is None:
            return None
        blocks = len(self.stages[index].blocks)
        zeros = ops.zeros((1, blocks), "float32")
        return {"gate": zeros, "kept_groups": zeros}

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
            "reference_flops": self.reference_flops,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["stages"] = [keras.saving.deserialize_keras_object(stage)
                            for stage in config["stages"]]
        return cls(**config)


def stage_predictions(cascade, dataset):
    """Every stage's probabilities, decisions and exact per-image FLOPs on `dataset` (every
    stage on every image), so that calibration and knob curves need not run the networks
    again (`simulate_cascade`).

    Args:
        cascade: a `Cascade`.
        dataset: batches of images, or of `(images, labels)` (a tf.data pipeline), or an
            array of images.

    Returns:
        `StagePredictions(probabilities, flops, labels, gates, kept_groups)`: per stage, the
        (N, classes) probabilities, the (N,) int64 FLOPs the stage costs each image when it
        runs, its (N, blocks) block decisions and kept channel groups (None for a static
        stage); and the (N,) labels (None when the data has none).
    """
    stages = len(cascade.stages)
    probabilities, gates, kept = ([[] for _ in range(stages)] for _ in range(3))
    labels = []
    batches = [dataset] if isinstance(dataset, np.ndarray) else dataset
    for batch in batches:
        images = batch
        if isinstance(batch, tuple | list):
            images, batch_labels = batch[0], batch[1]
            labels.append(np.asarray(batch_labels).reshape(-1))
        for index in range(stages):
            stage_probabilities, info = cascade._stage(index, images, False, None)
            probabilities[index].append(np.asarray(stage_probabilities))
            if info is not None:
                gates[index].append(np.rint(np.asarray(info["gate"])).astype(np.int64))
                kept[index].append(np.rint(np.asarray(info["kept_groups"])).astype(np.int64))
    if not probabilities[0]:
        raise ValueError("Invalid value for `dataset`: expected images or (images, labels) "
                         f"batches. Received: a {type(dataset).__name__} that yielded none")
    probabilities = [np.concatenate(p) for p in probabilities]
    count = len(probabilities[0])
    flops, stage_gates, stage_kept = [], [], []
    for index in range(stages):
        if gates[index]:
            stage_gates.append(np.concatenate(gates[index]))
            stage_kept.append(np.concatenate(kept[index]))
            flops.append(cascade.stages[index].cost.realized(stage_gates[-1],
                                                             stage_kept[-1]).astype(np.int64))
        else:
            stage_gates.append(None)
            stage_kept.append(None)
            flops.append(np.full(count, cascade.cost.fixed_stage_flops[index], np.int64))
    return StagePredictions(probabilities, flops,
                            np.concatenate(labels).astype(np.int64) if labels else None,
                            stage_gates, stage_kept)


class StagePredictions(NamedTuple):
    """What `stage_predictions` returns (see there)."""

    probabilities: list
    flops: list
    labels: np.ndarray | None
    gates: list
    kept_groups: list


def simulate_cascade(predictions, thresholds, confidence="margin", ensemble=True):
    """What a cascade with `thresholds` does on precomputed stage outputs.

    The same rule as `Cascade.call` (`cascade_ops.cascade_decisions`), on what
    `stage_predictions` returned, so a budget search or a knob curve does not run the
    networks again.

    Returns:
        `(prediction (N, classes), ran (N, stages), realized_flops (N,) int64)`.
    """
    prediction, ran = cascade_ops.cascade_decisions(predictions.probabilities, thresholds,
                                                    confidence, ensemble)
    ran = np.rint(ops.convert_to_numpy(ran)).astype(np.int64)
    realized = (ran * np.stack(predictions.flops, axis=1)).sum(axis=1)
    return ops.convert_to_numpy(prediction), ran, realized


def unit_decisions(cascade, predictions, ran):
    """`(gate, kept_groups)` over `cascade.decision_units()` from simulated stage decisions
    `ran` (N, stages) and the gated stages' own decisions in `predictions`."""
    gates, kept = [ran], [np.zeros_like(ran)]
    for index, (stage_gate, stage_kept) in enumerate(zip(predictions.gates,
                                                         predictions.kept_groups, strict=True)):
        if stage_gate is not None:
            gates.append(stage_gate * ran[:, index : index + 1])
            kept.append(stage_kept * ran[:, index : index + 1])
    return np.concatenate(gates, axis=1), np.concatenate(kept, axis=1)

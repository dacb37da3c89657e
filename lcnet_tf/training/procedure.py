"""The whole method as one call: static backbone -> gated fine-tuning -> calibration -> report."""

import dataclasses
import json
import os
import shutil
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from lcnet_tf.models import GatedResNet, create_model, from_keras_application, reference_flops
from lcnet_tf.models.resnet.keras_applications import is_application_spec, load_application
from lcnet_tf.ops.budget_ops import LinearWarmup
from lcnet_tf.training import cascade as cascade_lib
from lcnet_tf.training.calibration import calibrate, recalibrate_batch_norm
from lcnet_tf.training.config import TrainConfig, keep_fraction_for
from lcnet_tf.training.distribute import make_strategy, worker_info
from lcnet_tf.training.recipe import make_optimizer, training_settings
from lcnet_tf.training.reference import closest_static_below
from lcnet_tf.training.report import plot_gate_report, report, report_to_json

STATIC_MODEL = "static.keras"
GATED_MODEL = "gated_trained.keras"
FINAL_MODEL = "model.keras"
METRICS = "metrics.json"
PHASES = "phases.json"
REFERENCE_DIR = "static_reference"
NO_DECAY = ["gamma", "beta", "bias", "decision_offset"]


def transfer_backbone_weights(source, target):
    """Copies `source`'s weights into `target` wherever the layer path and shape match.

    Paths are compared without the model name, so a static `resnet20_none`
    fills the backbone of a gated `resnet20_lc`; gate weights stay fresh.

    Returns:
        Number of weights copied.

    Raises:
        ValueError: when nothing matches (different architectures).
    """
    def key(variable):
        return variable.path.split("/", 1)[-1]

    source_weights = {key(v): v for v in source.weights}
    copied = 0
    for variable in target.weights:
        match = source_weights.get(key(variable))
        if match is not None and tuple(match.shape) == tuple(variable.shape):
            variable.assign(match.numpy())
            copied += 1
    if copied == 0:
        raise ValueError(
            f"Invalid value for `source`: no weight of {source.name!r} matches {target.name!r} "
            "by layer path and shape (different architectures?)."
        )
    return copied


def load_backbone(init_from, num_classes):
    """The static backbone `init_from` names, as a `GatedResNet` with `gating="none"`.

    `init_from` is a saved model (`.keras`): a `GatedResNet`, or a keras.applications
    ResNet saved whole, converted with `from_keras_application`; or
    `keras_applications:<name>[:<weights file>]` (`load_application`).
    """
    if is_application_spec(init_from):
        source = load_application(init_from)
    else:
        source = keras.saving.load_model(init_from, compile=False)
        if isinstance(source, GatedResNet):
            return source
    return from_keras_application(source, gating="none", num_classes=num_classes)


# Backbone settings a gated model takes from the model it starts from (not from its preset).
INHERITED = ("stem_padding", "stride_in_1x1", "pixel_mean", "pixel_std")


def inherited_architecture(backbone, model_name, model_kwargs):
    """`create_model` overrides that give the gated model `backbone`'s architecture.

    The stem padding, stride position and input normalisation come from the backbone
    (a converted keras.applications ResNet differs from the preset in all three);
    the blocks and widths must already agree.

    Raises:
        ValueError: when `backbone` has other blocks or widths than `model_name`
            with `model_kwargs` builds.
    """
    config = backbone.get_config()
    probe = create_model(model_name, gating="none", **model_kwargs)
    for key in ("stage_blocks", "stage_widths", "block_type"):
        want = config.get(key)
        want = tuple(want) if isinstance(want, list) else want
        got = getattr(probe, key)
        if want != got:
            raise ValueError(
                f"Invalid value for `init_from`: its backbone has {key}={want}, the model "
                f"{model_name!r} has {got}; pass the matching --model."
            )
    return {key: config[key] for key in INHERITED if key in config}


def choose_channel_keep(model, config):
    """C-Net keep fraction for the budget: the preset's, raised if the L-Net cannot meet it.

    For "lc" gating the channel gates' fixed top-k sets each block's cost when
    it runs and the L-Net absorbs the rest of the budget; the fraction is raised
    (k/G steps) until the uniform block execution rate meeting the budget is
    at most `config.max_block_rate`. For "channel" gating (no block gates) the
    k/G whose fixed FLOPs ratio is closest to the budget is taken.

    Returns:
        The keep fraction (float), or None when the model has no channel gates.

    Raises:
        ValueError: for "channel" gating, when the budget is below the lowest ratio
            its channel gates can realize (e.g. ResNet-20's preset, stage 3 only with
            2 groups: 0.84): the model would silently miss the budget.
    """
    groups = [block.channel_groups for block in model.blocks if block.channel_groups]
    if not groups:
        return None
    if config.channel_keep is not None:
        return float(config.channel_keep)
    cost = model.cost
    group_count = max(groups)
    fractions = sorted({k / group_count for k in range(1, group_count + 1)} | {model.channel_keep})
    if cost.block_gated.any():  # The rule the config's range check uses too.
        return keep_fraction_for(model, config.budget, None, config.max_block_rate)
    ratios = [cost.decision_range(f)[1] for f in fractions]
    if config.budget < min(ratios) - config.calibration_tolerance:
        raise ValueError(
            f"Invalid value for `budget`: gating='channel' (no block gates) realizes a fixed "
            f"FLOPs ratio per keep fraction, at least {min(ratios):.3f} with this model's "
            f"channel gates ({len(groups)} gated blocks, {group_count} groups); use "
            "gating='lc', channel gates on more stages or more groups, or a budget >= "
            f"{min(ratios):.3f}. Received: budget={config.budget}"
        )
    return cost.channel_keep_for(config.budget, fractions, config.max_block_rate)


def _optimizer(peak_lr, total_steps, warmup_steps, config, steps_per_epoch):
    """The phase's optimizer: SGD Nesterov, `config`'s schedule, lr scaling, BatchNorm-bias lr
    and weight average (`lcnet_tf.training.recipe.make_optimizer`)."""
    return make_optimizer(config, peak_lr, total_steps, warmup_steps, steps_per_epoch, NO_DECAY)


def _compile(model, optimizer, config, teacher=None):
    if config.label_smoothing:
        loss = keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=config.label_smoothing
        )
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    extra = {}
    if teacher is not None and config.distill_weight:
        extra = {"teacher": teacher, "distill_weight": config.distill_weight,
                 "distill_temperature": config.distill_temperature}
    if config.self_distill_weight and model.gating != "none":
        extra = {"self_distill_weight": config.self_distill_weight,
                 "gated_grad_scale": config.gated_grad_scale,
                 "backbone_grad_scale": config.backbone_grad_scale,
                 "distill_temperature": config.distill_temperature}
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"],
                  jit_compile=config.jit_compile, **extra)


class _Paths:
    def __init__(self, workdir, is_chief, task_id):
        self.root = Path(workdir)
        # Every worker trains; only the chief writes the run's outputs, the others a subfolder.
        self.out = self.root if is_chief else self.root / f"worker{task_id}"
        self.out.mkdir(parents=True, exist_ok=True)
        self.backup = self.out / "backup"


def _load_phases(path):
    return json.loads(path.read_text()) if path.exists() else {}


def _save_json(path, payload):
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(payload, indent=2, sort_keys=True))
    temporary.replace(path)


def _save_model(model, path):
    temporary = path.with_name(path.stem + ".tmp.keras")
    model.save(temporary)
    temporary.replace(path)


def run_training(config, workdir, *, strategy=None, callbacks=(), verbose=1):
    """Runs the method end to end and writes every output into `workdir`.

    1. Backbone: load `config.init_from`, or train the static model (`gating="none"`)
       for `static_epochs` (saved as `static.keras`).
    2. Gated: build the gated model with `budget`, copy the backbone weights (same
       layer names; gates fresh), train `epochs` with the FLOPs penalty
       (`gated_trained.keras`).
    3. Calibrate the decision threshold on un-augmented training images so the
       mean realized FLOPs ratio equals the budget, then evaluate on the test
       split and write `model.keras`, `metrics.json`, `gate_report.png`.

    Killed at any moment, the same call resumes: each training phase runs under
    `keras.callbacks.BackupAndRestore` (at most one epoch lost) and a finished
    phase is not redone. `config.json` holds the resolved config, `*_log.csv`
    the per-epoch logs and `tensorboard/` the TensorBoard logs.

    Args:
        config: a `TrainConfig`.
        workdir: output directory (created if needed).
        strategy: a `tf.distribute.Strategy`; default `make_strategy(config.strategy)`.
        callbacks: extra Keras callbacks for both training phases.
        verbose: Keras `fit` verbosity.

    Returns:
        The metrics dict written to `metrics.json`.

    Example:
        >>> metrics = run_training(get_train_config("cpu_lc", budget=0.4), "/tmp/run")
        >>> metrics["test_accuracy"], metrics["flops_ratio"]
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"Expected a TrainConfig, got {type(config).__name__}")
    strategy = strategy or make_strategy(config.strategy, tpu=config.tpu)
    is_chief, task_id = worker_info(strategy)
    paths = _Paths(workdir, is_chief, task_id)
    check_resumable(paths.out, config)
    (paths.out / "config.json").write_text(config.to_json())
    metrics_path = paths.out / METRICS
    if metrics_path.exists() and (paths.out / FINAL_MODEL).exists():
        return json.loads(metrics_path.read_text())
    keras.utils.set_random_seed(config.seed)
    run = _Run(config, paths, strategy, callbacks, verbose)
    if config.gating == "cascade":
        model, result = _cascade_phases(run)
    else:
        backbone = _backbone_phase(run)
        model = _gated_phase(run, backbone)
        result = {}
        calibration = _calibration_phase(run, model)
        if calibration is not None:
            result["calibration"] = calibration
    result = {**_header(config), **_evaluation_phase(run, model), **result}
    if config.gating == "cascade":
        result["static_frontier"] = cascade_lib.stage_frontier(
            result["stages"], result["mean_flops"], result["test_accuracy"])
        result["static_test_accuracy"] = result["stages"][-1]["test_accuracy"]
    _static_reference_phase(run, result)
    if config.gating == "cascade":
        _save_model(model.stages[-1], paths.out / STATIC_MODEL)
    _save_model(model, paths.out / FINAL_MODEL)
    _save_json(metrics_path, result)
    return result


def _header(config):
    """metrics.json's first keys: what was asked for, and what FLOPs ratios are relative to."""
    return {"model": config.model, "gating": config.gating, "budget": config.budget,
            "reference_model": f"{config.model} (width 1, static)"}


def _cascade_phases(run):
    """`gating="cascade"`: each stage a static run of its own (`<workdir>/stage<i>/`), then the
    cascade assembled and calibrated (`lcnet_tf.training.cascade`)."""
    config, out = run.config, run.paths.out
    stages, records = [], []
    for index, stage_config in enumerate(cascade_lib.stage_configs(config)):
        workdir = out / cascade_lib.STAGE_DIR.format(index=index)
        metrics = run_training(stage_config, workdir, strategy=run.strategy,
                               callbacks=run.callbacks, verbose=run.verbose)
        with run.strategy.scope():
            stages.append(keras.saving.load_model(workdir / FINAL_MODEL, compile=False))
        records.append({"name": f"{config.model} x{stage_config.width_multiplier:g}",
                        "width_multiplier": stage_config.width_multiplier,
                        "epochs": stage_config.static_epochs,
                        "flops": int(stages[-1].cost.backbone),
                        "test_accuracy": metrics["test_accuracy"], "workdir": str(workdir),
                        "seconds": metrics.get("phases", {}).get("static", {}).get("seconds")})
        run.log_phase(f"stage{index}", records[-1])
    cascade = cascade_lib.assemble_cascade(config, stages, run.reference_flops)
    start = time.time()
    calibration = calibrate(cascade, run.eval_dataset("train", config.calibration_images),
                            config.budget, tolerance=config.calibration_tolerance)
    calibration["seconds"] = time.time() - start
    return cascade, {"calibration": calibration, "stages": records,
                     "cascade_widths": list(config.cascade_widths),
                     "cascade_confidence": config.cascade_confidence}


class _Run:
    """One run's resolved inputs (config, paths, strategy, data, model settings) and the
    phase log (`phases.json`), shared by the phase functions below."""

    def __init__(self, config, paths, strategy, callbacks, verbose):
        import lcnet_tf.data as data_lib

        self.config, self.paths, self.strategy = config, paths, strategy
        self.callbacks, self.verbose = callbacks, verbose
        self.phases_path = paths.out / PHASES
        self.phases = _load_phases(self.phases_path)
        self.builder = data_lib.resolve_dataset(config.dataset)
        self.num_classes = int(self.builder.info.features["label"].num_classes)
        num_train = data_lib.num_examples(self.builder, "train")
        if config.train_examples:
            num_train = min(num_train, config.train_examples)
        self.steps_per_epoch = config.steps_per_epoch or max(num_train // config.batch_size, 1)
        self.test_ds = self.eval_dataset("test", config.test_examples)
        self.model_kwargs = {"num_classes": self.num_classes,
                             "width_multiplier": config.width_multiplier,
                             **(config.model_overrides or {})}
        if config.image_size:
            self.model_kwargs["image_size"] = config.image_size
        # What every FLOPs ratio of the run is relative to: `model` at width 1.
        self.reference_flops = reference_flops(
            config.model, self.num_classes,
            **{key: value for key, value in self.model_kwargs.items()
               if key not in ("num_classes", "width_multiplier")})
        if config.gating == "channel":  # An unreachable budget fails now, not after phase 1.
            choose_channel_keep(self.create(gating="channel"), config)
        elif config.model_overrides:  # Bad override values fail now, not after phase 1.
            self.create(gating="none" if config.gating == "cascade" else config.gating)

    def create(self, **kwargs):
        return create_model(self.config.model, **{**self.model_kwargs, **kwargs})

    def train_dataset(self):
        import lcnet_tf.data as data_lib

        config = self.config
        dataset = data_lib.make_dataset(
            self.builder, "train", batch_size=config.batch_size, training=True,
            image_size=config.image_size, seed=config.seed, take=config.train_examples,
            repeat=True, flip=config.flip, translate=config.translate,
        )
        if config.label_smoothing:
            dataset = dataset.map(lambda x, y: (x, tf.one_hot(y, self.num_classes)))
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        return dataset.with_options(options)

    def eval_dataset(self, split, take):
        import lcnet_tf.data as data_lib

        return data_lib.make_dataset(
            self.builder, split, batch_size=self.config.eval_batch_size, training=False,
            image_size=self.config.image_size, take=take, cache=False,
        )

    def fit(self, model, phase, epochs, peak_lr, teacher=None):
        """Trains one phase under BackupAndRestore; returns its seconds."""
        config, paths = self.config, self.paths
        total_steps = epochs * self.steps_per_epoch
        warmup = int(config.warmup_epochs * self.steps_per_epoch)
        with self.strategy.scope():
            optimizer = _optimizer(peak_lr, total_steps, warmup, config, self.steps_per_epoch)
            _compile(model, optimizer, config, teacher)
        _drop_torn_first_checkpoint(paths.backup / phase)
        phase_callbacks = [
            keras.callbacks.BackupAndRestore(str(paths.backup / phase), double_checkpoint=True),
            keras.callbacks.CSVLogger(str(paths.out / f"{phase}_log.csv"), append=True),
            keras.callbacks.TensorBoard(str(paths.out / "tensorboard" / phase)),
            *self.callbacks,
        ]
        start = time.time()
        # BatchNorm momentum and bf16 compute for this phase only (the saved model is as built).
        with training_settings(model, bn_momentum=config.bn_momentum,
                               precision=config.precision):
            # shuffle=False: the dataset shuffles itself (Keras warns that `shuffle` is ignored).
            model.fit(self.train_dataset(), epochs=epochs, steps_per_epoch=self.steps_per_epoch,
                      shuffle=False, callbacks=phase_callbacks, verbose=self.verbose)
        return time.time() - start

    def test_accuracy(self, model):
        return float(report(model, self.test_ds, self.num_classes)["test_accuracy"])

    def log_phase(self, name, record):
        self.phases[name] = record
        _save_json(self.phases_path, self.phases)


def _drop_torn_first_checkpoint(backup):
    """Removes a phase's backup whose only checkpoint is unreadable.

    A run killed while BackupAndRestore wrote a phase's *first* checkpoint leaves a torn
    `latest.weights.h5` and no `.bkp` copy to fall back on; Keras would then fail every
    resume with h5py's OSError. The phase restarts instead (at most one epoch lost, as for
    any kill). Later checkpoints have a `.bkp` that Keras restores itself.
    """
    weights = backup / "latest.weights.h5"
    if not weights.exists() or Path(f"{weights}.bkp").exists():
        return
    import h5py

    try:
        with h5py.File(weights, "r"):
            return
    except OSError as error:
        print(f"[lcnet_tf] {weights} is unreadable ({error}); no earlier checkpoint to fall "
              f"back on: restarting the {backup.name} phase.", flush=True)
        shutil.rmtree(backup)


def _backbone_phase(run):
    """Phase 1: the static backbone (loaded from `init_from`, resumed, or trained), or None
    when the gated model trains from scratch (`static_epochs=0`)."""
    config, paths = run.config, run.paths
    static_path = paths.out / STATIC_MODEL
    if config.init_from:
        with run.strategy.scope():  # The backbone is also the distillation teacher.
            backbone = load_backbone(config.init_from, run.num_classes)
        run.model_kwargs.update(inherited_architecture(backbone, config.model, run.model_kwargs))
        if "static" not in run.phases:
            run.log_phase("static", {"source": str(config.init_from),
                                     "test_accuracy": run.test_accuracy(backbone)})
        return backbone
    if static_path.exists():
        with run.strategy.scope():
            return keras.saving.load_model(static_path, compile=False)
    if config.static_epochs > 0 or config.gating == "none":
        with run.strategy.scope():
            backbone = run.create(gating="none", layer_drop=config.layer_drop)
        seconds = run.fit(backbone, "static", max(config.static_epochs, 1), config.static_lr)
        record = {"seconds": seconds, "epochs": config.static_epochs,
                  "test_accuracy": run.test_accuracy(backbone)}
        _save_model(backbone, static_path)
        run.log_phase("static", record)
        return backbone
    return None


def _gated_phase(run, backbone):
    """Phase 2: the gated model trained to the budget from the backbone's weights (or
    resumed); the backbone itself for `gating="none"`."""
    config = run.config
    gated_path = run.paths.out / GATED_MODEL
    if config.gating == "none":
        return backbone
    if gated_path.exists():
        return keras.saving.load_model(gated_path, compile=False)
    steps = run.steps_per_epoch
    warmup = int(config.penalty_warmup_epochs * steps)
    with run.strategy.scope():
        gated_kwargs = {"gate_downsampling": config.gate_downsampling}
        channel_keep = choose_channel_keep(run.create(gating=config.gating, **gated_kwargs),
                                           config)
        if channel_keep is not None:
            gated_kwargs["channel_keep"] = channel_keep
        model = run.create(
            gating=config.gating, budget=config.budget,
            budget_weight=LinearWarmup(config.budget_weight, warmup),
            target_rate_weight=LinearWarmup(config.target_rate_weight, warmup),
            budget_warmup_steps=int(config.budget_curriculum_epochs * steps),
            **gated_kwargs,
        )
        copied = transfer_backbone_weights(backbone, model) if backbone is not None else 0
    seconds = run.fit(model, "gated", config.epochs, config.lr, teacher=backbone)
    _save_model(model, gated_path)
    run.log_phase("gated", {"seconds": seconds, "epochs": config.epochs,
                            "channel_keep": channel_keep, "weights_copied": copied,
                            "target_rate": float(model.target_rate())})
    return model


def _calibration_phase(run, model):
    """Phase 3: the decision threshold calibrated to the budget (BatchNorm statistics
    recomputed first if asked); returns the calibration record, or None."""
    config = run.config
    if config.gating not in ("layer", "lc") or not config.calibration_images:
        return None
    start = time.time()

    def calibrate_model():
        return calibrate(model, run.eval_dataset("train", config.calibration_images),
                         config.budget, tolerance=config.calibration_tolerance)

    calibration = calibrate_model()
    if config.bn_recalibration_images:
        calibration["bn_recalibration_images"] = recalibrate_batch_norm(
            model, run.eval_dataset("train", config.bn_recalibration_images)
        )
        calibration.update(calibrate_model())
    calibration["seconds"] = time.time() - start
    calibration["ratio_range"] = [flops / model.reference_flops for flops in model.flops_range()]
    return calibration


def _evaluation_phase(run, model):
    """The test-set report (accuracy, FLOPs, per-decision rates; `gate_report.png`,
    `per_image_flops.npy`) and the phase log."""
    result = report(model, run.test_ds, run.num_classes, reference_flops=run.reference_flops)
    plot_gate_report(result, run.paths.out / "gate_report.png")
    result_json = report_to_json(result)
    result_json.pop("per_image_flops")
    np.save(run.paths.out / "per_image_flops.npy", result["per_image_flops"])
    return {**result_json,
            "static_test_accuracy": run.phases.get("static", {}).get("test_accuracy"),
            "phases": run.phases}


def _static_reference_phase(run, result):
    """Adds `static_reference` to `result` when asked for (`config.static_reference`): the
    equal-cost static network's record, or None when it cannot be trained here."""
    config, strategy = run.config, run.strategy
    if not config.static_reference or config.gating == "none":
        return
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        # Each worker measures its own mean FLOPs and could pick another network: the
        # collectives would then mismatch. Train the reference in a single-worker run.
        result["static_reference"] = None
        return
    result["static_reference"] = train_static_reference(
        config, run.paths.out / REFERENCE_DIR, result["mean_flops"], result["reference_flops"],
        run.num_classes, strategy=strategy, callbacks=run.callbacks, verbose=run.verbose,
    )


def train_static_reference(config, workdir, mean_flops, reference_flops, num_classes, **kwargs):
    """Trains the static network closest in cost below `mean_flops`, same total epochs.

    "Same total epochs" is `static_epochs + epochs` of `config`; with `init_from` the
    backbone's own epochs are not known here, so say how it was trained when quoting it.

    Returns:
        `{model, width_multiplier, epochs, flops, flops_ratio, test_accuracy, workdir}`;
        `flops_ratio` is relative to `reference_flops` (the dynamic model's reference).
    """
    name, width, flops = closest_static_below(config.model, mean_flops, num_classes)
    epochs = config.static_epochs + config.epochs
    reference_config = config.replace(
        model=name, width_multiplier=width, gating="none", static_epochs=epochs,
        init_from=None, static_reference=False, layer_drop=0.0,
    )
    metrics = run_training(reference_config, workdir, **kwargs)
    return {"model": name, "width_multiplier": width, "epochs": epochs, "flops": int(flops),
            "flops_ratio": float(flops / reference_flops),
            "test_accuracy": metrics["test_accuracy"], "workdir": str(workdir)}


# Settings that may change between an interrupted run and its resumption.
# static_reference only adds a separate run in a subfolder (and runs saved before it existed
# lack it).
RESUMABLE_FIELDS = ("strategy", "tpu", "eval_batch_size", "static_reference")


# Settings whose default changed: what a run saved before they existed used.
LEGACY_DEFAULTS = {"gate_downsampling": True}


def _field_defaults():
    defaults = {
        field.name: field.default for field in dataclasses.fields(TrainConfig)
        if field.default is not dataclasses.MISSING
    }
    return {**defaults, **LEGACY_DEFAULTS}


def check_resumable(workdir, config):
    """Refuses to resume or reuse a workdir whose saved config differs from `config`.

    Raises:
        ValueError: naming every setting that differs.
    """
    config_path = Path(workdir) / "config.json"
    if not config_path.exists():
        return
    raw = json.loads(config_path.read_text())
    if raw.get("gating") == "cascade" and "precision" not in raw:
        # Saved before budgets had one meaning (then: a fraction of the last stage's FLOPs).
        raise ValueError(
            f"Invalid value for `workdir`: {str(config_path.parent)!r} holds a cascade run "
            "whose `budget` was a fraction of its last stage's FLOPs; budgets are now "
            f"fractions of {raw.get('model')} at width 1. Use a new --workdir (its stage<i>/ "
            f"runs can be copied in). Received: budget={raw.get('budget')!r}"
        )
    # A setting added after the run was saved had its default value in that run.
    saved = {**_field_defaults(), **raw}
    current = json.loads(config.to_json())
    if current.get("gating") not in ("layer", "lc"):
        # Without block gates the setting changes nothing (e.g. a finished static workdir).
        saved.pop("gate_downsampling", None)
        current.pop("gate_downsampling", None)
    if current.get("gating") != "cascade":
        # Only a cascade reads them (a cascade's stage or reference run inherits them).
        for key in ("cascade_widths", "cascade_confidence"):
            saved.pop(key, None)
            current.pop(key, None)
    if _same_directory(saved.get("dataset"), current.get("dataset")):
        # One prepared directory named two ways (relative and absolute) is one dataset.
        saved["dataset"] = current["dataset"]
    changed = sorted(
        key for key in set(saved) | set(current)
        if key not in RESUMABLE_FIELDS and saved.get(key) != current.get(key)
    )
    if changed:
        details = ", ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in changed)
        raise ValueError(
            f"Invalid value for `workdir`: {str(config_path.parent)!r} holds a run with other "
            f"settings ({details}). Use a new --workdir, or the same flags to resume it."
        )


def _same_directory(first, second):
    """Whether two dataset settings name the same existing directory."""
    if not (isinstance(first, str) and isinstance(second, str)):
        return False
    try:
        return os.path.isdir(first) and os.path.samefile(first, second)
    except OSError:
        return False


def format_results(metrics):
    """The result table printed by the CLIs (plain text)."""
    def fmt(value, spec):
        return "n/a" if value is None else format(value, spec)

    reference_flops = metrics.get("reference_flops", metrics.get("backbone_flops"))
    dynamic_name = f"{metrics['model']} {metrics['gating']} (dynamic, mean)"
    if metrics["gating"] == "cascade":
        widths = " -> ".join(f"x{stage['width_multiplier']:g}" for stage in metrics["stages"])
        dynamic_name = f"cascade {widths} (mean)"
    header = f"  {'network':38s} {'MFLOPs':>7s} {'ratio':>6s} {'test acc':>9s}"

    def row(name, flops, accuracy):
        return (f"  {name:38s} {flops / 1e6:7.2f} {flops / reference_flops:6.3f} "
                f"{fmt(accuracy, '9.4f')}")

    lines = []
    frontier = metrics.get("static_frontier")
    if frontier:
        names = " and ".join(point["name"] for point in frontier["points"])
        lines += [
            "equal-cost comparison: the static frontier of the stages (static networks, same "
            "recipe and epochs), linear between them, at the cascade's mean FLOPs:",
            header,
            row(dynamic_name, metrics["mean_flops"], metrics["test_accuracy"]),
            row("static frontier at that cost", metrics["mean_flops"],
                frontier["accuracy_at_mean_flops"]),
            f"  ({names})",
            "  difference: " + ("n/a (outside the stages' FLOPs range)"
                                if frontier["margin"] is None
                                else f"{100 * frontier['margin']:+.2f} points for the cascade"),
            "",
        ]
    reference = metrics.get("static_reference")
    if reference:
        static_name = f"{reference['model']} x{reference['width_multiplier']:g} (static)"
        lines += [
            "equal-cost static reference (closest static network below, same total epochs):",
            header,
            row(dynamic_name, metrics["mean_flops"], metrics["test_accuracy"]),
            row(static_name, reference["flops"], reference["test_accuracy"]),
            f"  difference: {100 * (metrics['test_accuracy'] - reference['test_accuracy']):+.2f} "
            "points for the dynamic model",
            "",
        ]
    static_label = "static test accuracy "
    if metrics["gating"] == "cascade":
        static_label = "last stage alone     "
        lines += ["cascade stages (static networks, each trained on the whole schedule):"]
        lines += [f"  x{stage['width_multiplier']:<6g} {stage['flops'] / 1e6:8.2f} MFLOPs  "
                  f"test acc {stage['test_accuracy']:.4f}" for stage in metrics["stages"]]
        lines += [""]
    lines += [
        f"model                 {metrics['model']} (gating {metrics['gating']})",
        f"{static_label} {fmt(metrics.get('static_test_accuracy'), '.4f')}",
        f"test accuracy         {metrics['test_accuracy']:.4f}",
        f"budget                {metrics['budget']:.3f} (of the reference's FLOPs)",
        f"realized FLOPs ratio  {metrics['flops_ratio']:.4f}",
        f"mean FLOPs            {metrics['mean_flops'] / 1e6:.2f} M",
        f"reference             {metrics.get('reference_model', metrics['model'])}: "
        f"{reference_flops / 1e6:.2f} M FLOPs",
        f"per-image ratio       {metrics['ratio_min']:.3f} .. {metrics['ratio_max']:.3f} "
        f"(CV {metrics['flops_cv']:.3f})",
        f"dynamic decisions     {fmt(metrics.get('dynamic_fraction'), '.2f')} "
        "(share of per-image decisions taken for 10-90% of images)",
        "execution rate per decision (share of all images):",
    ]
    # metrics.json written before every model had decision units said "block".
    names = metrics.get("decision_names", metrics.get("block_names", []))
    rates = metrics.get("decision_rates", metrics.get("per_block_rate", []))
    gated_units = metrics.get("decision_gated", metrics.get("block_gated", []))
    for name, rate, gated in zip(names, rates, gated_units, strict=True):
        lines.append(f"  {name:28s} {rate:.3f}{'' if gated else '  (not gated)'}")
    return "\n".join(lines)

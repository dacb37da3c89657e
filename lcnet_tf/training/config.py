"""Training configuration: one frozen dataclass and its named presets."""

import ast
import dataclasses
import functools
import json

from lcnet_tf.models import GATINGS, create_model, list_models, reference_flops
from lcnet_tf.models.registry import DEFAULT_CASCADE_WIDTHS, check_cascade_stages
from lcnet_tf.ops.cascade_ops import CONFIDENCES as CASCADE_CONFIDENCES

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")

# What `run_training` trains: a GatedResNet of one of its gatings, or a `Cascade` of static
# networks ("cascade", `cascade_widths`): the registry's gatings.
TRAIN_GATINGS = GATINGS

# `GatedResNet` arguments a config may set through `model_overrides` (the others are
# TrainConfig fields of their own, e.g. gating, budget, channel_keep, layer_drop).
MODEL_OVERRIDE_KEYS = (
    "stage_blocks", "stage_widths", "block_type", "stem", "stem_padding", "stride_in_1x1",
    "shortcut", "channel_groups", "channel_gate_stages", "gate_hidden", "init_keep_prob",
    "gate_temperature", "gate_noise", "pixel_mean", "pixel_std", "plain_open_path",
)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything `run_training` needs: the method's two phases and the budget.

    Phase 1 trains the static backbone (`gating="none"`) for `static_epochs`
    (or loads `init_from`); phase 2 copies its weights into the gated model
    (gates start fresh) and trains `epochs` more with the FLOPs penalty; then
    the decision threshold is calibrated so the mean realized FLOPs ratio on
    `calibration_images` un-augmented training images equals `budget`.

    Args:
        model: registered model name (`lcnet_tf.list_models()`).
        gating: "none", "layer", "channel", "lc", or "cascade" (a `Cascade` of static
            `model`s at `cascade_widths`, no gates: each trained for `static_epochs +
            epochs` epochs with the static recipe, then the thresholds calibrated).
        budget: target mean FLOPs per image, as a fraction of the FLOPs of `model` at width 1
            (ResNet-20: 40,555,136), whatever the gating; it must lie in the range the
            configuration can reach (`budget_range`), e.g. 0.253-0.817 for the default
            ResNet-20 x0.5/x0.75 cascade. Ignored by gating "none".
        dataset: TFDS name or prepared TFDS directory.
        image_size: input size for ImageNet-style data (None: stored size, CIFAR).
        batch_size: global batch size.
        static_epochs: epochs of phase 1 (0: gated training from scratch).
        epochs: epochs of phase 2 (gated).
        steps_per_epoch: steps per epoch (None: one pass over the training split).
        static_lr / lr: peak learning rates of the two phases (SGD, Nesterov,
            linear warm-up over `warmup_epochs` then cosine decay to 0).
        warmup_epochs: epochs of linear learning-rate warm-up in each phase.
        momentum, weight_decay, label_smoothing: optimizer and loss settings.
        lr_schedule: "cosine" (linear warm-up over `warmup_epochs`, then cosine to 0) or
            "triangular" (airbench: linear from 0 up to the peak at `lr_peak_fraction` of
            the phase's steps, then linear down to 0; `warmup_epochs` is not used).
        lr_peak_fraction: where the triangular schedule peaks, 0 < fraction < 1.
        lr_scaling: how the peak learning rates (given for batch 128) follow `batch_size`:
            "none" (as given), "linear" (times batch_size / 128) or "sqrt" (its square root).
        ema_decay: weight average (airbench's, `lcnet_tf.training.recipe.RecipeSGD`; 0: off):
            every `ema_every_steps` steps from `ema_start_epochs` the weights are pulled towards
            their running average with weight ema_decay^K x (progress)^3 and the average is
            copied back into the model, and at the end of each phase; 0 <= decay < 1 (airbench
            0.95). Evaluation and the saved model use the averaged weights.
        ema_every_steps: K, steps between two copies of the average into the model, >= 1.
        ema_start_epochs: epochs of each phase before the average starts, >= 0.
        bn_momentum: BatchNorm momentum while training (None: the model's 0.9; airbench uses
            0.6 with `ema_decay`); the saved model is unchanged.
        bn_bias_lr_multiplier: the BatchNorm biases' (beta) learning rate is this many times
            the others' (airbench: 64), > 0; they get no weight decay either way.
        flip: horizontal flips of training images: "random" (each image and pass with
            probability 1/2), "alternating" (airbench: a fixed random half flipped on even
            passes over the data, the other half on odd ones) or "none".
        translate: random translation of CIFAR-style training images by up to this many
            pixels each way (reflect padding, then a random crop; airbench: 2), >= 0.
        precision: "float32" or "mixed_bfloat16" (bfloat16 compute, float32 weights and
            logits, while training only; the saved model is float32).
        budget_weight, target_rate_weight: penalty weights (see `GatedResNet`);
            both ramp up linearly over `penalty_warmup_epochs`.
        penalty_warmup_epochs: epochs over which the penalty weights ramp up.
        channel_keep: C-Net fraction of groups kept per image; None takes the
            preset's value, raised to the smallest k/G that lets the L-Net meet
            the budget with an execution rate <= `max_block_rate`.
        max_block_rate: see `channel_keep`.
        model_overrides: other `GatedResNet` arguments of the model (and of its
            static backbone), as a mapping or as text `key=value;key=value` with
            Python literals, e.g. `channel_groups=8;channel_gate_stages=(1, 2)`;
            keys: `MODEL_OVERRIDE_KEYS`. The static reference keeps the registry's.
        width_multiplier: scales the model's stage widths (static references such
            as ResNet-20 x0.625; `lcnet_tf.models.registry.scale_widths`).
        cascade_widths: for gating "cascade": the stages' width multipliers of `model`,
            cheapest first, at least two, e.g. `0.5,0.75` (None: 0.5,0.75).
        cascade_confidence: for gating "cascade": "margin" (top-1 minus top-2
            probability) or "max" (top-1 probability); see `lcnet_tf.Cascade`.
        layer_drop: stochastic depth in phase 1: each image skips each block the
            L-Net may gate with this probability, so the backbone learns to work
            with blocks missing before the gates choose which.
        distill_weight: weight of distillation from the phase-1 backbone in
            phase 2 (0: off); see `GatedResNet.compile`.
        distill_temperature: softmax temperature of the distillation.
        self_distill_weight: phase 2 self-distillation (sandwich rule; 0: off): every
            step also trains the full network (gates forced open) and the gated
            network learns from it with this weight; costs a second forward and
            backward pass per step. Not combined with `distill_weight`; see
            `GatedResNet.compile`.
        gated_grad_scale: with self-distillation, the gated network's gradient into the
            backbone's weights (all but the gates') is multiplied by this (1: the plain
            sandwich rule; 0: the backbone learns from the full network only and the
            gated loss trains the gates); 0 <= scale <= 1.
        backbone_grad_scale: with self-distillation, the backbone's whole gradient is
            multiplied by this (1: the sum of both paths', about twice a static
            network's step; 0.5: their mean, a static network's step); 0 < scale <= 1.
        budget_curriculum_epochs: phase 2's budget starts at 1.0 and tightens
            linearly to `budget` over this many epochs (0: off).
        bn_recalibration_images: after calibration, recompute BatchNorm statistics
            under the calibrated decisions on this many un-augmented training
            images, then calibrate again (0: off).
        static_reference: after a dynamic run, also train the static network of the
            model's family whose FLOPs are closest below the dynamic model's mean
            realized FLOPs, for the same total epochs (`static_epochs + epochs`),
            in `<workdir>/static_reference/`, and record it in `metrics.json`
            (`lcnet_tf.training.reference`).
        gate_downsampling: whether the L-Net also gates the blocks that change
            shape (first block of stages 2+, and of stage 1 in bottleneck nets); False
            (default) keeps them always on.
        calibration_images: un-augmented training images for threshold calibration
            (0 disables calibration).
        calibration_tolerance: bisection stops within this FLOPs ratio of the budget.
        eval_batch_size: batch size for evaluation, calibration and the report.
        train_examples / test_examples: use only the first N examples (quick runs).
        init_from: the static backbone phase 2 starts from: a saved model (`.keras`, a
            GatedResNet or a keras.applications ResNet), or
            `keras_applications:<name>[:<weights file>]` (resnet50/101/152, v1 weights).
        strategy: "default", "mirrored", "multi_worker" or "tpu" (multi_worker: call
            `make_strategy` before building a config; checking its budget is TensorFlow work).
        tpu: TPU address for `strategy="tpu"` ("" = local / from the environment).
        seed: seeds weights, data order and augmentation.
        jit_compile: passed to `compile` ("auto", True or False).
    """

    model: str = "resnet20"
    gating: str = "lc"
    budget: float = 0.4
    dataset: str = "cifar10"
    image_size: int | None = None
    batch_size: int = 128
    static_epochs: int = 7
    epochs: int = 5
    steps_per_epoch: int | None = None
    static_lr: float = 0.1
    lr: float = 0.02
    warmup_epochs: float = 0.5
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    lr_schedule: str = "cosine"
    lr_peak_fraction: float = 0.23
    lr_scaling: str = "none"
    ema_decay: float = 0.0
    ema_every_steps: int = 5
    ema_start_epochs: float = 0.0
    bn_momentum: float | None = None
    bn_bias_lr_multiplier: float = 1.0
    flip: str = "random"
    translate: int = 4
    precision: str = "float32"
    budget_weight: float = 1.0
    target_rate_weight: float = 5.0
    penalty_warmup_epochs: float = 0.5
    channel_keep: float | None = None
    max_block_rate: float = 0.9
    gate_downsampling: bool = False
    width_multiplier: float = 1.0
    cascade_widths: tuple | None = None
    cascade_confidence: str = "margin"
    model_overrides: dict | None = None
    layer_drop: float = 0.0
    distill_weight: float = 0.0
    distill_temperature: float = 4.0
    self_distill_weight: float = 0.0
    gated_grad_scale: float = 1.0
    backbone_grad_scale: float = 1.0
    budget_curriculum_epochs: float = 0.0
    bn_recalibration_images: int = 0
    static_reference: bool = False
    calibration_images: int = 5000
    calibration_tolerance: float = 0.002
    eval_batch_size: int = 500
    train_examples: int | None = None
    test_examples: int | None = None
    init_from: str | None = None
    strategy: str = "default"
    tpu: str = ""
    seed: int = 0
    jit_compile: str | bool = "auto"

    def __post_init__(self):
        _check(self.model in list_models(), "model", self.model, f"one of {list_models()}")
        _check(self.gating in TRAIN_GATINGS, "gating", self.gating, f"one of {TRAIN_GATINGS}")
        object.__setattr__(self, "cascade_widths", _parse_widths(self.cascade_widths))
        _check(self.cascade_confidence in CASCADE_CONFIDENCES, "cascade_confidence",
               self.cascade_confidence, f"one of {CASCADE_CONFIDENCES}")
        _check(
            _is_number(self.budget) and self.budget > 0.0,
            "budget", self.budget, "a number > 0 (a fraction of the model's FLOPs at width 1)",
        )
        _check(self.strategy in STRATEGIES, "strategy", self.strategy, f"one of {STRATEGIES}")
        for name in ("batch_size", "eval_batch_size"):
            value = getattr(self, name)
            _check(_is_int(value) and value > 0, name, value, "a positive int")
        for name in ("static_epochs", "epochs", "calibration_images",
                     "bn_recalibration_images"):
            value = getattr(self, name)
            _check(_is_int(value) and value >= 0, name, value, "an int >= 0")
        for name in ("steps_per_epoch", "train_examples", "test_examples", "image_size"):
            value = getattr(self, name)
            _check(value is None or (_is_int(value) and value > 0), name, value,
                   "a positive int or None")
        for name in ("static_lr", "lr", "weight_decay", "budget_weight", "target_rate_weight",
                     "warmup_epochs", "penalty_warmup_epochs", "label_smoothing",
                     "budget_curriculum_epochs"):
            value = getattr(self, name)
            _check(_is_number(value) and value >= 0, name, value, "a number >= 0")
        _check(
            self.channel_keep is None or (_is_number(self.channel_keep)
                                          and 0 < self.channel_keep <= 1),
            "channel_keep", self.channel_keep, "0 < channel_keep <= 1 or None",
        )
        object.__setattr__(self, "model_overrides", _parse_model_overrides(self.model_overrides))
        _check(_is_number(self.width_multiplier) and self.width_multiplier > 0,
               "width_multiplier", self.width_multiplier, "a number > 0")
        _check(_is_number(self.layer_drop) and 0 <= self.layer_drop < 1,
               "layer_drop", self.layer_drop, "0 <= layer_drop < 1")
        _check(_is_number(self.distill_weight) and 0 <= self.distill_weight <= 1,
               "distill_weight", self.distill_weight, "0 <= distill_weight <= 1")
        _check(_is_number(self.self_distill_weight) and 0 <= self.self_distill_weight <= 1,
               "self_distill_weight", self.self_distill_weight, "0 <= self_distill_weight <= 1")
        _check(not (self.self_distill_weight and self.distill_weight), "self_distill_weight",
               self.self_distill_weight,
               "0 when distill_weight > 0 (distil from the full network or the phase-1 "
               f"backbone, not both; distill_weight={self.distill_weight})")
        _check(_is_number(self.gated_grad_scale) and 0 <= self.gated_grad_scale <= 1,
               "gated_grad_scale", self.gated_grad_scale, "0 <= gated_grad_scale <= 1")
        _check(self.gated_grad_scale == 1 or self.self_distill_weight, "gated_grad_scale",
               self.gated_grad_scale,
               "1 when self_distill_weight is 0 (only self-distillation has a second path "
               "to train the backbone)")
        _check(_is_number(self.backbone_grad_scale) and 0 < self.backbone_grad_scale <= 1,
               "backbone_grad_scale", self.backbone_grad_scale, "0 < backbone_grad_scale <= 1")
        _check(self.backbone_grad_scale == 1 or self.self_distill_weight, "backbone_grad_scale",
               self.backbone_grad_scale,
               "1 when self_distill_weight is 0 (one path: lower lr instead)")
        _check(_is_number(self.distill_temperature) and self.distill_temperature > 0,
               "distill_temperature", self.distill_temperature, "a number > 0")
        if self.gating == "cascade":
            if self.cascade_widths is None:
                object.__setattr__(self, "cascade_widths", DEFAULT_CASCADE_WIDTHS)
            # A cascade's stages are trained from scratch at `cascade_widths`, and its
            # thresholds exist only through calibration: refuse what it would ignore.
            _check(self.init_from is None, "init_from", self.init_from,
                   "None with gating='cascade' (each stage trains from scratch)")
            _check(self.width_multiplier == 1, "width_multiplier", self.width_multiplier,
                   "1 with gating='cascade' (the stages' widths are `cascade_widths`)")
            _check(self.calibration_images > 0, "calibration_images", self.calibration_images,
                   "> 0 with gating='cascade' (its thresholds are set by calibration)")
        if self.gating in ("layer", "channel", "lc"):
            # A gated network's budget is a fraction of its own backbone, and budgets are
            # fractions of `model` at width 1: only width 1 keeps the two one number.
            _check(self.width_multiplier == 1, "width_multiplier", self.width_multiplier,
                   f"1 with gating={self.gating!r} (budgets are fractions of the model at "
                   "width 1; other widths are for static networks and cascade stages)")
        for name in ("gate_downsampling", "static_reference"):
            _check(isinstance(getattr(self, name), bool), name, getattr(self, name),
                   "True or False")
        _check(_is_number(self.max_block_rate) and 0 < self.max_block_rate <= 1,
               "max_block_rate", self.max_block_rate, "0 < max_block_rate <= 1")
        if self.gating != "none" and _CHECK_BUDGET_RANGE:
            low, high = budget_range(self)
            _check(low - 1e-9 <= self.budget <= high + 1e-9, "budget", self.budget,
                   f"a number in [{low:.3f}, {high:.3f}] ({_range_meaning(self)}, as fractions "
                   f"of {self.model} at width 1: {reference_flops(self.model):,} FLOPs)")
        _check_recipe(self)

    def replace(self, **changes):
        """A copy with `changes` applied (and validated)."""
        return dataclasses.replace(self, **changes)

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


def field_help():
    """`{field name: help text}` for every `TrainConfig` field, from its docstring's Args.

    The CLIs generate their flags from the dataclass with this help, so a new
    setting is one field (plus one docstring line) away from `--help`.
    """
    lines = (TrainConfig.__doc__ or "").split("Args:", 1)[-1].splitlines()
    helps, current = {}, None
    for line in lines:
        stripped = line.strip()
        head, sep, text = stripped.partition(": ")
        names = [name.strip() for name in head.replace(" / ", ",").split(",")]
        if sep and line.startswith(" " * 8) and not line.startswith(" " * 9) and all(
            name.isidentifier() for name in names
        ):
            current = names
            for name in names:
                helps[name] = text
        elif stripped and current:
            for name in current:
                helps[name] += " " + stripped
        elif not stripped:
            current = None
    fields = {field.name for field in dataclasses.fields(TrainConfig)}
    return {name: text for name, text in helps.items() if name in fields}


def _parse_model_overrides(value):
    """`model_overrides` as a key-sorted dict of JSON-able values (tuples as lists), or None."""
    expected = ("a mapping or text `key=value;key=value` (Python literals) with keys from "
                f"{MODEL_OVERRIDE_KEYS}")
    if value is None or value == "" or value == {}:
        return None
    if isinstance(value, str):
        parsed = {}
        for item in filter(None, (part.strip() for part in value.split(";"))):
            key, sep, text = item.partition("=")
            _check(sep and key.strip().isidentifier(), "model_overrides", value, expected)
            try:
                parsed[key.strip()] = ast.literal_eval(text.strip())
            except (ValueError, SyntaxError):
                parsed[key.strip()] = text.strip()  # A bare word: "basic", "projection".
        value = parsed
    _check(isinstance(value, dict), "model_overrides", value, expected)
    unknown = sorted(set(value) - set(MODEL_OVERRIDE_KEYS))
    _check(not unknown, "model_overrides", value, f"{expected}; unknown: {unknown}")
    return json.loads(json.dumps(dict(sorted(value.items()))))


def _parse_widths(value):
    """`cascade_widths` as a tuple of two or more increasing numbers > 0 (or None)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = [float(part) for part in value.split(",") if part.strip()]
        except ValueError:
            pass
    return check_cascade_stages(value, None)[0]


def keep_fraction_for(model, budget, channel_keep=None, max_block_rate=0.9):
    """The C-Net keep fraction an L+C network trains with for `budget` (None without channel
    gates): `channel_keep` if set, else the preset's, raised in k/G steps until the uniform
    block execution rate that meets the budget is at most `max_block_rate`."""
    groups = [block.channel_groups for block in model.blocks if block.channel_groups]
    if not groups:
        return None
    if channel_keep is not None:
        return float(channel_keep)
    group_count = max(groups)
    fractions = sorted({k / group_count for k in range(1, group_count + 1)} | {model.channel_keep})
    return model.cost.channel_keep_for(budget, [f for f in fractions if f >= model.channel_keep],
                                       max_block_rate)


@functools.lru_cache(maxsize=64)
def _cached_range(model, gating, width_multiplier, widths, overrides_json, gate_downsampling,
                  channel_keep, budget, max_block_rate):
    overrides = json.loads(overrides_json) if overrides_json else {}
    reference = reference_flops(model, **overrides)
    if gating == "cascade":
        built = create_model(model, gating="cascade", cascade_widths=widths, **overrides)
        low, high = built.flops_range()
        return low / reference, high / reference
    built = create_model(model, gating=gating, width_multiplier=width_multiplier,
                         gate_downsampling=gate_downsampling, **overrides)
    cost = built.cost
    if gating == "channel":  # No block gates: one fixed ratio per keep fraction.
        groups = max(int(g) for g in cost.groups) or 1
        ratios = [cost.decision_range(k / groups)[1] for k in range(1, groups + 1)]
        low, high = min(ratios), max(ratios)
    else:  # Block gates: every gated block skipped .. every one run, at the trained top-k.
        keep = keep_fraction_for(built, budget * reference / cost.backbone, channel_keep,
                                 max_block_rate)
        low, high = cost.decision_range(keep)
    scale = cost.backbone / reference
    return low * scale, high * scale


def budget_range(config):
    """`(lowest, highest)` budget `config`'s model can reach, as fractions of `model` at
    width 1 (`lcnet_tf.models.reference_flops`): what calibration can realize (for L+C
    networks, at the keep fraction it trains with for `config.budget`).

    Example:
        >>> budget_range(get_train_config("cpu"))  # about (0.253, 0.817)
    """
    overrides = dict(config.model_overrides or {})
    if config.image_size:
        overrides["image_size"] = config.image_size
    widths = config.cascade_widths or DEFAULT_CASCADE_WIDTHS
    return _cached_range(config.model, config.gating, float(config.width_multiplier),
                         tuple(widths) if config.gating == "cascade" else None,
                         json.dumps(overrides, sort_keys=True) if overrides else "",
                         config.gate_downsampling, config.channel_keep, float(config.budget),
                         float(config.max_block_rate))


def _range_meaning(config):
    if config.gating == "cascade":
        widths = ", ".join(f"{w:g}" for w in config.cascade_widths or DEFAULT_CASCADE_WIDTHS)
        return (f"a cascade of {config.model} at widths {widths} costs from its first stage "
                "alone to every stage")
    if config.gating == "channel":
        return f"{config.model} with channel gates only realizes one ratio per kept fraction"
    return f"{config.model} with gating {config.gating!r}: every gated block skipped .. all run"


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check(ok, name, value, expected):
    if not ok:
        raise ValueError(
            f"Invalid value for `{name}`: expected {expected}. Received: {name}={value!r}"
        )


def _check_recipe(config):
    """The training-recipe levers (`lcnet_tf.training.recipe`, `lcnet_tf.data`)."""
    from lcnet_tf.data import CIFAR_PAD, FLIPS
    from lcnet_tf.training.recipe import LR_SCALINGS, LR_SCHEDULES, PRECISIONS

    for name, options in (("lr_schedule", LR_SCHEDULES), ("lr_scaling", LR_SCALINGS),
                          ("flip", FLIPS), ("precision", PRECISIONS)):
        value = getattr(config, name)
        _check(value in options, name, value, f"one of {options}")
    _check(_is_number(config.momentum) and 0 <= config.momentum < 1, "momentum",
           config.momentum, "0 <= momentum < 1")
    _check(_is_number(config.lr_peak_fraction) and 0 < config.lr_peak_fraction < 1,
           "lr_peak_fraction", config.lr_peak_fraction, "0 < lr_peak_fraction < 1")
    _check(_is_number(config.ema_decay) and 0 <= config.ema_decay < 1, "ema_decay",
           config.ema_decay, "0 <= ema_decay < 1 (0: no weight average)")
    _check(_is_int(config.ema_every_steps) and config.ema_every_steps >= 1, "ema_every_steps",
           config.ema_every_steps, "an int >= 1")
    _check(_is_number(config.ema_start_epochs) and config.ema_start_epochs >= 0,
           "ema_start_epochs", config.ema_start_epochs, "a number >= 0")
    _check(config.bn_momentum is None or (_is_number(config.bn_momentum)
                                          and 0 <= config.bn_momentum < 1),
           "bn_momentum", config.bn_momentum, "0 <= bn_momentum < 1, or None (the model's 0.9)")
    _check(_is_number(config.bn_bias_lr_multiplier) and config.bn_bias_lr_multiplier > 0,
           "bn_bias_lr_multiplier", config.bn_bias_lr_multiplier, "a number > 0")
    _check(_is_int(config.translate) and config.translate >= 0, "translate", config.translate,
           "an int >= 0 (pixels)")
    _check(config.image_size is None or config.translate == CIFAR_PAD, "translate",
           config.translate, f"{CIFAR_PAD} (the default) with image_size set (ImageNet-style "
           "data is cropped from the resized image, not translated)")


# The reachable-range check builds the model (TensorFlow work), which must not happen at
# import: a multi-worker strategy has to be created before any. The presets below are
# checked by tests/training/test_cascade_training.py; every config made from them
# (`get_train_config`, `replace`) is checked in full.
_CHECK_BUDGET_RANGE = False
TRAIN_PRESETS = {
    # The main job, the configuration measured furthest above the static frontier at this
    # cost (docs/results.md, "Win at equal cost"): a Cascade of ResNet-20 x0.5 and x0.75,
    # each trained as a static network for the same 6 epochs, at 0.4 of ResNet-20's FLOPs
    # (16.2 MFLOPs; escalation to x0.75 on about a quarter of the images). Its comparison is
    # the static frontier its own stages draw (no third training), so it fits in 30 minutes
    # on two CPU cores.
    "cpu": TrainConfig(gating="cascade", cascade_widths=(0.5, 0.75), budget=0.4,
                       static_epochs=6, epochs=0),
    # The best measured LC-Net recipe (docs/results.md: -0.59 points against the static
    # frontier at equal FLOPs on a 6-epoch schedule): ResNet-20 gated from the first step
    # (no static phase) at the static recipe's peak lr 0.1, the budget tightening from 1.0
    # over the first half, self-distillation from the full network (gates open), BatchNorm
    # statistics recomputed under the calibrated decisions.
    "cpu_lc": TrainConfig(budget=0.5, static_epochs=0, epochs=6, lr=0.1,
                          budget_curriculum_epochs=3.0, self_distill_weight=0.7,
                          bn_recalibration_images=5000),
    # Paper-sized CIFAR schedule: ResNet-110, 160 static epochs, then 60 gated epochs.
    "paper": TrainConfig(
        model="resnet110", static_epochs=160, epochs=60, static_lr=0.1, lr=0.01,
        warmup_epochs=1.0, penalty_warmup_epochs=5.0,
    ),
    # ImageNet: ResNet-50 at 224x224, 90 static epochs (lr 0.1 per 256), then 30 gated.
    "imagenet": TrainConfig(
        model="resnet50", dataset="imagenet2012", image_size=224, batch_size=256,
        static_epochs=90, epochs=30, static_lr=0.1, lr=0.01, weight_decay=1e-4,
        label_smoothing=0.1, warmup_epochs=5.0, penalty_warmup_epochs=2.0,
        eval_batch_size=250, calibration_images=10000,
    ),
}
_CHECK_BUDGET_RANGE = True


def get_train_config(preset="cpu", **overrides):
    """The named preset with `overrides` applied (None values are ignored).

    Example:
        >>> config = get_train_config("cpu_lc", budget=0.5, epochs=3)
    """
    if preset not in TRAIN_PRESETS:
        raise ValueError(
            f"Invalid value for `preset`: expected one of {list(TRAIN_PRESETS)}. "
            f"Received: preset={preset!r}"
        )
    changes = {key: value for key, value in overrides.items() if value is not None}
    return TRAIN_PRESETS[preset].replace(**changes)


# The `TrainConfig` fields of the recipe (beside batch size and learning rate): a run's recipe
# is named by those that differ from their defaults (`recipe_name`).
RECIPE_FIELDS = ("batch_size", "momentum", "label_smoothing", "lr_schedule", "lr_peak_fraction",
                 "lr_scaling", "ema_decay", "ema_every_steps", "ema_start_epochs", "bn_momentum",
                 "bn_bias_lr_multiplier", "flip", "translate", "precision")


def recipe_levers(config):
    """`{field: value}` of the recipe fields of `config` (a `TrainConfig` or its JSON dict)
    that differ from the defaults; fields a lever only qualifies (`lr_peak_fraction` without
    the triangular schedule, the EMA's cadence without an EMA) are left out."""
    values = config if isinstance(config, dict) else dataclasses.asdict(config)
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    levers = {name: values[name] for name in RECIPE_FIELDS
              if name in values and values[name] != defaults[name]}
    if values.get("lr_schedule", "cosine") != "triangular":
        levers.pop("lr_peak_fraction", None)
    if not values.get("ema_decay"):
        levers.pop("ema_every_steps", None)
        levers.pop("ema_start_epochs", None)
    return levers


def recipe_name(config):
    """"baseline" (every recipe field at its default), or the levers that differ, e.g.
    "precision=mixed_bfloat16" (what docs/pareto.json records per point)."""
    levers = recipe_levers(config)
    return "+".join(f"{name}={value}" for name, value in levers.items()) or "baseline"

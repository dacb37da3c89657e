"""The training recipe's levers: learning-rate schedule and scaling, a Lookahead-style weight
average, a BatchNorm-bias learning-rate multiplier, BatchNorm momentum and bf16 compute.

`lcnet_tf.training.procedure` builds every phase's optimizer with `make_optimizer` and trains
inside `training_settings`; the `TrainConfig` fields of the same names choose the levers, and
their defaults give the library's recipe as it was before they existed (SGD Nesterov, peak lr
as given, linear warm-up then cosine to 0, BatchNorm momentum 0.9, float32). The other levers
follow airbench (Keller Jordan's CIFAR-10 speed runs, `airbench94.py`): a triangular schedule,
64x lr on BatchNorm biases, a weight average copied back into the model every 5 steps with
BatchNorm momentum 0.6, alternating flips (`lcnet_tf.data`).

Why the weight average is our own and not Keras's `use_ema`: Keras averages from the first
step at a constant `ema_momentum`, and with `ema_overwrite_frequency` (copying the average
back, which keeps the BatchNorm statistics those weights are evaluated with in step with
them) every K steps pulls the weights back towards where they were: at 0.95 per step and K=5
the weights advance about 0.7 of one raw step per 5 steps, the whole run long. airbench ramps
the average's weight from 0 to 0.95^5 over the run (cubically), so the fast early phase runs
at full speed and the averaging damps the end. `RecipeSGD` does that with the public
optimizer API (`build`, `apply`, `finalize_variable_values`), and keeps the average in
optimizer variables, which `keras.callbacks.BackupAndRestore` saves and restores with the
weights (a killed run resumes with it).

Why a gradient multiplier for the BatchNorm biases: Keras 3 has no per-variable learning
rate, and SGD's update (with momentum, Nesterov or not) is linear in the gradient, so
multiplying a variable's gradient by m before the update is exactly m times its learning rate;
weight decay (decoupled in Keras, and off for BatchNorm parameters here) is not multiplied.

Why bf16 by layer policies: the model is built (float32 variables) outside the training
phase; `training_settings` gives every sublayer but the classifier the "mixed_bfloat16" policy
for the phase (float32 variables, bfloat16 compute, float32 logits for the loss) and restores
the float32 policies afterwards, so the saved model is a float32 model (TFLite export) and the
global policy is never touched.
"""

import contextlib
import math

import keras
from keras import ops

REFERENCE_BATCH_SIZE = 128
LR_SCHEDULES = ("cosine", "triangular")
LR_SCALINGS = ("none", "linear", "sqrt")
PRECISIONS = ("float32", "mixed_bfloat16")
# The BatchNormalization variables `bn_bias_lr_multiplier` applies to (airbench trains no
# BatchNorm scale; ours stays at the base learning rate).
BN_BIAS_NAMES = ("beta",)


def scaled_lr(peak_lr, batch_size, scaling):
    """The peak learning rate for `batch_size`, given `peak_lr` at batch 128.

    Args:
        peak_lr: peak learning rate at `REFERENCE_BATCH_SIZE` (128).
        batch_size: global batch size.
        scaling: "none" (`peak_lr` as given), "linear" (times batch_size / 128, Goyal et
            al. 2017) or "sqrt" (times its square root).

    Returns:
        The peak learning rate (float).

    Example:
        >>> scaled_lr(0.1, 512, "linear")
        0.4
    """
    if scaling not in LR_SCALINGS:
        raise ValueError(f"Invalid value for `lr_scaling`: expected one of {LR_SCALINGS}. "
                         f"Received: lr_scaling={scaling!r}")
    ratio = batch_size / REFERENCE_BATCH_SIZE
    factor = {"none": 1.0, "linear": ratio, "sqrt": math.sqrt(ratio)}[scaling]
    return float(peak_lr) * factor


@keras.saving.register_keras_serializable(package="lcnet_tf")
class TriangularSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear from 0 up to `peak_lr` at `peak_step`, then linear down to 0 at `total_steps`.

    airbench's schedule shape (its ends are at 0.2 and 0.07 of the peak; ours at 0, like the
    cosine schedule's warm-up start and end). Past `total_steps` the rate stays 0.

    Args:
        peak_lr: the highest learning rate, >= 0.
        total_steps: steps of the phase, >= 1.
        peak_step: the step of the peak, 0 <= peak_step <= total_steps (0: start at the
            peak; total_steps: rise the whole phase).

    Example:
        >>> schedule = TriangularSchedule(0.4, total_steps=100, peak_step=23)
        >>> float(schedule(23)), float(schedule(100))
        (0.4, 0.0)
    """

    def __init__(self, peak_lr, total_steps, peak_step):
        if isinstance(peak_lr, bool) or not isinstance(peak_lr, int | float) or peak_lr < 0:
            raise ValueError("Invalid value for `peak_lr`: expected a number >= 0. "
                             f"Received: peak_lr={peak_lr!r}")
        if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError("Invalid value for `total_steps`: expected an int >= 1. "
                             f"Received: total_steps={total_steps!r}")
        if (isinstance(peak_step, bool) or not isinstance(peak_step, int)
                or not 0 <= peak_step <= total_steps):
            raise ValueError(f"Invalid value for `peak_step`: expected an int in [0, "
                             f"{total_steps}] (total_steps). Received: peak_step={peak_step!r}")
        self.peak_lr = float(peak_lr)
        self.total_steps = int(total_steps)
        self.peak_step = int(peak_step)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        rising = step / self.peak_step if self.peak_step else ops.ones_like(step)
        falling_steps = self.total_steps - self.peak_step
        falling = ((self.total_steps - step) / falling_steps if falling_steps
                   else ops.ones_like(step))
        return self.peak_lr * ops.clip(ops.minimum(rising, falling), 0.0, 1.0)

    def get_config(self):
        return {"peak_lr": self.peak_lr, "total_steps": self.total_steps,
                "peak_step": self.peak_step}


def learning_rate_schedule(config, peak_lr, total_steps, warmup_steps):
    """The phase's learning-rate schedule, as `config.lr_schedule` says.

    "cosine": linear warm-up from 0 over `warmup_steps` (at most `total_steps - 1`), then
    cosine decay to 0 (`keras.optimizers.schedules.CosineDecay`, exactly as the library did
    before the recipe levers). "triangular": `TriangularSchedule` peaking at
    `config.lr_peak_fraction` of `total_steps` (`warmup_steps` is not used).

    Args:
        config: a `TrainConfig` (reads `lr_schedule`, `lr_peak_fraction`).
        peak_lr: the peak learning rate (already scaled for the batch size).
        total_steps: steps of the phase.
        warmup_steps: warm-up steps of the cosine schedule.

    Returns:
        A `keras.optimizers.schedules.LearningRateSchedule`.
    """
    if config.lr_schedule == "triangular":
        total_steps = max(int(total_steps), 1)
        return TriangularSchedule(peak_lr, total_steps,
                                  int(config.lr_peak_fraction * total_steps))
    warmup_steps = min(warmup_steps, max(total_steps - 1, 0))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup_steps else peak_lr,
        decay_steps=max(total_steps - warmup_steps, 1),
        warmup_target=peak_lr if warmup_steps else None,
        warmup_steps=warmup_steps,
    )


@keras.saving.register_keras_serializable(package="lcnet_tf")
class RecipeSGD(keras.optimizers.SGD):
    """`keras.optimizers.SGD` with a BatchNorm-bias lr multiplier and a Lookahead-style average.

    - `bias_lr_multiplier` m: the gradient of every variable named in `bias_variable_names`
      (BatchNorm's `beta`) is multiplied by m before the update, i.e. its learning rate is
      m times the others' (SGD is linear in the gradient); weight decay is not multiplied.
    - `ema_decay` d > 0 (airbench's weight average): the optimizer keeps an average `avg` of
      the trainable weights, set to the weights at step `ema_start_step` s; then every
      `ema_every_steps` K steps (t = s + K, s + 2K, ...)
      `avg = w * avg + (1 - w) * weights; weights = avg` with
      `w = d^K * ((t - s) / (T - s))^3` (T = `ema_total_steps`; without it w = d^K), and
      `finalize_variable_values` (called by `fit` at its end) copies `avg` into the
      weights. The model trained, evaluated and saved is the averaged one; only trainable
      variables are averaged (BatchNorm's moving statistics follow them within a few
      steps, quickly with momentum 0.6).

    Args:
        learning_rate, momentum, nesterov, **kwargs: as `keras.optimizers.SGD`.
        bias_lr_multiplier: m > 0 (1: plain SGD).
        bias_variable_names: variable names (`variable.name`) that get m.
        ema_decay: per-step decay d, 0 <= d < 1 (0: no average).
        ema_every_steps: K >= 1.
        ema_start_step: s >= 0.
        ema_total_steps: T > s, or None (no ramp).

    Example:
        >>> optimizer = RecipeSGD(0.1, momentum=0.9, nesterov=True, bias_lr_multiplier=64.0,
        ...                       ema_decay=0.95, ema_total_steps=2000)
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, *,
                 bias_lr_multiplier=1.0, bias_variable_names=BN_BIAS_NAMES, ema_decay=0.0,
                 ema_every_steps=5, ema_start_step=0, ema_total_steps=None, **kwargs):
        super().__init__(learning_rate=learning_rate, momentum=momentum, nesterov=nesterov,
                         **kwargs)
        _check_number("bias_lr_multiplier", bias_lr_multiplier,
                      _is_number(bias_lr_multiplier) and bias_lr_multiplier > 0, "a number > 0")
        _check_number("ema_decay", ema_decay,
                      _is_number(ema_decay) and 0 <= ema_decay < 1, "0 <= ema_decay < 1")
        _check_number("ema_every_steps", ema_every_steps,
                      _is_int(ema_every_steps) and ema_every_steps >= 1, "an int >= 1")
        _check_number("ema_start_step", ema_start_step,
                      _is_int(ema_start_step) and ema_start_step >= 0, "an int >= 0")
        _check_number("ema_total_steps", ema_total_steps, ema_total_steps is None or (
            _is_int(ema_total_steps) and ema_total_steps > ema_start_step),
            f"None or an int > ema_start_step ({ema_start_step})")
        if ema_decay and self.use_ema:
            raise ValueError("Invalid value for `ema_decay`: expected 0 with `use_ema=True` "
                             f"(Keras's own average). Received: ema_decay={ema_decay!r}")
        self.bias_lr_multiplier = float(bias_lr_multiplier)
        self.bias_variable_names = tuple(bias_variable_names)
        self.ema_decay = float(ema_decay)
        self.ema_every_steps = int(ema_every_steps)
        self.ema_start_step = int(ema_start_step)
        self.ema_total_steps = None if ema_total_steps is None else int(ema_total_steps)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        # Optimizer variables, so `save_weights` (BackupAndRestore) and `load_weights` keep them.
        self.ema_averages = (self.add_optimizer_variables(variables, "ema")
                             if self.ema_decay else [])
        self._ema_slots = {variable.path: slot for slot, variable in enumerate(variables)}

    def apply(self, grads, trainable_variables=None):
        if trainable_variables is None:
            if self.bias_lr_multiplier != 1.0 or self.ema_decay:
                raise ValueError("RecipeSGD.apply needs `trainable_variables` (which are "
                                 "BatchNorm biases, which are averaged).")
            return super().apply(grads, trainable_variables)
        trainable_variables = list(trainable_variables)
        if self.bias_lr_multiplier != 1.0:
            grads = [grad if grad is None or variable.name not in self.bias_variable_names
                     else grad * ops.cast(self.bias_lr_multiplier, grad.dtype)
                     for grad, variable in zip(grads, trainable_variables, strict=True)]
        if not self.ema_decay:
            return super().apply(grads, trainable_variables)
        if not self.built:
            self.build(trainable_variables)
        pairs = [(variable, self.ema_averages[self._ema_slots[variable.path]])
                 for variable in trainable_variables]
        ops.cond(ops.equal(self.iterations, self.ema_start_step),
                 lambda: _assign_all([(average, variable) for variable, average in pairs]),
                 lambda: None)
        super().apply(grads, trainable_variables)
        since = ops.cast(self.iterations - self.ema_start_step, "float32")
        due = ops.logical_and(since > 0, ops.equal(ops.mod(since, self.ema_every_steps), 0))
        weight = self.ema_decay ** self.ema_every_steps
        if self.ema_total_steps is not None:
            progress = since / float(self.ema_total_steps - self.ema_start_step)
            weight = weight * ops.clip(progress, 0.0, 1.0) ** 3

        def average_and_copy_back():
            for variable, average in pairs:
                average.assign(weight * average + (1.0 - weight) * variable)
            _assign_all(pairs)

        ops.cond(due, average_and_copy_back, lambda: None)

    def finalize_variable_values(self, var_list):
        """Copies the average into `var_list` once it has started (airbench's last step)."""
        super().finalize_variable_values(var_list)
        if not self.ema_decay or not self.built:
            return
        if int(ops.convert_to_numpy(self.iterations)) > self.ema_start_step:
            _assign_all([(variable, self.ema_averages[self._ema_slots[variable.path]])
                         for variable in var_list])

    def get_config(self):
        return {**super().get_config(), "bias_lr_multiplier": self.bias_lr_multiplier,
                "bias_variable_names": list(self.bias_variable_names),
                "ema_decay": self.ema_decay, "ema_every_steps": self.ema_every_steps,
                "ema_start_step": self.ema_start_step, "ema_total_steps": self.ema_total_steps}


def make_optimizer(config, peak_lr, total_steps, warmup_steps, steps_per_epoch, no_decay):
    """One training phase's optimizer, as `config`'s recipe levers say.

    With the defaults this is the library's original optimizer, a plain
    `keras.optimizers.SGD` (Nesterov), so runs saved before the levers existed resume
    unchanged; with `bn_bias_lr_multiplier != 1` or `ema_decay > 0` a `RecipeSGD`.

    Args:
        config: a `TrainConfig`.
        peak_lr: the phase's peak learning rate at batch 128 (scaled by `config.lr_scaling`).
        total_steps: steps of the phase.
        warmup_steps: warm-up steps of the cosine schedule.
        steps_per_epoch: steps per epoch (for `config.ema_start_epochs`).
        no_decay: variable-name fragments excluded from weight decay.

    Returns:
        A Keras optimizer.
    """
    peak_lr = scaled_lr(peak_lr, config.batch_size, config.lr_scaling)
    schedule = learning_rate_schedule(config, peak_lr, total_steps, warmup_steps)
    kwargs = {"learning_rate": schedule, "momentum": float(config.momentum), "nesterov": True,
              "weight_decay": config.weight_decay or None}
    if config.bn_bias_lr_multiplier != 1 or config.ema_decay:
        start = min(int(config.ema_start_epochs * steps_per_epoch), max(total_steps - 1, 0))
        optimizer = RecipeSGD(**kwargs, bias_lr_multiplier=config.bn_bias_lr_multiplier,
                              ema_decay=config.ema_decay, ema_every_steps=config.ema_every_steps,
                              ema_start_step=start, ema_total_steps=max(total_steps, start + 1))
    else:
        optimizer = keras.optimizers.SGD(**kwargs)
    if config.weight_decay:
        optimizer.exclude_from_weight_decay(var_names=no_decay)
    return optimizer


@contextlib.contextmanager
def training_settings(model, *, bn_momentum=None, precision="float32"):
    """Trains `model` with another BatchNorm momentum and compute precision, then restores it.

    Inside: every `BatchNormalization` of `model` has momentum `bn_momentum` (None: as
    built), and with `precision="mixed_bfloat16"` every sublayer but `model.classifier` has
    the "mixed_bfloat16" dtype policy (float32 variables, bfloat16 compute; the classifier
    stays float32, so the logits and the loss are float32). On exit the momenta and policies
    are put back and `model`'s compiled train/test/predict functions are dropped (they were
    traced with the training settings), so the model saves, loads and runs as before, in
    float32. The global dtype policy is not touched.

    Args:
        model: a built Keras model (a `GatedResNet`).
        bn_momentum: None, or 0 <= momentum < 1.
        precision: one of `PRECISIONS`.

    Example:
        >>> with training_settings(model, bn_momentum=0.6, precision="mixed_bfloat16"):
        ...     model.fit(dataset, epochs=1)
    """
    if precision not in PRECISIONS:
        raise ValueError(f"Invalid value for `precision`: expected one of {PRECISIONS}. "
                         f"Received: precision={precision!r}")
    from lcnet_tf.training.calibration import _all_layers

    layers = [layer for layer in _all_layers(model) if layer is not model]
    batch_norms = [layer for layer in layers
                   if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in batch_norms]
    classifier = getattr(model, "classifier", None)
    cast = [layer for layer in layers if layer is not classifier] \
        if precision != "float32" else []
    policies = [layer.dtype_policy for layer in cast]
    try:
        if bn_momentum is not None:
            for layer in batch_norms:
                layer.momentum = float(bn_momentum)
        for layer in cast:
            layer.dtype_policy = precision
        yield model
    finally:
        for layer, momentum in zip(batch_norms, momenta, strict=True):
            layer.momentum = momentum
        for layer, policy in zip(cast, policies, strict=True):
            layer.dtype_policy = policy
        for attr in ("train_function", "test_function", "predict_function"):
            if hasattr(model, attr):
                setattr(model, attr, None)


def _assign_all(pairs):
    for target, source in pairs:
        target.assign(source)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_number(name, value, ok, expected):
    if not ok:
        raise ValueError(
            f"Invalid value for `{name}`: expected {expected}. Received: {name}={value!r}"
        )

"""L-Net: one block gate per residual block."""

import math

import keras
from keras import ops

from lcnet_tf.ops import gate_ops

GATE_OVERRIDES = (None, "open", "closed")


def check_override(override):
    if override not in GATE_OVERRIDES:
        raise ValueError(
            f"Invalid value for `mode`: expected one of {GATE_OVERRIDES}. "
            f"Received: mode={override!r}"
        )
    return override


def check_plain_open_path(value):
    """`plain_open_path` of the gates and the block: a bool (ValueError otherwise)."""
    if not isinstance(value, bool):
        raise ValueError(
            "Invalid value for `plain_open_path`: expected True or False. "
            f"Received: plain_open_path={value!r}"
        )
    return value


@keras.saving.register_keras_serializable(package="lcnet_tf")
class BlockGate(keras.layers.Layer):
    """Decides, per image, whether a residual block runs, and scales it when it does.

    Input: the block input's pooled features (batch, channels). Two small dense
    layers give a keep logit and a raw scale. Training draws the decision with
    logistic noise at `temperature` and passes a straight-through gradient
    (`lcnet_tf.ops.straight_through_gate`); inference is deterministic:
    keep when `logit + decision_offset > 0`. `decision_offset` is a
    non-trainable weight that budget calibration sets after training.

    Args:
        hidden_units: width of the hidden dense layer.
        init_keep_prob: keep probability of a fresh gate (mostly open).
        temperature: temperature of the training relaxation, > 0.
        noise: whether training adds logistic noise (exploration).
        plain_open_path: when the gate is forced open (`force_open`, or the "open"
            override), also drop the scale: `scale` is 1, so the forced-open network is
            the plain backbone. False (default) keeps the learned scale there too.

    Returns (from `call`): dict with
        `keep_logit` (batch,), `keep_prob` (batch,) = sigmoid(keep_logit),
        `gate` (batch,) hard 0/1 decision (straight-through gradient in training),
        `scale` (batch,) positive scale in (0, 2).

    Example:
        >>> gate = BlockGate(hidden_units=16)
        >>> out = gate(keras.ops.ones((4, 64)))
        >>> out["gate"].shape
        (4,)
    """

    def __init__(self, hidden_units=16, init_keep_prob=0.95, temperature=1.0, noise=True,
                 plain_open_path=False, **kwargs):
        super().__init__(**kwargs)
        if not (isinstance(hidden_units, int) and hidden_units > 0):
            raise ValueError(
                "Invalid value for `hidden_units`: expected a positive int. "
                f"Received: hidden_units={hidden_units!r}"
            )
        if not 0.0 < init_keep_prob < 1.0:
            raise ValueError(
                "Invalid value for `init_keep_prob`: expected 0 < init_keep_prob < 1. "
                f"Received: init_keep_prob={init_keep_prob!r}"
            )
        if not temperature > 0:
            raise ValueError(
                "Invalid value for `temperature`: expected > 0. "
                f"Received: temperature={temperature!r}"
            )
        self.hidden_units = hidden_units
        self.init_keep_prob = float(init_keep_prob)
        self.temperature = float(temperature)
        self.noise = bool(noise)
        self.plain_open_path = check_plain_open_path(plain_open_path)
        self.override = None  # None (learned), "open" or "closed"; see set_gate_override.
        init_logit = math.log(self.init_keep_prob / (1.0 - self.init_keep_prob))
        self.hidden = keras.layers.Dense(hidden_units, activation="relu", name="hidden")
        self.keep_logit_dense = keras.layers.Dense(
            1,
            kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
            bias_initializer=keras.initializers.Constant(init_logit),
            name="keep_logit",
        )
        self.scale_dense = keras.layers.Dense(
            1, kernel_initializer=keras.initializers.RandomNormal(stddev=0.01), name="scale"
        )
        self.seed_generator = keras.random.SeedGenerator(seed=None)

    def build(self, input_shape):
        self.hidden.build(input_shape)
        hidden_shape = (input_shape[0], self.hidden_units)
        self.keep_logit_dense.build(hidden_shape)
        self.scale_dense.build(hidden_shape)
        self.decision_offset = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="decision_offset"
        )

    def call(self, pooled, training=None, force_open=None, decision_offset=None):
        """Gate outputs; `decision_offset` (a scalar tensor) replaces the stored
        `decision_offset` in the inference decision (the budget knob's run-time input)."""
        hidden = self.hidden(pooled)
        keep_logit = ops.squeeze(self.keep_logit_dense(hidden), -1)
        scale = gate_ops.block_scale(ops.squeeze(self.scale_dense(hidden), -1))
        keep_prob = ops.sigmoid(keep_logit)
        if self.override == "open":
            gate = ops.ones_like(keep_logit)
        elif self.override == "closed":
            gate = ops.zeros_like(keep_logit)
        elif training:
            noise = None
            if self.noise:
                noise = gate_ops.logistic_noise(
                    ops.shape(keep_logit), seed=self.seed_generator, dtype=keep_logit.dtype
                )
            gate = gate_ops.straight_through_gate(keep_logit, noise, self.temperature)
        else:
            gate = gate_ops.hard_threshold(keep_logit + self._offset(decision_offset))
        if force_open is not None:
            gate = ops.maximum(gate, ops.cast(force_open, gate.dtype))
        if self.plain_open_path:
            scale = gate_ops.plain_when_open(scale, 1.0, self.override, force_open)
        return {"keep_logit": keep_logit, "keep_prob": keep_prob, "gate": gate, "scale": scale}

    def _offset(self, decision_offset):
        if decision_offset is None:
            return self.decision_offset
        return ops.cast(ops.reshape(decision_offset, ()), self.compute_dtype)

    def decide(self, pooled, force_open=None, decision_offset=None):
        """Inference decision for a batch of one, in as few ops as possible.

        Used by the batch-1 (TFLite) path of `GatedResidualBlock`: the keep
        logit and the raw scale come from one matmul whose bias already holds
        `decision_offset`, and the decision is a single bool scalar, the IF
        predicate. Computes the same decision as `call(pooled, training=False)`
        and leaves `1 + tanh(raw scale)` to the branch that runs, so that a
        skipped block does not pay for it.

        Args:
            pooled: (1, channels) pooled block input.
            force_open: optional scalar bool tensor; true forces the gate open.
            decision_offset: optional scalar tensor used instead of the stored
                `decision_offset` (the knob signature's input).

        Returns:
            `(keep, raw_scale, keep_prob)`: a scalar bool tensor, a (1, 1) tensor (0,
            i.e. scale 1, when forced open with `plain_open_path`: one SELECT before the
            IF, only in models with the option) and the (1,) keep probability
            `sigmoid(keep_logit)` (for the gate info).
        """
        # Under the gate's name, as a call would be: the int8 export keeps these ops float.
        with keras.name_scope(self.name):
            hidden = self.hidden(pooled)
            kernel = ops.concatenate(
                [self.keep_logit_dense.kernel, self.scale_dense.kernel], axis=1
            )
            offset = self._offset(decision_offset)
            bias = ops.concatenate(
                [self.keep_logit_dense.bias + offset, self.scale_dense.bias], axis=0
            )
            logits = ops.matmul(hidden, kernel) + bias
            if self.override is not None:
                keep = ops.convert_to_tensor(self.override == "open")
            else:
                keep = logits[0, 0] > 0.0
            if force_open is not None:
                keep = ops.logical_or(keep, ops.cast(force_open, "bool"))
            keep_prob = ops.sigmoid(logits[:, 0] - offset)
            raw_scale = logits[:, 1:2]
            if self.plain_open_path:  # block_scale(0) = 1
                raw_scale = gate_ops.plain_when_open(raw_scale, 0.0, self.override, force_open)
            return keep, raw_scale, keep_prob

    def compute_output_spec(self, pooled, training=None, force_open=None, decision_offset=None):
        spec = keras.KerasTensor((pooled.shape[0],), dtype=self.compute_dtype)
        return {"keep_logit": spec, "keep_prob": spec, "gate": spec, "scale": spec}

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_units=self.hidden_units,
            init_keep_prob=self.init_keep_prob,
            temperature=self.temperature,
            noise=self.noise,
            plain_open_path=self.plain_open_path,
        )
        return config

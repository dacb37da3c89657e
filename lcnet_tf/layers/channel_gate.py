"""C-Net: per-image top-k selection of channel groups inside a block."""

import keras
import tensorflow as tf
from keras import ops

from lcnet_tf.layers.block_gate import check_plain_open_path
from lcnet_tf.ops import gate_ops


@keras.saving.register_keras_serializable(package="lcnet_tf")
class ChannelGate(keras.layers.Layer):
    """Saliency per channel group from the block input; keeps the top-k groups.

    In the spirit of Feature Boosting and Suppression: pooled block input ->
    Dense(hidden, relu) -> Dense(groups) -> saliency `2 * sigmoid(.)` in (0, 2).
    Each image keeps its `keep_groups` most salient groups; kept channels are
    multiplied by their group's saliency, the others are not computed (in the
    exported graph) or zeroed (in batch training). The saliency carries the
    gradient; the top-k choice itself has none.

    Groups are contiguous slices of the gated convolution's output channels.
    `groups` equal to the channel count is the per-channel (FBS-like) mode.

    Args:
        groups: number of channel groups G.
        keep_groups: k, groups kept per image, 0 <= k <= G.
        hidden_units: width of the hidden dense layer.
        plain_open_path: when the gate is forced open (`force_open`, or the "open"
            override), every group's saliency is 1: the forced-open block computes its
            plain convolutions. False (default) keeps the learned saliency there too.

    Returns (from `call`): dict with `saliency` (batch, G) and
        `group_mask` (batch, G) of 0/1.

    Example:
        >>> gate = ChannelGate(groups=4, keep_groups=2)
        >>> gate(keras.ops.ones((3, 16)))["group_mask"].shape
        (3, 4)
    """

    def __init__(self, groups, keep_groups, hidden_units=16, plain_open_path=False, **kwargs):
        super().__init__(**kwargs)
        if not (isinstance(groups, int) and groups > 0):
            raise ValueError(
                f"Invalid value for `groups`: expected a positive int. Received: groups={groups!r}"
            )
        if not (isinstance(keep_groups, int) and 0 <= keep_groups <= groups):
            raise ValueError(
                f"Invalid value for `keep_groups`: expected an int in [0, {groups}]. "
                f"Received: keep_groups={keep_groups!r}"
            )
        if not (isinstance(hidden_units, int) and hidden_units > 0):
            raise ValueError(
                "Invalid value for `hidden_units`: expected a positive int. "
                f"Received: hidden_units={hidden_units!r}"
            )
        self.groups = groups
        self.keep_groups = keep_groups
        self.hidden_units = hidden_units
        self.plain_open_path = check_plain_open_path(plain_open_path)
        self.override = None
        self.hidden = keras.layers.Dense(hidden_units, activation="relu", name="hidden")
        self.saliency_dense = keras.layers.Dense(
            groups, kernel_initializer=keras.initializers.RandomNormal(stddev=0.1), name="saliency"
        )

    def build(self, input_shape):
        self.hidden.build(input_shape)
        self.saliency_dense.build((input_shape[0], self.hidden_units))

    def call(self, pooled, training=None, force_open=None):
        logits = self.saliency_dense(self.hidden(pooled))
        saliency = gate_ops.positive_saliency(logits)
        if self.plain_open_path:
            saliency = gate_ops.plain_when_open(saliency, 1.0, self.override, force_open)
        return {"saliency": saliency, "group_mask": self._group_mask(logits, force_open)}

    def _group_mask(self, logits, force_open):
        if self.override == "open":
            group_mask = ops.ones_like(logits)
        elif self.override == "closed":
            group_mask = ops.zeros_like(logits)
        else:
            # Ranked by the logits: the same order as the saliency (a monotone map of them),
            # without ties where the sigmoid saturates; `decide` ranks the same way.
            group_mask = gate_ops.top_k_group_mask(logits, self.keep_groups)
        if force_open is not None:
            group_mask = ops.maximum(group_mask, ops.cast(force_open, group_mask.dtype))
        return group_mask

    def decide(self, pooled, force_open=None):
        """Inference decisions for a batch of one, in as few ops as possible.

        Used by the batch-1 (TFLite) path of `GatedResidualBlock`, where each
        group's convolutions sit behind their own IF. With one group kept per
        image (k = 1) the choice is a single `argmax` (first maximum, like
        `top_k`), and the saliency `2 * sigmoid(logit)` is left to the group's
        branch, so groups that do not run do not pay for it. Other k use the
        top-k mask of `call`. Same decisions as `call(pooled, training=False)`.

        Args:
            pooled: (1, channels) pooled block input.
            force_open: optional scalar bool tensor; true keeps every group.

        Returns:
            `(keeps, logits, kept_groups)`: a list of G scalar bool tensors,
            the (1, G) saliency logits (0, i.e. saliency 1, when forced open with
            `plain_open_path`) and a (1,) float count of kept groups.
        """
        # Under the gate's name, as a call would be: the int8 export keeps these ops float.
        with keras.name_scope(self.name):
            keeps, logits, kept_groups = self._decide(pooled, force_open)
            if self.plain_open_path:  # positive_saliency(0) = 1
                logits = gate_ops.plain_when_open(logits, 0.0, self.override, force_open)
            return keeps, logits, kept_groups

    def _decide(self, pooled, force_open):
        logits = self.saliency_dense(self.hidden(pooled))
        if self.override is not None or self.keep_groups != 1 or self.groups == 1:
            mask = self._group_mask(logits, force_open)
            keeps = [mask[0, group] > 0 for group in range(self.groups)]
            return keeps, logits, ops.sum(mask, axis=-1)
        # tf.argmax, not keras.ops.argmax: the latter adds a BitwiseAnd (a Flex op in TFLite).
        best = tf.math.argmax(logits[0], output_type="int32")
        keeps = [ops.equal(best, group) for group in range(self.groups)]
        kept_groups = ops.ones((1,), dtype=logits.dtype)
        if force_open is not None:
            force = ops.cast(force_open, "bool")
            keeps = [ops.logical_or(keep, force) for keep in keeps]
            kept_groups = ops.where(force, float(self.groups), kept_groups)
        return keeps, logits, kept_groups

    def compute_output_spec(self, pooled, training=None, force_open=None):
        spec = keras.KerasTensor((pooled.shape[0], self.groups), dtype=self.compute_dtype)
        return {"saliency": spec, "group_mask": spec}

    def get_config(self):
        config = super().get_config()
        config.update(
            groups=self.groups, keep_groups=self.keep_groups, hidden_units=self.hidden_units,
            plain_open_path=self.plain_open_path,
        )
        return config

"""A ResNet residual block (basic or bottleneck) with optional L-Net and C-Net gates."""

import math

import keras
import numpy as np
from keras import ops

from lcnet_tf import ops as gate_ops
from lcnet_tf.cost import kept_group_count
from lcnet_tf.layers.block_gate import BlockGate
from lcnet_tf.layers.channel_gate import ChannelGate

BLOCK_TYPES = ("basic", "bottleneck")
SHORTCUTS = ("zero_pad", "projection")
BOTTLENECK_EXPANSION = 4


def _conv(filters, kernel_size, stride, name):
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=stride,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=None,
        name=name,
    )


def _bn(name, zero_init=False):
    return keras.layers.BatchNormalization(
        momentum=0.9,
        epsilon=1e-5,
        gamma_initializer="zeros" if zero_init else "ones",
        name=name,
    )


def _affine_from_bn(bn):
    """Inference-mode BatchNormalization as `x * mult + add` (per channel)."""
    mult = bn.gamma * ops.rsqrt(bn.moving_variance + bn.epsilon)
    return mult, bn.beta - bn.moving_mean * mult


@keras.saving.register_keras_serializable(package="lcnet_tf")
class GatedResidualBlock(keras.layers.Layer):
    """Residual block whose branch may be skipped (L-Net) or thinned (C-Net) per image.

    Basic block: conv3x3(stride) -> BN -> ReLU -> conv3x3 -> BN. Bottleneck:
    conv1x1 -> BN -> ReLU -> conv3x3(stride) -> BN -> ReLU -> conv1x1(4x) -> BN.
    Output: `relu(shortcut(x) + gate * scale * branch(x))`.

    - L-Net (`block_gate=True`): a `BlockGate` on the pooled block input decides
      run/skip per image and scales the branch when it runs. A skipped block
      outputs `relu(shortcut(x))`, so blocks whose shape changes can be gated
      too: the skip path then runs the (cheap) shortcut alone.
    - C-Net (`channel_groups=G`): a `ChannelGate` keeps the top-k of G
      contiguous groups of the first convolution's output channels, scaled by
      their saliency; the next convolution reads only the kept groups.

    Two execution paths compute the same function:
    - batched (training, or any batch size other than a static 1): every
      branch is computed and multiplied by the decisions (needed for gradients);
    - batch-1 inference (static batch dimension 1, `training` false): the
      branch sits behind `cond`, and each channel group's convolutions behind
      their own `cond` with static slices of the weights. Exported to TFLite,
      these become IF ops over static-weight subgraphs: skipped work is not run.

    Args:
        filters: width of the block (bottleneck: inner width; output is 4x).
        stride: 1 or 2.
        block_type: "basic" or "bottleneck".
        shortcut: "zero_pad" (parameter-free, CIFAR option A) or "projection"
            (1x1 conv + BN, ImageNet option B); only used when the shape changes.
        block_gate: whether this block has an L-Net gate.
        channel_groups: G for a C-Net gate, or None for none.
        channel_keep: fraction of groups kept per image; k = max(1, floor(channel_keep * G + 0.5)).
        gate_hidden: hidden width of the gate networks.
        init_keep_prob: initial keep probability of the block gate.
        gate_temperature: training relaxation temperature of the block gate.
        gate_noise: whether the block gate explores with logistic noise in training.
        layer_drop: stochastic-depth rate of a block without a block gate: in
            training, each image skips the branch with this probability (the
            branch is scaled by 1 / (1 - layer_drop) when it runs, so inference
            needs no change). Trains a static backbone that already works with
            blocks missing, for the L-Net that follows (`ops.drop_path_multiplier`).
        stride_in_1x1: bottleneck only: put the stride in the first 1x1
            convolution (ResNet v1 as in He et al. 2016 and keras.applications)
            instead of the 3x3 (v1.5, the default).
    """

    def __init__(
        self,
        filters,
        stride=1,
        block_type="basic",
        shortcut="zero_pad",
        block_gate=False,
        channel_groups=None,
        channel_keep=0.5,
        gate_hidden=16,
        init_keep_prob=0.95,
        gate_temperature=1.0,
        gate_noise=True,
        layer_drop=0.0,
        stride_in_1x1=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(layer_drop, bool) or not isinstance(layer_drop, int | float) or not (
            0.0 <= layer_drop < 1.0
        ):
            raise ValueError(
                "Invalid value for `layer_drop`: expected 0 <= layer_drop < 1. "
                f"Received: layer_drop={layer_drop!r}"
            )
        if not (isinstance(filters, int) and filters > 0):
            raise ValueError(
                "Invalid value for `filters`: expected a positive int. "
                f"Received: filters={filters!r}"
            )
        if block_type not in BLOCK_TYPES:
            raise ValueError(
                f"Invalid value for `block_type`: expected one of {BLOCK_TYPES}. "
                f"Received: block_type={block_type!r}"
            )
        if shortcut not in SHORTCUTS:
            raise ValueError(
                f"Invalid value for `shortcut`: expected one of {SHORTCUTS}. "
                f"Received: shortcut={shortcut!r}"
            )
        if stride not in (1, 2):
            raise ValueError(
                f"Invalid value for `stride`: expected 1 or 2. Received: stride={stride!r}"
            )
        if channel_groups is not None and (
            not isinstance(channel_groups, int) or channel_groups <= 0 or filters % channel_groups
        ):
            raise ValueError(
                "Invalid value for `channel_groups`: expected a positive divisor of the block "
                f"width {filters}, or None. Received: channel_groups={channel_groups!r}"
            )
        if not 0.0 < channel_keep <= 1.0:
            raise ValueError(
                "Invalid value for `channel_keep`: expected 0 < channel_keep <= 1. "
                f"Received: channel_keep={channel_keep!r}"
            )
        if stride_in_1x1 and block_type != "bottleneck":
            raise ValueError(
                "Invalid value for `stride_in_1x1`: True needs block_type='bottleneck' "
                f"(a basic block has no 1x1 convolution). Received: block_type={block_type!r}"
            )
        self.filters = filters
        self.stride = stride
        self.stride_in_1x1 = bool(stride_in_1x1)
        self.block_type = block_type
        self.shortcut = shortcut
        self.block_gate = bool(block_gate)
        self.channel_groups = channel_groups
        self.channel_keep = float(channel_keep)
        self.gate_hidden = gate_hidden
        self.init_keep_prob = init_keep_prob
        self.gate_temperature = gate_temperature
        self.gate_noise = gate_noise
        self.layer_drop = float(layer_drop)
        self.drop_seed = keras.random.SeedGenerator(seed=None) if self.layer_drop else None
        # Set (not serialized) by `lcnet_tf.training.recalibrate_batch_norm`: gates decide as
        # in inference (calibrated, no noise) while BatchNormalization runs in training mode.
        self.deterministic_gates = False

        bottleneck = block_type == "bottleneck"
        self.out_channels = filters * (BOTTLENECK_EXPANSION if bottleneck else 1)
        if bottleneck:
            # v1.5 (default) strides in the 3x3 convolution; v1 (He et al. 2016,
            # keras.applications) in the first 1x1, which costs fewer FLOPs.
            stride_1x1, stride_3x3 = (stride, 1) if self.stride_in_1x1 else (1, stride)
            self.convs = [
                _conv(filters, 1, stride_1x1, "conv1"),
                _conv(filters, 3, stride_3x3, "conv2"),
                _conv(self.out_channels, 1, 1, "conv3"),
            ]
        else:
            self.convs = [_conv(filters, 3, stride, "conv1"), _conv(filters, 3, 1, "conv2")]
        # The last BN starts at zero gamma in bottlenecks (Goyal et al.); basic blocks keep 1
        # so that a block's gate sees a non-trivial branch from the start.
        self.bns = [
            _bn(f"bn{i + 1}", zero_init=bottleneck and i == len(self.convs) - 1)
            for i in range(len(self.convs))
        ]
        self.gate_pool = None
        if self.block_gate or channel_groups:
            self.gate_pool = keras.layers.GlobalAveragePooling2D(name="gate_pool")
        self.block_gate_layer = None
        if self.block_gate:
            self.block_gate_layer = BlockGate(
                hidden_units=gate_hidden,
                init_keep_prob=init_keep_prob,
                temperature=gate_temperature,
                noise=gate_noise,
                name="block_gate",
            )
        self.channel_gate_layer = None
        self.keep_groups = 0
        if channel_groups:
            self.keep_groups = kept_group_count(self.channel_keep, channel_groups)
            self.channel_gate_layer = ChannelGate(
                channel_groups, self.keep_groups, hidden_units=gate_hidden, name="channel_gate"
            )
        self.projection = None
        self.projection_bn = None
        # Set (not serialized) by code that knows every input of this block is >= 0, e.g. the
        # TFLite export of a GatedResNet (block inputs are ReLU outputs). The batch-1 skip branch
        # then returns the parameter-free shortcut as is: its ReLU would be an identity, and under
        # int8 a lone quantized RELU is not delegated to XNNPACK (~60 us per skipped 32x32x16
        # block).
        self.input_nonnegative = False

    # Shapes ---------------------------------------------------------------------------------
    def _needs_shortcut_op(self, in_channels):
        return self.stride != 1 or in_channels != self.out_channels

    def output_feature_shape(self, input_shape):
        """Shape of the block's feature-map output for `input_shape`."""
        height, width = input_shape[1], input_shape[2]
        if height is not None:
            height = math.ceil(height / self.stride)
        if width is not None:
            width = math.ceil(width / self.stride)
        return (input_shape[0], height, width, self.out_channels)

    def compute_output_shape(self, input_shape):
        """`(feature shape, {info name: shape})`: the structure `call` returns."""
        batch = input_shape[0]
        return self.output_feature_shape(input_shape), {
            "gate": (batch,), "keep_prob": (batch,), "kept_groups": (batch,),
            "group_mask": (batch, self.channel_groups or 0),
        }

    def compute_output_spec(self, inputs, training=None, force_open=None):
        feature_shape, info_shapes = self.compute_output_shape(tuple(inputs.shape))
        dtype = self.compute_dtype
        return keras.KerasTensor(feature_shape, dtype=dtype), {
            name: keras.KerasTensor(shape, dtype=dtype) for name, shape in info_shapes.items()
        }

    def build(self, input_shape):
        in_channels = input_shape[-1]
        if self.shortcut == "projection" and self._needs_shortcut_op(in_channels):
            self.projection = _conv(self.out_channels, 1, self.stride, "projection")
            self.projection_bn = _bn("projection_bn")
        elif self.shortcut == "zero_pad" and in_channels > self.out_channels:
            raise ValueError(
                "A `zero_pad` shortcut cannot reduce channels: block input has "
                f"{in_channels}, output {self.out_channels}. Use shortcut='projection'."
            )
        self.layer_input_shapes = {}
        shape = tuple(input_shape)
        for conv, bn in zip(self.convs, self.bns, strict=True):
            self._build_sublayer(conv, shape)
            shape = conv.compute_output_shape(shape)
            self._build_sublayer(bn, shape)
        if self.projection is not None:
            self._build_sublayer(self.projection, tuple(input_shape))
            self._build_sublayer(
                self.projection_bn, self.projection.compute_output_shape(tuple(input_shape))
            )
        pooled_shape = (input_shape[0], in_channels)
        if self.gate_pool is not None:
            self._build_sublayer(self.gate_pool, tuple(input_shape))
        if self.block_gate_layer is not None:
            self._build_sublayer(self.block_gate_layer, pooled_shape)
        if self.channel_gate_layer is not None:
            self._build_sublayer(self.channel_gate_layer, pooled_shape)

    def _build_sublayer(self, layer, shape):
        layer.build(shape)
        self.layer_input_shapes[layer.name] = tuple(shape)

    # Cost description (read by lcnet_tf.flops) ------------------------------------------------
    def cost_items(self):
        """Describes what each sublayer costs and when it runs.

        Returns:
            List of `(layer, input_shape, role, fraction, is_gate)`. `role` is
            "always" (runs whether or not the block runs), "run" (runs when the
            block runs) or "per_group" (runs once per kept channel group;
            `fraction` = 1/G of the layer's full cost). `is_gate` marks gate
            networks, which the ungated backbone does not have.
        """
        shapes = self.layer_input_shapes
        items = []
        if self.gate_pool is not None:
            items.append((self.gate_pool, shapes["gate_pool"], "always", 1.0, True))
        if self.block_gate_layer is not None:
            items.append((self.block_gate_layer, shapes["block_gate"], "always", 1.0, True))
        if self.projection is not None:
            items.append((self.projection, shapes["projection"], "always", 1.0, False))
            items.append((self.projection_bn, shapes["projection_bn"], "always", 1.0, False))
        if self.channel_gate_layer is not None:
            items.append((self.channel_gate_layer, shapes["channel_gate"], "run", 1.0, True))
        grouped = {"conv1", "bn1", "conv2"} if self.channel_groups else set()
        for layer in [*self.convs, *self.bns]:
            if layer.name in grouped:
                items.append(
                    (layer, shapes[layer.name], "per_group", 1.0 / self.channel_groups, False)
                )
            else:
                items.append((layer, shapes[layer.name], "run", 1.0, False))
        return items

    # Forward ----------------------------------------------------------------------------------
    def _shortcut(self, x, training):
        if self.projection is not None:
            return self.projection_bn(self.projection(x), training=training)
        in_channels = x.shape[-1]
        if not training and x.shape[0] == 1 and self._needs_shortcut_op(in_channels):
            # Batch-1 inference: subsample and zero-pad in one 1x1 convolution with a constant
            # [I | 0] kernel. Exact in float, and one delegated op in TFLite, where a strided
            # slice plus PAD run on reference kernels (16-25 us per shortcut from 32x32x16 in
            # two micro-benchmarks, a fifth to a quarter of a residual block; the conv ~3 us).
            kernel = np.zeros((1, 1, in_channels, self.out_channels), dtype="float32")
            kernel[0, 0, :, :in_channels] = np.eye(in_channels, dtype="float32")
            return ops.conv(x, ops.cast(kernel, x.dtype), strides=self.stride, padding="valid")
        if self.stride != 1:
            x = x[:, :: self.stride, :: self.stride, :]
        if in_channels != self.out_channels:
            x = ops.pad(x, [[0, 0], [0, 0], [0, 0], [0, self.out_channels - in_channels]])
        return x

    def _dense_branch(self, x, training, channel_multiplier=None):
        """All of the branch; `channel_multiplier` (batch, filters) scales conv1's output."""
        hidden = x
        last = len(self.convs) - 1
        for index, (conv, bn) in enumerate(zip(self.convs, self.bns, strict=True)):
            hidden = bn(conv(hidden), training=training)
            if index < last:
                hidden = ops.relu(hidden)
            if index == 0 and channel_multiplier is not None:
                hidden = hidden * channel_multiplier[:, None, None, :]
        return hidden

    def _grouped_branch(self, x, keeps, saliency_logits):
        """Batch-1 inference: each kept group's convolutions under their own `cond`.

        The inference-mode BatchNormalizations after conv1 and conv2 are folded
        into each group's weight slices (kernel * multiplier, bias), computed
        from the variables *inside* the branch so that the TFLite converter
        folds them into constant convolution weights with a fused bias and ReLU.
        The groups' conv2 outputs accumulate through the IFs: the first group's
        branch starts from bn2's shift (its bias), each later group adds to the
        running sum inside its own branch, and a skipped group passes the sum
        on, so no zero tensors and no separate ADDs sit between the IFs.
        """
        conv1, conv2 = self.convs[0], self.convs[1]
        bn1, bn2 = self.bns[0], self.bns[1]
        group_width = self.filters // self.channel_groups
        out_shape = (
            1,
            *conv2.compute_output_shape(conv1.compute_output_shape(tuple(x.shape)))[1:],
        )
        total = None
        for group in range(self.channel_groups):
            lo, hi = group * group_width, (group + 1) * group_width

            def run_group(lo=lo, hi=hi, group=group, total=total):
                mult1, add1 = _affine_from_bn(bn1)
                hidden = ops.conv(x, conv1.kernel[..., lo:hi] * mult1[lo:hi],
                                  strides=conv1.strides, padding="same")
                hidden = ops.relu(hidden + add1[lo:hi])
                # Under the gate's name: the int8 export keeps gate maths float (a quantized
                # scalar with a near-constant calibration range made int8 kernels abort).
                # A (1, 1) slice broadcasts; a scalar one would run on a reference kernel.
                with keras.name_scope(self.channel_gate_layer.name):
                    saliency = gate_ops.positive_saliency(saliency_logits[:, group:group + 1])
                hidden = hidden * saliency
                mult2, add2 = _affine_from_bn(bn2)
                partial = ops.conv(hidden, conv2.kernel[:, :, lo:hi, :] * mult2,
                                   strides=conv2.strides, padding="same")
                return partial + add2 if total is None else total + partial

            def skip_group(total=total):
                if total is None:
                    # zeros + bias folds to a constant (BROADCAST_TO would run per skip).
                    return ops.zeros(out_shape, x.dtype) + _affine_from_bn(bn2)[1]
                return total

            total = ops.cond(keeps[group], run_group, skip_group)
        hidden = total
        if self.block_type == "bottleneck":
            hidden = self.bns[2](self.convs[2](ops.relu(hidden)), training=False)
        return hidden

    def call(self, inputs, training=None, force_open=None):
        """Returns `(outputs, info)`.

        `info` holds per-image tensors, the same four in every mode (no None, so
        Functional models and `tf.nest` see one structure): `gate` (batch,) 1 if
        the block ran, `keep_prob` (batch,), `kept_groups` (batch,) channel groups
        computed (0 without a channel gate or when the block is skipped) and
        `group_mask` (batch, G): the kept groups on the batched path; zeros on the
        batch-1 deployment path, whose groups are chosen inside the IF branches
        (read `kept_groups` there); (batch, 0) without a channel gate.
        `force_open`, a scalar bool tensor, forces every gate open when true.
        """
        x = inputs
        batch = ops.shape(x)[0]
        ones = ops.ones((batch,), dtype=x.dtype)
        no_groups = ops.zeros((batch,), dtype=x.dtype)
        pooled = self.gate_pool(x) if self.gate_pool is not None else None
        shortcut = self._shortcut(x, training)

        gate_training = training and not self.deterministic_gates

        def channel_gate():
            return self.channel_gate_layer(pooled, training=gate_training, force_open=force_open)

        group_mask = None
        gated = self.gate_pool is not None
        if gated and not training and x.shape[0] == 1:
            # Batch-1 inference: the main graph holds only the gate network and the IF
            # predicate; everything a skipped block does not need (the block's scale, the
            # channel gate) runs inside the branch, and the branches themselves report
            # whether the block ran, so the exported IF really skips the work.
            keep, raw_scale, keep_prob = None, None, ones
            if self.block_gate_layer is not None:
                keep, raw_scale, keep_prob = self.block_gate_layer.decide(
                    pooled, force_open=force_open
                )

            # Constants the branches return are made inside them: a constant captured from
            # outside becomes one more IF input, resized and re-bound on every invoke.
            def run_block():
                kept_groups = ops.zeros((1,), dtype=x.dtype)
                if self.channel_gate_layer is not None:
                    keeps, logits, kept_groups = self.channel_gate_layer.decide(
                        pooled, force_open=force_open
                    )
                    branch = self._grouped_branch(x, keeps, logits)
                else:
                    branch = self._dense_branch(x, training=False)
                if raw_scale is not None:
                    # raw_scale is (1, 1): no scalar slice, which XNNPACK would leave to a
                    # reference kernel prepared again on every run of the branch.
                    with keras.name_scope(self.block_gate_layer.name):  # float in int8
                        scale = gate_ops.block_scale(raw_scale)
                    branch = branch * scale  # (1, 1) broadcasts over (1, H, W, C).
                return ops.relu(shortcut + branch), kept_groups, ops.ones((1,), dtype=x.dtype)

            def skip_block():
                zeros = ops.zeros((1,), dtype=x.dtype)
                if self.input_nonnegative and self.projection is None:
                    # Subsampling and zero padding keep x >= 0: ReLU is identity.
                    return shortcut, zeros, zeros
                return ops.relu(shortcut), zeros, zeros

            if keep is not None:
                outputs, kept_groups, ran = ops.cond(keep, run_block, skip_block)
            else:
                outputs, kept_groups, ran = run_block()
            info = {"gate": ran, "keep_prob": keep_prob, "kept_groups": kept_groups,
                    "group_mask": ops.zeros((1, self.channel_groups or 0), dtype=x.dtype)}
            return outputs, info

        block_out = None
        if self.block_gate_layer is not None:
            block_out = self.block_gate_layer(pooled, training=gate_training,
                                              force_open=force_open)
        channel_multiplier = None
        kept_groups = no_groups
        if self.channel_gate_layer is not None:
            channel_out = channel_gate()
            group_mask = channel_out["group_mask"]
            channel_multiplier = gate_ops.expand_group_mask(
                group_mask * channel_out["saliency"], self.filters
            )
            kept_groups = ops.sum(group_mask, axis=-1)
            if block_out is not None:
                # Groups computed: none when the block is skipped. The decision's gradient
                # reaches the block gate through the FLOPs term `gate * (...)` alone.
                kept_groups = kept_groups * ops.stop_gradient(block_out["gate"])
        branch = self._dense_branch(x, training, channel_multiplier)
        if block_out is not None:
            branch = branch * (block_out["gate"] * block_out["scale"])[:, None, None, None]
        elif gate_training and self.layer_drop:
            multiplier = gate_ops.drop_path_multiplier(
                batch, self.layer_drop, seed=self.drop_seed, dtype=branch.dtype
            )
            branch = branch * multiplier[:, None, None, None]
        outputs = ops.relu(shortcut + branch)

        info = {
            "gate": block_out["gate"] if block_out is not None else ones,
            "keep_prob": block_out["keep_prob"] if block_out is not None else ones,
            "kept_groups": kept_groups,
            "group_mask": group_mask if group_mask is not None else ops.zeros((batch, 0),
                                                                            dtype=x.dtype),
        }
        return outputs, info

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            stride=self.stride,
            block_type=self.block_type,
            shortcut=self.shortcut,
            block_gate=self.block_gate,
            channel_groups=self.channel_groups,
            channel_keep=self.channel_keep,
            gate_hidden=self.gate_hidden,
            init_keep_prob=self.init_keep_prob,
            gate_temperature=self.gate_temperature,
            gate_noise=self.gate_noise,
            layer_drop=self.layer_drop,
            stride_in_1x1=self.stride_in_1x1,
        )
        return config

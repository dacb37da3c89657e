"""A ResNet residual block (basic or bottleneck) with optional L-Net and C-Net gates."""

import math

import keras
from keras import ops

import lcnet_tf.deployment as deployment_graph
from lcnet_tf.layers.block_gate import BlockGate, check_plain_open_path
from lcnet_tf.layers.channel_gate import ChannelGate
from lcnet_tf.ops import gate_ops

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
        plain_open_path: with the gates forced open, the block also drops their
            multipliers (block scale and channel saliency 1): the forced-open block is
            the plain residual block. False (default) keeps them.
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
        plain_open_path=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.plain_open_path = check_plain_open_path(plain_open_path)
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
                plain_open_path=plain_open_path,
                name="block_gate",
            )
        self.channel_gate_layer = None
        self.keep_groups = 0
        if channel_groups:
            self.keep_groups = gate_ops.kept_group_count(self.channel_keep, channel_groups)
            self.channel_gate_layer = ChannelGate(
                channel_groups, self.keep_groups, hidden_units=gate_hidden,
                plain_open_path=plain_open_path, name="channel_gate",
            )
        self.projection = None
        self.projection_bn = None

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
    def _shortcut(self, x, training, deployment=False):
        if self.projection is not None:
            return self.projection_bn(self.projection(x), training=training)
        in_channels = x.shape[-1]
        if deployment and self._needs_shortcut_op(in_channels):
            return deployment_graph.zero_pad_shortcut(x, self.out_channels, self.stride)
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

    def call(self, inputs, training=None, force_open=None, deployment=False,
             input_nonnegative=False, decision_offset=None):
        """Returns `(outputs, info)`.

        `info` holds per-image tensors, the same four in every mode (no None, so
        Functional models and `tf.nest` see one structure): `gate` (batch,) 1 if
        the block ran, `keep_prob` (batch,), `kept_groups` (batch,) channel groups
        computed (0 without a channel gate or when the block is skipped) and
        `group_mask` (batch, G): the kept groups on the batched path; zeros on the
        batch-1 deployment path, whose groups are chosen inside the IF branches
        (read `kept_groups` there); (batch, 0) without a channel gate.
        `force_open`, a scalar bool tensor, forces every gate open when true.
        `deployment=True` runs the deployment graph (`lcnet_tf.deployment`: inference on
        one image, decisions as `cond`s that become TFLite IF ops);
        `input_nonnegative=True` there promises a ReLU output as input (a skipped block
        then returns its parameter-free shortcut without a ReLU).
        `decision_offset`, a scalar tensor, replaces the block gate's stored offset (the
        budget knob's run-time input; `BlockGate.call`).
        """
        x = inputs
        if deployment:
            deployment_graph.check_deployment_call(x, training)
        batch = ops.shape(x)[0]
        ones = ops.ones((batch,), dtype=x.dtype)
        no_groups = ops.zeros((batch,), dtype=x.dtype)
        pooled = self.gate_pool(x) if self.gate_pool is not None else None
        shortcut = self._shortcut(x, training, deployment)

        gate_training = training and not self.deterministic_gates

        def channel_gate():
            return self.channel_gate_layer(pooled, training=gate_training, force_open=force_open)

        group_mask = None
        gated = self.gate_pool is not None
        if gated and deployment:
            return deployment_graph.gated_block(self, x, pooled, shortcut, ones, force_open,
                                                input_nonnegative, decision_offset)

        block_out = None
        if self.block_gate_layer is not None:
            block_out = self.block_gate_layer(pooled, training=gate_training,
                                              force_open=force_open,
                                              decision_offset=decision_offset)
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
            plain_open_path=self.plain_open_path,
        )
        return config

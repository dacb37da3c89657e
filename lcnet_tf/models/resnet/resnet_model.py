"""ResNet backbones (CIFAR and ImageNet) with L-Net, C-Net or LC-Net gating."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

import lcnet_tf.compat as compat
import lcnet_tf.deployment as deployment_graph
from lcnet_tf.cost.cost_model import CostModel
from lcnet_tf.gate_control import gate_layers
from lcnet_tf.layers import GatedResidualBlock
from lcnet_tf.ops import budget_ops

GATINGS = ("none", "layer", "channel", "lc")
STEMS = ("cifar", "imagenet")
STEM_PADDINGS = ("same", "symmetric")
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _invalid(name, value, allowed):
    return ValueError(f"Invalid value for `{name}`: expected {allowed}. Received: {name}={value!r}")


@keras.saving.register_keras_serializable(package="lcnet_tf")
class GatedResNet(keras.Model):
    """A ResNet whose residual blocks can be skipped (L-Net) or thinned (C-Net) per image.

    Takes images as datasets give them: NHWC, 3 channels, uint8 or float pixels
    in 0-255; normalisation happens inside. `call` returns logits, or
    `(logits, info)` with `return_gate_info=True`, where `info` holds per-image
    tensors over blocks: `gate`, `keep_prob`, `kept_groups` (batch, blocks)
    and `realized_flops` (batch,).

    Inference applies each image's hard decisions. A static batch of 1 in
    inference runs gated work behind `cond` (TFLite IF branches); any other
    batch multiplies by the decisions.

    Args:
        stage_blocks: residual blocks per stage, e.g. (3, 3, 3) for ResNet-20.
        stage_widths: block width per stage.
        block_type: "basic" or "bottleneck".
        stem: "cifar" (3x3 conv) or "imagenet" (7x7/2 conv + 3x3/2 max-pool).
        stem_padding: padding of the "imagenet" stem: "same" (TensorFlow's, the
            default) or "symmetric" (3 and 1 pixels on every side, as torchvision
            and keras.applications pad; `from_keras_application` sets it).
        shortcut: "zero_pad" or "projection" for blocks that change shape.
        image_size: input height and width.
        num_classes: classifier outputs.
        gating: "none", "layer" (L-Net), "channel" (C-Net) or "lc" (both).
        channel_groups: G channel groups per C-Net gated block.
        channel_keep: fraction of groups each image keeps (top-k).
        channel_gate_stages: stage indices (0-based) with C-Net gates; None for all.
        gate_downsampling: whether blocks that change shape (the first block of a
            stage, whose shortcut subsamples, pads or projects) get an L-Net gate.
            False (default) keeps them always on, as SkipNet and ConvNet-AIG do:
            on CIFAR-10 at budget 0.5 this gave 77.3% against 74.0% with every
            block gated (docs/results.md).
        gate_hidden: hidden width of every gate network.
        init_keep_prob: initial keep probability of the L-Net gates.
        gate_temperature: training temperature of the L-Net relaxation.
        gate_noise: logistic exploration noise on L-Net gates in training.
        pixel_mean, pixel_std: per-channel normalisation in 0-1 units.
        budget: target ratio of mean realized FLOPs (gates included) to backbone
            FLOPs, 0 < budget <= 1, or None for no FLOPs penalty in training.
        budget_weight: multiplier of the budget penalty
            (`lcnet_tf.ops.budget_ops.budget_penalty`), a float >= 0 or a
            schedule of the step (e.g. `budget_ops.LinearWarmup`).
        target_rate_weight: weight of the per-block target-rate term
            (`budget_ops.target_rate_loss`), a float >= 0 or a schedule.
        budget_warmup_steps: budget curriculum: the budget the penalties aim at
            starts at 1.0 (every block run) and tightens linearly to `budget`
            over this many training steps (0: the budget from the first step).
        stride_in_1x1: bottleneck blocks stride in their first 1x1 convolution
            (ResNet v1, keras.applications) instead of the 3x3 (v1.5, default).
        layer_drop: stochastic depth of the blocks an L-Net may gate (those
            that keep their shape, or all with `gate_downsampling`) while they
            have no block gate, i.e. in a static backbone (`gating="none"`):
            each image skips each such block with this probability in training.
        plain_open_path: with every gate forced open (`force_gates_open=True`, or
            `set_gate_override(model, "open")`), also drop the gates' multipliers (the
            L-Net block scale and the C-Net channel saliency are 1): the forced-open
            network is the plain backbone, as a static ResNet computes it. False
            (default) keeps the learned multipliers in it. Self-distillation then
            trains the plain backbone as its teacher (docs/design.md).

    Training (`fit`) minimises task loss + budget penalty + target-rate term
    and reports `flops_ratio` (realized, hard decisions), `task_loss`,
    `budget_loss` and `rate_loss` beside the compiled metrics; `evaluate`
    reports the same without adding the penalties to `loss`.
    `compile(..., budget=0.3)` overrides the budget.
    """

    def __init__(
        self,
        stage_blocks,
        stage_widths,
        block_type="basic",
        stem="cifar",
        shortcut="zero_pad",
        image_size=32,
        num_classes=10,
        gating="lc",
        channel_groups=4,
        channel_keep=0.5,
        channel_gate_stages=None,
        gate_downsampling=False,
        gate_hidden=16,
        init_keep_prob=0.95,
        gate_temperature=1.0,
        gate_noise=True,
        pixel_mean=CIFAR10_MEAN,
        pixel_std=CIFAR10_STD,
        budget=None,
        budget_weight=1.0,
        target_rate_weight=5.0,
        budget_warmup_steps=0,
        layer_drop=0.0,
        stride_in_1x1=False,
        stem_padding="same",
        plain_open_path=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if gating not in GATINGS:
            raise _invalid("gating", gating, f"one of {GATINGS}")
        if stem not in STEMS:
            raise _invalid("stem", stem, f"one of {STEMS}")
        if stem_padding not in STEM_PADDINGS:
            raise _invalid("stem_padding", stem_padding, f"one of {STEM_PADDINGS}")
        if not isinstance(stride_in_1x1, bool | np.bool_) or (stride_in_1x1
                                                               and block_type != "bottleneck"):
            raise _invalid("stride_in_1x1", stride_in_1x1,
                           "True or False, and True only with block_type='bottleneck'")
        if len(stage_blocks) != len(stage_widths) or not stage_blocks:
            raise _invalid(
                "stage_blocks", stage_blocks, f"one entry per stage width {tuple(stage_widths)}"
            )
        if not (isinstance(num_classes, int) and num_classes > 0):
            raise _invalid("num_classes", num_classes, "a positive int")
        if not (isinstance(image_size, int) and image_size >= 8):
            raise _invalid("image_size", image_size, "an int >= 8")
        self.stage_blocks = tuple(int(n) for n in stage_blocks)
        self.stage_widths = tuple(int(w) for w in stage_widths)
        self.block_type = block_type
        self.stem = stem
        self.stem_padding = stem_padding
        self.stride_in_1x1 = bool(stride_in_1x1)
        self.shortcut = shortcut
        self.image_size = image_size
        self.num_classes = num_classes
        self.gating = gating
        self.channel_groups = channel_groups
        self.channel_keep = channel_keep
        self.channel_gate_stages = (
            None if channel_gate_stages is None else tuple(int(s) for s in channel_gate_stages)
        )
        if not isinstance(gate_downsampling, bool | np.bool_):
            raise _invalid("gate_downsampling", gate_downsampling, "True or False")
        self.gate_downsampling = bool(gate_downsampling)
        self.gate_hidden = gate_hidden
        self.init_keep_prob = init_keep_prob
        self.gate_temperature = gate_temperature
        self.gate_noise = gate_noise
        for name, values in (("pixel_mean", pixel_mean), ("pixel_std", pixel_std)):
            if np.shape(values) != (3,) or (name == "pixel_std" and min(values) <= 0):
                raise _invalid(name, values, "3 per-channel values (RGB)"
                               + (", all > 0" if name == "pixel_std" else ""))
        self.pixel_mean = tuple(float(v) for v in pixel_mean)
        self.pixel_std = tuple(float(v) for v in pixel_std)
        self.budget = _check_budget(budget)
        self.budget_weight = _check_weight("budget_weight", budget_weight)
        self.target_rate_weight = _check_weight("target_rate_weight", target_rate_weight)
        if isinstance(budget_warmup_steps, bool) or not isinstance(
            budget_warmup_steps, int | np.integer
        ) or budget_warmup_steps < 0:
            raise _invalid("budget_warmup_steps", budget_warmup_steps, "an int >= 0")
        self.budget_warmup_steps = int(budget_warmup_steps)
        if isinstance(layer_drop, bool) or not isinstance(layer_drop, int | float) or not (
            0.0 <= layer_drop < 1.0
        ):
            raise _invalid("layer_drop", layer_drop, "0 <= layer_drop < 1")
        self.layer_drop = float(layer_drop)
        if not isinstance(plain_open_path, bool | np.bool_):
            raise _invalid("plain_open_path", plain_open_path, "True or False")
        self.plain_open_path = bool(plain_open_path)
        self._distillation = None  # (teacher, weight, temperature), set by `compile`.
        self._self_distill = None  # (weight, temperature), set by `compile`.

        use_block_gates = gating in ("layer", "lc")
        use_channel_gates = gating in ("channel", "lc")
        if use_channel_gates:
            stages = range(len(self.stage_widths))
            if self.channel_gate_stages is not None:
                bad = [s for s in self.channel_gate_stages if s not in stages]
                if bad:
                    raise _invalid(
                        "channel_gate_stages", channel_gate_stages,
                        f"stage indices in 0..{len(self.stage_widths) - 1}",
                    )
            if not (isinstance(channel_groups, int) and channel_groups > 0):
                raise _invalid("channel_groups", channel_groups, "a positive int")
            for stage in self.channel_gate_stages or stages:
                if self.stage_widths[stage] % channel_groups:
                    raise _invalid(
                        "channel_groups", channel_groups,
                        f"a divisor of every gated stage width {self.stage_widths} "
                        f"(stage {stage} has {self.stage_widths[stage]} channels)",
                    )

        if stem == "cifar":
            self.stem_layers = [
                keras.layers.Conv2D(self.stage_widths[0], 3, padding="same", use_bias=False,
                                    kernel_initializer="he_normal", name="stem_conv"),
                keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name="stem_bn"),
                keras.layers.ReLU(name="stem_relu"),
            ]
        elif stem_padding == "same":
            self.stem_layers = [
                keras.layers.Conv2D(64, 7, strides=2, padding="same", use_bias=False,
                                    kernel_initializer="he_normal", name="stem_conv"),
                keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name="stem_bn"),
                keras.layers.ReLU(name="stem_relu"),
                keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool"),
            ]
        else:
            # Padding 3 and 1 on every side (torchvision, keras.applications) instead of
            # TensorFlow's "same", which pads one pixel less before the first row/column
            # at stride 2: same output sizes, a grid shifted by one input pixel.
            self.stem_layers = [
                keras.layers.ZeroPadding2D(3, name="stem_pad"),
                keras.layers.Conv2D(64, 7, strides=2, padding="valid", use_bias=False,
                                    kernel_initializer="he_normal", name="stem_conv"),
                keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name="stem_bn"),
                keras.layers.ReLU(name="stem_relu"),
                # Zeros equal -inf padding here: the pool's inputs are ReLU outputs (>= 0).
                keras.layers.ZeroPadding2D(1, name="stem_pool_pad"),
                keras.layers.MaxPooling2D(3, strides=2, padding="valid", name="stem_pool"),
            ]
        self.blocks = []
        in_channels = self.stage_widths[0] if stem == "cifar" else 64
        expansion = 4 if block_type == "bottleneck" else 1
        for stage, (num_blocks, width) in enumerate(
            zip(self.stage_blocks, self.stage_widths, strict=True)
        ):
            channel_gated = use_channel_gates and (
                self.channel_gate_stages is None or stage in self.channel_gate_stages
            )
            for index in range(num_blocks):
                stride = 2 if index == 0 and stage > 0 else 1
                changes_shape = stride != 1 or in_channels != width * expansion
                in_channels = width * expansion
                self.blocks.append(
                    GatedResidualBlock(
                        width,
                        stride=stride,
                        block_type=block_type,
                        shortcut=shortcut,
                        block_gate=use_block_gates and (self.gate_downsampling
                                                        or not changes_shape),
                        channel_groups=channel_groups if channel_gated else None,
                        channel_keep=channel_keep,
                        gate_hidden=gate_hidden,
                        init_keep_prob=init_keep_prob,
                        gate_temperature=gate_temperature,
                        gate_noise=gate_noise,
                        layer_drop=self.layer_drop if (self.gate_downsampling
                                                       or not changes_shape) else 0.0,
                        stride_in_1x1=self.stride_in_1x1,
                        plain_open_path=self.plain_open_path,
                        name=f"stage{stage + 1}_block{index + 1}",
                    )
                )
        self.head_pool = keras.layers.GlobalAveragePooling2D(name="head_pool")
        self.classifier = keras.layers.Dense(num_classes, name="classifier")
        self.build((None, image_size, image_size, 3))

    # Build and cost description ---------------------------------------------------------------
    def build(self, input_shape):
        if self.built:
            return
        self._fixed_items = []
        shape = (None, *tuple(input_shape)[1:])
        for layer in self.stem_layers:
            layer.build(shape)
            self._fixed_items.append((layer, shape))
            shape = layer.compute_output_shape(shape)
        for block in self.blocks:
            block.build(shape)
            shape = block.output_feature_shape(shape)
        self.head_pool.build(shape)
        self._fixed_items.append((self.head_pool, shape))
        pooled = self.head_pool.compute_output_shape(shape)
        self.classifier.build(pooled)
        self._fixed_items.append((self.classifier, pooled))
        self.built = True
        self.cost = CostModel.from_model(self)
        self.cost_table = self.cost.table  # The raw table (`lcnet_tf.flops.cost_table`).
        self._prepare_budget_terms()

    def export_contract(self):
        """What the exporter must know about this model's batch-1 graph
        (`lcnet_tf.deployment.ExportContract`)."""
        return deployment_graph.export_contract(self)

    # The dynamic-model contract (shared with `Cascade`; docs/design.md, "One contract") ----
    @property
    def reference_flops(self):
        """The FLOPs a `budget` of this model is a fraction of by default: its backbone's."""
        return int(self.cost.backbone)

    def flops_range(self):
        """`(lowest, highest)` mean FLOPs per image calibration can reach (the block-gate
        threshold moved from every gated block skipped to every one run, channel gates at
        their top-k; a static network: its one cost)."""
        low, high = self.cost.decision_range()
        return low * self.cost.backbone, high * self.cost.backbone

    def decision_units(self):
        """`(name, kind, gated)` of every column of `info["gate"]`: one per block."""
        return [(block.name, "block", bool(block.block_gate or block.channel_groups))
                for block in self.blocks]

    def _block_gates(self):
        return [block.block_gate_layer for block in self.blocks
                if getattr(block, "block_gate_layer", None) is not None]

    def decision_names(self):
        """Names of the run-time decision values (`call(..., decisions=)`, the budget knob
        signature's input; docs/tflite_signature.md): `["offset"]`, the one offset added
        to every block gate's keep logit, with block gates; `[]` without (nothing moves
        the cost at run time)."""
        return ["offset"] if self._block_gates() else []

    def decision_values(self):
        """The stored decision values, in `decision_names()` order (what `calibrate`
        wrote: one offset shared by every block gate)."""
        gates = self._block_gates()
        if not gates:
            return []
        offsets = {float(ops.convert_to_numpy(gate.decision_offset)) for gate in gates}
        if len(offsets) > 1:
            raise ValueError(
                f"The block gates of {self.name!r} hold different decision offsets "
                f"{sorted(offsets)}; a budget knob needs the one shared offset `calibrate` "
                "writes. Calibrate the model (lcnet_tf.training.calibrate) first."
            )
        return [offsets.pop()]

    def set_decision_values(self, values):
        """Stores decision values (`decision_names()` order) in the model's gates."""
        values = deployment_graph.check_decision_values(values, self.decision_names())
        for gate in self._block_gates():
            gate.decision_offset.assign(values[0])

    # Every block reads a ReLU output (the stem's or the previous block's).
    _block_inputs_nonnegative = True

    def fixed_cost_items(self):
        """`(layer, input_shape)` of the layers every image runs outside the blocks."""
        return list(self._fixed_items)

    # Forward ----------------------------------------------------------------------------------
    def _check_inputs(self, inputs):
        """Checks rank, size and channels (and the dtype); returns the inputs.

        Static dimensions are checked at once (ValueError). Dimensions unknown while
        tracing (Keras retraces `predict`/`evaluate`/`fit` with relaxed spatial sizes
        after the first call; a user's `tf.function` may too) are checked on the real
        tensor, so a wrong size fails there with the same message (InvalidArgumentError)
        instead of producing logits.
        """
        shape = tuple(inputs.shape)
        expected = (self.image_size, self.image_size, 3)
        message = (
            "Invalid value for `inputs`: expected a batch of images of shape "
            f"(batch, {self.image_size}, {self.image_size}, 3), NHWC pixels in 0-255. "
        )
        if len(shape) != 4 or shape[-1] != 3 or any(
            got is not None and got != want for got, want in zip(shape[1:], expected, strict=True)
        ):
            raise ValueError(message + f"Received: inputs.shape={shape}")
        dtype = keras.backend.standardize_dtype(inputs.dtype)
        if dtype == "bool" or not (dtype.startswith(("float", "int", "uint"))
                                   or dtype == "bfloat16"):
            raise ValueError(
                "Invalid value for `inputs`: expected integer or float pixels in 0-255 "
                f"(uint8 as datasets give them, or float). Received: inputs.dtype={dtype}"
            )
        if all(dim is not None for dim in shape[1:]) or isinstance(inputs, keras.KerasTensor):
            return inputs
        check = tf.debugging.assert_equal(
            tf.shape(inputs)[1:], tf.constant(expected, tf.int32),
            message=message + "Received another shape (below)", summarize=4,
        )
        with tf.control_dependencies([check]):
            return tf.identity(inputs)

    def _normalize(self, x, deployment):
        mean = np.asarray(self.pixel_mean, "float32") * 255.0
        std = np.asarray(self.pixel_std, "float32") * 255.0
        if deployment:
            return deployment_graph.normalize(x, mean, std)
        return (x - ops.convert_to_tensor(mean)) / ops.convert_to_tensor(std)

    def call(self, inputs, training=None, return_gate_info=False, force_gates_open=None,
             deployment=False, decisions=None):
        """Logits, and with `return_gate_info` the per-image decisions and realized FLOPs.

        `deployment=True` runs the deployment graph (`lcnet_tf.deployment`), as the TFLite
        export does: inference on one image (static batch 1), each gate a `cond` (an IF op
        in TFLite), the same function as the batched path. Otherwise every mode, any batch
        size, computes the whole network and multiplies by the decisions.
        `decisions`: a (D,) tensor of decision values (`decision_names()`) used instead of
        the stored ones, for every image (the budget knob's run-time input).
        """
        inputs = self._check_inputs(inputs)
        offset = None
        if decisions is not None:
            decisions = deployment_graph.check_decision_tensor(decisions, self.decision_names())
            offset = decisions[0]
        if deployment:
            deployment_graph.check_deployment_call(inputs, training)
        x = self._normalize(ops.cast(inputs, "float32"), deployment)
        for layer in self.stem_layers:
            x = layer(x, training=training)
        infos = []
        for block in self.blocks:
            x, info = block(x, training=training, force_open=force_gates_open,
                            deployment=deployment,
                            input_nonnegative=deployment and self._block_inputs_nonnegative,
                            decision_offset=offset)
            infos.append(info)
        logits = self.classifier(self.head_pool(x))
        if not return_gate_info:
            return logits
        gate = ops.stack([info["gate"] for info in infos], axis=1)
        kept_groups = ops.stack([info["kept_groups"] for info in infos], axis=1)
        realized = self.cost.realized(gate, kept_groups)
        gate_info = {
            "gate": gate,
            "keep_prob": ops.stack([info["keep_prob"] for info in infos], axis=1),
            "kept_groups": kept_groups,
            "realized_flops": realized,
        }
        return logits, gate_info

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    # Config -----------------------------------------------------------------------------------
    def get_config(self):
        config = super().get_config()  # name, trainable, dtype
        return {
            **config,
            "stage_blocks": list(self.stage_blocks),
            "stage_widths": list(self.stage_widths),
            "block_type": self.block_type,
            "stem": self.stem,
            "stem_padding": self.stem_padding,
            "stride_in_1x1": self.stride_in_1x1,
            "shortcut": self.shortcut,
            "image_size": self.image_size,
            "num_classes": self.num_classes,
            "gating": self.gating,
            "channel_groups": self.channel_groups,
            "channel_keep": self.channel_keep,
            "channel_gate_stages": (
                None if self.channel_gate_stages is None else list(self.channel_gate_stages)
            ),
            "gate_downsampling": self.gate_downsampling,
            "gate_hidden": self.gate_hidden,
            "init_keep_prob": self.init_keep_prob,
            "gate_temperature": self.gate_temperature,
            "gate_noise": self.gate_noise,
            "pixel_mean": list(self.pixel_mean),
            "pixel_std": list(self.pixel_std),
            "budget": self.budget,
            "budget_weight": _serialize_weight(self.budget_weight),
            "target_rate_weight": _serialize_weight(self.target_rate_weight),
            "budget_warmup_steps": self.budget_warmup_steps,
            "layer_drop": self.layer_drop,
            "plain_open_path": self.plain_open_path,
        }

    @classmethod
    def from_config(cls, config):
        # Models saved before `gate_downsampling` existed gated every block.
        return cls(**{"gate_downsampling": True, **config})

    # FLOPs-aware training -----------------------------------------------------------------
    def compile(self, *args, budget="unchanged", teacher=None, distill_weight=0.5,
                distill_temperature=4.0, self_distill_weight=0.0, gated_grad_scale=1.0,
                backbone_grad_scale=1.0, **kwargs):
        """`keras.Model.compile`, plus an optional `budget` override and distillation.

        Args:
            budget: float or None overrides the model's budget.
            teacher: optional Keras model (e.g. the static backbone this model was
                built from). Training then minimises
                `(1 - distill_weight) * loss + distill_weight * T^2 * KL(teacher_T || self_T)`
                (Hinton et al. 2015, softmax at temperature T = `distill_temperature`);
                the teacher runs in inference mode and is not trained or saved.
                The `task_loss` metric then reports this mixed loss.
            distill_weight: weight of the distillation term, 0 <= weight <= 1.
            distill_temperature: softmax temperature T > 0.
            self_distill_weight: w > 0 turns on self-distillation (the sandwich rule of
                slimmable networks, Yu & Huang 2019, with the full network as the
                teacher): every step also runs the full network (every gate forced
                open) on the same batch and adds its task loss, and the gated network
                learns `(1 - w) * loss + w * T^2 * KL(full_T || gated_T)` (the full
                network's logits as a fixed target). The backbone is then trained as a
                static network on every step while the gates learn to approximate it;
                each step costs a second forward and backward pass, and BatchNorm's
                moving statistics mix both paths (recompute them for the gated network
                after training). Not combined with `teacher`. 0 <= w <= 1.
            gated_grad_scale: with self-distillation, the gated network's gradient into
                the backbone (every weight but the L-Net and C-Net gates') is multiplied
                by this, 0 <= scale <= 1. 1 is the plain sandwich rule; below 1 the
                backbone learns more from the full network and less from the gated
                one (0: the gated loss trains the gates only). Measured at 0.5 on
                CIFAR-10: worse than 1 (docs/results.md). The two paths' gradients
                are then taken apart (same cost: their graphs only share weights).
            backbone_grad_scale: with self-distillation, the backbone's whole gradient
                (full path + `gated_grad_scale` x gated path) is multiplied by this,
                0 < scale <= 1; the gates' gradient is not. Two paths' losses summed
                give the backbone about twice a static network's step at the same
                learning rate and weight decay: 0.5 makes its step their mean, the
                step of static training. 1 (the default) keeps the sum.
            *args, **kwargs: as `keras.Model.compile`.
        """
        if budget != "unchanged":
            self.budget = _check_budget(budget)
        if isinstance(self_distill_weight, bool) or not isinstance(
            self_distill_weight, int | float
        ) or not 0.0 <= self_distill_weight <= 1.0:
            raise _invalid("self_distill_weight", self_distill_weight,
                           "0 <= self_distill_weight <= 1")
        if self_distill_weight and teacher is not None:
            raise _invalid("self_distill_weight", self_distill_weight,
                           "0 when a `teacher` is given (distil from one or the other)")
        if self_distill_weight and self.gating == "none":
            raise _invalid("self_distill_weight", self_distill_weight,
                           "0 for a static model (gating='none': no gated path to distil)")
        if (teacher is not None or self_distill_weight) and (
            isinstance(distill_temperature, bool) or not distill_temperature > 0
        ):
            raise _invalid("distill_temperature", distill_temperature, "a number > 0")
        if isinstance(gated_grad_scale, bool) or not isinstance(
            gated_grad_scale, int | float
        ) or not 0.0 <= gated_grad_scale <= 1.0:
            raise _invalid("gated_grad_scale", gated_grad_scale, "0 <= gated_grad_scale <= 1")
        if gated_grad_scale != 1.0 and not self_distill_weight:
            raise _invalid("gated_grad_scale", gated_grad_scale,
                           "1 without self-distillation (self_distill_weight=0: the gated "
                           "loss is the backbone's only teacher)")
        if isinstance(backbone_grad_scale, bool) or not isinstance(
            backbone_grad_scale, int | float
        ) or not 0.0 < backbone_grad_scale <= 1.0:
            raise _invalid("backbone_grad_scale", backbone_grad_scale,
                           "0 < backbone_grad_scale <= 1")
        if backbone_grad_scale != 1.0 and not self_distill_weight:
            raise _invalid("backbone_grad_scale", backbone_grad_scale,
                           "1 without self-distillation (self_distill_weight=0: one path, "
                           "scale the learning rate instead)")
        self._self_distill = _SelfDistillation(
            float(self_distill_weight), float(distill_temperature), float(gated_grad_scale),
            float(backbone_grad_scale),
        ) if self_distill_weight else None
        if teacher is not None:
            if isinstance(distill_weight, bool) or not 0.0 <= distill_weight <= 1.0:
                raise _invalid("distill_weight", distill_weight, "0 <= distill_weight <= 1")
            teacher.trainable = False
            # Held in a plain object: Keras tracks a model (or a list holding one) assigned
            # to an attribute as a sublayer, and would save the teacher's weights with ours.
            self._distillation = _Distillation(teacher, float(distill_weight),
                                               float(distill_temperature))
        else:
            self._distillation = None
        super().compile(*args, **kwargs)

    def compile_from_config(self, config):
        # Keras skips this for models with a custom `compile`; ours only adds `budget`,
        # which lives in the model config, so the saved compile config applies as is.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if getattr(self, "optimizer", None) is not None and self.built:
            self.optimizer.build(self.trainable_variables)

    def _prepare_budget_terms(self):
        self.block_gated = self.cost.block_gated.astype(np.float64)
        self._budget_metrics = {
            name: keras.metrics.Mean(name=name)
            for name in ("flops_ratio", "task_loss", "budget_loss", "rate_loss")
        }

    def budget_at(self, step):
        """The budget the penalties aim at on training `step` (the curriculum, if any)."""
        if not self.budget_warmup_steps:
            return ops.convert_to_tensor(self.budget, "float32")
        progress = ops.minimum(
            ops.cast(step, "float32") / float(self.budget_warmup_steps), 1.0
        )
        return 1.0 + (self.budget - 1.0) * progress

    def target_rate(self, budget=None):
        """Uniform execution rate r* of the gated blocks meeting `budget` (default: the model's)."""
        budget = self.budget if budget is None else budget
        if isinstance(budget, int | float | np.floating):
            budget = float(budget)
        return self.cost.uniform_target_rate(budget)

    def gate_losses(self, gate_info, step=None):
        """Budget penalty, target-rate term and per-image realized FLOPs ratio of a batch.

        Args:
            gate_info: the `info` dict of `model(x, return_gate_info=True)`.
            step: training step for scheduled weights (default: optimizer step or 0).

        Returns:
            `(budget_loss, rate_loss, flops_ratio)`: two scalars (0 when `budget`
            is None or nothing is gated) and a (batch,) tensor.
        """
        ratio = self.cost.ratio(gate_info["gate"], gate_info["kept_groups"])
        zero = ops.zeros((), dtype=ratio.dtype)
        if self.budget is None or self.gating == "none":
            return zero, zero, ratio
        if step is None:
            step = self.optimizer.iterations if getattr(self, "optimizer", None) else 0
        budget = self.budget_at(step)
        budget_loss = _weight_at(self.budget_weight, step) * budget_ops.budget_penalty(
            ratio, budget
        )
        rate_loss = zero
        if self.block_gated.any():
            rate_loss = _weight_at(self.target_rate_weight, step) * budget_ops.target_rate_loss(
                gate_info["keep_prob"], self.target_rate(budget), self.block_gated
            )
        return budget_loss, rate_loss, ratio

    def _update_step_metrics(self, x, loss, task_loss, budget_loss, rate_loss, ratio):
        batch_size = ops.shape(ratio)[0]
        replicas = _num_replicas()
        tracker = compat.loss_tracker(self)
        if tracker is not None:
            tracker.update_state(loss * replicas, sample_weight=batch_size)
        metrics = self._budget_metrics
        metrics["task_loss"].update_state(task_loss * replicas, sample_weight=batch_size)
        metrics["budget_loss"].update_state(budget_loss, sample_weight=batch_size)
        metrics["rate_loss"].update_state(rate_loss, sample_weight=batch_size)
        metrics["flops_ratio"].update_state(ratio)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):  # compat.MAYBE_SYMBOLIC_BUILD
        # Workaround for keras-team/keras#20585 (Keras 3 `fit` under MultiWorkerMirroredStrategy):
        # Keras reduces the first distributed batch with `strategy.reduce`, which fails across
        # workers for a nested (images, labels) batch. The batch only provides shapes for the
        # symbolic build, so take this worker's local copy instead (Keras consumes it too).
        strategy = self.distribute_strategy
        if (iterator is not None and data_batch is None
                and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)):
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(
                    lambda value: strategy.experimental_local_results(value)[0], next(batches)
                )
                break
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        settings = self._self_distill
        split = settings is not None and settings.gated_grad_scale != 1.0
        with tf.GradientTape(persistent=split) as tape:
            logits, gate_info = self(x, training=True, return_gate_info=True)
            # `compute_loss` returns the task loss already divided by the replica count.
            task_loss = self.compute_loss(
                x=x, y=y, y_pred=logits, sample_weight=sample_weight, training=True
            )
            if self._distillation is not None:
                task_loss = self._distilled_loss(x, logits, task_loss)
            full_loss = 0.0
            if self._self_distill is not None:
                full_loss, task_loss = self._self_distilled_loss(
                    x, y, sample_weight, logits, task_loss
                )
            budget_loss, rate_loss, ratio = self.gate_losses(gate_info)
            gated_loss = task_loss + (budget_loss + rate_loss) / _num_replicas()
            loss = full_loss + gated_loss
            self._update_step_metrics(x, loss, full_loss + task_loss, budget_loss, rate_loss,
                                      ratio)
            if self.optimizer is not None:
                loss = self.optimizer.scale_loss(loss)
                if split:
                    full_loss = self.optimizer.scale_loss(full_loss)
                    gated_loss = self.optimizer.scale_loss(gated_loss)
        trainable_weights = self.trainable_weights
        if split:
            gradients = self._split_gradients(tape, full_loss, gated_loss, trainable_weights)
            del tape
        else:
            gradients = tape.gradient(loss, trainable_weights)
        if settings is not None and settings.backbone_grad_scale != 1.0:
            gradients = self._scale_backbone_gradients(
                gradients, trainable_weights, settings.backbone_grad_scale
            )
        self.optimizer.apply_gradients(zip(gradients, trainable_weights, strict=True))
        return self._step_logs(self.compute_metrics(x, y, logits, sample_weight=sample_weight))

    def gate_variables(self):
        """The trainable weights of the L-Net and C-Net gates (not the backbone's)."""
        return [weight for gate in gate_layers(self) for weight in gate.trainable_weights]

    def _split_gradients(self, tape, full_loss, gated_loss, weights):
        # full + scale * gated for the backbone, full + gated for the gates (the full path
        # uses their block scales and channel saliency too, unless `plain_open_path`).
        full = tape.gradient(full_loss, weights)
        gated = self._scale_backbone_gradients(
            tape.gradient(gated_loss, weights), weights, self._self_distill.gated_grad_scale
        )
        return [from_gated if from_full is None else from_full if from_gated is None
                else from_full + from_gated
                for from_full, from_gated in zip(full, gated, strict=True)]

    def _scale_backbone_gradients(self, gradients, weights, scale):
        """`gradients` with every non-gate weight's multiplied by `scale`."""
        gate_ids = {id(weight) for weight in self.gate_variables()}
        return [gradient if gradient is None or id(weight) in gate_ids else gradient * scale
                for weight, gradient in zip(weights, gradients, strict=True)]

    def _distilled_loss(self, x, logits, task_loss):
        teacher, weight, temperature = self._distillation
        teacher_logits = ops.stop_gradient(teacher(x, training=False))
        distill = budget_ops.distillation_loss(logits, teacher_logits, temperature)
        return (1.0 - weight) * task_loss + weight * distill / _num_replicas()

    def _self_distilled_loss(self, x, y, sample_weight, logits, task_loss):
        """(the full network's task loss, the gated network's loss)."""
        weight, temperature = self._self_distill.weight, self._self_distill.temperature
        full_logits = self(x, training=True, force_gates_open=True)
        full_loss = self.compute_loss(
            x=x, y=y, y_pred=full_logits, sample_weight=sample_weight, training=True
        )
        distill = budget_ops.distillation_loss(
            logits, ops.stop_gradient(full_logits), temperature
        )
        return full_loss, (1.0 - weight) * task_loss + weight * distill / _num_replicas()

    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        logits, gate_info = self(x, training=False, return_gate_info=True)
        task_loss = self.compute_loss(
            x=x, y=y, y_pred=logits, sample_weight=sample_weight, training=False
        )
        budget_loss, rate_loss, ratio = self.gate_losses(gate_info)
        self._update_step_metrics(x, task_loss, task_loss, budget_loss, rate_loss, ratio)
        return self._step_logs(self.compute_metrics(x, y, logits, sample_weight=sample_weight))

    def _step_logs(self, logs):
        # Keras 3 reduces step logs across workers with `reduce("MEAN", v, axis=0)`, which
        # fails for scalars under MultiWorkerMirroredStrategy (keras-team/keras#20585):
        # give it one-element vectors, whose mean over workers is a scalar again.
        if isinstance(self.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return {name: ops.reshape(value, (1,)) for name, value in logs.items()}
        return logs


class _SelfDistillation:
    """Self-distillation settings of `GatedResNet.compile`."""

    def __init__(self, weight, temperature, gated_grad_scale, backbone_grad_scale):
        self.weight, self.temperature = weight, temperature
        self.gated_grad_scale = gated_grad_scale
        self.backbone_grad_scale = backbone_grad_scale


class _Distillation:
    """(teacher, weight, temperature), in an object Keras's attribute tracking ignores."""

    def __init__(self, teacher, weight, temperature):
        self.teacher, self.weight, self.temperature = teacher, weight, temperature

    def __iter__(self):
        return iter((self.teacher, self.weight, self.temperature))


def _num_replicas():
    return float(tf.distribute.get_strategy().num_replicas_in_sync)


def _check_budget(budget):
    if budget is None:
        return None
    if isinstance(budget, bool) or not isinstance(budget, int | float | np.floating) or not (
        0.0 < budget <= 1.0
    ):
        raise _invalid("budget", budget, "0 < budget <= 1 (or None for no FLOPs penalty)")
    return float(budget)


def _check_weight(name, weight):
    if isinstance(weight, dict):
        weight = keras.saving.deserialize_keras_object(weight)
    if isinstance(weight, keras.optimizers.schedules.LearningRateSchedule):
        return weight
    if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
        raise _invalid(name, weight, "a float >= 0 or a schedule of the step")
    return float(weight)


def _serialize_weight(weight):
    if isinstance(weight, keras.optimizers.schedules.LearningRateSchedule):
        return keras.saving.serialize_keras_object(weight)
    return weight


def _weight_at(weight, step):
    if isinstance(weight, keras.optimizers.schedules.LearningRateSchedule):
        return ops.cast(weight(step), "float32")
    return weight

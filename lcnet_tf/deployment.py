"""The deployment graph: the batch-1 inference graph exported to TFLite, and its contract.

`GatedResNet(..., deployment=True)` (what the export's serving function calls; inference, one
image) runs the code below instead of the batched path: block and channel-group decisions
become `cond`s, i.e. TFLite IF ops over static-weight sub-graphs, so skipped work is not
executed; the zero-padding shortcut and the input normalization are single 1x1 convolutions.
Why each detail: docs/design.md, "Two execution paths, one function". Both paths compute the
same function (parity tests in tests/models and tests/export).

The graph makes promises the exporter checks and relies on. They are published here as an
`ExportContract`, computed from the model itself, instead of being re-derived in the exporter:

- `if_ops`: one IF per block with a block gate, plus one per channel group of every block
  with a channel gate (fewer means gated work is not skipped);
- `gate_dense_layers`: the gate networks' dense layers, which stay float FULLY_CONNECTED
  ops in int8 (two per block gate: hidden and keep-logit/scale; two per channel gate:
  hidden and saliency);
- `float_scopes`: the name scopes of the layers whose ops stay float under int8 (gate
  pooling, block gates, channel gates), taken from the layers' own names, so a renamed
  layer changes the contract with it instead of being quantized silently;
- the decision bookkeeping computed in the model's own scope (kept-group counts and realized
  FLOPs: top-level mul/add/Sum; `float_node_pattern`), also kept float;
- `nonnegative_block_inputs`: every block reads a ReLU output (the stem's or the previous
  block's), so a skipped block's parameter-free shortcut may skip its ReLU.
"""

import dataclasses
import functools
import re

import keras
import numpy as np
from keras import ops

from lcnet_tf.ops import gate_ops

# Quantized, a keep logit calibrated with a wide range flips decisions near
# `-decision_offset`, and the kept-group count left the graph as 1.506 instead of 1
# (docs/export.md, "int8 accuracy of trained gated models"): gates and bookkeeping stay float.
# Decision bookkeeping: Sum reductions anywhere, and mul/add/Sum in the model's top-level scope.
BOOKKEEPING_ANYWHERE = r"/Sum\b"
BOOKKEEPING_TOP_LEVEL = r"^[^/]+/(mul|add|Sum)(_\d+)?$"
# The converter names a folded op by joining the names of what it folded with ";". Without
# block gates (gating="channel") the decision `gate` is the constant 1 and the bookkeeping
# `always + gate * run + ...` folds into one ADD named e.g. "m/add_2;m/Const_2;m/add_1;m/Const_1":
# bookkeeping when every part is a top-level add/mul/Sum or constant (quantized, realized_flops
# came out 0.26% low). The input normalization ("m/add;m/convolution;m/add/y") is not.
_FOLDED_PART = re.compile(r"^[^/]+/(mul|add|Sum|Const)(_\d+)?$")


@dataclasses.dataclass(frozen=True)
class ExportContract:
    """See the module docstring."""

    if_ops: int
    gate_dense_layers: int
    float_scopes: tuple
    nonnegative_block_inputs: bool

    @functools.cached_property
    def float_node_pattern(self):
        """Regex over TFLite tensor names: the ops kept float under int8 (a name inside one
        of the float scopes or the bookkeeping anywhere, or top-level bookkeeping)."""
        inside = [re.escape(scope) for scope in self.float_scopes] + [BOOKKEEPING_ANYWHERE]
        return re.compile(f"({'|'.join(inside)})|{BOOKKEEPING_TOP_LEVEL}")

    def is_float_node(self, name):
        """Whether the tensor `name` (all ";"-parts of a folded name) stays float."""
        if self.float_node_pattern.search(name):
            return True
        parts = name.split(";")
        return len(parts) > 1 and all(_FOLDED_PART.match(item) for item in parts)


def check_decision_values(values, names):
    """`values` as a list of floats, one per name in `names`, or ValueError naming them."""
    try:
        floats = [float(value) for value in np.ravel(np.asarray(values, dtype="float64"))]
    except (TypeError, ValueError):
        floats = None
    if floats is None or len(floats) != len(names) or not all(np.isfinite(floats)):
        raise ValueError(
            f"Invalid value for `decisions`: expected {len(names)} finite numbers, one per "
            f"decision {list(names)}. Received: decisions={values!r}"
        )
    return floats


def check_decision_tensor(decisions, names):
    """`decisions` as a float32 (D,) tensor for `names`, or ValueError (static shape)."""
    if not names:
        raise ValueError(
            "Invalid value for `decisions`: this model has no run-time decision (no block "
            "gate and not a cascade), so nothing can move its cost. Received: decisions="
            f"{decisions!r}"
        )
    tensor = ops.reshape(ops.cast(decisions, "float32"), (-1,))
    size = tensor.shape[0]
    if size is not None and size != len(names):
        raise ValueError(
            f"Invalid value for `decisions`: expected shape ({len(names)},), one value per "
            f"decision {list(names)}. Received: shape {tuple(ops.shape(decisions))}"
        )
    return tensor


def export_contract(model):
    """The `ExportContract` of a built `GatedResNet`."""
    if_ops, dense, scopes = 0, 0, set()
    for block in model.blocks:
        block_gate = getattr(block, "block_gate_layer", None)
        channel_gate = getattr(block, "channel_gate_layer", None)
        if_ops += int(block.block_gate) + int(block.channel_groups or 0)
        dense += 2 * int(block_gate is not None) + 2 * int(channel_gate is not None)
        for layer in (block_gate, channel_gate, getattr(block, "gate_pool", None)):
            if layer is not None:
                scopes.add(layer.name)
    return ExportContract(if_ops=if_ops, gate_dense_layers=dense,
                          float_scopes=tuple(sorted(scopes)),
                          nonnegative_block_inputs=bool(getattr(model, "_block_inputs_nonnegative",
                                                                False)))


# The graph ------------------------------------------------------------------------------------
def check_deployment_call(x, training):
    """The deployment graph is inference on one image with a static batch dimension."""
    if training:
        raise ValueError("Invalid value for `deployment`: the deployment graph is inference only; "
                         "call with training=False. Received: deployment=True, training=True")
    if x.shape[0] != 1:
        raise ValueError("Invalid value for `deployment`: the deployment graph runs one image "
                         "(static batch dimension 1), as the TFLite export traces it. Received: "
                         f"deployment=True, inputs.shape={tuple(x.shape)}")


def normalize(x, mean, std):
    """Input normalization as one 1x1 convolution with a diagonal kernel: x / std - mean / std.

    As SUB and MUL broadcast over 3 channels, XNNPACK runs one tiny kernel call per pixel:
    7.0 us per image against 2.4 us for the convolution (micro-benchmark, one thread), a
    fixed cost paid by every model.
    """
    kernel = np.diag(1.0 / std).reshape(1, 1, 3, 3).astype("float32")
    return ops.conv(x, ops.convert_to_tensor(kernel), padding="valid") + (-mean / std)


def zero_pad_shortcut(x, out_channels, stride):
    """Subsample and zero-pad in one 1x1 convolution with a constant [I | 0] kernel.

    Exact in float, and one delegated op in TFLite, where a strided slice plus PAD run on
    reference kernels (16-25 us per shortcut from 32x32x16 in two micro-benchmarks, a fifth
    to a quarter of a residual block; the conv ~3 us).
    """
    in_channels = x.shape[-1]
    kernel = np.zeros((1, 1, in_channels, out_channels), dtype="float32")
    kernel[0, 0, :, :in_channels] = np.eye(in_channels, dtype="float32")
    return ops.conv(x, ops.cast(kernel, x.dtype), strides=stride, padding="valid")


def affine_from_bn(bn):
    """Inference-mode BatchNormalization as `x * mult + add` (per channel)."""
    mult = bn.gamma * ops.rsqrt(bn.moving_variance + bn.epsilon)
    return mult, bn.beta - bn.moving_mean * mult


def gated_block(block, x, pooled, shortcut, ones, force_open, input_nonnegative,
                decision_offset=None):
    """One `GatedResidualBlock` with gates on the deployment graph; `(outputs, info)`.

    The main graph holds only the gate network and the IF predicate; everything a skipped
    block does not need (the block's scale, the channel gate) runs inside the branch, and
    the branches themselves report whether the block ran, so the exported IF really skips
    the work. `input_nonnegative`: the block's input is a ReLU output, so a skipped block
    with a parameter-free shortcut returns it as is (under int8 a lone quantized RELU is not
    delegated to XNNPACK: ~60 us per skipped 32x32x16 block).
    """
    keep, raw_scale, keep_prob = None, None, ones
    if block.block_gate_layer is not None:
        keep, raw_scale, keep_prob = block.block_gate_layer.decide(
            pooled, force_open=force_open, decision_offset=decision_offset)

    # Constants the branches return are made inside them: a constant captured from
    # outside becomes one more IF input, resized and re-bound on every invoke.
    def run_block():
        kept_groups = ops.zeros((1,), dtype=x.dtype)
        if block.channel_gate_layer is not None:
            keeps, logits, kept_groups = block.channel_gate_layer.decide(
                pooled, force_open=force_open
            )
            branch = grouped_branch(block, x, keeps, logits)
        else:
            branch = block._dense_branch(x, training=False)
        if raw_scale is not None:
            # raw_scale is (1, 1): no scalar slice, which XNNPACK would leave to a
            # reference kernel prepared again on every run of the branch.
            with keras.name_scope(block.block_gate_layer.name):  # float in int8
                scale = gate_ops.block_scale(raw_scale)
            branch = branch * scale  # (1, 1) broadcasts over (1, H, W, C).
        return ops.relu(shortcut + branch), kept_groups, ops.ones((1,), dtype=x.dtype)

    def skip_block():
        zeros = ops.zeros((1,), dtype=x.dtype)
        if input_nonnegative and block.projection is None:
            # Subsampling and zero padding keep x >= 0: ReLU is identity.
            return shortcut, zeros, zeros
        return ops.relu(shortcut), zeros, zeros

    if keep is not None:
        outputs, kept_groups, ran = ops.cond(keep, run_block, skip_block)
    else:
        outputs, kept_groups, ran = run_block()
    info = {"gate": ran, "keep_prob": keep_prob, "kept_groups": kept_groups,
            "group_mask": ops.zeros((1, block.channel_groups or 0), dtype=x.dtype)}
    return outputs, info


def grouped_branch(block, x, keeps, saliency_logits):
    """Each kept channel group's convolutions under their own `cond`.

    The inference-mode BatchNormalizations after conv1 and conv2 are folded
    into each group's weight slices (kernel * multiplier, bias), computed
    from the variables *inside* the branch so that the TFLite converter
    folds them into constant convolution weights with a fused bias and ReLU.
    The groups' conv2 outputs accumulate through the IFs: the first group's
    branch starts from bn2's shift (its bias), each later group adds to the
    running sum inside its own branch, and a skipped group passes the sum
    on, so no zero tensors and no separate ADDs sit between the IFs.
    """
    conv1, conv2 = block.convs[0], block.convs[1]
    bn1, bn2 = block.bns[0], block.bns[1]
    group_width = block.filters // block.channel_groups
    out_shape = (
        1,
        *conv2.compute_output_shape(conv1.compute_output_shape(tuple(x.shape)))[1:],
    )
    total = None
    for group in range(block.channel_groups):
        lo, hi = group * group_width, (group + 1) * group_width

        def run_group(lo=lo, hi=hi, group=group, total=total):
            mult1, add1 = affine_from_bn(bn1)
            hidden = ops.conv(x, conv1.kernel[..., lo:hi] * mult1[lo:hi],
                              strides=conv1.strides, padding="same")
            hidden = ops.relu(hidden + add1[lo:hi])
            # Under the gate's name: the int8 export keeps gate maths float (a quantized
            # scalar with a near-constant calibration range made int8 kernels abort).
            # A (1, 1) slice broadcasts; a scalar one would run on a reference kernel.
            with keras.name_scope(block.channel_gate_layer.name):
                saliency = gate_ops.positive_saliency(saliency_logits[:, group:group + 1])
            hidden = hidden * saliency
            mult2, add2 = affine_from_bn(bn2)
            partial = ops.conv(hidden, conv2.kernel[:, :, lo:hi, :] * mult2,
                               strides=conv2.strides, padding="same")
            return partial + add2 if total is None else total + partial

        def skip_group(total=total):
            if total is None:
                # zeros + bias folds to a constant (BROADCAST_TO would run per skip).
                return ops.zeros(out_shape, x.dtype) + affine_from_bn(bn2)[1]
            return total

        total = ops.cond(keeps[group], run_group, skip_group)
    hidden = total
    if block.block_type == "bottleneck":
        hidden = block.bns[2](block.convs[2](ops.relu(hidden)), training=False)
    return hidden

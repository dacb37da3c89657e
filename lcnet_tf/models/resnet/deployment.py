"""The deployment graph's export contract: what the TFLite exporter must know about a model.

The batch-1 graph of a `GatedResNet` (the IF branches of `GatedResidualBlock.call` and the
1x1-convolution normalization, docs/design.md "Two execution paths, one function") makes
promises the exporter checks and relies on. They are published here, computed from the
model itself, instead of being re-derived in the exporter:

- `if_ops`: one IF per block with a block gate, plus one per channel group of every block
  with a channel gate (fewer means gated work is not skipped);
- `gate_dense_layers`: the gate networks' dense layers, which stay float FULLY_CONNECTED
  ops in int8 (two per block gate: hidden and keep-logit/scale; two per channel gate:
  hidden and saliency);
- `float_scopes`: the name scopes of the layers whose ops stay float under int8 (gate
  pooling, block gates, channel gates), taken from the layers' own names, so a renamed
  layer changes the contract with it instead of being quantized silently;
- `bookkeeping_pattern`: the decision bookkeeping computed in the model's own scope
  (kept-group counts and realized FLOPs: top-level mul/add/Sum), also kept float;
- `nonnegative_block_inputs`: every block reads a ReLU output (the stem's or the previous
  block's), so a skipped block's parameter-free shortcut may skip its ReLU.
"""

import dataclasses
import re

# Quantized, a keep logit calibrated with a wide range flips decisions near
# `-decision_offset`, and the kept-group count left the graph as 1.506 instead of 1
# (docs/export.md, "int8 accuracy of trained gated models"): gates and bookkeeping stay float.
# Decision bookkeeping in the model's top-level scope, and Sum reductions anywhere.
BOOKKEEPING_PATTERN = r"/Sum\b)|^[^/]+/(mul|add|Sum)(_\d+)?$"
# The converter names a folded op by joining the names of what it folded with ";". Without
# block gates (gating="channel") the decision `gate` is the constant 1 and the bookkeeping
# `always + gate * run + ...` folds into one ADD named e.g. "m/add_2;m/Const_2;m/add_1;m/Const_1":
# bookkeeping when every part is a top-level add/mul/Sum or constant (quantized, realized_flops
# came out 0.26% low). The input normalization ("m/add;m/convolution;m/add/y") is not.
FOLDED_BOOKKEEPING_PART = r"^[^/]+/(mul|add|Sum|Const)(_\d+)?$"


@dataclasses.dataclass(frozen=True)
class ExportContract:
    """See the module docstring."""

    if_ops: int
    gate_dense_layers: int
    float_scopes: tuple
    nonnegative_block_inputs: bool
    bookkeeping_pattern: str = BOOKKEEPING_PATTERN
    folded_bookkeeping_part: str = FOLDED_BOOKKEEPING_PART

    def float_node_pattern(self):
        """Regex over TFLite tensor names: the ops kept float under int8."""
        scopes = "|".join(re.escape(scope) for scope in self.float_scopes)
        return re.compile(f"({scopes}|{self.bookkeeping_pattern}" if scopes else
                          f"({self.bookkeeping_pattern}")

    def is_float_node(self, name):
        """Whether the tensor `name` (all ";"-parts of a folded name) stays float."""
        if self.float_node_pattern().search(name):
            return True
        parts = name.split(";")
        part = re.compile(self.folded_bookkeeping_part)
        return len(parts) > 1 and all(part.match(item) for item in parts)


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
                          float_scopes=tuple(sorted(scopes)), nonnegative_block_inputs=True)

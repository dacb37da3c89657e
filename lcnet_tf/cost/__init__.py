"""The cost unit: every FLOPs figure of lcnet-tf is computed here, once.

Convention (as in the ResNet, SkipNet and LC-Net papers): 1 FLOP = 1
multiply-accumulate, so ResNet-50 is about 4.1 GFLOPs.

- `rules`: `FLOPS_RULES`, one table keyed by layer class, and `layer_flops`.
- `table`: the cost table of a gated model (`cost_table`, `backbone_flops`).
- `cost_model`: `CostModel`, all arithmetic on that table (realized FLOPs,
  ratios, forced-open/closed points, reachable range, target rate).
- `per_example`: the FLOPs each image really executes (`per_example_flops`).

It sits above `lcnet_tf.layers` (it reads the gates' sizes) and below
`lcnet_tf.models` (a model asks its `CostModel`). `lcnet_tf.flops` is the
public name of these functions.
"""

from lcnet_tf.cost.cost_model import CostModel, closed_flops, open_flops
from lcnet_tf.cost.per_example import per_example_flops
from lcnet_tf.cost.rules import FLOPS_RULES, layer_flops
from lcnet_tf.cost.table import backbone_flops, block_costs, cost_table, realized_flops_from_info

__all__ = [
    "FLOPS_RULES",
    "CostModel",
    "backbone_flops",
    "block_costs",
    "closed_flops",
    "cost_table",
    "layer_flops",
    "open_flops",
    "per_example_flops",
    "realized_flops_from_info",
]

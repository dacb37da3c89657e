"""FLOPs accounting, under the name users know: the public face of `lcnet_tf.cost`.

Convention (as in the ResNet, SkipNet and LC-Net papers): 1 FLOP = 1
multiply-accumulate, so ResNet-50 is about 4.1 GFLOPs. The rules, the cost
table and `CostModel` live in `lcnet_tf.cost`; see its modules.

Example:
    >>> lcnet_tf.flops.backbone_flops(lcnet_tf.create_model("resnet20"))  # about 40.6M
"""

from lcnet_tf.cost.cost_model import closed_flops, open_flops
from lcnet_tf.cost.per_example import per_example_flops
from lcnet_tf.cost.rules import FLOPS_RULES, layer_flops
from lcnet_tf.cost.table import backbone_flops, block_costs, cost_table, realized_flops_from_info

__all__ = [
    "FLOPS_RULES",
    "backbone_flops",
    "block_costs",
    "closed_flops",
    "cost_table",
    "layer_flops",
    "open_flops",
    "per_example_flops",
    "realized_flops_from_info",
]

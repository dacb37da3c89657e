"""The cost table of a gated model: static FLOPs vectors over its blocks.

A gated model counts, per image: the fixed part (stem, head), then per block
`always + gate * (run + kept_groups * per_group)` where `always` is what runs
whether or not the block runs (gate pooling, the L-Net gate, a projection
shortcut), `run` what runs with the block (C-Net gate, ungrouped convs) and
`per_group` the cost of one kept channel group's convolutions.
"""

import numpy as np

from lcnet_tf.cost.rules import layer_flops
from lcnet_tf.ops.budget_ops import realized_flops


def block_costs(block):
    """Cost terms of one `GatedResidualBlock`.

    Returns:
        Dict of ints: `always`, `run`, `per_group` (realized FLOPs terms, gates
        included) and `backbone` (the same block without gates, all channels).
    """
    costs = {"always": 0.0, "run": 0.0, "per_group": 0.0, "backbone": 0.0}
    for layer, input_shape, role, fraction, is_gate in block.cost_items():
        flops = layer_flops(layer, input_shape)
        costs[role] += flops * fraction
        if not is_gate:
            costs["backbone"] += flops
    return {key: int(round(value)) for key, value in costs.items()}


def cost_table(model):
    """Static cost vectors of a built gated model (see the module docstring).

    Returns:
        Dict with `fixed` (int) and numpy int64 vectors over blocks `always`,
        `run`, `per_group`, `groups` and `backbone_block`, plus `backbone` (int).
    """
    fixed = sum(layer_flops(layer, shape) for layer, shape in model.fixed_cost_items())
    per_block = [block_costs(block) for block in model.blocks]
    table = {"fixed": int(fixed)}
    for key in ("always", "run", "per_group"):
        table[key] = np.array([costs[key] for costs in per_block], dtype=np.int64)
    table["groups"] = np.array(
        [block.channel_groups or 0 for block in model.blocks], dtype=np.int64
    )
    table["backbone_block"] = np.array([c["backbone"] for c in per_block], dtype=np.int64)
    table["backbone"] = int(fixed + table["backbone_block"].sum())
    return table


def backbone_flops(model):
    """MACs of one image through the ungated backbone of `model`.

    Example:
        >>> backbone_flops(lcnet_tf.create_model("resnet20"))  # about 40.6M
    """
    return cost_table(model)["backbone"]


def realized_flops_from_info(table, gate, kept_groups):
    """Per-image FLOPs from block decisions; works on numpy arrays or tensors.

    Args:
        table: `cost_table(model)`.
        gate: (batch, blocks) 0/1 block decisions.
        kept_groups: (batch, blocks) kept channel groups per block.
    """
    return realized_flops(
        gate, kept_groups, table["fixed"], table["always"], table["run"], table["per_group"]
    )

"""`CascadeCost`: the FLOPs arithmetic of a `Cascade`, the same questions a `CostModel` answers.

A cascade's decisions are its *units*: one per stage (did the stage run?), then, for every
gated stage (a `GatedResNet` with gating other than "none"), one per block of that stage (did
the block run, and how many channel groups did it keep?). A block's column is 0 wherever its
stage did not run, so a unit's mean over images is its execution rate among all images. Per
image the cascade costs

    flops = sum_s ran_s * stage_flops_s,

where a static stage's `stage_flops_s` is its one fixed cost and a gated stage's is its own
`CostModel.realized` of its block columns. Every figure is relative to `reference`, the FLOPs
a `budget` is a fraction of (`Cascade(reference_flops=...)`, default the last stage's).
"""

import numpy as np
from keras import ops


def is_gated(stage):
    """Whether a stage takes per-image decisions of its own (block or channel gates)."""
    return getattr(stage, "gating", "none") != "none"


class CascadeCost:
    """Per-image FLOPs, reachable range and unit layout of a `Cascade`.

    Args:
        stages: the cascade's built `GatedResNet`s, cheapest first.
        reference: FLOPs a budget is a fraction of.

    Example:
        >>> cascade.cost.realized(info["gate"], info["kept_groups"])  # (batch,) FLOPs
    """

    def __init__(self, stages, reference):
        self.stage_costs = [stage.cost for stage in stages]
        self.stage_gated = [is_gated(stage) for stage in stages]
        self.backbone = self.reference = int(reference)
        self.num_stages = len(stages)
        names, kinds, gated, slices = [], [], [], []
        for index in range(self.num_stages):
            names.append(f"stage{index}")
            kinds.append("stage")
            gated.append(index > 0)
        for index, stage in enumerate(stages):
            if not self.stage_gated[index]:
                slices.append(None)
                continue
            start = len(names)
            for block in stage.blocks:
                names.append(f"stage{index}/{block.name}")
                kinds.append("block")
                gated.append(bool(block.block_gate or block.channel_groups))
            slices.append((start, len(names)))
        self.unit_names, self.unit_kinds, self.unit_gated = names, kinds, gated
        self.block_slices = slices
        # A static stage costs the same for every image.
        self.fixed_stage_flops = [None if gated_stage else int(cost.forced_open_flops())
                                  for cost, gated_stage in zip(self.stage_costs,
                                                               self.stage_gated, strict=True)]

    @property
    def num_units(self):
        return len(self.unit_names)

    def realized(self, gate, kept_groups):
        """Per-image FLOPs from the unit decisions (batch, units): NumPy in, int64 NumPy out
        (exact); tensors in, float32 tensor out."""
        if isinstance(gate, np.ndarray) and isinstance(kept_groups, np.ndarray):
            gate = np.rint(gate).astype(np.int64)
            kept_groups = np.rint(kept_groups).astype(np.int64)
            total = np.zeros(gate.shape[0], np.int64)
            for index in range(self.num_stages):
                total += gate[:, index] * self._stage_flops(index, gate, kept_groups)
            return total
        gate = ops.cast(ops.convert_to_tensor(gate), "float32")
        kept_groups = ops.cast(ops.convert_to_tensor(kept_groups), "float32")
        total = None
        for index in range(self.num_stages):
            stage_total = gate[:, index] * self._stage_flops(index, gate, kept_groups)
            total = stage_total if total is None else total + stage_total
        return total

    def _stage_flops(self, index, gate, kept_groups):
        if self.block_slices[index] is None:
            return self.fixed_stage_flops[index]
        start, stop = self.block_slices[index]
        return self.stage_costs[index].realized(gate[:, start:stop], kept_groups[:, start:stop])

    def stage_range(self, index):
        """`(lowest, highest)` FLOPs of stage `index` when it runs (its own decision range)."""
        if self.block_slices[index] is None:
            return self.fixed_stage_flops[index], self.fixed_stage_flops[index]
        cost = self.stage_costs[index]
        low, high = cost.decision_range()
        return low * cost.backbone, high * cost.backbone

    def flops_range(self):
        """`(lowest, highest)` mean FLOPs per image the exit thresholds can reach, each gated
        stage at any decision: the first stage alone at its lowest, every stage at its
        highest."""
        ranges = [self.stage_range(index) for index in range(self.num_stages)]
        return float(ranges[0][0]), float(sum(high for _, high in ranges))

    def forced_open_flops(self):
        """Per-image FLOPs with every stage run and every gate open."""
        return int(sum(cost.forced_open_flops() for cost in self.stage_costs))

    def decision_range(self):
        """`flops_range()` as ratios of `reference`."""
        low, high = self.flops_range()
        return low / self.reference, high / self.reference

"""One cost model per gated network: every FLOPs figure is asked of it.

`lcnet_tf.cost.table` turns layers into a cost table (with the FLOPs rules of
`lcnet_tf.cost.rules`); `CostModel` is the arithmetic on that table, written
once. Per image a gated model runs

    flops = fixed + sum_b(always_b + gate_b * controlled_b),
    controlled_b = run_b + kept_groups_b * per_group_b

(`lcnet_tf.ops.budget_ops.realized_flops`). The model (gate info, budget
penalty, target rate), the training procedure (channel-keep choice),
calibration (reachable range), the report, the benchmarks and `lcnet_tf.flops`
all call one `CostModel` instead of re-deriving these terms.

Named cost points, with one meaning each:
- `forced_open_flops()`: every gate forced open, every channel group computed
  (what `force_gates_open=True` runs; equals the backbone plus the gates).
- `forced_closed_flops()`: every block gate closed and no channel group kept;
  blocks without a block gate still run their ungrouped part.
- `decision_range()`: the `(lowest, highest)` mean FLOPs *ratios* the block-gate
  threshold can reach when channel gates keep their trained top-k
  (what calibration can realize): gated blocks all skipped / all run, each
  running block with its k kept groups.
"""

import numpy as np
from keras import ops

from lcnet_tf.cost.table import cost_table
from lcnet_tf.ops import budget_ops
from lcnet_tf.ops.gate_ops import kept_group_count


class CostModel:
    """The FLOPs arithmetic of one gated model (see the module docstring).

    Args:
        table: `cost_table(model)`: `fixed`, `always`, `run`, `per_group`,
            `groups`, `backbone_block`, `backbone`.
        block_gated: (blocks,) bools, True for blocks with a block gate (L-Net).
        keep_groups: (blocks,) channel groups a running block keeps per image
            (0 without a channel gate).

    Example:
        >>> cost = lcnet_tf.create_model("resnet20", gating="lc").cost
        >>> cost.forced_open_flops() / cost.backbone  # gates included: slightly above 1
    """

    def __init__(self, table, block_gated, keep_groups):
        self.table = table
        self.fixed = int(table["fixed"])
        self.always = np.asarray(table["always"], dtype=np.int64)
        self.run = np.asarray(table["run"], dtype=np.int64)
        self.per_group = np.asarray(table["per_group"], dtype=np.int64)
        self.groups = np.asarray(table["groups"], dtype=np.int64)
        self.backbone = int(table["backbone"])
        self.block_gated = np.asarray(block_gated, dtype=bool)
        self.keep_groups = np.asarray(keep_groups, dtype=np.int64)
        self._tensors = None

    @classmethod
    def from_model(cls, model):
        """The cost model of a built `GatedResNet` (or any model with `blocks`)."""
        return cls(
            cost_table(model),
            [bool(block.block_gate) for block in model.blocks],
            [int(block.keep_groups or 0) for block in model.blocks],
        )

    @property
    def num_blocks(self):
        return len(self.always)

    # Per image ----------------------------------------------------------------------------
    def realized(self, gate, kept_groups):
        """Per-image FLOPs from decisions: NumPy in, NumPy out (exact for ints); tensors in,
        float32 tensor out.

        Args:
            gate: (batch, blocks) 1 if the block ran (or keep probabilities).
            kept_groups: (batch, blocks) channel groups computed (0 without a channel gate).
        """
        if isinstance(gate, np.ndarray) and isinstance(kept_groups, np.ndarray):
            return budget_ops.realized_flops(gate, kept_groups, self.fixed, self.always,
                                             self.run, self.per_group)
        costs = self._float_tensors()
        gate = ops.cast(ops.convert_to_tensor(gate), "float32")
        kept_groups = ops.cast(ops.convert_to_tensor(kept_groups), "float32")
        return budget_ops.realized_flops(gate, kept_groups, float(self.fixed),
                                         costs["always"], costs["run"], costs["per_group"])

    def ratio(self, gate, kept_groups):
        """Per-image FLOPs ratio to the backbone (float32 tensor; differentiable in `gate`)."""
        return budget_ops.flops_ratio(gate, kept_groups, float(self.fixed), self.always,
                                      self.run, self.per_group, float(self.backbone))

    def _float_tensors(self):
        # Float32 NumPy arrays, converted where used: a tensor cached here could belong to
        # the graph of the first tf.function that asked for it.
        if self._tensors is None:
            self._tensors = {key: np.asarray(getattr(self, key), dtype="float32")
                             for key in ("always", "run", "per_group")}
        return {key: ops.convert_to_tensor(value) for key, value in self._tensors.items()}

    # Per block ----------------------------------------------------------------------------
    def kept_groups_at(self, keep_fraction=None):
        """(blocks,) groups kept per running block: the model's own, or at `keep_fraction`."""
        if keep_fraction is None:
            return self.keep_groups
        return np.array([kept_group_count(keep_fraction, g) if g else 0 for g in self.groups],
                        dtype=np.int64)

    def controlled(self, keep_fraction=None):
        """(blocks,) FLOPs a running block adds: `run + kept_groups * per_group`."""
        return self.run + self.kept_groups_at(keep_fraction) * self.per_group

    # Whole-model points -------------------------------------------------------------------
    def forced_open_flops(self):
        """Per-image FLOPs with every gate forced open and every channel group computed."""
        ran = np.ones((1, self.num_blocks), dtype=np.int64)
        return int(self.realized(ran, self.groups[None])[0])

    def forced_closed_flops(self):
        """Per-image FLOPs with every gate closed: gated blocks skipped, no groups kept."""
        ran = (~self.block_gated).astype(np.int64)[None]
        return int(self.realized(ran, np.zeros_like(ran))[0])

    def decision_range(self, keep_fraction=None):
        """`(lowest, highest)` FLOPs ratios the block-gate threshold can reach.

        Channel gates keep their top-k (`keep_fraction`, default the model's), so only
        block decisions move the cost: lowest skips every gated block, highest runs
        them all, each running block with its k kept groups.
        """
        keep = self.kept_groups_at(keep_fraction)

        def ratio(ran):
            ran = ran.astype(np.int64)[None]
            return float(self.realized(ran, ran * keep)[0] / self.backbone)

        return ratio(~self.block_gated), ratio(np.ones(self.num_blocks, dtype=bool))

    def uniform_target_rate(self, budget, keep_fraction=None):
        """The one execution rate of every gated block that meets `budget` (clipped to [0, 1]).

        A tensor budget (e.g. the curriculum's, per step) gives a tensor; see
        `budget_ops.uniform_target_rate`.
        """
        return budget_ops.uniform_target_rate(
            budget, float(self.fixed), self.always, self.controlled(keep_fraction),
            self.block_gated.astype(np.float64), float(self.backbone),
        )

    def channel_keep_for(self, budget, fractions, max_block_rate):
        """The smallest keep fraction of `fractions` whose uniform block rate meets `budget`
        at most at `max_block_rate` (1.0 if none); with no block gates, the fraction whose
        fixed ratio is closest to `budget`."""
        if self.block_gated.any():
            for fraction in sorted(fractions):
                if float(self.uniform_target_rate(budget, fraction)) <= max_block_rate:
                    return float(fraction)
            return 1.0
        ratios = [self.decision_range(f)[1] for f in fractions]
        return float(fractions[int(np.argmin([abs(r - budget) for r in ratios]))])


def open_flops(model):
    """Per-image FLOPs with every gate forced open (`CostModel.forced_open_flops`)."""
    return CostModel.from_model(model).forced_open_flops()


def closed_flops(model):
    """Per-image FLOPs with every gate forced closed (`CostModel.forced_closed_flops`):
    gated blocks skipped, no channel groups kept; blocks without a block gate still run
    their ungrouped part. Not the lowest ratio calibration can reach with trained top-k
    channel gates: that is `CostModel.decision_range()`."""
    return CostModel.from_model(model).forced_closed_flops()

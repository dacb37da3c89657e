"""Pure gate maths: no weights, no layers. Imports only Keras, TensorFlow and NumPy."""

from lcnet_tf.ops import budget_ops, cascade_ops
from lcnet_tf.ops.budget_ops import (
    LinearWarmup,
    budget_penalty,
    flops_ratio,
    realized_flops,
    target_rate_loss,
    uniform_target_rate,
)
from lcnet_tf.ops.gate_ops import (
    block_scale,
    drop_path_multiplier,
    expand_group_mask,
    hard_threshold,
    kept_group_count,
    logistic_noise,
    plain_when_open,
    positive_saliency,
    straight_through_gate,
    top_k_group_mask,
)

__all__ = [
    "LinearWarmup",
    "block_scale",
    "budget_ops",
    "cascade_ops",
    "budget_penalty",
    "drop_path_multiplier",
    "flops_ratio",
    "realized_flops",
    "target_rate_loss",
    "uniform_target_rate",
    "expand_group_mask",
    "hard_threshold",
    "kept_group_count",
    "logistic_noise",
    "plain_when_open",
    "positive_saliency",
    "straight_through_gate",
    "top_k_group_mask",
]

"""Pure gate maths: no weights, no layers. Imports only Keras, TensorFlow and NumPy."""

from lcnet_tf.ops.gate_ops import block_scale
from lcnet_tf.ops.gate_ops import expand_group_mask
from lcnet_tf.ops.gate_ops import hard_threshold
from lcnet_tf.ops.gate_ops import logistic_noise
from lcnet_tf.ops.gate_ops import positive_saliency
from lcnet_tf.ops.gate_ops import straight_through_gate
from lcnet_tf.ops.gate_ops import top_k_group_mask

__all__ = [
    "block_scale",
    "expand_group_mask",
    "hard_threshold",
    "logistic_noise",
    "positive_saliency",
    "straight_through_gate",
    "top_k_group_mask",
]

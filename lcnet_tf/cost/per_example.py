"""FLOPs each image really executes: the model's gate decisions priced by its `CostModel`."""

import keras
import numpy as np
import tensorflow as tf

from lcnet_tf.cost.cost_model import CostModel


def per_example_flops(model, images, batch_size=256):
    """FLOPs each image really executes in inference mode, gate networks included.

    Args:
        model: a gated model from `lcnet_tf.create_model`.
        images: array (N, H, W, 3) of pixels, or a `tf.data.Dataset` of images
            or `(images, labels)` batches.
        batch_size: batch size for arrays.

    Returns:
        numpy int64 array (N,).
    """
    if isinstance(images, tf.data.Dataset):
        dataset = images.map(lambda *batch: batch[0])
    else:
        dataset = tf.data.Dataset.from_tensor_slices(np.asarray(images)).batch(batch_size)
    cost = getattr(model, "cost", None) or CostModel.from_model(model)
    results = []
    for batch in dataset:
        _, info = model(batch, training=False, return_gate_info=True)
        gate = np.rint(keras.ops.convert_to_numpy(info["gate"])).astype(np.int64)
        kept = np.rint(keras.ops.convert_to_numpy(info["kept_groups"])).astype(np.int64)
        results.append(cost.realized(gate, kept))
    return np.concatenate(results).astype(np.int64)

"""`tf.distribute` strategies by name, and who writes the outputs."""

import json
import os

import tensorflow as tf

from lcnet_tf.training.config import STRATEGIES


def make_strategy(name="default", tpu=""):
    """Builds a `tf.distribute.Strategy`.

    Create it before any other TensorFlow work (multi-worker needs that).

    Args:
        name: "default" (no distribution), "mirrored" (all local devices),
            "multi_worker" (`MultiWorkerMirroredStrategy`, cluster from TF_CONFIG)
            or "tpu".
        tpu: TPU address for "tpu" ("" = local or from the environment).

    Returns:
        The strategy.

    Example:
        >>> strategy = make_strategy("mirrored")
        >>> with strategy.scope():
        ...     model = lcnet_tf.create_model("resnet20")
    """
    if name not in STRATEGIES:
        raise ValueError(
            f"Invalid value for `strategy`: expected one of {STRATEGIES}. Received: {name!r}"
        )
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "Invalid value for `strategy`: 'multi_worker' needs the TF_CONFIG environment "
                "variable describing the cluster and this task."
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def worker_info(strategy):
    """`(is_chief, task_id)` of this process in `strategy`'s cluster ((True, 0) alone)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    task_id = getattr(resolver, "task_id", None) or 0
    if task_type is None or isinstance(strategy, tf.distribute.TPUStrategy):
        return True, 0
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    if task_type == "chief":
        return True, 0
    is_chief = task_type == "worker" and task_id == 0 and "chief" not in cluster
    return is_chief, int(task_id)

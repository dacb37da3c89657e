"""What the gates' multipliers do to a trained model's full network.

For every gated block: the L-Net's learned block scale and the C-Net's channel-group saliency
on test images, with the network run with every gate forced open (the "full network" that
self-distillation trains and that `benchmarks/pareto.py` reports as the open-gate backbone).
A block scale far below 1 means the block contributes little even when it runs.

    python benchmarks/gate_multipliers.py \
        --model runs/pareto/lc_b0.5_scratch_sd_e6_s0/gated_trained.keras --images 1000
"""

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS


def _define_flags():
    # Defined when run as a script only: tests import `multiplier_stats`, and other modules
    # of the same test process define absl flags of the same names.
    flags.DEFINE_string("model", None, "A saved GatedResNet (.keras).", required=True)
    flags.DEFINE_string("dataset", "../shared/data/cifar10_jpeg",
                        "TFDS name or prepared directory.")
    flags.DEFINE_integer("images", 1000, "First N test images.")


def multiplier_stats(model, images, batch_size=500):
    """`{block name: {"scale": (N,), "saliency": (N, G)}}` for the gated blocks.

    `images`: uint8 (N, H, W, 3). The network runs with its gates forced open, in
    inference mode, so each block sees the input of the full network.
    """
    from keras import ops

    found = {}
    for start in range(0, len(images), batch_size):
        x = ops.cast(images[start:start + batch_size], "float32")
        x = model._normalize(x, False)
        for layer in model.stem_layers:
            x = layer(x, training=False)
        for block in model.blocks:
            if block.gate_pool is not None:
                pooled = block.gate_pool(x)
                entry = found.setdefault(block.name, {"scale": [], "saliency": []})
                if block.block_gate_layer is not None:
                    entry["scale"].append(ops.convert_to_numpy(
                        block.block_gate_layer(pooled)["scale"]))
                if block.channel_gate_layer is not None:
                    entry["saliency"].append(ops.convert_to_numpy(
                        block.channel_gate_layer(pooled)["saliency"]))
            x, _ = block(x, training=False, force_open=True)
    return {name: {key: np.concatenate(values) for key, values in entry.items() if values}
            for name, entry in found.items()}


def _summary(values):
    return (f"mean {values.mean():.3f} sd {values.std():.3f} "
            f"[p5 {np.percentile(values, 5):.2f}, p95 {np.percentile(values, 95):.2f}]")


def main(argv):
    del argv
    import keras
    import tensorflow_datasets as tfds

    import lcnet_tf  # noqa: F401  (registers the model classes for loading)
    from lcnet_tf.data import resolve_dataset

    model = keras.saving.load_model(FLAGS.model, compile=False)
    builder = resolve_dataset(FLAGS.dataset)
    images = np.stack([example["image"] for example in tfds.as_numpy(
        builder.as_dataset(split="test").take(FLAGS.images))])
    print(f"{FLAGS.model}: {len(images)} test images, gates forced open")
    for name, entry in multiplier_stats(model, images).items():
        parts = [f"{name:15s}"]
        if "scale" in entry:
            parts.append(f"block scale {_summary(entry['scale'])}")
        if "saliency" in entry:
            parts.append(f"saliency {_summary(entry['saliency'])}")
        print("  ".join(parts))


if __name__ == "__main__":
    _define_flags()
    app.run(main)

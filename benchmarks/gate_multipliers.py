"""What the gates' multipliers do to a trained model's full network (prints
`lcnet_tf.gate_control.gate_multipliers`).

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
    # Defined when run as a script only (other modules of a test process define absl flags
    # of the same names).
    flags.DEFINE_string("model", None, "A saved GatedResNet (.keras).", required=True)
    flags.DEFINE_string("dataset", "../shared/data/cifar10_jpeg",
                        "TFDS name or prepared directory.")
    flags.DEFINE_integer("images", 1000, "First N test images.")


def _summary(values):
    return (f"mean {values.mean():.3f} sd {values.std():.3f} "
            f"[p5 {np.percentile(values, 5):.2f}, p95 {np.percentile(values, 95):.2f}]")


def main(argv):
    del argv
    import keras
    import tensorflow_datasets as tfds

    import lcnet_tf  # noqa: F401  (registers the model classes for loading)
    from lcnet_tf.data import resolve_dataset
    from lcnet_tf.gate_control import gate_multipliers

    model = keras.saving.load_model(FLAGS.model, compile=False)
    builder = resolve_dataset(FLAGS.dataset)
    images = np.stack([example["image"] for example in tfds.as_numpy(
        builder.as_dataset(split="test").take(FLAGS.images))])
    print(f"{FLAGS.model}: {len(images)} test images, gates forced open")
    for name, entry in gate_multipliers(model, images).items():
        parts = [f"{name:15s}"]
        if "scale" in entry:
            parts.append(f"block scale {_summary(entry['scale'])}")
        if "saliency" in entry:
            parts.append(f"saliency {_summary(entry['saliency'])}")
        print("  ".join(parts))


if __name__ == "__main__":
    _define_flags()
    app.run(main)

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
    flags.DEFINE_integer("image_size", None, "ImageNet-style data: resize and centre-crop to "
                         "this size, as training's --image_size (None: stored size, CIFAR).")


def _summary(values):
    return (f"mean {values.mean():.3f} sd {values.std():.3f} "
            f"[p5 {np.percentile(values, 5):.2f}, p95 {np.percentile(values, 95):.2f}]")


def main(argv):
    del argv
    import keras

    import lcnet_tf  # noqa: F401  (registers the model classes for loading)
    from lcnet_tf import data as data_lib
    from lcnet_tf.gate_control import gate_multipliers

    model = keras.saving.load_model(FLAGS.model, compile=False)
    # The library's evaluation pipeline (uint8, resized and cropped as the model expects).
    test = data_lib.make_dataset(data_lib.resolve_dataset(FLAGS.dataset), "test",
                                 batch_size=500, training=False, take=FLAGS.images,
                                 image_size=FLAGS.image_size, cache=False)
    images = np.concatenate([batch.numpy() for batch, _ in test])
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

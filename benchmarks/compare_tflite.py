"""Times already-exported `.tflite` files side by side on real test images (one thread).

    python benchmarks/compare_tflite.py --dataset ../shared/data/cifar10_jpeg \
        --models static=a/static.tflite,dynamic=a/dynamic.tflite,dynamic_new=b/dynamic.tflite \
        --reference static --num_images 1000 --repeats 3

Uses `lcnet_tf.export.benchmark.compare_models` (models interleaved per chunk of images,
median of `--repeats` invokes per image) and prints its table, including the per-block
latency decomposition of each dynamic model. Handy for before/after comparisons of the
export graph, where `python -m tflite.benchmark` would re-export from a Keras model.
"""

from absl import app, flags

from lcnet_tf.export.benchmark import compare_models, format_table, load_images
from lcnet_tf.export.machine import machine_info

FLAGS = flags.FLAGS
flags.DEFINE_list("models", None, "name=path pairs of .tflite files.", required=True)
flags.DEFINE_string("reference", "static", "Name of the reference (static) model.")
flags.DEFINE_string("dataset", None, "TFDS name or prepared directory.", required=True)
flags.DEFINE_integer("num_images", 1000, "Test images.")
flags.DEFINE_integer("repeats", 3, "Invokes per image (median).")
flags.DEFINE_integer("chunk", 50, "Images per interleaving chunk.")
flags.DEFINE_integer("threads", 1, "Interpreter threads.")


def main(argv):
    del argv
    models = {}
    for item in FLAGS.models:
        name, _, path = item.partition("=")
        if not name or not path:
            raise app.UsageError(f"Invalid value for --models: expected name=path, got {item!r}")
        models[name] = path
    images, labels = load_images(FLAGS.dataset, "test", FLAGS.num_images)
    summary, _ = compare_models(models, images, labels, reference=FLAGS.reference,
                                num_threads=FLAGS.threads, repeats=FLAGS.repeats,
                                chunk=FLAGS.chunk)
    print(format_table(summary))
    machine = machine_info()
    print(f"machine: {machine['cpu']}, {machine['cpu_count']} cores; ISA "
          f"{' '.join(machine['isa_flags'])}")


if __name__ == "__main__":
    app.run(main)

"""Writes the Android benchmark app's assets (android_demo/): models, test images, manifest.

    python -m tflite.android_assets --workdir runs/cifar_lc_b04
    python -m tflite.android_assets --workdir runs/x --export --quantize none,int8 --out /tmp/assets

Uses the workdir's `.tflite` files (`tflite_benchmark/{dynamic,stage<i>,static,reference}
[_int8].tflite` from `make demo`, else `model.tflite`), or with `--export` exports its `.keras`
models (deployed files: the image is the only input; a cascade's first stages as `stage<i>`, its
last as `static`). Writes them, `images.bin` (the first `--num_images` test images and labels) and
`manifest.json` (with the names of each model's decision units when its `.keras` model is in the
workdir) into `--out` (default: android_demo/app/src/main/assets of the checkout), after timing
the same files on the same images with the Python benchmark (`--nomeasure` skips it) so that the
app can show both.
"""

import os

from absl import app, flags

from lcnet_tf.apps.android_assets import default_assets_dir, write_android_assets
from lcnet_tf.apps.web_demo import dataset_class_names, workdir_models
from lcnet_tf.cli.errors import run_with_clear_errors
from lcnet_tf.export import ExportError
from lcnet_tf.export.benchmark import load_images

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Training workdir (make demo's WORKDIR).", required=True)
flags.DEFINE_string("dataset", "../shared/data/cifar10_jpeg", "TFDS name or prepared directory "
                    "(test images; training images for int8 calibration with --export).")
flags.DEFINE_integer("num_images", 1000, "Test images written for the app.")
flags.DEFINE_string("out", None, "Assets directory (default: android_demo/app/src/main/assets).")
flags.DEFINE_bool("export", False, "Export the workdir's .keras models instead of using its "
                  ".tflite files.")
flags.DEFINE_list("quantize", ["none", "int8"], "Precisions exported with --export.")
flags.DEFINE_integer("num_calibration", 256, "Training images for int8 calibration (--export).")
flags.DEFINE_bool("measure", True, "Time the files here with the Python benchmark and record the "
                  "result in the manifest.")
flags.DEFINE_integer("measure_images", None, "Images for that run (default: --num_images).")
flags.DEFINE_integer("threads", 1, "Interpreter threads of that run.")
flags.DEFINE_integer("repeats", 1, "Invokes per image of that run (median).")
flags.DEFINE_integer("chunk", 50, "Images per interleaving chunk of that run.")


def main(argv):
    del argv
    workdir = FLAGS.workdir
    if not os.path.isdir(workdir):
        raise ExportError(f"Invalid value for --workdir: no such directory {workdir!r}.")
    out = FLAGS.out or default_assets_dir()
    if FLAGS.out is None and not os.path.isdir(os.path.dirname(out)):
        raise ExportError(f"No android_demo/app/src/main next to this package ({out!r}): pass "
                          "--out.")
    models = workdir_models(workdir, export=FLAGS.export,
                            export_dir=os.path.join(workdir, "android_export"),
                            quantize=FLAGS.quantize, dataset=FLAGS.dataset,
                            num_calibration=FLAGS.num_calibration, force_input=False)
    images, labels = load_images(FLAGS.dataset, "test", FLAGS.num_images)
    manifest = write_android_assets(
        out, models.paths, images, labels, class_names=dataset_class_names(FLAGS.dataset),
        measure=FLAGS.measure, measure_images=FLAGS.measure_images, num_threads=FLAGS.threads,
        repeats=FLAGS.repeats, chunk=FLAGS.chunk, progress=True,
        metadata={"workdir": os.path.abspath(workdir), "dataset": FLAGS.dataset, "split": "test"},
        decision_units=models.decision_units,
    )
    print(f"wrote {manifest} with {sorted(models.paths)} and {len(images)} images")


def run():
    """Console-script entry point."""
    app.run(run_with_clear_errors(main))


if __name__ == "__main__":
    run()

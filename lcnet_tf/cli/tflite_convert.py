"""Converts a trained `.keras` model to TFLite (IF branches that skip gated work).

    python -m tflite.convert --model runs/r20/model.keras --out r20.tflite --quantize int8 \
        --dataset ../shared/data/cifar10_jpeg
"""

from absl import app, flags

from lcnet_tf.cli.errors import run_with_clear_errors
from lcnet_tf.export import QUANTIZATIONS, load_keras_model, summarize_tflite, to_tflite
from lcnet_tf.export.benchmark import load_images

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Path of the trained .keras model.", required=True)
flags.DEFINE_string("out", None, "Output .tflite path.", required=True)
flags.DEFINE_enum("quantize", "none", QUANTIZATIONS, "Quantization.")
flags.DEFINE_string("dataset", None, "TFDS name or prepared directory (int8 calibration).")
flags.DEFINE_integer("num_calibration", 256, "Training images for int8 calibration.")
flags.DEFINE_enum("input_dtype", "float32", ["float32", "uint8"], "dtype of the image input.")
flags.DEFINE_bool("force_input", False, "Keep the force_gates_open input (benchmarks, debugging); "
                  "by default the image is the only input.")


def main(argv):
    del argv
    if FLAGS.quantize == "int8" and not FLAGS.dataset:
        raise app.UsageError("--quantize=int8 needs --dataset (calibration images).")
    model = load_keras_model(FLAGS.model)
    calibration = None
    if FLAGS.quantize == "int8":
        calibration, _ = load_images(FLAGS.dataset, "train", FLAGS.num_calibration)
    content = to_tflite(model, FLAGS.out, quantize=FLAGS.quantize,
                        representative_data=calibration, input_dtype=FLAGS.input_dtype,
                        force_input=FLAGS.force_input)
    summary = summarize_tflite(content)
    print(f"wrote {FLAGS.out}: {len(content) / 1e6:.2f} MB, {summary.num_if_ops} IF ops, "
          f"{summary.num_subgraphs} subgraphs, quantize={FLAGS.quantize}")


def run():
    """Console-script entry point."""
    app.run(run_with_clear_errors(main))


if __name__ == "__main__":
    run()

"""Dynamic vs static TFLite latency on real CIFAR-10 test images, one image at a time.

    python -m tflite.benchmark --model runs/r20/model.keras --dataset ../shared/data/cifar10_jpeg \
        --num_images 1000 --quantize none,int8 --out_dir runs/r20/tflite_bench

`--model` may also be a registered name (e.g. resnet20): an untrained model whose gates are
randomised to run about `--gate_keep` of the blocks (latency and FLOPs only).
"""

import os

from absl import app, flags

from lcnet_tf.cli.errors import run_with_clear_errors
from lcnet_tf.export import load_keras_model
from lcnet_tf.export.benchmark import load_images, run_benchmark
from lcnet_tf.export.gate_patterns import randomize_gates
from lcnet_tf.models import create_model

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Trained .keras model, or a registered model name.",
                    required=True)
flags.DEFINE_string("static_model", None, "Trained static .keras model of the same backbone.")
flags.DEFINE_string("reference_model", None,
                    "Trained equal-cost static .keras model, timed in the same run.")
flags.DEFINE_string("gating", "lc", "Gating when --model is a name.")
flags.DEFINE_float("gate_keep", 0.5, "Block run rate of randomised gates (--model a name).")
flags.DEFINE_string("dataset", None, "TFDS name or prepared directory.", required=True)
flags.DEFINE_integer("num_images", 1000, "Test images.")
flags.DEFINE_list("quantize", ["none"], "Variants among none, fp16, dynamic, int8.")
flags.DEFINE_integer("threads", 1, "Interpreter threads (1 = one phone big core).")
flags.DEFINE_integer("repeats", 1, "Invokes per image (median).")
flags.DEFINE_integer("chunk", 50, "Images per interleaving chunk: each model runs a chunk in turn "
                     "(1 = alternate models on every image, which adds cache misses).")
flags.DEFINE_integer("num_calibration", 256, "Training images for int8 calibration.")
flags.DEFINE_string("out_dir", "tflite_benchmark", "Report directory.")


def main(argv):
    del argv
    if os.path.exists(FLAGS.model) or FLAGS.model.endswith(".keras"):
        model = load_keras_model(FLAGS.model)
    else:
        model = create_model(FLAGS.model, gating=FLAGS.gating)
        images, _ = load_images(FLAGS.dataset, "train", 256)
        randomize_gates(model, seed=0, block_keep_prob=FLAGS.gate_keep, images=images)
    static_model = load_keras_model(FLAGS.static_model) if FLAGS.static_model else None
    reference = load_keras_model(FLAGS.reference_model) if FLAGS.reference_model else None
    _, table, json_path, png_path = run_benchmark(
        model, FLAGS.dataset, FLAGS.out_dir, static_model=static_model,
        num_images=FLAGS.num_images, quantize=FLAGS.quantize, num_threads=FLAGS.threads,
        repeats=FLAGS.repeats, num_calibration=FLAGS.num_calibration, chunk=FLAGS.chunk,
        reference_model=reference,
    )
    print(table)
    print(f"report: {json_path}\nscatter: {png_path}")


def run():
    """Console-script entry point."""
    app.run(run_with_clear_errors(main))


if __name__ == "__main__":
    run()

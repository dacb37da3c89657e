"""Dynamic vs static TFLite latency on real CIFAR-10 test images, one image at a time.

    python -m tflite.benchmark --model runs/r20/model.keras --dataset ../shared/data/cifar10_jpeg \
        --num_images 1000 --quantize none,int8 --out_dir runs/r20/tflite_bench

`--model` may also be a registered name (e.g. resnet20): an untrained model whose gates are
randomised to run about `--gate_keep` of the blocks (latency and FLOPs only).

`--budgets 0.3,0.4,0.6` exports the dynamic model as one knob file (docs/tflite_signature.md,
"Budget knob files"), its table calibrated on `--knob_images` training images (rows at the
budgets asked for and evenly over the model's range), and times it at each budget beside the
static rows in the same interleaved run.
"""

import os

from absl import app, flags

from lcnet_tf.cli.errors import run_with_clear_errors
from lcnet_tf.export import load_keras_model
from lcnet_tf.export.benchmark import frontier_file_margins, load_images, run_benchmark
from lcnet_tf.export.gate_patterns import randomize_gates
from lcnet_tf.models import create_model
from lcnet_tf.pareto import static_points

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
flags.DEFINE_list("budgets", [], "Budgets (fractions of the reference FLOPs) to time one knob "
                  "file of the dynamic model at, e.g. 0.3,0.4,0.6.")
flags.DEFINE_string("frontier", None, "A pareto.json (benchmarks/pareto.py, e.g. "
                    "docs/pareto.json): every dynamic row's accuracy against its static "
                    "frontier at the row's realized FLOPs (medians over seeds; accuracies "
                    "compare only on the same test images: --num_images 10000 for CIFAR-10).")
flags.DEFINE_integer("knob_images", 2000, "Un-augmented training images the knob table is "
                     "calibrated on (with --budgets).", lower_bound=2)


def main(argv):
    del argv
    budgets, table = parse_budgets(FLAGS.budgets), None  # Bad flags fail before any work.
    points = frontier_points(FLAGS.frontier)
    if os.path.exists(FLAGS.model) or FLAGS.model.endswith(".keras"):
        model = load_keras_model(FLAGS.model)
    else:
        if budgets:
            raise ValueError(
                "Invalid value for `--budgets`: a knob file needs a trained .keras model "
                f"calibrated with one shared gate offset; --model {FLAGS.model!r} is a "
                "registered name (random gates with an offset per gate). Received: "
                f"--budgets {','.join(map(str, budgets))}")
        model = create_model(FLAGS.model, gating=FLAGS.gating)
        images, _ = load_images(FLAGS.dataset, "train", 256)
        randomize_gates(model, seed=0, block_keep_prob=FLAGS.gate_keep, images=images)
    if budgets:
        table = knob_table(model, FLAGS.dataset, budgets, FLAGS.knob_images)
    static_model = load_keras_model(FLAGS.static_model) if FLAGS.static_model else None
    reference = load_keras_model(FLAGS.reference_model) if FLAGS.reference_model else None
    summary, table, json_path, png_path = run_benchmark(
        model, FLAGS.dataset, FLAGS.out_dir, static_model=static_model,
        num_images=FLAGS.num_images, quantize=FLAGS.quantize, num_threads=FLAGS.threads,
        repeats=FLAGS.repeats, num_calibration=FLAGS.num_calibration, chunk=FLAGS.chunk,
        reference_model=reference, budget_table=table, budgets=budgets,
    )
    print(table)
    if points:
        print(frontier_lines(summary, points, FLAGS.frontier))
    print(f"report: {json_path}\nscatter: {png_path}")


def frontier_points(path):
    """The static points of `--frontier` (None without one); ValueError names the flag."""
    if path is None:
        return None
    try:
        return static_points(path)
    except ValueError as error:
        raise ValueError(str(error).replace("`frontier`", "`--frontier`")) from None


def frontier_lines(summary, points, path):
    """The `--frontier` comparison as text (`frontier_file_margins`)."""
    lines = [f"against the static frontier of {path} ("
             + ", ".join(f"{p['name']} {100 * p['test_accuracy']:.2f}% at {p['mflops']:.2f}"
                         for p in sorted(points, key=lambda p: p["mflops"])) + " MFLOPs):"]
    for name, row in frontier_file_margins(summary, points).items():
        margin = "outside its range" if row["margin"] is None else (
            f"{100 * row['margin']:+.2f} points (frontier {100 * row['frontier_accuracy']:.2f}%)")
        lines.append(f"  {name:<20} {100 * row['accuracy']:.2f}% at {row['mflops']:.2f} "
                     f"MFLOPs: {margin}")
    return "\n".join(lines)


def parse_budgets(values):
    """`--budgets` as floats, or ValueError naming the flag and the bad value."""
    budgets = []
    for value in values:
        try:
            budgets.append(float(value))
        except ValueError:
            raise ValueError(
                "Invalid value for `--budgets`: expected comma-separated numbers, fractions of "
                f"the reference FLOPs (e.g. 0.3,0.4,0.6). Received: {value!r}") from None
    return budgets


def knob_table(model, dataset, budgets, num_images):
    """The knob file's table: rows at `budgets` and evenly inside the model's range."""
    from lcnet_tf.training import budget_table

    images, _ = load_images(dataset, "train", num_images)
    print(f"calibrating the knob table on {len(images)} training images ...")
    return budget_table(model, images, include=budgets, verbose=1)


def run():
    """Console-script entry point."""
    app.run(run_with_clear_errors(main))


if __name__ == "__main__":
    run()

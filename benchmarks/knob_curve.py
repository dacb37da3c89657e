"""The budget knob's curve: one knob file at several budgets against the static frontier.

    for run in 1 2 3; do python -m tflite.benchmark --model runs/cifar_cascade_b04/model.keras \
        --dataset ../shared/data/cifar10_jpeg --num_images 10000 --quantize none,int8 \
        --budgets 0.3,0.4,0.6 --frontier docs/pareto.json --out_dir runs/knob/curve_run$run; done
    python benchmarks/knob_curve.py --reports runs/knob/curve_run1,runs/knob/curve_run2,... \
        --frontier docs/pareto.json --json_out docs/knob_curve.json --png_out docs/knob_curve.png

Reads the `report.json` of several `tflite.benchmark --budgets` runs of one model (interleaved
timing runs on a shared machine: the latencies are medians over the runs), and prints per
precision and row (the file's default and each budget): accuracy, realized FLOPs (ratio on
the test images and on the calibration images: the drift), mean and p50 latency, and the
margins over the static frontier (the timed stages at FLOPs and latency, same run; and the
`--frontier` pareto.json at FLOPs). Writes a JSON and a two-panel plot (accuracy against
MFLOPs with the pareto.json frontier; against mean latency, float and int8, with the stages).
"""

import json
from pathlib import Path

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_list("reports", None, "tflite.benchmark --budgets output directories (one per "
                  "timing run of the same model).", required=True)
flags.DEFINE_string("frontier", "docs/pareto.json", "pareto.json with the static points.")
flags.DEFINE_string("json_out", None, "Write the table here.")
flags.DEFINE_string("png_out", None, "Write the plot here.")


def load_runs(directories):
    missing = [str(d) for d in directories if not (Path(d) / "report.json").is_file()]
    if missing:
        raise app.UsageError(f"Invalid value for --reports: no report.json in {missing} (a "
                             "tflite.benchmark --budgets run not finished?)")
    runs = [json.loads((Path(d) / "report.json").read_text()) for d in directories]
    names = [set(run["models"]) for run in runs]
    if any(n != names[0] for n in names):
        raise ValueError("Invalid value for `--reports`: the runs time different rows "
                         f"({[sorted(n) for n in names]}).")
    return runs


def median_rows(runs):
    """Per row: accuracy and FLOPs (identical across runs) and median latencies."""
    rows = {}
    for name in runs[0]["models"]:
        first = runs[0]["models"][name]
        rows[name] = {
            "accuracy": first["accuracy"], "mflops": first["mean_flops"] / 1e6,
            "mean_ms": float(np.median([r["models"][name]["latency_ms"]["mean"] for r in runs])),
            "p50_ms": float(np.median([r["models"][name]["latency_ms"]["p50"] for r in runs])),
            "mean_ms_runs": [r["models"][name]["latency_ms"]["mean"] for r in runs],
        }
    return rows


def curve(runs, frontier_path):
    from lcnet_tf.export.benchmark import dynamic_row_names, frontier_margins, knob_row_name
    from lcnet_tf.pareto import frontier_accuracy, static_frontier, static_points

    rows = median_rows(runs)
    static = static_points(frontier_path)
    frontier = static_frontier(static)
    knob = runs[0]["metadata"].get("budget_knob", {})
    table = {}
    for variant, suffix in (("none", ""), ("int8", "_int8")):
        stages = [rows.get(name + suffix) for name in ("stage0", "static")]
        if any(stage is None for stage in stages):
            continue
        drift = {knob_row_name(row["budget"]): row for row in knob.get(variant, [])}
        for name in dynamic_row_names(rows, suffix):
            row, base = rows[name], name[:len(name) - len(suffix)]
            record = {"precision": variant, **{k: row[k] for k in ("accuracy", "mflops",
                                                                   "mean_ms", "p50_ms")}}
            record["budget"] = drift[base]["budget"] if base in drift else None
            if base in drift:
                record["calibration_flops_ratio"] = drift[base]["calibration_flops_ratio"]
                record["test_flops_ratio"] = drift[base]["test_flops_ratio"]
            at = frontier_accuracy(frontier, row["mflops"])
            record["vs_frontier_at_mflops"] = None if at is None else row["accuracy"] - at
            # The same margins `tflite.benchmark` prints, on the median latencies.
            margins = frontier_margins(_summary_row(row), [_summary_row(s) for s in stages])
            record.update({f"vs_stages_{key}": value for key, value in margins.items()})
            table[name] = record
    return {"rows": rows, "knob": table, "static_points": static}


def _summary_row(row):
    """A median row in the shape of a `compare_models` summary row."""
    return {"accuracy": row["accuracy"], "mean_flops": row["mflops"] * 1e6,
            "latency_ms": {"mean": row["mean_ms"], "p50": row["p50_ms"]}}


def format_curve(result, runs):
    lines = [f"{'row':<20}{'acc':>8}{'MFLOPs':>8}{'test/calib':>13}{'mean ms':>9}{'p50 ms':>8}"
             f"{'vs pareto@FLOPs':>17}{'vs stages@FLOPs':>17}{'@mean ms':>10}{'@p50 ms':>9}"]

    def points(value):
        return "n/a" if value is None else f"{100 * value:+.2f}"

    for name, row in result["knob"].items():
        ratio = (f"{row['test_flops_ratio']:.3f}/{row['calibration_flops_ratio']:.3f}"
                 if "test_flops_ratio" in row else "")
        lines.append(f"{name:<20}{100 * row['accuracy']:>7.2f}%{row['mflops']:>8.2f}"
                     f"{ratio:>13}{row['mean_ms']:>9.3f}{row['p50_ms']:>8.3f}"
                     f"{points(row['vs_frontier_at_mflops']):>17}"
                     f"{points(row['vs_stages_at_mflops']):>17}"
                     f"{points(row['vs_stages_at_mean_ms']):>10}"
                     f"{points(row['vs_stages_at_p50_ms']):>9}")
    for name in ("stage0", "static", "stage0_int8", "static_int8"):
        row = result["rows"].get(name)
        if row:
            lines.append(f"{name:<20}{100 * row['accuracy']:>7.2f}%{row['mflops']:>8.2f}"
                         f"{'':>13}{row['mean_ms']:>9.3f}{row['p50_ms']:>8.3f}")
    machine = runs[0]["metadata"]["machine"]
    lines.append(f"latencies: medians of {len(runs)} interleaved runs, 1 thread, "
                 f"{runs[0]['metadata']['num_images']} test images; machine: {machine['cpu']}, "
                 f"{machine['cpu_count']} cores; ISA {' '.join(machine['isa_flags'])}")
    return "\n".join(lines)


def plot(result, path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, (flops_axes, latency_axes) = plt.subplots(1, 2, figsize=(11, 4.3))
    from lcnet_tf.pareto import static_frontier

    static = result["static_points"]
    flops_axes.scatter([p["mflops"] for p in static], [100 * p["test_accuracy"] for p in static],
                       color="gray", label="static networks (pareto.json)")
    line = sorted(static_frontier(static), key=lambda p: p["mflops"])
    flops_axes.plot([p["mflops"] for p in line], [100 * p["test_accuracy"] for p in line], "--",
                    color="gray", label="their frontier")
    for variant, style in (("none", "-s"), ("int8", ":^")):
        knob = sorted((r for r in result["knob"].values()
                       if r["precision"] == variant and r["budget"] is not None),
                      key=lambda r: r["mflops"])
        label = "knob file" + (" int8" if variant == "int8" else " float")
        flops_axes.plot([r["mflops"] for r in knob], [100 * r["accuracy"] for r in knob], style,
                        label=label)
        latency_axes.plot([r["mean_ms"] for r in knob], [100 * r["accuracy"] for r in knob],
                          style, label=label)
        suffix = "" if variant == "none" else "_int8"
        stages = [result["rows"][n + suffix] for n in ("stage0", "static")
                  if n + suffix in result["rows"]]
        latency_axes.plot([s["mean_ms"] for s in stages], [100 * s["accuracy"] for s in stages],
                          "o--", color="gray" if variant == "none" else "silver",
                          label=f"its stages ({'float' if variant == 'none' else 'int8'})")
        for r in knob:
            flops_axes.annotate(f"{r['budget']:g}", (r["mflops"], 100 * r["accuracy"]),
                                fontsize=7, xytext=(3, -9), textcoords="offset points")
    flops_axes.set_xlabel("realized MFLOPs per image (test set)")
    latency_axes.set_xlabel("mean latency per image, ms (TFLite, 1 thread)")
    for axes in (flops_axes, latency_axes):
        axes.set_ylabel("test accuracy (%)")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    budgets = sorted({r["budget"] for r in result["knob"].values() if r["budget"] is not None})
    figure.suptitle(f"One knob file at budgets {' / '.join(f'{b:g}' for b in budgets)} "
                    "against static networks")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv):
    del argv
    runs = load_runs(FLAGS.reports)
    result = curve(runs, FLAGS.frontier)
    print(format_curve(result, runs))
    if FLAGS.json_out:
        Path(FLAGS.json_out).write_text(json.dumps(
            {"reports": FLAGS.reports, "frontier": FLAGS.frontier,
             "machine": runs[0]["metadata"]["machine"], **result}, indent=1))
    if FLAGS.png_out:
        plot(result, FLAGS.png_out)


if __name__ == "__main__":
    app.run(main)

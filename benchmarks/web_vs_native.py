"""Browser (LiteRT.js in headless Chromium) vs native (Python LiteRT) latency, in one run.

    python benchmarks/web_vs_native.py --dataset ../shared/data/cifar10_jpeg \
        --models dynamic=runs/x/model.keras,reference=runs/y/model.keras \
        --quantize none,int8 --reference reference --num_images 500 --repeats 3 \
        --out_dir runs/web_demo_scratch/web_vs_native

`.keras` models are exported (deployed signature: image only) in every precision of
`--quantize` (int8 calibrated on `--num_calibration` training images); `.tflite` paths are
used as they are. The same files then run on the same test images, one thread, with the
same protocol (`compare_models`: warm-up, models interleaved per chunk, median of
`--repeats` per image): first natively (`ai_edge_litert` Interpreter, XNNPACK), then in the
page (web_demo/, single-thread WASM build), driven by playwright-core + Debian's chromium.
Prints both tables, the browser/native ratios, how often the two runtimes agree on
decisions, realized FLOPs and top-1, and their largest logit difference; writes
`web_vs_native.json` into `--out_dir`.
"""

import json
import os
import subprocess
import threading
from pathlib import Path

import numpy as np
from absl import app, flags

from lcnet_tf.apps.web_demo import (
    QUANTIZE_SUFFIXES,
    dataset_class_names,
    make_server,
    write_demo_data,
)
from lcnet_tf.export import load_keras_model, to_tflite
from lcnet_tf.export.benchmark import TFLiteRunner, compare_models, format_table, load_images

REPO = Path(__file__).resolve().parents[1]
FLAGS = flags.FLAGS
flags.DEFINE_list("models", None, "name=path pairs (.keras or .tflite).", required=True)
flags.DEFINE_string("reference", "reference", "Name of the reference (static) model; with "
                    "several precisions the float one.")
flags.DEFINE_list("quantize", ["none", "int8"], "Precisions of the exported .keras models.")
flags.DEFINE_string("dataset", None, "TFDS name or prepared directory.", required=True)
flags.DEFINE_integer("num_images", 500, "Test images.")
flags.DEFINE_integer("repeats", 3, "Invokes per image (median).")
flags.DEFINE_integer("chunk", 50, "Images per interleaving chunk.")
flags.DEFINE_integer("warmup_ms", 2000, "Browser only: each model's warm-up lasts at least this "
                     "long (web_demo/src/protocol.js says why).")
flags.DEFINE_integer("num_calibration", 256, "Training images for int8 calibration.")
flags.DEFINE_string("out_dir", "runs/web_demo_scratch/web_vs_native", "Output directory.")
flags.DEFINE_string("chromium", os.environ.get("CHROMIUM", "/usr/bin/chromium"), "Chromium.")


def export_models(out_dir):
    models = {}
    calibration = None
    for item in FLAGS.models:
        name, _, path = item.partition("=")
        if not name or not path:
            raise app.UsageError(f"Invalid value for --models: expected name=path, got {item!r}")
        if path.endswith(".tflite"):
            models[name] = path
            continue
        model = load_keras_model(path)
        for variant in FLAGS.quantize:
            if variant == "int8" and calibration is None:
                calibration, _ = load_images(FLAGS.dataset, "train", FLAGS.num_calibration)
            target = out_dir / f"{name}{QUANTIZE_SUFFIXES[variant]}.tflite"
            to_tflite(model, target, quantize=variant,
                      representative_data=calibration if variant == "int8" else None)
            models[target.stem] = str(target)
    return models


def run_browser(data_dir, names, out_dir):
    server = make_server(data_dir, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    calls = [{"models": names, "numImages": FLAGS.num_images, "repeats": FLAGS.repeats,
              "chunk": FLAGS.chunk, "reference": FLAGS.reference, "warmupMs": FLAGS.warmup_ms}]
    calls_path = out_dir / "calls.json"
    calls_path.write_text(json.dumps(calls))
    try:
        result = subprocess.run(
            ["node", str(REPO / "web_demo" / "scripts" / "drive.mjs"), "--url",
             f"http://127.0.0.1:{server.server_address[1]}/", "--calls", str(calls_path),
             "--chromium", FLAGS.chromium, "--timeout", "3600000"],
            capture_output=True, text=True, timeout=4000)
    finally:
        server.shutdown()
        server.server_close()
    if result.returncode != 0:
        raise RuntimeError(f"browser run failed: {result.stderr[-3000:]}")
    output = json.loads(result.stdout)
    return output["calls"][0], output


def max_logit_difference(path, images, browser_logits):
    """Largest |browser - native| logit over the images (native: one more pass, untimed)."""
    runner = TFLiteRunner(path)
    native = np.stack([runner.run(image)[0]["logits"].reshape(-1) for image in images])
    return float(np.max(np.abs(native - np.asarray(browser_logits, dtype=np.float32))))


def agreement(native, browser, name):
    """Fractions of images whose gates / top-1 agree, and the largest logit difference."""
    gates_native = np.asarray(native[name]["gate"], dtype=np.float32)
    gates_browser = np.asarray(browser[name]["gate"], dtype=np.float32)
    same_gates = np.all(gates_native == gates_browser, axis=1).mean()
    flops_equal = np.mean(np.float32(browser[name]["flops"]) == np.float32(native[name]["flops"]))
    top1 = np.mean(np.asarray(browser[name]["correct"]) == native[name]["correct"])
    return float(same_gates), float(flops_equal), float(top1)


def main(argv):
    del argv
    out_dir = Path(FLAGS.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    models = export_models(out_dir)
    images, labels = load_images(FLAGS.dataset, "test", FLAGS.num_images)
    load_before = os.getloadavg()
    native_summary, native_per_image = compare_models(
        models, images, labels, reference=FLAGS.reference, num_threads=1,
        repeats=FLAGS.repeats, chunk=FLAGS.chunk, progress=False)
    data_dir = out_dir / "page_data"
    write_demo_data(data_dir, models, images, labels,
                    class_names=dataset_class_names(FLAGS.dataset))
    browser, raw = run_browser(data_dir, list(models), out_dir)
    load_after = os.getloadavg()
    print("native (ai_edge_litert, 1 thread):")
    print(format_table(native_summary))
    print(f"\nbrowser (LiteRT.js, {raw['env']['build']} build, Chromium headless):")
    browser_summary = {name: {**row, "num_if_ops": 0} for name, row in browser["summary"].items()}
    print(format_table(browser_summary))
    header = (f"\n{'model':<16}{'native ms':>10}{'browser ms':>11}{'ratio':>7}"
              f"{'native p50':>11}{'browser p50':>12}{'acc nat/web':>14}{'same gates':>11}"
              f"{'same FLOPs':>11}{'same top1':>10}{'max |dlogit|':>13}")
    print(header)
    rows = {}
    for name in models:
        nat, web = native_summary[name], browser["summary"][name]
        same_gates, same_flops, same_top1 = agreement(native_per_image, browser["perImage"], name)
        logit_difference = max_logit_difference(models[name], images,
                                                browser["perImage"][name]["logits"])
        rows[name] = {
            "native_ms": nat["latency_ms"], "browser_ms": web["latency_ms"],
            "browser_over_native": web["latency_ms"]["mean"] / nat["latency_ms"]["mean"],
            "native_accuracy": nat["accuracy"], "browser_accuracy": web["accuracy"],
            "native_mflops": nat["mean_flops"] / 1e6, "browser_mflops": web["mean_flops"] / 1e6,
            "same_gates": same_gates, "same_flops": same_flops, "same_correct": same_top1,
            "max_logit_difference": logit_difference,
            "native_latency_per_image": native_per_image[name]["latency_ms"].tolist(),
            "browser_latency_per_image": browser["perImage"][name]["latency_ms"],
        }
        print(f"{name:<16}{nat['latency_ms']['mean']:>10.3f}{web['latency_ms']['mean']:>11.3f}"
              f"{rows[name]['browser_over_native']:>7.2f}{nat['latency_ms']['p50']:>11.3f}"
              f"{web['latency_ms']['p50']:>12.3f}"
              f"{nat['accuracy']:>7.3f}/{web['accuracy']:.3f}{same_gates:>11.3f}"
              f"{same_flops:>11.3f}{same_top1:>10.3f}{logit_difference:>13.2e}")
    print(f"\nload average before/after: {load_before[0]:.2f} / {load_after[0]:.2f}; "
          f"{FLAGS.num_images} images, {FLAGS.repeats} repeats, chunk {FLAGS.chunk}; "
          f"{raw['env']['userAgent']}")
    from lcnet_tf.export.machine import machine_info

    report = {"models": models, "rows": rows, "native": native_summary,
              "browser": browser["summary"], "env": raw["env"],
              "load_average": [load_before, load_after], "machine": machine_info(),
              "settings": {"num_images": FLAGS.num_images, "repeats": FLAGS.repeats,
                           "chunk": FLAGS.chunk, "reference": FLAGS.reference}}
    (out_dir / "web_vs_native.json").write_text(json.dumps(report, indent=1, default=float))
    print(f"report: {out_dir / 'web_vs_native.json'}")


if __name__ == "__main__":
    app.run(main)

"""Golden cases: Python's benchmark protocol and summary on scripted runners, for the Java core.

`lcnet_tf.export.benchmark.compare_models` runs unchanged on runners that replay a script: each
`run` call takes the next duration of its model's script and returns that image's outputs
(logits, gate, realized_flops). The golden file holds the script and what Python made of it: the
call order, the per-image latencies and correctness, the summary, the same-precision rows and
the table text. The Android core replays the same script through its own protocol
(`org.lcnet.demo.core.Benchmark`) and summary, and must reproduce all of it
(`GoldenCheck`, `GoldenTest`; tests/android_demo/test_core_junit.py).

The cases cover NumPy's percentile on both sides of its interpolation switch (weight < 0.5 and
>= 0.5), odd and even repeat counts (median), latency ties, a chunk that does not divide the
image count, fewer images than the warm-up, a reference other than "static", and decisions that
make the latency decomposition unidentifiable.

    python tests/android_demo/android_golden.py    # rewrites the committed golden file
"""

import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
GOLDEN_PATH = REPO / "android_demo/core/src/test/resources/golden/benchmark_golden.json"
IMAGE_SHAPE = (2, 2, 3)  # Scripted images: the first pixel holds the image's index.

# name, images, classes, blocks, repeats, chunk, models (name -> kind), seed
CASES = (
    ("odd_images_even_repeats", 37, 4, 4, 2, 10,
     {"static": "static", "dynamic": "dynamic", "static_int8": "static",
      "dynamic_int8": "dynamic"}, 1),
    ("even_images_odd_repeats", 16, 3, 3, 3, 5,
     {"static": "static", "dynamic": "dynamic", "dynamic_int8": "collinear"}, 2),
    ("few_images_no_float_static", 4, 5, 2, 1, 3,
     {"dynamic_int8": "dynamic", "static_int8": "static"}, 3),
)


def _script(kind, num_images, num_classes, num_blocks, calls_per_image, labels, rng):
    """Outputs per image and the durations (ns) of every run call, in call order."""
    run_ns = rng.uniform(40_000, 120_000, num_blocks)
    fixed_ns = 60_000.0
    if kind == "static":
        gate = np.ones((num_images, num_blocks), np.float32)
    elif kind == "collinear":  # Blocks 0 and 1 always decide alike: no identifiable fit.
        gate = (rng.uniform(size=(num_images, num_blocks)) < 0.5).astype(np.float32)
        gate[:, 1] = gate[:, 0]
    else:
        gate = (rng.uniform(size=(num_images, num_blocks)) < 0.5).astype(np.float32)
        gate[0] = 1.0
        gate[1] = 0.0  # Every block varies.
    flops = (2.5e6 + gate.astype(np.float64) @ rng.uniform(1e6, 3e6, num_blocks)).astype(
        np.float32)
    logits = rng.normal(size=(num_images, num_classes)).astype(np.float32)
    right = rng.uniform(size=num_images) < 0.6
    logits[right, labels[right]] = 5.0
    logits[2, :] = 1.0  # A tie: argmax takes the first maximum.
    base_ns = fixed_ns + gate.astype(np.float64) @ run_ns
    image_ns = np.rint(base_ns * rng.uniform(0.9, 1.4, num_images)).astype(np.int64)
    if num_images > 4:
        image_ns[3] = image_ns[4]  # Latency ties.
    calls = []
    for index in calls_per_image:
        jitter = rng.uniform(0.95, 1.3)
        calls.append(int(np.rint(image_ns[index] * jitter)))
    return {
        "num_if_ops": 0 if kind == "static" else num_blocks,
        "call_ns": calls,
        "flops": [float(v) for v in flops],
        "logits": [[float(v) for v in row] for row in logits],
        "gate": [[float(v) for v in row] for row in gate],
    }


def _call_order(num_images, repeats, chunk):
    """Image index of every run call one model makes under compare_models."""
    order = list(range(min(5, num_images)))
    for start in range(0, num_images, chunk):
        order.append(start)
        for index in range(start, min(start + chunk, num_images)):
            order.extend([index] * repeats)
    return order


class ScriptedRunner:
    """Stands for `TFLiteRunner` in `compare_models`: replays one model's script."""

    def __init__(self, name, script, trace):
        self.name = name
        self.script = script
        self.trace = trace
        self.position = 0

    @property
    def num_if_ops(self):
        return self.script["num_if_ops"]

    def run(self, image):
        index = int(np.asarray(image)[0, 0, 0])
        self.trace.append([self.name, index])
        nanoseconds = self.script["call_ns"][self.position]
        self.position += 1
        gate = np.asarray(self.script["gate"][index], np.float32)
        outputs = {
            "logits": np.asarray(self.script["logits"][index], np.float32)[None],
            "gate": gate[None],
            "kept_groups": np.zeros_like(gate)[None],
            "realized_flops": np.asarray([self.script["flops"][index]], np.float32),
        }
        return outputs, nanoseconds / 1e9


def make_case(name, num_images, num_classes, num_blocks, repeats, chunk, kinds, seed):
    """One golden case: the script, then what `compare_models` computes from it."""
    from lcnet_tf.apps.android_assets import default_reference
    from lcnet_tf.export.benchmark import compare_models, format_table, same_precision_rows

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, num_images)
    order = _call_order(num_images, repeats, chunk)
    scripts = {model: _script(kind, num_images, num_classes, num_blocks, order, labels, rng)
               for model, kind in kinds.items()}
    images = np.zeros((num_images, *IMAGE_SHAPE), np.uint8)
    images[:, 0, 0, 0] = np.arange(num_images)
    trace = []
    reference = default_reference(kinds)
    summary, per_image = compare_models(
        {model: model for model in kinds}, images, labels, reference=reference, repeats=repeats,
        chunk=chunk, progress=False,
        runner_factory=lambda model, _threads: ScriptedRunner(model, scripts[model], trace))
    return {
        "name": name,
        "settings": {"num_images": num_images, "repeats": repeats, "chunk": chunk,
                     "reference": reference, "image_shape": list(IMAGE_SHAPE),
                     "num_classes": num_classes, "num_blocks": num_blocks},
        "labels": [int(label) for label in labels],
        "scripts": scripts,
        "expected": {
            "trace": trace,
            "per_image": {model: {"latency_ms": record["latency_ms"].tolist(),
                                  "correct": record["correct"].tolist()}
                          for model, record in per_image.items()},
            "summary": summary,
            "same_precision": same_precision_rows(summary),
            "table": format_table(summary),
        },
    }


def make_golden():
    """Every case, as the dict written to the golden file."""
    return {
        "about": "Python's compare_models on scripted runners "
                 "(tests/android_demo/android_golden.py); the Android core must reproduce it.",
        "format": 1,
        "cases": [make_case(*case) for case in CASES],
    }


def write_golden(path, golden=None):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(golden or make_golden(), indent=None) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    write_golden(sys.argv[1] if len(sys.argv) > 1 else GOLDEN_PATH)
    print(f"wrote {sys.argv[1] if len(sys.argv) > 1 else GOLDEN_PATH}")

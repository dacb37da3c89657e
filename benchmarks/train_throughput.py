"""Training throughput (images/s): plain backbone vs LC-Net, measured in one run.

    python benchmarks/train_throughput.py                      # resnet20 and resnet56
    python benchmarks/train_throughput.py --models resnet20 --steps 30 --batch_size 128

Each model trains `--steps` timed steps of `model.fit` on one cached synthetic batch (after
`--warmup` untimed steps that include compilation), with the same optimizer and loss as
`lcnet_tf.training`. The LC-Net model trains with its FLOPs penalty (budget 0.5). The two
models of a pair are measured alternately, `--repeats` times; each repeat gives one time
ratio, and the medians over repeats are printed (with the min-max range of the ratio), so
that a burst of load on a shared machine moves one repeat, not the result.
Target: LC-Net / backbone time ratio <= 1.25.
"""

import time

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags

import lcnet_tf

flags.DEFINE_list("models", ["resnet20", "resnet56"], "Models to measure.")
flags.DEFINE_integer("batch_size", 128, "Batch size.")
flags.DEFINE_integer("steps", 20, "Timed steps per measurement.")
flags.DEFINE_integer("warmup", 3, "Untimed steps (compilation) before measuring.")
flags.DEFINE_integer("repeats", 5, "Alternating measurements per model (medians reported).")
flags.DEFINE_string("jit_compile", "auto", "auto | true | false.")
FLAGS = flags.FLAGS


def _dataset(batch_size):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (batch_size, 32, 32, 3)).astype("uint8")
    labels = rng.integers(0, 10, (batch_size,)).astype("int32")
    return tf.data.Dataset.from_tensors((images, labels)).cache().repeat()


def _compiled(name, gating, jit_compile):
    budget = None if gating == "none" else 0.5
    model = lcnet_tf.create_model(name, gating=gating, budget=budget)
    model.compile(
        keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"], jit_compile=jit_compile,
    )
    return model


def _seconds(model, dataset, steps):
    start = time.perf_counter()
    model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
    return time.perf_counter() - start


def main(argv):
    del argv
    jit = {"auto": "auto", "true": True, "false": False}[FLAGS.jit_compile.lower()]
    dataset = _dataset(FLAGS.batch_size)
    images = FLAGS.batch_size * FLAGS.steps
    rows = []
    for name in FLAGS.models:
        models = {gating: _compiled(name, gating, jit) for gating in ("none", "lc")}
        for model in models.values():
            _seconds(model, dataset, FLAGS.warmup)
        seconds = {gating: [] for gating in models}
        for repeat in range(FLAGS.repeats):
            for gating, model in models.items():
                seconds[gating].append(_seconds(model, dataset, FLAGS.steps))
            print(f"{name} repeat {repeat + 1}/{FLAGS.repeats}: time ratio "
                  f"{seconds['lc'][-1] / seconds['none'][-1]:.3f}", flush=True)
        ratios = np.array(seconds["lc"]) / np.array(seconds["none"])
        plain = images / float(np.median(seconds["none"]))
        gated = images / float(np.median(seconds["lc"]))
        rows.append((name, plain, gated, float(np.median(ratios)), ratios.min(), ratios.max()))
    print(f"\nbatch {FLAGS.batch_size}, {FLAGS.steps} timed steps x {FLAGS.repeats} repeats, "
          f"jit_compile={jit}; medians over repeats")
    print(f"{'model':10s} {'backbone img/s':>15s} {'LC-Net img/s':>13s} {'ratio':>7s} "
          f"{'ratio range':>13s}")
    for name, plain, gated, ratio, low, high in rows:
        flag = "ok" if ratio <= 1.25 else "ABOVE 1.25"
        print(f"{name:10s} {plain:15.0f} {gated:13.0f} {ratio:7.3f} {low:6.3f}-{high:.3f}  {flag}")


if __name__ == "__main__":
    app.run(main)

"""Training throughput (images/s): plain backbone vs LC-Net, measured in one run.

    python benchmarks/train_throughput.py                      # resnet20 and resnet56
    python benchmarks/train_throughput.py --models resnet20 --steps 30 --batch_size 128

Each model trains on one synthetic batch with `train_on_batch` (the compiled train step of
`fit`, with the same optimizer and loss as `lcnet_tf.training`), each step timed on its own
after `--warmup` untimed steps that include compilation. The LC-Net model trains with its
FLOPs penalty (budget 0.5). The two models of a pair run `--steps` steps in turn, `--repeats`
times; the step time of a model is the median over all its timed steps, and each repeat also
gives one ratio of medians (their min-max range is printed), so that a burst of load on a
shared machine moves a few steps, not the result. (Timing whole `fit` calls instead gave wall
times quantized to multiples of ~2.55 s here, identical for both models.)
Target: LC-Net / backbone time ratio <= 1.25. `--distill` adds "LC-Net + KD": the gated model
trained with distillation from the static backbone (`compile(teacher=...)`), whose extra
teacher forward pass is the price of that lever. `--self_distill` adds "LC-Net + SD": the
gated model with self-distillation (`compile(self_distill_weight=0.7)`: a second forward and
backward pass through the full network every step).
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
flags.DEFINE_bool("distill", True, "Also time LC-Net trained with distillation from the backbone.")
flags.DEFINE_bool("self_distill", True, "Also time LC-Net trained with self-distillation.")
FLAGS = flags.FLAGS


def _batch(batch_size):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (batch_size, 32, 32, 3)).astype("uint8")
    labels = rng.integers(0, 10, (batch_size,)).astype("int32")
    return tf.constant(images), tf.constant(labels)


def _compiled(name, gating, jit_compile, teacher=None, self_distill=False):
    budget = None if gating == "none" else 0.5
    model = lcnet_tf.create_model(name, gating=gating, budget=budget)
    extra = {"teacher": teacher, "distill_weight": 0.7} if teacher is not None else {}
    if self_distill:
        extra = {"self_distill_weight": 0.7}
    model.compile(
        keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"], jit_compile=jit_compile, **extra,
    )
    return model


def _step_seconds(model, batch, steps):
    """Seconds of each of `steps` training steps (`train_on_batch` returns numpy: synced)."""
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(*batch)
        times.append(time.perf_counter() - start)
    return times


def main(argv):
    del argv
    jit = {"auto": "auto", "true": True, "false": False}[FLAGS.jit_compile.lower()]
    batch = _batch(FLAGS.batch_size)
    rows = []
    for name in FLAGS.models:
        models = {gating: _compiled(name, gating, jit) for gating in ("none", "lc")}
        if FLAGS.distill:
            # Its own teacher: `compile(teacher=...)` freezes the teacher, which would leave
            # the timed backbone with no trainable weights.
            teacher = lcnet_tf.create_model(name, gating="none")
            models["lc_kd"] = _compiled(name, "lc", jit, teacher=teacher)
        if FLAGS.self_distill:
            models["lc_sd"] = _compiled(name, "lc", jit, self_distill=True)
        for model in models.values():
            _step_seconds(model, batch, FLAGS.warmup)
        steps = {gating: [] for gating in models}
        ratios = []
        for repeat in range(FLAGS.repeats):
            medians = {}
            for gating, model in models.items():
                times = _step_seconds(model, batch, FLAGS.steps)
                steps[gating].extend(times)
                medians[gating] = float(np.median(times))
            ratios.append(medians["lc"] / medians["none"])
            kd = f", {medians['lc_kd']:.3f} s LC-Net + KD" if "lc_kd" in medians else ""
            kd += f", {medians['lc_sd']:.3f} s LC-Net + SD" if "lc_sd" in medians else ""
            print(f"{name} repeat {repeat + 1}/{FLAGS.repeats}: step {medians['none']:.3f} s "
                  f"backbone, {medians['lc']:.3f} s LC-Net{kd}, ratio {ratios[-1]:.3f}",
                  flush=True)
        plain_step, gated_step = (float(np.median(steps[g])) for g in ("none", "lc"))
        kd_step = float(np.median(steps["lc_kd"])) if "lc_kd" in steps else None
        sd_step = float(np.median(steps["lc_sd"])) if "lc_sd" in steps else None
        rows.append((name, FLAGS.batch_size / plain_step, FLAGS.batch_size / gated_step,
                     gated_step / plain_step, min(ratios), max(ratios), kd_step and (
                         FLAGS.batch_size / kd_step, kd_step / plain_step), sd_step and (
                         FLAGS.batch_size / sd_step, sd_step / plain_step)))
    from lcnet_tf.export.machine import machine_info

    machine = machine_info()
    print(f"machine: {machine['cpu']}, {machine['cpu_count']} cores; ISA "
          f"{' '.join(machine['isa_flags'])}")
    print(f"\nbatch {FLAGS.batch_size}, {FLAGS.steps} timed steps x {FLAGS.repeats} repeats, "
          f"jit_compile={jit}; median step times")
    print(f"{'model':10s} {'backbone img/s':>15s} {'LC-Net img/s':>13s} {'ratio':>7s} "
          f"{'ratio range':>13s}  {'LC-Net+KD img/s, ratio':>22s}  {'LC-Net+SD img/s, ratio':>22s}")
    for name, plain, gated, ratio, low, high, kd, sd in rows:
        flag = "ok" if ratio <= 1.25 else "ABOVE 1.25"
        kd_text = f"{kd[0]:15.0f} {kd[1]:6.3f}" if kd else f"{'':22s}"
        sd_text = f"{sd[0]:15.0f} {sd[1]:6.3f}" if sd else ""
        print(f"{name:10s} {plain:15.0f} {gated:13.0f} {ratio:7.3f} {low:6.3f}-{high:.3f}  "
              f"{flag:10s} {kd_text}  {sd_text}")


if __name__ == "__main__":
    app.run(main)

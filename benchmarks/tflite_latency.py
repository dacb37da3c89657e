"""Per-stage efficiency of block gating and channel gating in TFLite (one thread).

Each CIFAR ResNet stage is rebuilt alone (stride-1 blocks at the stage's
resolution and width, as a one-stage GatedResNet) with gates fixed to a known
pattern through their weights (`fix_gate_pattern`: the decisions are still
computed in the graph, so IF ops remain). Every configuration is converted
with `lcnet_tf.export.to_tflite` and timed interleaved with the static stage:
per round, mean invoke time over `--invokes` calls; ratios are taken within a
round and the median over rounds is printed.

efficiency = (static time / gated time) / (static FLOPs / gated FLOPs), 1.0 = ideal.

    python benchmarks/tflite_latency.py --blocks 9 --rounds 5 --int8
"""

import json
import time

import numpy as np
from absl import app, flags

import lcnet_tf
from lcnet_tf.export import to_tflite
from lcnet_tf.export.benchmark import TFLiteRunner
from lcnet_tf.export.gate_patterns import fix_gate_pattern

FLAGS = flags.FLAGS
flags.DEFINE_integer("blocks", 9, "Blocks per stage (3 = ResNet-20, 9 = ResNet-56).")
flags.DEFINE_integer("rounds", 5, "Interleaved timing rounds (median of ratios is reported).")
flags.DEFINE_integer("invokes", 100, "Invokes per configuration and round.")
flags.DEFINE_integer("threads", 1, "Interpreter threads.")
flags.DEFINE_list("stages", ["32x16", "16x32", "8x64"], "Stages as SIZExCHANNELS.")
flags.DEFINE_list(
    "configs", ["block", "G2k1", "G4k2", "G4k1", "lc_G2k1"],
    "Gated configurations: block (every other block runs), block_open / block_closed (every "
    "block runs / is skipped), GxkY (channel groups, keep Y), lc_GxkY (both).",
)
flags.DEFINE_list("int8_configs", ["block"], "Configurations also timed in int8 (with --int8).")
flags.DEFINE_bool("int8", False, "Also time the int8 static and block-gated stages.")
flags.DEFINE_string("json_out", None, "Optional path of a JSON dump of the results.")


def _stage_model(size, width, blocks, config):
    kwargs = {"stage_blocks": (blocks,), "stage_widths": (width,), "image_size": size,
              "name": f"stage_{size}x{width}_{config}"}
    if config == "static":
        return lcnet_tf.GatedResNet(gating="none", **kwargs)
    runs = [index % 2 == 0 for index in range(blocks)]  # Every other block: ~half of them.
    if config in ("block_open", "block_closed"):
        runs = [config == "block_open"] * blocks
    if config.startswith("block"):
        model = lcnet_tf.GatedResNet(gating="layer", **kwargs)
        fix_gate_pattern(model, block_runs=runs)
        return model
    lc = config.startswith("lc_")
    groups, keep = (int(v) for v in config.removeprefix("lc_").removeprefix("G").split("k"))
    model = lcnet_tf.GatedResNet(
        gating="lc" if lc else "channel", channel_groups=groups, channel_keep=keep / groups,
        **kwargs,
    )
    fix_gate_pattern(model, block_runs=runs if lc else None)
    return model


def _time_round(runners, image, invokes):
    means = {}
    for name, runner in runners.items():
        runner.run(image)
        start = time.perf_counter()
        for _ in range(invokes):
            runner.interpreter.invoke()
        means[name] = (time.perf_counter() - start) / invokes
    return means


def measure_stage(size, width, blocks, configs, rounds, invokes, threads, quantize="none"):
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (1, size, size, 3)).astype("float32")
    calibration = rng.uniform(0, 255, (32, size, size, 3)).astype("float32")
    runners, flops = {}, {}
    for config in ["static", *configs]:
        model = _stage_model(size, width, blocks, config)
        content = to_tflite(model, quantize=quantize,
                            representative_data=calibration if quantize == "int8" else None)
        runners[config] = TFLiteRunner(content, num_threads=threads)
        outputs, _ = runners[config].run(image)
        flops[config] = float(outputs["realized_flops"][0])
    ratios = {config: [] for config in configs}
    static_ms = []
    for _ in range(rounds):
        means = _time_round(runners, image, invokes)
        static_ms.append(1000 * means["static"])
        for config in configs:
            ratios[config].append(means["static"] / means[config])
    rows = {"static": {"ms": float(np.median(static_ms)), "flops": flops["static"]}}
    for config in configs:
        speedup = float(np.median(ratios[config]))
        flops_speedup = flops["static"] / flops[config]
        rows[config] = {
            "ms": rows["static"]["ms"] / speedup,
            "flops": flops[config],
            "flops_fraction": 1.0 / flops_speedup,
            "speedup": speedup,
            "efficiency": speedup / flops_speedup,
        }
    return rows


def main(argv):
    del argv
    results = {}
    for stage in FLAGS.stages:
        size, width = (int(v) for v in stage.split("x"))
        variants = [("float", "none", FLAGS.configs)]
        if FLAGS.int8:
            variants.append(("int8", "int8", FLAGS.int8_configs))
        for label, quantize, configs in variants:
            rows = measure_stage(size, width, FLAGS.blocks, configs, FLAGS.rounds, FLAGS.invokes,
                                 FLAGS.threads, quantize)
            results[f"{stage}/{label}"] = rows
            print(f"\nstage {size}x{size}x{width}, {FLAGS.blocks} blocks, {label}, "
                  f"{FLAGS.threads} thread(s): static {rows['static']['ms']:.3f} ms")
            print(f"  {'config':<10}{'FLOPs%':>8}{'ms':>9}{'speed-up':>10}{'efficiency':>12}")
            for config in configs:
                row = rows[config]
                print(f"  {config:<10}{100 * row['flops_fraction']:>7.1f}%{row['ms']:>9.3f}"
                      f"{row['speedup']:>9.2f}x{row['efficiency']:>12.2f}")
            if label == "int8":
                float_rows = results[f"{stage}/float"]
                ratios = ", ".join(
                    f"{config} {rows[config]['ms'] / float_rows[config]['ms']:.2f}"
                    for config in configs if config in float_rows
                )
                print(f"  int8/float latency: static "
                      f"{rows['static']['ms'] / float_rows['static']['ms']:.2f}, {ratios}")
    from lcnet_tf.export.machine import machine_info

    machine = machine_info()
    print(f"machine: {machine['cpu']}, {machine['cpu_count']} cores; ISA "
          f"{' '.join(machine['isa_flags'])}")
    if FLAGS.json_out:
        with open(FLAGS.json_out, "w") as file:
            json.dump({**results, "machine": machine}, file, indent=2)


if __name__ == "__main__":
    app.run(main)

"""Latency benchmark of exported models: dynamic vs static, on real images, one image at a time."""

import json
import os
import time

import keras
import numpy as np

import lcnet_tf.compat as compat
from lcnet_tf.budget_table import DECISIONS_INPUT, KNOB_SIGNATURE_KEY
from lcnet_tf.export.machine import machine_info
from lcnet_tf.export.tflite_export import (
    FORCE_INPUT,
    IMAGE_INPUT,
    SIGNATURE_KEY,
    read_budget_table,
)
from lcnet_tf.export.tflite_inspect import TFLiteModelError, read_tflite_bytes, summarize_tflite
from lcnet_tf.models import Cascade
from lcnet_tf.pareto import frontier_accuracy, static_frontier


class TFLiteRunner:
    """One-image inference through the "serve" signature, with the invoke timed alone.

    Args:
        model: `.tflite` bytes or a path.
        num_threads: CPU threads of the interpreter (1 = a phone's big core).
        budget: for a knob file (`to_tflite(..., budget_table=...)`): run its
            "serve_budget" signature with the decisions its table gives for this budget
            (`knob`: the `KnobSetting`); None: the "serve" signature.

    Example:
        >>> runner = TFLiteRunner("m.tflite")
        >>> outputs, seconds = runner.run(image)  # image (H, W, 3) or (1, H, W, 3)
        >>> TFLiteRunner("knob.tflite", budget=0.3).run(image)
    """

    def __init__(self, model, num_threads=1, budget=None):
        from ai_edge_litert.interpreter import Interpreter

        if not (isinstance(num_threads, int) and num_threads > 0):
            raise ValueError(
                f"Invalid value for `num_threads`: expected a positive int. "
                f"Received: num_threads={num_threads!r}"
            )
        if isinstance(model, bytes | bytearray):
            content = bytes(model)
            summarize_tflite(content)  # Raises TFLiteModelError on a corrupt model.
        else:
            content = read_tflite_bytes(model)
        self.content = content
        self.knob = None
        key = SIGNATURE_KEY
        if budget is not None:
            self.knob = read_budget_table(content).lookup(budget)
            key = KNOB_SIGNATURE_KEY
        try:
            self.interpreter = Interpreter(model_content=content, num_threads=num_threads)
            self.interpreter.allocate_tensors()
            signatures = self.interpreter.get_signature_list()
            if key not in signatures:
                raise TFLiteModelError(
                    f"The TFLite model has no {key!r} signature (found "
                    f"{sorted(signatures)}): export it with lcnet_tf.export.to_tflite."
                )
            runner = self.interpreter.get_signature_runner(key)
        except TFLiteModelError:
            raise
        except Exception as error:
            raise TFLiteModelError(f"LiteRT cannot load the model: {error}") from error
        self.input_details = runner.get_input_details()
        self.output_details = runner.get_output_details()
        self.has_force_input = FORCE_INPUT in self.input_details
        self.image_dtype = self.input_details[IMAGE_INPUT]["dtype"]
        self.image_shape = tuple(self.input_details[IMAGE_INPUT]["shape"])
        self._invoker = compat.SignatureInvoker(runner)
        self._decisions = (None if self.knob is None
                           else np.asarray(self.knob.decisions, np.float32))

    @property
    def num_if_ops(self):
        """IF ops in the model's graph (one per gated block and channel group)."""
        return summarize_tflite(self.content).num_if_ops

    def run(self, image, force_gates_open=False):
        """Runs one image; returns `(outputs dict, seconds spent in invoke)`.

        `force_gates_open=True` needs a model exported with `to_tflite(force_input=True)`.
        """
        image = np.asarray(image).reshape(self.image_shape).astype(self.image_dtype)
        self._invoker.set_input(IMAGE_INPUT, image)
        if self._decisions is not None:
            # Set before every invoke: an invoke may reallocate the subgraph's inputs (seen
            # in a cascade, whose decisions feed an IF).
            self._invoker.set_input(DECISIONS_INPUT, self._decisions)
        if self.has_force_input:
            self._invoker.set_input(FORCE_INPUT,
                                    np.array([1.0 if force_gates_open else 0.0], np.float32))
        elif force_gates_open:
            raise ValueError(
                "Invalid value for `force_gates_open`: this model has no force_gates_open "
                "input; export it with lcnet_tf.export.to_tflite(..., force_input=True)."
            )
        start = time.perf_counter()
        self._invoker.invoke()
        seconds = time.perf_counter() - start
        return self._invoker.outputs(), seconds


def latency_stats(latencies_ms):
    latencies_ms = np.asarray(latencies_ms, dtype=np.float64)
    return {
        "mean": float(latencies_ms.mean()),
        "p50": float(np.percentile(latencies_ms, 50)),
        "p90": float(np.percentile(latencies_ms, 90)),
    }


def compare_models(models, images, labels, *, reference="static", num_threads=1, repeats=1,
                   chunk=50, progress=True, runner_factory=None):
    """Runs every model on every image, interleaved, and compares them with `reference`.

    Images go in chunks of `chunk`: each model runs the whole chunk (after
    one untimed warm-up invoke) before the next model runs the same chunk.
    A chunk takes tens of milliseconds, so load on a shared machine hits the
    models alike, while each model runs with warm caches as in an app that
    runs one model on a stream of images (alternating four models on every
    image measured the other models' cache misses: static ResNet-20 1.01 ms
    instead of 0.85 ms). Per image, the latency is the median of `repeats`
    invokes.

    Args:
        models: dict name -> `.tflite` bytes or path; must contain `reference`.
        images: (N, H, W, 3) pixels in 0-255.
        labels: (N,) int labels.
        reference: name of the static model the others are compared with.
        num_threads: interpreter threads.
        repeats: invokes per image and model.
        chunk: images per interleaving chunk (1 = alternate on every image).
        progress: show a progress bar.
        runner_factory: `(model, num_threads) -> runner` with `TFLiteRunner`'s `run`
            and `num_if_ops`; None for `TFLiteRunner`. (tests/android_demo runs this
            protocol on scripted runners to check the Android app's copy of it.)

    Returns:
        `(summary, per_image)`: summary dict name -> {accuracy, mean_flops,
        latency_ms {mean, p50, p90}, speedup, flops_speedup, efficiency, ...};
        per_image dict name -> {latency_ms, flops, correct} arrays.
    """
    if reference not in models:
        raise ValueError(
            f"Invalid value for `reference`: expected one of {sorted(models)}. "
            f"Received: reference={reference!r}"
        )
    if not (isinstance(chunk, int) and chunk > 0):
        raise ValueError(
            f"Invalid value for `chunk`: expected a positive int. Received: chunk={chunk!r}"
        )
    images = np.asarray(images)
    labels = np.asarray(labels).astype(np.int64)
    if images.ndim != 4 or len(images) != len(labels) or not len(images):
        raise ValueError(
            "Invalid value for `images`/`labels`: expected (N, H, W, 3) images and N labels, "
            f"N > 0. Received: images.shape={images.shape}, labels.shape={labels.shape}"
        )
    runner_factory = runner_factory or TFLiteRunner
    runners = {name: runner_factory(model, num_threads) for name, model in models.items()}
    per_image = {
        name: {
            "latency_ms": np.zeros(len(images)),
            "flops": np.zeros(len(images)),
            "correct": np.zeros(len(images), bool),
            "gate": [],
        }
        for name in models
    }
    for runner in runners.values():  # Warm-up (allocations, XNNPACK packing).
        for image in images[:5]:
            runner.run(image)
    bar = keras.utils.Progbar(len(images), unit_name="image") if progress else None
    for start in range(0, len(images), chunk):
        stop = min(start + chunk, len(images))
        for name, runner in runners.items():
            runner.run(images[start])  # Untimed: caches warm for this model again.
            record = per_image[name]
            for index in range(start, stop):
                times = []
                for _ in range(repeats):
                    outputs, seconds = runner.run(images[index])
                    times.append(seconds)
                record["latency_ms"][index] = 1000.0 * float(np.median(times))
                record["flops"][index] = float(outputs["realized_flops"].reshape(-1)[0])
                record["correct"][index] = int(np.argmax(outputs["logits"])) == labels[index]
                record["gate"].append(outputs["gate"].reshape(-1))
        if bar is not None:
            bar.update(stop)
    ref = per_image[reference]
    ref_latency = ref["latency_ms"].mean()
    ref_flops = ref["flops"].mean()
    summary = {}
    for name, record in per_image.items():
        latency_speedup = ref_latency / record["latency_ms"].mean()
        flops_speedup = ref_flops / record["flops"].mean()
        summary[name] = {
            "accuracy": float(record["correct"].mean()),
            "mean_flops": float(record["flops"].mean()),
            "flops_fraction": float(record["flops"].mean() / ref_flops),
            "latency_ms": latency_stats(record["latency_ms"]),
            "speedup": float(latency_speedup),
            "flops_speedup": float(flops_speedup),
            "efficiency": float(latency_speedup / flops_speedup),
            "block_run_rate": float(np.mean(record["gate"])),
            "num_if_ops": runners[name].num_if_ops,
        }
        record["gate"] = np.stack(record["gate"])
        summary[name]["latency_model"] = latency_decomposition(
            record["latency_ms"], record["gate"]
        )
    return summary, per_image


def knob_row_name(budget):
    """The summary row of a knob file timed at `budget`: "dynamic@0.400"."""
    return f"dynamic@{budget:.3f}"


def knob_runner(model, num_threads):
    """`compare_models` runner factory: `(path, budget)` runs a knob file's "serve_budget"
    at that budget, anything else its "serve" signature."""
    if isinstance(model, tuple):
        path, budget = model
        return TFLiteRunner(path, num_threads, budget=budget)
    return TFLiteRunner(model, num_threads)


def knob_rows(summary, table, budgets, quantize):
    """Per variant and budget: the decisions, the FLOPs the table expects (calibration
    images) and the realized test FLOPs, both as fractions of the reference (their gap is
    the calibration drift), accuracy and latency."""
    reference = float(table.reference_flops)
    rows = {}
    for variant in quantize:
        suffix = "" if variant == "none" else f"_{variant}"
        for budget in budgets:
            row = summary.get(f"{knob_row_name(budget)}{suffix}")
            if row is None:
                continue
            setting = table.lookup(budget)
            rows.setdefault(variant, []).append({
                "budget": budget, "decisions": list(setting.decisions),
                "calibration_flops_ratio": setting.expected_flops / reference,
                "test_flops_ratio": row["mean_flops"] / reference,
                "accuracy": row["accuracy"], "latency_ms": row["latency_ms"]})
    return rows


def latency_decomposition(latency_ms, gate):
    """Least-squares fit `latency = fixed + sum_b gate_b * run_b` over the images.

    `fixed` is what an image costs with every gated block skipped (stem, head,
    gate networks, skip branches, ungated blocks); `run_b` what running block b
    adds. Compared with the static model's time per block, it shows where a
    dynamic model loses efficiency. None when no block's decision varies.

    Args:
        latency_ms: (N,) per-image latency.
        gate: (N, blocks) 0/1 decisions.

    Returns:
        `{"fixed_ms", "run_ms" (list over blocks, None for blocks whose decision
        never changes), "r2", "always_run_blocks"}`, or None when no decision
        varies or the costs cannot be told apart (collinear decisions).
    """
    gate = np.asarray(gate, dtype=np.float64)
    varying = gate.std(axis=0) > 0
    if not varying.any() or len(latency_ms) <= varying.sum() + 1:
        return None
    design = np.concatenate([np.ones((len(gate), 1)), gate[:, varying]], axis=1)
    if np.linalg.matrix_rank(design) < design.shape[1]:
        return None
    coef, *_ = np.linalg.lstsq(design, latency_ms, rcond=None)
    fitted = design @ coef
    total = float(np.sum((latency_ms - latency_ms.mean()) ** 2))
    r2 = 1.0 - float(np.sum((latency_ms - fitted) ** 2)) / total if total > 0 else 0.0
    # Blocks that always run (or never) are folded into `fixed`.
    always = np.where(~varying, gate[0], 0.0)
    run_ms = [None] * gate.shape[1]
    for index, value in zip(np.flatnonzero(varying), coef[1:], strict=True):
        run_ms[int(index)] = float(value)
    return {"fixed_ms": float(coef[0]), "run_ms": run_ms, "r2": float(r2),
            "always_run_blocks": [int(i) for i in np.flatnonzero(always > 0)]}


def same_precision_rows(summary):
    """`dynamic_<q>` against `static_<q>` for every precision q both were timed in.

    The table's speed-up and efficiency compare every row with the float static
    model; these compare the dynamic model with the static one of its own
    precision (e.g. int8 with int8).
    """
    rows = {}
    for name, row in summary.items():
        if not name.startswith("dynamic"):
            continue
        static = summary.get("static" + name[len("dynamic"):])
        if static is None:
            continue
        speedup = static["latency_ms"]["mean"] / row["latency_ms"]["mean"]
        flops_speedup = static["mean_flops"] / row["mean_flops"]
        rows[name] = {"speedup": float(speedup), "efficiency": float(speedup / flops_speedup)}
    return rows


def format_table(summary):
    """The side-by-side table as text."""
    header = (f"{'model':<20}{'acc':>7}{'MFLOPs':>9}{'FLOPs%':>8}{'mean ms':>9}{'p50 ms':>8}"
              f"{'p90 ms':>8}{'speed-up':>10}{'eff.':>7}")
    lines = [header, "-" * len(header)]
    for name, row in summary.items():
        lat = row["latency_ms"]
        lines.append(
            f"{name:<20}{row['accuracy']:>7.4f}{row['mean_flops'] / 1e6:>9.2f}"
            f"{100 * row['flops_fraction']:>7.1f}%{lat['mean']:>9.3f}{lat['p50']:>8.3f}"
            f"{lat['p90']:>8.3f}{row['speedup']:>9.2f}x{row['efficiency']:>7.2f}"
        )
    for name, row in summary.items():
        fit = row.get("latency_model")
        if fit is not None:
            runs = " ".join("-" if v is None else f"{v:.3f}" for v in fit["run_ms"])
            lines.append(f"{name} latency ~ {fit['fixed_ms']:.3f} ms fixed + per run block "
                         f"[{runs}] ms (least squares, R^2 {fit['r2']:.2f})")
    for name, row in same_precision_rows(summary).items():
        static = "static" + name[len("dynamic"):]
        lines.append(f"{name} vs {static}: speed-up {row['speedup']:.2f}x, "
                     f"efficiency {row['efficiency']:.2f}")
    return "\n".join(lines)


def write_report(summary, per_image, out_dir, metadata=None):
    """Writes `report.json` and `latency_vs_flops.png` into `out_dir`; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    json_path = os.path.join(out_dir, "report.json")
    with open(json_path, "w") as file:
        json.dump({"metadata": metadata or {}, "models": summary}, file, indent=2)
    png_path = os.path.join(out_dir, "latency_vs_flops.png")
    figure, axes = plt.subplots(figsize=(6.5, 4.5))
    for name, record in per_image.items():
        axes.scatter(record["flops"] / 1e6, record["latency_ms"], s=6, alpha=0.5, label=name)
    axes.set_xlabel("realized MFLOPs per image (1 MAC = 1 FLOP)")
    axes.set_ylabel("latency per image (ms)")
    axes.set_title("TFLite, one image at a time")
    axes.legend()
    figure.tight_layout()
    figure.savefig(png_path, dpi=120)
    plt.close(figure)
    return json_path, png_path


def stage_frontier_margins(summary, stage_names, quantize):
    """The cascade ("dynamic" rows) against the static frontier its own stages draw (the
    "stage<i>" rows and "static", the last stage), per precision: accuracy minus the
    frontier's, at the cascade's mean FLOPs, mean latency and p50 latency (None outside the
    stages' range). The stages are measured in the same interleaved run, so the latency
    margins compare like with like."""
    margins = {}
    for variant in quantize:
        suffix = "" if variant == "none" else f"_{variant}"
        rows = [summary.get(f"{name}{suffix}") for name in (*stage_names, "static")]
        if any(row is None for row in rows):
            continue
        for name in dynamic_row_names(summary, suffix):
            base = name[:len(name) - len(suffix)]
            key = variant if base == "dynamic" else f"{variant} {base}"
            margins[key] = frontier_margins(summary[name], rows)
    return margins


def frontier_file_margins(summary, points):
    """Every dynamic row of `summary` (default and knob rows, every precision) against the
    static frontier of `points` (`lcnet_tf.pareto.static_points`) at the row's realized
    FLOPs: `{row: {"accuracy", "mflops", "frontier_accuracy", "margin"}}` (None outside the
    frontier's range)."""
    frontier = static_frontier(points)
    margins = {}
    for name, row in summary.items():
        if not name.startswith("dynamic"):
            continue
        at = frontier_accuracy(frontier, row["mean_flops"] / 1e6)
        margins[name] = {"accuracy": row["accuracy"], "mflops": row["mean_flops"] / 1e6,
                         "frontier_accuracy": at,
                         "margin": None if at is None else row["accuracy"] - at}
    return margins


def dynamic_row_names(summary, suffix):
    """The "dynamic" row of a variant and its knob rows ("dynamic@<budget>")."""
    names = []
    for name in summary:
        base = name[:-len(suffix)] if suffix and name.endswith(suffix) else name
        if (not suffix or name.endswith(suffix)) and (
                base == "dynamic" or (base.startswith("dynamic@") and "_" not in base)):
            names.append(name)
    return names


def frontier_margins(dynamic, rows):
    """Accuracy of row `dynamic` minus the static frontier of `rows` at its FLOPs, mean and
    p50 latency (None outside their range)."""
    points = [{"mflops": row["mean_flops"] / 1e6, "mean_ms": row["latency_ms"]["mean"],
               "p50_ms": row["latency_ms"]["p50"], "test_accuracy": row["accuracy"]}
              for row in rows]
    cost = {"mflops": dynamic["mean_flops"] / 1e6, "mean_ms": dynamic["latency_ms"]["mean"],
            "p50_ms": dynamic["latency_ms"]["p50"]}
    margins = {}
    for key, value in cost.items():
        at_cost = frontier_accuracy(static_frontier(points, cost_key=key), value, cost_key=key)
        margins[f"at_{key}"] = None if at_cost is None else float(dynamic["accuracy"] - at_cost)
    return margins


def load_images(dataset, split, num_images, *, training=False):
    """First `num_images` images and labels of a split, as numpy (uint8 NHWC, int64)."""
    from lcnet_tf.data import make_dataset

    pipeline = make_dataset(dataset, split, batch_size=min(500, num_images), training=training,
                            take=num_images, cache=False)
    images, labels = [], []
    for batch_images, batch_labels in pipeline:
        images.append(batch_images.numpy())
        labels.append(batch_labels.numpy())
    return np.concatenate(images), np.concatenate(labels).astype(np.int64)


def _static_twin(model):
    """The same backbone without gates (fresh weights unless trained separately)."""
    config = {**model.get_config(), "gating": "none", "name": f"{model.name}_static"}
    return type(model).from_config(config)


def run_benchmark(model, dataset, out_dir, *, static_model=None, num_images=1000,
                  quantize=("none",), num_threads=1, repeats=1, num_calibration=256,
                  chunk=50, progress=True, reference_model=None, budget_table=None,
                  budgets=()):
    """Converts a dynamic model and its static twin, times both on real test images.

    Args:
        model: a trained `GatedResNet` (or one with gates set by
            `lcnet_tf.export.gate_patterns`).
        dataset: TFDS name or prepared directory (test split for timing, train
            split for int8 calibration).
        out_dir: where `report.json`, `latency_vs_flops.png` and the `.tflite`
            files go.
        static_model: the trained static backbone; None: for a `Cascade`, its own
            stages (the last as "static", the others as "stage<i>" rows: the static
            frontier the cascade is measured against, at its FLOPs and at its latency);
            for a gated network, an untrained one built from `model`'s config (latency
            and FLOPs are then meaningful, its accuracy is not: the report says so).
        num_images: test images to run.
        quantize: variants to convert, from "none", "fp16", "dynamic", "int8";
            each is converted for both the dynamic and the static model.
        num_threads: interpreter threads (1 = one phone big core).
        repeats: invokes per image (median taken).
        num_calibration: training images for int8 calibration.
        chunk: images per interleaving chunk (see `compare_models`).
        progress: show a progress bar.
        reference_model: optional trained equal-cost static network (e.g. the main
            job's `static_reference/model.keras`), converted and timed in the same
            interleaved run as "reference" rows.
        budget_table: the dynamic model's `BudgetTable` (`lcnet_tf.training.budget_table`):
            the dynamic model is exported as one knob file per variant, its "serve"
            signature timed as "dynamic" and its "serve_budget" signature at each of
            `budgets` as "dynamic@<budget>" (same interleaved run).
        budgets: budgets (fractions of the table's reference FLOPs) to time the knob file
            at; each must lie in the table's range.

    Returns:
        `(summary, text_table, json_path, png_path)`.
    """
    from lcnet_tf.export.tflite_export import QUANTIZATIONS, to_tflite

    quantize = tuple(quantize)
    bad = [q for q in quantize if q not in QUANTIZATIONS]
    if bad or not quantize:
        raise ValueError(
            f"Invalid value for `quantize`: expected a non-empty subset of {QUANTIZATIONS}. "
            f"Received: quantize={quantize!r}"
        )
    if not (isinstance(num_images, int) and num_images > 0):
        raise ValueError(
            f"Invalid value for `num_images`: expected a positive int. Received: {num_images!r}"
        )
    budgets = tuple(float(budget) for budget in budgets)
    names = [knob_row_name(budget) for budget in budgets]
    if len(set(names)) != len(names):
        raise ValueError(
            "Invalid value for `budgets`: expected budgets that differ at 3 decimals (the "
            f"rows are named {names}). Received: budgets={budgets!r}")
    if budget_table is not None and not hasattr(budget_table, "lookup"):
        raise ValueError(
            "Invalid value for `budget_table`: expected a lcnet_tf.budget_table.BudgetTable. "
            f"Received: {type(budget_table).__name__}")
    if budgets and budget_table is None:
        raise ValueError(
            "Invalid value for `budgets`: timing a model at budgets needs its `budget_table` "
            f"(lcnet_tf.training.budget_table). Received: budgets={budgets!r}, "
            "budget_table=None")
    for budget in budgets:
        budget_table.lookup(budget)  # ValueError naming the table's range.
    static_trained = static_model is not None
    stage_roles = []
    if static_model is None and isinstance(model, Cascade):
        static_model, static_trained = model.stages[-1], True
        stage_roles = [(f"stage{index}", stage) for index, stage in enumerate(model.stages[:-1])]
    elif static_model is None:
        static_model = _static_twin(model)
    os.makedirs(out_dir, exist_ok=True)
    calibration = None
    if "int8" in quantize:
        calibration, _ = load_images(dataset, "train", num_calibration)
    models = {}
    for variant in quantize:
        suffix = "" if variant == "none" else f"_{variant}"
        roles = [("static", static_model), *stage_roles, ("dynamic", model)]
        if reference_model is not None:
            roles.append(("reference", reference_model))
        for role, keras_model in roles:
            path = os.path.join(out_dir, f"{role}{suffix}.tflite")
            knob = budget_table if role == "dynamic" else None
            to_tflite(keras_model, path, quantize=variant,
                      representative_data=calibration if variant == "int8" else None,
                      budget_table=knob)
            models[f"{role}{suffix}"] = path
            if knob is not None:
                for budget in budgets:
                    models[f"{knob_row_name(budget)}{suffix}"] = (path, budget)
    reference = "static" if "none" in quantize else f"static_{quantize[0]}"
    images, labels = load_images(dataset, "test", num_images)
    summary, per_image = compare_models(models, images, labels, reference=reference,
                                        num_threads=num_threads, repeats=repeats,
                                        chunk=chunk, progress=progress,
                                        runner_factory=knob_runner)
    metadata = {
        "model": model.name,
        "dataset": str(dataset),
        "num_images": int(len(images)),
        "num_threads": num_threads,
        "repeats": repeats,
        "chunk": chunk,
        "reference": reference,
        "static_trained": static_trained,
        "efficiency": "(reference latency / latency) / (reference FLOPs / FLOPs)",
        "flops_convention": "1 multiply-accumulate = 1 FLOP; gate networks included",
        "machine": machine_info(),
    }
    for variant in quantize:
        if variant != "none" and "none" in quantize:
            float_row, quant_row = summary["dynamic"], summary[f"dynamic_{variant}"]
            metadata[f"dynamic_{variant}_vs_float"] = {
                "latency_ratio": quant_row["latency_ms"]["mean"] / float_row["latency_ms"]["mean"],
                "accuracy_drop": float_row["accuracy"] - quant_row["accuracy"],
            }
    metadata["same_precision"] = same_precision_rows(summary)
    if budget_table is not None:
        metadata["budget_knob"] = knob_rows(summary, budget_table, budgets, quantize)
    if stage_roles:
        metadata["stage_frontier"] = stage_frontier_margins(
            summary, [role for role, _ in stage_roles], quantize)
    json_path, png_path = write_report(summary, per_image, out_dir, metadata)
    table = format_table(summary)
    machine = metadata["machine"]
    table += (f"\nmachine: {machine['cpu']}, {machine['cpu_count']} cores; ISA "
              f"{' '.join(machine['isa_flags']) or 'n/a'}")
    for variant, margins in metadata.get("stage_frontier", {}).items():
        table += "\n" + "  ".join(
            [f"cascade ({variant}) vs the line between its stages:"]
            + [f"{key} {'n/a' if value is None else f'{100 * value:+.2f} points'}"
               for key, value in margins.items()])
    if not static_trained:
        table += "\n(static model untrained: its accuracy is not meaningful; latency and FLOPs are)"
    return summary, table, json_path, png_path

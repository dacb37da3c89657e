"""Latency benchmark of exported models: dynamic vs static, on real images, one image at a time."""

import json
import os
import time

import keras
import numpy as np

from lcnet_tf.export.tflite_export import FORCE_INPUT, IMAGE_INPUT, SIGNATURE_KEY
from lcnet_tf.export.tflite_inspect import TFLiteModelError, read_tflite_bytes, summarize_tflite


class TFLiteRunner:
    """One-image inference through the "serve" signature, with the invoke timed alone.

    Args:
        model: `.tflite` bytes or a path.
        num_threads: CPU threads of the interpreter (1 = a phone's big core).

    Example:
        >>> runner = TFLiteRunner("m.tflite")
        >>> outputs, seconds = runner.run(image)  # image (H, W, 3) or (1, H, W, 3)
    """

    def __init__(self, model, num_threads=1):
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
        try:
            self.interpreter = Interpreter(model_content=content, num_threads=num_threads)
            self.interpreter.allocate_tensors()
            signatures = self.interpreter.get_signature_list()
            if SIGNATURE_KEY not in signatures:
                raise TFLiteModelError(
                    f"The TFLite model has no {SIGNATURE_KEY!r} signature (found "
                    f"{sorted(signatures)}): export it with lcnet_tf.export.to_tflite."
                )
            runner = self.interpreter.get_signature_runner(SIGNATURE_KEY)
        except TFLiteModelError:
            raise
        except Exception as error:
            raise TFLiteModelError(f"LiteRT cannot load the model: {error}") from error
        self.input_details = runner.get_input_details()
        self.output_details = runner.get_output_details()
        self.image_dtype = self.input_details[IMAGE_INPUT]["dtype"]
        self.image_shape = tuple(self.input_details[IMAGE_INPUT]["shape"])


    def run(self, image, force_gates_open=False):
        """Runs one image; returns `(outputs dict, seconds spent in invoke)`."""
        image = np.asarray(image).reshape(self.image_shape).astype(self.image_dtype)
        self.interpreter.set_tensor(self.input_details[IMAGE_INPUT]["index"], image)
        self.interpreter.set_tensor(
            self.input_details[FORCE_INPUT]["index"],
            np.array([1.0 if force_gates_open else 0.0], np.float32),
        )
        start = time.perf_counter()
        self.interpreter.invoke()
        seconds = time.perf_counter() - start
        outputs = {
            name: self.interpreter.get_tensor(detail["index"]).copy()
            for name, detail in self.output_details.items()
        }
        return outputs, seconds


def latency_stats(latencies_ms):
    latencies_ms = np.asarray(latencies_ms, dtype=np.float64)
    return {
        "mean": float(latencies_ms.mean()),
        "p50": float(np.percentile(latencies_ms, 50)),
        "p90": float(np.percentile(latencies_ms, 90)),
    }


def compare_models(models, images, labels, *, reference="static", num_threads=1, repeats=1,
                   progress=True):
    """Runs every model on every image, interleaved, and compares them with `reference`.

    Models run one after the other on the same image before the next image,
    so that load on a shared machine hits them alike. Per image, the latency
    is the median of `repeats` invokes.

    Args:
        models: dict name -> `.tflite` bytes or path; must contain `reference`.
        images: (N, H, W, 3) pixels in 0-255.
        labels: (N,) int labels.
        reference: name of the static model the others are compared with.
        num_threads: interpreter threads.
        repeats: invokes per image and model.
        progress: show a progress bar.

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
    images = np.asarray(images)
    labels = np.asarray(labels).astype(np.int64)
    if images.ndim != 4 or len(images) != len(labels) or not len(images):
        raise ValueError(
            "Invalid value for `images`/`labels`: expected (N, H, W, 3) images and N labels, "
            f"N > 0. Received: images.shape={images.shape}, labels.shape={labels.shape}"
        )
    runners = {name: TFLiteRunner(model, num_threads) for name, model in models.items()}
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
    for index, image in enumerate(images):
        for name, runner in runners.items():
            times = []
            for _ in range(repeats):
                outputs, seconds = runner.run(image)
                times.append(seconds)
            record = per_image[name]
            record["latency_ms"][index] = 1000.0 * float(np.median(times))
            record["flops"][index] = float(outputs["realized_flops"].reshape(-1)[0])
            record["correct"][index] = int(np.argmax(outputs["logits"])) == labels[index]
            record["gate"].append(outputs["gate"].reshape(-1))
        if bar is not None and (index + 1) % 25 == 0 or index + 1 == len(images):
            if bar is not None:
                bar.update(index + 1)
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
            "num_if_ops": summarize_tflite(runners[name].content).num_if_ops,
        }
        record["gate"] = np.stack(record["gate"])
    return summary, per_image


def format_table(summary):
    """The side-by-side table as text."""
    header = (f"{'model':<16}{'acc':>7}{'MFLOPs':>9}{'FLOPs%':>8}{'mean ms':>9}{'p50 ms':>8}"
              f"{'p90 ms':>8}{'speed-up':>10}{'eff.':>7}")
    lines = [header, "-" * len(header)]
    for name, row in summary.items():
        lat = row["latency_ms"]
        lines.append(
            f"{name:<16}{row['accuracy']:>7.4f}{row['mean_flops'] / 1e6:>9.2f}"
            f"{100 * row['flops_fraction']:>7.1f}%{lat['mean']:>9.3f}{lat['p50']:>8.3f}"
            f"{lat['p90']:>8.3f}{row['speedup']:>9.2f}x{row['efficiency']:>7.2f}"
        )
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

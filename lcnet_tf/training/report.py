"""How dynamic is a model? Accuracy, FLOPs and per-decision execution rates on a dataset."""

import numpy as np
import tensorflow as tf

from lcnet_tf.models.cascade import Cascade, simulate_cascade, stage_predictions, unit_decisions

DYNAMIC_RANGE = (0.1, 0.9)


def report(model, dataset, num_classes=None, *, reference_flops=None, predictions=None):
    """Accuracy, cost and decisions of any dynamic model on labelled data: one schema for
    a `GatedResNet` (its decisions: blocks), a `Cascade` (stages) and a cascade with gated
    stages (stages, then the gated stages' blocks).

    Args:
        model: a `GatedResNet` (any gating) or a `Cascade`.
        dataset: `tf.data.Dataset` of `(images, labels)` batches (e.g. the test split).
        num_classes: classes for the per-class table (default: the model's).
        reference_flops: what `flops_ratio` is relative to (default `model.reference_flops`).
        predictions: a cascade's `stage_predictions` on labelled data, computed before
            (then `dataset` may be None): reports several thresholds without running the
            networks again.

    Returns:
        Dict: `test_accuracy`, `num_images`, `mean_flops` (realized, per image, gate networks
        included), `reference_flops`, `flops_ratio` (mean / reference), `per_image_flops`
        (int64 array), `flops_min`, `flops_max`, `flops_std`, `flops_cv` (std / mean),
        `ratio_min`, `ratio_max`; per decision unit (`model.decision_units()`):
        `decision_names`, `decision_kinds` ("block" or "stage"), `decision_gated` (whether
        the unit is decided per image), `decision_rates` (fraction of *all* images on which
        it ran), `per_class_decision_rates` (classes x units; NaN for absent classes); and
        `dynamic_fraction` (share of per-image units whose rate lies in [0.1, 0.9]; None
        without any).

    Example:
        >>> result = report(model, make_dataset(builder, "test", batch_size=500,
        ...                                     training=False))
        >>> result["flops_ratio"], dict(zip(result["decision_names"], result["decision_rates"]))
    """
    num_classes = num_classes or model.num_classes
    if isinstance(model, Cascade):
        if predictions is None:
            if dataset is None:
                raise ValueError("Invalid value for `dataset`: expected (images, labels) "
                                 "batches, or pass `predictions`. Received: dataset=None")
            predictions = stage_predictions(model, dataset)
        if predictions.labels is None:
            raise ValueError("Invalid value for `dataset`: expected (images, labels) batches. "
                             "Received: batches without labels")
        outputs, ran, _ = simulate_cascade(predictions, model.thresholds, model.confidence,
                                           model.ensemble)
        predicted, labels = outputs.argmax(axis=1), predictions.labels
        gates, kept = unit_decisions(model, predictions, ran)
    else:
        predicted, labels, gates, kept = _forward(model, dataset)
    per_image = np.asarray(model.cost.realized(gates, kept)).astype(np.int64)
    units = model.decision_units()
    rates = gates.mean(axis=0)
    per_class = np.full((num_classes, gates.shape[1]), np.nan)
    for label in range(num_classes):
        members = labels == label
        if members.any():
            per_class[label] = gates[members].mean(axis=0)
    gated = np.array([unit_gated for _, _, unit_gated in units], dtype=bool)
    dynamic_fraction = None
    if gated.any():
        low, high = DYNAMIC_RANGE
        dynamic_fraction = float(np.mean((rates[gated] >= low) & (rates[gated] <= high)))
    reference = int(reference_flops or model.reference_flops)
    mean_flops = float(per_image.mean())
    return {
        "test_accuracy": float(np.mean(predicted == labels)),
        "num_images": int(labels.size),
        "mean_flops": mean_flops,
        "reference_flops": reference,
        "flops_ratio": mean_flops / reference,
        "per_image_flops": per_image,
        "flops_min": int(per_image.min()),
        "flops_max": int(per_image.max()),
        "flops_std": float(per_image.std()),
        "flops_cv": float(per_image.std() / mean_flops) if mean_flops else 0.0,
        "ratio_min": float(per_image.min() / reference),
        "ratio_max": float(per_image.max() / reference),
        "decision_names": [name for name, _, _ in units],
        "decision_kinds": [kind for _, kind, _ in units],
        "decision_gated": gated.tolist(),
        "decision_rates": rates,
        "per_class_decision_rates": per_class,
        "dynamic_fraction": dynamic_fraction,
    }


# The former name (same function, same schema).
gate_report = report


def _forward(model, dataset):
    """Predictions, labels and integer decisions of a gated network on `dataset`."""

    @tf.function(reduce_retracing=True)
    def forward(images):
        logits, info = model(images, training=False, return_gate_info=True)
        return tf.argmax(logits, axis=-1, output_type=tf.int32), info["gate"], info["kept_groups"]

    predictions, labels, gates, kept = [], [], [], []
    for images, batch_labels in dataset:
        batch_predictions, gate, kept_groups = forward(images)
        predictions.append(batch_predictions.numpy())
        labels.append(np.asarray(batch_labels).reshape(-1))
        gates.append(np.rint(gate.numpy()).astype(np.int64))
        kept.append(np.rint(kept_groups.numpy()).astype(np.int64))
    return (np.concatenate(predictions), np.concatenate(labels).astype(np.int64),
            np.concatenate(gates), np.concatenate(kept))


def report_to_json(report):
    """The report with arrays as lists (NaN as None), ready for `json.dump`."""
    result = {}
    for key, value in report.items():
        if isinstance(value, np.ndarray):
            if value.dtype.kind == "f":
                value = np.where(np.isnan(value), None, value.astype(object))
            value = value.tolist()
        result[key] = value
    return result


def plot_gate_report(report, png_path):
    """Saves a PNG: per-image FLOPs-ratio histogram and the per-class per-block rate heat map.

    Args:
        report: a `gate_report` result.
        png_path: output file.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ratios = np.asarray(report["per_image_flops"]) / report["reference_flops"]
    per_class = np.asarray(report["per_class_decision_rates"], dtype=float)
    figure, (hist_axis, heat_axis) = plt.subplots(
        1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [1, 1.6]}
    )
    hist_axis.hist(ratios, bins=40, color="tab:blue")
    hist_axis.axvline(report["flops_ratio"], color="tab:red", linestyle="--",
                      label=f"mean {report['flops_ratio']:.3f}")
    hist_axis.set_xlabel("per-image FLOPs / reference FLOPs")
    hist_axis.set_ylabel("images")
    hist_axis.set_title(f"FLOPs per image (CV {report['flops_cv']:.3f})")
    hist_axis.legend()
    image = heat_axis.imshow(per_class, aspect="auto", vmin=0.0, vmax=1.0, cmap="viridis")
    heat_axis.set_xlabel("decision (block or stage)")
    heat_axis.set_ylabel("class")
    heat_axis.set_xticks(range(per_class.shape[1]))
    heat_axis.set_xticklabels(
        [name.replace("stage", "s").replace("_block", "b") for name in report["decision_names"]],
        rotation=90, fontsize=7,
    )
    heat_axis.set_title("execution rate per class")
    figure.colorbar(image, ax=heat_axis)
    figure.tight_layout()
    figure.savefig(png_path, dpi=100)
    plt.close(figure)
    return str(png_path)

"""How dynamic is a gated model? Accuracy, FLOPs and per-block execution rates on a dataset."""

import numpy as np
import tensorflow as tf

DYNAMIC_RANGE = (0.1, 0.9)


def gate_report(model, dataset, num_classes=None):
    """Evaluates `model` on `dataset` and describes its gates' behaviour.

    Args:
        model: a `GatedResNet` (any gating).
        dataset: `tf.data.Dataset` of `(images, labels)` batches (e.g. the test split).
        num_classes: classes for the per-class table (default: the model's).

    Returns:
        Dict: `test_accuracy`, `flops_ratio` (mean realized / backbone),
        `mean_flops`, `backbone_flops`, `num_images`, `block_names`,
        `block_gated` (bools), `per_block_rate` (execution rate per block),
        `per_class_block_rate` (classes x blocks; NaN for absent classes),
        `per_image_flops` (int array), `flops_min`, `flops_max`, `flops_std`,
        `flops_cv` (std / mean), `ratio_min`, `ratio_max` and
        `dynamic_fraction` (share of gated blocks whose rate lies in [0.1, 0.9];
        None without block gates).

    Example:
        >>> report = gate_report(model, make_dataset(builder, "test", batch_size=500,
        ...                                          training=False))
        >>> report["flops_ratio"], report["per_block_rate"]
    """
    num_classes = num_classes or model.num_classes

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
    predictions = np.concatenate(predictions)
    labels = np.concatenate(labels).astype(np.int64)
    gates = np.concatenate(gates)
    kept = np.concatenate(kept)
    per_image = model.cost.realized(gates, kept).astype(np.int64)
    backbone = model.cost.backbone
    per_block_rate = gates.mean(axis=0)
    per_class = np.full((num_classes, gates.shape[1]), np.nan)
    for label in range(num_classes):
        members = labels == label
        if members.any():
            per_class[label] = gates[members].mean(axis=0)
    block_gated = [bool(block.block_gate) for block in model.blocks]
    gated_rates = per_block_rate[np.asarray(block_gated, dtype=bool)]
    dynamic_fraction = None
    if gated_rates.size:
        low, high = DYNAMIC_RANGE
        dynamic_fraction = float(np.mean((gated_rates >= low) & (gated_rates <= high)))
    mean_flops = float(per_image.mean())
    return {
        "test_accuracy": float(np.mean(predictions == labels)),
        "flops_ratio": mean_flops / backbone,
        "mean_flops": mean_flops,
        "backbone_flops": backbone,
        "num_images": int(labels.size),
        "block_names": [block.name for block in model.blocks],
        "block_gated": block_gated,
        "per_block_rate": per_block_rate,
        "per_class_block_rate": per_class,
        "per_image_flops": per_image,
        "flops_min": int(per_image.min()),
        "flops_max": int(per_image.max()),
        "flops_std": float(per_image.std()),
        "flops_cv": float(per_image.std() / mean_flops) if mean_flops else 0.0,
        "ratio_min": float(per_image.min() / backbone),
        "ratio_max": float(per_image.max() / backbone),
        "dynamic_fraction": dynamic_fraction,
    }


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

    ratios = np.asarray(report["per_image_flops"]) / report["backbone_flops"]
    per_class = np.asarray(report["per_class_block_rate"], dtype=float)
    figure, (hist_axis, heat_axis) = plt.subplots(
        1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [1, 1.6]}
    )
    hist_axis.hist(ratios, bins=40, color="tab:blue")
    hist_axis.axvline(report["flops_ratio"], color="tab:red", linestyle="--",
                      label=f"mean {report['flops_ratio']:.3f}")
    hist_axis.set_xlabel("per-image FLOPs / backbone FLOPs")
    hist_axis.set_ylabel("images")
    hist_axis.set_title(f"FLOPs per image (CV {report['flops_cv']:.3f})")
    hist_axis.legend()
    image = heat_axis.imshow(per_class, aspect="auto", vmin=0.0, vmax=1.0, cmap="viridis")
    heat_axis.set_xlabel("block")
    heat_axis.set_ylabel("class")
    heat_axis.set_xticks(range(per_class.shape[1]))
    heat_axis.set_xticklabels(
        [name.replace("stage", "s").replace("_block", "b") for name in report["block_names"]],
        rotation=90, fontsize=7,
    )
    heat_axis.set_title("block execution rate per class")
    figure.colorbar(image, ax=heat_axis)
    figure.tight_layout()
    figure.savefig(png_path, dpi=100)
    plt.close(figure)
    return str(png_path)

"""`run_training` for `gating="cascade"`: static stages on the schedule, then the thresholds.

Each stage is `config.model` at one of `config.cascade_widths`, trained as a static network
(`gating="none"`) for `static_epochs + epochs` epochs, the same total a gated run or the static
reference gets, in `<workdir>/stage<i>/` (resumable like any run). The `Cascade` of them is
calibrated so that its mean FLOPs on `calibration_images` un-augmented training images is
`budget` of the last stage's, evaluated on the test split, and saved as `model.keras`; the
last stage is also saved as `static.keras` (the static network the cascade is a budget of,
for the TFLite benchmark).
"""

import time

import keras
import numpy as np

from lcnet_tf.models import create_model
from lcnet_tf.models.cascade import (
    Cascade,
    calibrate_cascade,
    cascade_report,
    stage_predictions,
)

STAGE_DIR = "stage{index}"


def stage_configs(config):
    """The static `TrainConfig` of each stage (cheapest first)."""
    epochs = config.static_epochs + config.epochs
    return [config.replace(gating="none", width_multiplier=width, static_epochs=epochs,
                           init_from=None, static_reference=False, layer_drop=0.0)
            for width in config.cascade_widths]


def stage_flops(config, num_classes):
    """Each stage's FLOPs (static networks: the same for every image)."""
    return [int(create_model(config.model, gating="none", num_classes=num_classes,
                             width_multiplier=width,
                             **(config.model_overrides or {})).cost.forced_open_flops())
            for width in config.cascade_widths]


def check_cascade_budget(config, num_classes):
    """Refuses a budget the cascade cannot realize, before any stage is trained."""
    flops = stage_flops(config, num_classes)
    low, high = flops[0] / flops[-1], min(sum(flops) / flops[-1], 1.0)
    if not low <= config.budget <= high:
        raise ValueError(
            f"Invalid value for `budget`: a cascade of {config.model} at widths "
            f"{list(config.cascade_widths)} costs from {low:.3f} (the first stage alone) to "
            f"{high:.3f} of its last stage's FLOPs. Received: budget={config.budget}"
        )


def run_cascade(run, train_stage):
    """Trains the stages (`train_stage(config, workdir) -> metrics`), builds, calibrates and
    evaluates the cascade; returns the metrics (without the static reference)."""
    config, out = run.config, run.paths.out
    check_cascade_budget(config, run.num_classes)
    stages, records = [], []
    for index, stage_config in enumerate(stage_configs(config)):
        workdir = out / STAGE_DIR.format(index=index)
        metrics = train_stage(stage_config, workdir)
        with run.strategy.scope():
            stages.append(keras.saving.load_model(workdir / "model.keras", compile=False))
        records.append({"width_multiplier": stage_config.width_multiplier,
                        "epochs": stage_config.static_epochs,
                        "flops": int(metrics["backbone_flops"]),
                        "test_accuracy": metrics["test_accuracy"], "workdir": str(workdir),
                        "seconds": metrics.get("phases", {}).get("static", {}).get("seconds")})
        run.log_phase(f"stage{index}", records[-1])
    cascade = Cascade(stages, confidence=config.cascade_confidence)
    start = time.time()
    calibration = calibrate_cascade(cascade, run.eval_dataset("train", config.calibration_images),
                                    config.budget, tolerance=config.calibration_tolerance)
    calibration["seconds"] = time.time() - start
    predictions = stage_predictions(cascade, run.test_ds)
    report = cascade_report(cascade, predictions=predictions)
    per_image = report["per_image_flops"]
    np.save(out / "per_image_flops.npy", per_image.astype(np.int64))
    rates = report["stage_rates"]
    backbone = report["reference_flops"]
    result = {
        "budget": config.budget, "model": config.model, "gating": "cascade",
        "cascade_widths": list(config.cascade_widths),
        "cascade_confidence": config.cascade_confidence,
        "stages": records, "calibration": calibration,
        "test_accuracy": report["test_accuracy"], "mean_flops": report["mean_flops"],
        "backbone_flops": backbone, "flops_ratio": report["flops_ratio"],
        "num_images": report["images"],
        "flops_min": int(per_image.min()), "flops_max": int(per_image.max()),
        "flops_cv": report["flops_cv"],
        "ratio_min": float(per_image.min() / backbone),
        "ratio_max": float(per_image.max() / backbone),
        "block_names": [f"stage{i}_x{width:g}" for i, width in enumerate(config.cascade_widths)],
        "block_gated": [False] + [True] * (len(stages) - 1),
        "per_block_rate": rates,
        # Escalations taken by 10-90% of the images (per-image, not a fixed choice).
        "dynamic_fraction": float(np.mean([0.1 <= rate <= 0.9 for rate in rates[1:]])),
        "static_test_accuracy": records[-1]["test_accuracy"],
        "phases": run.phases,
    }
    return cascade, result

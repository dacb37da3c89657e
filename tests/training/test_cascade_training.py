"""`run_training` with gating="cascade": static stages, calibrated thresholds, the reference."""

import json

import keras
import pytest

from lcnet_tf.models.cascade import Cascade
from lcnet_tf.training import format_results, get_train_config, run_training
from lcnet_tf.training.config import budget_range


def _config(dataset, **changes):
    settings = {"dataset": dataset, "model": "resnet8", "gating": "cascade",
                "cascade_widths": "0.5,1", "budget": 0.6, "batch_size": 16, "static_epochs": 1,
                "epochs": 0, "steps_per_epoch": 1, "calibration_images": 64,
                "eval_batch_size": 16, "jit_compile": False}
    return get_train_config("cpu", **{**settings, **changes})


@pytest.mark.slow
def test_a_cascade_run_trains_its_stages_and_meets_the_budget(synthetic_dataset, tmp_path):
    config = _config(synthetic_dataset, static_reference=True)
    metrics = run_training(config, tmp_path / "run", verbose=0)
    assert metrics["gating"] == "cascade" and len(metrics["stages"]) == 2
    flops = [stage["flops"] for stage in metrics["stages"]]
    # The budget is a fraction of the model at width 1 (here the last stage, x1).
    assert flops[0] < flops[1] == metrics["reference_flops"]
    assert metrics["reference_model"].startswith("resnet8 (width 1")
    # Calibrated on 64 training images: one image moves the ratio by 1/64.
    assert metrics["calibration"]["flops_ratio"] == pytest.approx(0.6, abs=1 / 64 + 0.002)
    rates = metrics["decision_rates"]
    assert metrics["decision_names"] == ["stage0", "stage1"] and rates[0] == 1.0
    assert metrics["flops_ratio"] == pytest.approx((flops[0] + rates[1] * flops[1]) / flops[1])
    assert metrics["mean_flops"] == pytest.approx(metrics["flops_ratio"] * flops[1])
    # The static frontier of its own stages at its FLOPs: linear between them.
    frontier = metrics["static_frontier"]
    accuracies = [stage["test_accuracy"] for stage in metrics["stages"]]
    if accuracies[1] > accuracies[0]:
        share = (metrics["mean_flops"] - flops[0]) / (flops[1] - flops[0])
        assert frontier["accuracy_at_mean_flops"] == pytest.approx(
            accuracies[0] + share * (accuracies[1] - accuracies[0]))
        assert frontier["margin"] == pytest.approx(
            metrics["test_accuracy"] - frontier["accuracy_at_mean_flops"])
    model = keras.saving.load_model(tmp_path / "run" / "model.keras", compile=False)
    assert isinstance(model, Cascade)
    assert model.thresholds == metrics["calibration"]["thresholds"]
    static = keras.saving.load_model(tmp_path / "run" / "static.keras", compile=False)
    assert static.stage_widths == model.stages[-1].stage_widths
    # Each stage is a static run of the whole schedule, resumable on its own.
    stage_config = json.loads((tmp_path / "run" / "stage0" / "config.json").read_text())
    assert stage_config["gating"] == "none" and stage_config["width_multiplier"] == 0.5
    assert stage_config["static_epochs"] == 1
    reference = metrics["static_reference"]
    assert reference["flops"] <= metrics["mean_flops"] and reference["epochs"] == 1
    text = format_results(metrics)
    assert "cascade stages" in text and "static frontier at that cost" in text
    # Resuming a finished run returns its metrics; other widths are refused.
    assert run_training(config, tmp_path / "run", verbose=0) == metrics
    with pytest.raises(ValueError, match="cascade_widths"):
        run_training(config.replace(cascade_widths="0.5,0.75"), tmp_path / "run")


def test_an_unreachable_budget_is_refused_by_the_config(synthetic_dataset):
    with pytest.raises(ValueError, match=r"`budget`: expected a number in \[0\.259, 1\.259\] "
                                         r"\(a cascade of resnet8 at widths 0\.5, 1 costs"):
        _config(synthetic_dataset, budget=0.1)


@pytest.mark.parametrize("widths", ["1,0.5", "0.5", "x,y", (0.5, -1)])
def test_bad_cascade_widths_name_the_setting(widths):
    with pytest.raises(ValueError, match="`cascade_widths`: expected two or more increasing"):
        get_train_config("cpu", gating="cascade", cascade_widths=widths)


@pytest.mark.parametrize("setting, value", [
    ("init_from", "runs/x/static.keras"), ("width_multiplier", 0.5), ("calibration_images", 0),
])
def test_settings_a_cascade_would_ignore_are_refused(setting, value):
    with pytest.raises(ValueError, match=f"`{setting}`: expected .*gating='cascade'"):
        get_train_config("cpu", gating="cascade", **{setting: value})


def test_budget_means_one_thing_for_every_gating():
    # The main job's cascade and the LC-Net preset: fractions of ResNet-20 at width 1.
    assert get_train_config("cpu").budget == 0.4
    low, high = budget_range(get_train_config("cpu"))
    assert low == pytest.approx(10_250_000 / 40_555_136, rel=0.01) and 0.8 < high < 0.83
    lc_low, lc_high = budget_range(get_train_config("cpu_lc"))
    # At budget 0.5 the LC-Net trains half its channel groups: all blocks run is 0.84.
    assert lc_low < 0.5 < lc_high < 0.85
    # A looser budget raises the kept groups, and with them what it can reach.
    assert budget_range(get_train_config("cpu_lc", budget=0.95))[1] >= 1.0
    with pytest.raises(ValueError, match=r"`budget`: expected a number in \[0\.144, 0\.842\]"):
        get_train_config("cpu_lc", budget=0.95, channel_keep=0.5)
    with pytest.raises(ValueError, match="`width_multiplier`: expected 1 with gating='lc'"):
        get_train_config("cpu_lc", width_multiplier=0.5)


def test_cascade_defaults_and_confidence_check():
    assert get_train_config("cpu", gating="cascade").cascade_widths == (0.5, 0.75)
    assert get_train_config("cpu_lc").cascade_widths is None
    with pytest.raises(ValueError, match="`cascade_confidence`: expected one of"):
        get_train_config("cpu", gating="cascade", cascade_confidence="entropy")


@pytest.mark.parametrize("name", ["cpu", "cpu_lc", "paper", "imagenet"])
def test_every_preset_is_in_its_reachable_range(name):
    from lcnet_tf.training import TRAIN_PRESETS

    # Presets skip the range check at import (it builds the model); a copy runs it in full.
    config = TRAIN_PRESETS[name].replace()
    if config.gating != "none":
        low, high = budget_range(config)
        assert low <= config.budget <= high

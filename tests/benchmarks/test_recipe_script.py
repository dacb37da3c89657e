"""benchmarks/recipe.py's rows: cumulative levers, --keep chains, configs and the table
(no training)."""

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from lcnet_tf.training.config import TrainConfig

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def script(recipe_script):
    return recipe_script


def test_rows_accumulate_every_lever_by_default(script):
    specs = script.row_specs()
    assert [spec["name"] for spec in specs] == [
        "baseline", "bf16", "ls0.2", "ema_bn0.6", "bnbias64", "tri_m0.85", "altflip",
        "b512_linear"]
    assert [spec["base"] for spec in specs] == [None, *[spec["name"] for spec in specs[:-1]]]
    assert [spec["dirname"] for spec in specs] == [spec["name"] for spec in specs]
    assert specs[0]["levers"] == {}
    last = specs[-1]["levers"]
    assert last == {
        "precision": "mixed_bfloat16", "label_smoothing": 0.2, "ema_decay": 0.95,
        "ema_every_steps": 5, "bn_momentum": 0.6, "bn_bias_lr_multiplier": 64.0,
        "lr_schedule": "triangular", "lr_peak_fraction": 0.23, "momentum": 0.85,
        "flip": "alternating", "batch_size": 512, "lr_scaling": "linear"}
    for before, after in zip(specs, specs[1:], strict=False):  # Each row: its base + more.
        assert before["levers"].items() <= after["levers"].items()
        assert len(after["levers"]) > len(before["levers"])


def test_a_row_left_out_of_keep_is_not_built_on_and_renames_the_later_runs(script):
    specs = {spec["name"]: spec
             for spec in script.row_specs(["baseline", "bf16", "ema_bn0.6", "bnbias64",
                                           "tri_m0.85", "altflip"])}
    assert specs["ls0.2"]["base"] == "bf16" and specs["ls0.2"]["dirname"] == "ls0.2"
    assert specs["ema_bn0.6"]["base"] == "bf16"
    assert "label_smoothing" not in specs["ema_bn0.6"]["levers"]
    assert "label_smoothing" not in specs["b512_linear"]["levers"]
    assert specs["ema_bn0.6"]["dirname"] == "ema_bn0.6-no_ls0.2"
    assert specs["b512_linear"]["dirname"] == "b512_linear-no_ls0.2"
    with pytest.raises(ValueError, match=r"Invalid value for `keep`.*unknown: \['ema'\]"):
        script.row_specs(["baseline", "ema"])


def test_run_configs_are_resnet20_x05_static_runs_with_the_row_levers(script, tmp_path):
    specs = script.row_specs()
    baseline = script.train_config(specs[0], 6, 1, "somewhere")
    assert baseline == TrainConfig(model="resnet20", width_multiplier=0.5, gating="none",
                                   dataset="somewhere", static_epochs=6, epochs=0,
                                   calibration_images=0, seed=1)
    # The baseline is today's recipe: every lever at its TrainConfig default.
    for field in ("lr_schedule", "lr_scaling", "ema_decay", "bn_momentum", "momentum",
                  "bn_bias_lr_multiplier", "flip", "translate", "precision", "batch_size",
                  "label_smoothing"):
        assert getattr(baseline, field) == getattr(TrainConfig(), field)
    last = script.train_config(specs[-1], 6, 0, "somewhere", train_examples=512,
                               test_examples=100)
    assert (last.batch_size, last.lr_scaling, last.flip, last.precision) == (
        512, "linear", "alternating", "mixed_bfloat16")
    assert (last.train_examples, last.test_examples) == (512, 100)
    path = script.workdir(tmp_path, specs[3], 6, 1)
    assert path == tmp_path / "ema_bn0.6_e6_s1"


def test_records_medians_deltas_and_the_table(script, tmp_path):
    specs = script.row_specs()[:2]
    configs = {spec["name"]: script.train_config(spec, 2, 0, "somewhere") for spec in specs}
    results = {"baseline": {0: (0.80, 100.0), 1: (0.82, 110.0)},
               "bf16": {0: (0.81, 80.0), 1: None}}
    for spec in specs:
        for seed, result in results[spec["name"]].items():
            path = script.workdir(tmp_path, spec, 2, seed)
            path.mkdir()
            if result is None:  # Not finished: no metrics.json.
                continue
            (path / "metrics.json").write_text(json.dumps({"test_accuracy": result[0]}))
            (path / "phases.json").write_text(json.dumps({"static": {"seconds": result[1]}}))
    rows = [script.summarize(spec, {seed: script.run_record(
        script.workdir(tmp_path, spec, 2, seed), configs[spec["name"]], 1000)
        for seed in (0, 1)}) for spec in specs]
    rows = script.add_deltas(rows)
    baseline, bf16 = rows
    assert baseline["median_test_accuracy"] == pytest.approx(0.81)
    assert baseline["seconds_per_epoch"] == pytest.approx(52.5)
    assert baseline["images_per_second"] == pytest.approx(statistics.median([20.0, 2000 / 110]))
    assert bf16["missing_seeds"] == [1] and bf16["test_accuracy"] == {0: 0.81}
    assert bf16["delta_points"] == pytest.approx(0.0)
    assert bf16["speedup"] == pytest.approx(25.0 / baseline["images_per_second"])
    assert baseline["delta_points"] is None
    table = script.format_table(rows, [0, 1], 2)
    lines = table.splitlines()
    assert lines[2].split()[:5] == ["baseline", "-", "80.00", "82.00", "81.00"]
    assert lines[3].split()[:5] == ["bf16", "baseline", "81.00", "-", "81.00"]
    assert "+0.00" in lines[3]
    assert "label" not in table  # Only the printed rows' notes.


def test_script_lists_rows_and_refuses_unknown_ones():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
    listed = subprocess.run([sys.executable, "benchmarks/recipe.py", "--list", "--epochs", "3"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "b512_linear" in listed.stdout and "workdir baseline_e3_s<seed>" in listed.stdout
    bad = subprocess.run([sys.executable, "benchmarks/recipe.py", "--rows", "nope"], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "Invalid value for `rows`" in bad.stderr

"""benchmarks/pareto.py end to end on tiny synthetic data: train, time, knob, report, resume."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}


def run_pareto(*args):
    return subprocess.run([sys.executable, "benchmarks/pareto.py", *args], cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_pareto_trains_times_in_several_runs_and_reports_margins(tmp_path):
    from lcnet_tf.data import make_synthetic_tfds_dir

    dataset = make_synthetic_tfds_dir(tmp_path / "data", num_train=64, num_test=16)
    out = tmp_path / "runs"
    out.mkdir()
    common = ["--dataset", dataset, "--out", str(out), "--epochs", "2", "--gated_epochs", "1",
              "--points", "resnet8,lc_b0.5", "--tflite_images", "4", "--repeats", "1",
              "--knob_budgets", "0.4", "--knob_images", "32"]
    result = run_pareto(*common, "--timing_runs", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads((out / "pareto.json").read_text())
    assert payload["schedule"]["timing_runs"] == 2
    points = {p["name"]: p for p in payload["points"]}
    assert set(points) == {"resnet8", "lc_b0.5"}
    for point in points.values():
        runs = point["tflite_ms_float_runs"]
        assert len(runs) == 2 and len(point["tflite_ms_int8_runs"]) == 2
        assert min(runs) <= point["tflite_ms_float"] <= max(runs)
    dynamic = points["lc_b0.5"]
    assert len(dynamic["margin_at_latency_runs"]) == 2
    # The backbone with every gate open: the whole ResNet-20, more than the gated mean.
    assert dynamic["full_network"]["flops_ratio"] == pytest.approx(1.0, abs=0.01)
    assert 0.0 <= dynamic["full_network"]["test_accuracy"] <= 1.0
    assert dynamic["knob"][0]["budget"] == 0.4
    assert (out / "pareto_flops.png").stat().st_size > 0
    assert (out / "pareto_latency.png").stat().st_size > 0

    # Cached: --notrain reports the same trained points without training any again.
    trained = {p: p.stat().st_mtime for p in out.glob("*/model.keras")}
    again = run_pareto(*common, "--notrain", "--timing_runs", "1")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "training" not in again.stdout
    assert {p: p.stat().st_mtime for p in out.glob("*/model.keras")} == trained
    report = json.loads((out / "pareto.json").read_text())
    assert [p["test_accuracy"] for p in report["points"]] == [
        p["test_accuracy"] for p in payload["points"]]

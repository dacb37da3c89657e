"""benchmarks/knob_curve.py: medians over timing runs and margins over both frontiers."""

import json

import pytest
from conftest import load_script


def report(scale):
    """A `tflite.benchmark --budgets` report.json with latencies scaled by `scale`."""
    def row(accuracy, mflops, mean_ms):
        return {"accuracy": accuracy, "mean_flops": mflops * 1e6,
                "latency_ms": {"mean": mean_ms * scale, "p50": 0.8 * mean_ms * scale}}

    return {"models": {"static": row(0.80, 20.0, 1.0), "stage0": row(0.70, 10.0, 0.5),
                       "dynamic": row(0.78, 14.0, 0.7), "dynamic@0.300": row(0.76, 12.0, 0.6)},
            "metadata": {"num_images": 100,
                         "machine": {"cpu": "test cpu", "cpu_count": 2, "isa_flags": ["avx"]},
                         "budget_knob": {"none": [{"budget": 0.3,
                                                    "calibration_flops_ratio": 0.30,
                                                    "test_flops_ratio": 0.31}]}}}


def test_latencies_are_medians_and_margins_use_both_frontiers(tmp_path):
    script = load_script("knob_curve")
    for index, scale in enumerate((1.0, 3.0, 1.2)):
        (tmp_path / f"r{index}").mkdir()
        (tmp_path / f"r{index}" / "report.json").write_text(json.dumps(report(scale)))
    pareto = tmp_path / "pareto.json"
    pareto.write_text(json.dumps({"points": [
        {"name": "a", "kind": "static", "mflops": 10.0, "test_accuracy": 0.70},
        {"name": "b", "kind": "static", "mflops": 20.0, "test_accuracy": 0.75},
        {"name": "c", "kind": "lc", "mflops": 15.0, "test_accuracy": 0.99}]}))
    runs = script.load_runs([tmp_path / f"r{i}" for i in range(3)])
    result = script.curve(runs, pareto)
    knob = result["knob"]["dynamic@0.300"]
    assert knob["mean_ms"] == pytest.approx(0.6 * 1.2)  # median of 1.0, 3.0, 1.2
    assert knob["vs_frontier_at_mflops"] == pytest.approx(0.76 - 0.71)  # static points only
    assert knob["vs_stages_at_mflops"] == pytest.approx(0.76 - 0.72)
    assert knob["test_flops_ratio"] == 0.31 and knob["budget"] == 0.3
    assert result["knob"]["dynamic"]["budget"] is None
    text = script.format_curve(result, runs)
    assert "0.310/0.300" in text and "test cpu" in text and "medians of 3" in text
    script.plot(result, tmp_path / "curve.png")
    assert (tmp_path / "curve.png").stat().st_size > 0

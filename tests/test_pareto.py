"""lcnet_tf.pareto: the static frontier, its interpolation and a dynamic point's margin."""

import pytest

from lcnet_tf import pareto


def point(name, mflops, accuracy, kind="static", seed=0, ms=None):
    return {"name": name, "kind": kind, "mflops": mflops, "test_accuracy": accuracy,
            "seed": seed, "tflite_ms_float": ms}


STATICS = [
    point("r8", 12.3, 0.78), point("w0.625", 16.0, 0.807), point("r14", 26.4, 0.825),
    point("dominated", 20.0, 0.79), point("r20", 40.6, 0.83),
]


def test_frontier_keeps_only_undominated_points_by_cost():
    names = [p["name"] for p in pareto.static_frontier(STATICS)]
    assert names == ["r8", "w0.625", "r14", "r20"]


def test_frontier_accuracy_interpolates_and_refuses_to_extrapolate():
    frontier = pareto.static_frontier(STATICS)
    assert pareto.frontier_accuracy(frontier, 12.3) == pytest.approx(0.78)
    # Halfway between w0.625 (16.0, 0.807) and r14 (26.4, 0.825).
    assert pareto.frontier_accuracy(frontier, 21.2) == pytest.approx(0.816)
    assert pareto.frontier_accuracy(frontier, 5.0) is None
    assert pareto.frontier_accuracy(frontier, 50.0) is None
    assert pareto.frontier_accuracy([], 10.0) is None


def test_margin_of_a_dynamic_point_above_and_below():
    frontier = pareto.static_frontier(STATICS)
    above = point("dyn", 21.2, 0.831, kind="dynamic")
    below = point("dyn", 21.2, 0.80, kind="dynamic")
    assert pareto.margin(above, frontier) == pytest.approx(0.015)
    assert pareto.margin(below, frontier) == pytest.approx(-0.016)
    assert pareto.margin(point("dyn", 3.0, 0.9, kind="dynamic"), frontier) is None


def test_frontier_drops_a_point_below_the_mix_of_its_neighbours():
    # A measured latency axis (docs/results.md, "Win at equal cost"): ResNet-20 x0.625 (odd
    # widths) is nearly as slow as ResNet-14 and less accurate, so sending images at random to
    # ResNet-8 or ResNet-14 beats it.
    statics = [point("r8", 12.24, 0.7329, ms=0.274), point("w0.625", 15.95, 0.7638, ms=0.570),
               point("r14", 26.40, 0.7942, ms=0.573), point("w0.75", 22.90, 0.7890, ms=0.672)]
    frontier = pareto.static_frontier(statics, "tflite_ms_float")
    assert [p["name"] for p in frontier] == ["r8", "r14"]
    dynamic = point("sd", 20.35, 0.7741, kind="dynamic", ms=0.541)
    assert pareto.margin(dynamic, frontier, "tflite_ms_float") == pytest.approx(
        0.7741 - (0.7329 + (0.7942 - 0.7329) * (0.541 - 0.274) / (0.573 - 0.274)))
    # By FLOPs the same four points are all on the (concave) frontier.
    assert [p["name"] for p in pareto.static_frontier(statics)] == ["r8", "w0.625", "w0.75",
                                                                      "r14"]


def test_frontier_by_latency_skips_points_without_a_measurement():
    statics = [point("a", 1, 0.7, ms=0.1), point("b", 2, 0.8, ms=None), point("c", 3, 0.9, ms=0.3)]
    names = [p["name"] for p in pareto.static_frontier(statics, "tflite_ms_float")]
    assert names == ["a", "c"]


def test_median_by_name_merges_seeds():
    runs = [point("r8", 12.3, 0.78, seed=0), point("r8", 12.3, 0.79, seed=1),
            point("r8", 12.3, 0.70, seed=2), point("r14", 26.4, 0.82)]
    merged = {p["name"]: p for p in pareto.median_by_name(runs)}
    assert merged["r8"]["test_accuracy"] == pytest.approx(0.78)
    assert merged["r8"]["seeds"] == [0, 1, 2]
    assert merged["r14"]["tflite_ms_float"] is None


def test_latency_margin_is_taken_within_each_timing_run_then_the_median():
    # Three timing runs of the same files (docs/results.md, "Win at equal cost"), the machine's
    # speed moving between runs.
    rows = [
        {**point("r8", 12.24, 0.7329), "tflite_ms_float_runs": [0.274, 0.300, 0.297]},
        {**point("r14", 26.40, 0.7942), "tflite_ms_float_runs": [0.573, 0.640, 0.635]},
        {**point("sd", 20.35, 0.7741, kind="dynamic"),
         "tflite_ms_float_runs": [0.541, 0.560, 0.622]},
        {**point("slow", 20.0, 0.75, kind="dynamic"),
         "tflite_ms_float_runs": [0.541, 0.700, 0.622]},
    ]
    result = pareto.margins_over_runs(rows)

    def expected(run, ms):
        r8, r14 = rows[0]["tflite_ms_float_runs"][run], rows[1]["tflite_ms_float_runs"][run]
        return 0.7741 - (0.7329 + (0.7942 - 0.7329) * (ms - r8) / (r14 - r8))

    assert result["sd"]["runs"] == pytest.approx(
        [expected(0, 0.541), expected(1, 0.560), expected(2, 0.622)])
    # Margins -1.35, -0.57, -1.77 points: the median is run 0's, not a margin across runs.
    assert result["sd"]["median"] == pytest.approx(expected(0, 0.541))
    # Slower than the dearest static point in run 1: no margin there, median of the others.
    assert result["slow"]["runs"][1] is None
    assert result["slow"]["median"] == pytest.approx(
        (result["slow"]["runs"][0] + result["slow"]["runs"][2]) / 2)
    assert "r8" not in result


def test_latency_margins_refuse_rows_with_different_run_counts():
    rows = [{**point("r8", 12.24, 0.73), "tflite_ms_float_runs": [0.3, 0.3]},
            {**point("sd", 20.0, 0.77, kind="dynamic"), "tflite_ms_float_runs": [0.5]}]
    with pytest.raises(ValueError, match="tflite_ms_float_runs"):
        pareto.margins_over_runs(rows)
    assert pareto.margins_over_runs([point("r8", 12.24, 0.73)]) == {}


def test_static_points_of_a_pareto_file_are_medians_and_bad_files_are_named(tmp_path):
    import json

    from lcnet_tf.pareto import static_points

    path = tmp_path / "pareto.json"
    path.write_text(json.dumps({"points": [
        {"name": "a", "kind": "static", "mflops": 1.0, "test_accuracy": 0.5, "seed": 0},
        {"name": "a", "kind": "static", "mflops": 1.0, "test_accuracy": 0.7, "seed": 1},
        {"name": "b", "kind": "static", "mflops": 2.0, "test_accuracy": 0.8, "seed": 0},
        {"name": "c", "kind": "dynamic", "mflops": 1.5, "test_accuracy": 0.9, "seed": 0}]}))
    points = {p["name"]: p for p in static_points(path)}
    assert set(points) == {"a", "b"} and points["a"]["test_accuracy"] == pytest.approx(0.6)
    with pytest.raises(ValueError, match="`frontier`: expected a pareto.json"):
        static_points(tmp_path / "missing.json")
    path.write_text(json.dumps({"points": [points["b"]]}))
    with pytest.raises(ValueError, match="fewer than 2 static points"):
        static_points(path)

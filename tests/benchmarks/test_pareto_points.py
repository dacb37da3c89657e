"""benchmarks/pareto.py's point table: schedule-relative dynamic points resolve per --epochs."""

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def script(pareto_script):
    return pareto_script


def test_a_scratch_point_is_gated_for_the_whole_schedule_with_a_half_curriculum(script):
    spec = script.POINTS["lc_b0.5_scratch_sd"]
    # E = 6 gives what the cached E = 6 runs were trained with ...
    assert script.point_schedule(spec, 6, 2) == (6, {
        "lr": 0.1, "self_distill_weight": 0.7, "bn_recalibration_images": 5000,
        "budget_curriculum_epochs": 3.0})
    # ... and a longer schedule keeps the recipe's shape instead of gaining a static phase.
    gated, overrides = script.point_schedule(spec, 12, 2)
    assert gated == 12 and overrides["budget_curriculum_epochs"] == 6.0
    assert "gated_epochs" not in overrides and "budget_curriculum_fraction" not in overrides


def test_a_post_hoc_point_takes_the_default_split_or_its_own(script):
    assert script.point_schedule(script.POINTS["lc_b0.5_kd_cur"], 6, 2)[0] == 2
    assert script.point_schedule(script.POINTS["lc_b0.5_kd_cur_g4"], 6, 2)[0] == 4
    assert script.point_schedule(script.POINTS["lc_b0.5_kd_cur"], 6, 4)[0] == 4


def test_a_split_longer_than_the_schedule_is_refused(script):
    with pytest.raises(script.app.UsageError, match="gated epochs 4"):
        script.point_schedule(script.POINTS["lc_b0.5_kd_cur_g4"], 3, 2)
    with pytest.raises(script.app.UsageError, match="gated epochs 7"):
        script.point_schedule(script.POINTS["lc_b0.5_kd_cur"], 6, 7)


def test_cascade_points_are_built_from_trained_points_and_reach_their_budgets(script):
    import lcnet_tf
    from lcnet_tf.training import check_budget

    cascades = {name: spec for name, spec in script.POINTS.items() if spec["gating"] == "cascade"}
    assert any(script.POINTS[stage]["kind"] == "dynamic"
               for spec in cascades.values() for stage in spec["stages"])  # a gated stage
    for name, spec in cascades.items():
        stages = []
        for stage in spec["stages"]:
            stage_spec = script.POINTS[stage]
            assert stage_spec["gating"] != "cascade", (name, stage)
            overrides = stage_spec["overrides"] if stage_spec["kind"] == "static" else {}
            stages.append(lcnet_tf.create_model(stage_spec["model"],
                                                gating=stage_spec["gating"], **overrides))
        cascade = lcnet_tf.Cascade(stages, reference_flops=lcnet_tf.models.reference_flops(
            script.CASCADE_REFERENCE))
        check_budget(cascade, script._reference_budget(spec, cascade, spec["budget"]))
        reachable = 0
        for budget in spec["knob_budgets"]:
            try:
                check_budget(cascade, script._reference_budget(spec, cascade, budget))
                reachable += 1
            except ValueError:
                pass
        assert reachable >= 2, name


def test_cascade_predictions_round_trip_through_the_cache(script, tmp_path):
    """build_cascade saves both splits' stage outputs; the knob curve reads them back."""
    from lcnet_tf.models.cascade import StagePredictions

    rng = np.random.default_rng(0)
    gated = StagePredictions(
        probabilities=[rng.random((5, 10)), rng.random((5, 10))],
        flops=[np.full(5, 7), np.arange(5)], labels=np.arange(5),
        gates=[None, rng.integers(0, 2, (5, 3))], kept_groups=[None, np.zeros((5, 3), int)])
    script._save_predictions(tmp_path / "predictions.npz", {"calibration": gated,
                                                            "test": gated})
    loaded = script._cascade_predictions(tmp_path, "test")
    assert isinstance(loaded, StagePredictions)
    for part in ("probabilities", "flops", "gates", "kept_groups"):
        for want, got in zip(getattr(gated, part), getattr(loaded, part), strict=True):
            if want is None:
                assert got is None
            else:
                np.testing.assert_array_equal(want, got)
    np.testing.assert_array_equal(loaded.labels, gated.labels)

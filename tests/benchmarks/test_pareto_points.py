"""benchmarks/pareto.py's point table: schedule-relative dynamic points resolve per --epochs."""

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("pareto_script", REPO / "benchmarks/pareto.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def test_cascade_points_are_built_from_static_points_and_reach_their_budgets(script):
    import lcnet_tf

    cascades = {name: spec for name, spec in script.POINTS.items() if spec["gating"] == "cascade"}
    assert cascades
    flops = {}
    for name, spec in cascades.items():
        for stage in spec["stages"]:
            assert script.POINTS[stage]["kind"] == "static", (name, stage)
            if stage not in flops:
                stage_spec = script.POINTS[stage]
                model = lcnet_tf.create_model(stage_spec["model"], gating="none",
                                              **stage_spec["overrides"])
                flops[stage] = model.cost.forced_open_flops()
        costs = [flops[stage] for stage in spec["stages"]]
        low, high = costs[0] / costs[-1], sum(costs) / costs[-1]
        assert any(low <= budget <= high for budget in spec["knob_budgets"]), name
        assert low < spec["budget"] < high, name

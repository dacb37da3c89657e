"""`Cascade`: the escalation rule, its two execution paths, calibration, errors, saving."""

import harness
import keras
import numpy as np
import pytest

import lcnet_tf
from lcnet_tf.export.gate_patterns import randomize_gates
from lcnet_tf.models.cascade import Cascade, simulate_cascade, stage_predictions
from lcnet_tf.training import calibrate, report


def calibrate_cascade(cascade, images, budget, **kwargs):
    """Calibration to a budget of the last stage's FLOPs (the default reference)."""
    return calibrate(cascade, images, budget, **kwargs)


def _stage(width, seed, gating="none"):
    # Stages may share a name (two create_model("resnet8", gating="none") are both
    # "resnet8_none"): the cascade tracks them by position.
    model = lcnet_tf.create_model("resnet8", gating=gating, width_multiplier=width)
    harness.randomize_batch_norm(model, seed=seed)
    return model


@pytest.fixture(scope="module")
def stages():
    keras.utils.set_random_seed(0)
    return [_stage(0.25, 1), _stage(0.5, 2)]


@pytest.fixture(scope="module")
def images(stages):
    return harness.sample_images(stages[0], batch=24, seed=3)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _stage_probabilities(stages, images):
    return [_np(keras.ops.softmax(stage(images, training=False), axis=-1)) for stage in stages]


def _median_threshold(stages, images):
    """A threshold that sends about half of the images on (a decision that varies)."""
    ordered = np.sort(_stage_probabilities(stages, images)[0], axis=1)
    return float(np.median(ordered[:, -1] - ordered[:, -2]))


def test_the_rule_escalates_unsure_images_and_averages_the_stages_that_ran(stages, images):
    threshold = _median_threshold(stages, images)
    cascade = Cascade(stages, thresholds=[threshold])
    logits, info = cascade(images, return_gate_info=True)
    small, large = _stage_probabilities(stages, images)
    ordered = np.sort(small, axis=1)
    escalated = (ordered[:, -1] - ordered[:, -2]) < threshold
    assert 0 < escalated.sum() < len(images)  # the test sees both outcomes
    expected = np.where(escalated[:, None], (small + large) / 2, small)
    np.testing.assert_allclose(_np(keras.ops.softmax(logits)), expected, atol=1e-5)
    np.testing.assert_array_equal(_np(info["gate"]), np.stack([np.ones(len(images)),
                                                               escalated], axis=1))
    flops = cascade.stage_flops
    np.testing.assert_allclose(_np(info["realized_flops"]), flops[0] + escalated * flops[1])


def test_without_ensemble_an_escalated_image_takes_the_last_stage_alone(stages, images):
    cascade = Cascade(stages, thresholds=[1.0], ensemble=False, confidence="max")
    np.testing.assert_allclose(_np(keras.ops.softmax(cascade(images))),
                               _stage_probabilities(stages, images)[1], atol=1e-5)


def test_thresholds_zero_run_the_first_stage_alone_and_force_runs_every_stage(stages, images):
    cascade = Cascade(stages, thresholds=[0.0])
    _, info = cascade(images, return_gate_info=True)
    assert _np(info["gate"])[:, 1].sum() == 0
    _, forced = cascade(images, return_gate_info=True, force_gates_open=True)
    assert _np(forced["gate"]).min() == 1.0
    np.testing.assert_allclose(_np(forced["realized_flops"]), sum(cascade.stage_flops))


def test_the_deployment_graph_computes_the_same_function(stages, images):
    cascade = Cascade(stages, thresholds=[_median_threshold(stages, images)])
    logits, info = cascade(images, return_gate_info=True)
    for index in range(len(images)):
        one, one_info = cascade(images[index:index + 1], return_gate_info=True,
                                deployment=True)
        np.testing.assert_allclose(_np(one)[0], _np(logits)[index], atol=1e-5)
        for key in ("gate", "realized_flops"):
            np.testing.assert_allclose(_np(one_info[key])[0], _np(info[key])[index])


def test_simulation_on_stage_outputs_matches_the_model(stages, images):
    cascade = Cascade(stages, thresholds=[_median_threshold(stages, images)])
    logits, info = cascade(images, return_gate_info=True)
    predictions = stage_predictions(cascade, images)
    assert predictions.labels is None
    outputs, ran, realized = simulate_cascade(predictions, cascade.thresholds)
    np.testing.assert_allclose(outputs, _np(keras.ops.softmax(logits)), atol=1e-5)
    np.testing.assert_array_equal(ran, _np(info["gate"]))
    np.testing.assert_allclose(realized, _np(info["realized_flops"]))


def test_three_stages_escalate_in_turn():
    three = [_stage(0.25, 1), _stage(0.5, 2), _stage(0.75, 3)]
    images = harness.sample_images(three[0], batch=16, seed=4)
    cascade = Cascade(three)  # every image goes to the end until calibrated
    _, info = cascade(images, return_gate_info=True)
    assert _np(info["gate"]).min() == 1.0
    flops = cascade.stage_flops
    result = calibrate_cascade(cascade, images, budget=0.75, tolerance=1e-3)
    _, info = cascade(images, return_gate_info=True)
    rates = _np(info["gate"]).mean(axis=0)
    assert 0 < rates[2] < rates[1] < 1  # each escalation sends some images on, not all
    # One image more or less moves the ratio by at most (flops[1] + flops[2]) / (N flops[2]).
    realized = float(_np(info["realized_flops"]).mean()) / flops[-1]
    assert realized == pytest.approx(0.75, abs=(flops[1] + flops[2]) / (16 * flops[2]) + 1e-3)
    assert result["stage_rates"] == pytest.approx(list(rates))


def test_calibration_reaches_both_ends_of_the_range(stages, images):
    cascade = Cascade(stages)
    flops = cascade.stage_flops
    low = calibrate_cascade(cascade, images, budget=flops[0] / flops[1])
    assert low["stage_rates"][1] == 0.0 and cascade.thresholds == [0.0]
    high = calibrate_cascade(cascade, images, budget=sum(flops) / flops[1])
    assert high["stage_rates"][1] == 1.0


def test_calibration_meets_the_budget_on_its_images(stages, images):
    cascade = Cascade(stages)
    flops = cascade.stage_flops
    result = calibrate_cascade(cascade, images, budget=0.8)
    _, info = cascade(images, return_gate_info=True)
    realized = float(_np(info["realized_flops"]).mean()) / flops[-1]
    assert realized == pytest.approx(result["flops_ratio"])
    # One image more or less moves the ratio by flops[1] / (N * flops[1]).
    assert abs(realized - 0.8) <= 1.0 / len(images) + 1e-3
    assert 0 < result["stage_rates"][1] < 1


def test_a_budget_outside_the_reachable_range_is_refused(stages, images):
    cascade = Cascade(stages)
    low = cascade.stage_flops[0] / cascade.stage_flops[1]
    with pytest.raises(ValueError, match=r"`budget`.*\[0\.\d+, 1\.\d+\].*budget=0\.05"):
        calibrate_cascade(cascade, images, budget=0.05)
    assert low > 0.05
    with pytest.raises(ValueError, match="`budget`"):
        calibrate_cascade(cascade, images, budget=True)


def test_the_report_counts_accuracy_and_cost(stages, images):
    cascade = Cascade(stages, thresholds=[_median_threshold(stages, images)])
    labels = harness.sample_labels(stages[0], batch=len(images), seed=5)
    logits, info = cascade(images, return_gate_info=True)
    result = report(cascade, [(images, labels)])
    assert result["test_accuracy"] == pytest.approx(np.mean(_np(logits).argmax(1) == labels))
    assert result["mean_flops"] == pytest.approx(_np(info["realized_flops"]).mean())
    assert result["flops_ratio"] == pytest.approx(result["mean_flops"] / cascade.stage_flops[1])
    assert result["decision_names"] == ["stage0", "stage1"]
    assert result["decision_kinds"] == ["stage", "stage"]
    assert result["decision_rates"][0] == 1.0 and result["flops_cv"] > 0
    np.testing.assert_allclose(result["decision_rates"], _np(info["gate"]).mean(axis=0))


@pytest.mark.parametrize("kwargs, message", [
    ({"stages": []}, "`stages`: expected a list of two or more"),
    ({"stages": "x"}, "`stages`: expected a list of two or more"),
    ({"thresholds": [0.5, 0.5]}, r"`thresholds`: expected 1 numbers in \[0, 1\]"),
    ({"thresholds": [1.5]}, r"`thresholds`"),
    ({"confidence": "entropy"}, "`confidence`"),
    ({"ensemble": "yes"}, "`ensemble`: expected True or False"),
])
def test_bad_arguments_name_the_argument(stages, kwargs, message):
    arguments = {"stages": stages, **kwargs}
    with pytest.raises(ValueError, match=message):
        Cascade(**arguments)


def test_stages_must_be_lcnet_models_of_one_kind(stages):
    with pytest.raises(ValueError, match=r"stages\[1\] of type Dense"):
        Cascade([stages[0], keras.layers.Dense(2)])
    other = lcnet_tf.create_model("resnet8", gating="none", num_classes=5)
    with pytest.raises(ValueError, match="same `num_classes`"):
        Cascade([stages[0], other])


def _gated_cascade(images, seed=6):
    """A static first stage, an LC-Net second stage whose block gates vary per image."""
    gated = _stage(0.5, seed, gating="lc")
    randomize_gates(gated, seed=seed, block_keep_prob=0.5, images=images)
    return Cascade([_stage(0.25, seed + 1), gated], thresholds=[1.0]), gated


def test_a_gated_stage_reports_its_own_realized_flops(images):
    cascade, gated = _gated_cascade(images)
    _, info = cascade(images, return_gate_info=True)
    _, gated_info = gated(images, training=False, return_gate_info=True)
    np.testing.assert_allclose(_np(info["realized_flops"]),
                               cascade.stage_flops[0] + _np(gated_info["realized_flops"]))
    # Units: the two stages, then the gated stage's blocks (its own decisions).
    units = cascade.decision_units()
    assert [kind for _, kind, _ in units] == ["stage", "stage"] + ["block"] * len(gated.blocks)
    np.testing.assert_array_equal(_np(info["gate"])[:, 2:], _np(gated_info["gate"]))
    # Exact integer FLOPs from the decisions (float32 tensors round above 2**24).
    exact = cascade.cost.realized(_np(info["gate"]), _np(info["kept_groups"]))
    assert exact.dtype == np.int64
    np.testing.assert_array_equal(
        exact, cascade.stage_flops[0] + gated.cost.realized(
            np.rint(_np(gated_info["gate"])).astype(np.int64),
            np.rint(_np(gated_info["kept_groups"])).astype(np.int64)))


def test_a_gated_stage_cascade_runs_one_function_in_both_paths(images):
    cascade, _ = _gated_cascade(images, seed=8)
    cascade.set_thresholds([_median_threshold(cascade.stages, images)])
    logits, info = cascade(images, return_gate_info=True)
    gate = _np(info["gate"])
    assert 0 < gate[:, 1].sum() < len(images)  # both outcomes of the exit
    assert (gate[gate[:, 1] == 0][:, 2:] == 0).all()  # blocks of a stage not run: 0
    for index in range(len(images)):
        one, one_info = cascade(images[index:index + 1], return_gate_info=True,
                                deployment=True)
        np.testing.assert_allclose(_np(one)[0], _np(logits)[index], atol=1e-5)
        for key in ("gate", "kept_groups", "realized_flops"):
            np.testing.assert_allclose(_np(one_info[key])[0], _np(info[key])[index])


def test_report_and_calibration_of_a_gated_stage_cascade(images):
    cascade, gated = _gated_cascade(images, seed=10)
    labels = harness.sample_labels(gated, batch=len(images), seed=5)
    low, high = (flops / cascade.reference_flops for flops in cascade.flops_range())
    budget = 0.5 * (cascade.stage_flops[0] / cascade.reference_flops + high)
    record = calibrate(cascade, images, budget)
    assert 0 < record["stage_rates"][1] < 1
    result = report(cascade, [(images, labels)])
    assert result["flops_ratio"] == pytest.approx(record["flops_ratio"])
    blocks = [kind == "block" for kind in result["decision_kinds"]]
    # A block's rate is among all images: at most its stage's.
    assert max(np.asarray(result["decision_rates"])[blocks]) <= result["decision_rates"][1]
    with pytest.raises(ValueError, match=r"`budget`: expected a number in \[0\.\d+"):
        calibrate(cascade, images, low / 2)


def test_create_model_builds_cascades_from_the_registry():
    cascade = lcnet_tf.create_model("resnet8", gating="cascade", cascade_widths=(0.25, 0.5),
                                    cascade_gatings=("none", "layer"))
    assert isinstance(cascade, Cascade) and cascade.stages[1].gating == "layer"
    static = lcnet_tf.create_model("resnet8", gating="none")
    assert cascade.reference_flops == static.cost.backbone  # budgets: of the model at width 1
    with pytest.raises(ValueError, match="`cascade_gatings`: expected 2 gatings"):
        lcnet_tf.create_model("resnet8", gating="cascade", cascade_gatings=("none",))
    with pytest.raises(ValueError, match="`cascade_widths`: expected None unless"):
        lcnet_tf.create_model("resnet8", gating="lc", cascade_widths=(0.5, 1))


def test_save_and_load_keep_the_stages_and_the_thresholds(stages, images, tmp_path):
    cascade = Cascade(stages, thresholds=[_median_threshold(stages, images)], confidence="max")
    reference = harness.reference_outputs(cascade, images)
    harness.check_config_round_trip(cascade, images, reference)
    path = tmp_path / "cascade.keras"
    cascade.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    assert isinstance(loaded, Cascade) and loaded.thresholds == cascade.thresholds
    assert loaded.confidence == "max"
    harness.assert_same_outputs(reference, loaded, images)


def test_per_example_flops_reads_a_cascade_like_any_model(images):
    cascade, _ = _gated_cascade(images, seed=12)
    cascade.set_thresholds([_median_threshold(cascade.stages, images)])
    _, info = cascade(images, return_gate_info=True)
    np.testing.assert_array_equal(
        lcnet_tf.flops.per_example_flops(cascade, images),
        cascade.cost.realized(_np(info["gate"]), _np(info["kept_groups"])))

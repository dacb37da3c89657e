"""Budget calibration hits its target; the gate report and its plot."""

import numpy as np
import pytest

import lcnet_tf
from lcnet_tf.training import (
    calibrate,
    calibrate_budget,
    flops_ratio_range,
    gate_report,
    mean_flops_ratio,
    plot_gate_report,
    report_to_json,
)

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (64, 32, 32, 3)).astype("uint8")
LABELS = RNG.integers(0, 10, (64,)).astype("int32")


@pytest.fixture(scope="module")
def model():
    model = lcnet_tf.create_model("resnet20", gating="lc", budget=0.3)
    # Spread the fresh gates' logits so that images differ in which blocks they keep.
    for layer in lcnet_tf.gate_control.gate_layers(model):
        if isinstance(layer, lcnet_tf.layers.BlockGate):
            kernel = layer.keep_logit_dense.kernel
            kernel.assign(RNG.normal(0, 1.0, kernel.shape).astype("float32"))
    return model


def test_ratio_range_matches_forced_gates(model):
    closed, opened = flops_ratio_range(model)
    backbone = lcnet_tf.flops.backbone_flops(model)
    assert 0 < closed < opened < 1
    # A huge negative / positive decision offset skips / runs every block gate; channel gates
    # keep their top-k (also in blocks without a block gate, which always run).
    gates = [g for g in lcnet_tf.gate_control.gate_layers(model)
             if isinstance(g, lcnet_tf.layers.BlockGate)]
    offsets = [float(g.decision_offset.numpy()) for g in gates]
    measured = {}
    try:
        for name, offset in (("closed", -1e4), ("open", 1e4)):
            for gate in gates:
                gate.decision_offset.assign(offset)
            measured[name] = lcnet_tf.flops.per_example_flops(model, IMAGES[:8]) / backbone
    finally:
        for gate, offset in zip(gates, offsets, strict=True):
            gate.decision_offset.assign(offset)
    np.testing.assert_allclose(measured["closed"], closed, rtol=1e-9)
    np.testing.assert_allclose(measured["open"], opened, rtol=1e-9)


@pytest.mark.parametrize("budget", [0.2, 0.35])
def test_calibration_hits_the_budget(model, budget):
    result = calibrate_budget(model, IMAGES, budget, tolerance=0.005, max_steps=30)
    assert abs(result["flops_ratio"] - budget) <= 0.005, result
    # The offset is written into the gates: a fresh measurement agrees.
    measured = mean_flops_ratio(model, [IMAGES[:32], IMAGES[32:]])
    assert measured == pytest.approx(result["flops_ratio"], abs=1e-6)
    assert result["num_images"] == 64


def test_calibration_rejects_unreachable_budgets(model):
    closed, opened = flops_ratio_range(model)
    with pytest.raises(ValueError, match="Invalid value for `budget`"):
        calibrate_budget(model, IMAGES, min(opened + 0.05, 1.0))
    with pytest.raises(ValueError, match="needs block gates"):
        calibrate_budget(lcnet_tf.create_model("resnet20", gating="channel"), IMAGES, 0.5)


def test_gate_report_and_plot(model, tmp_path):
    import tensorflow as tf

    calibrate_budget(model, IMAGES, 0.3, tolerance=0.01)
    dataset = tf.data.Dataset.from_tensor_slices((IMAGES, LABELS)).batch(16)
    report = gate_report(model, dataset)
    realized = lcnet_tf.flops.per_example_flops(model, IMAGES)
    np.testing.assert_array_equal(report["per_image_flops"], realized)
    assert report["mean_flops"] == pytest.approx(realized.mean())
    assert report["flops_ratio"] == pytest.approx(realized.mean() / report["reference_flops"])
    assert report["reference_flops"] == lcnet_tf.flops.backbone_flops(model)
    assert report["flops_cv"] == pytest.approx(realized.std() / realized.mean())
    logits = model.predict(IMAGES, verbose=0)
    assert report["test_accuracy"] == pytest.approx(np.mean(logits.argmax(-1) == LABELS))
    assert np.asarray(report["per_class_decision_rates"]).shape == (10, 9)
    assert report["decision_kinds"] == ["block"] * 9
    assert report["decision_names"] == [block.name for block in model.blocks]
    gated = np.asarray(report["decision_rates"])[report["decision_gated"]]
    assert report["dynamic_fraction"] == pytest.approx(np.mean((gated >= 0.1) & (gated <= 0.9)))
    path = plot_gate_report(report, tmp_path / "report.png")
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    import json

    json.dumps(report_to_json(report))  # JSON-ready.


def test_one_calibrate_for_gated_networks_names_the_reachable_range(model):
    low, high = (flops / model.reference_flops for flops in model.flops_range())
    result = calibrate(model, IMAGES, 0.3, tolerance=0.005)
    assert result["reference_flops"] == model.reference_flops
    assert abs(result["flops_ratio"] - 0.3) <= 0.005 and "offset" in result
    assert result["mean_flops"] == pytest.approx(0.3 * model.reference_flops, rel=0.02)
    # The same budget against another reference: a fraction of twice the FLOPs.
    doubled = calibrate(model, IMAGES, 0.15, tolerance=0.005,
                        reference_flops=2 * model.reference_flops)
    assert doubled["mean_flops"] == pytest.approx(result["mean_flops"], rel=0.05)
    with pytest.raises(ValueError, match=rf"`budget`: expected a number in \[{low:.3f}, "
                                         rf"{high:.3f}\].*Received: budget=0\.05"):
        calibrate(model, IMAGES, 0.05)
    with pytest.raises(ValueError, match="needs block gates"):
        calibrate(lcnet_tf.create_model("resnet20", gating="none"), IMAGES, 0.5)

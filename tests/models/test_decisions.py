"""Run-time decision values (`decision_names`, `decisions=`): what a knob file's
"serve_budget" signature feeds, computed by the same function as the stored decisions."""

import harness
import keras
import numpy as np
import pytest

import lcnet_tf
from lcnet_tf.export.gate_patterns import randomize_gates


@pytest.fixture(scope="module")
def l_net():
    keras.utils.set_random_seed(5)
    model = lcnet_tf.create_model("resnet8", gating="layer")
    images = harness.sample_images(model, batch=12, seed=5)
    randomize_gates(model, seed=5, block_keep_prob=0.5, images=images)
    return model, images


def gate_info(model, images, **kwargs):
    _, info = model(images, return_gate_info=True, **kwargs)
    return {key: harness.to_np(value) for key, value in info.items()}


def test_a_decisions_input_equals_the_same_stored_decision(l_net):
    model, images = l_net
    assert model.decision_names() == ["offset"]
    saved = model.decision_values()
    try:
        for offset in (-2.0, 0.0, 2.0):
            given = gate_info(model, images, decisions=np.array([offset], "float32"))
            model.set_decision_values([offset])
            assert model.decision_values() == [offset]
            stored = gate_info(model, images)
            np.testing.assert_array_equal(given["gate"], stored["gate"])
            np.testing.assert_array_equal(given["realized_flops"], stored["realized_flops"])
            single = gate_info(model, images[:1], deployment=True,
                               decisions=np.array([offset], "float32"))
            np.testing.assert_array_equal(single["gate"], stored["gate"][:1])
        low, high = (gate_info(model, images, decisions=np.array([value], "float32"))
                     for value in (-3.0, 3.0))
        assert low["realized_flops"].mean() < high["realized_flops"].mean()  # the knob moves
    finally:
        model.set_decision_values(saved)


def test_bad_decisions_name_the_decisions(l_net):
    model, images = l_net
    with pytest.raises(ValueError, match=r"expected shape \(1,\), one value per decision"):
        model(images, decisions=np.zeros(2, "float32"))
    with pytest.raises(ValueError, match=r"`decisions`: expected 1 finite numbers"):
        model.set_decision_values([np.nan])
    static = lcnet_tf.create_model("resnet8", gating="none")
    assert static.decision_names() == [] and static.decision_values() == []
    with pytest.raises(ValueError, match="no run-time decision"):
        static(images, decisions=np.zeros(1, "float32"))


def test_gates_with_different_offsets_have_no_one_decision_value():
    model = lcnet_tf.create_model("resnet20", gating="layer")
    model(np.zeros((1, 32, 32, 3), "float32"))
    gates = model._block_gates()
    assert len(gates) > 1
    gates[0].decision_offset.assign(1.5)
    with pytest.raises(ValueError, match="different decision offsets"):
        model.decision_values()
    model.set_decision_values([0.25])  # one offset for every gate again
    assert model.decision_values() == [0.25]


def test_a_cascade_takes_thresholds_then_its_gated_stages_offsets():
    cascade, images = harness.varied_cascade(("none", "layer"), seed=3)
    stage = cascade.stages[1]
    assert cascade.decision_names() == ["threshold_0", f"{stage.name}.offset"]
    saved = cascade.decision_values()
    assert saved[0] == cascade.thresholds[0]
    try:
        for values in ([0.0, 0.0], [1.0, -4.0], [saved[0], 4.0]):
            given = gate_info(cascade, images, decisions=np.array(values, "float32"))
            cascade.set_decision_values(values)
            stored = gate_info(cascade, images)
            np.testing.assert_array_equal(given["gate"], stored["gate"])
            np.testing.assert_array_equal(given["realized_flops"], stored["realized_flops"])
            assert cascade.decision_values() == pytest.approx(values)
    finally:
        cascade.set_decision_values(saved)

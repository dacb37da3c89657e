"""A `Cascade` through `to_tflite`: one IF per escalation, and the same function as Keras."""

import harness
import keras
import numpy as np
import pytest

from lcnet_tf.export import ExportError, summarize_tflite, to_tflite
from lcnet_tf.export.benchmark import TFLiteRunner


@pytest.fixture(scope="module")
def cascade():
    return harness.varied_cascade(seed=1)


def test_float_export_matches_keras_and_skips_the_second_stage(cascade):
    model, images = cascade
    content = to_tflite(model)
    assert summarize_tflite(content).num_if_ops == 1 == model.export_contract().if_ops
    logits, info = model(images, return_gate_info=True)
    logits, gate = keras.ops.convert_to_numpy(logits), keras.ops.convert_to_numpy(info["gate"])
    realized = keras.ops.convert_to_numpy(info["realized_flops"])
    assert 0 < gate[:, 1].sum() < len(images)  # both outcomes exported and checked
    runner = TFLiteRunner(content)
    for index, image in enumerate(images):
        outputs, _ = runner.run(image)
        np.testing.assert_allclose(outputs["logits"][0], logits[index], atol=2e-5)
        np.testing.assert_array_equal(outputs["gate"][0], gate[index])
        assert outputs["realized_flops"][0] == pytest.approx(realized[index])


def test_int8_keeps_float_if_boundaries_and_refuses_the_rewrite(cascade):
    model, images = cascade
    with pytest.raises(ExportError, match="`int8_if_boundaries`: a Cascade"):
        to_tflite(model, quantize="int8", representative_data=images,
                  int8_if_boundaries=True)
    content = to_tflite(model, quantize="int8", representative_data=images)
    quantized, exact = TFLiteRunner(content), TFLiteRunner(to_tflite(model))
    gates = np.stack([quantized.run(image)[0]["gate"][0] for image in images])
    float_gates = np.stack([exact.run(image)[0]["gate"][0] for image in images])
    # The int8 graph still decides per image, and mostly as the float one does (int8
    # probabilities move margins near the threshold: a few flips are allowed).
    assert 0 < gates[:, 1].sum() < len(images)
    assert np.mean(gates[:, 1] == float_gates[:, 1]) >= 0.75


@pytest.fixture(scope="module")
def gated_cascade():
    """A static first stage, an LC-Net second stage whose blocks and groups vary per image."""
    return harness.varied_cascade(("none", "lc"), seed=2)


def test_a_gated_stage_cascade_exports_nested_ifs_with_keras_decisions(gated_cascade):
    model, images = gated_cascade
    content = to_tflite(model)
    # One IF for the exit, and the gated stage's own IFs nested in its branch.
    assert summarize_tflite(content).num_if_ops == model.export_contract().if_ops
    assert model.export_contract().if_ops == 1 + model.stages[1].export_contract().if_ops
    logits, info = model(images, return_gate_info=True)
    logits = keras.ops.convert_to_numpy(logits)
    gate, kept = (keras.ops.convert_to_numpy(info[key]) for key in ("gate", "kept_groups"))
    assert 0 < gate[:, 1].sum() < len(images)  # both exits
    escalated = gate[:, 1] == 1
    assert len(np.unique(gate[escalated][:, 2:], axis=0)) > 1  # the blocks vary per image
    runner = TFLiteRunner(content)
    for index, image in enumerate(images):
        outputs, _ = runner.run(image)
        np.testing.assert_allclose(outputs["logits"][0], logits[index], atol=2e-5)
        np.testing.assert_array_equal(outputs["gate"][0], gate[index])
        np.testing.assert_array_equal(outputs["kept_groups"][0], kept[index])
    quantized = TFLiteRunner(to_tflite(model, quantize="int8", representative_data=images))
    int8_gates = np.stack([quantized.run(image)[0]["gate"][0] for image in images])
    # int8 decides per image too (exit and blocks), mostly as float does.
    assert 0 < int8_gates[:, 1].sum() < len(images)
    assert np.mean(int8_gates == gate) >= 0.75

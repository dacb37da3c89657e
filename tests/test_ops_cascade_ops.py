"""lcnet_tf.ops.cascade_ops against few-line NumPy references."""

import keras
import numpy as np
import pytest

from lcnet_tf.ops import cascade_ops


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_margin_and_max_confidence_match_numpy():
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(10), size=32).astype("float32")
    ordered = np.sort(probabilities, axis=1)
    np.testing.assert_allclose(
        _np(cascade_ops.prediction_confidence(probabilities, "margin")),
        ordered[:, -1] - ordered[:, -2], rtol=1e-6)
    np.testing.assert_allclose(
        _np(cascade_ops.prediction_confidence(probabilities, "max")), ordered[:, -1],
        rtol=1e-6)


def test_a_tie_between_two_classes_has_zero_margin():
    tie = np.array([[0.4, 0.4, 0.2]], "float32")
    assert _np(cascade_ops.prediction_confidence(tie, "margin"))[0] == 0.0
    assert _np(cascade_ops.prediction_confidence(tie, "max"))[0] == pytest.approx(0.4)


def test_an_unknown_confidence_names_the_allowed_ones():
    with pytest.raises(ValueError, match=r"`confidence`.*'margin', 'max'.*'entropy'"):
        cascade_ops.prediction_confidence(np.ones((1, 2), "float32") / 2, "entropy")


def test_the_ensemble_is_the_running_mean_of_the_stages():
    rng = np.random.default_rng(1)
    stages = [rng.dirichlet(np.ones(5), size=4).astype("float32") for _ in range(3)]
    prediction = None
    for index, probabilities in enumerate(stages):
        prediction = _np(cascade_ops.combined_probabilities(prediction, probabilities, index))
        np.testing.assert_allclose(prediction, np.mean(stages[:index + 1], axis=0), rtol=1e-6)
    alone = cascade_ops.combined_probabilities(stages[0], stages[1], 1, ensemble=False)
    np.testing.assert_array_equal(_np(alone), stages[1])


def test_escalation_is_strictly_below_the_threshold():
    confidence = np.array([0.1, 0.3, 0.5], "float32")
    np.testing.assert_array_equal(_np(cascade_ops.escalate(confidence, 0.3)), [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(_np(cascade_ops.escalate(confidence, 0.0)), [0.0, 0.0, 0.0])


def test_log_probabilities_are_logits_of_the_prediction():
    probabilities = np.array([[0.7, 0.3, 0.0]], "float32")
    logits = cascade_ops.log_probabilities(probabilities)
    np.testing.assert_allclose(_np(keras.ops.softmax(logits)), probabilities, atol=1e-6)
    assert np.isfinite(_np(logits)).all()

"""lcnet_tf.compat: each private API we use still exists and still does what we use it for."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import lcnet_tf
from lcnet_tf import compat


def test_private_api_check_passes_on_this_stack():
    compat.check_private_apis()


def test_loss_tracker_is_the_reported_loss():
    model = lcnet_tf.create_model("resnet8", gating="lc", budget=0.5)
    # Not compiled: no tracker (`train_step` then has no `loss` to update), not an error.
    assert not model.compiled
    assert compat.loss_tracker(model) is None
    model.compile(keras.optimizers.SGD(0.0),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    tracker = compat.loss_tracker(model)
    assert isinstance(tracker, keras.metrics.Mean)
    # The private handle is the metric Keras itself lists first, as `loss`.
    assert model.metrics[0] is tracker and tracker.name == "loss"
    images = np.zeros((4, 32, 32, 3), "uint8")
    logs = model.train_on_batch(images, np.zeros(4, "int32"), return_dict=True)
    # The tracker we update is the one Keras reports as `loss` (task loss + penalties).
    assert logs["loss"] == pytest.approx(float(tracker.result()))
    assert logs["loss"] >= logs["task_loss"]


def test_gated_resnet_overrides_the_symbolic_build_hook():
    assert compat.MAYBE_SYMBOLIC_BUILD in vars(lcnet_tf.GatedResNet)
    assert hasattr(keras.Model, compat.MAYBE_SYMBOLIC_BUILD)


def test_calibrate_only_flag_exists_on_the_converter():
    converter = tf.lite.TFLiteConverter.from_concrete_functions([])
    assert compat.set_calibrate_only(converter)._experimental_calibrate_only is True

    class NoFlag:
        pass

    with pytest.raises(RuntimeError, match="_experimental_calibrate_only"):
        compat.set_calibrate_only(NoFlag())

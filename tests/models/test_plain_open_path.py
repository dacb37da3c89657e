"""`plain_open_path`: with every gate forced open, the gated ResNet is its plain backbone."""

import harness
import keras
import numpy as np
import pytest
import tensorflow as tf

import lcnet_tf
from lcnet_tf.gate_control import set_gate_override
from lcnet_tf.training import transfer_backbone_weights


def _gated_and_static(plain):
    model = lcnet_tf.create_model("resnet8", gating="lc", channel_gate_stages=(0, 1, 2),
                                  plain_open_path=plain)
    harness.randomize_batch_norm(model)
    images = harness.sample_images(model, batch=3)
    harness.mix_decisions(model, images)  # random saliency networks
    for block in model.blocks:  # learned scales far from 1
        if block.block_gate_layer is not None:
            block.block_gate_layer.scale_dense.bias.assign([-0.8])
    static = lcnet_tf.create_model("resnet8", gating="none")
    transfer_backbone_weights(model, static)
    return model, static, images


def test_forced_open_network_is_the_static_backbone():
    model, static, images = _gated_and_static(plain=True)
    expected = harness.to_np(static(images, training=False))
    forced = model(images, training=False, force_gates_open=tf.constant(True))
    np.testing.assert_allclose(harness.to_np(forced), expected, rtol=1e-4, atol=1e-4)
    one = model(images[:1], training=False, force_gates_open=tf.constant(True), deployment=True)
    np.testing.assert_allclose(harness.to_np(one), expected[:1], rtol=1e-4, atol=1e-4)
    set_gate_override(model, "open")
    np.testing.assert_allclose(harness.to_np(model(images, training=False)), expected,
                               rtol=1e-4, atol=1e-4)
    set_gate_override(model, None)
    # The gated network still applies its multipliers.
    gated = harness.to_np(model(images, training=False))
    assert np.abs(gated - expected).max() > 1e-2
    not_forced = model(images, training=False, force_gates_open=tf.constant(False))
    np.testing.assert_allclose(harness.to_np(not_forced), gated, rtol=1e-5, atol=1e-5)


def test_default_keeps_the_multipliers_in_the_forced_open_network():
    model, static, images = _gated_and_static(plain=False)
    forced = model(images, training=False, force_gates_open=tf.constant(True))
    expected = harness.to_np(static(images, training=False))
    assert np.abs(harness.to_np(forced) - expected).max() > 1e-2


def test_plain_open_path_survives_save_and_load(tmp_path):
    model, _, images = _gated_and_static(plain=True)
    reference = harness.reference_outputs(model, images)
    harness.check_save_load(model, images, tmp_path, reference)
    path = tmp_path / "plain.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    assert loaded.get_config()["plain_open_path"] is True
    assert all(block.plain_open_path for block in loaded.blocks)
    forced = [harness.to_np(m(images, training=False, force_gates_open=tf.constant(True)))
              for m in (model, loaded)]
    np.testing.assert_allclose(forced[0], forced[1], rtol=1e-5, atol=1e-5)


def test_models_saved_before_the_option_keep_their_multipliers():
    model, _, images = _gated_and_static(plain=False)
    config = model.get_config()
    del config["plain_open_path"]  # As saved by versions without the option.
    clone = type(model).from_config(config)
    clone.set_weights(model.get_weights())
    assert not clone.plain_open_path
    forced = [harness.to_np(m(images, training=False, force_gates_open=tf.constant(True)))
              for m in (model, clone)]
    np.testing.assert_allclose(forced[0], forced[1], rtol=1e-5, atol=1e-5)


def test_invalid_plain_open_path():
    with pytest.raises(ValueError, match=r"`plain_open_path`.*Received: plain_open_path='no'"):
        lcnet_tf.create_model("resnet8", gating="lc", plain_open_path="no")

"""Input errors name the argument and the received value; uint8 and float pixels agree."""

import re

import numpy as np
import pytest

import lcnet_tf


@pytest.fixture(scope="module")
def resnet20():
    return lcnet_tf.create_model("resnet20", gating="lc")


def test_unknown_model_name():
    with pytest.raises(ValueError, match=r"`name`.*resnet20.*Received: name='resnet21'"):
        lcnet_tf.create_model("resnet21")
    with pytest.raises(ValueError, match=r"`name`.*Received: name='vgg16'"):
        lcnet_tf.get_preset("vgg16")


def test_unknown_gating():
    with pytest.raises(ValueError, match=r"`gating`.*'lc'.*Received: gating='block'"):
        lcnet_tf.create_model("resnet20", gating="block")
    with pytest.raises(ValueError, match=r"`gating`.*Received: gating=None"):
        lcnet_tf.GatedResNet((1,), (16,), gating=None)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"pixel_mean": (0.5,)}, r"`pixel_mean`.*3 per-channel.*Received: pixel_mean=\(0.5,\)"),
        ({"pixel_std": (0.2, 0.2, 0.0)},
         r"`pixel_std`.*> 0.*Received: pixel_std=\(0.2, 0.2, 0.0\)"),
    ],
)
def test_bad_pixel_normalization(kwargs, message):
    # Three values each: the batch-1 (TFLite) graph normalizes with a 3x3 diagonal kernel.
    with pytest.raises(ValueError, match=message):
        lcnet_tf.create_model("resnet20", **kwargs)


@pytest.mark.parametrize("gating", ["channel", "lc"])
def test_channel_groups_not_dividing_the_width(gating):
    with pytest.raises(ValueError, match=r"`channel_groups`.*16.*Received: channel_groups=3"):
        lcnet_tf.create_model("resnet20", gating=gating, channel_groups=3, channel_gate_stages=None)
    with pytest.raises(ValueError, match=r"`channel_groups`.*Received: channel_groups=5"):
        lcnet_tf.create_model("resnet20", gating=gating, channel_groups=5)
    with pytest.raises(ValueError, match=r"`channel_groups`.*Received: channel_groups=0"):
        lcnet_tf.create_model("resnet20", gating=gating, channel_groups=0)


def test_channel_groups_ignored_without_channel_gates():
    model = lcnet_tf.create_model("resnet20", gating="layer", channel_groups=3)
    assert all(block.channel_groups is None for block in model.blocks)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(num_classes=0), "num_classes"),
        (dict(image_size=4), "image_size"),
        (dict(stem="mobile"), "stem"),
        (dict(gating="lc", channel_gate_stages=(0, 5)), "channel_gate_stages"),
        (dict(block_type="dense"), "block_type"),
    ],
)
def test_invalid_model_arguments(kwargs, name):
    value = kwargs[name]
    with pytest.raises(ValueError, match=rf"`{name}`.*Received: {re.escape(f'{name}={value!r}')}"):
        lcnet_tf.create_model("resnet20", **kwargs)


@pytest.mark.parametrize(
    "shape",
    [(2, 32, 32), (2, 32, 32, 1), (2, 32, 32, 4), (2, 3, 32, 32), (2, 16, 16, 3), (32, 32, 3)],
)
def test_wrong_input_shape(resnet20, shape):
    images = np.zeros(shape, dtype=np.uint8)
    pattern = rf"`inputs`.*\(batch, 32, 32, 3\).*Received: inputs.shape={re_shape(shape)}"
    with pytest.raises(ValueError, match=pattern):
        resnet20(images)


def re_shape(shape):
    return re.escape(str(tuple(shape)))


def test_uint8_and_float32_inputs_give_the_same_logits(resnet20):
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    uint8_logits = np.asarray(resnet20(images, training=False))
    float_logits = np.asarray(resnet20(images.astype("float32"), training=False))
    np.testing.assert_array_equal(uint8_logits, float_logits)
    # The deployment graph (one image, `cond` path) too.
    np.testing.assert_array_equal(
        np.asarray(resnet20(images[:1], deployment=True)),
        np.asarray(resnet20(images[:1].astype("float32"), deployment=True)),
    )


def test_wrong_size_after_a_first_predict_raises_in_every_traced_path():
    import keras
    import tensorflow as tf

    model = lcnet_tf.create_model("resnet8", gating="lc")
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    good = np.zeros((2, 32, 32, 3), "uint8")
    model.predict(good, verbose=0)
    labels = np.zeros((2,), "int32")
    for size in (17, 64):
        bad = np.zeros((2, size, size, 3), "uint8")
        with pytest.raises(Exception, match=r"expected a batch of images of shape \(batch, 32"):
            model.predict(bad, verbose=0)
        with pytest.raises(Exception, match=r"expected a batch of images of shape \(batch, 32"):
            model.evaluate(bad, labels, verbose=0)

    @tf.function(input_signature=[tf.TensorSpec((None, None, None, 3), tf.uint8)])
    def users_function(images):
        return model(images)

    assert users_function(good).shape == (2, 10)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\(batch, 32, 32, 3\)"):
        users_function(np.zeros((1, 17, 17, 3), "uint8"))


@pytest.mark.parametrize("dtype", ["bool", "complex64", "string"])
def test_non_pixel_dtypes_are_a_clear_error(dtype):
    import tensorflow as tf

    model = lcnet_tf.create_model("resnet8", gating="none")
    images = tf.zeros((1, 32, 32, 3), dtype=dtype)
    with pytest.raises(ValueError, match=rf"`inputs`.*Received: inputs.dtype={dtype}"):
        model(images)


def test_imagenet_presets_default_to_1000_classes_and_cifar_to_10():
    assert lcnet_tf.create_model("resnet18", gating="none").num_classes == 1000
    assert lcnet_tf.create_model("resnet8", gating="none").num_classes == 10
    assert lcnet_tf.create_model("resnet18", gating="none", num_classes=7).num_classes == 7

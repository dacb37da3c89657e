"""`from_keras_application`: keras.applications ResNets (v1) as gated ResNets.

Sources have random weights, random BatchNorm statistics and non-zero conv biases, so a
dropped bias, a wrong epsilon, a shifted stem grid or a swapped channel order shows in
the logits. 64x64 inputs keep the networks fast; the FLOPs test builds 224x224.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import lcnet_tf
from lcnet_tf import flops as flops_lib
from lcnet_tf.models.resnet import keras_applications as ka
from lcnet_tf.training import procedure

SIZE = 64


def randomize(model, seed=0):
    """Random BN statistics and affine, random conv biases: nothing is an identity."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([
                rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.2, beta.shape),
                rng.normal(0, 0.2, mean.shape), rng.uniform(0.5, 2.0, variance.shape),
            ])
        elif isinstance(layer, keras.layers.Conv2D) and layer.use_bias:
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0, 0.1, bias.shape)])
    return model


def source(constructor="ResNet50", size=SIZE, **kwargs):
    kwargs = {"weights": None, "input_shape": (size, size, 3), "classes": 10,
              "classifier_activation": None, **kwargs}
    return randomize(getattr(keras.applications, constructor)(**kwargs))


def images(count=2, size=SIZE, seed=1):
    return np.random.default_rng(seed).uniform(0, 255, (count, size, size, 3)).astype("float32")


def source_logits(model, pixels):
    return model(keras.applications.resnet.preprocess_input(pixels.copy()), training=False).numpy()


@pytest.fixture(scope="module")
def resnet50():
    return source("ResNet50")


@pytest.mark.parametrize("gating", ["none", "lc"])
def test_resnet50_logits_match_batched_and_batch1(resnet50, gating):
    model = lcnet_tf.from_keras_application(resnet50, gating=gating)
    pixels = images()
    expected = source_logits(resnet50, pixels)
    batched = model(pixels, force_gates_open=tf.constant(True)).numpy()
    np.testing.assert_allclose(batched, expected, atol=1e-4, rtol=1e-4)
    # The deployment (batch-1, IF branches) path too.
    single = model(pixels[:1], force_gates_open=tf.constant(True), deployment=True).numpy()
    np.testing.assert_allclose(single, expected[:1], atol=1e-4, rtol=1e-4)
    assert model.stride_in_1x1 and model.stem_padding == "symmetric"
    assert model.blocks[3].convs[0].strides == (2, 2)  # stage 2's first block: v1 stride


def test_resnet101_logits_match():
    src = source("ResNet101")
    model = lcnet_tf.from_keras_application(src, gating="layer")
    assert model.stage_blocks == (3, 4, 23, 3)
    pixels = images(seed=3)
    np.testing.assert_allclose(model(pixels, force_gates_open=tf.constant(True)).numpy(),
                               source_logits(src, pixels), atol=1e-4, rtol=1e-4)


def test_softmax_head_gives_its_logits(resnet50):
    src = source("ResNet50", classifier_activation="softmax")
    model = lcnet_tf.from_keras_application(src, gating="none")
    pixels = images(seed=4)
    probabilities = src(keras.applications.resnet.preprocess_input(pixels.copy())).numpy()
    np.testing.assert_allclose(keras.ops.softmax(model(pixels)).numpy(), probabilities,
                               atol=1e-5)


def test_channel_order_and_mean_matter(resnet50):
    """A source fed RGB without preprocessing differs: the conversion is not vacuous."""
    model = lcnet_tf.from_keras_application(resnet50, gating="none")
    pixels = images(seed=5)
    wrong = resnet50(pixels[..., ::-1] - 100.0, training=False).numpy()
    assert np.abs(model(pixels).numpy() - wrong).max() > 1e-2


def test_keras_round_trip_and_fine_tune_step(resnet50, tmp_path):
    model = lcnet_tf.from_keras_application(resnet50, gating="lc", budget=0.6)
    path = tmp_path / "converted.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    pixels = images(seed=6)
    np.testing.assert_allclose(loaded(pixels, force_gates_open=tf.constant(True)).numpy(),
                               model(pixels, force_gates_open=tf.constant(True)).numpy(),
                               atol=1e-5)
    assert loaded.stride_in_1x1 and loaded.stem_padding == "symmetric"
    loaded.compile(optimizer=keras.optimizers.SGD(0.01),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [w.numpy().copy() for w in loaded.trainable_weights]
    history = loaded.fit(images(4, seed=7), np.array([0, 1, 2, 3]), batch_size=4, epochs=1,
                         verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert "flops_ratio" in history.history
    moved = [not np.allclose(a, w.numpy())
             for a, w in zip(before, loaded.trainable_weights, strict=True)]
    assert sum(moved) > len(moved) // 2


def test_new_class_count_gives_fresh_head(resnet50):
    model = lcnet_tf.from_keras_application(resnet50, gating="none", num_classes=7)
    assert model(images(1)).shape == (1, 7)


def test_include_top_false():
    src = randomize(keras.applications.ResNet50(weights=None, include_top=False,
                                                input_shape=(SIZE, SIZE, 3)))
    with pytest.raises(ValueError, match="`num_classes`.*include_top=False"):
        lcnet_tf.from_keras_application(src)
    model = lcnet_tf.from_keras_application(src, gating="none", num_classes=5)
    assert model(images(1)).shape == (1, 5)
    # The backbone features match: compare before the head.
    pixels = images(seed=8)
    features = src(keras.applications.resnet.preprocess_input(pixels.copy())).numpy()
    x = model._normalize(keras.ops.convert_to_tensor(pixels), deployment=False)
    for layer in model.stem_layers:
        x = layer(x, training=False)
    for block in model.blocks:
        x, _ = block(x, training=False)
    np.testing.assert_allclose(x.numpy(), features, atol=1e-4, rtol=1e-4)


def test_any_size_source_needs_image_size():
    src = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(None, None, 3))
    with pytest.raises(ValueError, match="`image_size`.*image_size=224"):
        lcnet_tf.from_keras_application(src, num_classes=10)
    model = lcnet_tf.from_keras_application(src, gating="none", num_classes=10, image_size=SIZE)
    assert model.image_size == SIZE


@pytest.mark.parametrize("make, match", [
    (lambda: keras.applications.MobileNetV2(weights=None, input_shape=(SIZE, SIZE, 3)),
     "keras.applications.*has no such layers"),
    (lambda: keras.applications.ResNet50V2(weights=None, input_shape=(SIZE, SIZE, 3)),
     "pre-activation ResNet v2"),
    (lambda: keras.applications.ResNet50(weights=None, include_top=False,
                                         input_shape=(SIZE, SIZE + 32, 3)),
     "square"),
    (lambda: "resnet50", "expected a keras.Model"),
])
def test_mismatched_source_is_one_clear_error(make, match):
    with pytest.raises(ValueError, match=match):
        lcnet_tf.from_keras_application(make(), num_classes=10)


def test_architecture_overrides_refused(resnet50):
    with pytest.raises(ValueError, match="stage_blocks.*set by the source"):
        lcnet_tf.from_keras_application(resnet50, stage_blocks=(1, 1, 1, 1))
    with pytest.raises(ValueError, match="`gating`.*gating='dense'"):
        lcnet_tf.from_keras_application(resnet50, gating="dense")


def bottleneck_v1_by_hand(stage_blocks, num_classes=1000, size=224, stride_in_1x1=True):
    """ResNet v1/v1.5 bottleneck MACs at `size`, written from the architecture.

    Stem 7x7/2 conv (3 -> 64); 3x3/2 max-pool (0); per block 1x1 (in -> w), 3x3 (w -> w),
    1x1 (w -> 4w), projection 1x1 (in -> 4w) in each stage's first block; the stride 2 of
    stages 3-5 sits in the first 1x1 (v1) or the 3x3 (v1.5); global pool (one add per
    element); dense 2048 -> classes. Convention: 1 MAC = 1 FLOP.
    """
    total = 7 * 7 * 3 * 64 * (size // 2) ** 2
    resolution = size // 4
    in_channels = 64
    for stage, (blocks, width) in enumerate(zip(stage_blocks, (64, 128, 256, 512), strict=True)):
        for index in range(blocks):
            stride = 2 if stage > 0 and index == 0 else 1
            out = resolution // stride
            first = out if stride_in_1x1 else resolution  # where the 1x1 runs
            total += first * first * in_channels * width
            total += out * out * 9 * width * width
            total += out * out * width * 4 * width
            if index == 0:
                total += out * out * in_channels * 4 * width
            in_channels = 4 * width
            resolution = out
    total += resolution * resolution * 2048 + 2048 * num_classes
    return total


def test_v1_flops_equal_hand_count():
    v1 = bottleneck_v1_by_hand((3, 4, 6, 3))
    # keras.applications ResNet50 counted our way: about 3.86 GMACs (v1.5: 4.09).
    assert v1 == pytest.approx(3.86e9, rel=0.005)
    model = lcnet_tf.create_model("resnet50", gating="none", stride_in_1x1=True,
                                  stem_padding="symmetric")
    assert flops_lib.backbone_flops(model) == v1
    v15 = lcnet_tf.create_model("resnet50", gating="none")
    assert flops_lib.backbone_flops(v15) == bottleneck_v1_by_hand((3, 4, 6, 3),
                                                                  stride_in_1x1=False)
    assert bottleneck_v1_by_hand((3, 4, 6, 3), stride_in_1x1=False) == pytest.approx(
        4.09e9, rel=0.005)
    assert flops_lib.backbone_flops(
        lcnet_tf.create_model("resnet101", gating="none", stride_in_1x1=True)
    ) == bottleneck_v1_by_hand((3, 4, 23, 3))


def test_converted_flops_match_preset_v1(resnet50):
    model = lcnet_tf.from_keras_application(resnet50, gating="none")
    preset = lcnet_tf.create_model("resnet50", gating="none", stride_in_1x1=True,
                                   stem_padding="symmetric", image_size=SIZE, num_classes=10)
    assert flops_lib.backbone_flops(model) == flops_lib.backbone_flops(preset)


def test_stride_in_1x1_only_for_bottlenecks():
    with pytest.raises(ValueError, match="`stride_in_1x1`"):
        lcnet_tf.create_model("resnet18", stride_in_1x1=True)


def test_training_loads_and_inherits(resnet50, tmp_path):
    """`init_from` a saved keras.applications model: converted, and the gated model copies
    its stem padding, stride position and normalisation (not the preset's)."""
    path = tmp_path / "resnet50.keras"
    resnet50.save(path)
    backbone = procedure.load_backbone(str(path), num_classes=10)
    assert isinstance(backbone, lcnet_tf.GatedResNet) and backbone.gating == "none"
    kwargs = {"num_classes": 10, "width_multiplier": 1.0, "image_size": SIZE}
    inherited = procedure.inherited_architecture(backbone, "resnet50", kwargs)
    assert inherited["stride_in_1x1"] and inherited["stem_padding"] == "symmetric"
    gated = lcnet_tf.create_model("resnet50", gating="lc", **kwargs, **inherited)
    assert lcnet_tf.training.transfer_backbone_weights(backbone, gated) == len(backbone.weights)
    static = lcnet_tf.create_model("resnet50", gating="none", **kwargs, **inherited)
    lcnet_tf.training.transfer_backbone_weights(backbone, static)
    pixels = images(seed=9)
    np.testing.assert_allclose(static(pixels).numpy(), source_logits(resnet50, pixels),
                               atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="--model"):
        procedure.inherited_architecture(backbone, "resnet101", kwargs)


def test_application_spec_errors(tmp_path):
    assert ka.is_application_spec("keras_applications:resnet50")
    assert not ka.is_application_spec("runs/x/static.keras")
    with pytest.raises(ValueError, match="resnet101.*keras_applications:vgg16"):
        ka.load_application("keras_applications:vgg16")
    with pytest.raises(ValueError, match="no such weights file"):
        ka.load_application(f"keras_applications:resnet50:{tmp_path / 'missing.h5'}")

"""The training recipe's levers (`lcnet_tf.training.recipe`, the augmentation of
`lcnet_tf.data`, the `TrainConfig` fields): each against a small reference, the defaults
against the recipe as it was, and all of them together through `run_training`."""

import json
import math
from pathlib import Path

import keras
import numpy as np
import pytest

import lcnet_tf
from lcnet_tf.data import make_dataset
from lcnet_tf.training import recipe
from lcnet_tf.training.calibration import _all_layers
from lcnet_tf.training.config import TrainConfig

CIFAR = "/work/shared/data/cifar10_jpeg"
IMAGES = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3)).astype("uint8")
LABELS = np.arange(8, dtype="int32") % 10


def numpy_triangular(step, peak_lr, total, peak):
    step = np.asarray(step, "float64")
    return peak_lr * np.clip(np.minimum(step / peak, (total - step) / (total - peak)), 0, 1)


# Schedules and learning rates ------------------------------------------------------------
def test_triangular_schedule_matches_numpy_at_known_steps():
    schedule = recipe.TriangularSchedule(0.4, total_steps=100, peak_step=23)
    steps = [0, 1, 11, 22, 23, 24, 50, 99, 100, 130]
    values = [float(schedule(step)) for step in steps]
    np.testing.assert_allclose(values, numpy_triangular(steps, 0.4, 100, 23), atol=1e-7)
    assert values[4] == pytest.approx(0.4) and values[0] == 0 and values[-1] == 0
    assert float(schedule(11)) == pytest.approx(0.4 * 11 / 23)
    assert float(schedule(50)) == pytest.approx(0.4 * 50 / 77)
    # Serializable: a saved optimizer brings its schedule back.
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(restored, recipe.TriangularSchedule)
    assert float(restored(50)) == pytest.approx(float(schedule(50)))


def test_triangular_schedule_from_config_peaks_at_the_fraction():
    config = TrainConfig(lr_schedule="triangular", lr_peak_fraction=0.25, gating="none")
    schedule = recipe.learning_rate_schedule(config, 0.2, total_steps=40, warmup_steps=20)
    assert (schedule.peak_step, schedule.total_steps) == (10, 40)  # warmup_steps unused
    np.testing.assert_allclose([float(schedule(s)) for s in (5, 10, 25, 40)],
                               [0.1, 0.2, 0.1, 0.0], atol=1e-7)


@pytest.mark.parametrize("arguments", [(-0.1, 10, 2), (0.1, 0, 0), (0.1, 10, 11), (0.1, 10, 2.5)])
def test_triangular_schedule_refuses_bad_arguments(arguments):
    with pytest.raises(ValueError, match="Invalid value for `(peak_lr|total_steps|peak_step)`"):
        recipe.TriangularSchedule(*arguments)


@pytest.mark.parametrize("scaling, batch_size, expected", [
    ("none", 512, 0.1), ("linear", 512, 0.4), ("sqrt", 512, 0.2), ("linear", 128, 0.1),
    ("linear", 64, 0.05), ("sqrt", 32, 0.05),
])
def test_lr_scaling(scaling, batch_size, expected):
    assert recipe.scaled_lr(0.1, batch_size, scaling) == pytest.approx(expected)


def lr_at(optimizer, steps):
    """The optimizer's learning rate at each step (its step counter set to it)."""
    rates = []
    for step in steps:
        optimizer.iterations.assign(step)
        rates.append(float(optimizer.learning_rate))
    return rates


def test_lr_scaling_and_the_schedule_reach_the_optimizer():
    from lcnet_tf.training.procedure import _optimizer

    config = TrainConfig(gating="none", batch_size=512, lr_scaling="sqrt",
                         lr_schedule="triangular", lr_peak_fraction=0.5)
    optimizer = _optimizer(0.1, 100, 10, config, 20)
    np.testing.assert_allclose(lr_at(optimizer, [0, 25, 50, 75, 100]),
                               numpy_triangular([0, 25, 50, 75, 100], 0.2, 100, 50), atol=1e-7)


def test_default_optimizer_is_the_recipe_before_the_levers():
    """Runs saved before the levers existed resume unchanged: same class, same settings,
    same learning rate at every step."""
    from lcnet_tf.training.procedure import NO_DECAY, _optimizer

    config = TrainConfig()
    optimizer = _optimizer(0.1, 100, 10, config, 20)
    # What `_optimizer` built before the levers, verbatim.
    before = keras.optimizers.SGD(
        learning_rate=keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0, decay_steps=90, warmup_target=0.1, warmup_steps=10),
        momentum=0.9, nesterov=True, weight_decay=5e-4,
    )
    before.exclude_from_weight_decay(var_names=NO_DECAY)
    assert type(optimizer) is keras.optimizers.SGD
    assert {**optimizer.get_config(), "name": None} == {**before.get_config(), "name": None}
    steps = [0, 1, 5, 10, 11, 50, 99, 100, 120]
    then = lr_at(before, steps)
    assert lr_at(optimizer, steps) == then
    assert then[3] == pytest.approx(0.1) and then[0] == 0.0 and then[7] == pytest.approx(0.0)
    assert 0.0 < then[5] < 0.1


# BatchNorm-bias learning rate --------------------------------------------------------------
def bn_and_dense_variables():
    batch_norm = keras.layers.BatchNormalization()
    batch_norm.build((None, 3))
    dense = keras.layers.Dense(3, kernel_initializer="ones")
    dense.build((None, 3))
    return [batch_norm.gamma, batch_norm.beta, dense.kernel, dense.bias]


@pytest.mark.parametrize("momentum, steps", [(0.0, 1), (0.9, 3)])
def test_bn_bias_multiplier_multiplies_only_the_beta_update(momentum, steps):
    gradients = [np.linspace(0.1, 0.5, int(np.prod(shape)), dtype="float32").reshape(shape)
                 for shape in ((3,), (3,), (3, 3), (3,))]
    plain_variables, scaled_variables = bn_and_dense_variables(), bn_and_dense_variables()
    start = [variable.numpy().copy() for variable in plain_variables]
    plain = keras.optimizers.SGD(0.1, momentum=momentum, nesterov=True)
    scaled = recipe.RecipeSGD(0.1, momentum=momentum, nesterov=True, bias_lr_multiplier=64.0)
    for _ in range(steps):
        plain.apply(gradients, plain_variables)
        scaled.apply(gradients, scaled_variables)
    plain_updates = [v.numpy() - s for v, s in zip(plain_variables, start, strict=True)]
    scaled_updates = [v.numpy() - s for v, s in zip(scaled_variables, start, strict=True)]
    assert [v.name for v in scaled_variables] == ["gamma", "beta", "kernel", "bias"]
    np.testing.assert_allclose(scaled_updates[1], 64.0 * plain_updates[1], rtol=1e-5)
    assert np.abs(plain_updates[1]).min() > 0
    for index in (0, 2, 3):  # gamma, the Dense kernel and bias: unchanged learning rate.
        np.testing.assert_allclose(scaled_updates[index], plain_updates[index], rtol=1e-6)


# Weight average ------------------------------------------------------------------------
def test_weight_average_follows_the_lookahead_formula_and_is_copied_back():
    lr, decay, every, start, total = 0.1, 0.5, 2, 1, 5
    gradient = np.array([1.0, 0.5], "float32")
    weight = keras.Variable(np.array([1.0, -2.0], "float32"), name="kernel")
    optimizer = recipe.RecipeSGD(lr, momentum=0.0, ema_decay=decay, ema_every_steps=every,
                                 ema_start_step=start, ema_total_steps=total)
    expected, average = np.array([1.0, -2.0]), None
    for step in range(1, 7):  # `step` = optimizer.iterations after the update.
        if step - 1 == start:
            average = expected.copy()
        expected = expected - lr * gradient
        since = step - start
        if since > 0 and since % every == 0:
            pull = decay**every * min(since / (total - start), 1.0) ** 3
            average = pull * average + (1 - pull) * expected
            expected = average.copy()
        optimizer.apply([gradient], [weight])
        np.testing.assert_allclose(weight.numpy(), expected, rtol=1e-6, err_msg=f"step {step}")
    raw = np.array([1.0, -2.0]) - 6 * lr * gradient
    assert not np.allclose(weight.numpy(), raw, atol=1e-3)  # The average holds the weights back.
    # Step 6 was not an averaging step: the weights ran ahead; the end copies the average in.
    assert not np.allclose(weight.numpy(), average)
    optimizer.finalize_variable_values([weight])
    np.testing.assert_allclose(weight.numpy(), average, rtol=1e-6)


def recipe_model(optimizer_kwargs):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    hidden = keras.layers.BatchNormalization()(keras.layers.Dense(8)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.ReLU()(hidden)))
    model.compile(recipe.RecipeSGD(**optimizer_kwargs), loss="mse", jit_compile=False)
    return model


class _Kill(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:
            raise RuntimeError("killed")


def test_a_killed_run_resumes_with_its_weight_average(tmp_path):
    """BackupAndRestore saves and restores the optimizer's variables, the average with them:
    a run killed after epoch 2 and resumed ends where an uninterrupted run ends."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(32, 4)).astype("float32"), rng.normal(size=(32, 1)).astype("float32")
    # Averaging every 3 steps: the backups (after steps 4 and 8) fall between two averages.
    kwargs = {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True, "ema_decay": 0.9,
              "ema_every_steps": 3, "ema_total_steps": 16, "bias_lr_multiplier": 4.0}
    fit = {"batch_size": 8, "epochs": 4, "shuffle": False, "verbose": 0}
    straight = recipe_model(kwargs)
    straight.fit(x, y, **fit)
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    killed = recipe_model(kwargs)
    with pytest.raises(RuntimeError, match="killed"):
        killed.fit(x, y, callbacks=[backup, _Kill()], **fit)
    resumed = recipe_model(kwargs)
    resumed.fit(x, y, callbacks=[keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))],
                **fit)
    assert int(resumed.optimizer.iterations) == 16
    for got, want in zip(resumed.get_weights(), straight.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # Without the restored average the resumed run ends elsewhere (this test can fail).
    fresh = recipe_model(kwargs)
    fresh.set_weights(killed.get_weights())
    fresh.fit(x, y, initial_epoch=2, **fit)
    assert not np.allclose(fresh.get_weights()[0], straight.get_weights()[0], atol=1e-4)


def test_recipe_optimizer_round_trips_its_config():
    optimizer = recipe.RecipeSGD(recipe.TriangularSchedule(0.4, 100, 23), momentum=0.85,
                                 nesterov=True, bias_lr_multiplier=64.0, ema_decay=0.95,
                                 ema_every_steps=5, ema_start_step=10, ema_total_steps=100)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(restored, recipe.RecipeSGD)
    assert restored.get_config() == optimizer.get_config()
    assert (restored.ema_decay, restored.ema_start_step, restored.bias_variable_names) == (
        0.95, 10, ("beta",))


@pytest.mark.parametrize("name, value", [
    ("bias_lr_multiplier", 0.0), ("ema_decay", 1.0), ("ema_every_steps", 0),
    ("ema_start_step", -1), ("ema_total_steps", 0),
])
def test_recipe_optimizer_names_bad_arguments(name, value):
    with pytest.raises(ValueError, match=f"Invalid value for `{name}`.*Received: {name}="):
        recipe.RecipeSGD(0.1, **{name: value})


# BatchNorm momentum and bf16 -----------------------------------------------------------------
def small_model():
    model = lcnet_tf.create_model("resnet8", gating="none", width_multiplier=0.5)
    model(IMAGES[:1])
    model.compile(keras.optimizers.SGD(0.01),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=False)
    return model


def test_bf16_trains_in_bfloat16_then_saves_and_loads_as_float32(tmp_path):
    model = small_model()
    layers = [layer for layer in _all_layers(model) if layer is not model]
    float_logits = model.predict(IMAGES, verbose=0)
    with recipe.training_settings(model, precision="mixed_bfloat16"):
        conv = model.stem_layers[0]
        assert conv.compute_dtype == "bfloat16" and conv.variable_dtype == "float32"
        assert model.classifier.compute_dtype == "float32"
        assert conv(np.zeros((1, 32, 32, 3), "float32")).dtype == "bfloat16"
        logits = model(IMAGES, training=False)
        assert logits.dtype == "float32"
        assert not np.array_equal(np.asarray(logits), float_logits)  # Really bf16 inside.
        np.testing.assert_allclose(np.asarray(logits), float_logits, atol=0.1, rtol=0.1)
        history = model.fit(IMAGES, LABELS, batch_size=8, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
    assert keras.config.dtype_policy().name == "float32"
    assert {layer.dtype_policy.name for layer in layers} == {"float32"}
    assert all(weight.dtype == "float32" for weight in model.weights)
    trained = model.predict(IMAGES, verbose=0)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", compile=False)
    assert {layer.dtype_policy.name for layer in _all_layers(loaded)} == {"float32"}
    predicted = loaded.predict(IMAGES, verbose=0)
    assert predicted.dtype == np.float32
    np.testing.assert_allclose(predicted, trained, rtol=1e-5, atol=1e-5)


def test_bn_momentum_is_set_for_training_only():
    model = small_model()
    batch_norms = [layer for layer in _all_layers(model)
                   if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(batch_norms) > 3 and {layer.momentum for layer in batch_norms} == {0.9}
    with recipe.training_settings(model, bn_momentum=0.6):
        assert {layer.momentum for layer in batch_norms} == {0.6}
    assert {layer.momentum for layer in batch_norms} == {0.9}
    # The momentum set is the one the moving statistics follow.
    inputs = keras.Input((3,))
    tiny = keras.Model(inputs, keras.layers.BatchNormalization()(inputs))
    batch = np.array([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]], "float32")
    with recipe.training_settings(tiny, bn_momentum=0.6):
        tiny(batch, training=True)
    np.testing.assert_allclose(tiny.layers[-1].moving_mean.numpy(), 0.4 * batch.mean(axis=0),
                               rtol=1e-6)


def test_training_settings_restore_after_an_error():
    model = small_model()
    with pytest.raises(RuntimeError), recipe.training_settings(
            model, bn_momentum=0.5, precision="mixed_bfloat16"):
        raise RuntimeError("interrupted")
    assert {layer.dtype_policy.name for layer in _all_layers(model)} == {"float32"}
    assert {layer.momentum for layer in _all_layers(model)
            if isinstance(layer, keras.layers.BatchNormalization)} == {0.9}


# Augmentation ------------------------------------------------------------------------------
def originals(dataset):
    (images, _), = make_dataset(dataset, "train", batch_size=64, training=False)
    return np.asarray(images)


def training_passes(dataset, passes, **kwargs):
    stream = make_dataset(dataset, "train", batch_size=16, training=True, seed=3, repeat=True,
                          **kwargs)
    images = np.concatenate([np.asarray(x) for x, _ in stream.take(4 * passes)])
    return images.reshape(passes, 64, *images.shape[1:])


def flip_states(dataset, passes, flip):
    """`(passes, 64)` bool: whether each original image was shown flipped in each pass."""
    source = originals(dataset)
    plain = {image.tobytes(): index for index, image in enumerate(source)}
    mirrored = {image[:, ::-1].tobytes(): index for index, image in enumerate(source)}
    states = np.zeros((passes, len(source)), bool)
    for number, images in enumerate(training_passes(dataset, passes, flip=flip, translate=0)):
        seen = []
        for image in images:
            key = image.tobytes()
            assert key in plain or key in mirrored
            index = plain.get(key, mirrored.get(key))
            states[number, index] = key not in plain
            seen.append(index)
        assert sorted(seen) == list(range(len(source)))  # Every image once per pass.
    return states


def test_alternating_flip_alternates_per_image_between_passes(synthetic_dataset):
    states = flip_states(synthetic_dataset, 4, "alternating")
    assert 10 < states[0].sum() < 54  # A random half, not all or none.
    assert (states[0] != states[1]).all() and (states[1] != states[2]).all()
    assert (states[0] == states[2]).all() and (states[1] == states[3]).all()
    # Random flips do not alternate (the test tells the two apart).
    random_states = flip_states(synthetic_dataset, 2, "random")
    assert 5 < (random_states[0] != random_states[1]).sum() < 59
    assert not flip_states(synthetic_dataset, 1, "none").any()


@pytest.mark.parametrize("translate", [0, 2])
def test_translate_shifts_by_at_most_the_amount(synthetic_dataset, translate):
    source = originals(synthetic_dataset)
    size = source.shape[1]
    crops = {}
    for index, image in enumerate(source):
        padded = np.pad(image, [(translate, translate), (translate, translate), (0, 0)],
                        mode="reflect")
        for dy in range(2 * translate + 1):
            for dx in range(2 * translate + 1):
                crops[padded[dy:dy + size, dx:dx + size].tobytes()] = (index, dy, dx)
    images = training_passes(synthetic_dataset, 2, flip="none", translate=translate)
    found = [crops.get(image.tobytes()) for image in images.reshape(-1, *source.shape[1:])]
    assert None not in found  # Every image is a crop of its padded original.
    offsets = np.array([(dy, dx) for _, dy, dx in found])
    assert offsets.min() == 0 and offsets.max() == 2 * translate  # Both extremes reached.


def test_bad_augmentation_values_are_refused(synthetic_dataset):
    with pytest.raises(ValueError, match="Invalid value for `flip`"):
        make_dataset(synthetic_dataset, "train", batch_size=8, training=True, flip="up")
    with pytest.raises(ValueError, match=r"Invalid value for `translate`: expected an int >= 0 "
                                         r"<= 31.*Received: translate=32"):
        make_dataset(synthetic_dataset, "train", batch_size=8, training=True, translate=32)


# Configuration ------------------------------------------------------------------------
RECIPE_FIELDS = ("lr_schedule", "lr_peak_fraction", "lr_scaling", "ema_decay", "ema_every_steps",
                 "ema_start_epochs", "bn_momentum", "bn_bias_lr_multiplier", "flip", "translate",
                 "precision")


def test_runs_saved_before_the_levers_resume_under_the_defaults(tmp_path):
    from lcnet_tf.training.procedure import check_resumable

    config = TrainConfig(gating="none", dataset="somewhere")
    saved = json.loads(config.to_json())
    for name in RECIPE_FIELDS:
        del saved[name]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    check_resumable(tmp_path, config)
    with pytest.raises(ValueError, match="precision: 'float32' -> 'mixed_bfloat16'"):
        check_resumable(tmp_path, config.replace(precision="mixed_bfloat16"))
    with pytest.raises(ValueError, match="ema_decay: 0.0 -> 0.9"):
        check_resumable(tmp_path, config.replace(ema_decay=0.9))


@pytest.mark.parametrize("field, value", [
    ("lr_schedule", "step"), ("lr_peak_fraction", 1.0), ("lr_peak_fraction", 0),
    ("lr_scaling", "cubic"), ("ema_decay", 1.0), ("ema_decay", -0.1), ("ema_every_steps", 0),
    ("ema_every_steps", 2.0), ("ema_start_epochs", -1), ("bn_momentum", 1.0),
    ("bn_momentum", "0.6"), ("bn_bias_lr_multiplier", 0), ("flip", "vertical"),
    ("translate", -1), ("translate", 2.5), ("precision", "float16"), ("momentum", 1.0),
    ("momentum", True),
])
def test_bad_recipe_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=rf"^Invalid value for `{field}`: expected .+ "
                                         rf"Received: {field}="):
        TrainConfig(gating="none", **{field: value})


def test_translate_is_for_cifar_style_data_only():
    with pytest.raises(ValueError, match="Invalid value for `translate`.*image_size"):
        TrainConfig(gating="none", image_size=224, translate=2)
    TrainConfig(gating="none", image_size=224)


def test_recipe_fields_are_flags_with_help():
    from lcnet_tf.training.config import field_help

    helps = field_help()
    for name in RECIPE_FIELDS:
        assert len(helps[name]) > 20, name


@pytest.mark.slow
@pytest.mark.skipif(not Path(CIFAR).is_dir(), reason=f"needs the prepared CIFAR-10 at {CIFAR}")
def test_every_lever_at_once_trains_through_run_training(tmp_path):
    from lcnet_tf.training import run_training

    config = TrainConfig(
        model="resnet20", width_multiplier=0.5, gating="none", dataset=CIFAR,
        train_examples=256, test_examples=100, static_epochs=1, epochs=0,
        calibration_images=0, eval_batch_size=100, batch_size=128, jit_compile=False,
        lr_schedule="triangular", lr_peak_fraction=0.23, lr_scaling="linear", momentum=0.85,
        label_smoothing=0.2, ema_decay=0.95, ema_every_steps=1, bn_momentum=0.6,
        bn_bias_lr_multiplier=64.0, flip="alternating", translate=2,
        precision="mixed_bfloat16",
    )
    metrics = run_training(config, tmp_path / "run", verbose=0)
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["precision"] == "mixed_bfloat16" and saved["flip"] == "alternating"
    model = keras.saving.load_model(tmp_path / "run" / "model.keras", compile=False)
    assert {layer.dtype_policy.name for layer in _all_layers(model)} == {"float32"}
    assert {layer.momentum for layer in _all_layers(model)
            if isinstance(layer, keras.layers.BatchNormalization)} == {0.9}
    logits = model.predict(IMAGES, verbose=0)
    assert logits.dtype == np.float32 and np.isfinite(logits).all()
    # Loaded with its compile config too: the registered RecipeSGD and schedule come back.
    compiled = keras.saving.load_model(tmp_path / "run" / "model.keras")
    assert isinstance(compiled.optimizer, recipe.RecipeSGD)
    assert compiled.optimizer.ema_decay == 0.95 and compiled.optimizer.bias_lr_multiplier == 64
    phases = json.loads((tmp_path / "run" / "phases.json").read_text())
    assert phases["static"]["seconds"] > 0
    # Finished: the same call returns the saved metrics.
    assert run_training(config, tmp_path / "run", verbose=0) == metrics
    assert math.isfinite(metrics["test_accuracy"])


def test_a_runs_recipe_is_named_by_the_levers_it_changes():
    from lcnet_tf.training.config import TrainConfig, recipe_levers, recipe_name

    assert recipe_name(TrainConfig()) == "baseline"
    config = TrainConfig(precision="mixed_bfloat16", lr_peak_fraction=0.3, ema_every_steps=3)
    # A peak fraction without the triangular schedule, an EMA cadence without an EMA: no lever.
    assert recipe_levers(config) == {"precision": "mixed_bfloat16"}
    assert recipe_name(json.loads(config.to_json())) == "precision=mixed_bfloat16"
    assert recipe_name(config.replace(lr_schedule="triangular", flip="alternating")) == (
        "lr_schedule=triangular+lr_peak_fraction=0.3+flip=alternating+precision=mixed_bfloat16")

"""FLOPs-aware `fit`/`evaluate` on GatedResNet: budget argument, metrics, penalty gradients."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import lcnet_tf
from lcnet_tf.ops import LinearWarmup

METRICS = {"loss", "accuracy", "flops_ratio", "task_loss", "budget_loss", "rate_loss"}
RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (16, 32, 32, 3)).astype("uint8")
LABELS = RNG.integers(0, 10, (16,)).astype("int32")


def compiled(model, **kwargs):
    model.compile(
        keras.optimizers.SGD(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=False,
        **kwargs,
    )
    return model


@pytest.fixture(scope="module")
def trained():
    model = compiled(lcnet_tf.create_model("resnet20", budget=0.3,
                                           budget_weight=LinearWarmup(1.0, 4)))
    history = model.fit(IMAGES, LABELS, batch_size=8, epochs=2, verbose=0)
    evaluation = model.evaluate(IMAGES, LABELS, batch_size=8, verbose=0, return_dict=True)
    return model, history.history, evaluation


@pytest.mark.parametrize("budget", [0.0, -0.1, 1.7, True, "0.5"])
def test_budget_outside_range_is_a_clear_error(budget):
    with pytest.raises(ValueError, match=r"Invalid value for `budget`: expected 0 < budget <= 1"):
        lcnet_tf.create_model("resnet20", budget=budget)


def test_budget_in_config_and_compile_override():
    model = lcnet_tf.create_model("resnet20", gating="layer", budget=0.4)
    config = model.get_config()
    assert config["budget"] == 0.4
    assert lcnet_tf.GatedResNet.from_config(config).budget == 0.4
    compiled(model, budget=0.25)
    assert model.budget == 0.25
    with pytest.raises(ValueError, match="budget"):
        compiled(model, budget=2.0)
    with pytest.raises(ValueError, match="budget_weight"):
        lcnet_tf.create_model("resnet20", budget=0.4, budget_weight=-1.0)


def test_fit_and_evaluate_report_budget_metrics(trained):
    _, history, evaluation = trained
    assert METRICS <= set(history), history.keys()
    assert METRICS <= set(evaluation), evaluation.keys()
    for name in METRICS:
        assert np.all(np.isfinite(history[name])), name
    # Training loss = task + penalties; evaluation reports them without adding them.
    train_total = history["task_loss"][-1] + history["budget_loss"][-1] + history["rate_loss"][-1]
    assert history["loss"][-1] == pytest.approx(train_total, rel=1e-4)
    assert evaluation["loss"] == pytest.approx(evaluation["task_loss"], rel=1e-5)
    assert evaluation["budget_loss"] > 0  # A fresh model runs ~0.5 of the FLOPs, budget 0.3.
    assert 0.0 < evaluation["flops_ratio"] < 1.0


def test_evaluate_flops_ratio_is_the_realized_mean(trained):
    model, _, evaluation = trained
    realized = lcnet_tf.flops.per_example_flops(model, IMAGES)
    expected = realized.mean() / model.cost_table["backbone"]
    assert evaluation["flops_ratio"] == pytest.approx(expected, rel=1e-5)


def test_no_penalty_without_budget_or_gates():
    for model in (lcnet_tf.create_model("resnet20", gating="none", budget=0.5),
                  lcnet_tf.create_model("resnet20", gating="lc")):
        compiled(model)
        result = model.evaluate(IMAGES[:8], LABELS[:8], verbose=0, return_dict=True)
        assert result["budget_loss"] == 0.0 and result["rate_loss"] == 0.0
        assert result["loss"] == pytest.approx(result["task_loss"])
    assert result["flops_ratio"] < 1.0  # lc model: still measured.
    static = lcnet_tf.create_model("resnet20", gating="none")
    assert compiled(static).evaluate(IMAGES[:8], LABELS[:8], verbose=0, return_dict=True)[
        "flops_ratio"] == pytest.approx(1.0)


def test_penalty_gradient_reaches_every_gate_logit():
    model = lcnet_tf.create_model("resnet20", gating="layer", budget=0.2)
    gate_biases = [v for v in model.trainable_variables if "keep_logit/bias" in v.path]
    # ResNet-20: 9 blocks, of which the 2 shape-changing ones are not gated by default.
    assert len(gate_biases) == sum(block.block_gate for block in model.blocks) == 7
    with tf.GradientTape() as tape:
        _, info = model(IMAGES[:8], training=True, return_gate_info=True)
        budget_loss, rate_loss, _ = model.gate_losses(info, step=0)
        penalty = budget_loss + rate_loss
    gradients = tape.gradient(penalty, gate_biases)
    for variable, gradient in zip(gate_biases, gradients, strict=True):
        assert gradient is not None and np.isfinite(gradient.numpy()).all(), variable.path
        # Over budget (fresh gates keep ~95%): every keep logit is pushed down.
        assert gradient.numpy().item() > 0, variable.path


def test_save_load_keeps_budget_and_schedules(trained, tmp_path):
    model, _, _ = trained
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert restored.budget == 0.3
    assert isinstance(restored.budget_weight, LinearWarmup)
    result = restored.evaluate(IMAGES, LABELS, batch_size=8, verbose=0, return_dict=True)
    assert METRICS <= set(result)


def learnable_images(count, classes=4, size=16, seed=0):
    """Each class a colour (the same for every seed), plus pixel noise: learnable, not trivial."""
    rng = np.random.default_rng(seed)
    colours = np.random.default_rng(123).uniform(40, 215, (classes, 3))
    labels = rng.permutation(np.arange(count) % classes)
    images = colours[labels][:, None, None, :] + rng.normal(0, 30, (count, size, size, 3))
    return np.clip(images, 0, 255).astype("uint8"), labels.astype("int32")


def test_training_learns_and_moves_the_flops_ratio_to_the_budget():
    # 32 steps of a small gated ResNet-8 (16x16 inputs, 4 classes): held-out accuracy far above
    # chance, and the inference FLOPs ratio (hard decisions) goes from ~1 (fresh gates run
    # every block) most of the way to the budget.
    images, labels = learnable_images(128)
    test_images, test_labels = learnable_images(64, seed=1)
    model = lcnet_tf.create_model("resnet8", gating="layer", gate_downsampling=True,
                                  image_size=16, num_classes=4, budget=0.4)
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], jit_compile=False)
    before = model.evaluate(test_images, test_labels, batch_size=64, verbose=0, return_dict=True)
    model.fit(images, labels, batch_size=16, epochs=4, verbose=0)
    after = model.evaluate(test_images, test_labels, batch_size=64, verbose=0, return_dict=True)
    assert after["accuracy"] >= 0.6, after  # chance: 0.25
    assert before["flops_ratio"] > 0.95
    assert abs(after["flops_ratio"] - 0.4) < 0.5 * abs(before["flops_ratio"] - 0.4), (
        before["flops_ratio"], after["flops_ratio"])

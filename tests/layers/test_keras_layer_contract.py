"""Keras's own layer harness (`run_layer_test`) over every public layer and gating mode, and a
Functional model built from the layers, trained with the FLOPs penalty and exported.

Mixed precision is not supported yet (the gate maths and the cost bookkeeping run in float32):
`run_mixed_precision_check=False`, on purpose.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.testing import TestCase  # Keras's own layer harness (no public equivalent)

from lcnet_tf.layers import BlockGate, ChannelGate, GatedResidualBlock
from lcnet_tf.ops import budget_ops

# Keras's harness fits a generator with fit's default shuffle=True, and Keras warns about it.
KERAS_HARNESS_WARNING = pytest.mark.filterwarnings(
    "ignore:`shuffle=True` was passed, but will be ignored:UserWarning"
)


class _Harness(TestCase):
    def runTest(self):  # unittest needs one test method to instantiate the case
        pass


BLOCK_CASES = {
    "static": dict(filters=16),
    "static_layer_drop": dict(filters=16, layer_drop=0.3),
    "layer": dict(filters=16, block_gate=True),
    "channel": dict(filters=16, channel_groups=2),
    "lc": dict(filters=16, block_gate=True, channel_groups=4, channel_keep=0.5),
    "lc_stride2": dict(filters=32, stride=2, block_gate=True, channel_groups=2),
    "lc_bottleneck": dict(filters=8, block_type="bottleneck", shortcut="projection",
                          block_gate=True, channel_groups=2),
}


@KERAS_HARNESS_WARNING
@pytest.mark.parametrize("case", list(BLOCK_CASES))
def test_gated_residual_block_passes_keras_layer_test(case):
    kwargs = BLOCK_CASES[case]
    stride = kwargs.get("stride", 1)
    channels = kwargs["filters"] * (4 if kwargs.get("block_type") == "bottleneck" else 1)
    groups = kwargs.get("channel_groups") or 0
    expected = ((2, 8 // stride, 8 // stride, channels),
                {"gate": (2,), "keep_prob": (2,), "kept_groups": (2,), "group_mask": (2, groups)})
    _Harness().run_layer_test(
        GatedResidualBlock, init_kwargs=kwargs, input_shape=(2, 8, 8, 16),
        expected_output_shape=expected, run_mixed_precision_check=False,
    )


@KERAS_HARNESS_WARNING
@pytest.mark.parametrize("layer_cls, kwargs, expected", [
    (BlockGate, dict(hidden_units=8),
     {"keep_logit": (2,), "keep_prob": (2,), "gate": (2,), "scale": (2,)}),
    (ChannelGate, dict(groups=4, keep_groups=2), {"saliency": (2, 4), "group_mask": (2, 4)}),
])
def test_gates_pass_keras_layer_test(layer_cls, kwargs, expected):
    _Harness().run_layer_test(layer_cls, init_kwargs=kwargs, input_shape=(2, 16),
                              expected_output_shape=expected, run_mixed_precision_check=False)


def test_block_outputs_have_one_structure_in_every_mode():
    block = GatedResidualBlock(16, block_gate=True, channel_groups=2)
    batched = block(tf.zeros((3, 8, 8, 16)), training=False)
    single = block(tf.zeros((1, 8, 8, 16)), training=False, deployment=True)
    symbolic = block(keras.Input((8, 8, 16)))
    structures = [tf.nest.map_structure(lambda t: len(t.shape), out)
                  for out in (batched, single, symbolic)]
    assert structures[0] == structures[1] == structures[2]
    assert all(leaf is not None for leaf in tf.nest.flatten(single))


def _functional_model():
    """The README example: a small gated network from the public layers."""
    images = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(16, 3, padding="same")(images)
    gates, costs = [], []
    for index in range(3):
        block = GatedResidualBlock(16, block_gate=True, name=f"block{index}")
        x, info = block(x)
        gates.append(info["gate"])
        costs.append(float(2 * 3 * 3 * 16 * 16 * 16 * 16))  # the block's two convolutions
    logits = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x))
    gate = keras.ops.stack(gates, axis=1)
    # Share of the blocks' FLOPs each image ran (the FLOPs penalty reads it).
    ratio = keras.ops.sum(gate * np.array(costs, "float32"), axis=1) / sum(costs)
    return keras.Model(images, {"logits": logits, "flops_ratio": ratio})


@keras.saving.register_keras_serializable(package="lcnet_tf_tests")
def flops_penalty(_, flops_ratio):
    """The budget penalty (`budget_ops.budget_penalty`) at a budget of 0.3."""
    return budget_ops.budget_penalty(flops_ratio, 0.3)


def test_functional_model_from_the_layers_trains_with_the_flops_penalty_and_exports(tmp_path):
    model = _functional_model()
    model.compile(
        optimizer=keras.optimizers.SGD(0.05),
        loss={"logits": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              "flops_ratio": flops_penalty},
    )
    rng = np.random.default_rng(0)
    images = rng.normal(size=(32, 16, 16, 3)).astype("float32")
    labels = rng.integers(0, 10, 32)
    history = model.fit(images, {"logits": labels, "flops_ratio": np.zeros(32)}, epochs=3,
                        batch_size=8, verbose=0)
    penalties = history.history["flops_ratio_loss"]
    assert np.isfinite(penalties).all() and penalties[-1] < penalties[0]  # gates moved
    model.save(tmp_path / "functional.keras")
    restored = keras.saving.load_model(tmp_path / "functional.keras", compile=False)
    np.testing.assert_allclose(restored(images[:4])["logits"], model(images[:4])["logits"],
                               atol=1e-5)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    assert len(converter.convert()) > 0

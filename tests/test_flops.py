"""FLOPs accounting: golden backbone values, an exact hand count, rules, forced patterns.

Convention: 1 FLOP = 1 multiply-accumulate (ResNet-50 = 4.1 GFLOPs).
"""

import keras
import numpy as np
import pytest

import lcnet_tf
from lcnet_tf import flops as flops_lib

# Published backbone FLOPs (He et al. 2016; ResNet/SkipNet/LC-Net papers), relative tolerance.
GOLDEN = {
    "resnet20": (40.6e6, 0.02),
    "resnet56": (125.4e6, 0.02),
    "resnet110": (252.9e6, 0.02),
    "resnet18": (1.82e9, 0.03),
    "resnet50": (4.1e9, 0.03),
}


@pytest.mark.parametrize("name", list(GOLDEN))
def test_golden_backbone_flops(name):
    expected, tolerance = GOLDEN[name]
    model = lcnet_tf.create_model(name, gating="none")
    assert flops_lib.backbone_flops(model) == pytest.approx(expected, rel=tolerance)


def conv_macs(kernel, in_channels, out_channels, out_size):
    return kernel * kernel * in_channels * out_channels * out_size * out_size


def resnet20_by_hand(num_classes=10):
    """ResNet-20 on 32x32: 3x3 stem, 3 stages x 3 basic blocks (16/32/64), GAP, dense."""
    total = conv_macs(3, 3, 16, 32)  # stem
    in_channels = 16
    for width, size in ((16, 32), (32, 16), (64, 8)):
        for _ in range(3):
            total += conv_macs(3, in_channels, width, size) + conv_macs(3, width, width, size)
            in_channels = width
    total += 8 * 8 * 64  # global average pool: one accumulate per input element
    total += 64 * num_classes  # classifier
    return total


@pytest.mark.parametrize("gating", ["none", "lc"])
def test_resnet20_backbone_equals_hand_count(gating):
    assert resnet20_by_hand() == 40_555_136
    model = lcnet_tf.create_model("resnet20", gating=gating)
    # Gates never change the backbone figure.
    assert flops_lib.backbone_flops(model) == resnet20_by_hand()
    assert flops_lib.backbone_flops(
        lcnet_tf.create_model("resnet20", gating=gating, num_classes=100)
    ) == resnet20_by_hand(100)


def test_unknown_layer_raises_type_error():
    layer = keras.layers.LSTM(4, name="mystery")
    with pytest.raises(TypeError, match="mystery.*LSTM.*FLOPS_RULES"):
        flops_lib.layer_flops(layer, (None, 5, 3))


def test_layer_rules_and_flops_opt_in():
    conv = keras.layers.Conv2D(8, 3, strides=2, padding="same")
    assert flops_lib.layer_flops(conv, (None, 16, 16, 4)) == 3 * 3 * 4 * 8 * 8 * 8
    assert flops_lib.layer_flops(keras.layers.Dense(5), (None, 7)) == 35
    assert flops_lib.layer_flops(keras.layers.GlobalAveragePooling2D(), (None, 4, 4, 6)) == 96
    assert flops_lib.layer_flops(keras.layers.BatchNormalization(), (None, 4, 4, 6)) == 0

    class Custom(keras.layers.Layer):
        def flops(self, input_shape):
            return 7 * input_shape[-1]

    assert flops_lib.layer_flops(Custom(), (None, 3)) == 21
    # A subclass of a known layer uses its parent's rule.

    class MyDense(keras.layers.Dense):
        pass

    assert flops_lib.layer_flops(MyDense(2), (None, 3)) == 6


def test_cost_table_terms_by_hand_for_resnet20_lc():
    model = lcnet_tf.create_model(
        "resnet20", gating="lc", channel_groups=4, channel_gate_stages=None, gate_hidden=16
    )
    table = flops_lib.cost_table(model)
    # First block: input (32, 32, 16), width 16, 4 groups of 4 channels.
    pool = 32 * 32 * 16
    block_gate = 16 * 16 + 16 * 2
    channel_gate = 16 * 16 + 16 * 4
    convs = 2 * conv_macs(3, 16, 16, 32)
    assert table["always"][0] == pool + block_gate
    assert table["run"][0] == channel_gate
    assert table["per_group"][0] == convs // 4
    assert table["groups"][0] == 4
    assert table["backbone_block"][0] == convs
    # First block of stage 2 (stride 2, zero-pad shortcut: no shortcut cost).
    assert table["per_group"][3] == (conv_macs(3, 16, 32, 16) + conv_macs(3, 32, 32, 16)) // 4
    assert table["fixed"] == conv_macs(3, 3, 16, 32) + 8 * 8 * 64 + 64 * 10


def test_per_example_flops_with_a_forced_pattern():
    model = lcnet_tf.create_model(
        "resnet20", gating="lc", channel_groups=4, channel_keep=0.5, channel_gate_stages=None,
        gate_downsampling=True,
    )
    table = flops_lib.cost_table(model)
    pattern = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1])
    for block, run in zip(model.blocks, pattern, strict=True):
        block.block_gate_layer.decision_offset.assign(1e4 if run else -1e4)
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    per_example = flops_lib.per_example_flops(model, images)
    kept = 2  # top-k with k = round(0.5 * 4) groups in every running block
    expected = table["fixed"] + sum(
        table["always"][b] + pattern[b] * (table["run"][b] + kept * table["per_group"][b])
        for b in range(9)
    )
    np.testing.assert_array_equal(per_example, np.full(3, expected))
    # Same by hand from the architecture for the running part of block 0.
    assert table["run"][0] + kept * table["per_group"][0] == (
        16 * 16 + 16 * 4 + conv_macs(3, 16, 16, 32)
    )
    assert flops_lib.closed_flops(model) < expected < flops_lib.open_flops(model)
    # Datasets of (images, labels) batches give the same answer.
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((images, np.zeros(3, "int32"))).batch(2)
    np.testing.assert_array_equal(flops_lib.per_example_flops(model, dataset), per_example)


def test_open_and_closed_flops_by_gating():
    # ResNet-20 has no projection shortcuts: every "always" cost is gate pooling + gate nets.
    layer_model = lcnet_tf.create_model("resnet20", gating="layer", gate_downsampling=True)
    table = flops_lib.cost_table(layer_model)
    assert flops_lib.closed_flops(layer_model) == table["fixed"] + table["always"].sum()
    assert flops_lib.open_flops(layer_model) == table["backbone"] + table["always"].sum()
    assert np.all(table["per_group"] == 0) and np.all(table["groups"] == 0)
    # Channel gates alone: blocks always run their ungrouped part and their channel gate.
    channel_model = lcnet_tf.create_model("resnet20", gating="channel")
    table = flops_lib.cost_table(channel_model)
    assert flops_lib.closed_flops(channel_model) == table["fixed"] + (
        table["always"] + table["run"]
    ).sum()
    assert flops_lib.open_flops(channel_model) == flops_lib.closed_flops(channel_model) + (
        table["groups"] * table["per_group"]
    ).sum()
    assert flops_lib.open_flops(channel_model) > table["backbone"]

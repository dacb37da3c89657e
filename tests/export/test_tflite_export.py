"""TFLite export: IF branches, builtins only, int8 coverage, signature, parity, bad files."""

import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert import schema_py_generated as tflite_schema
from ai_edge_litert.tools import flatbuffer_utils

import lcnet_tf
from lcnet_tf.export import (
    OUTPUT_NAMES,
    ExportError,
    TFLiteModelError,
    check_tflite,
    expected_if_ops,
    gate_dense_layer_count,
    load_keras_model,
    read_tflite_bytes,
    summarize_tflite,
    to_tflite,
)
from lcnet_tf.export.benchmark import TFLiteRunner
from lcnet_tf.export.gate_patterns import fix_gate_pattern, randomize_gates
from lcnet_tf.export.int8_boundaries import float_if_operands, quantize_if_boundaries
from lcnet_tf.export.tflite_inspect import BUILTIN_OP_NAMES

# The offline CIFAR-10 copy beside the checkout (../shared), as on our machines and in CI.
CIFAR_DIR = str(Path(__file__).resolve().parents[2].parent / "shared/data/cifar10_jpeg")
NUM_PARITY_IMAGES = 500


def _random_images(count, seed=0, size=32):
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, 3)).astype("uint8")


@pytest.fixture(scope="module")
def lc_model():
    keras_seed = 1
    tf.keras.utils.set_random_seed(keras_seed)
    model = lcnet_tf.create_model(
        "resnet20", gating="lc", channel_groups=2, channel_gate_stages=None
    )
    randomize_gates(model, seed=0, images=_random_images(64, seed=1))
    return model


@pytest.fixture(scope="module")
def lc_float(lc_model):
    return to_tflite(lc_model)


@pytest.fixture(scope="module")
def lc_int8(lc_model):
    return to_tflite(lc_model, quantize="int8", representative_data=_random_images(16, seed=2))


def test_if_ops_and_builtins_only(lc_model, lc_float):
    summary = summarize_tflite(lc_float)
    # resnet20: 7 block gates (the 2 shape-changing blocks are not gated) + 9 blocks x 2 groups.
    assert expected_if_ops(lc_model) == 25
    assert summary.num_if_ops == 25
    assert summary.num_subgraphs == 1 + 2 * 25
    assert summary.flex_ops == [] and summary.custom_ops == []
    assert summary.op_counts()["CONV_2D"] > 0


def test_plain_interpreter_setting_only_the_image_gets_the_learned_decisions(lc_model, lc_float):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=lc_float, num_threads=1)
    interpreter.allocate_tensors()
    inputs = interpreter.get_input_details()
    assert len(inputs) == 1 and tuple(inputs[0]["shape"]) == (1, 32, 32, 3)
    gate_index = interpreter.get_signature_runner("serve").get_output_details()["gate"]["index"]
    images = _random_images(6, seed=5)
    _, info = lc_model(images, training=False, return_gate_info=True)
    expected_gates = np.asarray(info["gate"])
    assert 0 < expected_gates[:, lc_model.block_gated > 0].mean() < 1  # some run, some skip
    for image, expected in zip(images, expected_gates, strict=True):
        interpreter.set_tensor(inputs[0]["index"], image[None].astype("float32"))
        interpreter.invoke()
        np.testing.assert_array_equal(interpreter.get_tensor(gate_index)[0], expected)


def test_signature(lc_model, lc_float):
    runner = TFLiteRunner(lc_float)
    # Deployed models take the image only: nothing for an app to leave unset.
    assert set(runner.input_details) == {"image"}
    with pytest.raises(ValueError, match="force_input=True"):
        runner.run(_random_images(1)[0], force_gates_open=True)
    runner = TFLiteRunner(to_tflite(lc_model, force_input=True))
    assert set(runner.input_details) == {"image", "force_gates_open"}
    assert tuple(runner.input_details["image"]["shape"]) == (1, 32, 32, 3)
    assert runner.input_details["image"]["dtype"] == np.float32
    assert tuple(runner.input_details["force_gates_open"]["shape"]) == (1,)
    assert set(runner.output_details) == set(OUTPUT_NAMES)
    expected_shapes = {"logits": (1, 10), "gate": (1, 9), "kept_groups": (1, 9),
                       "realized_flops": (1,)}
    for name, shape in expected_shapes.items():
        assert tuple(runner.output_details[name]["shape"]) == shape
        assert runner.output_details[name]["dtype"] == np.float32
    # Forcing the gates open runs everything: the open-FLOPs figure of the model.
    outputs, _ = runner.run(_random_images(1)[0], force_gates_open=True)
    np.testing.assert_array_equal(outputs["gate"], np.ones((1, 9)))
    np.testing.assert_array_equal(outputs["kept_groups"], np.full((1, 9), 2.0))
    assert outputs["realized_flops"][0] == pytest.approx(lcnet_tf.flops.open_flops(lc_model),
                                                         rel=1e-6)


def test_fixed_pattern_flops_follow_the_gates(lc_model):
    model = lcnet_tf.create_model("resnet20", gating="layer", gate_downsampling=True)
    runs = [True, False] * 4 + [True]
    fix_gate_pattern(model, block_runs=runs)
    runner = TFLiteRunner(to_tflite(model, input_dtype="uint8"))
    assert runner.input_details["image"]["dtype"] == np.uint8
    outputs, _ = runner.run(_random_images(1)[0])
    np.testing.assert_array_equal(outputs["gate"][0], np.array(runs, "float32"))
    table = model.cost_table
    expected = lcnet_tf.flops.realized_flops_from_info(
        table, np.array(runs, "int64"), np.zeros(9, "int64")
    )
    assert outputs["realized_flops"][0] == pytest.approx(float(expected), rel=1e-6)


def test_int8_has_no_float_convolution(lc_model, lc_int8):
    summary = summarize_tflite(lc_int8)
    assert summary.num_if_ops == expected_if_ops(lc_model)
    # Only the gate networks' dense layers stay float (on purpose, see docs/export.md).
    float_ops = summary.float_conv_ops
    assert {op.name for op in float_ops} == {"FULLY_CONNECTED"}
    assert len(float_ops) == gate_dense_layer_count(lc_model) > 0
    assert summary.op_counts()["CONV_2D"] > 0
    runner = TFLiteRunner(lc_int8)
    assert runner.input_details["image"]["dtype"] == np.float32
    outputs, _ = runner.run(_random_images(1)[0])
    assert outputs["logits"].dtype == np.float32 and np.all(np.isfinite(outputs["logits"]))


def _op_names(model):
    return lambda op: BUILTIN_OP_NAMES[max(model.operatorCodes[op.opcodeIndex].builtinCode,
                                           model.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode)]


def _int8_boundary_report(content):
    """Float rank-4 IF operands, rank-4 DEQUANTIZE outputs and float pooled maps (subgraphs)."""
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    op_name = _op_names(model)
    map_dequantizes, float_pools = [], []
    for index, sub in enumerate(model.subgraphs):
        def is_float_map(t, sub=sub):
            return (sub.tensors[t].type == tflite_schema.TensorType.FLOAT32
                    and len(sub.tensors[t].shape) == 4)
        for op in sub.operators:
            if op_name(op) == "DEQUANTIZE" and is_float_map(op.outputs[0]):
                map_dequantizes.append(index)
            elif op_name(op) == "MEAN" and is_float_map(op.inputs[0]):
                float_pools.append(index)
    return float_if_operands(content), map_dequantizes, float_pools


def _check_graph_consistency(content):
    """Every op reads tensors already computed; IF operands and branch tensors agree in dtype
    and int8 parameters (a mismatch loads fine and computes garbage)."""
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    op_name = _op_names(model)

    def params(tensor):
        q = tensor.quantization
        if q is None or q.scale is None or not len(q.scale):
            return (tensor.type, None)
        return (tensor.type, tuple(np.asarray(q.scale).tolist()),
                tuple(np.asarray(q.zeroPoint).tolist()))

    checked_ifs = 0
    for index, sub in enumerate(model.subgraphs):
        constants = {t for t, tensor in enumerate(sub.tensors)
                     if tensor.buffer and model.buffers[tensor.buffer].data is not None
                     and len(model.buffers[tensor.buffer].data)}
        ready = set(sub.inputs) | constants
        for op in sub.operators:
            missing = [t for t in op.inputs if t >= 0 and t not in ready]
            assert not missing, f"subgraph {index}: {op_name(op)} reads {missing} before they exist"
            ready |= set(op.outputs)
            if op_name(op) != "IF":
                continue
            checked_ifs += 1
            options = op.builtinOptions
            for branch_index in (options.thenSubgraphIndex, options.elseSubgraphIndex):
                branch = model.subgraphs[branch_index]
                for outer, inner in zip(op.inputs[1:], branch.inputs, strict=True):
                    assert params(sub.tensors[outer]) == params(branch.tensors[inner])
                for outer, inner in zip(op.outputs, branch.outputs, strict=True):
                    assert params(sub.tensors[outer]) == params(branch.tensors[inner])
    return checked_ifs


def test_int8_feature_maps_cross_if_boundaries_as_int8(lc_model, lc_int8):
    # Block IFs and the nested channel-group IFs alike: no float feature map crosses an IF,
    # none is dequantized anywhere, and the gates pool int8 maps.
    assert _int8_boundary_report(lc_int8) == ([], [], [])
    assert _check_graph_consistency(lc_int8) == expected_if_ops(lc_model)
    # The converter's own output has float boundaries: the report sees them.
    float_boundaries = to_tflite(lc_model, quantize="int8", int8_if_boundaries=False,
                                 representative_data=_random_images(16, seed=2))
    float_if_maps, map_dequantizes, float_pools = _int8_boundary_report(float_boundaries)
    assert float_if_maps and map_dequantizes and float_pools
    # int8_pooling=False: int8 boundaries, but the gates pool dequantized float maps.
    float_pooling, _ = quantize_if_boundaries(float_boundaries, int8_pooling=False)
    float_if_maps, map_dequantizes, float_pools = _int8_boundary_report(float_pooling)
    assert not float_if_maps and map_dequantizes and float_pools
    assert _check_graph_consistency(float_pooling) == expected_if_ops(lc_model)
    # Rewriting twice changes nothing.
    assert quantize_if_boundaries(lc_int8) == (lc_int8, 0)


def test_int8_pooled_maps_get_their_calibrated_range(lc_model, lc_int8):
    # The gates' int8 pools use ranges calibrated on the pooled values, finer than the step of
    # the map they pool (with the map's step, gate decisions agreed less often with float).
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(lc_int8))
    op_name, main = _op_names(model), model.subgraphs[0]
    pools = [op for op in main.operators if op_name(op) == "MEAN"
             and len(main.tensors[op.inputs[0]].shape) == 4
             and main.tensors[op.outputs[0]].type == tflite_schema.TensorType.INT8]
    assert pools
    finer = [main.tensors[op.outputs[0]].quantization.scale[0]
             < main.tensors[op.inputs[0]].quantization.scale[0] for op in pools]
    assert sum(finer) >= len(pools) - 1  # The head's pool keeps the converter's parameters.


def test_int8_boundaries_clone_a_branch_shared_by_two_ifs():
    # Identical skip branches may be shared by several IFs; each IF needs its own copy, as
    # their int8 parameters differ. Share one skip branch of a float-boundary model, rewrite,
    # and compare with the rewrite of the unshared model.
    model = lcnet_tf.create_model("resnet20", gating="layer")
    randomize_gates(model, seed=3, images=_random_images(32, seed=4))
    content = to_tflite(model, quantize="int8", int8_if_boundaries=False,
                        representative_data=_random_images(16, seed=2))
    graph = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    op_name = _op_names(graph)
    ifs = [op for op in graph.subgraphs[0].operators if op_name(op) == "IF"]
    first, second = ifs[0].builtinOptions, ifs[1].builtinOptions  # Two 32x32x16 blocks.
    second.elseSubgraphIndex = first.elseSubgraphIndex
    shared = bytes(flatbuffer_utils.convert_object_to_bytearray(graph))
    rewritten, count = quantize_if_boundaries(shared)
    assert count == len(ifs)
    assert _check_graph_consistency(rewritten) == len(ifs)
    reference, _ = quantize_if_boundaries(content)
    runners = [TFLiteRunner(rewritten), TFLiteRunner(reference)]
    for image in _random_images(6, seed=11):
        outputs = [runner.run(image)[0] for runner in runners]
        np.testing.assert_array_equal(outputs[0]["logits"], outputs[1]["logits"])
        np.testing.assert_array_equal(outputs[0]["gate"], outputs[1]["gate"])


def test_int8_boundaries_keep_the_float_boundary_results(lc_model, lc_int8):
    float_boundaries = to_tflite(lc_model, quantize="int8", int8_if_boundaries=False,
                                 representative_data=_random_images(16, seed=2))
    runners = [TFLiteRunner(lc_int8), TFLiteRunner(float_boundaries)]
    logits, gates = [[], []], [[], []]
    for image in _random_images(24, seed=9):
        for index, runner in enumerate(runners):
            outputs, _ = runner.run(image)
            logits[index].append(outputs["logits"].reshape(-1))
            gates[index].append(outputs["gate"].reshape(-1))
    logits, gates = np.array(logits), np.array(gates)
    # Same maths up to int8 rounding (requantizing instead of dequantize + quantize, a finer
    # int8 pooled map, IF outputs widened to cover both branches).
    assert np.mean(gates[0] == gates[1]) >= 0.9
    assert np.corrcoef(logits[0].reshape(-1), logits[1].reshape(-1))[0, 1] > 0.95


def test_int8_decision_outputs_are_exact(lc_model, lc_int8):
    # Quantized, kept_groups left the graph as 1.506 for one kept group (and realized_flops
    # followed it); with the gates and the bookkeeping float they are exact counts.
    runner = TFLiteRunner(lc_int8)
    for image in _random_images(4, seed=5):
        outputs, _ = runner.run(image)
        gate, kept = outputs["gate"][0], outputs["kept_groups"][0]
        assert set(np.unique(gate)) <= {0.0, 1.0}
        np.testing.assert_array_equal(kept, np.round(kept))
        expected = lcnet_tf.flops.realized_flops_from_info(
            lc_model.cost_table, gate.astype("int64"), kept.astype("int64")
        )
        assert outputs["realized_flops"][0] == pytest.approx(float(expected), rel=1e-6)


def test_int8_skip_branches_have_no_relu(lc_model, lc_int8):
    # A lone int8 RELU (a skipped block's relu(shortcut)) is not delegated to XNNPACK and made
    # gated int8 models slower than static ones; block inputs are ReLU outputs, so it is dropped.
    assert summarize_tflite(lc_int8).op_counts()["RELU"] == 0
    assert lc_model.export_contract().nonnegative_block_inputs


def test_check_rejects_float_conv_in_int8_and_wrong_if_count(lc_model, lc_float):
    with pytest.raises(ExportError, match="float convolutions"):
        check_tflite(lc_float, lc_model, quantize="int8")
    other = lcnet_tf.create_model("resnet20", gating="layer")
    with pytest.raises(ExportError, match="25 IF ops, expected 7"):
        check_tflite(lc_float, other)


def test_check_rejects_flex_ops():
    class Module(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([4], tf.float32)])
        def serve(self, x):
            return {"y": tf.math.cumprod(x)}  # Cumprod exists only as a Flex op.

    module = Module()
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [module.serve.get_concrete_function()], module
    )
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS
    ]
    content = converter.convert()
    assert summarize_tflite(content).flex_ops, "the fixture must contain a Flex op"
    with pytest.raises(ExportError, match="Flex"):
        check_tflite(content, lcnet_tf.create_model("resnet20", gating="none"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"quantize": "int4"}, "`quantize`"),
        ({"quantize": "int8"}, "`representative_data`"),
        ({"quantize": "fp16", "representative_data": np.zeros((2, 32, 32, 3))},
         "`representative_data`"),
        ({"input_dtype": "float16"}, "`input_dtype`"),
        ({"int8_if_boundaries": "yes"}, "`int8_if_boundaries`"),
        ({"path": "/nonexistent_dir/m.tflite"}, "does not exist"),
    ],
)
def test_bad_arguments(lc_model, kwargs, message):
    path = kwargs.pop("path", None)
    with pytest.raises(ExportError, match=message):
        to_tflite(lc_model, path, **kwargs)


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_forced_gates_are_refused(lc_model, mode):
    lcnet_tf.set_gate_override(lc_model, mode)
    try:
        with pytest.raises(ExportError, match="set_gate_override"):
            to_tflite(lc_model)
    finally:
        lcnet_tf.set_gate_override(lc_model, None)


def test_not_a_model():
    with pytest.raises(ExportError, match="`model`"):
        to_tflite(tf.keras.Sequential([tf.keras.layers.Dense(2)]))


def test_int8_calibration_images_with_wrong_shape(lc_model):
    with pytest.raises(ExportError, match="representative_data"):
        to_tflite(lc_model, quantize="int8", representative_data=np.zeros((4, 16, 16, 3)))


def test_corrupt_and_truncated_tflite(tmp_path, lc_float):
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(lc_float[: len(lc_float) // 2])
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"not a flatbuffer at all" * 10)
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    for path in (truncated, garbage, empty):
        with pytest.raises(TFLiteModelError, match="TFLite model"):
            read_tflite_bytes(path)
        with pytest.raises(TFLiteModelError):
            TFLiteRunner(str(path))
    with pytest.raises(TFLiteModelError, match="not found"):
        read_tflite_bytes(tmp_path / "missing.tflite")
    # The intact file loads.
    whole = tmp_path / "whole.tflite"
    whole.write_bytes(lc_float)
    assert read_tflite_bytes(whole) == lc_float


def test_corrupt_and_truncated_keras(tmp_path):
    model = lcnet_tf.create_model("resnet20", gating="layer")
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = load_keras_model(path)
    images = _random_images(2)
    np.testing.assert_allclose(loaded(images), model(images), atol=1e-5)
    content = path.read_bytes()
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(content[: len(content) // 2])
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(os.urandom(1000))
    for bad in (truncated, garbage):
        with pytest.raises(ExportError, match="Corrupt or truncated .keras"):
            load_keras_model(bad)
    with pytest.raises(ExportError, match="not found"):
        load_keras_model(tmp_path / "missing.keras")
    with pytest.raises(ExportError, match="`.keras`"):
        load_keras_model(garbage.rename(tmp_path / "model.h5"))


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(CIFAR_DIR), reason=f"needs the CIFAR-10 copy {CIFAR_DIR}")
def test_parity_with_keras_on_real_test_images(lc_model, lc_float):
    from lcnet_tf.export.benchmark import load_images

    images, _ = load_images(CIFAR_DIR, "test", NUM_PARITY_IMAGES)
    assert len(images) == NUM_PARITY_IMAGES
    logits, info = lc_model(images.astype("float32"), training=False, return_gate_info=True)
    keras_top1 = np.argmax(np.asarray(logits), axis=-1)
    keras_gate = np.asarray(info["gate"])
    keras_kept = np.asarray(info["kept_groups"])
    # The randomised gates really vary: neither all-open nor all-closed.
    assert 0.2 < keras_gate.mean() < 0.8
    runner = TFLiteRunner(lc_float)
    lite_top1, lite_gate, lite_kept = [], [], []
    for image in images:
        outputs, _ = runner.run(image)
        lite_top1.append(int(np.argmax(outputs["logits"])))
        lite_gate.append(outputs["gate"][0])
        lite_kept.append(outputs["kept_groups"][0])
    np.testing.assert_array_equal(np.array(lite_gate), keras_gate)
    np.testing.assert_array_equal(np.array(lite_kept), keras_kept)
    np.testing.assert_array_equal(np.array(lite_top1), keras_top1)


def test_compare_models_in_chunks_keeps_every_image_in_order(lc_model, lc_float):
    from lcnet_tf.export.benchmark import _static_twin, compare_models, same_precision_rows

    static = to_tflite(_static_twin(lc_model))
    images = _random_images(7, seed=3)
    labels = np.arange(7) % 10
    summary, per_image = compare_models(
        {"static": static, "dynamic": lc_float}, images, labels, chunk=3, progress=False
    )
    runner = TFLiteRunner(lc_float)
    for index, image in enumerate(images):
        outputs, _ = runner.run(image)
        np.testing.assert_array_equal(per_image["dynamic"]["gate"][index], outputs["gate"][0])
        assert per_image["dynamic"]["flops"][index] == outputs["realized_flops"][0]
        assert per_image["dynamic"]["correct"][index] == (
            int(np.argmax(outputs["logits"])) == labels[index]
        )
    assert np.all(per_image["static"]["latency_ms"] > 0)
    assert summary["static"]["efficiency"] == pytest.approx(1.0)
    rows = same_precision_rows(summary)
    assert set(rows) == {"dynamic"}
    assert rows["dynamic"]["efficiency"] == pytest.approx(summary["dynamic"]["efficiency"])
    with pytest.raises(ValueError, match="chunk"):
        compare_models({"static": static}, images, labels, chunk=0, progress=False)


def test_int8_check_loads_the_model_in_a_child_process(lc_float):
    from lcnet_tf.export.tflite_export import _check_loads

    _check_loads(lc_float)  # Loads: no error.
    with pytest.raises(ExportError, match="cannot load the converted model"):
        _check_loads(lc_float[: len(lc_float) // 3])


def test_latency_decomposition_recovers_fixed_and_per_block_costs():
    from lcnet_tf.export.benchmark import latency_decomposition

    gate = np.random.default_rng(0).integers(0, 2, (200, 4)).astype("float32")
    gate[:, 2] = 1.0  # Always runs: folded into the fixed cost.
    latency = 0.05 + gate @ np.array([0.10, 0.08, 0.3, 0.02])
    fit = latency_decomposition(latency, gate)
    assert fit["fixed_ms"] == pytest.approx(0.35)
    assert fit["run_ms"][2] is None and fit["always_run_blocks"] == [2]
    np.testing.assert_allclose([fit["run_ms"][i] for i in (0, 1, 3)], [0.10, 0.08, 0.02])
    assert fit["r2"] == pytest.approx(1.0)
    assert latency_decomposition(latency, np.ones_like(gate)) is None
    collinear = gate.copy()
    collinear[:, 3] = 1.0 - collinear[:, 0]  # Block 3 runs exactly when block 0 does not.
    assert latency_decomposition(latency, collinear) is None

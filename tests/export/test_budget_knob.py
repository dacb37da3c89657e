"""Knob files (`to_tflite(..., budget_table=)`): one .tflite whose cost the app turns at run
time, with the same decisions and realized FLOPs as the Keras model calibrated to each
budget, and an image-only "serve" signature exactly as in a plain file."""

import harness
import keras
import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as tflite_schema

import lcnet_tf
from lcnet_tf.budget_table import BudgetTableError
from lcnet_tf.export import ExportError, read_budget_table, to_tflite
from lcnet_tf.export.benchmark import TFLiteRunner
from lcnet_tf.export.gate_patterns import randomize_gates
from lcnet_tf.export.tflite_export import read_signature
from lcnet_tf.training import budget_table


def inner_budgets(model, images, count=3):
    """`count` budgets strictly inside the range the model reaches on `images`."""
    if isinstance(model, lcnet_tf.models.Cascade):
        from lcnet_tf.models.cascade import stage_predictions

        flops = stage_predictions(model, images).flops
        low, high = np.mean(flops[0]), sum(np.mean(f) for f in flops)
    else:
        low, high = model.flops_range()
    grid = np.linspace(low, high, count + 2)[1:-1] / model.reference_flops
    return [round(float(budget), 4) for budget in grid]


@pytest.fixture(scope="module")
def lc_net():
    keras.utils.set_random_seed(3)
    model = lcnet_tf.create_model("resnet8", gating="lc")
    images = harness.sample_images(model, batch=24, seed=4)
    harness.randomize_batch_norm(model, seed=3)
    randomize_gates(model, seed=3, block_keep_prob=0.5, images=images)
    table = budget_table(model, images, inner_budgets(model, images))
    return model, images, table


@pytest.fixture(scope="module")
def lc_knob(lc_net, tmp_path_factory):
    model, _, table = lc_net
    path = tmp_path_factory.mktemp("knob") / "lc_knob.tflite"
    to_tflite(model, path, budget_table=table)
    return path


@pytest.fixture(scope="module")
def gated_cascade():
    cascade, images = harness.varied_cascade(("none", "lc"), seed=2)
    return cascade, images, budget_table(cascade, images, inner_budgets(cascade, images))


def keras_decisions(model, images, decisions):
    saved = model.decision_values()
    model.set_decision_values(decisions)
    try:
        logits, info = model(images, return_gate_info=True)
    finally:
        model.set_decision_values(saved)
    return harness.to_np(logits), {key: harness.to_np(info[key])
                                   for key in ("gate", "kept_groups", "realized_flops")}


def assert_knob_matches_keras(model, images, table, content):
    realized = []
    for row in table.rows:
        logits, info = keras_decisions(model, images, row.decisions)
        runner = TFLiteRunner(content, budget=row.budget)
        assert runner.knob.exact and runner.knob.decisions == row.decisions
        for index, image in enumerate(images):
            outputs, _ = runner.run(image)
            np.testing.assert_array_equal(outputs["gate"][0], info["gate"][index])
            np.testing.assert_array_equal(outputs["kept_groups"][0], info["kept_groups"][index])
            assert outputs["realized_flops"][0] == pytest.approx(info["realized_flops"][index])
            np.testing.assert_allclose(outputs["logits"][0], logits[index], atol=5e-5)
        # The table's FLOPs are those these decisions realized on the same images.
        assert info["realized_flops"].mean() == pytest.approx(row.mean_flops, rel=1e-5)
        realized.append(info["realized_flops"].mean())
    assert realized == sorted(realized) and realized[0] < realized[-1]  # the knob moves
    # The image-only signature runs the decisions the model had: the table's default row.
    _, default = keras_decisions(model, images, table.default.decisions)
    serve = TFLiteRunner(content)
    gates = np.stack([serve.run(image)[0]["gate"][0] for image in images])
    np.testing.assert_array_equal(gates, default["gate"])


def test_an_lc_net_knob_file_decides_as_keras_at_every_budget(lc_net, lc_knob):
    model, images, table = lc_net
    assert_knob_matches_keras(model, images, table, lc_knob.read_bytes())


def test_a_gated_stage_cascade_knob_file_decides_as_keras_at_every_budget(gated_cascade):
    cascade, images, table = gated_cascade
    assert table.decision_names == ("threshold_0", f"{cascade.stages[1].name}.offset")
    assert_knob_matches_keras(cascade, images, table, to_tflite(cascade, budget_table=table))


def test_serve_stays_a_plain_files_signature_and_the_table_reads_back(lc_net, lc_knob):
    model, _, table = lc_net
    plain, knob = read_signature_of(to_tflite(model), lc_knob), read_signature(lc_knob)
    assert knob["signature_keys"] == ["serve", "serve_budget"]
    assert knob["inputs"] == plain["inputs"] == {
        "image": {"dtype": "float32", "shape": [1, 32, 32, 3]}}
    assert knob["outputs"] == plain["outputs"]
    graph = tflite_schema.Model.GetRootAs(lc_knob.read_bytes(), 0)
    serve = next(graph.SignatureDefs(i) for i in range(graph.SignatureDefsLength())
                 if graph.SignatureDefs(i).SignatureKey() == b"serve")
    assert serve.SubgraphIndex() == 0  # what signature-less callers run
    assert read_budget_table(lc_knob) == table
    # One network: the second signature shares every weight (a few KB more, not 2x).
    assert lc_knob.stat().st_size < 1.1 * len(to_tflite(model))


def read_signature_of(content, like):
    path = like.with_name("plain.tflite")
    path.write_bytes(content)
    return read_signature(path)


def test_a_plain_file_is_not_a_knob_file(lc_net):
    model, images, _ = lc_net
    with pytest.raises(BudgetTableError, match="is not a knob file"):
        read_budget_table(to_tflite(model))
    with pytest.raises(BudgetTableError, match="is not a knob file"):
        TFLiteRunner(to_tflite(model), budget=0.5)


def test_bad_tables_are_refused_before_converting(lc_net, gated_cascade):
    model, images, table = lc_net
    with pytest.raises(ExportError, match="no run-time decision"):
        to_tflite(lcnet_tf.create_model("resnet8", gating="none"), budget_table=table)
    with pytest.raises(ExportError, match=r"made for the decisions \['threshold_0'"):
        to_tflite(model, budget_table=gated_cascade[2])
    with pytest.raises(ExportError, match="expected a lcnet_tf.budget_table.BudgetTable"):
        to_tflite(model, budget_table={"rows": []})
    saved = model.decision_values()
    model.set_decision_values([saved[0] + 1.0])
    try:
        with pytest.raises(ExportError, match="default row holds the decisions"):
            to_tflite(model, budget_table=table)
    finally:
        model.set_decision_values(saved)
    with pytest.raises(ValueError, match="at least 2 distinct budgets"):
        budget_table(model, images, [table.rows[0].budget])
    with pytest.raises(ValueError, match=r"`budgets`: expected numbers in .*Received: \[0\.01\]"):
        budget_table(model, images, [0.01, table.rows[0].budget])


def decision_consumers(content):
    """`(op name, output tensor types)` of the ops reading `decisions` in serve_budget."""
    from lcnet_tf.export.tflite_inspect import BUILTIN_OP_NAMES

    graph = tflite_schema.Model.GetRootAs(content, 0)
    knob = next(graph.SignatureDefs(i) for i in range(graph.SignatureDefsLength())
                if graph.SignatureDefs(i).SignatureKey() == b"serve_budget")
    subgraph = graph.Subgraphs(knob.SubgraphIndex())
    index = next(knob.Inputs(i).TensorIndex() for i in range(knob.InputsLength())
                 if knob.Inputs(i).Name() == b"decisions")
    found = []
    for op in (subgraph.Operators(i) for i in range(subgraph.OperatorsLength())):
        if index in op.InputsAsNumpy():
            code = graph.OperatorCodes(op.OpcodeIndex())
            found.append((BUILTIN_OP_NAMES[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())],
                          [subgraph.Tensors(int(o)).Type() for o in op.OutputsAsNumpy()]))
    return found


def test_an_int8_knob_file_turns_its_cost_with_the_budget(lc_net):
    model, images, table = lc_net
    content = to_tflite(model, quantize="int8", representative_data=images, budget_table=table)
    assert read_budget_table(content) == table
    # The decision values stay float32 (quantized, every offset and threshold would be
    # rounded to one shared int8 grid and decide otherwise than Keras near a keep logit).
    consumers = decision_consumers(content)
    assert consumers and all(name != "QUANTIZE" and set(types) == {
        tflite_schema.TensorType.FLOAT32} for name, types in consumers), consumers
    low, high = (TFLiteRunner(content, budget=row.budget) for row in (table.rows[0],
                                                                      table.rows[-1]))
    flops = [np.mean([runner.run(image)[0]["realized_flops"][0] for image in images])
             for runner in (low, high)]
    assert flops[0] < flops[1]

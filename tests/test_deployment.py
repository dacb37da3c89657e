"""The deployment graph (`lcnet_tf.deployment`): chosen by argument, and its export contract."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

import lcnet_tf
from lcnet_tf.deployment import export_contract
from lcnet_tf.export import ExportError, to_tflite
from lcnet_tf.export.tflite_export import _float_gate_nodes

SAMPLE_NAMES = {  # tensor name -> kept float under int8
    "resnet20_lc_1/stage1_block0_1/gate_pool_1/Mean": True,
    "resnet20_lc_1/stage1_block0_1/block_gate/hidden_1/MatMul": True,
    "resnet20_lc_1/stage3_block1_1/cond/cond_1/channel_gate/Sigmoid": True,
    "resnet20_lc_1/Sum": True,
    "resnet20_lc_1/mul_3": True,
    "resnet20_lc_1/add_2;resnet20_lc_1/Const_2;resnet20_lc_1/add_1": True,
    "resnet20_lc_1/stage1_block0_1/conv1_1/convolution": False,
    "resnet20_lc_1/add;resnet20_lc_1/convolution;resnet20_lc_1/add/y": False,
    "resnet20_lc_1/stage1_block0_1/cond/add": False,
}


def test_contract_counts_come_from_the_model():
    model = lcnet_tf.create_model("resnet20", gating="lc", channel_gate_stages=(0, 1, 2),
                                  channel_groups=2)
    contract = model.export_contract()
    gated = sum(bool(b.block_gate) for b in model.blocks)
    assert contract.if_ops == gated + 2 * len(model.blocks) == 7 + 18
    assert contract.gate_dense_layers == 2 * gated + 2 * len(model.blocks)
    assert contract.float_scopes == ("block_gate", "channel_gate", "gate_pool")
    assert contract.nonnegative_block_inputs
    static = export_contract(lcnet_tf.create_model("resnet20", gating="none"))
    assert (static.if_ops, static.gate_dense_layers, static.float_scopes) == (0, 0, ())


def test_float_nodes_are_the_gates_and_the_bookkeeping():
    contract = lcnet_tf.create_model("resnet8", gating="lc").export_contract()
    for name, keep_float in SAMPLE_NAMES.items():
        assert contract.is_float_node(name) == keep_float, name


@pytest.mark.slow
def test_a_gate_scope_missing_from_the_graph_is_an_error(tmp_path):
    model = lcnet_tf.create_model("resnet8", gating="layer")
    content = to_tflite(model)
    contract = model.export_contract()
    assert _float_gate_nodes(content, contract)  # the gates' tensors are found
    renamed = dataclasses.replace(contract, float_scopes=("block_gate_renamed", "gate_pool"))
    with pytest.raises(ExportError, match="block_gate_renamed"):
        _float_gate_nodes(content, renamed)


def _has_cond(fn, spec):
    graph = tf.function(fn, input_signature=[spec]).get_concrete_function().graph
    return bool({op.type for op in graph.get_operations()} & {"If", "StatelessIf"})


def test_the_deployment_graph_is_chosen_by_argument_not_by_batch_size():
    model = lcnet_tf.create_model("resnet8", gating="lc")
    spec = tf.TensorSpec((1, 32, 32, 3), tf.float32)
    assert not _has_cond(lambda x: model(x, training=False), spec)  # one image, batched path
    assert _has_cond(lambda x: model(x, training=False, deployment=True), spec)
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype("float32")
    with pytest.raises(ValueError, match=r"`deployment`.*one image.*shape=\(2, 32, 32, 3\)"):
        model(images, deployment=True)
    with pytest.raises(ValueError, match="`deployment`.*training=False"):
        model(images[:1], training=True, deployment=True)


def test_the_exporter_traces_the_deployment_graph(tmp_path):
    from lcnet_tf.export import SIGNATURE_KEY, export_saved_model

    model = lcnet_tf.create_model("resnet8", gating="layer")
    export_saved_model(model, tmp_path / "saved")
    serve = tf.saved_model.load(str(tmp_path / "saved")).signatures[SIGNATURE_KEY]
    graph_ops = {op.type for op in serve.graph.get_operations()}
    for function in serve.graph.as_graph_def().library.function:
        graph_ops |= {node.op for node in function.node_def}
    assert graph_ops & {"If", "StatelessIf"}, sorted(graph_ops)

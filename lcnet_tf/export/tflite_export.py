"""Keras `GatedResNet` -> TFLite with IF branches that really skip work.

The exported graph runs one image at a time (static batch 1): every gated block
is an IF op whose taken branch alone runs, and every channel group's
convolutions (static weight slices) sit behind their own IF. See
docs/tflite_signature.md for the signature an app relies on.
"""

import copy
import os
import subprocess
import sys
import tempfile
import zipfile

import keras
import numpy as np
import tensorflow as tf
from ai_edge_litert import schema_py_generated as tflite_schema
from ai_edge_litert.tools import flatbuffer_utils

import lcnet_tf.compat as compat
import lcnet_tf.models  # noqa: F401  (registers the lcnet_tf layers and models with Keras)
from lcnet_tf.budget_table import (
    DECISIONS_INPUT,
    KNOB_SIGNATURE_KEY,
    METADATA_NAME,
    BudgetTable,
    BudgetTableError,
)
from lcnet_tf.export import int8_boundaries
from lcnet_tf.export.tflite_inspect import (
    BUILTIN_OP_NAMES,
    TFLiteModelError,
    read_tflite_bytes,
    summarize_tflite,
)
from lcnet_tf.gate_control import gate_layers
from lcnet_tf.models.cascade import Cascade

QUANTIZATIONS = ("none", "fp16", "dynamic", "int8")
INPUT_DTYPES = ("float32", "uint8")
SIGNATURE_KEY = "serve"
IMAGE_INPUT = "image"
FORCE_INPUT = "force_gates_open"
OUTPUT_NAMES = ("logits", "gate", "kept_groups", "realized_flops")


class ExportError(ValueError):
    """A model that cannot be loaded or exported, or an exported graph that fails its checks."""


def load_keras_model(path):
    """Loads a `.keras` model saved by lcnet-tf, with a clear error for a bad file.

    Args:
        path: path of a `.keras` archive.

    Returns:
        The loaded `keras.Model`.

    Raises:
        ExportError: the file is missing, not a `.keras` zip archive (corrupt or
            truncated), or cannot be deserialized.

    Example:
        >>> model = load_keras_model("runs/r20/model.keras")
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ExportError(f"Keras model not found: {path!r}")
    if not path.endswith(".keras"):
        raise ExportError(f"Invalid value for `path`: expected a `.keras` file. Received: {path!r}")
    if not zipfile.is_zipfile(path):
        raise ExportError(
            f"Corrupt or truncated .keras file: {path!r} ({os.path.getsize(path)} bytes) is not "
            "a zip archive. Save it again with `model.save(...)`."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            bad_member = archive.testzip()
        if bad_member is not None:
            raise ExportError(
                f"Corrupt .keras file: {path!r}, member {bad_member!r} fails its CRC check."
            )
        return keras.saving.load_model(path, compile=False)
    except ExportError:
        raise
    except Exception as error:
        raise ExportError(
            f"Cannot load the Keras model {path!r}: {type(error).__name__}: {error}"
        ) from error


def expected_if_ops(model):
    """Number of IF ops the batch-1 graph of `model` must contain
    (`ExportContract.if_ops`: one per block with a block gate, plus one per channel group
    of every block with a channel gate)."""
    return model.export_contract().if_ops


def _exported_networks(model):
    """The GatedResNets inside `model`: itself, or a `Cascade`'s stages."""
    return list(model.stages) if isinstance(model, Cascade) else [model]


def _check_model(model):
    networks = _exported_networks(model)
    if not all(isinstance(network, keras.Model) and hasattr(network, "blocks")
               and hasattr(network, "cost_table") for network in networks):
        raise ExportError(
            "Invalid value for `model`: expected an lcnet_tf GatedResNet (e.g. from "
            "`lcnet_tf.create_model`) or a `lcnet_tf.models.Cascade` of them. "
            f"Received: {type(model).__name__}"
        )
    forced = sorted({gate.override for network in networks for gate in gate_layers(network)
                     if gate.override is not None})
    if forced:
        raise ExportError(
            f"Invalid value for `model`: its gates are forced {forced[0]!r} by "
            "lcnet_tf.set_gate_override, which would fold every IF predicate to a constant. "
            "Call lcnet_tf.set_gate_override(model, None) before exporting; to force gates "
            "in the exported model, use its `force_gates_open` input."
        )


def _serving_fn(model, knob=False):
    def run(image, force_gates_open, decisions=None):
        force = tf.reshape(force_gates_open, [-1])[0] > 0.5
        logits, info = model(
            image, training=False, return_gate_info=True, force_gates_open=force,
            deployment=True, decisions=decisions,
        )
        return {
            "logits": logits,
            "gate": info["gate"],
            "kept_groups": info["kept_groups"],
            "realized_flops": info["realized_flops"],
        }

    if knob:
        def serve_with_decisions(image, force_gates_open, decisions):
            return run(image, force_gates_open, decisions)

        return serve_with_decisions

    def serve(image, force_gates_open):
        return run(image, force_gates_open)

    return serve


def export_saved_model(model, directory, *, input_dtype="float32", knob=False):
    """Writes the batch-1 serving graph of `model` as a SavedModel (signature "serve").

    Inputs: `image` (1, H, W, 3) `input_dtype` pixels in 0-255 and
    `force_gates_open` (1,) float32 (> 0.5 forces every gate open); with `knob=True` also
    `decisions` (D,) float32, the model's decision values (`model.decision_names()`).
    """
    _check_model(model)
    size = model.image_size
    archive = keras.export.ExportArchive()
    archive.track(model)
    signature = [
        tf.TensorSpec([1, size, size, 3], input_dtype, name=IMAGE_INPUT),
        tf.TensorSpec([1], tf.float32, name=FORCE_INPUT),
    ]
    if knob:
        signature.append(tf.TensorSpec([len(model.decision_names())], tf.float32,
                                       name=DECISIONS_INPUT))
    archive.add_endpoint(SIGNATURE_KEY, _serving_fn(model, knob), input_signature=signature)
    archive.write_out(os.fspath(directory), verbose=False)


# Calibration inputs (half of them with gates forced open) that also set the int8 ranges of
# the gates' pooled maps when feature maps cross IF boundaries as int8.
POOLED_RANGE_IMAGES = 256


def _representative_dataset(representative_data, image_size, input_dtype, decisions=None):
    """Yields signature inputs, forcing the gates open on every other image.

    With gates forced open half of the time every IF branch is calibrated
    (a branch never run in calibration would stay float32), while the other
    half calibrates the activation ranges of images as deployed. A knob file's
    `decisions` input cycles through `decisions` (the table's rows), so every
    op it feeds is calibrated over the whole knob range.
    """

    def images():
        for item in representative_data:
            if isinstance(item, tuple | list):  # (images, labels) batches from a tf.data pipeline.
                item = item[0]
            array = np.asarray(item)
            if array.ndim == 3:
                array = array[None]
            if array.ndim != 4 or array.shape[1:] != (image_size, image_size, 3):
                raise ExportError(
                    "Invalid value for `representative_data`: expected images of shape "
                    f"(batch, {image_size}, {image_size}, 3) or ({image_size}, {image_size}, 3). "
                    f"Received an item of shape {array.shape}"
                )
            yield from array

    def generator():
        count = 0
        for count, image in enumerate(images(), start=1):  # noqa: B007
            force = np.array([float(count % 2)], np.float32)
            feed = {
                IMAGE_INPUT: image[None].astype(input_dtype),
                FORCE_INPUT: force,
            }
            if decisions is not None:
                feed[DECISIONS_INPUT] = np.asarray(decisions[(count // 2) % len(decisions)],
                                                   np.float32)
            yield feed
        if count < 2:
            raise ExportError(
                "Invalid value for `representative_data`: int8 calibration needs at least 2 "
                f"images (a few hundred recommended). Received: {count}"
            )

    return generator


def _float_gate_nodes(calibrated, contract):
    """Output tensor names (all subgraphs) of the gate networks and decision bookkeeping,
    as the model's `ExportContract` names them.

    Raises:
        ExportError: a float scope of the contract names no tensor of the graph (its ops
            would be quantized).
    """
    graph = tflite_schema.Model.GetRootAs(calibrated, 0)
    names, seen = set(), set()
    # The decision outputs (gate, kept_groups, realized_flops) are computed last under the
    # signature's own tensor names; logits stays int8 (the classifier is backbone).
    main = graph.Subgraphs(0)
    for sig_index in range(graph.SignatureDefsLength()):
        signature = graph.SignatureDefs(sig_index)
        for out_index in range(signature.OutputsLength()):
            output = signature.Outputs(out_index)
            if output.Name().decode() != "logits":
                names.add(main.Tensors(output.TensorIndex()).Name().decode("utf-8", "replace"))
        for in_index in range(signature.InputsLength()):
            entry = signature.Inputs(in_index)
            if entry.Name().decode() == DECISIONS_INPUT:
                names |= _decision_path(graph, main, entry.TensorIndex())
    for sub_index in range(graph.SubgraphsLength()):
        subgraph = graph.Subgraphs(sub_index)
        for index in range(subgraph.TensorsLength()):
            name = subgraph.Tensors(index).Name().decode("utf-8", "replace")
            if contract.is_float_node(name):
                names.add(name)
                seen.update(scope for scope in contract.float_scopes if scope in name)
    missing = sorted(set(contract.float_scopes) - seen)
    if missing:
        raise ExportError(
            f"The converted graph has no tensor in the gate scopes {missing} of the model's "
            "export contract: those gate ops would be quantized to int8 (a renamed layer, or "
            "a gate the batch-1 graph no longer computes)."
        )
    return sorted(names)


# Ops that only move a knob file's decision values around (the slices each gate and exit
# reads): kept float, so that int8 does not round every decision to one shared int8 grid.
_DECISION_PATH_OPS = ("RESHAPE", "STRIDED_SLICE", "SLICE", "GATHER", "CAST", "SQUEEZE",
                      "EXPAND_DIMS", "UNPACK", "SPLIT", "SPLIT_V", "PACK", "CONCATENATION")


def _decision_path(graph, subgraph, tensor_index):
    """Names of the tensors computed from the `decisions` input by `_DECISION_PATH_OPS`."""
    def op_name(op):
        code = graph.OperatorCodes(op.OpcodeIndex())
        return BUILTIN_OP_NAMES.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()))

    graph_ops = [subgraph.Operators(i) for i in range(subgraph.OperatorsLength())]
    reached, names, changed = {int(tensor_index)}, set(), True
    while changed:
        changed = False
        for op in graph_ops:
            if op_name(op) not in _DECISION_PATH_OPS or not any(
                    int(t) in reached for t in op.InputsAsNumpy()):
                continue
            for out in op.OutputsAsNumpy():
                if int(out) not in reached:
                    reached.add(int(out))
                    names.add(subgraph.Tensors(int(out)).Name().decode("utf-8", "replace"))
                    changed = True
    return names


def gate_dense_layer_count(model):
    """Dense layers of the gate networks of `model` (float FULLY_CONNECTED ops in int8;
    `ExportContract.gate_dense_layers`)."""
    return model.export_contract().gate_dense_layers


def remove_force_input(content):
    """Makes `force_gates_open` a constant 0 and drops it from the signature and the inputs.

    The converter needs the input (int8 calibration runs half the images with every gate
    forced open, so that every branch is calibrated); a deployed model must not have it: a
    caller of the plain Interpreter API who sets only the image leaves it holding whatever
    memory it got, and the gates were forced open or not by chance (seen: the same model
    0.9x or 10.9x faster than all-open). As a constant the IF predicates stay data-dependent
    (`keep or False`), so no branch is folded away.

    Returns:
        The model bytes with `image` as the only input of signature "serve".
    """
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    signature = next(s for s in model.signatureDefs
                     if _text(s.signatureKey) == SIGNATURE_KEY)
    entries = [entry for entry in signature.inputs if _text(entry.name) == FORCE_INPUT]
    if not entries:
        return bytes(content)
    index = int(entries[0].tensorIndex)
    subgraph = model.subgraphs[signature.subgraphIndex]
    buffer = tflite_schema.BufferT()
    buffer.data = np.frombuffer(np.zeros(1, np.float32).tobytes(), dtype=np.uint8)
    model.buffers.append(buffer)
    subgraph.tensors[index].buffer = len(model.buffers) - 1
    subgraph.inputs = np.array([t for t in subgraph.inputs if t != index], dtype=np.int32)
    signature.inputs = [entry for entry in signature.inputs if entry.tensorIndex != index]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def to_tflite(model, path=None, *, quantize="none", representative_data=None,
              input_dtype="float32", check=True, int8_if_boundaries=None, force_input=False,
              budget_table=None):
    """Converts a GatedResNet (or a `Cascade` of them) to a builtins-only TFLite model that
    skips gated work.

    The graph runs one image (batch 1). Gated blocks and channel groups become
    IF ops; Flex (select TF) ops are not allowed, so a graph that needs one
    fails here instead of shipping. After conversion the flatbuffer is checked:
    the expected number of IF ops (`expected_if_ops`), no custom/Flex op and,
    for int8, no float convolution in any subgraph.

    Signature "serve" (docs/tflite_signature.md):
        input `image` (1, H, W, 3) float32 (or uint8) pixels 0-255 (with
        `force_input=True` also `force_gates_open` (1,) float32, > 0.5 runs
        every block and group: for benchmarks and debugging);
        outputs `logits` (1, classes), `gate` (1, blocks), `kept_groups`
        (1, blocks), `realized_flops` (1,), all float32.

    Args:
        model: a `GatedResNet` (any gating, including "none"), or a `Cascade` (each
            escalation is one more IF; `gate` is then (1, stages), 1 where a stage ran, and
            `force_gates_open` runs every stage).
        path: where to write the `.tflite`; None to only return the bytes.
        quantize: "none" (float32), "fp16" (float16 weights), "dynamic"
            (int8 weights, float activations) or "int8" (full integer ops with
            float32 inputs and outputs; needs `representative_data`).
        representative_data: for "int8": an iterable of images or image
            batches (uint8 or float 0-255, NHWC), or of `(images, labels)`
            batches. Use real training images; about 200-500 are enough.
        input_dtype: dtype of the `image` input, "float32" or "uint8".
        check: run the graph checks after conversion.
        int8_if_boundaries: for "int8": feature maps cross IF boundaries as
            int8 and the gates pool int8 maps (`lcnet_tf.export.int8_boundaries`);
            False keeps the converter's float32 boundaries (slower; for
            comparison). None (default): True for a GatedResNet, False for a
            `Cascade` (its escalation IF carries the float input image, which the
            rewrite does not handle; True is refused).
        force_input: keep the `force_gates_open` input (benchmarks of all-open
            latency, debugging). False (default): the image is the only input
            and the gates always decide (`remove_force_input`).
        budget_table: a `lcnet_tf.budget_table.BudgetTable` of this model (from
            `lcnet_tf.training.budget_table`): writes a *knob file*, whose cost the app
            turns at run time: "serve" stays as above (the model's decisions when
            exported), a second signature "serve_budget" also takes `decisions` (D,)
            float32, and the table rides along as TFLite metadata
            (docs/tflite_signature.md, "Budget knob files"; `read_budget_table`).

    Returns:
        The TFLite model bytes.

    Raises:
        ExportError: bad arguments, a conversion failure (e.g. an op that
            needs Flex) or a failed graph check.

    Example:
        >>> model = lcnet_tf.create_model("resnet20", gating="lc")
        >>> to_tflite(model, "r20.tflite", quantize="int8", representative_data=images)
    """
    _check_model(model)
    if quantize not in QUANTIZATIONS:
        raise ExportError(
            f"Invalid value for `quantize`: expected one of {QUANTIZATIONS}. "
            f"Received: quantize={quantize!r}"
        )
    if input_dtype not in INPUT_DTYPES:
        raise ExportError(
            f"Invalid value for `input_dtype`: expected one of {INPUT_DTYPES}. "
            f"Received: input_dtype={input_dtype!r}"
        )
    if int8_if_boundaries is not None and not isinstance(int8_if_boundaries, bool):
        raise ExportError(
            "Invalid value for `int8_if_boundaries`: expected True, False or None. "
            f"Received: int8_if_boundaries={int8_if_boundaries!r}"
        )
    is_cascade = isinstance(model, Cascade)
    if is_cascade and int8_if_boundaries:
        raise ExportError(
            "Invalid value for `int8_if_boundaries`: a Cascade's escalation IF carries the "
            "float input image, which the int8 boundary rewrite does not handle; use None or "
            "False. Received: int8_if_boundaries=True"
        )
    if int8_if_boundaries is None:
        int8_if_boundaries = not is_cascade
    if quantize == "int8" and representative_data is None:
        raise ExportError(
            "Invalid value for `representative_data`: quantize='int8' needs calibration images "
            "(real training images, e.g. make_dataset(..., 'train', training=False, take=256)). "
            "Received: representative_data=None"
        )
    if quantize == "int8" and isinstance(representative_data, np.ndarray) and (
        representative_data.ndim not in (3, 4)
        or representative_data.shape[-3:] != (model.image_size, model.image_size, 3)
    ):
        raise ExportError(
            "Invalid value for `representative_data`: expected images of shape "
            f"(batch, {model.image_size}, {model.image_size}, 3). "
            f"Received: shape {representative_data.shape}"
        )
    if quantize != "int8" and representative_data is not None:
        raise ExportError(
            "Invalid value for `representative_data`: only used with quantize='int8'. "
            f"Received it with quantize={quantize!r}"
        )
    if path is not None:
        path = os.fspath(path)
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise ExportError(f"Invalid value for `path`: directory {parent!r} does not exist.")
    knob = budget_table is not None
    if knob:
        _check_budget_table(model, budget_table)

    with tempfile.TemporaryDirectory(prefix="lcnet_export_") as directory:
        export_saved_model(model, directory, input_dtype=input_dtype, knob=knob)
        converter = tf.lite.TFLiteConverter.from_saved_model(
            directory, signature_keys=[SIGNATURE_KEY]
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        converter.allow_custom_ops = False
        if quantize == "fp16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        elif quantize == "dynamic":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        elif quantize == "int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            calibration = _representative_dataset(
                representative_data, model.image_size, input_dtype,
                [row.decisions for row in (*budget_table.rows, budget_table.default)]
                if knob else None,
            )

            def recording_calibration():  # Keeps the first inputs to calibrate pooled ranges.
                for feed in calibration():
                    if len(recorded) < POOLED_RANGE_IMAGES:
                        recorded.append(feed)
                    yield feed

            recorded = []
            converter.representative_dataset = recording_calibration
            # Calibrate, then quantize with the gate networks denylisted (kept float32).
            compat.set_calibrate_only(converter)
        try:
            content = converter.convert()
            if quantize == "int8":
                content = compat.mlir_quantize(
                    content, _float_gate_nodes(content, model.export_contract())
                )
                if int8_if_boundaries:
                    ranges = int8_boundaries.calibrate_pooled_ranges(
                        content, recorded, SIGNATURE_KEY
                    )
                    content, _ = int8_boundaries.quantize_if_boundaries(content, ranges)
                    left = int8_boundaries.float_if_operands(content)
                    if left:
                        raise ExportError(
                            f"int8 IF boundaries: {len(left)} float32 feature maps still cross "
                            f"IF ops after the rewrite (subgraph, tensor): {left[:8]}. Pass "
                            "int8_if_boundaries=False to keep the converter's float boundaries."
                        )
        except ExportError:
            raise
        except Exception as error:
            raise ExportError(
                f"TFLite conversion of {model.name!r} (quantize={quantize!r}) failed with "
                f"builtin ops only: {type(error).__name__}: {error}"
            ) from error

    if not force_input:
        content = remove_force_input(content)
    if check:
        check_tflite(content, model, quantize=quantize)
    if knob:
        content = add_budget_knob(content, budget_table)
        if check:
            _check_knob(content, budget_table, quantize)
    if path is not None:
        with open(path, "wb") as file:
            file.write(content)
    return content


def _check_budget_table(model, table):
    if not isinstance(table, BudgetTable):
        raise ExportError(
            "Invalid value for `budget_table`: expected a lcnet_tf.budget_table.BudgetTable "
            "(from lcnet_tf.training.budget_table(model, images, budgets)). Received: "
            f"{type(table).__name__}")
    names = tuple(model.decision_names())
    if not names:
        raise ExportError(
            "Invalid value for `budget_table`: this model has no run-time decision (no block "
            "gate and not a cascade): nothing for a knob to move.")
    if tuple(table.decision_names) != names:
        raise ExportError(
            "Invalid value for `budget_table`: it was made for the decisions "
            f"{list(table.decision_names)}, this model has {list(names)}. Make the table "
            "from this model (lcnet_tf.training.budget_table).")
    try:
        current = model.decision_values()
    except ValueError as error:
        raise ExportError(f"Invalid value for `model`: {error}") from error
    if not np.allclose(current, table.default.decisions, rtol=0, atol=1e-6):
        raise ExportError(
            "Invalid value for `budget_table`: its default row holds the decisions "
            f"{list(table.default.decisions)}, the model now has {current}: the file's "
            "image-only signature would not match its table. Make the table from the model "
            "as it is exported.")


def add_budget_knob(content, table):
    """Turns a converted file whose signature "serve" takes `decisions` into a knob file.

    The main subgraph is copied into signature "serve_budget" (inputs `image`,
    `decisions`); in "serve" (kept as subgraph 0, what signature-less callers run)
    `decisions` becomes a constant holding the table's default decisions and leaves the
    inputs, so "serve" is exactly a plain file's signature. Both entry subgraphs share
    every weight buffer and every IF branch subgraph. The table is written as the
    metadata entry "lcnet_budget_table".
    """
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    signature = next(s for s in model.signatureDefs if _text(s.signatureKey) == SIGNATURE_KEY)
    entries = [entry for entry in signature.inputs if _text(entry.name) == DECISIONS_INPUT]
    if not entries:
        raise ExportError(f"The converted graph has no {DECISIONS_INPUT!r} input to make a "
                          "knob file from.")
    main = model.subgraphs[signature.subgraphIndex]
    index = int(entries[0].tensorIndex)
    if list(main.tensors[index].shape) != [len(table.decision_names)]:
        raise ExportError(
            f"Invalid value for `table`: its {len(table.decision_names)} decisions "
            f"{list(table.decision_names)} do not fit the graph's {DECISIONS_INPUT!r} input of "
            f"shape {list(main.tensors[index].shape)}.")
    if main.tensors[index].type != tflite_schema.TensorType.FLOAT32:
        raise ExportError(f"The {DECISIONS_INPUT!r} input was converted to tensor type "
                          f"{main.tensors[index].type}, expected float32.")
    knob = copy.deepcopy(main)
    model.subgraphs.append(knob)
    knob_signature = copy.deepcopy(signature)
    knob_signature.signatureKey = KNOB_SIGNATURE_KEY
    knob_signature.subgraphIndex = len(model.subgraphs) - 1
    model.signatureDefs.append(knob_signature)

    model.buffers.append(_buffer(np.asarray(table.default.decisions, np.float32).tobytes()))
    main.tensors[index].buffer = len(model.buffers) - 1
    main.inputs = np.array([t for t in main.inputs if t != index], dtype=np.int32)
    signature.inputs = [entry for entry in signature.inputs if entry.tensorIndex != index]

    model.buffers.append(_buffer(table.to_bytes()))
    metadata = tflite_schema.MetadataT()
    metadata.name = METADATA_NAME
    metadata.buffer = len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), metadata]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _buffer(data):
    buffer = tflite_schema.BufferT()
    buffer.data = np.frombuffer(data, dtype=np.uint8)
    return buffer


def read_budget_table(source):
    """The budget table of a knob file (`to_tflite(..., budget_table=...)`).

    Args:
        source: a `.tflite` path or its bytes.

    Returns:
        The `lcnet_tf.budget_table.BudgetTable` (`lookup(budget)` gives the decisions for
        the file's "serve_budget" signature).

    Raises:
        TFLiteModelError: unreadable file.
        BudgetTableError: the file has no budget table (not a knob file), or a malformed one.

    Example:
        >>> table = read_budget_table("knob.tflite")
        >>> runner = Interpreter("knob.tflite").get_signature_runner("serve_budget")
        >>> runner(image=image, decisions=np.float32(table.lookup(0.4).decisions))
    """
    content = source if isinstance(source, bytes | bytearray) else read_tflite_bytes(source)
    where = "<bytes>" if isinstance(source, bytes | bytearray) else repr(os.fspath(source))
    try:
        graph = tflite_schema.Model.GetRootAs(content, 0)
        for index in range(graph.MetadataLength()):
            metadata = graph.Metadata(index)
            if (metadata.Name() or b"").decode("utf-8", "replace") == METADATA_NAME:
                buffer = graph.Buffers(metadata.Buffer())
                data = buffer.DataAsNumpy()
                if isinstance(data, np.ndarray) and data.size:
                    raw = data.tobytes()
                else:  # Large models keep buffers after the flatbuffer: offset and size.
                    raw = bytes(content[buffer.Offset():buffer.Offset() + buffer.Size()])
                return BudgetTable.from_bytes(raw)
    except BudgetTableError:
        raise
    except Exception as error:
        raise TFLiteModelError(f"Cannot read the metadata of {where}: {error}") from error
    raise BudgetTableError(
        f"{where} is not a knob file: it has no {METADATA_NAME!r} metadata entry. Export it "
        "with lcnet_tf.export.to_tflite(model, path, budget_table=table).")


def _check_knob(content, table, quantize):
    """A knob file's signatures: "serve" image-only, "serve_budget" with `decisions`."""
    from ai_edge_litert.interpreter import Interpreter

    if quantize == "int8":
        _check_loads(content)
    signatures = Interpreter(model_content=content, num_threads=1).get_signature_list()
    inputs = {key: sorted(value["inputs"]) for key, value in signatures.items()}
    expected = {SIGNATURE_KEY: [IMAGE_INPUT], KNOB_SIGNATURE_KEY: [DECISIONS_INPUT, IMAGE_INPUT]}
    for key in expected:
        if key in inputs:
            inputs[key] = [name for name in inputs[key] if name != FORCE_INPUT]
    if inputs != expected:
        raise ExportError(f"The knob file's signatures are {inputs}, expected {expected}.")
    if read_budget_table(bytes(content)) != table:
        raise ExportError("The knob file's table does not read back as written.")


def check_tflite(content, model, *, quantize="none"):
    """Checks a converted graph: IF count, no custom/Flex op, int8 has no float conv.

    Returns:
        The `TFLiteSummary` of the graph.

    Raises:
        ExportError: a check fails.
    """
    try:
        summary = summarize_tflite(content)
    except TFLiteModelError as error:
        raise ExportError(str(error)) from error
    if summary.custom_ops:
        raise ExportError(
            f"The TFLite graph contains custom/Flex ops {summary.custom_ops}: only builtin ops "
            "are allowed (the Android runtime would need the Flex delegate)."
        )
    expected = expected_if_ops(model)
    if summary.num_if_ops != expected:
        raise ExportError(
            f"The TFLite graph has {summary.num_if_ops} IF ops, expected {expected} (one per "
            "gated block plus one per channel group of each channel-gated block): gated work "
            "would not be skipped as designed."
        )
    if quantize == "int8":
        # The gate networks stay float on purpose (their dense layers are FULLY_CONNECTED);
        # any float convolution, or more float dense ops than gate dense layers, means a
        # branch was never run during calibration.
        float_convs = [op for op in summary.float_conv_ops if op.name != "FULLY_CONNECTED"]
        float_dense = [op for op in summary.float_conv_ops if op.name == "FULLY_CONNECTED"]
        allowed_dense = gate_dense_layer_count(model)
        if float_convs or len(float_dense) > allowed_dense:
            bad = float_convs or float_dense
            subgraphs = sorted({op.subgraph for op in bad})
            raise ExportError(
                f"int8 conversion left {len(float_convs)} float convolutions and "
                f"{len(float_dense)} float dense ops (the gate networks account for "
                f"{allowed_dense}) in subgraphs {subgraphs}: some branch was never run during "
                "calibration."
            )
        _check_loads(content)
    return summary


def _check_loads(content):
    """Allocates the model in a child process: some bad int8 parameters abort the runtime.

    A quantized kernel whose calibrated ranges it cannot represent (seen: an int8 ADD of
    near-constant scalars) kills the process in `allocate_tensors` with SIGABRT, which no
    Python code can catch; in an app that is a crash at load. Checked here instead.
    """
    with tempfile.TemporaryDirectory(prefix="lcnet_check_") as directory:
        path = os.path.join(directory, "model.tflite")
        with open(path, "wb") as handle:
            handle.write(content)
        code = (
            "import sys\n"
            "from ai_edge_litert.interpreter import Interpreter\n"
            "Interpreter(model_path=sys.argv[1], num_threads=1).allocate_tensors()\n"
        )
        try:
            result = subprocess.run(
                [sys.executable, "-c", code, path], capture_output=True, text=True,
                timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
            )
        except subprocess.TimeoutExpired as error:
            raise ExportError(
                "LiteRT did not finish loading the converted model within 300 s."
            ) from error
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["no message"])[-1]
        hint = (" The runtime was killed by a signal while preparing the ops: a quantized op "
                "received parameters it cannot use; please report it with the model."
                if result.returncode < 0 else "")
        raise ExportError(
            f"LiteRT cannot load the converted model (allocate_tensors exited with status "
            f"{result.returncode}: {detail}).{hint}"
        )


def read_signature(path, signature_key=SIGNATURE_KEY):
    """A signature of a `.tflite` file as LiteRT reports it (what the app will see).

    Args:
        path: the `.tflite` file.
        signature_key: "serve" (every lcnet-tf file), or "serve_budget" (knob files, which
            also take `decisions`).

    Returns:
        `{"signature_keys": [...], "inputs": {name: {"dtype", "shape"}}, "outputs": {...}}`
        for that signature.

    Raises:
        TFLiteModelError: corrupt file, no such signature, or not the lcnet-tf inputs and
            outputs.
    """
    from ai_edge_litert.interpreter import Interpreter

    content = read_tflite_bytes(path)
    try:
        interpreter = Interpreter(model_content=content, num_threads=1)
        signatures = interpreter.get_signature_list()
    except Exception as error:
        raise TFLiteModelError(f"LiteRT cannot load {str(path)!r}: {error}") from error
    if signature_key not in signatures:
        how = ("to_tflite(..., budget_table=...)" if signature_key == KNOB_SIGNATURE_KEY
               else "to_tflite")
        raise TFLiteModelError(
            f"{str(path)!r} has no {signature_key!r} signature (found {sorted(signatures)}): "
            f"export it with lcnet_tf.export.{how}."
        )
    runner = interpreter.get_signature_runner(signature_key)

    def specs(details):
        return {name: {"dtype": np.dtype(detail["dtype"]).name,
                       "shape": [int(d) for d in detail["shape"]]}
                for name, detail in sorted(details.items())}

    inputs, outputs = specs(runner.get_input_details()), specs(runner.get_output_details())
    needed = [IMAGE_INPUT] + ([DECISIONS_INPUT] if signature_key == KNOB_SIGNATURE_KEY else [])
    missing = ([name for name in OUTPUT_NAMES if name not in outputs]
               + [name for name in needed if name not in inputs])
    if missing:
        raise TFLiteModelError(
            f"{str(path)!r} does not have the lcnet-tf {signature_key!r} signature (inputs "
            f"{needed}, outputs {list(OUTPUT_NAMES)}); missing: {missing}."
        )
    return {"signature_keys": sorted(signatures), "inputs": inputs, "outputs": outputs}

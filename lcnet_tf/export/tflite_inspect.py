"""Reading what a `.tflite` flatbuffer contains: ops per subgraph, tensor types, signature."""

import dataclasses
import os
from collections import Counter

from ai_edge_litert import schema_py_generated as schema

# Operator code number -> name, e.g. 3 -> "CONV_2D", 118 -> "IF".
BUILTIN_OP_NAMES = {
    value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")
}
TENSOR_TYPE_NAMES = {
    value: name for name, value in vars(schema.TensorType).items() if not name.startswith("_")
}
FLOAT_TYPES = ("FLOAT32", "FLOAT16")
_CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


class TFLiteModelError(ValueError):
    """A `.tflite` file that is missing, truncated, corrupt or not what was expected."""


@dataclasses.dataclass(frozen=True)
class OpRecord:
    """One operator of a TFLite graph.

    Attributes:
        subgraph: index of the subgraph holding the op (0 = main graph;
            IF branches are further subgraphs).
        name: builtin op name (e.g. "CONV_2D", "IF") or "CUSTOM:<code>"
            (Flex ops are custom ops whose code starts with "Flex").
        input_types: tensor type names of the op's inputs ("FLOAT32", "INT8", ...).
    """

    subgraph: int
    name: str
    input_types: tuple


@dataclasses.dataclass(frozen=True)
class TFLiteSummary:
    """What a converted model contains.

    Attributes:
        num_subgraphs: subgraph count (1 + two per IF op when branches are not shared).
        ops: every `OpRecord`, in subgraph order.
        main_subgraphs: the subgraphs subgraph 0 (signature "serve") runs: itself and the IF
            branches it reaches. A knob file's second entry subgraph ("serve_budget", the same
            graph again, sharing every branch) is not among them.
    """

    num_subgraphs: int
    ops: tuple
    main_subgraphs: frozenset = None

    def op_counts(self):
        """`Counter` of op names over all subgraphs."""
        return Counter(op.name for op in self.ops)

    @property
    def num_if_ops(self):
        """IF ops one image can meet: those of `main_subgraphs` (in a knob file each
        signature's graph has them once)."""
        main = self.main_subgraphs
        return sum(op.name == "IF" and (main is None or op.subgraph in main) for op in self.ops)

    @property
    def flex_ops(self):
        """Names of Flex (select TF) ops; must be empty for a builtins-only model."""
        return sorted({op.name for op in self.ops if op.name.startswith("CUSTOM:Flex")})

    @property
    def custom_ops(self):
        return sorted({op.name for op in self.ops if op.name.startswith("CUSTOM:")})

    @property
    def float_conv_ops(self):
        """`OpRecord`s of convolutions / dense layers whose weights are float."""
        return [
            op
            for op in self.ops
            if op.name in _CONV_OPS and len(op.input_types) > 1 and op.input_types[1] in FLOAT_TYPES
            and op.input_types[0] in FLOAT_TYPES
        ]


def read_tflite_bytes(path):
    """Reads a `.tflite` file, checking that it is a complete TFLite flatbuffer.

    Raises:
        TFLiteModelError: the file is missing, empty, not a TFLite model, or truncated.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise TFLiteModelError(f"TFLite model not found: {path!r}")
    with open(path, "rb") as file:
        content = file.read()
    summarize_tflite(content, source=path)  # Raises on a corrupt or truncated file.
    return content


def summarize_tflite(content, source="<bytes>"):
    """Lists the ops of every subgraph of a TFLite flatbuffer.

    Args:
        content: the model bytes.
        source: how to name the model in error messages (e.g. its path).

    Returns:
        A `TFLiteSummary`.

    Raises:
        TFLiteModelError: the bytes are not a complete TFLite model.

    Example:
        >>> summary = summarize_tflite(open("m.tflite", "rb").read())
        >>> summary.num_if_ops, summary.flex_ops
        (18, [])
    """
    content = bytes(content)
    if len(content) < 8 or not schema.Model.ModelBufferHasIdentifier(content, 0):
        raise TFLiteModelError(
            f"Not a TFLite model: {source} ({len(content)} bytes) lacks the 'TFL3' identifier. "
            "The file is empty, corrupt, or of another format."
        )
    try:
        model = schema.Model.GetRootAs(content, 0)
        opcodes = []
        for index in range(model.OperatorCodesLength()):
            code = model.OperatorCodes(index)
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            if builtin == schema.BuiltinOperator.CUSTOM:
                opcodes.append("CUSTOM:" + (code.CustomCode() or b"").decode("utf-8", "replace"))
            else:
                opcodes.append(BUILTIN_OP_NAMES.get(builtin, f"BUILTIN_{builtin}"))
        ops, calls = [], {}
        for sub_index in range(model.SubgraphsLength()):
            subgraph = model.Subgraphs(sub_index)
            tensor_types = [
                TENSOR_TYPE_NAMES.get(subgraph.Tensors(t).Type(), "UNKNOWN")
                for t in range(subgraph.TensorsLength())
            ]
            for op_index in range(subgraph.OperatorsLength()):
                op = subgraph.Operators(op_index)
                inputs = op.InputsAsNumpy() if op.InputsLength() else []
                if opcodes[op.OpcodeIndex()] == "IF":
                    options = schema.IfOptions()
                    table = op.BuiltinOptions()
                    options.Init(table.Bytes, table.Pos)
                    calls.setdefault(sub_index, set()).update(
                        {options.ThenSubgraphIndex(), options.ElseSubgraphIndex()})
                ops.append(
                    OpRecord(
                        subgraph=sub_index,
                        name=opcodes[op.OpcodeIndex()],
                        input_types=tuple(tensor_types[i] if i >= 0 else "NONE" for i in inputs),
                    )
                )
        # Touch the end of the buffer table: a truncated file fails here or above.
        for index in range(model.BuffersLength()):
            buffer = model.Buffers(index)
            offset, size = buffer.Offset(), buffer.Size()
            if offset and offset + size > len(content):
                raise TFLiteModelError(
                    f"Truncated TFLite model: {source} has {len(content)} bytes but buffer "
                    f"{index} ends at byte {offset + size}."
                )
            buffer.DataLength()
    except TFLiteModelError:
        raise
    except Exception as error:  # flatbuffers raises IndexError/struct.error on bad offsets.
        raise TFLiteModelError(
            f"Corrupt or truncated TFLite model: {source} ({len(content)} bytes) cannot be "
            f"parsed ({type(error).__name__}: {error})."
        ) from error
    main, stack = {0}, [0]
    while stack:
        for callee in calls.get(stack.pop(), ()):
            if callee not in main:
                main.add(callee)
                stack.append(callee)
    return TFLiteSummary(num_subgraphs=model.SubgraphsLength(), ops=tuple(ops),
                         main_subgraphs=frozenset(main))

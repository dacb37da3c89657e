"""int8 feature maps across IF boundaries of a full-integer TFLite graph.

The converter quantizes each subgraph on its own: a feature map leaves the
main graph as float32 (DEQUANTIZE), enters every IF branch as float32 and is
quantized again there (QUANTIZE); the branch's result goes back the same
way. A block that runs pays a float QUANTIZE and DEQUANTIZE of the whole
feature map and copies 4x the bytes; a skipped block copies float32; every
gate pools a float32 map.

`quantize_if_boundaries` rewrites the flatbuffer so that rank-4 feature maps
cross IF boundaries as int8:

- an IF input that the graph holds in int8 (the input of a DEQUANTIZE, or an
  IF output already rewritten) is passed as int8, with its own parameters;
- an IF output whose "then" branch dequantizes an int8 result becomes int8,
  with parameters covering what both branches return (a passed-through
  input's when they do, so a skipped block returns its map untouched); a
  branch whose result has other parameters requantizes it, or retags the
  op that produces it;
- inside a branch, a QUANTIZE of the (now int8) input becomes an int8
  requantization, or disappears when the parameters already agree;
- a MEAN of a feature map (a gate's pooling) runs on int8 and only its
  (1, C) result is dequantized;
- DEQUANTIZE ops left without consumers are removed.

The gate networks, their scalars and the IF predicates stay float32. The
pass recurses into nested IFs (channel groups inside a gated block).
"""

import copy

import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.tools import flatbuffer_utils

from lcnet_tf.export.tflite_inspect import BUILTIN_OP_NAMES

_F32 = schema.TensorType.FLOAT32
_I8 = schema.TensorType.INT8


class _Graph:
    """A subgraph with producer/consumer lookups kept in sync with its edits."""

    def __init__(self, rewriter, index):
        self.rewriter = rewriter
        self.index = index
        self.sub = rewriter.model.subgraphs[index]

    # Lookups -----------------------------------------------------------------------------
    def tensor(self, t):
        return self.sub.tensors[t]

    def name_of(self, op):
        return self.rewriter.op_name(op)

    def producer(self, t):
        for op in self.sub.operators:
            if t in list(op.outputs):
                return op
        return None

    def consumers(self, t):
        return [op for op in self.sub.operators if t in list(op.inputs)]

    def is_output(self, t):
        return t in list(self.sub.outputs)

    def is_feature_map(self, t):
        tensor = self.tensor(t)
        return tensor.type == _F32 and tensor.shape is not None and len(tensor.shape) == 4

    # Edits -------------------------------------------------------------------------------
    def new_int8_like(self, t, quantization, suffix):
        src = self.tensor(t)
        tensor = schema.TensorT()
        tensor.shape = np.array(src.shape, dtype=np.int32)
        if src.shapeSignature is not None:
            tensor.shapeSignature = np.array(src.shapeSignature, dtype=np.int32)
        tensor.type = _I8
        tensor.buffer = 0  # Buffer 0 is the empty sentinel: an activation.
        tensor.name = ((src.name or b"") + b"/" + suffix.encode()) if isinstance(
            src.name, bytes) else f"{src.name}/{suffix}"
        tensor.quantization = copy.deepcopy(quantization)
        tensor.hasRank = True
        self.sub.tensors.append(tensor)
        return len(self.sub.tensors) - 1

    def make_op(self, name, inputs, outputs):
        """A QUANTIZE or DEQUANTIZE op (their int8 versions)."""
        op = schema.OperatorT()
        op.opcodeIndex = self.rewriter.opcode(name, min_version=2)
        op.inputs = np.array(inputs, dtype=np.int32)
        op.outputs = np.array(outputs, dtype=np.int32)
        if name == "QUANTIZE":
            op.builtinOptionsType = schema.BuiltinOptions.QuantizeOptions
            op.builtinOptions = schema.QuantizeOptionsT()
        elif name == "DEQUANTIZE":
            op.builtinOptionsType = schema.BuiltinOptions.DequantizeOptions
            op.builtinOptions = schema.DequantizeOptionsT()
        return op

    def insert_after(self, anchor, op):
        ops = self.sub.operators
        ops.insert(ops.index(anchor) + 1 if anchor is not None else 0, op)

    def replace_input(self, op, old, new):
        op.inputs = np.array([new if t == old else t for t in op.inputs], dtype=np.int32)


def _same_params(a, b):
    if a is None or b is None or a.scale is None or b.scale is None:
        return False
    return (np.array_equal(np.asarray(a.scale), np.asarray(b.scale))
            and np.array_equal(np.asarray(a.zeroPoint), np.asarray(b.zeroPoint)))


def _pooled_params(quantization, value_range):
    """int8 parameters of a pooled (1, C) map: its calibrated range, else the map's own.

    The map's own step is coarse for a mean; a calibrated range makes it ~4x
    finer on a ResNet-20 (pooled values up to ~3 against maps up to ~14).
    """
    if value_range is None:
        return copy.deepcopy(quantization)
    low, high = (POOLED_RANGE_MARGIN * float(v) for v in value_range)
    params = _params_covering([(low, high)], quantization)
    if not float(params.scale[0]) >= float(quantization.scale[0]) / 64:
        # A (nearly) constant pool in calibration: keep the map's step rather than a range
        # that would clip every other value.
        return copy.deepcopy(quantization)
    return params


# Calibrated pooled ranges are widened by this factor (images outside calibration).
POOLED_RANGE_MARGIN = 1.25


def _per_tensor(quantization):
    return (quantization is not None and quantization.scale is not None
            and len(quantization.scale) == 1)


def _int8_per_tensor(tensor):
    return tensor.type == _I8 and _per_tensor(tensor.quantization)


def _real_range(quantization):
    scale, zero = float(quantization.scale[0]), int(quantization.zeroPoint[0])
    return scale * (-128 - zero), scale * (127 - zero)


def _params_covering(ranges, like):
    """int8 parameters whose range covers every (low, high) in `ranges` (and 0)."""
    low = min(0.0, *(r[0] for r in ranges))
    high = max(0.0, *(r[1] for r in ranges))
    params = copy.deepcopy(like)
    scale = (high - low) / 255.0
    params.scale = np.array([scale], np.float32)
    params.zeroPoint = np.array([int(np.clip(round(-128 - low / scale), -128, 127))], np.int64)
    params.min, params.max = None, None
    return params


# Ops whose int8 output parameters are free (the kernel rescales to whatever the tensor says).
_FREE_OUTPUT_OPS = {"ADD", "SUB", "MUL", "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}


class _Rewriter:
    def __init__(self, model, pooled_ranges, int8_pooling=True):
        self.model = model
        self.pooled_ranges = pooled_ranges or {}
        self.int8_pooling = int8_pooling
        self.rewritten_ifs = 0
        self._visited_branches = set()

    def op_name(self, op):
        code = self.model.operatorCodes[op.opcodeIndex]
        return BUILTIN_OP_NAMES.get(max(code.builtinCode, code.deprecatedBuiltinCode))

    def opcode(self, name, min_version=1):
        """Index of an operator code for `name` with version >= `min_version` (added if none)."""
        builtin = getattr(schema.BuiltinOperator, name)
        for index, code in enumerate(self.model.operatorCodes):
            if (max(code.builtinCode, code.deprecatedBuiltinCode) == builtin
                    and code.version >= min_version):
                return index
        code = schema.OperatorCodeT()
        code.builtinCode = builtin
        code.deprecatedBuiltinCode = min(builtin, 127)
        code.version = min_version
        self.model.operatorCodes.append(code)
        return len(self.model.operatorCodes) - 1

    def _branch_users(self):
        users = {}
        for sub_index, sub in enumerate(self.model.subgraphs):
            for op in sub.operators:
                if self.op_name(op) == "IF":
                    options = op.builtinOptions
                    for branch in (options.thenSubgraphIndex, options.elseSubgraphIndex):
                        users.setdefault(branch, []).append((sub_index, op))
        return users

    def _own_branch(self, options, attribute):
        """A branch subgraph used by this IF alone (shared ones are cloned first)."""
        index = getattr(options, attribute)
        if len(self._branch_users().get(index, [])) > 1 or index in self._visited_branches:
            self.model.subgraphs.append(copy.deepcopy(self.model.subgraphs[index]))
            index = len(self.model.subgraphs) - 1
            setattr(options, attribute, index)
        self._visited_branches.add(index)
        return index

    # The pass ----------------------------------------------------------------------------
    def run_subgraph(self, index, twins):
        """Rewrites the IFs of subgraph `index`; `twins` maps float tensor -> int8 tensor."""
        graph = _Graph(self, index)
        for op in list(graph.sub.operators):
            name = graph.name_of(op)
            if name == "DEQUANTIZE" and _int8_per_tensor(graph.tensor(op.inputs[0])):
                twins.setdefault(int(op.outputs[0]), int(op.inputs[0]))
            elif name == "IF":
                self._rewrite_if(graph, op, twins)
        self._peephole(graph, twins)

    def _rewrite_if(self, graph, op, twins):
        options = op.builtinOptions
        then_graph = _Graph(self, options.thenSubgraphIndex)

        # Inputs: pass int8 where the graph already holds the map in int8.
        int8_inputs = {}  # branch input position -> int8 tensor of this graph
        for position in range(1, len(op.inputs)):
            t = int(op.inputs[position])
            if t >= 0 and graph.is_feature_map(t) and t in twins:
                int8_inputs[position - 1] = twins[t]
        # Outputs: int8 where the "then" branch dequantizes an int8 result.
        int8_outputs = []
        for position, t in enumerate(op.outputs):
            if not graph.is_feature_map(int(t)):
                continue
            producer = then_graph.producer(int(then_graph.sub.outputs[position]))
            if (producer is not None and then_graph.name_of(producer) == "DEQUANTIZE"
                    and _int8_per_tensor(then_graph.tensor(producer.inputs[0]))):
                int8_outputs.append(position)
        if not int8_inputs and not int8_outputs:
            return

        branches = [_Graph(self, self._own_branch(options, "thenSubgraphIndex")),
                    _Graph(self, self._own_branch(options, "elseSubgraphIndex"))]
        inputs = list(op.inputs)
        for position, t_q in int8_inputs.items():
            inputs[position + 1] = t_q
        op.inputs = np.array(inputs, dtype=np.int32)

        sources = []  # per branch: output position -> (int8 source or None, float tensor)
        for branch in branches:
            branch_twins = {}
            for position, t_q in int8_inputs.items():
                b_in = int(branch.sub.inputs[position])
                b_in_q = branch.new_int8_like(b_in, graph.tensor(t_q).quantization, "int8_in")
                branch.sub.inputs[position] = b_in_q
                # Float consumers (gate maths, nested IFs before their rewrite) read a
                # DEQUANTIZE; the peephole removes it when nothing float is left.
                branch.insert_after(None, branch.make_op("DEQUANTIZE", [b_in_q], [b_in]))
                branch_twins[b_in] = b_in_q
            # Nested IFs first, so that the outputs below see their int8 results.
            self.run_subgraph(branch.index, branch_twins)
            sources.append({position: (self._int8_source(branch, int(branch.sub.outputs[position]),
                                                         branch_twins),
                                       int(branch.sub.outputs[position]))
                            for position in int8_outputs})

        for position in int8_outputs:
            # One set of parameters for the IF output, covering what either branch returns
            # (a skipped block passes its input on, whose range can exceed the run branch's).
            ranges, like = [], None
            for branch, branch_sources in zip(branches, sources, strict=True):
                source, b_out = branch_sources[position]
                if source is not None:
                    quantization = branch.tensor(source).quantization
                    ranges.append(_real_range(quantization))
                    like = like or quantization
                else:
                    constant = self._constant_values(branch, b_out)
                    if constant is not None:
                        ranges.append((float(constant.min()), float(constant.max())))
            low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
            # Prefer the parameters of a branch input passed through (a skipped block's): the
            # skip branch then returns its input untouched, with no requantization rounding.
            covering = sorted(
                ((source not in list(branch.sub.inputs), branch.tensor(source).quantization)
                 for branch, (source, _) in ((b, src[position])
                                             for b, src in zip(branches, sources, strict=True))
                 if source is not None
                 and _real_range(branch.tensor(source).quantization)[0] <= low
                 and _real_range(branch.tensor(source).quantization)[1] >= high),
                key=lambda item: item[0],
            )
            params = covering[0][1] if covering else _params_covering(ranges, like)
            for branch, branch_sources in zip(branches, sources, strict=True):
                source, b_out = branch_sources[position]
                branch.sub.outputs[position] = self._int8_output(branch, source, b_out, params)
            y = int(op.outputs[position])
            y_q = graph.new_int8_like(y, params, "int8_out")
            outputs = list(op.outputs)
            outputs[position] = y_q
            op.outputs = np.array(outputs, dtype=np.int32)
            graph.insert_after(op, graph.make_op("DEQUANTIZE", [y_q], [y]))
            twins[y] = y_q
        for branch in branches:
            self._peephole(branch, {})
        self.rewritten_ifs += 1

    def _int8_source(self, branch, b_out, twins):
        """The int8 tensor a branch output is dequantized from (or twin of), else None."""
        if b_out in twins:
            return twins[b_out]
        producer = branch.producer(b_out)
        if (producer is not None and branch.name_of(producer) == "DEQUANTIZE"
                and _int8_per_tensor(branch.tensor(producer.inputs[0]))):
            return int(producer.inputs[0])
        return None

    def _constant_values(self, branch, t):
        tensor = branch.tensor(t)
        data = self.model.buffers[tensor.buffer].data if tensor.buffer else None
        if tensor.type != _F32 or data is None or not len(data):
            return None
        values = np.frombuffer(np.asarray(data, np.uint8).tobytes(), np.float32)
        return values if values.size == int(np.prod(tensor.shape)) else None

    def _int8_output(self, branch, source, b_out, params):
        """The int8 tensor with `params` that a branch returns instead of float `b_out`."""
        if source is not None and _same_params(branch.tensor(source).quantization, params):
            return source
        if source is not None and not branch.is_output(source) and source not in list(
                branch.sub.inputs):
            producer = branch.producer(source)
            if producer is not None and branch.name_of(producer) in _FREE_OUTPUT_OPS:
                # Widen the producer's output range in place: no extra op.
                branch.tensor(source).quantization = copy.deepcopy(params)
                return source
        constant = self._constant_values(branch, b_out) if source is None else None
        if constant is not None:
            # A float constant (the first channel group's skip: bn2's shift) becomes an int8
            # constant: no QUANTIZE at run time.
            scale, zero = float(params.scale[0]), int(params.zeroPoint[0])
            values = np.clip(np.round(constant / scale) + zero, -128, 127).astype(np.int8)
            buffer = schema.BufferT()
            buffer.data = values.view(np.uint8)
            self.model.buffers.append(buffer)
            out = branch.new_int8_like(b_out, params, "int8_const")
            branch.tensor(out).buffer = len(self.model.buffers) - 1
            return out
        # Requantize an int8 source, or quantize a float result.
        out = branch.new_int8_like(b_out, params, "int8_out")
        branch.sub.operators.append(
            branch.make_op("QUANTIZE", [source if source is not None else b_out], [out])
        )
        return out

    def _peephole(self, graph, twins):
        changed = True
        while changed:
            changed = False
            for op in list(graph.sub.operators):
                name = graph.name_of(op)
                if not len(op.inputs):
                    continue
                src = int(op.inputs[0])
                if src not in twins:
                    continue
                src_q = twins[src]
                if name == "QUANTIZE" and graph.tensor(op.outputs[0]).type == _I8:
                    out = int(op.outputs[0])
                    if (_same_params(graph.tensor(out).quantization,
                                     graph.tensor(src_q).quantization)
                            and not graph.is_output(out)):
                        for user in graph.consumers(out):
                            graph.replace_input(user, out, src_q)
                        for t, q in list(twins.items()):
                            if q == out:
                                twins[t] = src_q
                        graph.sub.operators.remove(op)
                    else:
                        graph.replace_input(op, src, src_q)  # int8 -> int8 requantize.
                        op.opcodeIndex = self.opcode("QUANTIZE", min_version=2)
                    changed = True
                elif name == "MEAN" and self.int8_pooling:
                    # Pool int8 and dequantize (1, C), with the calibrated range of the pool.
                    pooled = int(op.outputs[0])
                    value_range = self.pooled_ranges.get(pooled) if graph.index == 0 else None
                    pooled_q = graph.new_int8_like(
                        pooled, _pooled_params(graph.tensor(src_q).quantization, value_range),
                        "int8_mean",
                    )
                    graph.replace_input(op, src, src_q)
                    op.opcodeIndex = self.opcode("MEAN", min_version=2)  # int8 MEAN.
                    op.outputs = np.array([pooled_q], dtype=np.int32)
                    graph.insert_after(op, graph.make_op("DEQUANTIZE", [pooled_q], [pooled]))
                    changed = True
            for op in list(graph.sub.operators):
                if graph.name_of(op) != "DEQUANTIZE":
                    continue
                out = int(op.outputs[0])
                if not graph.consumers(out) and not graph.is_output(out):
                    graph.sub.operators.remove(op)
                    changed = True


def float_pooled_tensors(content):
    """Indices (main graph) of the float MEAN outputs that the pass turns into int8 pools."""
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    rewriter = _Rewriter(model, None)
    graph = _Graph(rewriter, 0)
    return [int(op.outputs[0]) for op in graph.sub.operators
            if graph.name_of(op) == "MEAN" and graph.is_feature_map(int(op.inputs[0]))]


def calibrate_pooled_ranges(content, inputs, signature_key):
    """(min, max) of every float pooled map of the main graph over calibration inputs.

    Runs the float-boundary model on the builtin kernels (no delegate: a delegate
    would not write intermediate tensors) with every tensor kept.

    Args:
        content: the int8 model before `quantize_if_boundaries`.
        inputs: dicts signature input name -> array, as fed to the converter.
        signature_key: the signature to run.

    Returns:
        dict main-graph tensor index -> (min, max).
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    tensors = float_pooled_tensors(content)
    if not tensors or not inputs:
        return {}
    interpreter = Interpreter(
        model_content=bytes(content), num_threads=1,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        experimental_preserve_all_tensors=True,
    )
    interpreter.allocate_tensors()
    details = interpreter.get_signature_runner(signature_key).get_input_details()
    low = {t: np.inf for t in tensors}
    high = {t: -np.inf for t in tensors}
    for feed in inputs:
        for name, value in feed.items():
            interpreter.set_tensor(details[name]["index"], np.asarray(value))
        interpreter.invoke()
        for t in tensors:
            value = interpreter.get_tensor(t)
            low[t], high[t] = min(low[t], float(value.min())), max(high[t], float(value.max()))
    return {t: (low[t], high[t]) for t in tensors if np.isfinite(low[t])}


def quantize_if_boundaries(content, pooled_ranges=None, int8_pooling=True):
    """Returns `(new model bytes, number of IF ops rewritten)`; see the module docstring.

    Args:
        content: a full-integer model whose IF boundaries are float32.
        pooled_ranges: optional `calibrate_pooled_ranges` result: the int8
            pooled maps of the gates get these ranges instead of the step of
            the map they pool.
        int8_pooling: False dequantizes the maps the gates pool and pools float32
            (exact pooled values, one float map per gate).
    """
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    rewriter = _Rewriter(model, pooled_ranges, int8_pooling)
    rewriter.run_subgraph(0, {})
    if not rewriter.rewritten_ifs:
        return bytes(content), 0
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), rewriter.rewritten_ifs


def float_if_operands(content):
    """`(subgraph, tensor)` of every float32 rank-4 tensor that is an IF input or output."""
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    rewriter = _Rewriter(model, None)
    found = []
    for index in range(len(model.subgraphs)):
        graph = _Graph(rewriter, index)
        for op in graph.sub.operators:
            if graph.name_of(op) == "IF":
                found += [(index, int(t)) for t in [*op.inputs[1:], *op.outputs]
                          if t >= 0 and graph.is_feature_map(int(t))]
    return found

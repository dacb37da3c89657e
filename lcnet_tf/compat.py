"""Every private TensorFlow / Keras API lcnet-tf relies on, in one place, each with its reason.

Checked with tensorflow 2.21 and keras 3.15. `tests/test_compat.py` fails loudly (not
silently wrong) when one of them changes: the attribute disappears, changes signature or
stops doing what we use it for. Nothing else in lcnet-tf touches a private API.
"""

import inspect

import keras

# `keras.Model._maybe_symbolic_build(iterator=None, data_batch=None)`: Keras builds the model
# symbolically from the first batch at the start of `fit`. Under MultiWorkerMirroredStrategy it
# reduces that batch with `strategy.reduce`, which fails for a nested (images, labels) batch
# (keras-team/keras#20585); `GatedResNet` overrides this method to pass the local batch.
MAYBE_SYMBOLIC_BUILD = "_maybe_symbolic_build"


def loss_tracker(model):
    """The compiled model's `loss` metric (`Model._loss_tracker`), or None.

    Why: a custom `train_step` that adds penalties to the compiled loss must update the
    `loss` Keras reports itself; Keras 3 has no public handle on that tracker.
    """
    return getattr(model, "_loss_tracker", None)


def mlir_quantize(content, denylisted_nodes):
    """Quantizes a calibrated TFLite flatbuffer with `denylisted_nodes` kept float.

    Why: the public converter API cannot keep chosen nodes (the gate networks) float while
    quantizing the rest to int8; `tensorflow.lite.python.convert.mlir_quantize` can.
    """
    from tensorflow.lite.python import convert as tflite_convert

    return tflite_convert.mlir_quantize(content, denylisted_nodes=denylisted_nodes)


def set_calibrate_only(converter):
    """Makes `converter.convert()` return the calibrated, not yet quantized, model.

    Why: the second step, `mlir_quantize` with a denylist, needs the calibration statistics.
    """
    if not hasattr(converter, "_experimental_calibrate_only"):
        raise RuntimeError(
            "TFLiteConverter has no `_experimental_calibrate_only` in this TensorFlow version: "
            "the int8 export of lcnet_tf.compat needs updating."
        )
    converter._experimental_calibrate_only = True
    return converter


class SignatureInvoker:
    """Sets the inputs, invokes and reads the outputs of one signature of a LiteRT
    interpreter as separate steps (`invoke` alone can be timed).

    Why: `SignatureRunner.__call__` resizes, allocates, sets inputs, invokes and copies the
    outputs in one call, and `Interpreter.set_tensor`/`invoke` act on subgraph 0 only; a
    knob file's "serve_budget" signature is another subgraph, and its latency must be
    measured as the "serve" signature's is (the invoke alone). Uses the runner's
    `_interpreter_wrapper`, `_subgraph_index`, `_inputs` and `_outputs`.
    """

    def __init__(self, runner):
        self._wrapper = runner._interpreter_wrapper
        self._subgraph = runner._subgraph_index
        self._inputs = dict(runner._inputs)
        self._outputs = list(runner._outputs)
        self._wrapper.AllocateTensors(self._subgraph)

    def set_input(self, name, value):
        self._wrapper.SetTensor(self._inputs[name], value, self._subgraph)

    def invoke(self):
        self._wrapper.Invoke(self._subgraph)

    def outputs(self):
        return {name: self._wrapper.GetTensor(index, self._subgraph).copy()
                for name, index in self._outputs}


SIGNATURE_RUNNER_ATTRIBUTES = ("_interpreter_wrapper", "_subgraph_index", "_inputs", "_outputs")


def check_private_apis():
    """Raises RuntimeError naming every private API that is missing or changed."""
    problems = []
    method = getattr(keras.Model, MAYBE_SYMBOLIC_BUILD, None)
    if method is None:
        problems.append(f"keras.Model.{MAYBE_SYMBOLIC_BUILD} is gone")
    else:
        parameters = set(inspect.signature(method).parameters)
        if not {"iterator", "data_batch"} <= parameters:
            problems.append(f"keras.Model.{MAYBE_SYMBOLIC_BUILD} signature changed: {parameters}")
    try:
        from tensorflow.lite.python import convert as tflite_convert

        if "denylisted_nodes" not in inspect.signature(tflite_convert.mlir_quantize).parameters:
            problems.append("mlir_quantize lost its `denylisted_nodes` argument")
    except (ImportError, AttributeError) as error:
        problems.append(f"tensorflow.lite.python.convert.mlir_quantize: {error}")
    try:
        from ai_edge_litert.interpreter import SignatureRunner

        source = inspect.getsource(SignatureRunner.__init__)
        problems += [f"ai_edge_litert SignatureRunner.{name} is gone"
                     for name in SIGNATURE_RUNNER_ATTRIBUTES if f"self.{name}" not in source]
    except (ImportError, OSError, TypeError) as error:
        problems.append(f"ai_edge_litert SignatureRunner: {error}")
    if problems:
        raise RuntimeError("Private APIs changed: " + "; ".join(problems))

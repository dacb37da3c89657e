"""TFLite export of gated ResNets (IF branches that skip work) and its latency benchmark."""

from lcnet_tf.export.tflite_export import (
    FORCE_INPUT,
    IMAGE_INPUT,
    OUTPUT_NAMES,
    QUANTIZATIONS,
    SIGNATURE_KEY,
    ExportError,
    check_tflite,
    expected_if_ops,
    export_saved_model,
    gate_dense_layer_count,
    load_keras_model,
    to_tflite,
)
from lcnet_tf.export.tflite_inspect import (
    TFLiteModelError,
    TFLiteSummary,
    read_tflite_bytes,
    summarize_tflite,
)

__all__ = [
    "FORCE_INPUT",
    "IMAGE_INPUT",
    "OUTPUT_NAMES",
    "QUANTIZATIONS",
    "SIGNATURE_KEY",
    "ExportError",
    "TFLiteModelError",
    "TFLiteSummary",
    "check_tflite",
    "expected_if_ops",
    "gate_dense_layer_count",
    "export_saved_model",
    "load_keras_model",
    "read_tflite_bytes",
    "summarize_tflite",
    "to_tflite",
]

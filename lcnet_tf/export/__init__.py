"""TFLite export of gated ResNets (IF branches that skip work) and its latency benchmark."""

from lcnet_tf.budget_table import (  # the knob file's table, re-exported
    KNOB_SIGNATURE_KEY,
    BudgetTable,
    BudgetTableError,
)
from lcnet_tf.export.tflite_export import (
    FORCE_INPUT,
    IMAGE_INPUT,
    OUTPUT_NAMES,
    QUANTIZATIONS,
    SIGNATURE_KEY,
    ExportError,
    add_budget_knob,
    check_tflite,
    expected_if_ops,
    export_saved_model,
    gate_dense_layer_count,
    load_keras_model,
    read_budget_table,
    to_tflite,
)
from lcnet_tf.export.tflite_inspect import (
    TFLiteModelError,
    TFLiteSummary,
    read_tflite_bytes,
    summarize_tflite,
)

__all__ = [
    "KNOB_SIGNATURE_KEY",
    "BudgetTable",
    "BudgetTableError",
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
    "add_budget_knob",
    "load_keras_model",
    "read_budget_table",
    "read_tflite_bytes",
    "summarize_tflite",
    "to_tflite",
]

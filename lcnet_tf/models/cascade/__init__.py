from lcnet_tf.models.cascade.cascade_model import (
    Cascade,
    calibrate_cascade,
    cascade_report,
    simulate_cascade,
    stage_predictions,
)

__all__ = [
    "Cascade",
    "calibrate_cascade",
    "cascade_report",
    "simulate_cascade",
    "stage_predictions",
]

from lcnet_tf.models.cascade.cascade_cost import CascadeCost
from lcnet_tf.models.cascade.cascade_model import (
    Cascade,
    StagePredictions,
    simulate_cascade,
    stage_predictions,
    unit_decisions,
)

__all__ = [
    "Cascade",
    "CascadeCost",
    "StagePredictions",
    "simulate_cascade",
    "stage_predictions",
    "unit_decisions",
]

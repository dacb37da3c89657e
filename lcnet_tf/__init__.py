"""lcnet-tf: fully dynamic inference (L-Net, C-Net, LC-Net) for ResNets in Keras 3."""

from lcnet_tf import data, export, flops, layers, ops, training
from lcnet_tf.gate_control import set_gate_override
from lcnet_tf.models import (
    Cascade,
    GatedResNet,
    create_model,
    from_keras_application,
    get_preset,
    list_models,
)

__version__ = "0.1.0"

__all__ = [
    "Cascade",
    "GatedResNet",
    "create_model",
    "data",
    "export",
    "flops",
    "from_keras_application",
    "get_preset",
    "layers",
    "list_models",
    "ops",
    "set_gate_override",
    "training",
]

from lcnet_tf.models.cascade import Cascade, calibrate_cascade
from lcnet_tf.models.registry import create_model, get_preset, list_models
from lcnet_tf.models.resnet import GatedResNet
from lcnet_tf.models.resnet.keras_applications import from_keras_application

__all__ = [
    "Cascade",
    "GatedResNet",
    "calibrate_cascade",
    "create_model",
    "from_keras_application",
    "get_preset",
    "list_models",
]

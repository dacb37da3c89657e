from lcnet_tf.models.cascade import Cascade
from lcnet_tf.models.registry import (
    GATINGS,
    create_model,
    get_preset,
    list_models,
    reference_flops,
)
from lcnet_tf.models.resnet import GatedResNet
from lcnet_tf.models.resnet.keras_applications import from_keras_application

__all__ = [
    "GATINGS",
    "Cascade",
    "GatedResNet",
    "create_model",
    "from_keras_application",
    "get_preset",
    "list_models",
    "reference_flops",
]

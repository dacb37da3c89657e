from lcnet_tf.models.resnet.resnet_model import GatedResNet
from lcnet_tf.models.resnet.resnet_presets import RESNET_PRESETS

__all__ = ["GatedResNet", "RESNET_PRESETS"]

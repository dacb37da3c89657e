"""Model registry: every preset by name, for the CLIs, the tests and users."""

from lcnet_tf.models.resnet import RESNET_PRESETS, GatedResNet
from lcnet_tf.models.resnet.resnet_model import GATINGS

_REGISTRY = {name: (GatedResNet, preset) for name, preset in RESNET_PRESETS.items()}


def list_models():
    """Names of every registered model, in registration order."""
    return list(_REGISTRY)


def get_preset(name):
    """The preset dict (`kwargs`, `description`, `dataset`) of a registered model."""
    if name not in _REGISTRY:
        raise ValueError(
            f"Invalid value for `name`: expected one of {list_models()}. Received: name={name!r}"
        )
    return _REGISTRY[name][1]


def create_model(name, *, gating="lc", num_classes=10, **overrides):
    """Builds a registered model.

    Args:
        name: a name from `list_models()`, e.g. "resnet20".
        gating: "none" (static backbone), "layer" (L-Net block gates),
            "channel" (C-Net channel-group gates) or "lc" (both).
        num_classes: classifier outputs.
        **overrides: any `GatedResNet` argument, e.g. `channel_groups=8`.

    Returns:
        A built `keras.Model`.

    Example:
        >>> model = lcnet_tf.create_model("resnet20", gating="layer")
        >>> logits = model(images)  # uint8 or float pixels, NHWC
    """
    preset = get_preset(name)
    if gating not in GATINGS:
        raise ValueError(
            f"Invalid value for `gating`: expected one of {GATINGS}. Received: gating={gating!r}"
        )
    model_cls = _REGISTRY[name][0]
    kwargs = {**preset["kwargs"], "gating": gating, "num_classes": num_classes, **overrides}
    kwargs.setdefault("name", f"{name}_{gating}")
    return model_cls(**kwargs)

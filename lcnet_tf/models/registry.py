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


def scale_widths(stage_widths, width_multiplier):
    """Stage widths times `width_multiplier`, rounded to the nearest int (at least 1).

    `(16, 32, 64)` x 0.625 -> `(10, 20, 40)`; x 0.5 -> `(8, 16, 32)`.
    """
    if isinstance(width_multiplier, bool) or not isinstance(width_multiplier, int | float) or not (
        width_multiplier > 0
    ):
        raise ValueError(
            "Invalid value for `width_multiplier`: expected a number > 0. "
            f"Received: width_multiplier={width_multiplier!r}"
        )
    return tuple(max(1, int(round(width * width_multiplier))) for width in stage_widths)


# Classes of the dataset a preset is made for: the default head of `create_model`.
DATASET_CLASSES = {"cifar10": 10, "cifar100": 100, "imagenet2012": 1000}


def create_model(name, *, gating="lc", num_classes=None, width_multiplier=1.0, **overrides):
    """Builds a registered model.

    Args:
        name: a name from `list_models()`, e.g. "resnet20".
        gating: "none" (static backbone), "layer" (L-Net block gates),
            "channel" (C-Net channel-group gates) or "lc" (both).
        num_classes: classifier outputs; None takes the preset's dataset's (10 for the
            CIFAR presets, 1000 for the ImageNet ones).
        width_multiplier: scales every stage width of the preset (rounded to ints,
            `scale_widths`), e.g. 0.625 turns ResNet-20's 16/32/64 into 10/20/40. Widths
            that are multiples of 8 run at full speed in XNNPACK; odd ones do not
            (docs/results.md).
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
    if num_classes is None:
        num_classes = DATASET_CLASSES[preset["dataset"]]
    kwargs = {**preset["kwargs"], "gating": gating, "num_classes": num_classes, **overrides}
    kwargs["stage_widths"] = scale_widths(kwargs["stage_widths"], width_multiplier)
    kwargs.setdefault("name", f"{name}_{gating}")
    return model_cls(**kwargs)

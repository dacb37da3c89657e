"""Model registry: every preset by name, for the CLIs, the tests and users."""

from lcnet_tf.models.cascade import Cascade
from lcnet_tf.models.resnet import RESNET_PRESETS, GatedResNet
from lcnet_tf.models.resnet.resnet_model import GATINGS as NETWORK_GATINGS

# Every gating `create_model` builds: a network's own ("none", "layer", "channel", "lc"), or a
# "cascade" of such networks.
GATINGS = (*NETWORK_GATINGS, "cascade")
DEFAULT_CASCADE_WIDTHS = (0.5, 0.75)

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


def create_model(name, /, *, gating="lc", num_classes=None, width_multiplier=1.0,
                 cascade_widths=None, cascade_gatings=None, thresholds=None,
                 confidence="margin", ensemble=True, **overrides):
    """Builds a registered model: a `GatedResNet`, or a `Cascade` of them.

    Args:
        name: a name from `list_models()`, e.g. "resnet20".
        gating: "none" (static backbone), "layer" (L-Net block gates),
            "channel" (C-Net channel-group gates), "lc" (both), or "cascade": a `Cascade`
            of `name` at `cascade_widths`, each stage with its gating from
            `cascade_gatings`, whose `reference_flops` (what a budget is a fraction of) is
            `name` at width 1, as for every other gating.
        num_classes: classifier outputs; None takes the preset's dataset's (10 for the
            CIFAR presets, 1000 for the ImageNet ones).
        width_multiplier: scales every stage width of the preset (rounded to ints,
            `scale_widths`), e.g. 0.625 turns ResNet-20's 16/32/64 into 10/20/40. Widths
            that are multiples of 8 run at full speed in XNNPACK; odd ones do not
            (docs/results.md). Not for "cascade" (its widths are `cascade_widths`).
        cascade_widths: "cascade" only: the stages' width multipliers, cheapest first
            (default 0.5, 0.75).
        cascade_gatings: "cascade" only: each stage's gating (default all "none"); e.g.
            `("none", "lc")`: a static first stage, an LC-Net second stage.
        thresholds, confidence, ensemble: "cascade" only: see `Cascade`.
        **overrides: any `GatedResNet` argument, e.g. `channel_groups=8` (for "cascade":
            applied to every stage).

    Returns:
        A built `keras.Model`.

    Example:
        >>> model = lcnet_tf.create_model("resnet20", gating="layer")
        >>> logits = model(images)  # uint8 or float pixels, NHWC
        >>> cascade = lcnet_tf.create_model("resnet20", gating="cascade",
        ...                                 cascade_gatings=("none", "lc"))
    """
    preset = get_preset(name)
    if gating not in GATINGS:
        raise ValueError(
            f"Invalid value for `gating`: expected one of {GATINGS}. Received: gating={gating!r}"
        )
    if gating == "cascade":
        return _create_cascade(name, num_classes, width_multiplier, cascade_widths,
                               cascade_gatings, thresholds, confidence, ensemble, overrides)
    for key, value in (("cascade_widths", cascade_widths), ("cascade_gatings", cascade_gatings),
                       ("thresholds", thresholds)):
        if value is not None:
            raise ValueError(f"Invalid value for `{key}`: expected None unless "
                             f"gating='cascade'. Received: {key}={value!r}, gating={gating!r}")
    model_cls = _REGISTRY[name][0]
    if num_classes is None:
        num_classes = DATASET_CLASSES[preset["dataset"]]
    kwargs = {**preset["kwargs"], "gating": gating, "num_classes": num_classes, **overrides}
    kwargs["stage_widths"] = scale_widths(kwargs["stage_widths"], width_multiplier)
    kwargs.setdefault("name", f"{name}_{gating}")
    return model_cls(**kwargs)


def check_cascade_stages(widths, gatings):
    """`(widths, gatings)` as tuples, checked: two or more increasing widths > 0 and one
    network gating per stage."""
    expected = "two or more increasing numbers > 0, cheapest first (e.g. (0.5, 0.75))"
    if not isinstance(widths, list | tuple) or len(widths) < 2 or not all(
            isinstance(w, int | float) and not isinstance(w, bool) and w > 0 for w in widths
    ) or not all(a < b for a, b in zip(widths, widths[1:], strict=False)):
        raise ValueError(f"Invalid value for `cascade_widths`: expected {expected}. "
                         f"Received: cascade_widths={widths!r}")
    gatings = ("none",) * len(widths) if gatings is None else gatings
    if not isinstance(gatings, list | tuple) or len(gatings) != len(widths) or any(
            g not in NETWORK_GATINGS for g in gatings):
        raise ValueError(
            f"Invalid value for `cascade_gatings`: expected {len(widths)} gatings (one per "
            f"stage) from {NETWORK_GATINGS}. Received: cascade_gatings={gatings!r}")
    return tuple(float(w) for w in widths), tuple(gatings)


def _create_cascade(name, num_classes, width_multiplier, widths, gatings, thresholds,
                    confidence, ensemble, overrides):
    if width_multiplier != 1.0:
        raise ValueError("Invalid value for `width_multiplier`: expected 1.0 with "
                         "gating='cascade' (the stages' widths are `cascade_widths`). "
                         f"Received: width_multiplier={width_multiplier!r}")
    widths, gatings = check_cascade_stages(
        DEFAULT_CASCADE_WIDTHS if widths is None else widths, gatings)
    cascade_name = overrides.pop("name", f"{name}_cascade")
    stages = [create_model(name, gating=stage_gating, num_classes=num_classes,
                           width_multiplier=width, name=f"stage{index}_{name}_{stage_gating}",
                           **overrides)
              for index, (width, stage_gating) in enumerate(zip(widths, gatings, strict=True))]
    return Cascade(stages, thresholds=thresholds, confidence=confidence, ensemble=ensemble,
                   reference_flops=reference_flops(name, num_classes, **overrides),
                   name=cascade_name)


# Options of a network that change its FLOPs at width 1 and that a reference keeps; gate
# settings (channel groups, gate widths, ...) do not touch a static network.
REFERENCE_KEYS = ("stage_blocks", "stage_widths", "block_type", "stem", "stem_padding",
                  "stride_in_1x1", "shortcut", "image_size")


def reference_flops(name, num_classes=None, **overrides):
    """FLOPs of the registered static network `name` at width 1: what every budget of a model
    built from `name` is a fraction of (ResNet-20 at 32x32: 40,555,136). Of `overrides`, the
    ones that change the static network (`REFERENCE_KEYS`, e.g. `image_size`) apply."""
    kept = {key: value for key, value in overrides.items() if key in REFERENCE_KEYS}
    return int(create_model(name, gating="none", num_classes=num_classes, **kept).cost.backbone)

"""The equal-cost static reference of a dynamic model: the static network to beat."""

import lcnet_tf.flops as flops_lib
from lcnet_tf.models import create_model, get_preset, list_models

# Width multipliers tried for every preset of the dynamic model's family. Multiples of 8 channels
# (0.5, 0.75 of 16/32/64) run at full XNNPACK speed; 0.625 (10/20/40) does not (docs/results.md).
REFERENCE_WIDTHS = (0.5, 0.625, 0.75, 1.0)


def reference_candidates(model_name, num_classes=None):
    """Static networks of the family of `model_name`: `(model, width_multiplier, backbone FLOPs)`.

    The family is every registered preset with the same dataset, block type and stem
    (for CIFAR ResNets: ResNet-8, 14, 20, 32, ...) no deeper than `model_name`, at each of
    `REFERENCE_WIDTHS` (a deeper one at width <= 1 costs more than the dynamic backbone
    only at full width; deep and thin networks are slow to train and run for their FLOPs).
    """
    depth = sum(get_preset(model_name)["kwargs"]["stage_blocks"])
    preset = get_preset(model_name)
    kwargs = preset["kwargs"]
    candidates = []
    for name in list_models():
        other = get_preset(name)
        if other["dataset"] != preset["dataset"] or any(
            other["kwargs"][key] != kwargs[key] for key in ("block_type", "stem", "image_size")
        ):
            continue
        if sum(other["kwargs"]["stage_blocks"]) > depth:
            continue
        for width in REFERENCE_WIDTHS:
            model = create_model(name, gating="none", num_classes=num_classes,
                                 width_multiplier=width)
            candidates.append((name, width, flops_lib.backbone_flops(model)))
    return sorted(candidates, key=lambda item: item[2])


def closest_static_below(model_name, mean_flops, num_classes=None):
    """The costliest static candidate whose FLOPs do not exceed `mean_flops`.

    Returns:
        `(model, width_multiplier, backbone_flops)`, or the cheapest candidate when
        every candidate costs more than `mean_flops`.

    Example:
        >>> closest_static_below("resnet20", 0.45 * 40.6e6)   # ("resnet20", 0.625, 15.9e6)
    """
    candidates = reference_candidates(model_name, num_classes)
    below = [item for item in candidates if item[2] <= mean_flops]
    return below[-1] if below else candidates[0]

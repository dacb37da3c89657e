"""What `run_training` does for `gating="cascade"`, as plain functions of a config and models.

Each stage is `config.model` at one of `config.cascade_widths`, trained as a static network
(`gating="none"`) for `static_epochs + epochs` epochs, the same total a gated run gets, in
`<workdir>/stage<i>/` (a run of its own, resumable like any). `run_training` trains them and
calibrates and reports the cascade with the one `calibrate` and `report` every dynamic model
uses; this module says what the stages are (`stage_configs`), assembles the `Cascade`
(`assemble_cascade`) and places it against the static frontier its own stages draw
(`stage_frontier`): the stages are static networks trained with one recipe and schedule, so
the line between them is the frontier there unless another static point is known above it.
"""

from lcnet_tf.models import Cascade, reference_flops
from lcnet_tf.pareto import frontier_accuracy, static_frontier

STAGE_DIR = "stage{index}"


def stage_configs(config):
    """The static `TrainConfig` of each stage (cheapest first): the whole schedule each."""
    epochs = config.static_epochs + config.epochs
    return [config.replace(gating="none", width_multiplier=width, static_epochs=epochs,
                           epochs=0, init_from=None, static_reference=False, layer_drop=0.0)
            for width in config.cascade_widths]


def assemble_cascade(config, stages, reference=None):
    """The `Cascade` of trained `stages` with `config`'s rule; budgets are fractions of
    `reference` FLOPs (default: `config.model` at width 1, as for every model)."""
    if reference is None:
        reference = reference_flops(config.model, stages[0].num_classes,
                                    **(config.model_overrides or {}))
    return Cascade(list(stages), confidence=config.cascade_confidence,
                   reference_flops=reference, name=f"{config.model}_cascade")


def stage_frontier(stage_records, mean_flops, test_accuracy):
    """The cascade against the static frontier of its own stages at its mean FLOPs.

    Args:
        stage_records: per stage, `{"flops", "test_accuracy", ...}` (static networks trained
            with the cascade's recipe and schedule).
        mean_flops: the cascade's realized mean FLOPs per image.
        test_accuracy: the cascade's test accuracy.

    Returns:
        `{points, accuracy_at_mean_flops, margin}`; the last two are None outside the
        stages' FLOPs range (never extrapolated).
    """
    points = [{"name": record.get("name", f"stage{index}"), "mflops": record["flops"] / 1e6,
               "test_accuracy": record["test_accuracy"]}
              for index, record in enumerate(stage_records)]
    frontier = static_frontier(points)
    at_cost = frontier_accuracy(frontier, mean_flops / 1e6)
    return {"points": points, "accuracy_at_mean_flops": at_cost,
            "margin": None if at_cost is None else float(test_accuracy - at_cost)}

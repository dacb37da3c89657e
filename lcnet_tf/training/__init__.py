"""Training to a FLOPs budget: configs, the whole procedure, calibration, reports, strategies."""

from lcnet_tf.training.calibration import (
    budget_table,
    calibrate,
    calibrate_budget,
    check_budget,
    flops_ratio_range,
    mean_flops_ratio,
    recalibrate_batch_norm,
    set_decision_offset,
)
from lcnet_tf.training.config import STRATEGIES, TRAIN_PRESETS, TrainConfig, get_train_config
from lcnet_tf.training.distribute import make_strategy, worker_info
from lcnet_tf.training.procedure import (
    check_resumable,
    choose_channel_keep,
    format_results,
    run_training,
    transfer_backbone_weights,
)
from lcnet_tf.training.report import gate_report, plot_gate_report, report, report_to_json

__all__ = [
    "STRATEGIES",
    "TRAIN_PRESETS",
    "TrainConfig",
    "budget_table",
    "calibrate",
    "calibrate_budget",
    "check_budget",
    "check_resumable",
    "choose_channel_keep",
    "flops_ratio_range",
    "format_results",
    "gate_report",
    "get_train_config",
    "make_strategy",
    "mean_flops_ratio",
    "plot_gate_report",
    "recalibrate_batch_norm",
    "report",
    "report_to_json",
    "run_training",
    "set_decision_offset",
    "transfer_backbone_weights",
    "worker_info",
]

"""Trains an LC-Net ResNet on CIFAR to a FLOPs budget (also installed as `lcnet-train-cifar`).

    python -m train.cifar --budget 0.4
    python -m train.cifar --budget 0.5 --dataset ../shared/data/cifar10_jpeg --workdir runs/b05
    python -m train.cifar --preset paper --budget 0.5   # ResNet-110, full schedule

Trains (or loads with --init_from) the static backbone, then the gated model to the budget,
calibrates the decision threshold, evaluates on the test split and writes model.keras,
config.json, metrics.json, CSV/TensorBoard logs and gate_report.png into --workdir.
Re-running the same command after an interruption resumes. Code: `lcnet_tf.cli.train`.
"""

from absl import flags

from lcnet_tf.cli import train

# `--help` lists the shared flags (every TrainConfig field) as this module's own.
flags.adopt_module_key_flags(train)

if __name__ == "__main__":
    train.cifar()

"""Trains a dynamic ResNet on CIFAR to a FLOPs budget (also installed as `lcnet-train-cifar`).

    python -m train.cifar --budget 0.4 --dataset ../shared/data/cifar10_jpeg   # preset cpu
    python -m train.cifar --preset cpu_lc --budget 0.5 --workdir runs/lc_b05   # LC-Net
    python -m train.cifar --preset paper --budget 0.5   # LC-Net ResNet-110, full schedule

`--budget` is the mean FLOPs per image as a fraction of `--model` at width 1 (ResNet-20:
40.6 MFLOPs), whatever the preset; a budget the preset cannot reach is refused in one line
naming the range. The default preset `cpu` trains the configuration measured best at that
cost: a cascade of ResNet-20 x0.5 and x0.75 (static stages), calibrated to the budget.
`cpu_lc` trains an LC-Net (block and channel gates) with the best measured LC recipe.
Writes model.keras, config.json, metrics.json (realized mean FLOPs, the reference network and
its FLOPs, the ratio, per-decision rates), CSV/TensorBoard logs and gate_report.png into
--workdir; re-running the same command after an interruption resumes.
Code: `lcnet_tf.cli.train`.
"""

from absl import flags

from lcnet_tf.cli import train

# `--help` lists the shared flags (every TrainConfig field) as this module's own.
flags.adopt_module_key_flags(train)

if __name__ == "__main__":
    train.cifar()

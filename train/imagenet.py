"""Trains an LC-Net ResNet on ImageNet (TFDS imagenet2012, manual download) to a FLOPs budget.

    python -m train.imagenet --budget 0.5                       # ResNet-50, 224x224
    python -m train.imagenet --model resnet18 --budget 0.6 --strategy mirrored

TFDS needs the ImageNet archives in its manual directory (see the TFDS imagenet2012 page), or
pass --dataset with a prepared TFDS directory. Same procedure and outputs as train.cifar.
"""

from absl import app, flags

from train import common

# `--help` lists the shared flags (every TrainConfig field) as this module's own.
flags.adopt_module_key_flags(common)


def main(argv):
    if len(argv) > 1:
        common.fail(f"unexpected arguments: {argv[1:]}")
    common.main(default_preset="imagenet")


if __name__ == "__main__":
    app.run(main)

"""Trains a gated ImageNet ResNet (also installed as `lcnet-train-imagenet`).

    python -m train.imagenet --model resnet50 --dataset imagenet2012 --budget 0.6

Code: `lcnet_tf.cli.train`.
"""

from absl import flags

from lcnet_tf.cli import train

# `--help` lists the shared flags (every TrainConfig field) as this module's own.
flags.adopt_module_key_flags(train)

if __name__ == "__main__":
    train.imagenet()

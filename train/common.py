"""Flags shared by the training CLIs, their validation, and the one library call."""

import os
import sys
import tempfile

from absl import flags

FLAGS = flags.FLAGS

flags.DEFINE_string("preset", None, "Training preset (lcnet_tf.training.TRAIN_PRESETS).")
flags.DEFINE_float("budget", None, "Target mean FLOPs ratio, 0 < budget <= 1.")
flags.DEFINE_string("model", None, "Registered model name, e.g. resnet20, resnet110, resnet50.")
flags.DEFINE_string("gating", None, "none | layer | channel | lc.")
flags.DEFINE_integer("epochs", None, "Epochs of gated training (phase 2).")
flags.DEFINE_integer("static_epochs", None, "Epochs of static backbone training (phase 1).")
flags.DEFINE_integer("steps_per_epoch", None, "Steps per epoch (default: one pass).")
flags.DEFINE_integer("batch_size", None, "Global batch size.")
flags.DEFINE_string("dataset", None, "TFDS name or prepared TFDS directory.")
flags.DEFINE_string("workdir", None, "Output directory (default runs/<model>_<gating>_b<budget>).")
flags.DEFINE_integer("seed", None, "Random seed.")
flags.DEFINE_string("init_from", None, "Saved model (.keras) whose backbone starts phase 2.")
flags.DEFINE_string("strategy", None, "default | mirrored | multi_worker | tpu.")
flags.DEFINE_string("tpu", None, "TPU address for --strategy=tpu.")
flags.DEFINE_float("lr", None, "Peak learning rate of gated training.")
flags.DEFINE_float("static_lr", None, "Peak learning rate of static training.")
flags.DEFINE_float("channel_keep", None, "C-Net fraction of channel groups kept per image.")
flags.DEFINE_bool("gate_downsampling", None,
                  "Gate the blocks that change shape too (--nogate_downsampling: always run them).")
flags.DEFINE_integer("image_size", None, "Input size (ImageNet-style data).")
flags.DEFINE_integer("calibration_images", None, "Training images for budget calibration.")
flags.DEFINE_integer("eval_batch_size", None, "Batch size for evaluation and calibration.")
flags.DEFINE_integer("train_examples", None, "Use only the first N training examples.")
flags.DEFINE_integer("test_examples", None, "Use only the first N test examples.")
flags.DEFINE_integer("verbose", 2, "Keras fit verbosity (0, 1, 2).")

CONFIG_FLAGS = (
    "budget", "model", "gating", "epochs", "static_epochs", "steps_per_epoch", "batch_size",
    "dataset", "seed", "init_from", "strategy", "tpu", "lr", "static_lr", "channel_keep",
    "gate_downsampling", "image_size", "calibration_images", "eval_batch_size", "train_examples",
    "test_examples",
)


def fail(message):
    """Prints one line to stderr and exits with status 2."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def _check_workdir(workdir):
    try:
        os.makedirs(workdir, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=workdir, prefix=".write_check"):
            pass
    except OSError as error:
        fail(f"Invalid value for --workdir: cannot write to {workdir!r} "
             f"({type(error).__name__}: {error.strerror or error}).")


def _check_cheap_flags():
    """Checks that need no TensorFlow, before importing it."""
    if FLAGS.budget is not None and not 0.0 < FLAGS.budget <= 1.0:
        fail(f"Invalid value for --budget: expected 0 < budget <= 1. Received: {FLAGS.budget}")
    for name in ("epochs", "static_epochs"):
        value = getattr(FLAGS, name)
        if value is not None and value < 0:
            fail(f"Invalid value for --{name}: expected an int >= 0. Received: {value}")
    for name in ("steps_per_epoch", "batch_size"):
        value = getattr(FLAGS, name)
        if value is not None and value <= 0:
            fail(f"Invalid value for --{name}: expected a positive int. Received: {value}")
    if FLAGS.init_from is not None and not os.path.exists(FLAGS.init_from):
        fail(f"Invalid value for --init_from: no such file {FLAGS.init_from!r}.")


def main(default_preset):
    """Flags -> TrainConfig -> `run_training`, then prints the result table."""
    _check_cheap_flags()
    from lcnet_tf import training
    from lcnet_tf.models import list_models

    preset = FLAGS.preset or default_preset
    if preset not in training.TRAIN_PRESETS:
        fail(f"Invalid value for --preset: expected one of {list(training.TRAIN_PRESETS)}. "
             f"Received: {preset!r}")
    if FLAGS.model is not None and FLAGS.model not in list_models():
        fail(f"Invalid value for --model: expected one of {list_models()}. "
             f"Received: {FLAGS.model!r}")
    overrides = {name: getattr(FLAGS, name) for name in CONFIG_FLAGS}
    try:
        config = training.get_train_config(preset, **overrides)
    except ValueError as error:
        message = str(error)
        for name in CONFIG_FLAGS:  # "Invalid value for `x`" -> "Invalid value for --x".
            message = message.replace(f"`{name}`", f"--{name}")
        fail(message.splitlines()[0])
    workdir = FLAGS.workdir or os.path.join(
        "runs", f"{config.model}_{config.gating}_b{config.budget:g}"
    )
    _check_workdir(workdir)
    try:
        training.check_resumable(workdir, config)
    except ValueError as error:
        fail(str(error).replace("`workdir`", "--workdir"))
    # The strategy first: multi-worker collectives must be set up before other TF work.
    try:
        strategy = training.make_strategy(config.strategy, tpu=config.tpu)
    except (ValueError, RuntimeError) as error:
        fail(f"Invalid value for --strategy={config.strategy!r}: {str(error).splitlines()[0]}")
    from lcnet_tf import data

    try:
        data.resolve_dataset(config.dataset)
    except data.DatasetError as error:
        fail(str(error).replace("`dataset`", "--dataset").splitlines()[0])
    print(f"config ({preset}): {config}\nworkdir: {workdir}", flush=True)
    metrics = training.run_training(config, workdir, strategy=strategy, verbose=FLAGS.verbose)
    print(training.format_results(metrics))
    print(f"outputs: {workdir}")

"""The training CLIs: flags generated from `TrainConfig`, then the one library call.

    lcnet-train-cifar --budget 0.4 --dataset ../shared/data/cifar10_jpeg  # python -m train.cifar
    lcnet-train-imagenet --model resnet50 ...                       # python -m train.imagenet


Every `TrainConfig` field is a flag of the same name, type and help (its docstring line), with
no default of its own: a flag left unset keeps the preset's value. Validation lives in
`TrainConfig` alone; its messages are shown with `--flag` for `` `field` ``.
"""

import dataclasses
import os
import sys
import tempfile
import types

from absl import app, flags

import lcnet_tf.data as data
import lcnet_tf.training as training
from lcnet_tf.training.config import TrainConfig, field_help

FLAGS = flags.FLAGS

flags.DEFINE_string("preset", None, "Training preset (lcnet_tf.training.TRAIN_PRESETS).")
flags.DEFINE_string("workdir", None, "Output directory (default runs/<model>_<gating>_b<budget>).")
flags.DEFINE_integer("verbose", 2, "Keras fit verbosity (0, 1, 2).")


def _flag_type(annotation):
    """The flag kind of a field annotation: int, float, bool or str (None allowed alike)."""
    options = annotation.__args__ if isinstance(annotation, types.UnionType) else (annotation,)
    options = [option for option in options if option is not type(None)]
    if len(options) == 1 and options[0] in (int, float, bool, str):
        return options[0]
    return str  # e.g. `str | bool` (jit_compile): parsed by `_parse_text`.


def _parse_text(value):
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return value


_DEFINE = {int: flags.DEFINE_integer, float: flags.DEFINE_float, bool: flags.DEFINE_bool,
           str: flags.DEFINE_string}
_HELP = field_help()
CONFIG_FLAGS = tuple(field.name for field in dataclasses.fields(TrainConfig))
for _field in dataclasses.fields(TrainConfig):
    _DEFINE[_flag_type(_field.type)](
        _field.name, None, f"{_HELP.get(_field.name, '')} (TrainConfig.{_field.name})"
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


def config_overrides():
    """The `TrainConfig` fields given on the command line, parsed."""
    overrides = {}
    for field in dataclasses.fields(TrainConfig):
        value = getattr(FLAGS, field.name)
        if value is not None and _flag_type(field.type) is str and field.type is not str:
            value = _parse_text(value)
        overrides[field.name] = value
    return overrides


def main(default_preset):
    """Flags -> TrainConfig -> `run_training`, then prints the result table."""
    preset = FLAGS.preset or default_preset
    if preset not in training.TRAIN_PRESETS:
        fail(f"Invalid value for --preset: expected one of {list(training.TRAIN_PRESETS)}. "
             f"Received: {preset!r}")
    # The strategy first: multi-worker collectives must be set up before any other TensorFlow
    # work, and checking a config's budget builds its model.
    strategy_name = FLAGS.strategy or training.TRAIN_PRESETS[preset].strategy
    try:
        strategy = training.make_strategy(strategy_name,
                                          tpu=FLAGS.tpu or training.TRAIN_PRESETS[preset].tpu)
    except (ValueError, RuntimeError) as error:
        fail(f"Invalid value for --strategy={strategy_name!r}: {str(error).splitlines()[0]}")
    try:
        config = training.get_train_config(preset, **config_overrides())
    except ValueError as error:
        message = str(error)
        for name in CONFIG_FLAGS:  # "Invalid value for `x`" -> "Invalid value for --x".
            message = message.replace(f"`{name}`", f"--{name}")
        fail(message.splitlines()[0])
    if config.init_from is not None and not config.init_from.startswith("keras_applications:") and (
        not os.path.exists(config.init_from)
    ):
        fail(f"Invalid value for --init_from: no such file {config.init_from!r} (a saved "
             "model, or keras_applications:<name>[:<weights file>]).")
    workdir = FLAGS.workdir or os.path.join(
        "runs", f"{config.model}_{config.gating}_b{config.budget:g}"
    )
    _check_workdir(workdir)
    try:
        training.check_resumable(workdir, config)
    except ValueError as error:
        fail(str(error).replace("`workdir`", "--workdir"))
    try:
        data.resolve_dataset(config.dataset)
    except data.DatasetError as error:
        fail(str(error).replace("`dataset`", "--dataset").splitlines()[0])
    print(f"config ({preset}): {config}\nworkdir: {workdir}", flush=True)
    metrics = training.run_training(config, workdir, strategy=strategy, verbose=FLAGS.verbose)
    print(training.format_results(metrics))
    print(f"outputs: {workdir}")


def _entry(default_preset):
    def main_fn(argv):
        if len(argv) > 1:
            fail(f"unexpected arguments: {argv[1:]}")
        main(default_preset=default_preset)

    return main_fn


def cifar():
    """`lcnet-train-cifar`: a dynamic ResNet on CIFAR to a FLOPs budget (preset `cpu`: the
    x0.5/x0.75 cascade; `cpu_lc`: LC-Net)."""
    app.run(_entry("cpu"))


def imagenet():
    """`lcnet-train-imagenet`: gated ImageNet ResNets (preset `imagenet`)."""
    app.run(_entry("imagenet"))

"""The training CLIs as users run them: subprocesses, synthetic TFDS data, a few steps."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
TINY = ["--batch_size", "16", "--steps_per_epoch", "2", "--eval_batch_size", "16",
        "--calibration_images", "32", "--verbose", "0"]


def run_cli(module, *args, env=ENV, timeout=600):
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args, flag", [
    (["--budget", "1.7"], "--budget"),
    (["--budget", "0"], "--budget"),
    (["--preset", "cpu_lc", "--budget", "0.05"], "--budget"),
    (["--model", "resnet999"], "--model"),
    (["--workdir", "/proc/forbidden/run"], "--workdir"),
    (["--model_overrides", "gate_hiden=8"], "--model_overrides"),
    # cpu_lc preset: self-distillation 0.7, which excludes distillation from a parent.
    (["--preset", "cpu_lc", "--distill_weight", "0.5"], "--self_distill_weight"),
    (["--preset", "cpu_lc", "--width_multiplier", "0.5"], "--width_multiplier"),
    (["--gating", "cascade", "--cascade_widths", "0.75,0.5"], "--cascade_widths"),
    (["--gating", "cascade", "--cascade_confidence", "entropy"], "--cascade_confidence"),
])
def test_bad_flags_exit_nonzero_naming_the_flag(args, flag, tmp_path):
    result = run_cli("train.cifar", *args, "--dataset", str(tmp_path / "never_read"))
    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("error: Invalid value for " + flag), result.stderr[-2000:]


def test_help_lists_every_train_config_field():
    import dataclasses

    from lcnet_tf.training import TrainConfig

    result = run_cli("train.cifar", "--helpfull")  # absl exits 1 after printing help
    assert "TrainConfig.model_overrides" in result.stdout, result.stderr[-2000:]
    for field in dataclasses.fields(TrainConfig):
        assert f"--{field.name}:" in result.stdout or f"--[no]{field.name}:" in result.stdout, (
            field.name)


def test_missing_dataset_is_one_clear_error(tmp_path):
    result = run_cli("train.cifar", "--dataset", str(tmp_path / "missing"),
                     "--workdir", str(tmp_path / "run"))
    assert result.returncode != 0
    assert "Invalid value for --dataset" in result.stderr.strip().splitlines()[-1]


def test_an_unreachable_budget_is_one_line_and_writes_nothing(tmp_path):
    workdir = tmp_path / "run"
    result = run_cli("train.cifar", "--budget", "0.1", "--dataset", str(tmp_path / "unread"),
                     "--workdir", str(workdir))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("error: Invalid value for --budget: expected a number in "
                              "[0.253, 0.817]"), result.stderr[-2000:]
    assert "resnet20 at width 1: 40,555,136 FLOPs" in message and "budget=0.1" in message
    assert not workdir.exists()


@pytest.mark.slow
def test_the_specified_command_meets_the_budget_in_resnet20_flops(tmp_path):
    """`python -m train.cifar --budget 0.4` (default preset, tiny schedule): the cascade's
    realized mean FLOPs on the test images is 0.4 of ResNet-20's."""
    from lcnet_tf.data import make_synthetic_tfds_dir

    dataset = make_synthetic_tfds_dir(tmp_path / "data", num_train=1000, num_test=1000)
    workdir = tmp_path / "run"
    # 30 steps: enough for BatchNorm's moving statistics to settle, so that the stages'
    # confidences are not all saturated (ties no threshold can split).
    result = run_cli("train.cifar", "--budget", "0.4", "--dataset", dataset, "--workdir",
                     str(workdir), "--static_epochs", "1", "--batch_size", "32",
                     "--steps_per_epoch", "30", "--eval_batch_size", "250",
                     "--calibration_images", "1000", "--verbose", "0")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert metrics["gating"] == "cascade" and metrics["reference_flops"] == 40_555_136
    assert metrics["reference_model"].startswith("resnet20")
    assert abs(metrics["mean_flops"] - 0.4 * 40_555_136) <= 0.02 * 40_555_136
    assert metrics["flops_ratio"] == metrics["mean_flops"] / 40_555_136
    assert "static frontier at that cost" in result.stdout


@pytest.mark.slow
def test_cifar_cli_end_to_end(synthetic_dataset, tmp_path):
    workdir = tmp_path / "run"
    result = run_cli("train.cifar", "--preset", "cpu_lc", "--budget", "0.5", "--dataset",
                     synthetic_dataset, "--workdir", str(workdir), "--static_epochs", "1",
                     "--epochs", "1", "--gate_downsampling", "--static_reference",
                     "--bn_recalibration_images", "32", *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((workdir / "config.json").read_text())["gate_downsampling"] is True
    assert "realized FLOPs ratio" in result.stdout
    assert "execution rate per decision" in result.stdout
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert metrics["budget"] == 0.5
    assert abs(metrics["calibration"]["flops_ratio"] - 0.5) <= 0.02
    assert metrics["static_test_accuracy"] is not None
    # The cpu_lc preset trains the equal-cost static reference for the same 2 epochs.
    reference = metrics["static_reference"]
    assert reference["epochs"] == 2 and 0 < reference["flops_ratio"] <= metrics["flops_ratio"]
    assert (workdir / "static_reference" / "model.keras").exists()
    assert "equal-cost static reference" in result.stdout
    for name in ("model.keras", "static.keras", "config.json", "gate_report.png",
                 "gated_log.csv", "static_log.csv"):
        assert (workdir / name).exists(), name


@pytest.mark.slow
def test_imagenet_cli_on_tiny_synthetic_data(tmp_path):
    from lcnet_tf.data import make_synthetic_tfds_dir

    dataset = make_synthetic_tfds_dir(tmp_path / "imagenet_like", num_train=16, num_test=8,
                                      image_size=72)
    workdir = tmp_path / "run"
    result = run_cli("train.imagenet", "--model", "resnet18", "--gating", "layer",
                     "--image_size", "64", "--dataset", dataset, "--workdir", str(workdir),
                     "--static_epochs", "0", "--epochs", "1", "--batch_size", "4",
                     "--steps_per_epoch", "2", "--eval_batch_size", "8",
                     "--calibration_images", "16", "--budget", "0.6", "--verbose", "0")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert metrics["model"] == "resnet18" and len(metrics["decision_rates"]) == 8
    assert json.loads((workdir / "config.json").read_text())["image_size"] == 64


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_workers_on_loopback_end_with_the_same_weights(synthetic_dataset, tmp_path):
    import keras

    workers = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    workdir = tmp_path / "run"
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "train.cifar", "--preset", "cpu_lc", "--strategy",
             "multi_worker", "--dataset", synthetic_dataset, "--workdir", str(workdir),
             "--model", "resnet8",
             "--static_epochs", "1", "--epochs", "1", *TINY],
            cwd=REPO, env={**ENV, "TF_CONFIG": json.dumps(tf_config)},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    outputs = [process.communicate(timeout=600) for process in processes]
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr[-3000:]
    for name in ("static.keras", "gated_trained.keras"):
        chief = keras.saving.load_model(workdir / name)
        other = keras.saving.load_model(workdir / "worker1" / name)
        assert int(chief.optimizer.iterations) == int(other.optimizer.iterations) == 2
        # Trainable weights are all-reduced; BN moving statistics are per worker (Keras
        # BatchNormalization is not synchronized), so they are not compared.
        for mine, theirs in zip(chief.trainable_weights, other.trainable_weights, strict=True):
            np.testing.assert_allclose(mine.numpy(), theirs.numpy(), atol=1e-6,
                                       err_msg=f"{name}: {mine.path}")
    # The gated phase started from the static backbone (its weights copied) and moved every
    # one of them, by far more than the tolerance of the match above.
    static = keras.saving.load_model(workdir / "static.keras", compile=False)
    start = {v.path.split("/", 1)[1]: v.numpy() for v in static.trainable_weights}
    moved = {v.path: float(np.abs(v.numpy() - start[v.path.split("/", 1)[1]]).max())
             for v in chief.trainable_weights if v.path.split("/", 1)[1] in start}
    assert len(moved) == len(start), sorted(set(start) - {p.split("/", 1)[1] for p in moved})
    assert min(moved.values()) > 1e-4, sorted(moved.items(), key=lambda item: item[1])[:5]

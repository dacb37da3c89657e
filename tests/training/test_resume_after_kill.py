"""run_training killed with SIGKILL in a subprocess (no clean-up runs) and resumed.

A driver process trains a tiny config; a callback (or a wrapped `save_weights`) reaches the
chosen point, writes a marker file and waits; the test then kills the process with SIGKILL,
so the workdir is left exactly as a crash or an out-of-memory kill leaves it.
"""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import pytest

from lcnet_tf.training import get_train_config, run_training

REPO = Path(__file__).resolve().parents[2]
STEPS = 2
STATIC_EPOCHS, GATED_EPOCHS = 2, 3

# Runs `run_training` on a config given as JSON; `hold` says where to stop and wait for the kill:
# {"phase", "epoch", "batch"} after that training batch, or {"phase", "checkpoint"} inside the
# n-th BackupAndRestore checkpoint write of the phase, after half of the weights file is written.
DRIVER = r"""
import json, os, sys, time
import keras
from lcnet_tf.training import get_train_config, run_training

spec = json.loads(sys.argv[1])
hold, marker = spec.get("hold"), spec.get("marker")

def phase_of(model):
    return "static" if model.gating == "none" else "gated"

def wait_for_the_kill():
    with open(marker, "w") as handle:
        handle.write(str(os.getpid()))
    time.sleep(600)
    sys.exit("not killed")

class Hold(keras.callbacks.Callback):
    epoch = None
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_train_batch_end(self, batch, logs=None):
        if (hold and "batch" in hold and phase_of(self.model) == hold["phase"]
                and (self.epoch, batch) == (hold["epoch"], hold["batch"])):
            wait_for_the_kill()

if hold and "checkpoint" in hold:
    save_weights, writes = keras.Model.save_weights, []
    def partial_save_weights(self, filepath, *args, **kwargs):
        save_weights(self, filepath, *args, **kwargs)
        if f"backup{os.sep}{hold['phase']}" in str(filepath):
            writes.append(filepath)
            if len(writes) == hold["checkpoint"] + 1:
                size = os.path.getsize(filepath)
                with open(filepath, "r+b") as handle:
                    handle.truncate(size // 2)
                wait_for_the_kill()
    keras.Model.save_weights = partial_save_weights

config = get_train_config("cpu_lc", **spec["config"])
run_training(config, spec["workdir"], callbacks=[Hold()], verbose=0)
"""


def start(config, workdir, hold=None, marker=None):
    spec = {"config": config, "workdir": str(workdir), "hold": hold,
            "marker": str(marker) if marker else None}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", DRIVER, json.dumps(spec)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def run_until_killed(config, workdir, hold, tmp_path, timeout=300):
    """Starts a run, waits until it holds at `hold`, kills it with SIGKILL."""
    marker = tmp_path / f"holding_{hold['phase']}"
    process = start(config, workdir, hold, marker)
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if process.poll() is not None:
            pytest.fail(f"run ended before {hold}: {process.stderr.read()[-3000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"run did not reach {hold} within {timeout} s")
        time.sleep(0.1)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    marker.unlink()


def epochs_logged(path):
    with open(path) as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle)]


def backup_epoch(workdir, phase):
    return json.loads((workdir / "backup" / phase / "training_metadata.json").read_text())["epoch"]


@pytest.mark.slow
def test_sigkill_in_the_static_phase_and_in_a_gated_checkpoint_write_then_resume(
        synthetic_dataset, tmp_path):
    config = {"dataset": synthetic_dataset, "model": "resnet8", "batch_size": 16,
              "static_epochs": STATIC_EPOCHS, "epochs": GATED_EPOCHS,
              "steps_per_epoch": STEPS, "calibration_images": 32, "eval_batch_size": 16,
              "jit_compile": False, "static_reference": False, "budget": 0.5}
    workdir = tmp_path / "run"

    # 1. Killed in the static phase, in its second epoch (the first is checkpointed).
    run_until_killed(config, workdir, {"phase": "static", "epoch": 1, "batch": 0}, tmp_path)
    assert not (workdir / "static.keras").exists()
    assert epochs_logged(workdir / "static_log.csv") == [0]
    assert backup_epoch(workdir, "static") == 1

    # 2. Resumed: the static phase finishes its second epoch only, the gated phase checkpoints
    # its first epoch and is killed while writing the checkpoint of its second (the weights
    # file is half written; the previous one was kept aside by double_checkpoint).
    run_until_killed(config, workdir, {"phase": "gated", "checkpoint": 1}, tmp_path)
    assert epochs_logged(workdir / "static_log.csv") == [0, 1]
    static = keras.saving.load_model(workdir / "static.keras")
    assert int(static.optimizer.iterations) == STATIC_EPOCHS * STEPS  # each step once
    static_mtime = (workdir / "static.keras").stat().st_mtime
    assert not (workdir / "backup" / "static").exists()
    assert epochs_logged(workdir / "gated_log.csv") == [0]
    assert not (workdir / "gated_trained.keras").exists()
    backup = workdir / "backup" / "gated"
    weights = backup / "latest.weights.h5"
    assert weights.stat().st_size < Path(f"{weights}.bkp").stat().st_size  # the torn write

    # 3. Resumed again: the gated phase restarts from the last complete checkpoint (epoch 1)
    # and the run finishes; the static phase is not redone.
    process = start(config, workdir)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]
    assert (workdir / "static.keras").stat().st_mtime == static_mtime
    assert epochs_logged(workdir / "static_log.csv") == [0, 1]
    assert epochs_logged(workdir / "gated_log.csv") == [0, 1, 2]
    assert not (workdir / "backup" / "gated").exists()
    gated = keras.saving.load_model(workdir / "gated_trained.keras")
    # Every step was counted once (the LR schedule continued across the kills).
    assert int(gated.optimizer.iterations) == GATED_EPOCHS * STEPS
    final = keras.saving.load_model(workdir / "model.keras", compile=False)
    assert [v.path for v in final.weights] == [v.path for v in gated.weights]
    for name in ("config.json", "metrics.json", "gate_report.png", "per_image_flops.npy"):
        assert (workdir / name).exists(), name
    assert list((workdir / "tensorboard" / "gated").rglob("*tfevents*"))
    metrics = json.loads((workdir / "metrics.json").read_text())
    for key in ("test_accuracy", "flops_ratio", "mean_flops", "reference_flops", "budget",
                "decision_rates", "calibration"):
        assert key in metrics, key
    assert json.loads((workdir / "config.json").read_text())["epochs"] == GATED_EPOCHS
    assert metrics["budget"] == 0.5 and 0 < metrics["flops_ratio"] <= 1
    assert metrics["phases"]["static"]["epochs"] == STATIC_EPOCHS
    assert metrics["static_test_accuracy"] is not None
    # A further call finds the finished run and returns its metrics without training.
    assert run_training(get_train_config("cpu_lc", **config), workdir, verbose=0) == metrics


@pytest.mark.slow
def test_sigkill_during_the_first_checkpoint_write_then_resume(synthetic_dataset, tmp_path):
    config = {"dataset": synthetic_dataset, "model": "resnet8", "batch_size": 16,
              "static_epochs": 1, "epochs": 1, "steps_per_epoch": 1, "calibration_images": 0,
              "eval_batch_size": 16, "jit_compile": False, "static_reference": False}
    workdir = tmp_path / "run"
    run_until_killed(config, workdir, {"phase": "static", "checkpoint": 0}, tmp_path)
    assert sorted(path.name for path in (workdir / "backup" / "static").iterdir()) == [
        "latest.weights.h5"]  # torn, and nothing to fall back on
    run_training(get_train_config("cpu_lc", **config), workdir, verbose=0)
    assert (workdir / "model.keras").exists()

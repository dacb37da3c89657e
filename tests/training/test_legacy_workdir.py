"""Models and workdirs saved by earlier versions (fixture: tests/fixtures/session5_workdir,
written by the session-5 code, commit 2b00701) still load, compute the same and resume."""

import csv
import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

import lcnet_tf
from lcnet_tf.training import TrainConfig, check_resumable, run_training

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "session5_workdir"


def test_saved_model_loads_and_computes_what_it_computed():
    expected = np.load(FIXTURE / "expected.npz")
    model = keras.saving.load_model(FIXTURE / "model.keras", compile=False)
    offsets = [float(g.decision_offset.numpy())
               for g in lcnet_tf.training.calibration.block_gates(model)]
    assert offsets and all(abs(o) > 0.1 for o in offsets)  # calibrated offsets survived
    logits, info = model(expected["images"], training=False, return_gate_info=True)
    np.testing.assert_allclose(np.asarray(logits), expected["logits"], atol=1e-5)
    np.testing.assert_array_equal(np.asarray(info["gate"]), expected["gate"])
    np.testing.assert_array_equal(np.asarray(info["realized_flops"]), expected["realized_flops"])
    single = np.concatenate([np.asarray(model(expected["images"][i:i + 1], deployment=True))
                             for i in range(len(expected["images"]))])
    np.testing.assert_allclose(single, expected["single_logits"], atol=1e-5)


def _legacy_config(dataset):
    saved = json.loads((FIXTURE / "config.json").read_text())
    assert "model_overrides" not in saved and "self_distill_weight" not in saved  # older fields
    return TrainConfig(**{**saved, "dataset": dataset})


@pytest.mark.slow
def test_legacy_workdir_resumes_from_its_static_phase(synthetic_dataset, tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    for name in ("static.keras", "static_log.csv", "phases.json"):
        shutil.copy(FIXTURE / name, workdir / name)
    saved = json.loads((FIXTURE / "config.json").read_text())
    (workdir / "config.json").write_text(json.dumps({**saved, "dataset": synthetic_dataset}))
    config = _legacy_config(synthetic_dataset)
    check_resumable(workdir, config)  # settings added since default to what the run used
    metrics = run_training(config, workdir, verbose=0)
    with open(workdir / "static_log.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 1  # the static phase was not redone
    assert (workdir / "gated_trained.keras").exists() and (workdir / "model.keras").exists()
    assert abs(metrics["calibration"]["flops_ratio"] - config.budget) <= 0.05

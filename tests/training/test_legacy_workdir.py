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


def test_a_legacy_gated_run_at_another_width_is_refused_naming_the_setting(tmp_path):
    """The fixture is an LC-Net at width 0.5 whose budget was a fraction of its own backbone.
    Budgets are now fractions of the model at width 1, and a gated network trains at width 1
    only, so resuming it would give its budget another meaning: refused, in one message."""
    saved = json.loads((FIXTURE / "config.json").read_text())
    assert saved["gating"] == "lc" and saved["width_multiplier"] == 0.5
    with pytest.raises(ValueError, match=r"`width_multiplier`: expected 1 with gating='lc' "
                                         r"\(budgets are fractions of the model at width 1"):
        TrainConfig(**{**saved, "dataset": str(tmp_path)})


@pytest.mark.slow
def test_legacy_workdir_resumes_from_its_static_phase(synthetic_dataset, tmp_path):
    """A legacy workdir's static phase is reused by a run of today's settings (width 1 here:
    the fixture's static network is rebuilt at width 1 by a fresh static phase otherwise)."""
    saved = json.loads((FIXTURE / "config.json").read_text())
    legacy = {**saved, "dataset": synthetic_dataset, "gating": "none"}
    workdir = tmp_path / "run"
    workdir.mkdir()
    for name in ("static.keras", "static_log.csv", "phases.json"):
        shutil.copy(FIXTURE / name, workdir / name)
    (workdir / "config.json").write_text(json.dumps(legacy))
    config = TrainConfig(**legacy)
    check_resumable(workdir, config)  # settings added since default to what the run used
    metrics = run_training(config, workdir, verbose=0)
    with open(workdir / "static_log.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 1  # the static phase was not redone
    assert (workdir / "model.keras").exists() and metrics["gating"] == "none"


def test_metrics_written_before_decision_units_still_print():
    metrics = json.loads((FIXTURE / "metrics.json").read_text())
    assert "decision_names" not in metrics and "block_names" in metrics
    text = lcnet_tf.training.format_results(metrics)
    assert metrics["block_names"][0] in text and "realized FLOPs ratio" in text


def test_a_cascade_workdir_from_before_one_budget_meaning_is_refused(tmp_path):
    from lcnet_tf.training import get_train_config

    config = get_train_config("cpu", dataset=str(tmp_path))
    saved = json.loads(config.to_json())
    for key in ("precision", "lr_schedule", "ema_decay"):  # fields it did not have yet
        saved.pop(key, None)
    (tmp_path / "config.json").write_text(json.dumps({**saved, "budget": 0.7}))
    with pytest.raises(ValueError, match=r"`workdir`: .* a fraction of its last stage's FLOPs"):
        check_resumable(tmp_path, config.replace(budget=0.7))

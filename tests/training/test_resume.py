"""Resuming run_training: which settings may change, and overrides on resume.

Killed runs (SIGKILL in a subprocess) resuming: test_resume_after_kill.py.
"""

import json

import keras
import pytest

from lcnet_tf.training import get_train_config, run_training


def test_check_resumable_names_changed_settings_and_accepts_older_configs(tmp_path):
    from lcnet_tf.training.procedure import check_resumable

    config = get_train_config("cpu_lc", budget=0.5, dataset="somewhere")
    check_resumable(tmp_path, config)  # No config.json yet: nothing to compare.
    saved = json.loads(config.to_json())
    (tmp_path / "config.json").write_text(json.dumps(saved))
    check_resumable(tmp_path, config)
    with pytest.raises(ValueError, match=r"budget: 0.5 -> 0.3.*--workdir"):
        check_resumable(tmp_path, config.replace(budget=0.3))
    with pytest.raises(ValueError, match=r"gate_downsampling: False -> True"):
        check_resumable(tmp_path, config.replace(gate_downsampling=True))
    # A run saved before `gate_downsampling` existed gated every block (True then).
    del saved["gate_downsampling"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    check_resumable(tmp_path, config.replace(gate_downsampling=True))
    with pytest.raises(ValueError, match="gate_downsampling: True -> False"):
        check_resumable(tmp_path, config)
    # Runs saved before presets trained a static reference still resume under one that does.
    saved["gate_downsampling"] = False
    del saved["static_reference"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    check_resumable(tmp_path, config.replace(static_reference=True))


def test_check_resumable_ignores_gate_downsampling_without_block_gates(tmp_path):
    from lcnet_tf.training.procedure import check_resumable

    config = get_train_config("cpu_lc", gating="none", dataset="somewhere")
    saved = json.loads(config.to_json())
    del saved["gate_downsampling"]  # An old static workdir.
    (tmp_path / "config.json").write_text(json.dumps(saved))
    check_resumable(tmp_path, config)


@pytest.mark.slow
def test_model_overrides_reach_the_backbone_and_the_gated_model(synthetic_dataset, tmp_path):
    config = get_train_config(
        "cpu_lc", dataset=synthetic_dataset, batch_size=16, static_epochs=1, epochs=1,
        steps_per_epoch=1, calibration_images=0, eval_batch_size=16, jit_compile=False,
        static_reference=False, model="resnet8",
        model_overrides="gate_hidden=8; channel_groups=2; channel_gate_stages=(0, 1)",
    )
    assert config.model_overrides == {"channel_gate_stages": [0, 1], "channel_groups": 2,
                                      "gate_hidden": 8}
    run_training(config, tmp_path / "run", verbose=0)
    gated = keras.saving.load_model(tmp_path / "run" / "model.keras", compile=False)
    assert gated.gate_hidden == 8 and gated.channel_groups == 2
    assert list(gated.channel_gate_stages) == [0, 1]
    assert [b.channel_groups or 0 for b in gated.blocks] == [2, 2, 0]
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["model_overrides"]["gate_hidden"] == 8
    # Resuming with the same overrides is accepted; other overrides are refused.
    run_training(config, tmp_path / "run", verbose=0)
    with pytest.raises(ValueError, match="model_overrides"):
        run_training(config.replace(model_overrides={"gate_hidden": 4}), tmp_path / "run")


def test_check_resumable_ignores_cascade_settings_outside_a_cascade(tmp_path):
    from lcnet_tf.training.procedure import check_resumable

    # A cascade's stage run inherits the cascade's settings; a workdir of the same static
    # network trained before cascades existed has none: both are the same run.
    stage = get_train_config("cpu_lc", gating="none", dataset="somewhere",
                             cascade_widths="0.5,0.75")
    saved = json.loads(stage.to_json())
    del saved["cascade_widths"], saved["cascade_confidence"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    check_resumable(tmp_path, stage)
    # For a cascade they are the run's identity.
    cascade = stage.replace(gating="cascade")
    (tmp_path / "config.json").write_text(cascade.to_json())
    with pytest.raises(ValueError, match="cascade_widths"):
        check_resumable(tmp_path, cascade.replace(cascade_widths="0.5,1"))


def test_one_dataset_directory_named_two_ways_resumes(tmp_path, monkeypatch):
    from lcnet_tf.training.procedure import check_resumable

    data = tmp_path / "data"
    data.mkdir()
    workdir = tmp_path / "run"
    workdir.mkdir()
    monkeypatch.chdir(tmp_path)
    config = get_train_config("cpu_lc", budget=0.5, dataset="data")
    (workdir / "config.json").write_text(config.to_json())
    check_resumable(workdir, config.replace(dataset=str(data)))  # absolute: same directory
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(ValueError, match=r"dataset: 'data' -> '.*other'"):
        check_resumable(workdir, config.replace(dataset=str(other)))

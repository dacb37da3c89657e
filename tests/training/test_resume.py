"""run_training end to end on a tiny dataset, interrupted mid-phase and resumed."""

import csv
import json

import keras
import pytest

from lcnet_tf.training import get_train_config, run_training


class InterruptAfter(keras.callbacks.Callback):
    """Raises after `batches` training batches of the gated phase (a simulated kill)."""

    def __init__(self, batches):
        super().__init__()
        self.batches = batches
        self.seen = 0

    def on_train_batch_end(self, batch, logs=None):
        if getattr(self.model, "gating", "none") == "none":
            return
        self.seen += 1
        if self.seen >= self.batches:
            raise KeyboardInterrupt("simulated interruption")


def epochs_logged(path):
    with open(path) as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle)]


# Keras's CSVLogger leaves its file open when `fit` is interrupted (it closes it in
# on_train_end, which an exception skips); Python reports the unclosed file when it is collected.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.slow
def test_interrupted_run_resumes_from_the_last_epoch(synthetic_dataset, tmp_path):
    config = get_train_config(
        "cpu", dataset=synthetic_dataset, batch_size=16, static_epochs=1, epochs=3,
        steps_per_epoch=2, calibration_images=0, eval_batch_size=16, jit_compile=False,
        budget=0.4,
    )
    workdir = tmp_path / "run"
    # Gated epoch 0 completes (2 batches), the run dies during epoch 1.
    with pytest.raises(KeyboardInterrupt):
        run_training(config, workdir, callbacks=[InterruptAfter(3)], verbose=0)
    assert (workdir / "static.keras").exists()
    static_mtime = (workdir / "static.keras").stat().st_mtime
    assert epochs_logged(workdir / "gated_log.csv") == [0]
    assert (workdir / "backup" / "gated" / "training_metadata.json").exists()

    metrics = run_training(config, workdir, verbose=0)
    # The finished static phase is not redone; gated training continues at epoch 1.
    assert (workdir / "static.keras").stat().st_mtime == static_mtime
    assert epochs_logged(workdir / "static_log.csv") == [0]
    assert epochs_logged(workdir / "gated_log.csv") == [0, 1, 2]
    assert not (workdir / "backup" / "gated").exists()
    gated = keras.saving.load_model(workdir / "gated_trained.keras")
    assert int(gated.optimizer.iterations) == 3 * 2  # The LR schedule continued too.

    for name in ("model.keras", "config.json", "metrics.json", "gate_report.png"):
        assert (workdir / name).exists(), name
    assert list((workdir / "tensorboard" / "gated").rglob("*tfevents*"))
    saved = json.loads((workdir / "metrics.json").read_text())
    for key in ("test_accuracy", "flops_ratio", "mean_flops", "backbone_flops", "budget",
                "per_block_rate"):
        assert key in saved, key
    assert saved == metrics
    assert saved["budget"] == 0.4
    assert "calibration" not in saved  # Disabled here; covered by the CLI test.
    assert json.loads((workdir / "config.json").read_text())["epochs"] == 3
    # A third call finds the finished run and returns its metrics without training.
    assert run_training(config, workdir, verbose=0) == metrics


def test_check_resumable_names_changed_settings_and_accepts_older_configs(tmp_path):
    from lcnet_tf.training.procedure import check_resumable

    config = get_train_config("cpu", budget=0.5, dataset="somewhere")
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
    # Runs saved before the cpu preset trained a static reference still resume under it.
    saved["gate_downsampling"] = False
    del saved["static_reference"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert config.static_reference
    check_resumable(tmp_path, config)


def test_check_resumable_ignores_gate_downsampling_without_block_gates(tmp_path):
    from lcnet_tf.training.procedure import check_resumable

    config = get_train_config("cpu", gating="none", dataset="somewhere")
    saved = json.loads(config.to_json())
    del saved["gate_downsampling"]  # An old static workdir.
    (tmp_path / "config.json").write_text(json.dumps(saved))
    check_resumable(tmp_path, config)


@pytest.mark.slow
def test_model_overrides_reach_the_backbone_and_the_gated_model(synthetic_dataset, tmp_path):
    config = get_train_config(
        "cpu", dataset=synthetic_dataset, batch_size=16, static_epochs=1, epochs=1,
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

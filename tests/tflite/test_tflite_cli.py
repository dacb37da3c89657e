"""The tflite CLIs: bad input is one line on stderr and exit status 2; every dynamic model
is taken."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_cli(module, *args):
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
        timeout=300,
    )


def test_benchmark_refuses_budgets_outside_the_models_range(tmp_path):
    result = run_cli("tflite.benchmark", "--model", "resnet8", "--gating", "layer",
                     "--dataset", "cifar10_missing_for_this_test", "--budgets", "0.5,x")
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: Invalid value for `--budgets`"), result.stderr[-2000:]
    result = run_cli("tflite.benchmark", "--model", "resnet8", "--dataset", "missing",
                     "--frontier", str(tmp_path / "none.json"))
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: Invalid value for `--frontier`"), result.stderr[-2000:]


def test_convert_rejects_a_corrupt_keras_file(tmp_path):
    corrupt = tmp_path / "model.keras"
    corrupt.write_bytes(b"not a zip archive" * 4)
    result = run_cli("tflite.convert", "--model", str(corrupt), "--out", str(tmp_path / "m.tflite"))
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: Corrupt or truncated .keras"), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "m.tflite").exists()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["static_cascade", "gated_stage_cascade", "lc_net"])
def test_benchmark_takes_every_dynamic_model_without_a_static_model(kind, tmp_path):
    import keras

    import lcnet_tf
    from lcnet_tf.data import make_synthetic_tfds_dir
    from lcnet_tf.training import calibrate

    dataset = make_synthetic_tfds_dir(tmp_path / "data", num_train=32, num_test=8)
    keras.utils.set_random_seed(0)
    if kind == "lc_net":
        model = lcnet_tf.create_model("resnet8", gating="lc")
    else:
        gatings = ("none", "lc") if kind == "gated_stage_cascade" else ("none", "none")
        model = lcnet_tf.create_model("resnet8", gating="cascade", cascade_widths=(0.25, 0.5),
                                      cascade_gatings=gatings)
        images = np.random.default_rng(0).integers(0, 256, (32, 32, 32, 3)).astype("uint8")
        low, high = (flops / model.reference_flops for flops in model.flops_range())
        calibrate(model, images, 0.5 * (low + high))
    path = tmp_path / "model.keras"
    model.save(path)
    out = tmp_path / "bench"
    # int8 once (the gated-stage cascade, the most IFs): conversion is the slow part.
    variants = ["none", "int8"] if kind == "gated_stage_cascade" else ["none"]
    # The static cascade and the LC-Net also as knob files timed at two budgets.
    low, high = (flops / model.reference_flops for flops in model.flops_range())
    budgets = ([] if kind == "gated_stage_cascade"
               else [round(low + share * (high - low), 4) for share in (0.4, 0.6)])
    knob_args = ["--budgets", ",".join(map(str, budgets)), "--knob_images", "32"] if budgets else []
    if kind == "lc_net":  # Against a pareto.json's static frontier too.
        frontier = tmp_path / "pareto.json"
        frontier.write_text(json.dumps({"points": [
            {"name": name, "kind": "static", "mflops": mflops, "test_accuracy": accuracy}
            for name, mflops, accuracy in (("a", 1.0, 0.1), ("b", 50.0, 0.2))]}))
        knob_args += ["--frontier", str(frontier)]
    result = run_cli("tflite.benchmark", "--model", str(path), "--dataset", dataset,
                     "--num_images", "4", "--quantize", ",".join(variants),
                     "--num_calibration", "16", "--chunk", "2", "--out_dir", str(out),
                     *knob_args)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    rows = report["models"]
    suffixes = ["" if variant == "none" else f"_{variant}" for variant in variants]
    knob_rows = {f"dynamic@{budget:.3f}{s}" for budget in budgets for s in suffixes}
    if budgets:
        knob = report["metadata"]["budget_knob"]["none"]
        assert [row["budget"] for row in knob] == budgets
        assert knob[0]["decisions"] != knob[1]["decisions"]
        assert "dynamic@" in result.stdout
    if kind == "lc_net":  # Its static twin (untrained): latency and FLOPs only.
        assert set(rows) == {f"{role}{s}" for role in ("static", "dynamic")
                             for s in suffixes} | knob_rows
        assert "untrained" in result.stdout
        assert "against the static frontier of" in result.stdout
    else:  # A cascade's static comparison is its own stages.
        assert set(rows) == {f"{role}{s}" for role in ("static", "stage0", "dynamic")
                             for s in suffixes} | knob_rows
        assert rows["stage0"]["mean_flops"] < rows["static"]["mean_flops"]
        assert "vs the line between its stages" in result.stdout

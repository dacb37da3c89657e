"""`lcnet_tf.gate_control.gate_multipliers` and benchmarks/gate_multipliers.py: the gates'
multipliers in the forced-open network."""

import subprocess
import sys
from pathlib import Path

import numpy as np

import lcnet_tf
from lcnet_tf.gate_control import gate_multipliers

REPO = Path(__file__).resolve().parents[2]


def test_multipliers_are_read_per_gated_block_from_the_gates_themselves():
    model = lcnet_tf.create_model("resnet20", gating="lc", budget=0.5)
    images = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3)).astype("uint8")
    model(images[:1])
    stats = gate_multipliers(model, images, batch_size=4)
    gated = [b.name for b in model.blocks if b.gate_pool is not None]
    assert sorted(stats) == sorted(gated)
    scales = [entry["scale"] for entry in stats.values() if "scale" in entry]
    saliency = [entry["saliency"] for entry in stats.values() if "saliency" in entry]
    assert scales and saliency
    assert all(s.shape == (6,) for s in scales)
    # Both multipliers are bounded: 1 + tanh and 2 * sigmoid lie in (0, 2).
    for values in scales + saliency:
        assert 0 < values.min() and values.max() < 2
    # A scale pushed down by its bias is what the script reports.
    block = next(b for b in model.blocks if b.block_gate_layer is not None)
    bias = block.block_gate_layer.scale_dense.bias
    bias.assign(np.full(bias.shape, -2.0, "float32"))
    shrunk = gate_multipliers(model, images)[block.name]["scale"]
    np.testing.assert_allclose(shrunk, 1 + np.tanh(-2.0), atol=0.1)


def test_script_reports_every_gated_block(tmp_path):
    from lcnet_tf.data import make_synthetic_tfds_dir

    dataset = make_synthetic_tfds_dir(tmp_path / "data", num_train=8, num_test=8)
    model = lcnet_tf.create_model("resnet8", gating="lc", budget=0.5)
    model(np.zeros((1, 32, 32, 3), "uint8"))
    path = tmp_path / "model.keras"
    model.save(path)
    result = subprocess.run(
        [sys.executable, "benchmarks/gate_multipliers.py", "--model", str(path), "--dataset",
         str(dataset), "--images", "8"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={"PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2",
             "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "8 test images" in result.stdout
    for block in model.blocks:
        if block.block_gate_layer is not None:
            assert block.name in result.stdout
    assert "block scale mean" in result.stdout

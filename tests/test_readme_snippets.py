"""The README's Python snippets run as written, on tiny data (the names they leave to the reader,
`train_ds`, `test_ds`, `images`, `unaugmented_train_images`, are bound to a few images)."""

import re
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import lcnet_tf

README = Path(__file__).resolve().parents[1] / "README.md"


def snippet(heading):
    """The first ```python block after the `## heading` line."""
    text = README.read_text()
    start = text.index(f"## {heading}")
    match = re.compile(r"```python\n(.*?)```", re.S).search(text, start)
    assert match, heading
    return match.group(1)


def namespace():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (16, 32, 32, 3)).astype("uint8")
    labels = rng.integers(0, 10, (16,)).astype("int64")
    batches = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)
    return {"lcnet_tf": lcnet_tf, "keras": keras, "np": np, "train_ds": batches,
            "test_ds": batches, "images": images, "unaugmented_train_images": images}


@pytest.mark.slow
# Keras warns on every `fit` of a tf.data pipeline that its default shuffle=True is ignored.
@pytest.mark.filterwarnings("ignore:`shuffle=True` was passed:UserWarning")
def test_training_in_your_own_code_runs():
    code = snippet("Training in your own code")
    assert "self_distill_weight=0.7" in code and "calibrate(" in code
    scope = namespace()
    exec(compile(code.replace("50_000 // 128", "2"), "README", "exec"), scope)
    report = scope["report"]
    assert set(report["decision_kinds"]) == {"block"} and 0 < report["flops_ratio"] <= 1.01


def test_the_cascade_snippet_runs(tmp_path):
    code = snippet("Cascades: a small network first")
    scope = namespace()
    exec(compile(code.replace('"cascade.tflite"', repr(str(tmp_path / "c.tflite"))), "README",
                 "exec"), scope)
    assert scope["report"]["decision_names"] == ["stage0", "stage1"]
    assert scope["cascade"].reference_flops == 40_555_136
    assert (tmp_path / "c.tflite").stat().st_size > 0


def test_the_budget_knob_snippet_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = snippet("The budget knob")
    assert "budget_table=table" in code and "serve_budget" not in code
    scope = namespace()
    exec(code, scope)  # noqa: S102
    assert scope["setting"].budget == 0.35 and not scope["setting"].exact
    assert scope["outputs"]["realized_flops"].shape == (1,)

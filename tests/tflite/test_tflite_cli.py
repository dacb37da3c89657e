"""The tflite CLIs turn bad input into one line on stderr and exit status 2."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_cli(module, *args):
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
        timeout=300,
    )


def test_convert_rejects_a_corrupt_keras_file(tmp_path):
    corrupt = tmp_path / "model.keras"
    corrupt.write_bytes(b"not a zip archive" * 4)
    result = run_cli("tflite.convert", "--model", str(corrupt), "--out", str(tmp_path / "m.tflite"))
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: Corrupt or truncated .keras"), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "m.tflite").exists()

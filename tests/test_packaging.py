"""The wheel installs only `lcnet_tf` (no top-level `train` or `tflite`) and console scripts."""

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_holds_only_lcnet_tf_and_declares_the_console_scripts(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(REPO)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel,) = tmp_path.glob("lcnet_tf-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        top_level = {name.split("/", 1)[0] for name in names if not name.startswith(
            "lcnet_tf-") and "/" in name}
        entry_points = next(archive.read(n).decode() for n in names
                            if n.endswith("entry_points.txt"))
    assert top_level == {"lcnet_tf"}, top_level
    assert "lcnet_tf/cli/train.py" in names
    for script in ("lcnet-train-cifar", "lcnet-train-imagenet", "lcnet-tflite-convert",
                   "lcnet-tflite-benchmark"):
        assert script in entry_points


def test_installed_console_script_runs():
    # `make test` installs the package into the venv running the tests.
    script = Path(sys.executable).parent / "lcnet-train-cifar"
    assert script.exists(), f"{script} not installed: run `pip install -e .`"
    result = subprocess.run([str(script), "--helpfull"], capture_output=True, text=True,
                            timeout=300)  # absl exits with status 1 after printing help
    assert "--distill_weight" in result.stdout and "--budget" in result.stdout
    result = subprocess.run([str(script), "--budget", "7"], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: Invalid value for --budget")

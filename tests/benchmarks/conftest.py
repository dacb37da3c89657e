"""Loading a benchmark script as a module, for tests of its pure functions."""

import importlib.util
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def load_script(name):
    """`benchmarks/<name>.py` as a module. Scripts define absl flags on the global FLAGS at
    import (several define `--dataset`, `--out`, ...): a flag another script of this process
    defined first is dropped, so both load (pytest-xdist may run their tests in one worker)."""
    from absl import flags

    path = REPO / "benchmarks" / f"{name}.py"
    for flag in re.findall(r"flags\.DEFINE_\w+\(\s*\"(\w+)\"", path.read_text()):
        if flag in flags.FLAGS:
            delattr(flags.FLAGS, flag)
    spec = importlib.util.spec_from_file_location(f"{name}_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pareto_script():
    return load_script("pareto")


@pytest.fixture(scope="module")
def recipe_script():
    return load_script("recipe")

"""Shared pytest setup: quiet TensorFlow logs, deterministic seeds, `tests/` importable.

`tests/` has no `__init__.py`; pytest's default import mode puts this directory on
`sys.path`, so test files anywhere below can `import harness`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same NumPy, Python and Keras random state."""
    keras.utils.set_random_seed(1234)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)

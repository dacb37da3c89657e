"""Fixtures of the Android demo's tests: the compiled core (javac + gson + junit4)."""

import android_java
import pytest


@pytest.fixture(scope="session")
def core_classpath(tmp_path_factory):
    """android_demo/core and its tests, compiled once per test process."""
    android_java.require_toolchain()
    return android_java.build(tmp_path_factory.mktemp("android_core"))

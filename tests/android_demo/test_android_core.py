"""android_demo/core: compiled with javac, its JUnit tests run and counted here one by one.

Each JUnit test is a pytest test below (`test_junit[StatsTest.percentileIsNumpysLinearMethod]`),
so that the suite's summary counts them and a broken statistic turns CI red. The golden
cross-check is held both ways: the committed golden file must be what Python computes today (a
changed Python formula fails here), and the Java core must reproduce it (a changed Java formula
fails `GoldenTest`); the two mutation tests show that each direction can fail.
"""

import json
import re

import android_golden
import android_java
import numpy as np
import pytest

JUNIT_TESTS = android_java.junit_test_names()


@pytest.fixture(scope="module")
def junit_results(core_classpath, tmp_path_factory):
    results_path = tmp_path_factory.mktemp("junit") / "results.json"
    result = android_java.java(core_classpath, "JUnitReport", results_path,
                               *android_java.junit_classes())
    if not results_path.is_file():
        pytest.fail(f"JUnit did not run:\n{result.stdout}{result.stderr}"[-4000:])
    return json.loads(results_path.read_text())


def test_junit_tests_are_found():
    assert len(JUNIT_TESTS) >= 40, JUNIT_TESTS


@pytest.mark.parametrize("name", JUNIT_TESTS)
def test_junit(name, junit_results):
    result = junit_results.get(name)
    assert result is not None, f"JUnit did not run {name}"
    if result["status"] == "skipped":
        pytest.skip(f"JUnit skipped {name}: {result['message']}")
    assert result["status"] == "passed", result["message"]


def test_every_junit_test_is_counted(junit_results):
    assert sorted(junit_results) == sorted(JUNIT_TESTS)


def test_core_has_no_android_or_litert_dependency(core_classpath):
    """Plain Java and Gson only; `core_classpath` compiled it against the Java 8 API (Android 26
    has it)."""
    for path in android_java.MAIN_SOURCES.rglob("*.java"):
        imports = re.findall(r"^import\s+(?:static\s+)?([\w.]+)", path.read_text(), re.M)
        foreign = [name for name in imports
                   if not name.startswith(("java.", "org.lcnet.", "com.google.gson."))]
        assert not foreign, f"{path.name} imports {foreign}"


def _differences(committed, fresh, path=""):
    """Paths where two JSON trees differ; floats to 1e-12 relative (LAPACK's least squares
    may differ in the last bits between CPUs)."""
    if isinstance(committed, dict) and isinstance(fresh, dict):
        keys = list(dict.fromkeys([*committed, *fresh]))
        return [d for key in keys
                for d in _differences(committed.get(key), fresh.get(key), f"{path}/{key}")]
    if isinstance(committed, list) and isinstance(fresh, list):
        if len(committed) != len(fresh):
            return [f"{path}: length {len(committed)} != {len(fresh)}"]
        return [d for i, (a, b) in enumerate(zip(committed, fresh, strict=True))
                for d in _differences(a, b, f"{path}[{i}]")]
    if (isinstance(committed, float) and isinstance(fresh, float)
            and committed == pytest.approx(fresh, rel=1e-12, abs=1e-15)):
        return []
    return [] if committed == fresh else [f"{path}: {committed!r} != {fresh!r}"]


def test_committed_golden_is_what_python_computes_now():
    """Fails when Python's protocol or summary changes: regenerate the golden, then fix Java."""
    committed = json.loads(android_golden.GOLDEN_PATH.read_text())
    fresh = json.loads(json.dumps(android_golden.make_golden()))
    differences = _differences(committed, fresh)
    assert not differences, (
        "The golden file is stale: python tests/android_demo/android_golden.py rewrites it "
        "(then the Java core must reproduce it). " + "; ".join(differences[:5])
    )


def test_golden_check_fails_when_python_changes_a_formula(core_classpath, tmp_path,
                                                          monkeypatch):
    from lcnet_tf.export import benchmark

    def nearest_rank_stats(latencies_ms):
        latencies_ms = np.asarray(latencies_ms, dtype=np.float64)
        return {"mean": float(latencies_ms.mean()),
                "p50": float(np.percentile(latencies_ms, 50, method="lower")),
                "p90": float(np.percentile(latencies_ms, 90, method="lower"))}

    monkeypatch.setattr(benchmark, "latency_stats", nearest_rank_stats)
    android_golden.write_golden(tmp_path / "golden.json")
    result = android_java.java(core_classpath, "GoldenCheck", tmp_path / "golden.json")
    assert result.returncode == 1, result.stdout[-3000:]
    assert "/latency_ms/p90: Python" in result.stdout


def test_golden_check_fails_when_java_changes_a_formula(core_classpath, tmp_path):
    stats = next(android_java.MAIN_SOURCES.rglob("Stats.java")).read_text()
    assert "return a + difference * gamma;" in stats
    mutated = tmp_path / "Stats.java"
    mutated.write_text(stats.replace("return a + difference * gamma;", "return a;"))  # "lower"
    classes = android_java.javac(tmp_path / "mutated", [mutated], classpath=core_classpath,
                                 release=android_java.MAIN_RELEASE)
    result = android_java.java([classes, *core_classpath], "GoldenCheck",
                               android_golden.GOLDEN_PATH)
    assert result.returncode == 1, result.stdout[-3000:]
    assert "/latency_ms/p90: Python" in result.stdout

"""Compiling and running android_demo/core with the JDK, Debian's gson and junit4 (no Gradle).

`make android_deps` (run by `make test`) installs what is missing. Without a JDK, gson or junit4
the tests skip with the reason; in CI (CI=true) they fail instead, so that a broken install cannot
pass as green.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "android_demo" / "core"
MAIN_SOURCES = CORE / "src" / "main" / "java"
TEST_SOURCES = CORE / "src" / "test" / "java"
TEST_RESOURCES = CORE / "src" / "test" / "resources"
PACKAGE = "org.lcnet.demo.core"
JUNIT_JAR = Path(os.environ.get("JUNIT_JAR", "/usr/share/java/junit4.jar"))
HAMCREST_JAR = JUNIT_JAR.parent / "hamcrest-core.jar"
# The core's JSON library (the app gets it from Maven: android_demo/gradle/libs.versions.toml).
GSON_JAR = Path(os.environ.get("GSON_JAR", "/usr/share/java/gson.jar"))
# The core is compiled against the Java 8 API: a subset of what Android 8.0 (API 26, the app's
# minSdk) has, so that a call Android lacks (List.of, String.repeat, ...) fails here. Gradle
# builds it as Java 11 (android_demo/core/build.gradle.kts); the tests use Java 11.
MAIN_RELEASE = "8"
TEST_RELEASE = "11"
# Short-lived JVMs: the C1 compiler alone and the serial collector start 2-3x faster here.
JVM_FLAGS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")


def in_ci():
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_toolchain():
    """Skips (fails in CI) unless javac, java, junit4 and gson are there."""
    missing = [tool for tool in ("javac", "java") if shutil.which(tool) is None]
    missing += [str(jar) for jar in (JUNIT_JAR, GSON_JAR) if not jar.is_file()]
    if missing:
        message = (f"missing {', '.join(missing)}: run `make android_deps` (as root it runs "
                   "apt-get install default-jdk-headless junit4 libgoogle-gson-java)")
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


def sources(root):
    return sorted(str(path) for path in Path(root).rglob("*.java"))


def javac(out_dir, files, classpath=(), release=TEST_RELEASE):
    """Compiles `files` into `out_dir`; fails the test with javac's output on an error."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    command = ["javac", *(f"-J{flag}" for flag in JVM_FLAGS), "--release", release, "-Xlint:all",
               "-Werror", "-encoding", "UTF-8", "-d", str(out_dir)]
    if classpath:
        command += ["-cp", os.pathsep.join(str(path) for path in classpath)]
    result = subprocess.run(command + list(files), capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        pytest.fail(f"javac failed:\n{result.stdout}{result.stderr}"[-6000:])
    return out_dir


def build(out_dir, main_sources=MAIN_SOURCES):
    """Compiles the core and its tests; returns the run classpath (list of paths)."""
    out_dir = Path(out_dir)
    junit = [JUNIT_JAR] + ([HAMCREST_JAR] if HAMCREST_JAR.is_file() else [])
    main = javac(out_dir / "main", sources(main_sources), classpath=[GSON_JAR],
                 release=MAIN_RELEASE)
    test = javac(out_dir / "test", sources(TEST_SOURCES), classpath=[main, GSON_JAR, *junit])
    return [main, test, TEST_RESOURCES, GSON_JAR, *junit]


def java(classpath, main_class, *args, timeout=300):
    """Runs `PACKAGE.main_class` with `args`; returns the CompletedProcess."""
    command = ["java", *JVM_FLAGS, "-cp", os.pathsep.join(str(path) for path in classpath),
               f"{PACKAGE}.{main_class}", *[str(arg) for arg in args]]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def junit_test_names():
    """`Class.method` of every @Test in the core's test sources (read from the source text)."""
    names = []
    for path in sorted(TEST_SOURCES.rglob("*Test.java")):
        text = path.read_text()
        for match in re.finditer(r"@Test\s+public\s+void\s+(\w+)\s*\(", text):
            names.append(f"{path.stem}.{match.group(1)}")
    return names


def junit_classes():
    return [f"{PACKAGE}.{path.stem}" for path in sorted(TEST_SOURCES.rglob("*Test.java"))]

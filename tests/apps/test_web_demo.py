"""The browser benchmark page (web_demo/, LiteRT.js) in headless Chromium against Python.

One page session (playwright-core driving Debian's chromium, `web_demo/scripts/drive.mjs`)
serves every browser test: a small LC ResNet-20 with random per-image gates and a ResNet-20
L-Net whose gates are fixed closed, both exported with `force_gates_open`, on real CIFAR-10
test images. `make test` installs chromium and the npm packages (`make web_deps`); outside CI
a missing one skips these tests with the reason, in CI (CI=true) it fails them.
"""

import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import lcnet_tf
from lcnet_tf.apps.web_demo import (
    ISOLATION_HEADERS,
    find_tflite_models,
    make_server,
    split_model_name,
    write_demo_data,
)
from lcnet_tf.export import to_tflite
from lcnet_tf.export.benchmark import TFLiteRunner, load_images
from lcnet_tf.export.gate_patterns import fix_gate_pattern, randomize_gates

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "web_demo"
CIFAR_DIR = REPO.parent / "shared" / "data" / "cifar10_jpeg"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
NUM_IMAGES = 12  # page parity: real test images 0..11
NUM_LATENCY_IMAGES = 16
UI_IMAGES = 6


def _require(missing):
    """Skips (outside CI) or fails (in CI) when something the browser tests need is missing."""
    if missing:
        message = f"needs {', '.join(missing)} (`make web_deps` installs them)"
        if IN_CI:
            pytest.fail(f"CI must run the browser tests: {message}")
        pytest.skip(message)


def _missing_node():
    return [] if shutil.which("node") else ["node (Node.js >= 20)"]


def _missing_browser():
    missing = _missing_node()
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"chromium ({CHROMIUM}; Debian package chromium)")
    for package in ("playwright-core", "@litertjs/core"):
        if not (SITE / "node_modules" / package / "package.json").is_file():
            missing.append(f"web_demo/node_modules/{package} (npm ci --prefix web_demo)")
    if not (CIFAR_DIR / "dataset_info.json").is_file():
        missing.append(f"the CIFAR-10 copy {CIFAR_DIR}")
    return missing


def _scale_logits(model, images, largest=10.0):
    """Scales the classifier so that logits stay below `largest` with every gate open.

    Untrained, the all-open ResNet-20 gives logits in the thousands, where one float32 step
    is already 2e-4: the 1e-4 agreement is meant for logits of a trained model's size.
    """
    logits = model(images, training=False, force_gates_open=True)
    scale = largest / float(np.max(np.abs(logits)))
    kernel, bias = model.classifier.get_weights()
    model.classifier.set_weights([kernel * scale, bias * scale])


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Exports the two models, writes the page's data and serves it; yields their paths."""
    _require(_missing_browser())
    root = tmp_path_factory.mktemp("web_demo")
    images, labels = load_images(str(CIFAR_DIR), "test", NUM_LATENCY_IMAGES)
    gate_images, _ = load_images(str(CIFAR_DIR), "train", 64)

    dynamic = lcnet_tf.create_model("resnet20", gating="lc", channel_groups=2,
                                    channel_gate_stages=None)
    randomize_gates(dynamic, seed=0, images=gate_images)  # Decisions vary from image to image.
    _scale_logits(dynamic, gate_images)
    dynamic_path = root / "dynamic.tflite"
    to_tflite(dynamic, dynamic_path, force_input=True)

    closed = lcnet_tf.create_model("resnet20", gating="layer")
    fix_gate_pattern(closed, block_runs=[False] * len(closed.blocks))
    closed_path = root / "closed.tflite"
    to_tflite(closed, closed_path, force_input=True)

    data_dir = root / "data"
    write_demo_data(data_dir, {"dynamic": dynamic_path, "closed": closed_path}, images, labels,
                    class_names=[str(k) for k in range(10)])
    server = make_server(data_dir, host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_address[1]}/", "root": root,
               "images": images, "labels": labels, "dynamic": dynamic_path,
               "closed": closed_path}
    finally:
        server.shutdown()
        server.server_close()


def _drive(url, tmp_dir, calls, *, ui=False):
    calls_path = tmp_dir / "calls.json"
    calls_path.write_text(json.dumps(calls))
    command = ["node", str(SITE / "scripts" / "drive.mjs"), "--url", url, "--calls",
               str(calls_path), "--chromium", CHROMIUM]
    if ui:
        command += ["--ui", "--screenshot", str(tmp_dir / "results.png")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-2000:]
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def page(demo):
    """One browser session: parity run, latency run, then the UI's run and its screenshot."""
    calls = [
        # Parity: learned gates and every gate forced open, on NUM_IMAGES real images.
        {"models": ["dynamic"], "gates": "learned+open", "numImages": NUM_IMAGES,
         "repeats": 1, "chunk": 4, "reference": "dynamic@open", "warmupMs": 0},
        # Latency: the same file with its gates closed (weights) and forced open (input),
        # interleaved per chunk.
        {"entries": [{"name": "closed", "model": "closed"},
                     {"name": "open", "model": "closed", "forceOpen": True}],
         "numImages": NUM_LATENCY_IMAGES, "repeats": 5, "chunk": 8, "reference": "open",
         "warmupMs": 1000},
    ]
    url = f"{demo['url']}?images={UI_IMAGES}&repeats=1&chunk=3&warmup=0"
    return _drive(url, demo["root"], calls, ui=True)


def _python_outputs(path, images, force_gates_open):
    runner = TFLiteRunner(str(path))
    return [runner.run(image, force_gates_open=force_gates_open)[0] for image in images]


@pytest.mark.parametrize("entry,force", [("dynamic", False), ("dynamic@open", True)])
def test_page_decisions_flops_and_logits_equal_python(demo, page, entry, force):
    record = page["calls"][0]["perImage"][entry]
    expected = _python_outputs(demo["dynamic"], demo["images"][:NUM_IMAGES], force)
    assert len(record["gate"]) == NUM_IMAGES
    for index, python in enumerate(expected):
        context = f"{entry}, image {index}"
        np.testing.assert_array_equal(np.float32(record["gate"][index]),
                                      python["gate"].reshape(-1), err_msg=context)
        np.testing.assert_array_equal(np.float32(record["kept_groups"][index]),
                                      python["kept_groups"].reshape(-1), err_msg=context)
        assert np.float32(record["flops"][index]) == python["realized_flops"].reshape(-1)[0], (
            context)
        np.testing.assert_allclose(np.float32(record["logits"][index]),
                                   python["logits"].reshape(-1), rtol=0, atol=1e-4,
                                   err_msg=context)
        assert record["predicted"][index] == int(np.argmax(python["logits"])), context
        assert record["correct"][index] == (record["predicted"][index]
                                            == int(demo["labels"][index]))
    if not force:  # The check means something only if the gates really decide per image.
        patterns = {tuple(g) for g in record["gate"]}
        assert len(patterns) > 1, patterns
        assert 0 < np.mean(record["gate"]) < 1


def test_page_summary_follows_the_benchmark_definitions(page):
    run = page["calls"][0]
    summary, per_image = run["summary"], run["perImage"]
    assert run["reference"] == "dynamic@open"
    for name, row in summary.items():
        latency = np.array(per_image[name]["latency_ms"])
        assert row["latency_ms"]["mean"] == pytest.approx(latency.mean())
        assert row["latency_ms"]["p50"] == pytest.approx(np.percentile(latency, 50))
        assert row["latency_ms"]["p90"] == pytest.approx(np.percentile(latency, 90))
        assert row["mean_flops"] == pytest.approx(np.mean(per_image[name]["flops"]))
        assert row["block_run_rate"] == pytest.approx(np.mean(per_image[name]["gate"]))
    assert summary["dynamic@open"]["speedup"] == 1.0
    assert summary["dynamic@open"]["block_run_rate"] == 1.0
    assert summary["dynamic"]["flops_fraction"] < 1.0


def test_page_gates_closed_run_in_under_half_the_time_of_gates_open(page):
    summary = page["calls"][1]["summary"]
    closed, opened = summary["closed"], summary["open"]
    assert closed["block_run_rate"] < opened["block_run_rate"] == 1.0
    ratio = closed["latency_ms"]["mean"] / opened["latency_ms"]["mean"]
    assert ratio < 0.5, (ratio, closed["latency_ms"], opened["latency_ms"])


def test_page_runs_cross_origin_isolated_single_thread_without_errors(page):
    env = page["env"]
    assert env["build"] == "single-thread" and env["threads"] == 1
    assert env["crossOriginIsolated"] is True  # COOP/COEP: 5 us timers instead of 100 us.
    assert env["timerResolutionMs"] < 0.05
    assert page["pageErrors"] == []
    errors = [line for line in page["console"] if line.startswith("error")]
    assert errors == [], errors
    # The WASM module's own lines go to the page's counter, not to the console.
    assert not any("INFO: [" in line for line in page["console"])


def test_result_view_and_its_screenshot(demo, page):
    ui = page["ui"]
    assert not ui["statusIsError"], ui["status"]
    assert [row[0] for row in ui["rows"]] == ["dynamic", "closed"]
    assert ui["cards"] == UI_IMAGES
    assert ui["stripCells"] == UI_IMAGES * 9  # ResNet-20: 9 blocks per strip
    from PIL import Image

    with Image.open(demo["root"] / "results.png") as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    assert pixels.shape[0] > 300 and pixels.shape[1] > 300, pixels.shape
    assert pixels.std() > 20, "screenshot is blank"
    colors = np.unique(pixels.reshape(-1, 3).astype(np.uint8), axis=0)
    assert len(colors) > 200, len(colors)  # text, plot points, the test images


def test_server_sends_isolation_headers_and_no_listings(demo):
    with urllib.request.urlopen(demo["url"]) as response:
        for name, value in ISOLATION_HEADERS.items():
            assert response.headers[name] == value
    wasm = demo["url"] + "node_modules/@litertjs/core/wasm/litert_wasm_internal.wasm"
    with urllib.request.urlopen(wasm) as response:
        assert response.headers["Content-Type"] == "application/wasm"
    with urllib.request.urlopen(demo["url"] + "data/manifest.json") as response:
        manifest = json.load(response)
    assert [m["name"] for m in manifest["models"]] == ["dynamic", "closed"]
    assert manifest["models"][0]["has_force_input"] and manifest["models"][0]["num_blocks"] == 9
    assert manifest["images"]["count"] == NUM_LATENCY_IMAGES
    for path in ("data/", "src/", "data/../../etc/passwd"):
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(demo["url"] + path)
        error.value.close()
        assert error.value.code == 404


def test_protocol_statistics_match_numpy_conventions():
    _require(_missing_node())
    result = subprocess.run(["node", "--test", "test/"], cwd=SITE, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout


class _ScriptedRunner:
    """Stands for TFLiteRunner in compare_models: each run takes the next scripted duration."""

    def __init__(self, name, script, trace):
        self.name, self.script, self.trace, self.position = name, script, trace, 0
        self.num_if_ops = 0

    def run(self, image):
        index = int(np.asarray(image)[0, 0, 0])
        self.trace.append([self.name, index])
        nanoseconds = self.script["call_ns"][self.position]
        self.position += 1
        gate = np.asarray(self.script["gate"][index], np.float32)
        return {"logits": np.asarray(self.script["logits"][index], np.float32)[None],
                "gate": gate[None], "kept_groups": np.zeros_like(gate)[None],
                "realized_flops": np.float32([self.script["flops"][index]])}, nanoseconds / 1e9


def _scripted_case(num_images, repeats, chunk, models, reference, seed):
    rng = np.random.default_rng(seed)
    num_blocks, num_classes = 3, 4
    labels = rng.integers(0, num_classes, num_images)
    calls = min(5, num_images) + sum(1 + repeats * (min(start + chunk, num_images) - start)
                                     for start in range(0, num_images, chunk))
    scripts = {}
    for name in models:
        gate = (rng.uniform(size=(num_images, num_blocks)) < 0.5).astype(np.float32)
        if name.startswith("static"):
            gate[:] = 1.0
        logits = rng.normal(size=(num_images, num_classes)).astype(np.float32)
        logits[min(2, num_images - 1)] = 1.0  # A tie: argmax takes the first maximum.
        scripts[name] = {
            "call_ns": rng.integers(50_000, 400_000, calls).tolist(),  # Ties come with them.
            "gate": gate.tolist(),
            "flops": (1e6 + gate @ rng.uniform(1e6, 3e6, num_blocks)).astype(np.float32).tolist(),
            "logits": logits.tolist(),
        }
    return {"numImages": num_images, "repeats": repeats, "chunk": chunk,
            "reference": reference, "labels": labels.tolist(), "scripts": scripts}


@pytest.mark.parametrize("num_images,repeats,chunk,models,reference", [
    (37, 2, 10, ("dynamic", "static", "dynamic_int8", "static_int8"), "static"),
    (16, 3, 5, ("static", "dynamic"), "static"),
    (4, 1, 3, ("dynamic_int8", "static_int8"), "static_int8"),  # fewer images than warm-up
])
def test_page_protocol_replays_compare_models(tmp_path, num_images, repeats, chunk, models,
                                              reference):
    """The page's protocol and summary make of scripted runners what compare_models makes."""
    _require(_missing_node())
    from lcnet_tf.export.benchmark import compare_models

    case = _scripted_case(num_images, repeats, chunk, models, reference, seed=num_images)
    images = np.zeros((num_images, 2, 2, 3), np.uint8)
    images[:, 0, 0, 0] = np.arange(num_images)
    trace = []
    summary, per_image = compare_models(
        {name: name for name in models}, images, np.asarray(case["labels"]),
        reference=reference, repeats=repeats, chunk=chunk, progress=False,
        runner_factory=lambda name, _threads: _ScriptedRunner(name, case["scripts"][name],
                                                              trace))
    cases_path = tmp_path / "cases.json"
    cases_path.write_text(json.dumps([case]))
    result = subprocess.run(["node", str(SITE / "scripts" / "replay_protocol.mjs"),
                             str(cases_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    (page,) = json.loads(result.stdout)
    assert page["trace"] == trace
    for name in models:
        np.testing.assert_allclose(page["perImage"][name]["latency_ms"],
                                   per_image[name]["latency_ms"], rtol=1e-12)
        assert page["perImage"][name]["correct"] == per_image[name]["correct"].tolist()
        for key in ("accuracy", "mean_flops", "flops_fraction", "speedup", "flops_speedup",
                    "efficiency"):
            assert page["summary"][name][key] == pytest.approx(summary[name][key], rel=1e-12)
        # NumPy averages the float32 gates in float32.
        assert page["summary"][name]["block_run_rate"] == pytest.approx(
            summary[name]["block_run_rate"], rel=1e-6)
        for key in ("mean", "p50", "p90"):
            assert page["summary"][name]["latency_ms"][key] == pytest.approx(
                summary[name]["latency_ms"][key], rel=1e-12)


def test_model_names_give_role_and_precision(tmp_path):
    assert split_model_name("dynamic_int8") == ("dynamic", "int8")
    assert split_model_name("static") == ("static", "float")
    assert split_model_name("reference_fp16") == ("reference", "fp16")
    (tmp_path / "tflite_benchmark").mkdir()
    for name in ("dynamic.tflite", "static_int8.tflite", "static.tflite", "other.tflite"):
        (tmp_path / "tflite_benchmark" / name).write_bytes(b"")
    assert list(find_tflite_models(tmp_path)) == ["dynamic", "static", "static_int8"]
    (tmp_path / "model.tflite").write_bytes(b"")
    assert list(find_tflite_models(tmp_path))[0] == "dynamic"


def test_serve_demo_cli_writes_the_page_data_and_rejects_an_empty_workdir(demo, tmp_path):
    workdir = tmp_path / "run"
    (workdir / "tflite_benchmark").mkdir(parents=True)
    shutil.copyfile(demo["dynamic"], workdir / "tflite_benchmark" / "dynamic.tflite")
    command = [sys.executable, "-m", "tflite.serve_demo", "--workdir", str(workdir),
               "--dataset", str(CIFAR_DIR), "--num_images", "3", "--noserve"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((workdir / "web_demo" / "manifest.json").read_text())
    assert [m["name"] for m in manifest["models"]] == ["dynamic"]
    assert manifest["class_names"][0] == "airplane"
    assert (workdir / "web_demo" / "images.bin").stat().st_size == 3 * 32 * 32 * 3
    assert (workdir / "web_demo" / "models" / "dynamic.tflite").is_file()

    empty = tmp_path / "empty"
    empty.mkdir()
    result = subprocess.run(command[:4] + [str(empty), "--noserve"], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: No .tflite file in")

"""The browser benchmark page (web_demo/, LiteRT.js) in headless Chromium against Python.

One page session (playwright-core driving Debian's chromium, `web_demo/scripts/drive.mjs`)
serves the gated-network tests: a small LC ResNet-20 with random per-image gates and a
ResNet-20 L-Net whose gates are fixed closed, both exported with `force_gates_open`, on real
CIFAR-10 test images. A second one serves a cascade workdir (a static ResNet-8 stage, then an
LC-Net one with random gates; synthetic images) as `tflite.serve_demo --export` writes it. A
third one serves a budget knob file (an L-Net ResNet-8 exported with its budget table) next to
a static ResNet-8 and moves the page's budget slider.
`make test` installs chromium and the npm packages (`make web_deps`); outside CI a missing one
skips these tests with the reason, in CI (CI=true) it fails them.
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
    workdir_models,
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


def _missing_browser(cifar=True):
    missing = _missing_node()
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"chromium ({CHROMIUM}; Debian package chromium)")
    for package in ("playwright-core", "@litertjs/core"):
        if not (SITE / "node_modules" / package / "package.json").is_file():
            missing.append(f"web_demo/node_modules/{package} (npm ci --prefix web_demo)")
    if cifar and not (CIFAR_DIR / "dataset_info.json").is_file():
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


def _serve(data_dir):
    """Serves the page and `data_dir` on a free port in a thread; returns (server, url)."""
    server = make_server(data_dir, host="127.0.0.1", port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Exports the two models, writes the page's data and serves it; yields their paths."""
    _require(_missing_browser())
    import keras

    root = tmp_path_factory.mktemp("web_demo")
    images, labels = load_images(str(CIFAR_DIR), "test", NUM_LATENCY_IMAGES)
    gate_images, _ = load_images(str(CIFAR_DIR), "train", 64)

    # A module fixture is set up before the autouse seed of its first test: seed it here, or
    # its weights depend on which tests ran before (and its logits' agreement with them).
    keras.utils.set_random_seed(0)
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
    # The LC-Net's columns named from the model, the L-Net's left generic.
    write_demo_data(data_dir, {"dynamic": dynamic_path, "closed": closed_path}, images, labels,
                    class_names=[str(k) for k in range(10)],
                    decision_units={"dynamic": dynamic.decision_units()})
    server, url = _serve(data_dir)
    try:
        yield {"url": url, "root": root,
               "images": images, "labels": labels, "dynamic": dynamic_path,
               "closed": closed_path}
    finally:
        server.shutdown()
        server.server_close()


def _drive(url, tmp_dir, calls, *, ui=False, budgets=None):
    calls_path = tmp_dir / "calls.json"
    calls_path.write_text(json.dumps(calls))
    command = ["node", str(SITE / "scripts" / "drive.mjs"), "--url", url, "--calls",
               str(calls_path), "--chromium", CHROMIUM]
    if ui:
        command += ["--ui", "--screenshot", str(tmp_dir / "results.png")]
    if budgets:
        command += ["--budgets", ",".join(str(b) for b in budgets),
                    "--knob-screenshot", str(tmp_dir / "knob.png")]
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


def _assert_image_matches(record, index, python, context):
    """The page's record of one image equals the Python interpreter's outputs: decisions,
    kept groups and FLOPs exactly, logits within 1e-4, the same top-1."""
    np.testing.assert_array_equal(np.float32(record["gate"][index]),
                                  python["gate"].reshape(-1), err_msg=context)
    np.testing.assert_array_equal(np.float32(record["kept_groups"][index]),
                                  python["kept_groups"].reshape(-1), err_msg=context)
    assert np.float32(record["flops"][index]) == python["realized_flops"].reshape(-1)[0], context
    np.testing.assert_allclose(np.float32(record["logits"][index]),
                               python["logits"].reshape(-1), rtol=0, atol=1e-4, err_msg=context)
    assert record["predicted"][index] == int(np.argmax(python["logits"])), context


def _python_outputs(path, images, force_gates_open):
    runner = TFLiteRunner(str(path))
    return [runner.run(image, force_gates_open=force_gates_open)[0] for image in images]


@pytest.mark.parametrize("entry,force", [("dynamic", False), ("dynamic@open", True)])
def test_page_decisions_flops_and_logits_equal_python(demo, page, entry, force):
    record = page["calls"][0]["perImage"][entry]
    expected = _python_outputs(demo["dynamic"], demo["images"][:NUM_IMAGES], force)
    assert len(record["gate"]) == NUM_IMAGES
    for index, python in enumerate(expected):
        _assert_image_matches(record, index, python, f"{entry}, image {index}")
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
    assert "stages run" not in ui["header"]  # No cascade here.
    for card in ui["cardDetails"]:  # One strip of blocks, named as the model names them.
        (strip,) = card["strips"]
        assert strip["label"] is None
        assert strip["cells"][0][1].startswith("stage1_block1: ")
        ran = sum(" ran" in css for css, _ in strip["cells"])
        assert card["decisions"] == f"{ran}/9 blocks ran"
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
    assert manifest["models"][0]["decision_units_source"] == "keras"
    assert manifest["models"][0]["decision_units"][0] == {
        "name": "stage1_block1", "kind": "block", "gated": True}
    assert manifest["models"][1]["decision_units_source"] == "generic"
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
    assert split_model_name("stage1_int8") == ("stage1", "int8")
    (tmp_path / "tflite_benchmark").mkdir()
    for name in ("dynamic.tflite", "static_int8.tflite", "static.tflite", "other.tflite"):
        (tmp_path / "tflite_benchmark" / name).write_bytes(b"")
    assert list(find_tflite_models(tmp_path)) == ["dynamic", "static", "static_int8"]
    (tmp_path / "model.tflite").write_bytes(b"")
    assert list(find_tflite_models(tmp_path))[0] == "dynamic"
    # A cascade's first stages (tflite.benchmark's stage<i> files), cheapest first.
    for name in ("stage1_int8.tflite", "stage0.tflite", "stage1.tflite", "stage.tflite",
                 "stagex.tflite"):
        (tmp_path / "tflite_benchmark" / name).write_bytes(b"")
    assert list(find_tflite_models(tmp_path)) == [
        "dynamic", "stage0", "stage1", "stage1_int8", "static", "static_int8"]


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


# A cascade workdir through tflite.serve_demo ------------------------------------------------
CASCADE_IMAGES = 12
CASCADE_UI_IMAGES = 6
CASCADE_ROLES = ["dynamic", "stage0", "static"]  # The page's order: a cascade, then its stages.


def _gated_stage_cascade(train_images, test_images):
    """A static ResNet-8 x0.25 stage, then an LC ResNet-8 x0.5 whose blocks and channel groups
    vary per image; the threshold sends half of `test_images` to the second stage."""
    import harness
    import keras

    from lcnet_tf.export.gate_patterns import randomize_gates

    keras.utils.set_random_seed(0)
    model = lcnet_tf.create_model("resnet8", gating="cascade", cascade_widths=(0.25, 0.5),
                                  cascade_gatings=("none", "lc"))
    for seed, stage in enumerate(model.stages):
        harness.randomize_batch_norm(stage, seed=seed)
    randomize_gates(model.stages[1], seed=3, block_keep_prob=0.5, images=train_images)
    probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(model.stages[0](test_images)))
    ordered = np.sort(probabilities, axis=1)
    model.set_thresholds([float(np.median(ordered[:, -1] - ordered[:, -2]))])
    return model


@pytest.fixture(scope="module")
def cascade_workdir(tmp_path_factory):
    """A workdir whose model.keras is a gated-stage cascade, and `tflite.serve_demo --export`
    run on it (synthetic images)."""
    from lcnet_tf.data import make_synthetic_tfds_dir

    root = tmp_path_factory.mktemp("cascade_demo")
    dataset = make_synthetic_tfds_dir(root / "data", num_train=32, num_test=CASCADE_IMAGES)
    train_images, _ = load_images(dataset, "train", 32)
    images, labels = load_images(dataset, "test", CASCADE_IMAGES)
    model = _gated_stage_cascade(train_images, images)
    workdir = root / "run"
    workdir.mkdir()
    model.save(workdir / "model.keras")
    command = [sys.executable, "-m", "tflite.serve_demo", "--workdir", str(workdir),
               "--dataset", dataset, "--num_images", str(CASCADE_IMAGES), "--export",
               "--quantize", "none", "--noserve"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    data_dir = workdir / "web_demo"
    return {"model": model, "workdir": workdir, "dataset": dataset, "images": images,
            "labels": labels, "data_dir": data_dir, "stdout": result.stdout,
            "manifest": json.loads((data_dir / "manifest.json").read_text())}


def _units(model):
    return [[name, kind, gated] for name, kind, gated in model.decision_units()]


def _manifest_units(entry):
    return [[unit["name"], unit["kind"], unit["gated"]] for unit in entry["decision_units"]]


def test_serve_demo_export_takes_a_cascade_and_its_stages_with_unit_names(cascade_workdir):
    model, manifest = cascade_workdir["model"], cascade_workdir["manifest"]
    entries = {entry["name"]: entry for entry in manifest["models"]}
    assert list(entries) == CASCADE_ROLES, cascade_workdir["stdout"]
    assert [entries[name]["role"] for name in CASCADE_ROLES] == CASCADE_ROLES
    # The cascade's columns: its stages, then its LC stage's blocks (docs: decision_units).
    assert _manifest_units(entries["dynamic"]) == _units(model)
    assert [kind for _, kind, _ in model.decision_units()][:2] == ["stage", "stage"]
    assert _manifest_units(entries["stage0"]) == _units(model.stages[0])
    assert _manifest_units(entries["static"]) == _units(model.stages[1])  # its last stage
    for entry in entries.values():
        assert entry["decision_units_source"] == "keras"
        assert entry["num_blocks"] == len(entry["decision_units"])
        assert entry["has_force_input"]
    assert entries["dynamic"]["num_if_ops"] == model.export_contract().if_ops
    assert entries["stage0"]["num_if_ops"] == 0


def test_serve_demo_files_of_a_cascade_workdir_get_their_unit_names(cascade_workdir, tmp_path):
    """The workdir's own .tflite files (tflite.benchmark's names) with the .keras model's
    unit names; without the .keras model, generic ones."""
    model = cascade_workdir["model"]
    workdir = tmp_path / "run"
    (workdir / "tflite_benchmark").mkdir(parents=True)
    for name in CASCADE_ROLES:
        shutil.copyfile(cascade_workdir["data_dir"] / "models" / f"{name}.tflite",
                        workdir / "tflite_benchmark" / f"{name}.tflite")
    shutil.copyfile(cascade_workdir["workdir"] / "model.keras", workdir / "model.keras")
    models = workdir_models(workdir)
    assert list(models.paths) == CASCADE_ROLES
    assert [list(unit) for unit in models.decision_units["dynamic"]] == _units(model)
    assert [list(unit) for unit in models.decision_units["stage0"]] == _units(model.stages[0])
    manifest_path = write_demo_data(tmp_path / "data", models.paths,
                                    cascade_workdir["images"][:2], cascade_workdir["labels"][:2],
                                    decision_units=models.decision_units)
    entries = {e["name"]: e for e in json.loads(manifest_path.read_text())["models"]}
    assert _manifest_units(entries["dynamic"]) == _units(model)
    assert _manifest_units(entries["static"]) == _units(model.stages[1])

    (workdir / "model.keras").unlink()
    models = workdir_models(workdir)
    assert models.decision_units == {}
    manifest_path = write_demo_data(tmp_path / "generic", models.paths,
                                    cascade_workdir["images"][:2], cascade_workdir["labels"][:2],
                                    decision_units=models.decision_units)
    dynamic = json.loads(manifest_path.read_text())["models"][0]
    assert dynamic["decision_units_source"] == "generic"
    assert [u["name"] for u in dynamic["decision_units"]] == [
        f"unit{k + 1}" for k in range(len(model.decision_units()))]
    assert {u["kind"] for u in dynamic["decision_units"]} == {"unit"}


@pytest.fixture(scope="module")
def cascade_page(cascade_workdir):
    """One browser session on the cascade's page data: a parity run, then the UI's run."""
    _require(_missing_browser(cifar=False))
    server, url = _serve(cascade_workdir["data_dir"])
    try:
        calls = [{"models": CASCADE_ROLES, "gates": "learned+open",
                  "numImages": CASCADE_IMAGES, "repeats": 1, "chunk": 6, "warmupMs": 0}]
        url = f"{url}?images={CASCADE_UI_IMAGES}&repeats=1&chunk=3&warmup=0"
        yield _drive(url, cascade_workdir["workdir"], calls, ui=True)
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("entry,force", [("dynamic", False), ("dynamic@open", True),
                                         ("stage0", False)])
def test_cascade_page_decisions_and_flops_equal_python(cascade_workdir, cascade_page, entry,
                                                       force):
    record = cascade_page["calls"][0]["perImage"][entry]
    path = cascade_workdir["data_dir"] / "models" / f"{entry.split('@')[0]}.tflite"
    expected = _python_outputs(path, cascade_workdir["images"], force)
    for index, python in enumerate(expected):
        _assert_image_matches(record, index, python, f"{entry}, image {index}")
    gate = np.array(record["gate"])
    if entry == "dynamic":  # Both exits, and blocks that vary among the escalated images.
        assert 0 < gate[:, 1].sum() < len(gate), gate[:, 1]
        escalated = gate[gate[:, 1] == 1]
        assert len({tuple(row) for row in escalated[:, 2:]}) > 1, escalated
        assert np.all(gate[gate[:, 1] == 0][:, 2:] == 0)  # A stage that did not run: zeros.
    if force:
        assert np.all(gate == 1)
    summary = cascade_page["calls"][0]["summary"]
    assert cascade_page["calls"][0]["reference"] == "static"
    assert summary["stage0"]["mean_flops"] < summary["dynamic"]["mean_flops"] < summary[
        "dynamic@open"]["mean_flops"]


def test_cascade_page_shows_its_stage_rows_and_names_stages_and_blocks(cascade_workdir,
                                                                        cascade_page):
    ui = cascade_page["ui"]
    assert not ui["statusIsError"], ui["status"]
    assert cascade_page["pageErrors"] == []
    assert [row[0] for row in ui["rows"]] == CASCADE_ROLES
    header = ui["header"]
    assert "stages run" in header and "blocks run" in header
    stages_run = {row[0]: row[header.index("stages run")] for row in ui["rows"]}
    assert stages_run["stage0"] == stages_run["static"] == "\u2014"
    assert stages_run["dynamic"].startswith("100/")
    assert ui["cards"] == CASCADE_UI_IMAGES
    model = cascade_workdir["model"]
    blocks = [name.split("/", 1)[1] for name, kind, _ in model.decision_units()
              if kind == "block"]
    gates = cascade_page["calls"][0]["perImage"]["dynamic"]["gate"]  # Same file and images.
    for index, card in enumerate(ui["cardDetails"]):
        gate = gates[index]
        escalated = gate[1] == 1
        stages, stage1 = card["strips"]
        assert stages["label"] == "stages" and stage1["label"] == "stage1"
        assert [title for _, title in stages["cells"]] == [
            "stage0: ran", f"stage1: {'ran' if escalated else 'skipped'}"]
        assert len(stage1["cells"]) == len(blocks)
        if escalated:
            ran = int(sum(gate[2:]))
            assert card["decisions"] == f"stage1 ran ({ran}/{len(blocks)} blocks)"
            for (css, title), block, column in zip(stage1["cells"], blocks, gate[2:],
                                                   strict=True):
                state = "ran" if column == 1 else "skipped"
                assert title.startswith(f"stage1/{block}: {state}") and state in css
        else:
            assert card["decisions"] == "stage1 skipped"
            for css, title in stage1["cells"]:
                assert "idle" in css and title.endswith("not run (stage1 skipped)")


# A budget knob file ----------------------------------------------------------------------------
KNOB_IMAGES = 12
# Where the table's rows sit in the model's reachable FLOPs range; the model's own decisions
# (its "serve" signature) are calibrated to the middle one.
KNOB_ROW_POSITIONS = (0.2, 0.5, 0.8)


def _knob_model(train_images):
    """An L-Net ResNet-8 with random gates calibrated to the middle of its FLOPs range, and its
    budget table (`lcnet_tf.training.budget_table`) at three budgets of that range."""
    import keras

    from lcnet_tf.training import budget_table, calibrate

    keras.utils.set_random_seed(0)
    model = lcnet_tf.create_model("resnet8", gating="layer")
    randomize_gates(model, seed=0)
    low, high = (flops / model.reference_flops for flops in model.flops_range())
    calibrate(model, train_images, low + 0.5 * (high - low))
    budgets = [round(low + (high - low) * position, 3) for position in KNOB_ROW_POSITIONS]
    return model, budget_table(model, train_images, budgets=budgets)


def _with_table_at_offset(content):
    """The same file with the table's buffer moved after the flatbuffer (`offset`/`size`, as
    files over 2 GB store buffers): the readers' second path."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    (entry,) = [m for m in model.metadata if m.name == b"lcnet_budget_table"]
    buffer = model.buffers[entry.buffer]
    data = bytes(buffer.data)
    moved = schema.BufferT()
    moved.offset, moved.size = 2**40, len(data)  # A placeholder of the same encoded size.
    model.buffers[entry.buffer] = moved
    size = len(flatbuffer_utils.convert_object_to_bytearray(model))
    moved.offset = (size + 15) // 16 * 16
    packed = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    assert len(packed) == size
    return packed + bytes(moved.offset - size) + data


@pytest.fixture(scope="module")
def knob_demo(tmp_path_factory):
    """A knob file (deployed: image-only "serve", "serve_budget" with `decisions`) and a static
    ResNet-8, on synthetic images, written as the page's data."""
    from lcnet_tf.data import make_synthetic_tfds_dir

    root = tmp_path_factory.mktemp("knob_demo")
    dataset = make_synthetic_tfds_dir(root / "data", num_train=64, num_test=KNOB_IMAGES)
    train_images, _ = load_images(dataset, "train", 64)
    images, labels = load_images(dataset, "test", KNOB_IMAGES)
    model, table = _knob_model(train_images)
    knob_path = root / "knob.tflite"
    to_tflite(model, knob_path, budget_table=table)
    static_path = root / "static.tflite"
    to_tflite(lcnet_tf.create_model("resnet8"), static_path)
    data_dir = root / "page"
    manifest_path = write_demo_data(data_dir, {"dynamic": knob_path, "static": static_path},
                                    images, labels)
    return {"root": root, "data_dir": data_dir, "images": images, "labels": labels,
            "table": table, "knob": knob_path, "static": static_path,
            "manifest": json.loads(manifest_path.read_text())}


def _read_knob(path, budgets=()):
    result = subprocess.run(["node", str(SITE / "scripts" / "read_knob.mjs"), str(path),
                             "--budgets", ",".join(budgets)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_page_reads_the_knob_table_as_python_does(knob_demo, tmp_path):
    """knob.js against lcnet_tf.export.read_budget_table and BudgetTable.lookup, on the
    exported file, on the same file with the table after the flatbuffer, and on a plain file."""
    _require(_missing_node())
    from lcnet_tf.export import read_budget_table

    table = knob_demo["table"]
    low, high = table.budget_range
    middle = table.rows[1].budget
    budgets = [low, (low + middle) / 2, middle + 5e-10, high + 5e-10, 0.75 * middle + 0.25 * high,
               high + 2e-9, low - 0.01, float("nan"), float("inf")]
    content = knob_demo["knob"].read_bytes()
    moved = tmp_path / "knob_offset.tflite"
    moved.write_bytes(_with_table_at_offset(content))
    assert read_budget_table(moved) == table
    for path in (knob_demo["knob"], moved):
        page = _read_knob(path, [json.dumps(b) for b in budgets])  # NaN, Infinity as JS
        assert page["knob"] is True
        assert page["table"] == table.to_json()
        assert [m["name"] for m in page["metadata"]][-1] == "lcnet_budget_table"
        for budget, found in zip(budgets, page["lookups"], strict=True):
            try:
                expected = table.lookup(budget)
            except ValueError as error:
                assert found["error"].startswith("RangeError: Invalid value for `budget`: "
                                                 f"expected a number in [{low:.4f}, {high:.4f}]")
                assert f"Received: budget={json.dumps(budget)}" in found["error"], found
                assert f"[{low:.4f}, {high:.4f}]" in str(error)  # Python says the same.
                continue
            assert "error" not in found, (budget, found)
            assert found["decisions"] == list(expected.decisions), budget  # bit for bit
            assert found["meanFlops"] == expected.expected_flops, budget
            assert found["exact"] == expected.exact, budget
    plain = _read_knob(knob_demo["static"])
    assert plain["knob"] is False
    assert "is not a budget knob file" in plain["message"]


@pytest.fixture(scope="module")
def knob_page(knob_demo):
    """One browser session on the knob page: parity runs through benchmark() (the row budgets
    and an interpolated one), refused budgets, then the UI's run and the slider moved."""
    _require(_missing_browser(cifar=False))
    table = knob_demo["table"]
    low, high = table.budget_range
    between = (table.rows[0].budget + table.rows[1].budget) / 2
    run = {"numImages": KNOB_IMAGES, "repeats": 1, "chunk": 6, "warmupMs": 0}
    calls = [
        {"models": ["dynamic", "static"], "budget": low, **run},
        {"models": ["dynamic"], "budget": between, **run},
        {"models": ["dynamic"], "budget": high, **run},
        {"models": ["dynamic"], **run},  # No budget: the file's "serve" signature.
        {"models": ["dynamic"], "budget": high + 0.01, "expectError": True, **run},
        {"models": ["dynamic"], "budget": "0.8", "expectError": True, **run},
        {"entries": [{"name": "static@low", "model": "static", "budget": low}],
         "expectError": True, **run},
    ]
    server, url = _serve(knob_demo["data_dir"])
    try:
        url = f"{url}?images={KNOB_IMAGES}&repeats=1&chunk=6&warmup=0"
        yield _drive(url, knob_demo["root"], calls, ui=True,
                     budgets=["max", round(between, 4), "min", "default"])
    finally:
        server.shutdown()
        server.server_close()


def _knob_outputs(path, images, decisions):
    """The Python interpreter's outputs of "serve_budget" (decisions given) or "serve"."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    if decisions is None:
        runner = interpreter.get_signature_runner("serve")
        return [runner(image=image[None].astype(np.float32)) for image in images]
    runner = interpreter.get_signature_runner("serve_budget")
    decisions = np.asarray(decisions, np.float32)
    return [runner(image=image[None].astype(np.float32), decisions=decisions)
            for image in images]


def test_knob_page_runs_serve_budget_as_python_does(knob_demo, knob_page):
    table = knob_demo["table"]
    mean_flops = []
    for call in knob_page["calls"][:4]:
        (entry,) = [e for e in call["entries"] if e["model"] == "dynamic"]
        setting = entry["setting"]
        if entry["budget"] is None:  # "serve": the file's default decisions.
            assert entry["name"] == "dynamic" and setting is None
            decisions = None
        else:
            expected = table.lookup(entry["budget"])
            assert entry["name"] == f"dynamic@{entry['budget']:.3f}"
            assert setting["decisions"] == list(expected.decisions)
            assert setting["meanFlops"] == expected.expected_flops
            assert setting["exact"] == expected.exact
            decisions = setting["decisions"]
        record = call["perImage"][entry["name"]]
        python = _knob_outputs(knob_demo["knob"], knob_demo["images"], decisions)
        for index, outputs in enumerate(python):
            _assert_image_matches(record, index, outputs, f"{entry['name']}, image {index}")
        mean_flops.append(np.mean(record["flops"]))
    low, between, high, default = mean_flops
    assert low <= between <= high and low < high, mean_flops  # The knob moves the cost.
    assert low < default < high, mean_flops  # The default decisions lie between the ends.
    assert knob_page["calls"][0]["reference"] == "static"
    assert [e["name"] for e in knob_page["calls"][0]["entries"]] == [
        f"dynamic@{table.rows[0].budget:.3f}", "static"]


def test_knob_page_refuses_budgets_outside_the_table_by_value_and_range(knob_demo, knob_page):
    low, high = knob_demo["table"].budget_range
    above, text, static = (call["error"] for call in knob_page["calls"][4:7])
    range_text = f"expected a number in [{low:.4f}, {high:.4f}]"
    assert above.startswith("RangeError: Invalid value for `budget`: " + range_text), above
    assert above.endswith(f"Received: budget={high + 0.01!r}"), above
    assert text.startswith("RangeError: ") and text.endswith('Received: budget="0.8"'), text
    assert static == "Error: static is not a budget knob file", static


def test_knob_slider_moves_the_realized_flops(knob_demo, knob_page):
    table = knob_demo["table"]
    low, high = table.budget_range
    knob = knob_page["knob"]
    assert knob["hidden"] is False
    assert (float(knob["min"]), float(knob["max"])) == (low, high)
    # A range input keeps about 15 significant digits of its value.
    assert float(knob["start"]) == pytest.approx(min(high, max(low, table.default.budget)),
                                                 abs=1e-12)
    assert knob_page["pageErrors"] == []
    assert [line for line in knob_page["console"] if line.startswith("error")] == []
    steps = {step["step"]: step for step in knob["steps"]}
    assert list(steps) == ["max", str(round((table.rows[0].budget + table.rows[1].budget) / 2,
                                             4)), "min", "default"]
    realized = {}
    for name, step in steps.items():
        assert not step["statusIsError"], step["status"]
        assert "budget knob: dynamic" in step["status"]
        result = step["result"]
        if name == "default":
            assert step["budget"] is None and step["shown"] == "default"
            assert step["readout"].startswith('default: the file\'s own decisions ("serve")')
            entry = "dynamic"
        else:
            budget = {"max": high, "min": low}[name] if name in ("max", "min") else float(name)
            assert step["budget"] == budget and float(step["slider"]) == budget
            expected = table.lookup(budget)
            assert step["readout"].startswith(f"budget {budget:.3f}: offset = ")
            assert ("row" if expected.exact else "interpolated") in step["readout"]
            entry = f"dynamic@{budget:.3f}"
            (setting,) = [e["setting"] for e in result["entries"] if e["name"] == entry]
            assert setting["decisions"] == list(expected.decisions)
            python = _knob_outputs(knob_demo["knob"], knob_demo["images"], expected.decisions)
            assert np.float32(result["flops"][entry]).tolist() == [
                float(outputs["realized_flops"][0]) for outputs in python]
        # The summary: the knob file at this budget next to the static model.
        assert [row[0] for row in step["rows"]] == [entry, "static"]
        assert result["summary"][entry]["mean_flops"] == pytest.approx(
            np.mean(result["flops"][entry]))
        realized[name] = result["summary"][entry]["mean_flops"]
        # The knob's table: one row per budget run so far, by budget.
        rows = {row["budget"]: row for row in step["knobRows"]}
        key = "default" if name == "default" else repr(budget)
        assert float(rows[key]["realizedFlops"]) == realized[name]
        budgets_shown = [table.default.budget if row["budget"] == "default" else float(
            row["budget"]) for row in step["knobRows"]]
        assert budgets_shown == sorted(budgets_shown)
    assert len(steps["default"]["knobRows"]) == 4  # The UI's first run was the default too.
    assert realized["min"] < realized["default"] < realized["max"], realized
    middle = realized[list(steps)[1]]
    assert realized["min"] <= middle <= realized["max"], realized
    from PIL import Image

    with Image.open(knob_demo["root"] / "knob.png") as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    assert pixels.std() > 20, "screenshot is blank"


def test_manifest_says_which_files_are_knob_files(knob_demo):
    entries = {entry["name"]: entry for entry in knob_demo["manifest"]["models"]}
    assert entries["dynamic"]["budget_knob"] is True
    assert entries["dynamic"]["signatures"] == ["serve", "serve_budget"]
    assert list(entries["dynamic"]["inputs"]) == ["image"]  # "serve": image only
    assert entries["static"]["budget_knob"] is False
    assert entries["static"]["signatures"] == ["serve"]

"""The app's assets from real exported models, read by the Java core as the app reads them.

Python writes the assets (models, images.bin, manifest.json) from small untrained models exported
with `lcnet_tf.export.to_tflite`, both as deployed (the image is the only input) and with
`force_input=True`; the Java core checks each file's signature, as LiteRT reports it in Python,
against its contract, and says which inputs it will set (never leaving `force_gates_open` unset).
"""

import json
import subprocess
import sys
from pathlib import Path

import android_java
import keras
import numpy as np
import pytest

import lcnet_tf
from lcnet_tf.apps.android_assets import (
    default_reference,
    display_order,
    read_image_set,
    read_signature,
    write_android_assets,
    write_image_set,
)
from lcnet_tf.export import (
    FORCE_INPUT,
    IMAGE_INPUT,
    OUTPUT_NAMES,
    SIGNATURE_KEY,
    summarize_tflite,
    to_tflite,
)
from lcnet_tf.export.benchmark import format_table

REPO = Path(__file__).resolve().parents[2]
CIFAR_DIR = REPO.parent / "shared" / "data" / "cifar10_jpeg"
SMALL_IMAGE_SET = android_java.TEST_RESOURCES / "images_small.bin"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny untrained LC ResNet-8, exported deployed and with the force_gates_open input."""
    keras.utils.set_random_seed(0)
    model = lcnet_tf.create_model("resnet8", gating="lc", width_multiplier=0.25)
    folder = tmp_path_factory.mktemp("exported")
    to_tflite(model, folder / "deployed.tflite")
    to_tflite(model, folder / "forced.tflite", force_input=True)
    return {"deployed": folder / "deployed.tflite", "forced": folder / "forced.tflite"}


@pytest.fixture(scope="module")
def assets(exported, tmp_path_factory):
    out = tmp_path_factory.mktemp("assets")
    (out / "models").mkdir()
    (out / "models" / "stale.tflite").write_bytes(b"old")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 32, 32, 3))
    labels = rng.integers(0, 10, 6)
    manifest = write_android_assets(
        out, {"dynamic": exported["deployed"], "dynamic_forced": exported["forced"]}, images,
        labels, class_names=[f"class{i}" for i in range(10)], measure=True, chunk=4)
    return {"dir": out, "manifest": json.loads(manifest.read_text()), "labels": labels}


def test_exported_signatures_meet_the_java_contract(assets, exported, core_classpath):
    result = android_java.java(core_classpath, "AssetsCheck", assets["dir"])
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads(result.stdout)
    assert seen["contract"] == {
        "signature_key": SIGNATURE_KEY, "image_input": IMAGE_INPUT, "force_input": FORCE_INPUT,
        "force_gates_off": 0.0, "output_names": list(OUTPUT_NAMES),
        "image_dtypes": ["float32", "uint8"]}
    deployed, forced = seen["models"]["dynamic"], seen["models"]["dynamic_forced"]
    assert deployed["inputs_to_set"] == [IMAGE_INPUT]  # What a phone app calls: image only.
    assert forced["inputs_to_set"] == [IMAGE_INPUT, FORCE_INPUT]  # Set to 0 on every run.
    for name, path in (("dynamic", exported["deployed"]), ("dynamic_forced", exported["forced"])):
        signature = read_signature(path)
        assert SIGNATURE_KEY in signature["signature_keys"]
        assert seen["models"][name]["num_blocks"] == signature["outputs"]["gate"]["shape"][-1]
        assert seen["models"][name]["num_classes"] == 10
        assert seen["models"][name]["image_dtype"] == "float32"
        assert seen["models"][name]["num_if_ops"] == summarize_tflite(
            path.read_bytes()).num_if_ops
    assert seen["labels"] == assets["labels"].tolist()
    assert seen["reference"] == seen["default_options_reference"] == "dynamic"


def test_the_java_core_rejects_a_model_with_an_input_it_would_leave_unset(assets,
                                                                            core_classpath,
                                                                            tmp_path):
    manifest = json.loads(json.dumps(assets["manifest"]))
    manifest["models"][0]["inputs"]["temperature"] = {"dtype": "float32", "shape": [1]}
    bad = tmp_path / "assets"
    bad.mkdir()
    (bad / "manifest.json").write_text(json.dumps(manifest))
    (bad / "images.bin").write_bytes((assets["dir"] / "images.bin").read_bytes())
    (bad / "models").symlink_to(assets["dir"] / "models")
    result = android_java.java(core_classpath, "AssetsCheck", bad)
    assert result.returncode == 1
    assert "unknown inputs [temperature]" in json.loads(result.stdout)["error"]


def test_manifest_records_the_python_benchmark_of_the_same_files(assets):
    manifest, out = assets["manifest"], assets["dir"]
    assert [m["name"] for m in manifest["models"]] == ["dynamic", "dynamic_forced"]
    assert not (out / "models" / "stale.tflite").exists()
    for entry in manifest["models"]:
        content = (out / entry["file"]).read_bytes()
        assert entry["bytes"] == len(content)
        assert entry["has_force_input"] == (entry["name"] == "dynamic_forced")
    python = manifest["python_benchmark"]
    assert python["table"] == format_table(python["summary"])
    assert python["settings"]["num_images"] == 6
    assert python["settings"]["chunk"] == 4
    assert python["machine"]["cpu_count"] >= 1
    assert set(python["summary"]) == {"dynamic", "dynamic_forced"}
    # The same weights with force_gates_open = 0 make the same decisions: same FLOPs.
    assert python["summary"]["dynamic"]["mean_flops"] == pytest.approx(
        python["summary"]["dynamic_forced"]["mean_flops"])
    assert manifest["metadata"]["tensorflow"].startswith("2.")


def test_image_set_round_trips_from_python_to_the_apps_input_buffers(core_classpath, tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (5, 32, 32, 3)).astype(np.uint8)
    images[0] = 255
    images[1] = 0
    labels = np.array([0, 9, 3, 2**31 - 1, -1])
    write_image_set(tmp_path / "images.bin", images, labels)
    back, back_labels = read_image_set(tmp_path / "images.bin")
    assert np.array_equal(back, images) and np.array_equal(back_labels, labels)
    result = android_java.java(core_classpath, "ImageSetDump", tmp_path / "images.bin",
                               tmp_path / "dump")
    assert result.returncode == 0, result.stderr
    header = json.loads((tmp_path / "dump.json").read_text())
    assert [header[k] for k in ("count", "height", "width", "channels")] == [5, 32, 32, 3]
    assert header["labels"] == labels.tolist()
    floats = np.fromfile(tmp_path / "dump.f32", "<f4").reshape(images.shape)
    assert np.array_equal(floats, images.astype(np.float32))  # What to_tflite's float input gets.
    assert np.array_equal(np.fromfile(tmp_path / "dump.u8", np.uint8).reshape(images.shape),
                          images)


def test_committed_small_image_set_is_what_python_writes(tmp_path):
    index, y, x, c = np.meshgrid(np.arange(3), np.arange(4), np.arange(5), np.arange(3),
                                 indexing="ij")
    write_image_set(tmp_path / "small.bin", (7 * index + 13 * y + 3 * x + 101 * c) % 256,
                    [3, 0, 9])
    assert (tmp_path / "small.bin").read_bytes() == SMALL_IMAGE_SET.read_bytes()


def test_models_are_listed_as_the_python_benchmark_lists_them():
    names = ["dynamic_int8", "reference", "dynamic", "static_int8", "static", "extra"]
    assert display_order(names) == ["static", "dynamic", "reference", "extra", "static_int8",
                                     "dynamic_int8"]
    assert default_reference(["dynamic_int8", "static_int8"]) == "static_int8"
    # A cascade: tflite.benchmark times static (its last stage), stage<i>, dynamic, reference.
    names = ["dynamic", "stage1_int8", "stage10", "stage1", "static_int8", "stage0", "static",
             "reference"]
    assert display_order(names) == ["static", "stage0", "stage1", "stage10", "dynamic",
                                    "reference", "static_int8", "stage1_int8"]
    assert default_reference(names) == "static"


def test_writers_reject_bad_inputs(exported, tmp_path):
    with pytest.raises(ValueError, match="integer pixels in 0-255"):
        write_image_set(tmp_path / "x.bin", np.full((1, 2, 2, 3), 256), [0])
    with pytest.raises(ValueError, match="N labels"):
        write_image_set(tmp_path / "x.bin", np.zeros((2, 2, 2, 3)), [0])
    with pytest.raises(ValueError, match="takes"):
        write_android_assets(tmp_path / "a", {"dynamic": exported["deployed"]},
                             np.zeros((1, 16, 16, 3)), [0], measure=False)


@pytest.mark.skipif(not CIFAR_DIR.is_dir(), reason=f"no CIFAR-10 copy at {CIFAR_DIR}")
def test_android_assets_cli_writes_the_apps_assets_from_a_workdir(exported, tmp_path):
    workdir = tmp_path / "run"
    (workdir / "tflite_benchmark").mkdir(parents=True)
    (workdir / "tflite_benchmark" / "dynamic.tflite").write_bytes(
        exported["deployed"].read_bytes())
    out = tmp_path / "assets"
    result = subprocess.run(
        [sys.executable, "-m", "tflite.android_assets", "--workdir", str(workdir),
         "--dataset", str(CIFAR_DIR), "--num_images", "3", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert [m["name"] for m in manifest["models"]] == ["dynamic"]
    assert manifest["class_names"][0] == "airplane"
    assert manifest["python_benchmark"]["settings"]["num_images"] == 3
    images, labels = read_image_set(out / "images.bin")
    assert images.shape == (3, 32, 32, 3) and len(labels) == 3


@pytest.fixture(scope="module")
def cascade_workdir(tmp_path_factory):
    """A workdir whose model.keras is a static cascade (ResNet-8 x0.25 then x0.5) calibrated to
    the middle of its FLOPs range, and `tflite.android_assets --export` run on it."""
    from lcnet_tf.data import make_synthetic_tfds_dir
    from lcnet_tf.export.benchmark import load_images
    from lcnet_tf.training import calibrate

    root = tmp_path_factory.mktemp("cascade")
    dataset = make_synthetic_tfds_dir(root / "data", num_train=32, num_test=4)
    train_images, _ = load_images(dataset, "train", 32)
    keras.utils.set_random_seed(0)
    model = lcnet_tf.create_model("resnet8", gating="cascade", cascade_widths=(0.25, 0.5),
                                  cascade_gatings=("none", "none"))
    low, high = (flops / model.reference_flops for flops in model.flops_range())
    calibrate(model, train_images, 0.5 * (low + high))
    workdir = root / "run"
    workdir.mkdir()
    model.save(workdir / "model.keras")
    out = root / "assets"
    result = subprocess.run(
        [sys.executable, "-m", "tflite.android_assets", "--workdir", str(workdir),
         "--dataset", dataset, "--num_images", "4", "--out", str(out), "--export",
         "--quantize", "none", "--chunk", "2"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return {"model": model, "workdir": workdir, "dataset": dataset, "out": out,
            "manifest": json.loads((out / "manifest.json").read_text())}


def test_android_assets_export_a_cascade_and_its_stages_with_unit_names(cascade_workdir,
                                                                        core_classpath):
    model, manifest = cascade_workdir["model"], cascade_workdir["manifest"]
    names = ["static", "stage0", "dynamic"]  # As tflite.benchmark prints a cascade's rows.
    assert [m["name"] for m in manifest["models"]] == names
    assert manifest["reference"] == "static"  # The cascade's last stage.
    units = {m["name"]: [[u["name"], u["kind"], u["gated"]] for u in m["decision_units"]]
             for m in manifest["models"]}
    assert units["dynamic"] == [["stage0", "stage", False], ["stage1", "stage", True]]
    assert units["stage0"] == [list(u) for u in model.stages[0].decision_units()]
    assert units["static"] == [list(u) for u in model.stages[1].decision_units()]
    assert {m["decision_units_source"] for m in manifest["models"]} == {"keras"}
    python = manifest["python_benchmark"]["summary"]
    assert python["stage0"]["mean_flops"] <= python["dynamic"]["mean_flops"]

    result = android_java.java(core_classpath, "AssetsCheck", cascade_workdir["out"])
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads(result.stdout)["models"]
    assert list(seen) == names
    assert [seen[name]["stage_index"] for name in names] == [-1, 0, -1]
    assert seen["dynamic"]["decision_units"] == units["dynamic"]
    assert seen["dynamic"]["num_blocks"] == 2  # The contract counts gate columns: 2 stages.
    assert seen["dynamic"]["describe_units"] == "cascade: 2 stages"
    assert seen["stage0"]["describe_units"] == f"{len(model.stages[0].blocks)} blocks"
    assert seen["dynamic"]["inputs_to_set"] == [IMAGE_INPUT]


def test_android_assets_from_a_cascade_workdirs_tflite_files(cascade_workdir, core_classpath,
                                                             tmp_path):
    """The workdir's own files (tflite.benchmark's names), named from its .keras model."""
    from lcnet_tf.apps.web_demo import workdir_models

    model = cascade_workdir["model"]
    workdir = tmp_path / "run"
    (workdir / "tflite_benchmark").mkdir(parents=True)
    for name in ("static", "stage0", "dynamic"):
        (workdir / "tflite_benchmark" / f"{name}.tflite").write_bytes(
            (cascade_workdir["out"] / "models" / f"{name}.tflite").read_bytes())
    (workdir / "model.keras").symlink_to(cascade_workdir["workdir"] / "model.keras")
    models = workdir_models(workdir)
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3))
    manifest_path = write_android_assets(tmp_path / "assets", models.paths, images, [0, 1, 2],
                                         measure=False, decision_units=models.decision_units)
    manifest = json.loads(manifest_path.read_text())
    assert [m["name"] for m in manifest["models"]] == ["static", "stage0", "dynamic"]
    dynamic = manifest["models"][2]
    assert [(u["name"], u["kind"]) for u in dynamic["decision_units"]] == [
        (name, kind) for name, kind, _ in model.decision_units()]
    assert manifest["python_benchmark"] is None
    result = android_java.java(core_classpath, "AssetsCheck", tmp_path / "assets")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["models"]["dynamic"]["describe_units"] == "cascade: 2 stages"

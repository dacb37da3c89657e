"""Assets of the Android benchmark app (`android_demo/`): models, test images, manifest.

The app (LiteRT's Java `Interpreter`, plain-Java core in `android_demo/core`) reads from its
assets directory:

- `models/<name>.tflite`: the exported files, named by role and precision as
  `python -m tflite.benchmark` names them (`dynamic`, `static`, `reference`, `dynamic_int8`, ...;
  a cascade's first stages `stage0`, `stage1`, ..., its last stage `static`);
- `images.bin`: N test images and labels in a small binary format (`write_image_set`);
- `manifest.json`: the models with the signature read from each file (and a knob file's
  `serve_budget` signature, `budget_signature`: the app reads its budget table from the file
  itself, docs/tflite_signature.md "Budget knob files") and the names of their
  decision units (the columns of `gate`: a cascade's stages, then its gated stages' blocks), the
  image set, the reference row, and what the Python benchmark
  (`lcnet_tf.export.benchmark.compare_models`) measured on the same files and images, with the
  machine it ran on.

CLI: `python -m tflite.android_assets --workdir runs/... [--out android_demo/app/src/main/assets]`.
"""

import datetime
import hashlib
import json
import shutil
import struct
from pathlib import Path

import numpy as np

from lcnet_tf.apps.web_demo import manifest_decision_units, split_model_name, stage_index
from lcnet_tf.budget_table import KNOB_SIGNATURE_KEY
from lcnet_tf.export.benchmark import compare_models, format_table, same_precision_rows
from lcnet_tf.export.machine import machine_info
from lcnet_tf.export.tflite_export import (  # noqa: F401  (read_signature: also imported from here)
    FORCE_INPUT,
    IMAGE_INPUT,
    OUTPUT_NAMES,
    SIGNATURE_KEY,
    read_signature,
)
from lcnet_tf.export.tflite_inspect import TFLiteModelError, summarize_tflite

IMAGE_SET_MAGIC = b"LCIM"
IMAGE_SET_VERSION = 1
IMAGE_SET_HEADER = struct.Struct("<4sIIIII")  # magic, version, count, height, width, channels
IMAGES_NAME = "images.bin"
MANIFEST_NAME = "manifest.json"
MANIFEST_KIND = "lcnet-android-assets"
MANIFEST_FORMAT = 1
MODELS_SUBDIR = "models"


def default_assets_dir():
    """`android_demo/app/src/main/assets` of the checkout this package runs from."""
    return Path(__file__).resolve().parents[2] / "android_demo" / "app" / "src" / "main" / "assets"


def write_image_set(path, images, labels):
    """Writes images and labels in the app's binary format (`android_demo/core` `ImageSet`).

    Little-endian: magic `LCIM`, uint32 version (1), count N, height H, width W, channels C;
    then N int32 labels; then N*H*W*C uint8 pixels, NHWC (RGB 0-255), image after image.

    Args:
        path: file to write.
        images: (N, H, W, C) pixels in 0-255 (integers; stored as uint8).
        labels: (N,) int labels.

    Returns:
        The number of bytes written.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 4 or len(images) != len(labels) or not len(images):
        raise ValueError(
            "Invalid value for `images`/`labels`: expected (N, H, W, C) images and N labels, "
            f"N > 0. Received: images.shape={images.shape}, labels.shape={labels.shape}"
        )
    if images.min() < 0 or images.max() > 255 or not np.array_equal(images, np.round(images)):
        raise ValueError("Invalid value for `images`: expected integer pixels in 0-255.")
    if labels.min() < -(2**31) or labels.max() >= 2**31:
        raise ValueError("Invalid value for `labels`: expected int32 values.")
    count, height, width, channels = images.shape
    data = (IMAGE_SET_HEADER.pack(IMAGE_SET_MAGIC, IMAGE_SET_VERSION, count, height, width,
                                  channels)
            + labels.astype("<i4").tobytes()
            + np.ascontiguousarray(images, dtype=np.uint8).tobytes())
    Path(path).write_bytes(data)
    return len(data)


def read_image_set(path):
    """Reads `write_image_set`'s format; returns `(images uint8 (N, H, W, C), labels int64)`."""
    data = Path(path).read_bytes()
    if len(data) < IMAGE_SET_HEADER.size or data[:4] != IMAGE_SET_MAGIC:
        raise ValueError(f"{str(path)!r} is not an image set (no LCIM header).")
    _, version, count, height, width, channels = IMAGE_SET_HEADER.unpack_from(data)
    if version != IMAGE_SET_VERSION:
        raise ValueError(f"{str(path)!r}: image set version {version} is not supported.")
    expected = IMAGE_SET_HEADER.size + 4 * count + count * height * width * channels
    if len(data) != expected:
        raise ValueError(f"{str(path)!r}: {len(data)} bytes, expected {expected}.")
    offset = IMAGE_SET_HEADER.size
    labels = np.frombuffer(data, "<i4", count, offset).astype(np.int64)
    images = np.frombuffer(data, np.uint8, offset=offset + 4 * count)
    return images.reshape(count, height, width, channels).copy(), labels


# As `run_benchmark` times them: static, a cascade's stage<i> (after "static"), dynamic,
# reference.
ROLE_ORDER = ("static", "stage", "dynamic", "reference")
PRECISION_ORDER = ("float", "fp16", "dynamic", "int8")


def display_order(names):
    """Names sorted as `python -m tflite.benchmark` prints them: by precision, then role.

    `["dynamic_int8", "dynamic", "stage0", "static_int8", "static"]` ->
    `["static", "stage0", "dynamic", "static_int8", "dynamic_int8"]` (a cascade's first stages,
    `stage<i>`, in stage order between "static" and "dynamic"); an unknown role comes last
    within its precision, an unknown precision after the known ones.
    """
    def key(name):
        role, precision = split_model_name(name)
        stage = stage_index(role)
        role_key = "stage" if stage is not None else role
        return (PRECISION_ORDER.index(precision) if precision in PRECISION_ORDER
                else len(PRECISION_ORDER),
                ROLE_ORDER.index(role_key) if role_key in ROLE_ORDER else len(ROLE_ORDER),
                stage or 0)

    return sorted(names, key=key)  # Stable: equal keys keep the caller's order.


def default_reference(names):
    """The row the others are compared with: `static`, else the first `static_*`, else the first.

    The app's core picks it the same way (`Benchmark.defaultReference`).
    """
    names = list(names)
    if not names:
        raise ValueError("Invalid value for `names`: expected at least one model.")
    if "static" in names:
        return "static"
    return next((name for name in names if name.startswith("static_")), names[0])


def read_budget_signature(path):
    """A knob file's "serve_budget" signature (`read_signature`: what the app checks before
    a knob run) without `signature_keys`, or None for a file without one."""
    try:
        signature = read_signature(path, KNOB_SIGNATURE_KEY)
    except TFLiteModelError:
        if KNOB_SIGNATURE_KEY in read_signature(path)["signature_keys"]:
            raise  # A knob signature without the knob's inputs.
        return None
    return {"inputs": signature["inputs"], "outputs": signature["outputs"]}


def write_android_assets(out_dir, models, images, labels, *, class_names=None, measure=True,
                         measure_images=None, num_threads=1, repeats=1, chunk=50, metadata=None,
                         progress=False, decision_units=None):
    """Writes the app's assets directory: `models/`, `images.bin`, `manifest.json`.

    Args:
        out_dir: the assets directory (created). `.tflite` files in its `models/` that are not
            among `models` are removed (they would only grow the APK).
        models: dict name -> `.tflite` path; names as `python -m tflite.benchmark` writes them
            (`dynamic`, `static_int8`, ...) give the role and precision, and the order
            (`display_order`) in which the app lists them.
        images: (N, H, W, 3) test pixels 0-255.
        labels: (N,) int labels.
        class_names: optional class names (shown by the app).
        measure: run `compare_models` here on the same files and images, and record the
            summary, table, settings and machine in the manifest (`python_benchmark`).
        measure_images: images for that run (default: all N).
        num_threads, repeats, chunk: settings of that run (as the app's defaults: 1, 1, 50).
        metadata: optional dict stored under `"metadata"` (workdir, dataset, ...).
        progress: show the benchmark's progress bar.
        decision_units: optional dict, name or role -> `(name, kind, gated)` per column of the
            model's `gate` output (`model.decision_units()`; `WorkdirModels`), stored per model
            as `decision_units`; models without an entry get generic names (`unit1`, ...).

    Returns:
        Path of `manifest.json`.
    """
    images = np.asarray(images)
    labels = np.asarray(labels).astype(np.int64)
    if not models:
        raise ValueError("Invalid value for `models`: expected at least one .tflite file.")
    models = {name: models[name] for name in display_order(models)}
    out_dir = Path(out_dir)
    models_dir = out_dir / MODELS_SUBDIR
    models_dir.mkdir(parents=True, exist_ok=True)
    entries, copied = [], {}
    for name, source in models.items():
        signature = read_signature(source)
        image_shape = signature["inputs"][IMAGE_INPUT]["shape"]
        if list(image_shape[1:]) != list(images.shape[1:]):
            raise ValueError(
                f"Invalid value for `images`: model {name!r} takes {image_shape}, the images are "
                f"{list(images.shape[1:])}."
            )
        target = models_dir / f"{name}.tflite"
        if Path(source).resolve() != target.resolve():
            shutil.copyfile(source, target)
        content = target.read_bytes()
        role, precision = split_model_name(name)
        num_columns = int(signature["outputs"]["gate"]["shape"][-1])
        budget_signature = (read_budget_signature(source)
                            if KNOB_SIGNATURE_KEY in signature["signature_keys"] else None)
        entries.append({
            "name": name, "role": role, "precision": precision,
            "file": f"{MODELS_SUBDIR}/{name}.tflite", "source": str(source),
            "bytes": len(content), "sha256": hashlib.sha256(content).hexdigest(),
            **signature,
            "has_force_input": FORCE_INPUT in signature["inputs"],
            "num_blocks": num_columns,  # Columns of `gate` (decision units).
            "num_classes": int(signature["outputs"]["logits"]["shape"][-1]),
            "num_if_ops": summarize_tflite(content).num_if_ops,
            **manifest_decision_units(name, num_columns, decision_units),
            **({"budget_signature": budget_signature} if budget_signature else {}),
        })
        copied[name] = str(target)
    for stale in models_dir.glob("*.tflite"):
        if stale.name not in {f"{name}.tflite" for name in models}:
            stale.unlink()
    write_image_set(out_dir / IMAGES_NAME, images, labels)
    reference = default_reference(models)
    python_benchmark = None
    machine = machine_info()
    if measure:
        count = len(images) if measure_images is None else min(int(measure_images), len(images))
        summary, _ = compare_models(copied, images[:count], labels[:count], reference=reference,
                                    num_threads=num_threads, repeats=repeats, chunk=chunk,
                                    progress=progress)
        python_benchmark = {
            "summary": summary,
            "same_precision": same_precision_rows(summary),
            "table": format_table(summary),
            "settings": {"num_images": count, "num_threads": num_threads, "repeats": repeats,
                         "chunk": chunk, "reference": reference,
                         "protocol": "lcnet_tf.export.benchmark.compare_models"},
            "machine": machine,
        }
    manifest = {
        "kind": MANIFEST_KIND,
        "format": MANIFEST_FORMAT,
        "images": {"file": IMAGES_NAME, "count": int(len(images)),
                   "shape": [int(d) for d in images.shape[1:]], "dtype": "uint8",
                   "format": f"LCIM v{IMAGE_SET_VERSION}"},
        "class_names": list(class_names) if class_names is not None else None,
        "reference": reference,
        "models": entries,
        "python_benchmark": python_benchmark,
        "metadata": {
            "tensorflow": machine["tensorflow"],
            "ai_edge_litert": machine["ai_edge_litert"],
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            **(metadata or {}),
        },
    }
    manifest_path = out_dir / MANIFEST_NAME
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest_path

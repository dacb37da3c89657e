"""Data and server of the browser benchmark page (`web_demo/`, LiteRT.js in WebAssembly).

The page is static: it reads, under `/data/`, a `manifest.json`, the `.tflite` files it names
and `images.bin` (N test images, uint8 NHWC, back to back), and runs the models with the
protocol of `lcnet_tf.export.benchmark.compare_models` (warm-up, models interleaved per chunk
of images, per-image median of repeats). This module writes that data directory and serves
it next to the page with the cross-origin-isolation headers that precise timers
(`performance.now()`) and LiteRT.js's threaded build need. CLI: `python -m tflite.serve_demo`.
"""

import functools
import http.server
import json
import os
import shutil
import socket
from pathlib import Path

import numpy as np

from lcnet_tf.data import resolve_dataset
from lcnet_tf.export.benchmark import load_images
from lcnet_tf.export.tflite_export import (
    FORCE_INPUT,
    IMAGE_INPUT,
    ExportError,
    load_keras_model,
    read_signature,
    to_tflite,
)
from lcnet_tf.export.tflite_inspect import summarize_tflite

MANIFEST_NAME = "manifest.json"
IMAGES_NAME = "images.bin"
MODELS_SUBDIR = "models"
DATA_URL_PREFIX = "/data"
# Roles the page knows, in display order; the first static one present is the reference.
MODEL_ROLES = ("dynamic", "static", "reference")
# File-name suffix (as written by `tflite.benchmark`: dynamic_int8.tflite) -> precision.
PRECISION_SUFFIXES = {"": "float", "_int8": "int8", "_fp16": "fp16", "_dynamic": "dynamic"}
QUANTIZE_SUFFIXES = {"none": "", "int8": "_int8", "fp16": "_fp16", "dynamic": "_dynamic"}
# Cross-origin isolation: without it browsers round performance.now() to 0.1 ms and refuse
# SharedArrayBuffer (LiteRT.js's threaded build).
ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}
# Keras models of a training workdir (`python -m train.cifar`), by role.
WORKDIR_KERAS_MODELS = {
    "dynamic": "model.keras",
    "static": "static.keras",
    "reference": os.path.join("static_reference", "model.keras"),
}


def default_site_dir():
    """`web_demo/` of the checkout this package runs from (the page is not in the wheel)."""
    return Path(__file__).resolve().parents[2] / "web_demo"


def split_model_name(name):
    """`"dynamic_int8"` -> `("dynamic", "int8")`; a name with no known suffix is float."""
    for suffix, precision in PRECISION_SUFFIXES.items():
        if suffix and name.endswith(suffix):
            return name[: -len(suffix)], precision
    return name, "float"


def find_tflite_models(workdir):
    """The `.tflite` files of a workdir, by page name (`dynamic`, `static_int8`, ...).

    Looks at `<workdir>/tflite_benchmark/{dynamic,static,reference}[_int8|...].tflite`
    (written by `python -m tflite.benchmark` in `make demo`), then at
    `<workdir>/model.tflite` (`python -m tflite.convert`) for `dynamic` if none was found.

    Returns:
        dict name -> path, in role order then precision order.
    """
    workdir = Path(workdir)
    found = {}
    for role in MODEL_ROLES:
        for suffix in PRECISION_SUFFIXES:
            for folder in (workdir / "tflite_benchmark", workdir):
                path = folder / f"{role}{suffix}.tflite"
                if path.is_file():
                    found[f"{role}{suffix}"] = path
                    break
    if "dynamic" not in found and (workdir / "model.tflite").is_file():
        found = {"dynamic": workdir / "model.tflite", **found}
    return found


def export_workdir_models(workdir, out_dir, *, quantize=("none",), calibration=None,
                          force_input=True, reuse=True):
    """Exports the `.keras` models of a training workdir for the page.

    `model.keras` -> `dynamic`, `static.keras` -> `static`, `static_reference/model.keras`
    -> `reference`, each in every precision of `quantize`. With `force_input` (the default
    here) the files keep the `force_gates_open` input, so that the page can also time the
    dynamic model with every gate forced open.

    Args:
        workdir: directory holding the `.keras` files.
        out_dir: where the `.tflite` files go.
        quantize: precisions among `lcnet_tf.export.QUANTIZATIONS`.
        calibration: (N, H, W, 3) training images; needed for int8.
        force_input: keep the `force_gates_open` input.
        reuse: keep an exported file that is newer than its `.keras` file (delete it, or
            pass False, to export again, e.g. with other calibration images).

    Returns:
        dict name -> path of the exported files.
    """
    workdir, out_dir = Path(workdir), Path(out_dir)
    sources = {role: workdir / relative for role, relative in WORKDIR_KERAS_MODELS.items()
               if (workdir / relative).is_file()}
    if not sources:
        raise ExportError(
            f"No Keras model in {str(workdir)!r}: expected one of "
            f"{sorted(WORKDIR_KERAS_MODELS.values())}."
        )
    unknown = [q for q in quantize if q not in QUANTIZE_SUFFIXES]
    if unknown:
        raise ValueError(
            f"Invalid value for `quantize`: expected values among {list(QUANTIZE_SUFFIXES)}. "
            f"Received: {list(quantize)}"
        )
    if "int8" in quantize and calibration is None:
        raise ValueError("Invalid value for `calibration`: int8 export needs calibration images.")
    out_dir.mkdir(parents=True, exist_ok=True)
    exported = {}
    for role, source in sources.items():
        model = None
        for variant in quantize:
            name = role + QUANTIZE_SUFFIXES[variant]
            path = out_dir / f"{name}.tflite"
            exported[name] = path
            if reuse and path.is_file() and path.stat().st_mtime >= source.stat().st_mtime:
                continue
            model = model or load_keras_model(source)
            to_tflite(model, path, quantize=variant, force_input=force_input,
                      representative_data=calibration if variant == "int8" else None)
    return exported


def workdir_models(workdir, *, export=False, export_dir=None, quantize=("none", "int8"),
                   dataset=None, num_calibration=256, force_input=True):
    """The `.tflite` files a demo shows: the workdir's own, or its `.keras` models exported.

    Shared by `tflite.serve_demo` and `tflite.android_assets`.

    Args:
        workdir: a training workdir.
        export: export its `.keras` models (`export_workdir_models`) into `export_dir`
            instead of using its `.tflite` files (`find_tflite_models`).
        quantize: precisions exported; "int8" calibrates on `num_calibration`
            training images of `dataset`.
        force_input: keep the `force_gates_open` input in exported files.

    Returns:
        dict name -> path.

    Raises:
        ValueError: an unknown precision in `quantize`.
        ExportError: no `.tflite` file (without `export`) or no `.keras` model (with it).
    """
    if not export:
        models = find_tflite_models(workdir)
        if not models:
            raise ExportError(
                f"No .tflite file in {str(workdir)!r} (looked for tflite_benchmark/dynamic.tflite, "
                "static.tflite, ... and model.tflite): run `make demo`, or pass --export to "
                "export its .keras models."
            )
        return models
    unknown = [q for q in quantize if q not in QUANTIZE_SUFFIXES]
    if unknown:  # Before loading calibration images.
        raise ValueError(f"Invalid value for `quantize`: expected values among "
                         f"{list(QUANTIZE_SUFFIXES)}. Received: {unknown}")
    calibration = None
    if "int8" in quantize:
        calibration, _ = load_images(dataset, "train", num_calibration)
    return export_workdir_models(workdir, export_dir, quantize=quantize,
                                 calibration=calibration, force_input=force_input)


def dataset_class_names(dataset):
    """Class names of a TFDS dataset's `label` feature (None if it has none)."""
    label = resolve_dataset(dataset).info.features["label"]
    return list(label.names) if getattr(label, "names", None) else None


def describe_tflite(path):
    """Manifest entry of one model: its inputs, outputs and gate count, read from the file.

    Raises:
        TFLiteModelError: the file is corrupt or lacks the `serve` signature or an output of
            `OUTPUT_NAMES` (docs/tflite_signature.md).
    """
    content = Path(path).read_bytes()
    summary = summarize_tflite(content)
    signature = read_signature(path)
    inputs, outputs = signature["inputs"], signature["outputs"]
    return {
        "inputs": inputs,
        "outputs": sorted(outputs),
        "has_force_input": FORCE_INPUT in inputs,
        "num_blocks": int(outputs["gate"]["shape"][-1]),
        "num_classes": int(outputs["logits"]["shape"][-1]),
        "num_if_ops": summary.num_if_ops,
        "bytes": len(content),
    }


def write_demo_data(out_dir, models, images, labels, *, class_names=None, metadata=None):
    """Writes the page's data directory: models, images and manifest.

    Args:
        out_dir: the directory (created; served under `/data/`).
        models: dict name -> `.tflite` path; names like `dynamic`, `static_int8` give the
            role and precision (`split_model_name`); other names are shown as they are.
        images: (N, H, W, 3) pixels 0-255 (stored as uint8).
        labels: (N,) int labels.
        class_names: optional list of class names.
        metadata: optional dict stored under `"metadata"` (dataset, workdir, ...).

    Returns:
        Path of `manifest.json`.
    """
    images = np.asarray(images)
    labels = np.asarray(labels).astype(np.int64)
    if images.ndim != 4 or images.shape[-1] != 3 or len(images) != len(labels) or not len(images):
        raise ValueError(
            "Invalid value for `images`/`labels`: expected (N, H, W, 3) images and N labels, "
            f"N > 0. Received: images.shape={images.shape}, labels.shape={labels.shape}"
        )
    if not models:
        raise ValueError("Invalid value for `models`: expected at least one .tflite file.")
    if images.min() < 0 or images.max() > 255:
        raise ValueError("Invalid value for `images`: expected pixels in 0-255.")
    out_dir = Path(out_dir)
    (out_dir / MODELS_SUBDIR).mkdir(parents=True, exist_ok=True)
    entries = []
    for name, path in models.items():
        role, precision = split_model_name(name)
        entry = {"name": name, "role": role, "precision": precision,
                 "file": f"{MODELS_SUBDIR}/{name}.tflite", "source": str(path)}
        entry.update(describe_tflite(path))
        image_input = entry["inputs"][IMAGE_INPUT]["shape"]
        if list(image_input[1:]) != list(images.shape[1:]):
            raise ValueError(
                f"Invalid value for `images`: model {name!r} takes {image_input}, images are "
                f"{list(images.shape[1:])}."
            )
        target = out_dir / entry["file"]
        if Path(path).resolve() != target.resolve():
            shutil.copyfile(path, target)
        entries.append(entry)
    (out_dir / IMAGES_NAME).write_bytes(np.ascontiguousarray(images, dtype=np.uint8).tobytes())
    manifest = {
        "format": 1,
        "images": {"file": IMAGES_NAME, "count": int(len(images)),
                   "shape": [int(d) for d in images.shape[1:]], "dtype": "uint8",
                   "labels": [int(label) for label in labels]},
        "class_names": list(class_names) if class_names is not None else None,
        "models": entries,
        "metadata": metadata or {},
    }
    manifest_path = out_dir / MANIFEST_NAME
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest_path


class DemoRequestHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the page from `directory` and the data directory under `/data/`.

    Every response carries the cross-origin-isolation headers and `no-store`; no directory
    listings; GET and HEAD only.
    """

    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".wasm": "application/wasm",
        ".json": "application/json",
        ".tflite": "application/octet-stream",
        ".bin": "application/octet-stream",
    }

    def __init__(self, *args, data_dir, quiet=True, **kwargs):
        self.data_dir = os.fspath(data_dir)
        self.quiet = quiet
        super().__init__(*args, **kwargs)

    def translate_path(self, path):
        if path == DATA_URL_PREFIX or path.startswith(DATA_URL_PREFIX + "/"):
            site_dir, self.directory = self.directory, self.data_dir
            try:
                return super().translate_path(path[len(DATA_URL_PREFIX):] or "/")
            finally:
                self.directory = site_dir
        return super().translate_path(path)

    def list_directory(self, path):
        self.send_error(404, "No directory listing")
        return None

    def end_headers(self):
        for name, value in ISOLATION_HEADERS.items():
            self.send_header(name, value)
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        if not self.quiet:
            super().log_message(format, *args)


def check_site_dir(site_dir):
    """Raises ExportError unless `site_dir` holds the page and its installed npm packages."""
    site_dir = Path(site_dir)
    if not (site_dir / "index.html").is_file():
        raise ExportError(f"No web page at {str(site_dir)!r} (expected index.html).")
    if not (site_dir / "node_modules" / "@litertjs" / "core" / "wasm").is_dir():
        raise ExportError(
            f"LiteRT.js is not installed in {str(site_dir)!r}: run `npm ci --prefix "
            f"{site_dir}` (or `make web_deps`)."
        )


def make_server(data_dir, *, site_dir=None, host="127.0.0.1", port=8000, quiet=True):
    """A threading HTTP server for the page (site_dir) and its data (data_dir at `/data/`).

    Args:
        data_dir: directory written by `write_demo_data`.
        site_dir: the page (default: `web_demo/` of this checkout).
        host: address to bind: 127.0.0.1 (this machine only) or 0.0.0.0 (the LAN too).
        port: TCP port; 0 picks a free one (`server.server_address[1]`).
        quiet: no request log.

    Returns:
        A `http.server.ThreadingHTTPServer`; call `serve_forever()` (or run it in a thread)
        and `shutdown()` / `server_close()`.
    """
    site_dir = Path(site_dir) if site_dir is not None else default_site_dir()
    check_site_dir(site_dir)
    handler = functools.partial(DemoRequestHandler, directory=os.fspath(site_dir),
                                data_dir=data_dir, quiet=quiet)
    server = http.server.ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def lan_addresses():
    """This machine's non-loopback IPv4 addresses (from its host name; no traffic sent)."""
    try:
        _, _, addresses = socket.gethostbyname_ex(socket.gethostname())
    except OSError:
        return []
    return sorted({address for address in addresses if not address.startswith("127.")})

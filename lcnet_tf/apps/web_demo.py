"""Data and server of the browser benchmark page (`web_demo/`, LiteRT.js in WebAssembly).

The page is static: it reads, under `/data/`, a `manifest.json`, the `.tflite` files it names
and `images.bin` (N test images, uint8 NHWC, back to back), and runs the models with the
protocol of `lcnet_tf.export.benchmark.compare_models` (warm-up, models interleaved per chunk
of images, per-image median of repeats). This module writes that data directory and serves
it next to the page with the cross-origin-isolation headers that precise timers
(`performance.now()`) and LiteRT.js's threaded build need. CLI: `python -m tflite.serve_demo`.

Every dynamic model is shown the same way: a gated network (L/C/LC-Net) or a `Cascade` (its
first stages are the roles `stage<i>`, its last `static`). The columns of a model's `gate`
output are its decision units (`model.decision_units()`: a cascade's stages, then the blocks
of its gated stages); the manifest names them when the `.keras` model is at hand.

A budget knob file (`to_tflite(..., budget_table=...)`, docs/tflite_signature.md) is served
like any other: the page reads its table from the file itself (`web_demo/src/knob.js`) and
shows a budget slider that runs its `serve_budget` signature; the manifest only says which
files are knob files (`budget_knob`) and lists every file's signatures.
"""

import functools
import http.server
import json
import logging
import os
import re
import shutil
import socket
from pathlib import Path
from typing import NamedTuple

import numpy as np

from lcnet_tf.data import resolve_dataset
from lcnet_tf.export import BudgetTableError, read_budget_table
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
from lcnet_tf.models import Cascade

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
IMAGES_NAME = "images.bin"
MODELS_SUBDIR = "models"
DATA_URL_PREFIX = "/data"
# Roles the page knows, in display order; the first static one present is the reference.
# A cascade's first stages are roles `stage<i>` too (`STAGE_ROLE`): its last stage is
# "static", as `python -m tflite.benchmark` names them (`run_benchmark`).
MODEL_ROLES = ("dynamic", "static", "reference")
STAGE_ROLE = re.compile(r"stage(\d+)")
# Kinds of the columns of the `gate` and `kept_groups` outputs (`decision_units()`); "unit" is
# the generic kind of a file whose `.keras` model is not at hand.
UNIT_KINDS = ("stage", "block", "unit")
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


def stage_index(role):
    """`"stage1"` -> 1 (a cascade's stage role); None for any other role."""
    match = STAGE_ROLE.fullmatch(role)
    return int(match.group(1)) if match else None


def role_rank(role):
    """Sort key of a role in the page's order: dynamic, stage0, stage1, ..., static, reference,
    then unknown roles (for a cascade: itself, its stages cheapest first, the reference)."""
    index = stage_index(role)
    if index is not None:
        return (1, index)
    if role == "dynamic":
        return (0, 0)
    if role in MODEL_ROLES:
        return (2, MODEL_ROLES.index(role))
    return (3, 0)


def find_tflite_models(workdir):
    """The `.tflite` files of a workdir, by page name (`dynamic`, `static_int8`, ...).

    Looks at `<workdir>/tflite_benchmark/{dynamic,stage<i>,static,reference}[_int8|...].tflite`
    (written by `python -m tflite.benchmark` in `make demo`; `stage<i>` for a cascade's first
    stages), then at `<workdir>/model.tflite` (`python -m tflite.convert`) for `dynamic` if
    none was found.

    Returns:
        dict name -> path, in role order (`role_rank`) then precision order.
    """
    workdir = Path(workdir)
    folders = (workdir / "tflite_benchmark", workdir)
    stage_roles = {split_model_name(path.stem)[0] for folder in folders
                   for path in folder.glob("stage*.tflite")}
    roles = sorted([*MODEL_ROLES, *(r for r in stage_roles if stage_index(r) is not None)],
                   key=role_rank)
    found = {}
    for role in roles:
        for suffix in PRECISION_SUFFIXES:
            for folder in folders:
                path = folder / f"{role}{suffix}.tflite"
                if path.is_file():
                    found[f"{role}{suffix}"] = path
                    break
    if "dynamic" not in found and (workdir / "model.tflite").is_file():
        found = {"dynamic": workdir / "model.tflite", **found}
    return found


class KerasSource(NamedTuple):
    """A `.keras` model of a workdir in a page role: the model and the file it came from."""

    model: object
    path: Path


def load_workdir_keras_models(workdir, roles=None):
    """The `.keras` models of a training workdir, by page role, each file loaded once.

    `model.keras` -> `dynamic`; when it is a `Cascade`, also its first stages -> `stage<i>`
    and its last stage -> `static` (as `python -m tflite.benchmark` names them); otherwise
    `static.keras` -> `static`. `static_reference/model.keras` -> `reference`.

    Args:
        workdir: a training workdir.
        roles: load only the files these roles need (None: every role).

    Returns:
        dict role -> `KerasSource(model, path)`.

    Raises:
        ExportError: a file that is there cannot be loaded.
    """
    workdir = Path(workdir)
    wanted = (lambda role: True) if roles is None else set(roles).__contains__
    found = {}
    main_path = workdir / WORKDIR_KERAS_MODELS["dynamic"]
    needs_main = roles is None or any(role in ("dynamic", "static") or stage_index(role)
                                      is not None for role in roles)
    cascade = None
    if needs_main and main_path.is_file():
        model = load_keras_model(main_path)
        if wanted("dynamic"):
            found["dynamic"] = KerasSource(model, main_path)
        if isinstance(model, Cascade):
            cascade = model
            for index, stage in enumerate(model.stages[:-1]):
                if wanted(f"stage{index}"):
                    found[f"stage{index}"] = KerasSource(stage, main_path)
            if wanted("static"):
                found["static"] = KerasSource(model.stages[-1], main_path)
    for role in ("static", "reference"):
        path = workdir / WORKDIR_KERAS_MODELS[role]
        if wanted(role) and role not in found and path.is_file() and not (
                role == "static" and cascade is not None):
            found[role] = KerasSource(load_keras_model(path), path)
    return dict(sorted(found.items(), key=lambda item: role_rank(item[0])))


def decision_units_by_role(keras_models):
    """Each role's `decision_units()`: `(name, kind, gated)` per column of `gate`.

    Besides the loaded models: when `dynamic` is a gated network and no `static` model is
    loaded, `static` gets its blocks ungated (the static twin `python -m tflite.benchmark`
    builds from its config has the same blocks).

    Args:
        keras_models: dict role -> `KerasSource` (`load_workdir_keras_models`).

    Returns:
        dict role -> list of `(name, kind, gated)`.
    """
    units = {role: [(str(name), str(kind), bool(gated))
                    for name, kind, gated in source.model.decision_units()]
             for role, source in keras_models.items()
             if hasattr(source.model, "decision_units")}
    dynamic = keras_models.get("dynamic")
    if "static" not in units and dynamic is not None and "dynamic" in units and not isinstance(
            dynamic.model, Cascade):
        units["static"] = [(name, kind, False) for name, kind, _ in units["dynamic"]]
    return units


def generic_decision_units(num_columns):
    """Unit names for a file whose model is unknown: `unit1`, `unit2`, ... of kind "unit"."""
    return [(f"unit{index + 1}", "unit", None) for index in range(num_columns)]


def manifest_decision_units(name, num_columns, decision_units=None):
    """The manifest fields naming the columns of one model's `gate` output.

    Args:
        name: the model's page name (`dynamic_int8`, `stage0`, ...).
        num_columns: columns of its `gate` output, read from the file.
        decision_units: optional dict, page name or role -> `(name, kind, gated)` list (a
            name wins over its role). Units whose count is not `num_columns` (a file older
            than its `.keras` model) are not used.

    Returns:
        `{"decision_units": [{"name", "kind", "gated"}, ...], "decision_units_source":
        "keras" or "generic"}`.
    """
    role, _ = split_model_name(name)
    decision_units = decision_units or {}
    units = decision_units.get(name, decision_units.get(role))
    source = "keras"
    if units is not None and len(units) != num_columns:
        logger.warning("%s: %d decision units in its .keras model, %d columns in its gate output: "
                       "generic names used (is the file older than the model?)", name,
                       len(units), num_columns)
        units = None
    if units is None:
        units, source = generic_decision_units(num_columns), "generic"
    for unit_name, kind, _ in units:
        if kind not in UNIT_KINDS:
            raise ValueError(f"Invalid value for `decision_units`: unit {unit_name!r} of {name!r} "
                             f"has kind {kind!r}, expected one of {list(UNIT_KINDS)}.")
    return {"decision_units": [{"name": unit_name, "kind": kind, "gated": gated}
                               for unit_name, kind, gated in units],
            "decision_units_source": source}


def check_workdir_has_keras(workdir):
    """Raises ExportError unless the workdir holds one of `WORKDIR_KERAS_MODELS`."""
    if not any((Path(workdir) / relative).is_file()
               for relative in WORKDIR_KERAS_MODELS.values()):
        raise ExportError(
            f"No Keras model in {str(workdir)!r}: expected one of "
            f"{sorted(WORKDIR_KERAS_MODELS.values())}."
        )


def export_workdir_models(workdir, out_dir, *, quantize=("none",), calibration=None,
                          force_input=True, reuse=True, keras_models=None):
    """Exports the `.keras` models of a training workdir for the page.

    `model.keras` -> `dynamic`, `static.keras` -> `static`, `static_reference/model.keras`
    -> `reference`; a cascade's first stages -> `stage<i>` and its last -> `static`
    (`load_workdir_keras_models`), each in every precision of `quantize`. With `force_input`
    (the default here) the files keep the `force_gates_open` input, so that the page can also
    time the dynamic model with every gate forced open.

    Args:
        workdir: directory holding the `.keras` files.
        out_dir: where the `.tflite` files go.
        quantize: precisions among `lcnet_tf.export.QUANTIZATIONS`.
        calibration: (N, H, W, 3) training images; needed for int8.
        force_input: keep the `force_gates_open` input.
        reuse: keep an exported file that is newer than its `.keras` file (delete it, or
            pass False, to export again, e.g. with other calibration images).
        keras_models: the workdir's models if already loaded (`load_workdir_keras_models`).

    Returns:
        dict name -> path of the exported files.
    """
    workdir, out_dir = Path(workdir), Path(out_dir)
    check_workdir_has_keras(workdir)
    unknown = [q for q in quantize if q not in QUANTIZE_SUFFIXES]
    if unknown:
        raise ValueError(
            f"Invalid value for `quantize`: expected values among {list(QUANTIZE_SUFFIXES)}. "
            f"Received: {list(quantize)}"
        )
    if "int8" in quantize and calibration is None:
        raise ValueError("Invalid value for `calibration`: int8 export needs calibration images.")
    if keras_models is None:
        keras_models = load_workdir_keras_models(workdir)
    out_dir.mkdir(parents=True, exist_ok=True)
    exported = {}
    for role, (model, source) in keras_models.items():
        for variant in quantize:
            name = role + QUANTIZE_SUFFIXES[variant]
            path = out_dir / f"{name}.tflite"
            exported[name] = path
            if reuse and path.is_file() and path.stat().st_mtime >= source.stat().st_mtime:
                continue
            to_tflite(model, path, quantize=variant, force_input=force_input,
                      representative_data=calibration if variant == "int8" else None)
    return exported


class WorkdirModels(NamedTuple):
    """What a demo shows of a workdir: its `.tflite` files and the names of their decisions."""

    paths: dict
    """Page name (`dynamic`, `stage0_int8`, ...) -> `.tflite` path."""
    decision_units: dict
    """Role -> `(name, kind, gated)` per `gate` column, for the roles whose `.keras` model is
    in the workdir (`decision_units_by_role`); the others get generic names."""


def workdir_models(workdir, *, export=False, export_dir=None, quantize=("none", "int8"),
                   dataset=None, num_calibration=256, force_input=True):
    """The `.tflite` files a demo shows: the workdir's own, or its `.keras` models exported;
    with the names of each role's decision units, from the workdir's `.keras` models.

    Shared by `tflite.serve_demo` and `tflite.android_assets`.

    Args:
        workdir: a training workdir.
        export: export its `.keras` models (`export_workdir_models`) into `export_dir`
            instead of using its `.tflite` files (`find_tflite_models`).
        quantize: precisions exported; "int8" calibrates on `num_calibration`
            training images of `dataset`.
        force_input: keep the `force_gates_open` input in exported files.

    Returns:
        `WorkdirModels(paths, decision_units)`.

    Raises:
        ValueError: an unknown precision in `quantize`.
        ExportError: no `.tflite` file (without `export`) or no `.keras` model (with it).
    """
    if not export:
        models = find_tflite_models(workdir)
        if not models:
            raise ExportError(
                f"No .tflite file in {str(workdir)!r} (looked for tflite_benchmark/dynamic.tflite, "
                "stage0.tflite, static.tflite, ... and model.tflite): run `make demo`, or pass "
                "--export to export its .keras models."
            )
        try:  # The names are a courtesy here: a model that does not load leaves them generic.
            keras_models = load_workdir_keras_models(
                workdir, roles={split_model_name(name)[0] for name in models})
        except ExportError as error:
            logger.warning("generic decision unit names: %s", error)
            keras_models = {}
        return WorkdirModels(models, decision_units_by_role(keras_models))
    unknown = [q for q in quantize if q not in QUANTIZE_SUFFIXES]
    if unknown:  # Before loading calibration images.
        raise ValueError(f"Invalid value for `quantize`: expected values among "
                         f"{list(QUANTIZE_SUFFIXES)}. Received: {unknown}")
    check_workdir_has_keras(workdir)  # Before loading calibration images.
    calibration = None
    if "int8" in quantize:
        calibration, _ = load_images(dataset, "train", num_calibration)
    keras_models = load_workdir_keras_models(workdir)
    paths = export_workdir_models(workdir, export_dir, quantize=quantize,
                                  calibration=calibration, force_input=force_input,
                                  keras_models=keras_models)
    return WorkdirModels(paths, decision_units_by_role(keras_models))


def dataset_class_names(dataset):
    """Class names of a TFDS dataset's `label` feature (None if it has none)."""
    label = resolve_dataset(dataset).info.features["label"]
    return list(label.names) if getattr(label, "names", None) else None


def describe_tflite(path, name=None, decision_units=None):
    """Manifest entry of one model: its inputs, outputs and gate count, read from the file,
    and the names of its decisions (`manifest_decision_units`).

    Args:
        path: the `.tflite` file.
        name: its page name (picks its units in `decision_units`).
        decision_units: optional dict, page name or role -> `(name, kind, gated)` list;
            a model without an entry gets generic names.

    Raises:
        TFLiteModelError: the file is corrupt or lacks the `serve` signature or an output of
            `OUTPUT_NAMES` (docs/tflite_signature.md).
    """
    content = Path(path).read_bytes()
    summary = summarize_tflite(content)
    signature = read_signature(path)
    inputs, outputs = signature["inputs"], signature["outputs"]
    num_columns = int(outputs["gate"]["shape"][-1])
    try:
        read_budget_table(content)
        budget_knob = True
    except BudgetTableError:  # Not a knob file (or a malformed table: the page says which).
        budget_knob = False
    return {
        "inputs": inputs,  # Of the `serve` signature.
        "outputs": sorted(outputs),
        "signatures": signature["signature_keys"],
        "budget_knob": budget_knob,
        "has_force_input": FORCE_INPUT in inputs,
        "num_blocks": num_columns,  # Columns of `gate` (decision units; blocks in a ResNet).
        "num_classes": int(outputs["logits"]["shape"][-1]),
        "num_if_ops": summary.num_if_ops,
        "bytes": len(content),
        **manifest_decision_units(name or Path(path).stem, num_columns, decision_units),
    }


def write_demo_data(out_dir, models, images, labels, *, class_names=None, metadata=None,
                    decision_units=None):
    """Writes the page's data directory: models, images and manifest.

    Args:
        out_dir: the directory (created; served under `/data/`).
        models: dict name -> `.tflite` path; names like `dynamic`, `stage0`, `static_int8`
            give the role and precision (`split_model_name`); other names are shown as they
            are.
        images: (N, H, W, 3) pixels 0-255 (stored as uint8).
        labels: (N,) int labels.
        class_names: optional list of class names.
        metadata: optional dict stored under `"metadata"` (dataset, workdir, ...).
        decision_units: optional dict, page name or role -> `(name, kind, gated)` per column
            of the model's `gate` output (`model.decision_units()`; `WorkdirModels`), stored
            per model as `decision_units` so that the page names stages and blocks; models
            without an entry get generic names (`unit1`, ...).

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
        entry.update(describe_tflite(path, name, decision_units))
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

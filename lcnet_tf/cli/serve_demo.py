"""Serves the browser benchmark page (web_demo/, LiteRT.js) with a workdir's models.

    python -m tflite.serve_demo --workdir runs/cifar_lc_b04          # http://127.0.0.1:8000/
    python -m tflite.serve_demo --workdir runs/cifar_lc_b04 --lan    # a phone on the same network
    python -m tflite.serve_demo --workdir runs/x --export --quantize none,int8   # from .keras

Uses the workdir's `.tflite` files (`tflite_benchmark/{dynamic,stage<i>,static,reference}
[_int8].tflite` from `make demo`, else `model.tflite`), or with `--export` exports its `.keras`
models (keeping the `force_gates_open` input, so the page can also time every gate forced open;
a cascade's first stages as `stage<i>`, its last as `static`). Writes them, `manifest.json`
(with the names of each model's decision units, stages and blocks, read from the workdir's
`.keras` models) and `images.bin` (the first `--num_images` test images) into `--out_dir`, then
serves the page and that directory with cross-origin-isolation headers (COOP/COEP).

A budget knob file among them (`to_tflite(..., budget_table=...)`, e.g. written as
`tflite_benchmark/dynamic.tflite`) gets a budget slider on the page (docs/web_demo_note.md).
"""

import json
import os
import sys

from absl import app, flags

from lcnet_tf.apps.web_demo import (
    MODELS_SUBDIR,
    check_site_dir,
    dataset_class_names,
    default_site_dir,
    lan_addresses,
    make_server,
    workdir_models,
    write_demo_data,
)
from lcnet_tf.cli.errors import run_with_clear_errors
from lcnet_tf.export import ExportError
from lcnet_tf.export.benchmark import load_images

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Training workdir (make demo's WORKDIR).", required=True)
flags.DEFINE_string("dataset", "../shared/data/cifar10_jpeg", "TFDS name or prepared directory "
                    "(test images for the page; training images for int8 calibration).")
flags.DEFINE_integer("num_images", 100, "Test images written for the page.")
flags.DEFINE_string("out_dir", None, "Data directory of the page (default <workdir>/web_demo).")
flags.DEFINE_bool("export", False, "Export the workdir's .keras models (with the force_gates_open "
                  "input) instead of using its .tflite files; files newer than their .keras "
                  "are reused.")
flags.DEFINE_list("quantize", ["none", "int8"], "Precisions exported with --export.")
flags.DEFINE_integer("num_calibration", 256, "Training images for int8 calibration (--export).")
flags.DEFINE_string("host", "127.0.0.1", "Address to bind (127.0.0.1: this machine only).")
flags.DEFINE_bool("lan", False, "Bind 0.0.0.0 so that a phone on the same network can open the "
                  "page (plain HTTP: no cross-origin isolation there, see README).")
flags.DEFINE_integer("port", 8000, "TCP port (0: any free port).")
flags.DEFINE_string("site_dir", None, "The page's directory (default: web_demo/ of the checkout).")
flags.DEFINE_bool("serve", True, "Serve after writing the data (--noserve: write only).")


def prepare(workdir, out_dir):
    """Writes the page's data directory; returns the model names it holds (a budget knob
    file's name followed by " (budget knob)")."""
    if not os.path.isdir(workdir):
        raise ExportError(f"Invalid value for --workdir: no such directory {workdir!r}.")
    models = workdir_models(workdir, export=FLAGS.export,
                            export_dir=os.path.join(out_dir, MODELS_SUBDIR),
                            quantize=FLAGS.quantize, dataset=FLAGS.dataset,
                            num_calibration=FLAGS.num_calibration)
    images, labels = load_images(FLAGS.dataset, "test", FLAGS.num_images)
    manifest_path = write_demo_data(
        out_dir, models.paths, images, labels, class_names=dataset_class_names(FLAGS.dataset),
        metadata={"workdir": os.path.abspath(workdir), "dataset": FLAGS.dataset,
                  "split": "test"},
        decision_units=models.decision_units)
    manifest = json.loads(manifest_path.read_text())
    return [entry["name"] + (" (budget knob)" if entry.get("budget_knob") else "")
            for entry in manifest["models"]]


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if FLAGS.num_images <= 0:
        raise ValueError(f"Invalid value for --num_images: expected > 0. "
                         f"Received: {FLAGS.num_images}")
    out_dir = FLAGS.out_dir or os.path.join(FLAGS.workdir, "web_demo")
    site_dir = FLAGS.site_dir or default_site_dir()
    host = "0.0.0.0" if FLAGS.lan else FLAGS.host
    if FLAGS.serve:  # Fails before the slow part when the page or LiteRT.js is missing.
        check_site_dir(site_dir)
    names = prepare(FLAGS.workdir, out_dir)
    print(f"wrote {out_dir}: models {', '.join(names)}; {FLAGS.num_images} test images")
    if not FLAGS.serve:
        return
    server = make_server(out_dir, site_dir=site_dir, host=host, port=FLAGS.port)
    port = server.server_address[1]
    print(f"serving {site_dir} on http://127.0.0.1:{port}/ (Ctrl-C stops)")
    if host not in ("127.0.0.1", "localhost"):
        for address in lan_addresses() or ["<this machine's address>"]:
            print(f"  on the network: http://{address}:{port}/  (plain HTTP: coarse timers)")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def run():
    """Entry point (`python -m tflite.serve_demo`)."""
    app.run(run_with_clear_errors(main))


if __name__ == "__main__":
    run()

"""Ablation of the training recipe's levers, airbench style: each row adds one lever on top of
the last kept row (issue "Accuracy per CPU-hour").

    python benchmarks/recipe.py --dataset ../shared/data/cifar10_jpeg --epochs 6 --seeds 0,1

Every run is a static ResNet-20 x0.5 (`model="resnet20", width_multiplier=0.5,
gating="none"`) trained for `--epochs` epochs by `run_training`, evaluated on the test split,
in its own resumable workdir `<out>/<row>_e<E>_s<seed>`: a finished workdir is reused and a
killed one resumes, so the same command extends the table (more seeds, more epochs, more
rows) instead of redoing it. Rows, in order (`--list`):

    baseline      the library's recipe: SGD Nesterov 0.9, lr 0.1, half-epoch warm-up, cosine,
                  weight decay 5e-4, BatchNorm momentum 0.9, random flip, translate 4, float32
    bf16          + mixed_bfloat16 compute
    ls0.2         + label smoothing 0.2
    ema_bn0.6     + weight average (decay 0.95, every 5 steps) with BatchNorm momentum 0.6
    bnbias64      + 64x learning rate on the BatchNorm biases
    tri_m0.85     + triangular lr (peak at 23%) with momentum 0.85
    altflip       + alternating flip
    b512_linear   + batch 512 with the lr scaled linearly (0.4)

A row builds on the last row before it that is in `--keep` (default: every row, so the levers
accumulate); the script never decides what to keep. A row whose chain leaves out earlier rows
is another configuration: its workdir says which (`altflip-no_ls0.2_e6_s0`).

Printed per row: test accuracy per seed and their median, wall seconds per training epoch and
training images per second (the run's `phases.json` seconds over its epochs; a resumed run
counts only its last stretch), and the change of both against the row it builds on.
`--json_out` also writes the table.
"""

import dataclasses
import json
import statistics
import sys
from pathlib import Path

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FLAGS = flags.FLAGS
flags.DEFINE_string("dataset", "../shared/data/cifar10_jpeg", "TFDS name or prepared directory.")
flags.DEFINE_string("out", "runs/recipe", "Folder of the runs' workdirs.")
flags.DEFINE_integer("epochs", 6, "Training epochs of every run.", lower_bound=1)
flags.DEFINE_list("seeds", ["0", "1"], "Seeds; each row is trained once per seed.")
flags.DEFINE_list("rows", None, "Rows to train and print (default: all). See --list.")
flags.DEFINE_list("keep", None, "Rows whose levers the later rows build on (default: all).")
flags.DEFINE_bool("train", True, "Train missing runs (--notrain: print the finished ones).")
flags.DEFINE_integer("train_examples", None, "Use only this many training images (smoke runs).")
flags.DEFINE_integer("test_examples", None, "Use only this many test images (smoke runs).")
flags.DEFINE_string("json_out", None, "Also write the table as JSON here.")
flags.DEFINE_bool("list", False, "Print the rows and their levers, then exit.")

MODEL = {"model": "resnet20", "width_multiplier": 0.5, "gating": "none"}

# (name, the levers it adds, a note printed under the table).
ROWS = (
    ("baseline", {}, "the library's recipe before the levers (every TrainConfig default)"),
    ("bf16", {"precision": "mixed_bfloat16"}, "bfloat16 compute, float32 weights and logits"),
    ("ls0.2", {"label_smoothing": 0.2},
     "the cascade exits on the first stage's confidence (margin or max probability): label "
     "smoothing flattens those confidences, so measure the cascade's calibrated accuracy "
     "before keeping it there (airbench trains without it when confidence matters)"),
    ("ema_bn0.6", {"ema_decay": 0.95, "ema_every_steps": 5, "bn_momentum": 0.6},
     "weight average copied back every 5 steps, its weight ramping to 0.95^5 (airbench94)"),
    ("bnbias64", {"bn_bias_lr_multiplier": 64.0}, "BatchNorm biases at 64x the learning rate"),
    ("tri_m0.85", {"lr_schedule": "triangular", "lr_peak_fraction": 0.23, "momentum": 0.85},
     "triangular learning rate peaking at 23% of the steps, momentum 0.85"),
    ("altflip", {"flip": "alternating"}, "each image flipped on every other pass over the data"),
    ("b512_linear", {"batch_size": 512, "lr_scaling": "linear"},
     "batch 512, peak lr 0.1 x 512/128 = 0.4 (a quarter of the steps)"),
)
ROW_NAMES = tuple(name for name, _, _ in ROWS)


def check_rows(names, flag):
    """`names` (None: every row) as a list, or ValueError naming the unknown ones."""
    if names is None:
        return list(ROW_NAMES)
    unknown = [name for name in names if name not in ROW_NAMES]
    if unknown:
        raise ValueError(f"Invalid value for `{flag}`: expected rows from {list(ROW_NAMES)}. "
                         f"Received: {flag}={names!r} (unknown: {unknown})")
    return list(names)


def row_specs(keep=None):
    """Every row's resolved levers: `[{name, base, levers, dirname, note}]` in table order.

    A row's levers are those of the kept rows before it plus its own; `base` is the last
    kept row before it (None for the first row); `dirname` is the row's name, followed by
    `-no_<row>` for each earlier row left out of its chain.
    """
    keep = set(check_rows(keep, "keep"))
    specs, inherited, base, dropped = [], {}, None, []
    for name, levers, note in ROWS:
        specs.append({"name": name, "base": base, "levers": {**inherited, **levers},
                      "dirname": name + "".join(f"-no_{row}" for row in dropped), "note": note})
        if name in keep:
            inherited, base = {**inherited, **levers}, name
        else:
            dropped.append(name)
    return specs


def train_config(spec, epochs, seed, dataset, train_examples=None, test_examples=None):
    """The `TrainConfig` of one run of a row."""
    from lcnet_tf.training.config import TrainConfig

    return TrainConfig(**MODEL, **spec["levers"], dataset=dataset, static_epochs=epochs,
                       epochs=0, calibration_images=0, seed=int(seed),
                       train_examples=train_examples, test_examples=test_examples)


def workdir(out, spec, epochs, seed):
    return Path(out) / f"{spec['dirname']}_e{epochs}_s{seed}"


def run_record(path, config, images_per_epoch):
    """A finished run's accuracy and speed, or None when it has not finished."""
    metrics_path, phases_path = path / "metrics.json", path / "phases.json"
    if not metrics_path.exists() or not phases_path.exists():
        return None
    metrics = json.loads(metrics_path.read_text())
    seconds = json.loads(phases_path.read_text())["static"]["seconds"]
    epochs = config.static_epochs
    return {"test_accuracy": float(metrics["test_accuracy"]), "seconds": float(seconds),
            "seconds_per_epoch": seconds / epochs,
            "images_per_second": images_per_epoch * epochs / seconds,
            "workdir": str(path)}


def summarize(spec, records):
    """One table row from the runs of a row (`{seed: record or None}`)."""
    done = {seed: record for seed, record in records.items() if record is not None}

    def median(key):
        return statistics.median(record[key] for record in done.values()) if done else None

    return {"name": spec["name"], "base": spec["base"], "levers": spec["levers"],
            "note": spec["note"],
            "test_accuracy": {seed: record["test_accuracy"] for seed, record in done.items()},
            "median_test_accuracy": median("test_accuracy"),
            "seconds_per_epoch": median("seconds_per_epoch"),
            "images_per_second": median("images_per_second"),
            "missing_seeds": [seed for seed, record in records.items() if record is None]}


def add_deltas(rows, reference_rows=None):
    """Each row's change against its base row: accuracy points and images/s ratio.

    The base may be a row not printed (`reference_rows`, by name)."""
    known = {**(reference_rows or {}), **{row["name"]: row for row in rows}}
    for row in rows:
        base = known.get(row["base"])
        row["delta_points"] = row["speedup"] = None
        if base and base["median_test_accuracy"] is not None \
                and row["median_test_accuracy"] is not None:
            row["delta_points"] = 100 * (row["median_test_accuracy"]
                                         - base["median_test_accuracy"])
            row["speedup"] = row["images_per_second"] / base["images_per_second"]
    return rows


def format_table(rows, seeds, epochs):
    """The printed table (plain text)."""
    def fmt(value, spec, missing):
        return missing if value is None else format(value, spec)

    def percent(value):
        return None if value is None else 100 * value

    seed_columns = " ".join(f"{'s' + str(seed):>7s}" for seed in seeds)
    lines = [f"ResNet-20 x0.5, {epochs} epochs, test accuracy (%), each row = its base + one "
             "lever", f"{'row':14s} {'base':12s} {seed_columns} {'median':>7s} {'s/epoch':>8s} "
             f"{'img/s':>7s} {'d points':>8s} {'speed':>6s}"]
    for row in rows:
        accuracies = " ".join(fmt(percent(row["test_accuracy"].get(seed)), "7.2f", "      -")
                              for seed in seeds)
        lines.append(
            f"{row['name']:14s} {row['base'] or '-':12s} {accuracies} "
            f"{fmt(percent(row['median_test_accuracy']), '7.2f', '      -')} "
            f"{fmt(row['seconds_per_epoch'], '8.1f', '       -')} "
            f"{fmt(row['images_per_second'], '7.0f', '      -')} "
            f"{fmt(row['delta_points'], '+8.2f', '       -')} "
            f"{fmt(row['speedup'], '5.2f', '    -')}{'x' if row['speedup'] else ''}")
    lines.append("")
    lines += [f"{row['name']}: {row['note']}" for row in rows]
    return "\n".join(lines)


def images_per_epoch(dataset, batch_size, train_examples):
    from lcnet_tf import data

    count = data.num_examples(data.resolve_dataset(dataset), "train")
    count = min(count, train_examples) if train_examples else count
    return max(count // batch_size, 1) * batch_size


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        names = check_rows(FLAGS.rows, "rows")
        specs = row_specs(FLAGS.keep)
    except ValueError as error:
        raise app.UsageError(str(error)) from error
    if FLAGS.list:
        for spec in specs:
            print(f"{spec['name']:14s} base {spec['base'] or '-':12s} "
                  f"workdir {spec['dirname']}_e{FLAGS.epochs}_s<seed>  {spec['levers']}")
        return
    from lcnet_tf.training import run_training

    epochs, seeds = FLAGS.epochs, [int(seed) for seed in FLAGS.seeds]
    by_name = {spec["name"]: spec for spec in specs}
    wanted = [by_name[name] for name in ROW_NAMES if name in names]
    bases = [by_name[spec["base"]] for spec in wanted
             if spec["base"] and spec["base"] not in names]
    configs = {(spec["name"], seed): train_config(spec, epochs, seed, FLAGS.dataset,
                                                  FLAGS.train_examples, FLAGS.test_examples)
               for spec in wanted + bases for seed in seeds}
    if FLAGS.train:
        for seed in seeds:  # One seed of every row first: the whole table, early.
            for spec in wanted:
                path = workdir(FLAGS.out, spec, epochs, seed)
                print(f"== {path.name}: {spec['levers'] or 'defaults'}", flush=True)
                run_training(configs[spec["name"], seed], path, verbose=2)
    images = {}

    def records(spec):
        config = configs[spec["name"], seeds[0]]
        key = config.batch_size
        if key not in images:
            images[key] = images_per_epoch(FLAGS.dataset, config.batch_size,
                                           FLAGS.train_examples)
        return summarize(spec, {seed: run_record(workdir(FLAGS.out, spec, epochs, seed),
                                                 configs[spec["name"], seed], images[key])
                                for seed in seeds})

    rows = add_deltas([records(spec) for spec in wanted],
                      {spec["name"]: records(spec) for spec in bases})
    print(format_table(rows, seeds, epochs))
    if FLAGS.json_out:
        from lcnet_tf.export.machine import machine_info

        payload = {"model": MODEL, "epochs": epochs, "seeds": seeds, "machine": machine_info(),
                   "train_examples": FLAGS.train_examples, "test_examples": FLAGS.test_examples,
                   "keep": FLAGS.keep or list(ROW_NAMES), "rows": rows,
                   "configs": {f"{name}_s{seed}": dataclasses.asdict(config)
                               for (name, seed), config in configs.items()}}
        Path(FLAGS.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(FLAGS.json_out).write_text(json.dumps(payload, indent=2, sort_keys=True))


if __name__ == "__main__":
    app.run(main)

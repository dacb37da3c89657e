"""Keras against TFLite on real test images: the same decisions, image by image?

    python benchmarks/decision_parity.py \
        --model runs/pareto/cascade_w0.5_lc_b0.4_e6_s0/model.keras \
        --dataset ../shared/data/cifar10_jpeg --num_images 1000 --quantize none,int8

For any dynamic model (an LC-Net, a cascade, a cascade with gated stages): converts it with
`lcnet_tf.export.to_tflite` (int8 calibrated on `--num_calibration` training images), runs the
test images through the Keras model (batched path) and through each `.tflite` file (one image
at a time), and prints per precision: the share of images whose whole decision vector (every
column of `gate` and `kept_groups`) equals Keras's, the agreement per decision unit, top-1
agreement and accuracy, and the mean realized FLOPs of both.

With `--budgets 0.3,0.4,0.6` the model is exported once per precision as a budget knob file
(docs/tflite_signature.md), its table calibrated on `--knob_images` un-augmented training
images, and the comparison is made at each budget: the Keras model calibrated to that budget
(`lcnet_tf.training.calibrate` on the same images, checked to give the table's decisions)
against the file's "serve_budget" signature at that budget; and at the file's default
("serve", the decisions the model was saved with).
"""

import json

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "A saved dynamic model (.keras).", required=True)
flags.DEFINE_string("dataset", None, "TFDS name or prepared directory.", required=True)
flags.DEFINE_integer("num_images", 1000, "Test images.")
flags.DEFINE_list("quantize", ["none", "int8"], "Precisions among none, fp16, dynamic, int8.")
flags.DEFINE_integer("num_calibration", 256, "Training images for int8 calibration.")
flags.DEFINE_string("json_out", None, "Also write the figures here.")
flags.DEFINE_list("budgets", [], "Compare one knob file at these budgets (fractions of the "
                  "reference FLOPs).")
flags.DEFINE_integer("knob_images", 2000, "Training images the knob table is calibrated on.")


def parity(model, content, images, budget=None, decisions=None):
    """Per-image Keras and TFLite outputs, compared (see the module docstring); with
    `budget`, the knob file's "serve_budget" at that budget against Keras at `decisions`."""
    import keras

    from lcnet_tf.export.benchmark import TFLiteRunner

    saved = model.decision_values() if decisions is not None else None
    if decisions is not None:
        model.set_decision_values(decisions)
    try:
        logits, info = model(images, training=False, return_gate_info=True)
    finally:
        if saved is not None:
            model.set_decision_values(saved)
    keras_gate = np.rint(keras.ops.convert_to_numpy(info["gate"])).astype(np.int64)
    keras_kept = np.rint(keras.ops.convert_to_numpy(info["kept_groups"])).astype(np.int64)
    keras_top = keras.ops.convert_to_numpy(logits).argmax(axis=1)
    runner = TFLiteRunner(content, budget=budget)
    gates, kept, tops, flops = [], [], [], []
    for image in images:
        outputs, _ = runner.run(image)
        gates.append(np.rint(outputs["gate"][0]).astype(np.int64))
        kept.append(np.rint(outputs["kept_groups"][0]).astype(np.int64))
        tops.append(int(outputs["logits"][0].argmax()))
        flops.append(float(outputs["realized_flops"].reshape(-1)[0]))
    gates, kept = np.stack(gates), np.stack(kept)
    same = (gates == keras_gate).all(axis=1) & (kept == keras_kept).all(axis=1)
    return {
        "images": len(images),
        "same_decisions": float(same.mean()),
        "unit_agreement": dict(zip([name for name, _, _ in model.decision_units()],
                                   (gates == keras_gate).mean(axis=0).tolist(), strict=True)),
        "top1_agreement": float((np.array(tops) == keras_top).mean()),
        "tflite_mean_flops": float(np.mean(flops)),
        "keras_mean_flops": float(model.cost.realized(keras_gate, keras_kept).mean()),
        "tflite_top1": np.array(tops), "keras_top1": keras_top,
    }


def main(argv):
    del argv
    import keras

    import lcnet_tf.models  # noqa: F401  (registers the classes for loading)
    from lcnet_tf.export import to_tflite
    from lcnet_tf.export.benchmark import load_images
    from lcnet_tf.export.machine import machine_info

    model = keras.saving.load_model(FLAGS.model, compile=False)
    images, labels = load_images(FLAGS.dataset, "test", FLAGS.num_images)
    calibration = None
    if "int8" in FLAGS.quantize:
        calibration, _ = load_images(FLAGS.dataset, "train", FLAGS.num_calibration)
    budgets = [float(budget) for budget in FLAGS.budgets]
    table, calibrated = None, {}
    if budgets:
        table, calibrated = knob_table(model, budgets)
    results = {}
    for variant in FLAGS.quantize:
        content = to_tflite(model, quantize=variant,
                            representative_data=calibration if variant == "int8" else None,
                            budget_table=table)
        cases = [(variant, None, None)] + [
            (f"{variant} @{budget}", budget, table.lookup(budget).decisions)
            for budget in budgets]
        for key, budget, decisions in cases:
            result = parity(model, content, images, budget, decisions)
            result["tflite_accuracy"] = float((result.pop("tflite_top1") == labels).mean())
            result["keras_accuracy"] = float((result.pop("keras_top1") == labels).mean())
            if budget is not None:
                result["budget"] = budget
                result["decisions"] = list(decisions)
                result["keras_calibrated_decisions"] = calibrated[budget]
                result["calibration_flops_ratio"] = (table.lookup(budget).expected_flops
                                                     / table.reference_flops)
                result["test_flops_ratio"] = result["keras_mean_flops"] / table.reference_flops
            results[key] = result
            report(key, result)
    if FLAGS.json_out:
        with open(FLAGS.json_out, "w") as file:
            json.dump({"model": FLAGS.model, "machine": machine_info(),
                       "knob_images": FLAGS.knob_images if budgets else None,
                       "results": results}, file, indent=2)


def knob_table(model, budgets):
    """The knob table (rows at `budgets` and over the range), and for each budget the
    decisions `calibrate` finds on its own for it (they must be the table's)."""
    from lcnet_tf.export.benchmark import load_images
    from lcnet_tf.models.cascade import Cascade, stage_predictions
    from lcnet_tf.training import budget_table, calibrate

    images, _ = load_images(FLAGS.dataset, "train", FLAGS.knob_images)
    predictions = stage_predictions(model, images) if isinstance(model, Cascade) else None
    table = budget_table(model, images, include=budgets, predictions=predictions, verbose=1)
    saved, calibrated = model.decision_values(), {}
    try:
        for budget in budgets:
            calibrate(model, images, budget, predictions=predictions)
            calibrated[budget] = model.decision_values()
            if not np.allclose(calibrated[budget], table.lookup(budget).decisions, atol=0):
                raise AssertionError(f"calibrate({budget}) gave {calibrated[budget]}, the table "
                                     f"{table.lookup(budget).decisions}")
    finally:
        model.set_decision_values(saved)
    return table, calibrated


def report(variant, result):
    """Prints one comparison."""
    print(f"{variant}: {100 * result['same_decisions']:.1f}% of {result['images']} images "
          f"with Keras's decision vector; top-1 agreement {result['top1_agreement']:.4f}; "
          f"accuracy TFLite {result['tflite_accuracy']:.4f} / Keras "
          f"{result['keras_accuracy']:.4f}; mean MFLOPs TFLite "
          f"{result['tflite_mean_flops'] / 1e6:.3f} / Keras "
          f"{result['keras_mean_flops'] / 1e6:.3f}")
    low = {name: rate for name, rate in result["unit_agreement"].items() if rate < 1.0}
    print(f"  units below full agreement: {low or 'none'}")
    if "budget" in result:
        print(f"  budget {result['budget']}: FLOPs ratio {result['calibration_flops_ratio']:.4f}"
              f" on the calibration images, {result['test_flops_ratio']:.4f} on the test "
              "images (Keras)")


if __name__ == "__main__":
    app.run(main)

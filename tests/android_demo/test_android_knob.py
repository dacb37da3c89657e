"""Budget knob files as the Android core reads them (`BudgetKnob`), against Python's reader.

The core reads the `lcnet_budget_table` metadata entry from the bytes of a `.tflite` file with
its own minimal flatbuffer reader and looks budgets up with the rule of
docs/tflite_signature.md ("Budget knob files"). Here Python writes real files (an exported
model with a table appended by `flatbuffer_utils`, inline and in the >2 GB offset/size layout;
a knob file from `to_tflite(..., budget_table=...)`), and the Java core must read the same
table and give, at every budget, exactly the doubles `read_budget_table(path).lookup(budget)`
gives (and the same errors). The decisions it gives, fed to the file's "serve_budget"
signature, must run the model as Python's own knob runner does, and the app's assets path
(manifest, contract check, slider, run rows) must accept the knob file.
"""

import json
import math

import android_java
import harness
import keras
import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as tflite_schema
from ai_edge_litert.tools import flatbuffer_utils

import lcnet_tf
from lcnet_tf.apps.android_assets import read_budget_signature, write_android_assets
from lcnet_tf.budget_table import (
    DECISIONS_INPUT,
    KNOB_SIGNATURE_KEY,
    METADATA_NAME,
    BudgetRow,
    BudgetTable,
    BudgetTableError,
)
from lcnet_tf.export import IMAGE_INPUT, read_budget_table, to_tflite
from lcnet_tf.export.benchmark import TFLiteRunner
from lcnet_tf.export.gate_patterns import randomize_gates
from lcnet_tf.training import budget_table

# Awkward binary values (0.1 + 0.2, 1/3, ...) so that "the same doubles" means something.
HAND_TABLE = BudgetTable(
    decision_names=("threshold_0", "stage1.offset"),
    reference_flops=40_555_136,
    rows=(BudgetRow(0.1 + 0.2, (0.1234567890123, -1 / 3), 12_166_000.5),
          BudgetRow(0.4, (0.42, 0.0), 16_222_000.0),
          BudgetRow(0.6, (0.9, 2 / 7), 24_333_000.25)),
    default=BudgetRow(0.395, (0.41, 0.1), 16_019_000.0),
    num_images=5000,
)


def with_metadata(content, name, data, external=False):
    """`content` with one more metadata entry `name` -> `data` (a new buffer).

    `external`: the buffer holds no bytes but `offset`/`size` into bytes appended after the
    flatbuffer, as the converter lays out models over 2 GB.
    """
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    buffer = tflite_schema.BufferT()
    if external:
        buffer.offset, buffer.size = 1 << 40, len(data)  # Placeholder: any value > 1 is stored.
    else:
        buffer.data = np.frombuffer(data, dtype=np.uint8)
    model.buffers.append(buffer)
    metadata = tflite_schema.MetadataT()
    metadata.name = name
    metadata.buffer = len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), metadata]
    out = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    if not external:
        return out
    offset = -(-len(out) // 16) * 16
    buffer.offset = offset  # A uint64 either way: the flatbuffer's layout does not move.
    out = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    assert len(out) <= offset
    return out + bytes(offset - len(out)) + bytes(data)


def java_knob(classpath, path, budgets=()):
    """What `KnobCheck` (the core's BudgetKnob) reads from `path`, and its lookups."""
    result = android_java.java(classpath, "KnobCheck", path,
                               *[java_number(budget) for budget in budgets])
    try:
        return result.returncode, json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"KnobCheck printed no JSON:\n{result.stdout}{result.stderr}"[-4000:])


def java_number(value):
    """A Python float as text Java's Double.parseDouble reads back to the same double."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(float(value))


def probe_budgets(table):
    """Rows, rows +- less than the tolerance, points between rows, and budgets outside."""
    rows = [row.budget for row in table.rows]
    budgets = []
    for budget in rows:
        budgets += [budget, budget + 0.9e-9, budget - 0.9e-9]
    for below, above in zip(rows, rows[1:], strict=False):
        budgets += [below + (above - below) * t for t in (0.01, 1 / 3, 0.5, 0.77, 0.999)]
    return budgets + [rows[0] - 1e-6, rows[-1] + 1e-6, rows[0] - 2e-9, 0.0, 2.0,
                      float("nan"), float("inf"), float("-inf")]


def assert_same_lookups(java_lookups, table, budgets):
    assert len(java_lookups) == len(budgets)
    low, high = table.budget_range
    for budget, java in zip(budgets, java_lookups, strict=True):
        try:
            setting = table.lookup(budget)
        except ValueError as error:
            assert "error" in java, (budget, java)
            # Both name the value and the same range.
            assert f"[{low:.4f}, {high:.4f}]" in str(error)
            assert java["error"].startswith("Invalid value for budget: expected a number in "
                                            f"[{low:.4f}, {high:.4f}]"), java["error"]
            continue
        assert "error" not in java, (budget, java)
        assert java["decisions"] == list(setting.decisions), budget  # The same doubles.
        # Gson prints a float with Float.toString: compare as float32.
        assert np.array_equal(np.float32(java["float32"]), np.float32(setting.decisions)), budget
        assert java["expected_flops"] == setting.expected_flops, budget
        assert java["exact"] == setting.exact, budget


def assert_same_table(java_table, table):
    assert java_table["decision_names"] == list(table.decision_names)
    assert java_table["reference_flops"] == table.reference_flops
    assert java_table["num_images"] == table.num_images
    assert java_table["range"] == list(table.budget_range)
    assert java_table["default"] == table.default.to_json()
    assert java_table["rows"] == [row.to_json() for row in table.rows]


@pytest.fixture(scope="module")
def plain_file(tmp_path_factory):
    """A tiny untrained LC ResNet-8, exported as a plain (deployed) file."""
    keras.utils.set_random_seed(0)
    model = lcnet_tf.create_model("resnet8", gating="lc", width_multiplier=0.25)
    path = tmp_path_factory.mktemp("plain") / "dynamic.tflite"
    to_tflite(model, path)
    return path


@pytest.mark.parametrize("external", [False, True], ids=["inline", "offset_size"])
def test_java_reads_the_table_python_wrote_and_looks_up_the_same_doubles(
        core_classpath, plain_file, tmp_path, external):
    path = tmp_path / "knob.tflite"
    path.write_bytes(with_metadata(plain_file.read_bytes(), METADATA_NAME,
                                   HAND_TABLE.to_bytes(), external=external))
    assert read_budget_table(path) == HAND_TABLE
    budgets = probe_budgets(HAND_TABLE)
    returncode, seen = java_knob(core_classpath, path, budgets)
    assert returncode == 0, seen
    assert_same_table(seen["knob"], HAND_TABLE)
    assert_same_lookups(seen["lookups"], HAND_TABLE, budgets)
    assert sum("error" in lookup for lookup in seen["lookups"]) == 8
    assert seen["lookups"][1]["exact"] and not seen["lookups"][9]["exact"]


def test_a_plain_file_is_not_a_knob_file(core_classpath, plain_file, tmp_path):
    returncode, seen = java_knob(core_classpath, plain_file, [0.4])
    assert returncode == 0 and seen == {"knob": None}
    with pytest.raises(BudgetTableError, match="is not a knob file"):
        read_budget_table(plain_file)
    # Another metadata entry does not make a knob file either.
    other = tmp_path / "other.tflite"
    other.write_bytes(with_metadata(plain_file.read_bytes(), "lcnet_notes", b'{"a": 1}'))
    assert java_knob(core_classpath, other)[1] == {"knob": None}


def test_a_malformed_table_or_a_truncated_file_is_an_error_in_both_readers(
        core_classpath, plain_file, tmp_path):
    table = HAND_TABLE.to_json()
    table["rows"] = table["rows"][::-1]
    unsorted = tmp_path / "unsorted.tflite"
    unsorted.write_bytes(with_metadata(plain_file.read_bytes(), METADATA_NAME,
                                       json.dumps(table).encode()))
    with pytest.raises(BudgetTableError, match="strictly increasing"):
        read_budget_table(unsorted)
    returncode, seen = java_knob(core_classpath, unsorted)
    assert returncode == 1
    assert seen["error"].startswith('unsorted.tflite: the "lcnet_budget_table" table: rows: '
                                    "expected strictly increasing budgets"), seen
    not_json = tmp_path / "not_json.tflite"
    not_json.write_bytes(with_metadata(plain_file.read_bytes(), METADATA_NAME, b"{rows: ["))
    with pytest.raises(BudgetTableError):
        read_budget_table(not_json)
    assert "invalid JSON" in java_knob(core_classpath, not_json)[1]["error"]
    content = with_metadata(plain_file.read_bytes(), METADATA_NAME, HAND_TABLE.to_bytes())
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(content[: len(content) // 2])
    returncode, seen = java_knob(core_classpath, truncated)
    assert returncode == 1
    assert seen["error"].startswith("truncated.tflite: not a valid .tflite flatbuffer: "), seen


def inner_budgets(model, count=3):
    """`count` budgets strictly inside the range the model's gates can reach."""
    low, high = model.flops_range()
    grid = np.linspace(low, high, count + 2)[1:-1] / model.reference_flops
    return [round(float(budget), 4) for budget in grid]


@pytest.fixture(scope="module")
def knob_file(tmp_path_factory):
    """A knob file from `to_tflite(..., budget_table=...)`: an LC ResNet-8 with varied gates,
    calibrated on 24 images to 3 budgets inside its range."""
    keras.utils.set_random_seed(3)
    model = lcnet_tf.create_model("resnet8", gating="lc")
    images = harness.sample_images(model, batch=24, seed=4)
    harness.randomize_batch_norm(model, seed=3)
    randomize_gates(model, seed=3, block_keep_prob=0.5, images=images)
    table = budget_table(model, images, inner_budgets(model))
    path = tmp_path_factory.mktemp("knob") / "dynamic.tflite"
    to_tflite(model, path, budget_table=table)
    return {"path": path, "table": table, "images": harness.to_np(images)}


def test_java_looks_up_a_real_knob_file_as_read_budget_table_does(core_classpath, knob_file):
    table = read_budget_table(knob_file["path"])
    assert table == knob_file["table"]
    budgets = probe_budgets(table)
    returncode, seen = java_knob(core_classpath, knob_file["path"], budgets)
    assert returncode == 0, seen
    assert seen["knob"]["decision_names"] == ["offset"]
    assert_same_table(seen["knob"], table)
    assert_same_lookups(seen["lookups"], table, budgets)


def test_the_cores_decisions_run_serve_budget_as_pythons_knob_runner(core_classpath,
                                                                      knob_file):
    """What the app does at a slider position: the core's float32 decisions go into the
    "decisions" input of "serve_budget"; the outputs are those of Python's runner at that
    budget (`TFLiteRunner(path, budget=b)`)."""
    from ai_edge_litert.interpreter import Interpreter

    table = knob_file["table"]
    rows = [row.budget for row in table.rows]
    budgets = [rows[0], (rows[0] + rows[1]) / 2, rows[-1]]
    _, seen = java_knob(core_classpath, knob_file["path"], budgets)
    runner = Interpreter(model_path=str(knob_file["path"]), num_threads=1).get_signature_runner(
        KNOB_SIGNATURE_KEY)
    flops = []
    for budget, lookup in zip(budgets, seen["lookups"], strict=True):
        python = TFLiteRunner(knob_file["path"], budget=budget)
        for image in knob_file["images"][:4]:
            java_out = runner(**{IMAGE_INPUT: image[None].astype(np.float32),
                                 DECISIONS_INPUT: np.asarray(lookup["float32"], np.float32)})
            python_out, _ = python.run(image)
            for name, value in python_out.items():
                np.testing.assert_array_equal(java_out[name], value, err_msg=name)
            flops.append(float(java_out["realized_flops"][0]))
    # The budget turns the cost: the cheapest row runs fewer FLOPs than the dearest.
    assert sum(flops[:4]) < sum(flops[-4:])


def test_the_app_assets_path_accepts_a_knob_file(core_classpath, knob_file, plain_file,
                                                 tmp_path):
    """write_android_assets records "serve_budget"; the core checks it against the table read
    from the copied file, builds the slider and the run's rows, as the app does on load."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 32, 32, 3))
    manifest_path = write_android_assets(
        tmp_path / "assets", {"dynamic": knob_file["path"], "static": plain_file}, images,
        rng.integers(0, 10, 3), measure=False)
    manifest = json.loads(manifest_path.read_text())
    entries = {entry["name"]: entry for entry in manifest["models"]}
    assert entries["dynamic"]["budget_signature"] == read_budget_signature(knob_file["path"])
    assert entries["dynamic"]["budget_signature"]["inputs"][DECISIONS_INPUT] == {
        "dtype": "float32", "shape": [1]}
    assert "budget_signature" not in entries["static"]
    assert read_budget_signature(plain_file) is None
    result = android_java.java(core_classpath, "AssetsCheck", tmp_path / "assets")
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads(result.stdout)
    table = knob_file["table"]
    dynamic = seen["models"]["dynamic"]
    assert dynamic["is_knob_file"]
    assert dynamic["inputs_to_set"] == [IMAGE_INPUT]  # "serve": the default decisions.
    assert dynamic["knob"] == {"decision_names": ["offset"], "range": list(table.budget_range),
                               "default_budget": table.default.budget,
                               "inputs_to_set": [IMAGE_INPUT, DECISIONS_INPUT]}
    assert "knob" not in seen["models"]["static"]
    knob = seen["knob"]
    assert knob["models"] == ["dynamic"]
    assert knob["range"] == list(table.budget_range)
    low, high = table.budget_range
    # The slider starts at the default decisions' budget (a position), or the nearest end.
    assert knob["initial_budget"] == min(max(table.default.budget, low), high)
    row = f"dynamic@{knob['initial_budget']:.3f}"  # lcnet_tf.export.benchmark.knob_row_name
    expected = []
    for name in (entry["name"] for entry in manifest["models"]):
        expected.append([name, name, "serve"])
        if name == "dynamic":
            expected.append([row, "dynamic", KNOB_SIGNATURE_KEY])
    assert knob["run_rows"] == expected
    assert knob["label"].startswith(f"dynamic: budget {knob['initial_budget']:.3f} (")

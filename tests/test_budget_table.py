"""`BudgetTable`: the knob file's table and its one lookup rule (docs/tflite_signature.md)."""

import json
import math

import numpy as np
import pytest

from lcnet_tf.budget_table import BudgetRow, BudgetTable, BudgetTableError


def make_table(**overrides):
    fields = dict(
        decision_names=("threshold_0", "stage1.offset"), reference_flops=1000,
        rows=(BudgetRow(0.2, (0.1, -2.0), 210.0), BudgetRow(0.4, (0.3, -2.0), 390.0),
              BudgetRow(0.8, (0.7, -1.0), 800.0)),
        default=BudgetRow(0.41, (0.31, -2.0), 410.0), num_images=64)
    fields.update(overrides)
    return BudgetTable(**fields)


def test_a_row_budget_gets_that_row_exactly():
    table = make_table()
    setting = table.lookup(0.4)
    assert setting.exact and setting.decisions == (0.3, -2.0) and setting.expected_flops == 390.0
    assert table.lookup(0.4 + 5e-10).exact  # within 1e-9
    assert table.lookup(0.2).decisions == (0.1, -2.0)  # both ends
    assert table.lookup(0.8).decisions == (0.7, -1.0)


def test_numpy_scalars_are_budgets_too():
    table = make_table()
    assert table.lookup(np.float64(0.4)).decisions == (0.3, -2.0)
    assert table.lookup(np.float32(0.4)).decisions == pytest.approx((0.3, -2.0))  # 0.4 + 6e-9
    assert table.lookup(np.float64(0.6)).decisions == pytest.approx((0.5, -1.5))
    with pytest.raises(ValueError, match=r"Received: budget=np\.True_"):
        table.lookup(np.bool_(True))


def test_between_rows_the_decisions_and_flops_are_interpolated():
    setting = make_table().lookup(0.6)  # half-way between 0.4 and 0.8
    assert not setting.exact
    assert setting.decisions == pytest.approx((0.5, -1.5))
    assert setting.expected_flops == pytest.approx(595.0)
    low, high = make_table().lookup(0.45), make_table().lookup(0.5)
    assert all(a <= b for a, b in zip(low.decisions, high.decisions, strict=True))  # monotone


@pytest.mark.parametrize("budget", [0.1, 0.81, math.nan, math.inf, True, "0.4", None])
def test_a_budget_outside_the_table_names_the_value_and_the_range(budget):
    with pytest.raises(ValueError, match=r"`budget`: expected a number in \[0\.2000, 0\.8000\]"):
        make_table().lookup(budget)


def test_the_json_round_trip_is_exact_and_names_the_format():
    table = make_table()
    data = json.loads(table.to_bytes())
    assert data["format"] == "lcnet_budget_table" and data["version"] == 1
    assert data["signature"] == "serve_budget" and data["input"] == "decisions"
    assert BudgetTable.from_bytes(table.to_bytes()) == table


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(format="other"), "format 'lcnet_budget_table'"),
    (lambda d: d.update(version=2), "version 2"),
    (lambda d: d["rows"].reverse(), "strictly increasing"),
    (lambda d: d.update(rows=d["rows"][:1]), "at least 2 rows"),
    (lambda d: d["rows"][0].update(decisions=[0.1]), r"rows\[0\] needs"),
    (lambda d: d["default"].update(mean_flops=None), "TypeError"),
    (lambda d: d.pop("reference_flops"), "integer reference_flops"),
    (lambda d: d.update(reference_flops=1000.5), "integer reference_flops"),
    (lambda d: d.update(decision_names="offset"), "a list of decision_names"),
    (lambda d: d.update(signature="serve"), "signature 'serve_budget'"),
    (lambda d: d.update(num_images=0), "num_images >= 1"),
    (lambda d: d["rows"][1].pop("budget"), "KeyError"),
])
def test_a_malformed_table_is_refused_with_what_is_wrong(edit, message):
    data = make_table().to_json()
    edit(data)
    with pytest.raises(BudgetTableError, match=message):
        BudgetTable.from_json(data)


def test_bytes_that_are_not_json_are_refused():
    with pytest.raises(BudgetTableError, match="not UTF-8 JSON"):
        BudgetTable.from_bytes(b"\xff\x00")


def test_default_table_budgets_stay_inside_the_range():
    from lcnet_tf.training.calibration import default_table_budgets

    budgets = default_table_budgets(0.2, 0.8)
    assert len(budgets) == 9 and 0.2 < budgets[0] < budgets[-1] < 0.8
    assert budgets == sorted(budgets)

"""The budget knob's calibration table: budget -> decision values, the one lookup rule.

A knob file (`lcnet_tf.export.to_tflite(..., budget_table=...)`) carries a `BudgetTable` as
TFLite metadata; the app turns a budget into the decision values its `serve_budget`
signature takes. The format and the rule are specified in docs/tflite_signature.md ("Budget
knob files"); the Android core (`BudgetKnob`) and the browser page (`web_demo/src/knob.js`)
implement the same rule. `lcnet_tf.training.budget_table` builds one by calibration.
"""

import dataclasses
import json
import math
import numbers

TABLE_FORMAT = "lcnet_budget_table"
TABLE_VERSION = 1
METADATA_NAME = "lcnet_budget_table"
KNOB_SIGNATURE_KEY = "serve_budget"
DECISIONS_INPUT = "decisions"
# A budget this close to a row's gets that row exactly.
EXACT_TOLERANCE = 1e-9


class BudgetTableError(ValueError):
    """A malformed budget table, or a file that has none."""


@dataclasses.dataclass(frozen=True)
class BudgetRow:
    """One calibrated budget: its decision values and the mean FLOPs they realized on the
    calibration images."""

    budget: float
    decisions: tuple
    mean_flops: float

    def to_json(self):
        return {"budget": self.budget, "decisions": list(self.decisions),
                "mean_flops": self.mean_flops}


@dataclasses.dataclass(frozen=True)
class KnobSetting:
    """What `BudgetTable.lookup` returns: the decisions for a budget, the mean FLOPs they are
    expected to realize (calibration images; interpolated between rows) and whether the
    budget is one of the table's rows (`exact`)."""

    budget: float
    decisions: tuple
    expected_flops: float
    exact: bool


@dataclasses.dataclass(frozen=True)
class BudgetTable:
    """Budget -> decision values of one dynamic model (docs/tflite_signature.md).

    Attributes:
        decision_names: the model's `decision_names()` (the order of every `decisions`).
        reference_flops: what a budget is a fraction of.
        rows: `BudgetRow`s by strictly increasing budget (at least 2).
        default: the row of the decisions the model had when the table was made (what an
            exported file's image-only `serve` signature runs).
        num_images: calibration images behind every row's `mean_flops`.
    """

    decision_names: tuple
    reference_flops: int
    rows: tuple
    default: BudgetRow
    num_images: int

    def __post_init__(self):
        names = tuple(self.decision_names)
        if not names or not all(isinstance(name, str) for name in names):
            raise BudgetTableError(
                "Invalid budget table: expected `decision_names` to be one or more strings. "
                f"Received: {self.decision_names!r}")
        if not isinstance(self.reference_flops, int) or self.reference_flops <= 0:
            raise BudgetTableError(
                "Invalid budget table: expected a positive integer `reference_flops`. "
                f"Received: {self.reference_flops!r}")
        rows = tuple(self.rows)
        if len(rows) < 2:
            raise BudgetTableError(
                f"Invalid budget table: expected at least 2 rows. Received: {len(rows)}")
        for index, row in enumerate((*rows, self.default)):
            where = "default" if index == len(rows) else f"rows[{index}]"
            if len(row.decisions) != len(names) or not all(
                    math.isfinite(value) for value in (row.budget, row.mean_flops,
                                                       *row.decisions)):
                raise BudgetTableError(
                    f"Invalid budget table: {where} needs a finite budget and mean_flops and "
                    f"{len(names)} finite decisions ({list(names)}). Received: {row!r}")
        budgets = [row.budget for row in rows]
        if any(later <= earlier for earlier, later in zip(budgets, budgets[1:], strict=False)):
            raise BudgetTableError(
                "Invalid budget table: expected rows by strictly increasing budget. "
                f"Received budgets {budgets}")
        object.__setattr__(self, "decision_names", names)
        object.__setattr__(self, "rows", rows)

    @property
    def budget_range(self):
        """`(lowest, highest)` budget the table covers."""
        return self.rows[0].budget, self.rows[-1].budget

    def lookup(self, budget):
        """The decisions for `budget` (docs/tflite_signature.md, "Lookup").

        Exact at a row (within 1e-9); between two rows the decisions and the expected FLOPs
        are interpolated linearly (monotone, realized cost only approximately the
        interpolated one).

        Raises:
            ValueError: `budget` is not a finite number in `budget_range`.
        """
        low, high = self.budget_range
        if isinstance(budget, bool) or not isinstance(budget, numbers.Real) or not (
                math.isfinite(budget) and low - EXACT_TOLERANCE <= budget
                <= high + EXACT_TOLERANCE):
            raise ValueError(
                f"Invalid value for `budget`: expected a number in [{low:.4f}, {high:.4f}] "
                "(the budgets this file's table was calibrated for, as fractions of "
                f"{self.reference_flops:,} reference FLOPs). Received: budget={budget!r}")
        budget = float(budget)
        for row in self.rows:
            if abs(row.budget - budget) <= EXACT_TOLERANCE:
                return KnobSetting(float(budget), tuple(row.decisions), row.mean_flops, True)
        upper = next(index for index, row in enumerate(self.rows) if row.budget > budget)
        below, above = self.rows[upper - 1], self.rows[upper]
        weight = (budget - below.budget) / (above.budget - below.budget)
        decisions = tuple(a + weight * (b - a)
                          for a, b in zip(below.decisions, above.decisions, strict=True))
        flops = below.mean_flops + weight * (above.mean_flops - below.mean_flops)
        return KnobSetting(float(budget), decisions, flops, False)

    # Serialization ----------------------------------------------------------------------------
    def to_json(self):
        """The JSON object stored in a knob file (a dict)."""
        return {"format": TABLE_FORMAT, "version": TABLE_VERSION,
                "signature": KNOB_SIGNATURE_KEY, "input": DECISIONS_INPUT,
                "decision_names": list(self.decision_names),
                "reference_flops": self.reference_flops, "num_images": self.num_images,
                "default": self.default.to_json(),
                "rows": [row.to_json() for row in self.rows]}

    def to_bytes(self):
        return json.dumps(self.to_json(), sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, data):
        """A table from its JSON object, or BudgetTableError naming what is wrong."""
        if not isinstance(data, dict) or data.get("format") != TABLE_FORMAT:
            raise BudgetTableError(
                f"Invalid budget table: expected a JSON object with format {TABLE_FORMAT!r}. "
                f"Received: {str(data)[:120]!r}")
        if data.get("version") != TABLE_VERSION:
            raise BudgetTableError(
                f"Unsupported budget table version {data.get('version')!r}: this lcnet-tf "
                f"reads version {TABLE_VERSION}.")
        expected = {"signature": KNOB_SIGNATURE_KEY, "input": DECISIONS_INPUT}
        wrong = {key: data.get(key) for key, value in expected.items() if data.get(key) != value}
        names = data.get("decision_names")
        if wrong or not isinstance(names, list) or not isinstance(
                data.get("reference_flops"), int) or not isinstance(
                data.get("num_images"), int) or data["num_images"] < 1:
            raise BudgetTableError(
                f"Invalid budget table: expected signature {KNOB_SIGNATURE_KEY!r}, input "
                f"{DECISIONS_INPUT!r}, a list of decision_names, an integer reference_flops "
                "and num_images >= 1. Received: " + ", ".join(
                    f"{key}={data.get(key)!r}" for key in ("signature", "input",
                                                           "decision_names",
                                                           "reference_flops", "num_images")))
        try:
            def row(item):
                return BudgetRow(float(item["budget"]),
                                 tuple(float(v) for v in item["decisions"]),
                                 float(item["mean_flops"]))

            return cls(decision_names=tuple(data["decision_names"]),
                       reference_flops=data["reference_flops"],
                       rows=tuple(row(item) for item in data["rows"]),
                       default=row(data["default"]), num_images=data["num_images"])
        except BudgetTableError:
            raise
        except (KeyError, TypeError, ValueError) as error:
            raise BudgetTableError(
                f"Invalid budget table: {type(error).__name__}: {error}") from error

    @classmethod
    def from_bytes(cls, content):
        try:
            data = json.loads(bytes(content).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise BudgetTableError(f"Invalid budget table: not UTF-8 JSON ({error})") from error
        return cls.from_json(data)

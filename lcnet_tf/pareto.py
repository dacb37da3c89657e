"""Accuracy-cost frontiers: is a dynamic model above the static networks of the same cost?

Pure functions over plain records (dicts with a cost key and `test_accuracy`), used by
`benchmarks/pareto.py`, the main job's printed comparison and the docs.

A static frontier is the upper concave envelope of the static points: what the static
networks reach alone or mixed, a mix of two networks sending each image to one of them at
random, in proportion, so that its accuracy and cost are the straight line between them. A
point belongs to it when no cheaper-or-equal point is at least as accurate and it lies above
the line joining its neighbours (a network below that line is beaten by mixing them: e.g. a
net whose odd widths make it nearly as slow as a deeper, more accurate one). A dynamic point's
*margin* is its accuracy minus the frontier at its own cost; outside the frontier's cost
range the margin is undefined (None), never extrapolated.
"""

import numpy as np


def static_frontier(points, cost_key="mflops"):
    """The Pareto-optimal static points, cheapest first.

    Args:
        points: iterable of dicts with `cost_key` and `test_accuracy` (runs of
            one configuration should be merged first, e.g. by `median_by_name`).
        cost_key: the cost to sort by, e.g. "mflops" or "tflite_ms_float".

    Returns:
        List of the points on the frontier, by increasing cost (and accuracy).

    Example:
        >>> static_frontier([{"mflops": 1, "test_accuracy": .8},
        ...                  {"mflops": 2, "test_accuracy": .7}])  # only the first
    """
    usable = [p for p in points if p.get(cost_key) is not None
              and p.get("test_accuracy") is not None]
    ordered = sorted(usable, key=lambda p: (p[cost_key], -p["test_accuracy"]))
    frontier = []
    for point in ordered:
        if frontier and point["test_accuracy"] <= frontier[-1]["test_accuracy"]:
            continue  # dominated by a cheaper-or-equal, at least as accurate point
        while len(frontier) >= 2 and not _above_chord(frontier[-1], frontier[-2], point,
                                                          cost_key):
            frontier.pop()
        frontier.append(point)
    return frontier


def _above_chord(middle, left, right, key):
    """Whether `middle` lies strictly above the line from `left` to `right`."""
    chord = left["test_accuracy"] + (right["test_accuracy"] - left["test_accuracy"]) * (
        (middle[key] - left[key]) / (right[key] - left[key]))
    return middle["test_accuracy"] > chord


def frontier_accuracy(frontier, cost, cost_key="mflops"):
    """The frontier's accuracy at `cost`, linear between the two points around it.

    Returns:
        A float, or None when `cost` lies outside the frontier's cost range.
    """
    if not frontier:
        return None
    costs = np.array([p[cost_key] for p in frontier], dtype=np.float64)
    accuracies = np.array([p["test_accuracy"] for p in frontier], dtype=np.float64)
    if cost < costs[0] or cost > costs[-1]:
        return None
    return float(np.interp(cost, costs, accuracies))


def margin(point, frontier, cost_key="mflops"):
    """`point`'s accuracy minus the frontier's at its cost (None outside the frontier)."""
    cost = point.get(cost_key)
    if cost is None:
        return None
    reference = frontier_accuracy(frontier, cost, cost_key)
    return None if reference is None else float(point["test_accuracy"] - reference)


def median_by_name(records, keys=("test_accuracy", "mflops", "tflite_ms_float",
                                  "tflite_ms_int8", "tflite_mean_ms_float",
                                  "tflite_mean_ms_int8", "flops_ratio"),
                   list_keys=("tflite_ms_float_runs", "tflite_ms_int8_runs",
                              "tflite_mean_ms_float_runs", "tflite_mean_ms_int8_runs")):
    """Merges records of one `name` (several seeds) into one with the median of `keys`.

    Returns:
        List of dicts: the first record of each name with `keys` replaced by
        medians over its runs (None where no run has the key), `list_keys` (one value
        per timing run) by the element-wise median, plus `seeds`.
    """
    groups = {}
    for record in records:
        groups.setdefault(record["name"], []).append(record)
    merged = []
    for name, group in groups.items():
        row = dict(group[0])
        for key in keys:
            values = [r[key] for r in group if r.get(key) is not None]
            row[key] = float(np.median(values)) if values else None
        for key in list_keys:
            lists = [r[key] for r in group if r.get(key)]
            if lists:
                row[key] = [float(v) for v in np.median(np.array(lists, dtype=float), axis=0)]
        row["seeds"] = sorted(r.get("seed") for r in group)
        row["name"] = name
        merged.append(row)
    return merged


def margins_over_runs(rows, runs_key="tflite_ms_float_runs"):
    """Each dynamic row's latency margin in each timing run, and their median.

    Latencies of the same files move between runs on a shared machine (by up to 0.3 ms here),
    and a margin mixes the dynamic point's latency with its static neighbours': so the margin
    is computed within each run (that run's static frontier, that run's latency of the point)
    and the median over runs is quoted, never a margin across runs.

    Args:
        rows: merged records (one per name); `runs_key` holds each record's latency in
            every timing run, the same number of runs for all (None: not timed).

    Returns:
        Dict name -> {"runs": [margin or None per run], "median": float or None} for the
        dynamic rows that were timed.
    """
    timed = [row for row in rows if row.get(runs_key)]
    counts = {len(row[runs_key]) for row in timed}
    if len(counts) > 1:
        raise ValueError(
            f"Invalid value for `rows`: every timed row needs the same number of runs in "
            f"`{runs_key}`. Received: {sorted(counts)}"
        )
    result = {}
    for index in range(counts.pop() if counts else 0):
        run = [{**row, "_ms": row[runs_key][index]} for row in timed]
        frontier = static_frontier([r for r in run if r["kind"] == "static"], "_ms")
        for row in run:
            if row["kind"] == "dynamic":
                result.setdefault(row["name"], []).append(margin(row, frontier, "_ms"))
    return {
        name: {"runs": values,
               "median": (float(np.median([v for v in values if v is not None]))
                          if any(v is not None for v in values) else None)}
        for name, values in result.items()
    }


def static_points(path):
    """The static points of a pareto.json (`benchmarks/pareto.py`), medians over seeds.

    Raises:
        ValueError: unreadable file, no `points`, or fewer than 2 static points (no
            frontier), naming the path.
    """
    import json

    try:
        with open(path) as file:
            points = json.load(file)["points"]
        static = median_by_name([p for p in points if p.get("kind") == "static"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"Invalid value for `frontier`: expected a pareto.json with "
                         f"'points'. Received: {str(path)!r} ({error})") from None
    if len(static) < 2:
        raise ValueError(f"Invalid value for `frontier`: {str(path)!r} has fewer than 2 "
                         "static points, no frontier to compare with.")
    return static

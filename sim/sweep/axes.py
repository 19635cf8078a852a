"""Which swept parameter a sweep's plots put on the x axis and which one draws the lines.

Kept free of pandas: a sweep spec's per-line `theory:` laws name lines, and loading the spec
(`consim validate` too) checks them against the line parameter's values from the grid alone, by
the same choice the plots make from the runs (`sim.sweep_plots.plot_axes`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sim.units import parse_duration


def choose_axes(
    params: Sequence[str], counts: Mapping[str, int], numeric: Mapping[str, bool], x: str | None = None, hue: str | None = None
) -> tuple[str, str | None]:
    """The x axis and the hue: the ones asked for, else chosen from the parameters' values.

    Without `x` the parameter with the most values is used (numeric first on a tie, then grid
    order), never the asked-for `hue`; without `hue` the remaining parameter with the fewest
    values, if there is one.

    Args:
        params: the swept parameters, in grid order (at least one).
        counts: how many distinct values each parameter present in the runs has.
        numeric: whether each parameter present in the runs is numeric.
        x: the x axis asked for, if any.
        hue: the line parameter asked for, if any.

    """
    present = [p for p in params if p in counts]
    if x is None:
        # max() keeps the first of equals, so ties go to numeric parameters, then to grid order.
        ranked = sorted((p for p in present if p != hue), key=lambda p: not numeric[p])
        x = max(ranked, key=lambda p: counts[p]) if ranked else params[0]
    if hue is None:
        others = [p for p in present if p != x]
        hue = min(others, key=lambda p: counts[p]) if others else None
    return x, hue


def column_values(labels: Sequence[Any]) -> list[Any]:
    """A parameter's values as its runs.parquet column holds them, from their table labels (`label`).

    Integers beside floats become floats (4 is the line "4.0" then), and numbers beside text
    become text, as the table stores them; None stays None (no line).
    """
    kinds = {type(v) for v in labels if v is not None}
    if kinds and kinds <= {int, float} and (float in kinds or None in labels):
        return [None if v is None else float(v) for v in labels]
    if len(kinds) > 1 and not kinds <= {int, float}:
        return [None if v is None else str(v) for v in labels]  # as sim.sweep.core._arrow_safe stores them
    return list(labels)


def is_numeric(values: Sequence[Any]) -> bool:
    """Whether a column of these values is numeric, as pandas types it (numbers, or booleans without a gap)."""
    kinds = {type(v) for v in values if v is not None}
    return bool(kinds) and (kinds <= {int, float} or (kinds == {bool} and None not in values))


def grid_axes(grid: Mapping[str, Sequence[Any]]) -> tuple[str, str | None, list[str]]:
    """The x axis, the hue and the hue's line names the sweep's default plots will have, from the grid.

    Args:
        grid: each swept path to its values' table labels (`sim.sweep.spec.label`), in grid order.

    Returns:
        x, hue (None with one parameter), and the names of the lines (`str` of each distinct value,
        as the plots label them and look up per-line laws), in grid order.

    """
    columns = {path: column_values(list(values)) for path, values in grid.items()}
    present = {path: [v for v in values if v is not None] for path, values in columns.items()}
    counts = {path: len(dict.fromkeys(values)) for path, values in present.items()}
    numeric = {path: is_numeric(values) for path, values in columns.items()}
    x, hue = choose_axes(list(grid), counts, numeric)
    lines = list(dict.fromkeys(str(v) for v in present[hue])) if hue is not None else []
    return x, hue, lines


def _range_value(value: Any) -> tuple[float, float] | None:
    """A range-valued parameter ([150ms, 300ms], as a list or its text) as (low, high) in ms or plain numbers."""
    if isinstance(value, str):
        text = value.strip()
        if not (text.startswith("[") and text.endswith("]")):
            return None
        parts = [p.strip().strip("'\"") for p in text[1:-1].split(",")]
    elif isinstance(value, list | tuple) or hasattr(value, "tolist"):  # a numpy array too
        parts = list(value)
    else:
        return None
    if len(parts) != 2:
        return None
    try:
        ends = [float(p) if isinstance(p, int | float) else float(parse_duration(p)) for p in parts]
    except (ValueError, TypeError):
        return None
    return ends[0], ends[1]


def axis_positions(values: Sequence[Any]) -> tuple[list[float], list[str] | None, str]:
    """Positions for parameter values: numbers as they are, durations in ms, ranges at their midpoint, anything else by order.

    Returns:
        (positions, tick labels or None for a plain numeric axis, unit suffix for the axis label).
        With tick labels, each distinct value's label goes at its position (in first-appearance
        order): ranges keep their text under their midpoint, categories are placed 0, 1, 2...

    """
    clean = list(values)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in clean):
        return [float(v) for v in clean], None, ""
    try:
        return [float(parse_duration(v)) for v in clean], None, " (ms)"
    except (ValueError, TypeError):
        pass
    ranges = [_range_value(v) for v in clean]
    order: list[Any] = []
    for v in clean:
        key = str(v)
        if key not in order:
            order.append(key)
    if clean and all(r is not None for r in ranges):
        mids = [(r[0] + r[1]) / 2 for r in ranges if r is not None]
        durations = any(isinstance(v, str) and any(c.isalpha() for c in v) for v in clean)
        return mids, order, " (ms, midpoint of the range)" if durations else " (midpoint of the range)"
    return [float(order.index(str(v))) for v in clean], order, ""


def theory_axis_problem(x: str, values: Sequence[Any]) -> str | None:
    """Why a theory law cannot be drawn against the x axis `x` holding `values`; None when it can.

    A law (n, n^2, log n, ...) is a function of a positive number: categories (mechanism names)
    have no number to put in it, and log n has none at 0 or below.
    """
    positions, ticks, unit = axis_positions([v for v in values if v is not None])
    if (ticks is not None and unit == "") or any(p <= 0 for p in positions):
        return f"a theory overlay needs a positive numeric parameter on the x axis, not {x}"
    return None

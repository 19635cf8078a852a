"""Which swept parameter a sweep's plots put on the x axis and which one draws the lines.

Kept free of pandas: a sweep spec's per-line `theory:` laws name lines, and loading the spec
(`consim validate` too) checks them against the line parameter's values from the grid alone, by
the same choice the plots make from the runs (`sim.sweep_plots.plot_axes`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


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

"""Sweep and comparison plots: pure functions from DataFrames to matplotlib Figures."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# No matplotlib.use() here: headless, pyplot falls back to Agg by itself, and in a notebook the
# inline backend must stay in charge so that these figures show.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sim.sweep.stats import aggregate, metric_columns
from sim.units import parse_duration

DEFAULT_METRICS = ("latency_ms_p50", "failover_ms_p50", "time_to_all_ms_mean", "messages_per_decision", "messages_per_node", "liveness")


def axis_label(name: str) -> str:
    """A readable axis label with its unit: `latency_ms_p50` -> `latency p50 (ms)`."""
    words = name.replace(".", " ").split("_")
    unit = ""
    for token, shown in (("ms", "ms"), ("s", "s"), ("bytes", "bytes")):
        if token in words[1:]:
            words.remove(token)
            unit = shown
            break
    text = " ".join(w for w in words if w)
    return f"{text} ({unit})" if unit else text


def numeric_axis(values: Sequence[Any]) -> tuple[np.ndarray, list[str] | None, str]:
    """Positions for parameter values: numbers as they are, durations in ms, anything else by order.

    Returns:
        (positions, tick labels or None for a numeric axis, unit suffix for the axis label).

    """
    clean = list(values)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in clean):
        return np.asarray(clean, dtype=float), None, ""
    try:
        return np.asarray([parse_duration(v) for v in clean], dtype=float), None, " (ms)"
    except (ValueError, TypeError):
        pass
    order: list[Any] = []
    for v in clean:
        if v not in order:
            order.append(v)
    return np.asarray([order.index(v) for v in clean], dtype=float), [str(v) for v in order], ""


def metric_vs_param(
    runs: pd.DataFrame,
    metric: str,
    x: str,
    hue: str | None = None,
    title: str | None = None,
    ax: Any = None,
) -> Figure:
    """The mean of `metric` against parameter `x` with a 95% confidence band, one line per `hue`.

    Replicates (and any other swept parameters) are pooled at each (x, hue); failed runs are
    left out. Category-valued parameters (e.g. `[150ms, 300ms]`) are placed in the order they
    first appear.
    """
    if metric not in runs.columns:
        raise KeyError(f"no metric {metric!r} in the runs (have: {', '.join(metric_columns(runs, [x] + ([hue] if hue else [])))})")
    by = [x] + ([hue] if hue else [])
    stats = aggregate(runs, by, [metric])
    pos, ticks, unit = numeric_axis(stats[x].tolist())
    stats = stats.assign(_pos=pos)
    fig = ax.figure if ax is not None else plt.figure(figsize=(6.4, 4.2))
    ax = ax if ax is not None else fig.add_subplot()
    hues = list(dict.fromkeys(stats[hue].tolist())) if hue else [None]
    for value in hues:
        part = stats if hue is None else stats[stats[hue] == value]
        part = part.sort_values("_pos")
        name = metric if hue is None else f"{hue} = {value}"
        line = ax.plot(part["_pos"], part["mean"], marker="o", label=name)[0]
        band = part["ci_low"].notna()
        if band.any():
            ax.fill_between(part["_pos"][band], part["ci_low"][band], part["ci_high"][band], color=line.get_color(), alpha=0.2, linewidth=0)
    if ticks is not None:
        ax.set_xticks(range(len(ticks)), ticks, rotation=20 if max(len(t) for t in ticks) > 8 else 0)
    elif all(float(p).is_integer() for p in pos):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # fanout 1, 2, 3: no 1.5 ticks
    n = int(stats["runs"].max()) if len(stats) else 0
    ax.set_xlabel(axis_label(x) + unit)
    ax.set_ylabel(axis_label(metric))
    ax.set_title(title or f"{axis_label(metric)} against {x}\n(mean and 95% CI, up to {n} runs per point)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title=None)
    if stats["failed"].sum():
        left_out = f"{int(stats['failed'].sum())} failed runs left out"
        ax.text(0.99, 0.01, left_out, transform=ax.transAxes, ha="right", va="bottom", fontsize=7)
    fig.set_layout_engine("tight")  # laid out when drawn: building a figure stays cheap
    return fig


UNSAFE_COLOUR = "#c0392b"


SAFE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf")
"""Colours for safe mechanisms: no red, which marks the unsafe ones."""


def _overlap(a: Any, b: Any) -> float:
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(width, 0.0) * max(height, 0.0)


def _annotate(ax: Any, text: str, xy: tuple[float, float], offset: tuple[int, int], colour: str) -> Any:
    ha = "left" if offset[0] > 0 else "right"
    line = {"arrowstyle": "-", "color": colour, "linewidth": 0.5}
    return ax.annotate(text, xy, textcoords="offset points", xytext=offset, fontsize=8, color=colour, ha=ha, arrowprops=line)


def _place_labels(ax: Any, points: list[tuple[float, float, str, str]]) -> None:
    """Annotate each point at the offset where its label stays inside the axes and covers the fewest other labels and points."""
    from matplotlib.transforms import Bbox

    fig = ax.figure
    try:
        renderer = fig.canvas.get_renderer()
    except AttributeError:  # a canvas without a renderer: every label at the first offset
        renderer = None
    offsets = ((8, 6), (8, -30), (-8, 6), (-8, -30), (8, 30), (-8, 30), (8, -54), (-8, -54))
    frame = ax.get_window_extent(renderer) if renderer is not None else None
    taken = []
    if renderer is not None:
        for xv, yv, _, _ in points:
            px, py = ax.transData.transform((xv, yv))
            taken.append(Bbox.from_extents(px - 7, py - 7, px + 7, py + 7))
    for xv, yv, text, colour in points:
        best: tuple[float, tuple[int, int]] | None = None
        for dx, dy in offsets:
            label = _annotate(ax, text, (xv, yv), (dx, dy), colour)
            if renderer is None:
                best = (0.0, (dx, dy))
                label.remove()
                break
            box = label.get_window_extent(renderer)
            label.remove()
            outside = box.width * box.height - _overlap(box, frame)
            cost = outside * 4 + sum(_overlap(box, other) for other in taken)
            if best is None or cost < best[0]:
                best = (cost, (dx, dy))
            if cost == 0:
                break
        assert best is not None
        dx, dy = best[1]
        label = _annotate(ax, text, (xv, yv), (dx, dy), colour)
        if renderer is not None:
            taken.append(label.get_window_extent(renderer))


def tradeoff_chart(
    table: pd.DataFrame,
    x: str = "messages_per_decision",
    y: str = "latency_ms_p50",
    title: str = "Latency against message cost",
) -> Figure:
    """One point per mechanism: `y` against `x`, with CI error bars, the faults it tolerates and its safety.

    Expects columns `mechanism`, `x`, `y`, optionally `<x>_ci`/`<y>_ci` (half-widths),
    `tolerates` (e.g. "crash f<n/2"), `violations_total` and `unsafe_runs` (or a mean
    `safety_violations`) and `runs`, and `notes`. A mechanism whose runs found a safety violation
    is a red cross with the count beside it; a safe one a filled circle. Both axes start at 0.
    A mechanism with no value for x or y is listed below the chart with the reason.
    """
    fig, ax = plt.subplots(figsize=(7.2, 4.8))
    missing: list[str] = []
    colours = SAFE_COLOURS
    placed: list[tuple[float, float, str, str]] = []
    top_x = top_y = 0.0
    for i, row in enumerate(table.to_dict("records")):
        xv, yv = row.get(x), row.get(y)
        if xv is None or yv is None or not (math.isfinite(xv) and math.isfinite(yv)):
            notes = str(row.get("notes") or "")
            reason = next((n.strip() for n in notes.split(";") if "skipped" in n or "failed" in n), "") or "no value"
            missing.append(f"{row['mechanism']}: {reason.removeprefix('skipped: ')}")
            continue
        xerr, yerr = row.get(f"{x}_ci"), row.get(f"{y}_ci")
        xerr = None if xerr is None or not math.isfinite(xerr) else xerr
        yerr = None if yerr is None or not math.isfinite(yerr) else yerr
        total = row.get("violations_total")
        if total is None or (isinstance(total, float) and math.isnan(total)):
            mean = row.get("safety_violations")
            total = 0 if mean is None or not math.isfinite(mean) else math.ceil(mean * max(int(row.get("runs") or 1), 1))
        unsafe = int(total) > 0
        colour = UNSAFE_COLOUR if unsafe else colours[i % len(colours)]
        ax.errorbar([xv], [yv], xerr=None if xerr is None else [xerr], yerr=None if yerr is None else [yerr],
                    fmt="X" if unsafe else "o", markersize=11 if unsafe else 8, capsize=3, color=colour)  # fmt: skip
        note = str(row["mechanism"])
        if row.get("tolerates"):
            note += f"\n{row['tolerates']}"
        if unsafe:
            runs = row.get("unsafe_runs")
            of = f" in {int(runs)}/{int(row['runs'])} runs" if runs is not None and row.get("runs") else ""
            note += f"\nUNSAFE: {int(total)} violation{'s' if int(total) != 1 else ''}{of}"
        placed.append((xv, yv, note, colour))
        top_x = max(top_x, xv + (xerr or 0.0))
        top_y = max(top_y, yv + (yerr or 0.0))
    ax.set_xlim(0, top_x * 1.35 or 1.0)
    ax.set_ylim(0, top_y * 1.3 or 1.0)
    _place_labels(ax, placed)
    ax.set_xlabel(axis_label(x))
    ax.set_ylabel(axis_label(y))
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if placed:
        handles = [plt.Line2D([], [], marker="o", linestyle="", color="grey", label="safe: no violation found")]
        if any("UNSAFE" in p[2] for p in placed):
            cross = plt.Line2D([], [], marker="X", linestyle="", markersize=9, color=UNSAFE_COLOUR, label="unsafe: violations found")
            handles.append(cross)
        ax.legend(handles=handles, fontsize=8, loc="lower right")
    if missing:
        # Under the axis label, which the layout always makes room for.
        text = "\n".join("not run: " + (m if len(m) <= 90 else m[:87] + "...") for m in missing)
        ax.set_xlabel(f"{axis_label(x)}\n\n{text}", fontsize=9)
    fig.set_layout_engine("tight")  # laid out when drawn: building a figure stays cheap
    return fig


def save_sweep_plots(
    runs: pd.DataFrame, params: Sequence[str], folder: Path, metric: str | None = None, x: str | None = None, hue: str | None = None
) -> list[Path]:
    """Write metric-against-parameter plots of a sweep as PNGs into `folder`.

    Without `metric` every headline metric present is drawn; without `x` the parameter with the
    most values is used (numeric first on a tie), and without `hue` the remaining parameter
    with the fewest values (if there is one): a curve per mechanism over rising loss, not a
    line drawn between two mechanisms.
    """
    folder.mkdir(parents=True, exist_ok=True)
    params = list(params)
    if not params:
        raise ValueError("the sweep has no swept parameter to plot against")
    present = [p for p in params if p in runs.columns]
    if x is None:
        # max() keeps the first of equals, so ties go to numeric parameters, then to grid order.
        ranked = sorted(present, key=lambda p: not pd.api.types.is_numeric_dtype(runs[p]))
        x = max(ranked, key=lambda p: runs[p].nunique()) if ranked else params[0]
    if hue is None:
        others = [p for p in present if p != x]
        hue = min(others, key=lambda p: runs[p].nunique()) if others else None
    if x not in runs.columns or (hue and hue not in runs.columns):
        raise KeyError(f"no parameter {x if x not in runs.columns else hue!r} in the sweep (have: {', '.join(params)})")
    metrics = [metric] if metric else [m for m in DEFAULT_METRICS if m in runs.columns and runs[m].notna().any()] or ["decisions"]
    paths = []
    for name in metrics:
        fig = metric_vs_param(runs, name, x, hue)
        path = folder / f"{name}_vs_{x.replace('.', '_')}.png"
        fig.savefig(path, dpi=100, metadata={"Software": None})
        plt.close(fig)
        paths.append(path)
    return paths

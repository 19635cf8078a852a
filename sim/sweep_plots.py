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


def tradeoff_chart(
    table: pd.DataFrame,
    x: str = "messages_per_decision",
    y: str = "latency_ms_p50",
    title: str = "Latency against message cost",
) -> Figure:
    """One point per mechanism: `y` against `x`, with CI error bars and the faults it tolerates.

    Expects columns `mechanism`, `x`, `y`, optionally `<x>_ci`/`<y>_ci` (half-widths) and
    `tolerates` (e.g. "crash f<n/2"). Mechanisms with no value for x or y are listed as such.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    missing = []
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, row in enumerate(table.to_dict("records")):
        xv, yv = row.get(x), row.get(y)
        if xv is None or yv is None or not (math.isfinite(xv) and math.isfinite(yv)):
            missing.append(str(row["mechanism"]))
            continue
        xerr = row.get(f"{x}_ci")
        yerr = row.get(f"{y}_ci")
        colour = colours[i % len(colours)]
        ax.errorbar(
            [xv],
            [yv],
            xerr=None if xerr is None or not math.isfinite(xerr) else [xerr],
            yerr=None if yerr is None or not math.isfinite(yerr) else [yerr],
            fmt="o",
            markersize=8,
            capsize=3,
            color=colour,
            label=row["mechanism"],
        )
        note = f"{row['mechanism']}\n{row['tolerates']}" if row.get("tolerates") else str(row["mechanism"])
        ax.annotate(note, (xv, yv), textcoords="offset points", xytext=(8, 6), fontsize=8, color=colour)
    ax.set_xlabel(axis_label(x))
    ax.set_ylabel(axis_label(y))
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.margins(0.25)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best")
    if missing:
        ax.text(0.01, 0.01, f"no value for: {', '.join(missing)}", transform=ax.transAxes, fontsize=7, va="bottom")
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

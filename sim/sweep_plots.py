"""Sweep and comparison plots: pure functions from DataFrames to matplotlib Figures."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

# No matplotlib.use() here: headless, pyplot falls back to Agg by itself, and in a notebook the
# inline backend must stay in charge so that these figures show.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sim.sweep.axes import axis_positions, choose_axes, theory_axis_problem
from sim.sweep.laws import LAWS  # the laws live where a sweep spec can check their names without matplotlib
from sim.sweep.stats import aggregate, metric_columns, metric_range

DEFAULT_METRICS = (
    "latency_ms_p50",
    "failover_ms_p50",
    "time_to_all_ms_mean",
    "time_to_all_rounds_mean",
    "messages_per_command",
    "messages_per_decision",
    "messages_per_node",
    "throughput",
    "liveness",
    "unsafe_runs",
)
ZOOM_SPAN = 0.2
"""A proportion whose values and bands span less than this is drawn zoomed in (and says so)."""


def axis_label(name: str) -> str:
    """A readable axis label with its unit: `latency_ms_p50` -> `latency p50 (ms)`."""
    if name == "unsafe_runs":
        return "runs with a safety violation (fraction)"
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
    """Positions for parameter values (see `sim.sweep.axes.axis_positions`), as an array."""
    positions, ticks, unit = axis_positions(values)
    return np.asarray(positions, dtype=float), ticks, unit


def with_derived(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs with `unsafe_runs` added: 1 for a run that found a safety violation, else 0."""
    if "safety_violations" not in runs.columns or "unsafe_runs" in runs.columns:
        return runs
    found = pd.to_numeric(runs["safety_violations"], errors="coerce")
    return runs.assign(unsafe_runs=(found > 0).astype(float).where(found.notna()))


def is_flat(runs: pd.DataFrame, metric: str) -> bool:
    """Whether a metric has one value in every run (liveness 1.0 everywhere): a plot of it says nothing."""
    values = pd.to_numeric(runs[metric], errors="coerce").dropna() if metric in runs.columns else pd.Series(dtype=float)
    return values.empty or bool(np.isclose(values.min(), values.max(), rtol=1e-9, atol=1e-12))


def _bounded_axis(ax: Any, metric: str, stats: pd.DataFrame) -> str:
    """Full range [0, 1] for a proportion, or a zoom that the label admits; returns the label suffix."""
    low, high = metric_range(metric)
    if not (math.isfinite(low) and math.isfinite(high)):
        if low == 0.0:
            ax.set_ylim(bottom=0)
        return ""
    seen = pd.concat([stats["mean"], stats["ci_low"], stats["ci_high"]]).dropna()
    if seen.empty or float(seen.max() - seen.min()) >= ZOOM_SPAN:
        ax.set_ylim(low - 0.02, high + 0.02)
        return ""
    pad = max(float(seen.max() - seen.min()) * 0.3, 0.005)
    lo, hi = max(low, float(seen.min()) - pad), min(high, float(seen.max()) + pad)
    ax.set_ylim(lo - pad * 0.1, hi + pad * 0.1)
    return f" — zoomed to {lo:.3g}..{hi:.3g}"


def metric_vs_param(
    runs: pd.DataFrame,
    metric: str,
    x: str,
    hue: str | None = None,
    title: str | None = None,
    ax: Any = None,
    theory: str | Mapping[str, str] | None = None,
) -> Figure:
    """The mean of `metric` against parameter `x` with a 95% confidence band, one line per `hue`.

    Replicates (and any other swept parameters) are pooled at each (x, hue); failed runs are
    left out. The band is Wilson's interval for proportions and Student's t otherwise
    (percentiles too), clipped to the metric's range; a proportion's axis shows [0, 1] or says
    it is zoomed. Range-valued parameters (e.g. `[150ms, 300ms]`) sit at their midpoint
    on a numeric axis; other categories in the order they first appear. `theory` (a key of
    LAWS, e.g. "n^2") overlays that law, fitted to each line's means; a mapping from `hue` values
    to laws (e.g. {"pbft": "n^2", "hotstuff": "n"}) gives each line its own, labelled with its value.
    """
    runs = with_derived(runs)
    if metric not in runs.columns:
        raise KeyError(f"no metric {metric!r} in the runs (have: {', '.join(metric_columns(runs, [x] + ([hue] if hue else [])))})")
    for law in [theory] if isinstance(theory, str) else list((theory or {}).values()):
        if law not in LAWS:
            raise ValueError(f"unknown law {law!r} (choose from {', '.join(LAWS)})")
    by = [x] + ([hue] if hue else [])
    stats = aggregate(runs, by, [metric])
    if theory is not None and (problem := theory_axis_problem(x, stats[x].tolist())) is not None:
        raise ValueError(problem)
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
        if isinstance(theory, str):
            _overlay(ax, part, theory, line.get_color(), "theory" if value == hues[0] else None)
        elif theory is not None and str(value) in theory:
            _overlay(ax, part, theory[str(value)], line.get_color(), f"{value}")
    if ticks is not None:
        first_pos = dict(zip((str(v) for v in stats[x]), pos, strict=True))
        ax.set_xticks([first_pos[t] for t in ticks], ticks, rotation=20 if max(len(t) for t in ticks) > 8 else 0)
    elif all(float(p).is_integer() for p in pos):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # fanout 1, 2, 3: no 1.5 ticks
    zoom = _bounded_axis(ax, metric, stats)
    n = int(stats["runs"].max()) if len(stats) else 0
    # "bootstrap": a summary.parquet written before percentiles got t intervals.
    method = {"wilson": "Wilson", "bootstrap": "bootstrap", "t": "t"}[str(stats["ci_method"].iloc[0])] if len(stats) else "t"
    ax.set_xlabel(axis_label(x) + unit)
    ax.set_ylabel(axis_label(metric) + ("\n(zoomed)" if zoom else ""))
    ax.set_title(title or f"{axis_label(metric)} against {x}\n(mean and 95% {method} CI, up to {n} runs per point{zoom})", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title=None)
    if stats["failed"].sum():
        left_out = f"{int(stats['failed'].sum())} failed runs left out"
        ax.text(0.99, 0.01, left_out, transform=ax.transAxes, ha="right", va="bottom", fontsize=7)
    fig.set_layout_engine("tight")  # laid out when drawn: building a figure stays cheap
    return fig


def _overlay(ax: Any, part: pd.DataFrame, law: str, colour: Any, name: str | None) -> None:
    """Draw `law` scaled by the least-squares constant through the origin that best fits the means (labelled when `name` is given)."""
    ok = part[part["mean"].notna()]
    if ok.empty:
        return
    shape = LAWS[law](ok["_pos"].to_numpy(dtype=float))
    scale = float(np.dot(shape, ok["mean"]) / np.dot(shape, shape)) if np.dot(shape, shape) > 0 else 0.0
    grid = np.linspace(float(ok["_pos"].min()), float(ok["_pos"].max()), 100)
    label = f"{name}: ∝ {law} (fitted)" if name else None
    ax.plot(grid, scale * LAWS[law](grid), linestyle="--", color=colour, linewidth=1, alpha=0.8, label=label)


MESSAGE_LAWS = MappingProxyType({"pbft": "n^2", "tendermint": "n^2", "hotstuff": "n"})
"""How each BFT mechanism's messages per decision grow with n: all-to-all phases against a leader that aggregates votes."""


def message_complexity(runs: pd.DataFrame, x: str = "nodes", hue: str = "mechanism") -> Figure:
    """Messages per decision against n, one line per mechanism, each with its own law (MESSAGE_LAWS) fitted as a reference."""
    mechanisms = {str(m) for m in runs[hue].dropna().unique()} if hue in runs.columns else set()
    laws = {name: law for name, law in MESSAGE_LAWS.items() if name in mechanisms}
    title = "Messages per decision against n\n(mean and 95% CI; dashed: the quadratic or linear law, fitted)"
    return metric_vs_param(runs, "messages_per_decision", x, hue, title=title, theory=laws)


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


def _error_bar(row: dict[str, Any], metric: str, value: float) -> list[list[float]] | None:
    """Matplotlib's asymmetric error bar ([[below], [above]]) from a row's `<metric>_ci_low`/`_ci_high`, or None."""
    low, high = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return None
    return [[max(value - low, 0.0)], [max(high - value, 0.0)]]


def tradeoff_chart(
    table: pd.DataFrame,
    x: str = "messages_per_decision",
    y: str = "latency_ms_p50",
    title: str = "Latency against message cost",
) -> Figure:
    """One point per mechanism: `y` against `x`, with CI error bars, the faults it tolerates and its safety.

    Expects columns `mechanism`, `x`, `y`, optionally `<x>_ci_low`/`<x>_ci_high` (and the same for
    `y`: the ends of the 95% CI, drawn as error bars that may be longer on one side),
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
        xerr, yerr = _error_bar(row, x, xv), _error_bar(row, y, yv)
        total = row.get("violations_total")
        if total is None or (isinstance(total, float) and math.isnan(total)):
            mean = row.get("safety_violations")
            total = 0 if mean is None or not math.isfinite(mean) else math.ceil(mean * max(int(row.get("runs") or 1), 1))
        unsafe = int(total) > 0
        colour = UNSAFE_COLOUR if unsafe else colours[i % len(colours)]
        ax.errorbar([xv], [yv], xerr=xerr, yerr=yerr,
                    fmt="X" if unsafe else "o", markersize=11 if unsafe else 8, capsize=3, color=colour)  # fmt: skip
        note = str(row["mechanism"])
        if row.get("tolerates"):
            note += f"\n{row['tolerates']}"
        if unsafe:
            runs = row.get("unsafe_runs")
            of = f" in {int(runs)}/{int(row['runs'])} runs" if runs is not None and row.get("runs") else ""
            note += f"\nUNSAFE: {int(total)} violation{'s' if int(total) != 1 else ''}{of}"
        placed.append((xv, yv, note, colour))
        top_x = max(top_x, xv + (0.0 if xerr is None else xerr[1][0]))
        top_y = max(top_y, yv + (0.0 if yerr is None else yerr[1][0]))
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


def plot_axes(runs: pd.DataFrame, params: Sequence[str], x: str | None = None, hue: str | None = None) -> tuple[str, str | None]:
    """The x axis and the hue (one line per value) a sweep's plots use: the ones asked for, else chosen.

    Without `x` the parameter with the most values is used (numeric first on a tie), never the
    asked-for `hue`; without `hue` the remaining parameter with the fewest values, if there is one.

    Raises:
        ValueError: the sweep has no parameter, or `hue` is the x axis (each line would be one point).
        KeyError: `x` or `hue` is not a parameter in the runs.

    """
    params = list(params)
    if not params:
        raise ValueError("the sweep has no swept parameter to plot against")
    present = [p for p in params if p in runs.columns]
    # The choice itself is pandas-free: loading a sweep spec makes it from the grid to check per-line laws.
    counts = {p: int(runs[p].nunique()) for p in present}
    numeric = {p: bool(pd.api.types.is_numeric_dtype(runs[p])) for p in present}
    x, hue = choose_axes(params, counts, numeric, x, hue)
    if x not in runs.columns or (hue and hue not in runs.columns):
        raise KeyError(f"no parameter {x if x not in runs.columns else hue!r} in the sweep (have: {', '.join(params)})")
    if hue == x:
        raise ValueError(f"{hue!r} is the x axis already; choose another parameter (or none)")
    return x, hue


def save_sweep_plots(
    runs: pd.DataFrame,
    params: Sequence[str],
    folder: Path,
    metric: str | None = None,
    x: str | None = None,
    hue: str | None = None,
    theory: str | Mapping[str, str] | None = None,
) -> list[Path]:
    """Write metric-against-parameter plots of a sweep as PNGs into `folder` (`<metric>_vs_<x>.png`).

    Without `metric` every headline metric present is drawn, except flat ones (one value in
    every run, such as liveness 1.0 everywhere), which say nothing; without `x` the parameter with the
    most values is used (numeric first on a tie), and without `hue` the remaining parameter
    with the fewest values (if there is one): a curve per mechanism over rising loss, not a
    line drawn between two mechanisms (see `plot_axes`). `theory` overlays a scaling law (see LAWS).
    """
    folder.mkdir(parents=True, exist_ok=True)
    runs = with_derived(runs)
    x, hue = plot_axes(runs, params, x, hue)
    if metric:
        metrics = [metric]
    else:
        metrics = [m for m in DEFAULT_METRICS if m in runs.columns and not is_flat(runs, m)]
        metrics = metrics or [m for m in ("decisions",) if m in runs.columns and not is_flat(runs, m)]
    paths = []
    for name in metrics:
        fig = metric_vs_param(runs, name, x, hue, theory=theory)
        path = folder / f"{name}_vs_{x.replace('.', '_')}.png"
        fig.savefig(path, dpi=100, metadata={"Software": None})
        plt.close(fig)
        paths.append(path)
    return paths

"""Figures of a run with planes: each plane's own figures, and one shared timeline with the faults shaded."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sim.plots.common import empty_note, fault_periods, mark_violations, save_figure, shade_faults
from sim.plots.run import commit_rate

if TYPE_CHECKING:
    from pathlib import Path

    from matplotlib.figure import Figure

    from sim.results import RunResult

PLANE = "plane"
MIN_BAR = 0.01
"""The narrowest a pipeline stage is drawn, as a fraction of the time axis (about 7 px in a 10 in figure)."""


def _rows(table: pd.DataFrame, plane: str) -> pd.DataFrame:
    return table[table[PLANE] == plane] if not table.empty and PLANE in table else table.iloc[0:0]


def fleet_timeline(
    events: pd.DataFrame,
    decisions: pd.DataFrame,
    planes: list[str],
    duration_ms: float,
    title: str = "Fleet timeline",
    violations: pd.DataFrame | None = None,
    pipeline: pd.DataFrame | None = None,
) -> Figure:
    """One row per plane (slots decided per second) over one time axis, every fault shaded across all rows.

    With a non-empty `pipeline` (the links' stages) a last row draws each chain: a bar per stage
    from its trigger to the first decision in the next plane (at least MIN_BAR of the axis wide,
    so a stage of a few ms shows), a dot when the last node had it.
    Takes the joined tables of a run with planes (their `plane` column picks each row's data).
    """
    with_pipeline = pipeline is not None and not pipeline.empty
    count = len(planes) + (1 if with_pipeline else 0)
    fig, axes_arr = plt.subplots(count, 1, figsize=(10, 1.6 + 1.5 * count), sharex=True, squeeze=False)
    axes = list(axes_arr[:, 0])
    end_s = duration_ms / 1000.0
    # Faults are the fleet's: every plane records the same network events, so one plane's are enough.
    first = planes[0] if planes else ""
    periods = fault_periods(_rows(events, first).drop(columns=[PLANE], errors="ignore"), duration_ms)
    crashes = periods[periods["kind"] == "crash"]
    if not crashes.empty:
        # One band per crash, however many planes the node runs.
        periods = pd.concat([periods[periods["kind"] != "crash"], crashes.drop_duplicates(["label", "start_ms"])], ignore_index=True)
    handles: list[Any] = shade_faults(axes, periods, label_on=axes[0])
    for ax, plane in zip(axes, planes, strict=False):
        mine = _rows(decisions, plane)
        starts, rate, width = commit_rate(mine, duration_ms)
        ax.stairs(rate, np.append(starts, starts[-1] + width / 1000.0), fill=True, color="#4c72b0")
        ax.set_ylabel(f"{plane}\nslots / s", fontsize=9)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        if mine.empty:
            empty_note(ax, f"{plane}: nothing decided")
        if violations is not None and not violations.empty:
            handles += mark_violations([ax], _rows(violations, plane))
    if with_pipeline:
        assert pipeline is not None
        ax = axes[-1]
        chains = sorted(pipeline["chain"].unique())
        cmap = plt.get_cmap("tab10")
        # A stage of a few ms (scale → control takes ~6 ms of a 20 s run) is narrower than a pixel:
        # draw every bar at least MIN_BAR of the axis wide so that each stage can be seen.
        # Each stage gets its own band of the chain's lane, or the next stage, which starts where it
        # ends, would paint over a widened short one.
        min_width = MIN_BAR * end_s
        n_stages = int(pipeline["stage"].max()) + 1
        band = 0.7 / n_stages
        for _, row in pipeline.iterrows():
            stage = int(row["stage"])
            y = chains.index(row["chain"]) - 0.35 + stage * band  # stage 0 on top: the y axis is inverted
            end = row["decided_ms"] if not np.isnan(row["decided_ms"]) else duration_ms
            width = max((end - row["trigger_ms"]) / 1000.0, min_width)
            ax.broken_barh([(row["trigger_ms"] / 1000.0, width)], (y, band * 0.9), color=cmap(stage % 10))
            if not np.isnan(row["done_ms"]):
                ax.plot(
                    [row["done_ms"] / 1000.0], [y + band * 0.45], marker="o", color="black", markeredgecolor="white", markersize=4, zorder=3
                )
        stages = pipeline.drop_duplicates("stage").sort_values("stage")
        for _, row in stages.iterrows():
            label = f"{row['from_plane']} → {row['to_plane']}"
            handles.append(plt.Rectangle((0, 0), 1, 1, color=cmap(int(row["stage"]) % 10), label=label))
        if pipeline["done_ms"].notna().any():
            handles.append(plt.Line2D([], [], marker="o", linestyle="", color="black", markersize=4, label="stage's last node had it"))
        ax.set_yticks(range(len(chains)), [f"chain {c}" for c in chains], fontsize=7)
        ax.set_ylim(-0.7, len(chains) - 0.3)
        ax.invert_yaxis()
        ax.set_ylabel("links")
    axes[0].set_xlim(0, end_s)
    axes[0].set_title(title)
    axes[-1].set_xlabel("simulated time (s)")
    if handles:
        axes[0].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.set_layout_engine("tight")
    return fig


def save_fleet_plots(result: RunResult, folder: Path, trace_window: tuple[float, float] | None = None) -> list[Path]:
    """Each plane's figures in `folder/<plane>/`, and the shared timeline as `folder/fleet_timeline.png`."""
    from sim.plots import save_run_plots

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    paths: list[Path] = []
    for name, plane in (result.planes or {}).items():
        paths += save_run_plots(plane, folder / name, trace_window)
    duration = float(result.summary.get("duration_ms") or 1.0)
    name = result.summary.get("name", "")
    fig = fleet_timeline(
        result.events, result.decisions, list(result.planes or {}), duration, f"Fleet timeline — {name}", result.violations, result.pipeline
    )
    paths.append(save_figure(fig, folder / "fleet_timeline.png"))
    return paths

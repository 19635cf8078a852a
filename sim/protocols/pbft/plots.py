"""Figures of PBFT: the view each replica is in, view changes, checkpoints and state transfers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sim.plots.common import fault_periods, mark_violations, natural_key, node_names, shade_faults

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sim.results import RunResult

LEGEND_NODES = 8
"""Up to this many replicas each has a legend entry; beyond, their lines stay unlabelled."""


def _kind(events: pd.DataFrame, kind: str) -> pd.DataFrame:
    if events.empty or "kind" not in events:
        return events.iloc[0:0]
    return events[events["kind"] == kind]


def views(result: RunResult) -> Figure:
    """Views over time with view changes, and progress with checkpoints and state transfers.

    Top: each replica's view, with view-change starts and new primaries. Bottom: the highest
    sequence number each replica executed, checkpoints and state transfers.
    """
    from sim.protocols.pbft import PbftConfig

    name = result.summary.get("name", result.scenario.get("name", ""))
    duration = float(result.summary.get("duration_ms") or result.scenario.get("duration") or 1.0)
    interval = PbftConfig.model_validate(result.scenario.get("protocol") or {}).checkpoint_interval
    nodes = sorted(node_names(result.scenario), key=natural_key)
    events, decisions = result.events, result.decisions
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": [1, 1.3]})
    end_s = duration / 1000.0
    top.set_xlim(0, end_s)
    cmap = plt.get_cmap("tab10")
    changes = _kind(events, "view_change")
    primaries = _kind(events, "leader")
    numeric = pd.to_numeric(decisions["slot"], errors="coerce") if not decisions.empty else pd.Series(dtype=float)
    few = len(nodes) <= LEGEND_NODES
    for i, node in enumerate(nodes):
        # A few replicas each get a colour and a small vertical offset so that equal lines stay
        # visible; many share one grey, or the panel turns into a rainbow.
        colour = cmap(i % 10) if few else "#5d6d7e"
        label = node if few else (f"replicas ({len(nodes)})" if i == 0 else None)
        shift = (i - len(nodes) / 2) * 0.02 if few else 0.0
        points = [(0.0, 0.0)]
        if "view" in decisions:
            mine = decisions[decisions["node"] == node]
            points += list(zip(mine["time_ms"].astype(float), mine["view"].astype(float), strict=True))
        if "view" in changes:
            mine_vc = changes[changes["node"] == node]
            points += list(zip(mine_vc["time_ms"].astype(float), mine_vc["view"].astype(float), strict=True))
        points.sort()
        t = np.array([p[0] for p in points] + [duration]) / 1000.0
        v = np.maximum.accumulate(np.array([p[1] for p in points] + [points[-1][1]]))
        top.step(t, v + shift, where="post", color=colour, linewidth=1.2 if few else 0.6, label=label)
        executed = decisions[decisions["node"] == node] if not decisions.empty else decisions
        if len(executed):
            seq = numeric[executed.index].to_numpy(dtype=float)
            times = executed["time_ms"].to_numpy(dtype=float)
            order = np.argsort(times, kind="stable")
            bottom.step(times[order] / 1000.0, np.fmax.accumulate(seq[order]), where="post", color=colour, linewidth=1 if few else 0.6,
                        label=label)  # fmt: skip
    if len(changes):
        # Above the new primary's star (zorder 5): a view change starts at the view whose primary
        # it elects, so the star sat on the crosses and hid them.
        top.scatter(changes["time_ms"] / 1000.0, changes["view"].astype(float), marker="x", color="#7b241c", s=40, linewidths=1.5,
                    zorder=6, label=f"view change started ({len(changes)})")  # fmt: skip
    if len(primaries) and "term" in primaries:
        top.scatter(primaries["time_ms"] / 1000.0, primaries["term"].astype(float), marker="*", color="#f1c40f", edgecolor="black",
                    s=120, zorder=5, label="new primary")  # fmt: skip
        for row in primaries.itertuples():
            top.annotate(row.node, (row.time_ms / 1000.0, float(row.term)), textcoords="offset points", xytext=(6, 4), fontsize=7)
    top_views = max(1.0, float(np.nanmax(changes["view"].astype(float))) if len(changes) else 1.0)
    top.set_ylim(-0.4, top_views + 0.6)
    top.yaxis.get_major_locator().set_params(integer=True)
    if not decisions.empty and numeric.notna().any():
        first_at = decisions.assign(seq=numeric).groupby("seq")["time_ms"].min()
        marks = first_at[(first_at.index > 0) & (first_at.index % interval == 0)]
        if len(marks):
            bottom.scatter(marks.to_numpy() / 1000.0, marks.index.to_numpy(dtype=float), marker="o", s=18, color="black", zorder=4,
                           label=f"checkpoint (every {interval})")  # fmt: skip
    transfers = _kind(events, "state_transfer")
    if len(transfers):
        seq = transfers["seq"].astype(float) if "seq" in transfers else pd.Series(0.0, index=transfers.index)
        bottom.scatter(transfers["time_ms"] / 1000.0, seq, marker="^", s=50, color="#c0392b", zorder=5,
                       label=f"state transfer ({len(transfers)})")  # fmt: skip
    periods = fault_periods(events, duration)
    extra = shade_faults([top, bottom], periods, label_on=top) + mark_violations([top, bottom], result.violations)
    for ax, more in ((top, extra), (bottom, [])):
        handles = ax.get_legend_handles_labels()[0] + more
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        ax.grid(alpha=0.3)
    top.set_ylabel("view")
    top.set_title(f"PBFT views, checkpoints and state transfers — {name}", fontsize=10)
    bottom.set_ylabel("highest executed sequence number")
    bottom.set_xlabel("simulated time (s)")
    bottom.set_ylim(bottom=0)
    fig.set_layout_engine("tight")  # laid out when drawn: building a figure stays cheap
    return fig


def pbft_figures() -> dict[str, Any]:
    """PBFT's own figure."""
    return {"views": views}

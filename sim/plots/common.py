"""What every figure shares: node order, fault intervals, fault shading, violation marks, saving."""

from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

# No matplotlib.use() here: a notebook keeps its inline backend, a headless script falls back to
# Agg by itself, and the CLI selects Agg before anything draws (sim/cli.py).
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PNG_METADATA = MappingProxyType({"Software": None})
"""Matplotlib writes its version as 'Software'; leaving it out keeps PNG bytes stable across versions."""

FAULT_STYLE = MappingProxyType(
    {
        "crash": {"facecolor": "#aab7b8", "alpha": 0.25, "hatch": None},
        "partition": {"facecolor": "#f0b27a", "alpha": 0.3, "hatch": None},
        "cut": {"facecolor": "#bb8fce", "alpha": 0.3, "hatch": None},
        "link": {"facecolor": "#85c1e9", "alpha": 0.25, "hatch": None},
        "byzantine": {"facecolor": "#f5b7b1", "alpha": 0.25, "hatch": None},
    }
)
"""How each kind of fault period is shaded, the same in every figure."""
VIOLATION_COLOUR = "#c0392b"
LABEL_CHARS = 28
"""Longer fault labels are shortened: a 40-node partition listed by name would run off the figure."""


def natural_key(name: str) -> tuple[Any, ...]:
    """Sort key that puts n2 before n10."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(name)))


def empty_note(ax: Axes, text: str) -> None:
    """Say in the middle of an axis why it has nothing to show."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")


def node_names(scenario: dict[str, Any]) -> list[str]:
    """Node names from a resolved scenario dict ('n0'.. when only a count was given)."""
    nodes = scenario.get("nodes", 0)
    if isinstance(nodes, int):
        return [f"n{i}" for i in range(nodes)]
    return [spec["name"] for spec in nodes]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _kind(events: pd.DataFrame, *kinds: str) -> pd.DataFrame:
    if events.empty or "kind" not in events:
        return events.iloc[0:0]
    return events[events["kind"].isin(kinds)]


def leader_intervals(events: pd.DataFrame, end_ms: float) -> pd.DataFrame:
    """Who believes it leads when: one row per leadership (node, term, start_ms, end_ms, stale_ms).

    A leadership ends when its node crashes or steps down (or at the end of the run). It is
    stale from `stale_ms` on: the first time another node became leader in a higher term
    (NaN when it never was). A mechanism that records no `step_down` at all cannot say when
    a superseded leader noticed, so there a leadership ends where a higher term begins.
    """
    columns = ["node", "term", "start_ms", "end_ms", "stale_ms"]
    leaders = _kind(events, "leader")
    if leaders.empty:
        return pd.DataFrame(columns=columns)
    terms = leaders["term"] if "term" in leaders else pd.Series(np.arange(len(leaders)), index=leaders.index)
    steps_down = not _kind(events, "step_down").empty
    stops = _kind(events, "crash", "step_down")
    rows = []
    for (_, row), term in zip(leaders.iterrows(), terms, strict=True):
        start = float(row["time_ms"])
        later = leaders[(leaders["time_ms"] >= start) & (terms > term)]
        stale = float(later["time_ms"].min()) if not later.empty else float("nan")
        end = end_ms
        own = stops[(stops["node"] == row["node"]) & (stops["time_ms"] >= start)]
        if not own.empty:
            end = min(end, float(own["time_ms"].min()))
        again = leaders[(leaders["node"] == row["node"]) & (leaders["time_ms"] > start)]
        if not again.empty:  # re-elected: the next leadership row takes over
            end = min(end, float(again["time_ms"].min()))
        if not steps_down and not np.isnan(stale):
            end = min(end, stale)
        if not np.isnan(stale) and stale >= end:
            stale = float("nan")
        if isinstance(term, float) and term.is_integer():
            term = int(term)  # other event kinds leave NaN in the column, which makes it float
        rows.append((row["node"], term, start, end, stale))
    return pd.DataFrame(rows, columns=columns)


def failed_candidacies(events: pd.DataFrame) -> pd.DataFrame:
    """Elections a node started and did not win: (node, term, time_ms).

    A candidacy is a Raft `election_start` or a Multi-Paxos `phase1`; it failed when the same
    node never became leader in that term.
    """
    columns = ["node", "term", "time_ms"]
    tries = _kind(events, "election_start", "phase1")
    if tries.empty or "term" not in tries:
        return pd.DataFrame(columns=columns)
    won = {(n, float(t)) for n, t in zip(_kind(events, "leader")["node"], _kind(events, "leader").get("term", []), strict=False)}
    lost = [(r.node, float(r.term), float(r.time_ms)) for r in tries.itertuples() if (r.node, float(r.term)) not in won]
    return pd.DataFrame(lost, columns=columns)


def down_intervals(events: pd.DataFrame, end_ms: float) -> pd.DataFrame:
    """Crash-to-recovery intervals per node: (node, start_ms, end_ms)."""
    rows = []
    for node, group in _kind(events, "crash", "recover").groupby("node", sort=True):
        down_since: float | None = None
        for _, row in group.sort_values("time_ms", kind="stable").iterrows():
            if row["kind"] == "crash" and down_since is None:
                down_since = float(row["time_ms"])
            elif row["kind"] == "recover" and down_since is not None:
                rows.append((node, down_since, float(row["time_ms"])))
                down_since = None
        if down_since is not None:
            rows.append((node, down_since, end_ms))
    return pd.DataFrame(rows, columns=["node", "start_ms", "end_ms"])


def byzantine_intervals(events: pd.DataFrame, end_ms: float) -> pd.DataFrame:
    """When each byzantine node misbehaves: (node, behaviour, start_ms, end_ms)."""
    rows = []
    for _, row in _kind(events, "byzantine").iterrows():
        start = row.get("from_ms", 0.0)
        stop = row.get("until_ms", end_ms)
        start = 0.0 if pd.isna(start) else float(start)
        stop = end_ms if pd.isna(stop) else min(float(stop), end_ms)
        rows.append((row["node"], str(row.get("behaviour", "")), start, stop))
    return pd.DataFrame(rows, columns=["node", "behaviour", "start_ms", "end_ms"])


def short_groups(groups: str, limit: int = LABEL_CHARS) -> str:
    """A partition's groups as a label that fits: names when short, else group sizes ('20 | 20 nodes')."""
    if len(groups) <= limit:
        return groups
    sizes = [len([n for n in g.split(",") if n.strip()]) for g in groups.split(" | ")]
    return " | ".join(str(s) for s in sizes) + " nodes"


def network_intervals(events: pd.DataFrame, end_ms: float) -> pd.DataFrame:
    """Partitions, cuts and link changes as (kind, label, start_ms, end_ms), matched to their ends."""
    rows: list[tuple[str, str, float, float]] = []
    open_: list[tuple[str, str, float, Any]] = []
    for _, row in _kind(events, "partition", "cut", "heal", "set_link", "restore_link").iterrows():
        handle = row.get("handle")
        handle = None if _missing(handle) else handle
        now = float(row["time_ms"])
        if row["kind"] == "partition":
            open_.append(("partition", short_groups(str(row.get("groups", ""))), now, ("partition", handle)))
        elif row["kind"] == "cut":
            label = f"{row.get('src', '')} -> {row.get('dst', '')}"
            label = label if len(label) <= LABEL_CHARS else f"cut {row.get('pairs', '')} links".replace("  ", " ")
            open_.append(("cut", label, now, ("cut", handle)))
        elif row["kind"] == "set_link":
            open_.append(("link", "links changed", now, ("link", None)))
        elif row["kind"] == "restore_link":
            closing = [o for o in open_ if o[3] == ("link", None)][:1]
            for item in closing:
                rows.append((item[0], item[1], item[2], now))
                open_.remove(item)
        else:
            heal_kind = row.get("healed") if isinstance(row.get("healed"), str) else None
            if handle is None and heal_kind is None:  # a heal-all closes every partition and cut
                closing = [o for o in open_ if o[0] != "link"]
            else:
                closing = [o for o in open_ if o[3] == (heal_kind or "partition", handle)][:1]
            for item in closing:
                rows.append((item[0], item[1], item[2], now))
                open_.remove(item)
    rows.extend((kind, label, start, end_ms) for kind, label, start, _ in open_)
    return pd.DataFrame(rows, columns=["kind", "label", "start_ms", "end_ms"])


def fault_periods(events: pd.DataFrame, end_ms: float) -> pd.DataFrame:
    """Every fault period of a run as (kind, label, start_ms, end_ms), sorted by start.

    Kinds: crash (one row per crashed node), partition, cut, link (a changed link) and
    byzantine (a window that starts after time 0 or ends before the end; always-byzantine nodes
    are no period in time and are shown by the figures that draw nodes).
    """
    rows = [("crash", f"{r.node} down", r.start_ms, r.end_ms) for r in down_intervals(events, end_ms).itertuples()]
    rows += list(network_intervals(events, end_ms).itertuples(index=False, name=None))
    byz = byzantine_intervals(events, end_ms)
    windowed = byz[(byz["start_ms"] > 0) | (byz["end_ms"] < end_ms)]
    rows += [("byzantine", f"{r.node} {r.behaviour}", r.start_ms, r.end_ms) for r in windowed.itertuples()]
    frame = pd.DataFrame(rows, columns=["kind", "label", "start_ms", "end_ms"])
    return frame.sort_values(["start_ms", "kind"], kind="stable").reset_index(drop=True)


def shade_faults(axes: list[Axes], periods: pd.DataFrame, scale: float = 1000.0, label_on: Axes | None = None) -> list[Patch]:
    """Shade fault periods on each axis (x in ms / `scale`); returns legend handles, one per kind.

    With `label_on`, long enough periods get their label at the top of that axis, stacked in
    rows so that labels of overlapping periods never print over each other.
    """
    handles: list[Patch] = []
    if periods.empty:
        return handles
    for ax in axes:
        for row in periods.itertuples():
            style = FAULT_STYLE[row.kind]
            ax.axvspan(row.start_ms / scale, row.end_ms / scale, facecolor=style["facecolor"], alpha=style["alpha"], linewidth=0, zorder=0)
    for kind in FAULT_STYLE:
        if (periods["kind"] == kind).any():
            style = FAULT_STYLE[kind]
            handles.append(Patch(facecolor=style["facecolor"], alpha=min(1.0, style["alpha"] * 2), label=kind))
    if label_on is not None:
        _label_periods(label_on, periods, scale)
    return handles


def _label_periods(ax: Axes, periods: pd.DataFrame, scale: float) -> None:
    lo, hi = ax.get_xlim()
    span = max(hi - lo, 1e-9)
    fig_width_chars = ax.figure.get_figwidth() * ax.get_position().width * 72 / 5.0  # ~5 pt per 7-pt character
    row_ends: list[float] = []
    for row in periods.itertuples():
        start, end = row.start_ms / scale, row.end_ms / scale
        text = str(row.label)
        width = len(text) / fig_width_chars * span
        if end - start < width * 0.5 and end - start < span / 30:
            continue  # too short to label; the legend names the kind
        centre = min(max((start + end) / 2, lo + width / 2), hi - width / 2)
        left = centre - width / 2
        level = next((i for i, e in enumerate(row_ends) if e <= left), len(row_ends))
        if level == len(row_ends):
            row_ends.append(0.0)
        if level > 2:
            continue
        row_ends[level] = centre + width / 2
        ax.text(centre, 0.98 - 0.09 * level, text, transform=ax.get_xaxis_transform(), ha="center", va="top", fontsize=7,
                color="#6e2c00", clip_on=True)  # fmt: skip


def mark_violations(axes: list[Axes], violations: pd.DataFrame, scale: float = 1000.0) -> list[Any]:
    """Mark safety violations: a red line at the first, a red tick at the top for each; returns legend handles.

    A line per violation would bury the figure when a broken protocol violates safety a hundred times.
    """
    if violations is None or violations.empty:
        return []
    times = np.sort(violations["time_ms"].to_numpy(dtype=float)) / scale
    for ax in axes:
        ax.axvline(times[0], color=VIOLATION_COLOUR, linewidth=1.5, zorder=5)
        ax.plot(times, np.full(times.size, 1.0), transform=ax.get_xaxis_transform(), linestyle="", marker="v", markersize=6,
                color=VIOLATION_COLOUR, clip_on=False, zorder=6)  # fmt: skip
    rules = ", ".join(sorted(set(violations["rule"].astype(str))))
    return [
        plt.Line2D([], [], color=VIOLATION_COLOUR, linewidth=1.5, label="first safety violation"),
        plt.Line2D([], [], color=VIOLATION_COLOUR, linestyle="", marker="v", label=f"safety violations: {len(violations)} ({rules})"),
    ]


def save_figure(fig: Figure, path: Path) -> Path:
    """Write a PNG with reproducible bytes and close the figure."""
    fig.savefig(path, dpi=100, metadata=PNG_METADATA)
    plt.close(fig)
    return path

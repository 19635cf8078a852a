"""The figures every mechanism gets: latency, throughput and faults over time, message load, timeline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from sim.metrics import Window
from sim.plots.common import (
    VIOLATION_COLOUR,
    byzantine_intervals,
    down_intervals,
    empty_note,
    failed_candidacies,
    fault_periods,
    leader_intervals,
    mark_violations,
    natural_key,
    network_intervals,
    shade_faults,
)
from sim.records import percentiles

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MIN_CDF_POINTS = 5
"""A CDF of fewer completed commands says nothing; the performance figure shows them one by one."""
TIMELINE_ROWS = 24
BAR_NODES = 40
"""Up to this many nodes the message load is a bar per node; beyond, a sorted curve."""


def _log_if_wide(ax: Any, values: np.ndarray, axis: str = "x") -> None:
    positive = values[values > 0]
    if positive.size and positive.max() > 20 * positive.min():
        # Long tails (timeouts, failover) would squash the body on a linear axis.
        getattr(ax, f"set_{axis}scale")("log")
        target = getattr(ax, f"{axis}axis")
        # Plain numbers at 1-2-5 steps (10, 20, 50, 100 ms) over a few decades, powers of ten
        # beyond; no minor labels: over under two decades matplotlib labels the minor ticks too
        # ("2×10¹3×10¹4×10¹...") and they run into each other.
        decades = np.log10(positive.max() / positive.min())
        target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades <= 3 else (1.0,)))
        target.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        target.set_minor_formatter(NullFormatter())


def latency_cdf(
    requests: pd.DataFrame,
    title: str = "Client latency",
    window: tuple[float, float] | None = None,
) -> Figure:
    """Empirical CDF of client-observed latency, with the median and p99 marked.

    Args:
        requests: the run's requests table.
        title: the figure's title.
        window: the summary's measurement window `(measure_from_ms, measure_until_ms)`: only the
            commands submitted in [start, end) are drawn, the ones the summary's `latency_ms_p50`
            and `latency_ms_p99` are computed from, so the figure prints the summary's numbers.
            None: every completed command (the subtitle says so).

    """
    fig, ax = plt.subplots(figsize=(6, 4))
    done = requests[requests["done_ms"].notna()]
    if window is not None:
        start, end = window
        done = done[Window(start, end, "").contains(done["submit_ms"])]
        scope = f"commands submitted in [{start:g}, {end:g}) ms, the summary's window"
    else:
        scope = "every completed command"
    lat = np.sort(done["latency_ms"].dropna().to_numpy(dtype=float))
    if lat.size:
        ax.step(lat, np.arange(1, lat.size + 1) / lat.size, where="post", label=f"{lat.size} completed commands")
        # The summary's own function and rounding: the legend shows the summary's numbers.
        marks = percentiles(lat, "latency_ms", (50, 99))
        for q, style in ((50, "--"), (99, ":")):
            value = float(marks[f"latency_ms_p{q}"])
            ax.axvline(value, color="grey", linestyle=style, linewidth=1, label=f"p{q} = {value:.3f} ms")
        if lat[0] > 0:
            _log_if_wide(ax, lat)
        ax.legend(loc="lower right")
    else:
        empty_note(ax, "no completed commands")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("fraction of completed commands")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{title}\n{scope}", fontsize=10)
    ax.grid(alpha=0.3)
    fig.set_layout_engine("tight")  # laid out when drawn: building a figure stays cheap
    return fig


def messages_by_type(messages: pd.DataFrame, title: str = "Messages by type") -> Figure:
    """Sent, delivered and dropped messages per message type."""
    fig, ax = plt.subplots(figsize=(6, 4))
    by_type = messages.groupby("type")[["sent", "delivered", "dropped"]].sum().sort_values("sent")
    if by_type.empty:
        empty_note(ax, "no messages")
    else:
        fig.set_size_inches(6, max(3.0, 1.2 + 0.45 * len(by_type)))
        by_type.plot.barh(ax=ax, color=["#4c72b0", "#55a868", "#c44e52"], width=0.8)
        if by_type["sent"].max() > 50 * max(by_type["sent"].min(), 1):
            ax.set_xscale("log")  # client requests beside thousands of protocol messages
        ax.legend(title="", loc="lower right")
    ax.set_xlabel("messages (count)")
    ax.set_ylabel("message type")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    fig.set_layout_engine("tight")  # laid out when drawn: building a figure stays cheap
    return fig


def commit_rate(decisions: pd.DataFrame, duration_ms: float, bins: int = 60) -> tuple[np.ndarray, np.ndarray, float]:
    """Commits per second over time: (bin starts in s, rate per s, bin width in ms).

    A slot counts once, when the first node decided it.
    """
    width = max(duration_ms / bins, 1.0)
    edges = np.arange(0.0, duration_ms + width, width)
    if decisions.empty:
        return edges[:-1] / 1000.0, np.zeros(len(edges) - 1), width
    first = decisions.groupby("slot", sort=False)["time_ms"].min().to_numpy(dtype=float)
    counts, _ = np.histogram(first, bins=edges)
    return edges[:-1] / 1000.0, counts / (width / 1000.0), width


def _rate(times_ms: np.ndarray, duration_ms: float, bins: int) -> tuple[np.ndarray, np.ndarray, float]:
    width = max(duration_ms / bins, 1.0)
    edges = np.arange(0.0, duration_ms + width, width)
    counts, _ = np.histogram(times_ms, bins=edges)
    return edges[:-1] / 1000.0, counts / (width / 1000.0), width


def _always_byzantine(events: pd.DataFrame, duration_ms: float) -> str:
    byz = byzantine_intervals(events, duration_ms)
    always = byz[(byz["start_ms"] <= 0) & (byz["end_ms"] >= duration_ms)]
    if always.empty:
        return ""
    names = sorted(always["node"], key=natural_key)
    shown = ", ".join(names[:6]) + (f" +{len(names) - 6}" if len(names) > 6 else "")
    return f"byzantine throughout: {shown} ({', '.join(sorted(set(always['behaviour'])))})"


def performance(
    requests: pd.DataFrame,
    decisions: pd.DataFrame,
    events: pd.DataFrame,
    violations: pd.DataFrame,
    duration_ms: float,
    title: str = "Latency and throughput over time",
    bins: int = 60,
) -> Figure:
    """Latency of each command against its submit time and throughput per second, faults shaded.

    The top panel has one dot per completed command, the median and p99 per time bin, and a
    cross at the top for each command that never completed; the bottom panel counts commands
    completed per second (decided slots when the run has no client commands). Crashes,
    partitions, cuts, link changes and byzantine windows are shaded; safety violations are red
    lines where they were found.
    """
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True, gridspec_kw={"height_ratios": [2.2, 1.2]})
    end_s = duration_ms / 1000.0
    done = requests[requests["done_ms"].notna()]
    lost = requests[requests["done_ms"].isna()]
    handles: list[Any] = []
    if len(done):
        x = done["submit_ms"].to_numpy(dtype=float) / 1000.0
        y = done["latency_ms"].to_numpy(dtype=float)
        top.scatter(x, y, s=6, color="#4c72b0", alpha=0.35, linewidths=0, label=f"command ({len(done)} completed)")
        edges = np.linspace(0.0, end_s, bins + 1)
        which = np.clip(np.digitize(x, edges) - 1, 0, bins - 1)
        centres, p50, p99 = [], [], []
        for b in range(bins):
            mine = y[which == b]
            if mine.size >= 3:
                centres.append((edges[b] + edges[b + 1]) / 2)
                p50.append(np.percentile(mine, 50))
                p99.append(np.percentile(mine, 99))
        if centres:
            top.plot(centres, p50, color="#1b4f72", linewidth=1.5, label="p50 per bin")
            top.plot(centres, p99, color="#e67e22", linewidth=1.2, label="p99 per bin")
        _log_if_wide(top, y, "y")
        handles += top.get_legend_handles_labels()[0]
    if len(lost):
        ceiling = float(done["latency_ms"].max()) if len(done) else 1.0
        top.scatter(lost["submit_ms"].to_numpy(dtype=float) / 1000.0, np.full(len(lost), ceiling), marker="x", s=18,
                    color="#7f8c8d", label=f"never completed ({len(lost)})")  # fmt: skip
        handles = top.get_legend_handles_labels()[0]
    if not len(requests):
        empty_note(top, "no client commands in this run")
    if len(requests):
        starts, rate, width = _rate(done["done_ms"].to_numpy(dtype=float), duration_ms, bins)
        label = "commands completed"
    else:
        starts, rate, width = commit_rate(decisions, duration_ms, bins)
        label = "slots decided"
    # One stepped patch, not a bar per bin: as readable, and far cheaper to draw.
    bottom.stairs(rate, np.append(starts, starts[-1] + width / 1000.0), fill=True, color="#55a868", label=label)
    periods = fault_periods(events, duration_ms)
    top.set_xlim(0, end_s)
    handles += shade_faults([top, bottom], periods, label_on=top)
    handles += mark_violations([top, bottom], violations)
    note = _always_byzantine(events, duration_ms)
    top.set_ylabel("latency (ms)")
    top.set_title(title + (f"\n{note}" if note else ""), fontsize=10)
    top.grid(alpha=0.3)
    if handles:
        top.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    bottom.set_ylabel("per second")
    bottom.set_xlabel("simulated time (s)")
    bottom.set_ylim(bottom=0)
    bottom.grid(alpha=0.3)
    bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.set_layout_engine("tight")  # laid out when drawn: building a figure stays cheap
    return fig


def message_load(messages: pd.DataFrame, nodes: list[str], title: str = "Message load per node") -> Figure:
    """Messages each node sent and received (clients left out): the leader's hotspot stands out.

    Up to 40 nodes a pair of bars per node; beyond, every node's load sorted from the busiest,
    so that the spread shows without a forest of bars.
    """
    fig, ax = plt.subplots(figsize=(8, 4))
    known = set(nodes)
    sent = messages[messages["src"].isin(known)].groupby("src")["sent"].sum().reindex(nodes, fill_value=0)
    pairs = not (messages["dst"] == "*").any()
    received = messages[messages["dst"].isin(known)].groupby("dst")["delivered"].sum().reindex(nodes, fill_value=0)
    if int(sent.sum()) == 0 and int(received.sum()) == 0:
        empty_note(ax, "no messages between nodes")
    elif len(nodes) <= BAR_NODES:
        order = sorted(nodes, key=natural_key)
        pos = np.arange(len(order))
        width = 0.4 if pairs else 0.8
        ax.bar(pos - (width / 2 if pairs else 0), sent[order].to_numpy(), width=width, color="#4c72b0", label="sent")
        if pairs:
            ax.bar(pos + width / 2, received[order].to_numpy(), width=width, color="#55a868", label="received")
        ax.set_xticks(pos, order, rotation=90 if len(order) > 12 else 0, fontsize=8 if len(order) > 12 else 10)
        ax.set_xlabel("node")
        # Beside the axes, as the other figures' legends: inside, it covered the last bars' tops.
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        rank = np.arange(1, len(nodes) + 1)
        ax.plot(rank, np.sort(sent.to_numpy())[::-1], color="#4c72b0", label="sent")
        if pairs:
            ax.plot(rank, np.sort(received.to_numpy())[::-1], color="#55a868", linestyle="--", label="received")
        mean = float(sent.mean())
        ax.axhline(mean, color="grey", linestyle="--", linewidth=1, label=f"mean sent = {mean:,.1f}")
        ax.set_xlabel("nodes, busiest first (rank)")
        ax.legend(fontsize=8)
    ax.set_ylabel("messages (count)")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    fig.set_layout_engine("tight")  # laid out when drawn: building a figure stays cheap
    return fig


def has_timeline(events: pd.DataFrame) -> bool:
    """Whether a run has a story for the timeline: a change of leader, an election, a crash or a byzantine node.

    One leader from start to end with nothing else happening is no story: the bar would fill the figure.
    """
    if events.empty or "kind" not in events:
        return False
    if int((events["kind"] == "leader").sum()) > 1:
        return True
    return bool(events["kind"].isin(["election_start", "phase1", "crash", "byzantine"]).any())


def timeline(
    events: pd.DataFrame,
    decisions: pd.DataFrame,
    nodes: list[str],
    duration_ms: float,
    title: str = "Timeline",
    violations: pd.DataFrame | None = None,
) -> Figure:
    """Who leads in which term (and who still believes it leads), failed candidacies, faults, commits per second."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1.4]})
    end_s = duration_ms / 1000.0
    leads = leader_intervals(events, duration_ms)
    downs = down_intervals(events, duration_ms)
    byz = byzantine_intervals(events, duration_ms)
    lost = failed_candidacies(events)
    # One row per node when that stays readable; otherwise only the nodes something happened to.
    shown = sorted(nodes, key=natural_key)
    if len(shown) > TIMELINE_ROWS:
        involved = set(leads["node"]) | set(downs["node"]) | set(byz["node"]) | set(lost["node"])
        shown = sorted(involved, key=natural_key)[:TIMELINE_ROWS]
    row_of = {name: i for i, name in enumerate(shown)}
    top.set_xlim(0, end_s)
    nets = network_intervals(events, duration_ms)
    handles: list[Any] = shade_faults([top, bottom], nets, label_on=top)
    for _, down in downs.iterrows():
        if down["node"] in row_of:
            y = row_of[down["node"]]
            span = (down["end_ms"] - down["start_ms"]) / 1000.0
            top.broken_barh([(down["start_ms"] / 1000.0, span)], (y - 0.4, 0.8), facecolor="#d5d8dc", edgecolor="#7f8c8d", hatch="//")
    if not downs.empty:
        handles.append(Patch(facecolor="#d5d8dc", edgecolor="#7f8c8d", hatch="//", label="crashed"))
    for _, bad in byz.iterrows():
        if bad["node"] in row_of:
            y = row_of[bad["node"]]
            span = (bad["end_ms"] - bad["start_ms"]) / 1000.0
            top.broken_barh([(bad["start_ms"] / 1000.0, span)], (y - 0.45, 0.9), facecolor="none", edgecolor="#c0392b", hatch="xx")
    if not byz.empty:
        behaviours = ", ".join(sorted(set(byz["behaviour"])))
        handles.append(Patch(facecolor="none", edgecolor="#c0392b", hatch="xx", label=f"byzantine ({behaviours})"))
    # 7-pt characters are ~4.5 pt wide; the axes take ~80% of the figure's width.
    chars_per_s = fig.get_figwidth() * 0.8 * 72 / 4.5 / max(end_s, 1e-9)
    if not leads.empty:
        cmap = plt.get_cmap("tab10")
        term_codes = {t: i for i, t in enumerate(sorted(leads["term"].unique()))}
        for _, lead in leads.iterrows():
            if lead["node"] not in row_of:
                continue
            y = row_of[lead["node"]]
            colour = cmap(term_codes[lead["term"]] % 10)
            start = lead["start_ms"] / 1000.0
            fresh_end = lead["end_ms"] if np.isnan(lead["stale_ms"]) else lead["stale_ms"]
            span = (fresh_end - lead["start_ms"]) / 1000.0
            top.broken_barh([(start, span)], (y - 0.3, 0.6), facecolor=colour)
            if not np.isnan(lead["stale_ms"]):
                stale_span = (lead["end_ms"] - lead["stale_ms"]) / 1000.0
                top.broken_barh([(lead["stale_ms"] / 1000.0, stale_span)], (y - 0.3, 0.6), facecolor="white", edgecolor=colour, hatch="..")
            text = f"term {lead['term']}"
            if span * chars_per_s >= len(text) + 2:  # only where the bar holds the whole label
                top.text(start + span / 2, y, text, ha="center", va="center", fontsize=7, color="white", clip_on=True)
        handles.append(Patch(color=cmap(0), label="leader (colour = term)"))
        if leads["stale_ms"].notna().any():
            handles.append(Patch(facecolor="white", edgecolor="grey", hatch="..", label="stale leader (a newer term exists)"))
    if not lost.empty:
        mine = lost[lost["node"].isin(row_of)]
        top.scatter(mine["time_ms"] / 1000.0, [row_of[n] for n in mine["node"]], marker="x", s=22, color="#7b241c", zorder=4)
        handles.append(plt.Line2D([], [], marker="x", linestyle="", color="#7b241c", label=f"failed candidacy ({len(lost)})"))
    if leads.empty and downs.empty and byz.empty and lost.empty:
        empty_note(top, "no leader, election, crash or byzantine events")
    handles += mark_violations([top, bottom], violations if violations is not None else pd.DataFrame())
    top.set_yticks(range(len(shown)), shown, fontsize=8 if len(shown) > 12 else 10)
    top.set_ylim(-0.7, max(len(shown), 1) - 0.3)
    top.invert_yaxis()
    top.set_ylabel("node")
    top.set_title(title)
    if handles:
        top.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    starts, rate, width = commit_rate(decisions, duration_ms)
    bottom.stairs(rate, np.append(starts, starts[-1] + width / 1000.0), fill=True, color="#4c72b0", label="committed slots")
    bottom.set_ylabel("commits / s")
    bottom.set_xlabel("simulated time (s)")
    bottom.set_ylim(bottom=0)
    bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    bottom.grid(alpha=0.3)
    fig.set_layout_engine("tight")  # laid out when drawn: building a figure stays cheap
    return fig


__all__ = [
    "MIN_CDF_POINTS",
    "VIOLATION_COLOUR",
    "commit_rate",
    "has_timeline",
    "latency_cdf",
    "message_load",
    "messages_by_type",
    "performance",
    "timeline",
]

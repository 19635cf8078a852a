"""Plots: pure functions from DataFrames to matplotlib Figures, and saving a run's plots.

Every figure has a title, axis labels with units and a legend where there is more than one
series. PNGs are written without a timestamp or software version so the bytes are reproducible.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

# No matplotlib.use() here: a notebook keeps its inline backend, a headless script falls back to
# Agg by itself, and the CLI selects Agg before anything draws (sim/cli.py).
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from sim.results import RunResult

SPACETIME_MAX_NODES = 8
SPACETIME_MESSAGES = 60
PNG_METADATA = {"Software": None}
"""Matplotlib writes its version as 'Software'; leaving it out keeps PNG bytes stable across versions."""


def natural_key(name: str) -> tuple[Any, ...]:
    """Sort key that puts n2 before n10."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(name)))


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")


def latency_cdf(requests: pd.DataFrame, title: str = "Client latency") -> Figure:
    """Empirical CDF of client-observed latency, with the median and p99 marked."""
    fig, ax = plt.subplots(figsize=(6, 4))
    lat = np.sort(requests["latency_ms"].dropna().to_numpy(dtype=float))
    if lat.size:
        ax.step(lat, np.arange(1, lat.size + 1) / lat.size, where="post", label=f"{lat.size} completed commands")
        for q, style in ((50, "--"), (99, ":")):
            value = float(np.percentile(lat, q))
            ax.axvline(value, color="grey", linestyle=style, linewidth=1, label=f"p{q} = {value:.1f} ms")
        if lat[-1] > 20 * max(lat[0], 1e-9) and lat[0] > 0:
            ax.set_xscale("log")  # long tails (timeouts, failover) would squash the body otherwise
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.legend(loc="lower right")
    else:
        _empty(ax, "no completed commands")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("fraction of completed commands")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def messages_by_type(messages: pd.DataFrame, title: str = "Messages by type") -> Figure:
    """Sent, delivered and dropped messages per message type."""
    fig, ax = plt.subplots(figsize=(6, 4))
    by_type = messages.groupby("type")[["sent", "delivered", "dropped"]].sum().sort_values("sent")
    if by_type.empty:
        _empty(ax, "no messages")
    else:
        fig.set_size_inches(6, max(3.0, 1.2 + 0.45 * len(by_type)))
        by_type.plot.barh(ax=ax, color=["#4c72b0", "#55a868", "#c44e52"], width=0.8)
        ax.legend(title="", loc="lower right")
    ax.set_xlabel("messages (count)")
    ax.set_ylabel("message type")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


# --- timeline ------------------------------------------------------------------------------


def leader_intervals(events: pd.DataFrame, end_ms: float) -> pd.DataFrame:
    """Who leads when: one row per leadership (node, term, start_ms, end_ms).

    A leadership starts at a `leader` event and ends at the first of: the same node's crash or
    `step_down` event, a `leader` event with a higher term from any node, or the end of the run.
    """
    columns = ["node", "term", "start_ms", "end_ms"]
    if events.empty or "kind" not in events or not (events["kind"] == "leader").any():
        return pd.DataFrame(columns=columns)
    leaders = events[events["kind"] == "leader"]
    terms = leaders["term"] if "term" in leaders else pd.Series(np.arange(len(leaders)), index=leaders.index)
    stops = events[events["kind"].isin(["crash", "step_down"])]
    rows = []
    for (_, row), term in zip(leaders.iterrows(), terms, strict=True):
        start = float(row["time_ms"])
        end = end_ms
        later = leaders[(leaders["time_ms"] >= start) & (terms > term)]
        if not later.empty:
            end = min(end, float(later["time_ms"].min()))
        own = stops[(stops["node"] == row["node"]) & (stops["time_ms"] >= start)]
        if not own.empty:
            end = min(end, float(own["time_ms"].min()))
        if isinstance(term, float) and term.is_integer():
            term = int(term)  # other event kinds leave NaN in the column, which makes it float
        rows.append((row["node"], term, start, end))
    return pd.DataFrame(rows, columns=columns)


def down_intervals(events: pd.DataFrame, end_ms: float) -> pd.DataFrame:
    """Crash-to-recovery intervals per node: (node, start_ms, end_ms)."""
    rows = []
    if not events.empty and "kind" in events:
        for node, group in events[events["kind"].isin(["crash", "recover"])].groupby("node", sort=True):
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
    if not events.empty and "kind" in events:
        for _, row in events[events["kind"] == "byzantine"].iterrows():
            start = row.get("from_ms", 0.0)
            stop = row.get("until_ms", end_ms)
            start = 0.0 if pd.isna(start) else float(start)
            stop = end_ms if pd.isna(stop) else min(float(stop), end_ms)
            rows.append((row["node"], str(row.get("behaviour", "")), start, stop))
    return pd.DataFrame(rows, columns=["node", "behaviour", "start_ms", "end_ms"])


def network_intervals(events: pd.DataFrame, end_ms: float) -> pd.DataFrame:
    """Partitions and cuts as (kind, label, start_ms, end_ms), matched to their heal events."""
    rows: list[tuple[str, str, float, float]] = []
    if events.empty or "kind" not in events:
        return pd.DataFrame(rows, columns=["kind", "label", "start_ms", "end_ms"])
    open_: list[tuple[str, str, float, Any]] = []
    for _, row in events[events["kind"].isin(["partition", "cut", "heal"])].iterrows():
        handle = row.get("handle")
        handle = None if handle is None or (isinstance(handle, float) and np.isnan(handle)) else handle
        now = float(row["time_ms"])
        if row["kind"] == "partition":
            open_.append(("partition", str(row.get("groups", "")), now, ("partition", handle)))
        elif row["kind"] == "cut":
            label = f"{row.get('src', '')} -> {row.get('dst', '')}"
            open_.append(("cut", label, now, ("cut", handle)))
        else:
            heal_kind = row.get("healed") if isinstance(row.get("healed"), str) else None
            if handle is None and heal_kind is None:  # a heal-all closes everything
                closing = list(open_)
            else:
                closing = [o for o in open_ if o[3] == (heal_kind or "partition", handle)][:1]
            for item in closing:
                rows.append((item[0], item[1], item[2], now))
                open_.remove(item)
    rows.extend((kind, label, start, end_ms) for kind, label, start, _ in open_)
    return pd.DataFrame(rows, columns=["kind", "label", "start_ms", "end_ms"])


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


def timeline(events: pd.DataFrame, decisions: pd.DataFrame, nodes: list[str], duration_ms: float, title: str = "Timeline") -> Figure:
    """Who leads in which term, crashes and partitions shaded, and commits per second."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1.4]})
    end_s = duration_ms / 1000.0
    leads = leader_intervals(events, duration_ms)
    downs = down_intervals(events, duration_ms)
    nets = network_intervals(events, duration_ms)
    # One row per node when that stays readable; otherwise only the nodes something happened to.
    shown = sorted(nodes, key=natural_key)
    if len(shown) > 24:
        involved = set(leads["node"]) | set(downs["node"]) | set(byzantine_intervals(events, duration_ms)["node"])
        shown = sorted(involved, key=natural_key)[:24]
    row_of = {name: i for i, name in enumerate(shown)}
    handles: list[Any] = []
    for ax in (top, bottom):
        for _, net in nets.iterrows():
            color = "#f0b27a" if net["kind"] == "partition" else "#bb8fce"
            ax.axvspan(net["start_ms"] / 1000.0, net["end_ms"] / 1000.0, color=color, alpha=0.25, linewidth=0)
    for _, net in nets.iterrows():
        if net["label"] and (net["end_ms"] - net["start_ms"]) > duration_ms / 30:
            top.text((net["start_ms"] + net["end_ms"]) / 2000.0, 0.99, net["label"], transform=top.get_xaxis_transform(),
                     ha="center", va="top", fontsize=7, color="#6e2c00")  # fmt: skip
    if not nets.empty:
        for kind, color in (("partition", "#f0b27a"), ("cut", "#bb8fce")):
            if (nets["kind"] == kind).any():
                handles.append(Patch(color=color, alpha=0.4, label=kind))
    for _, down in downs.iterrows():
        if down["node"] in row_of:
            y = row_of[down["node"]]
            top.broken_barh(
                [(down["start_ms"] / 1000.0, (down["end_ms"] - down["start_ms"]) / 1000.0)],
                (y - 0.4, 0.8),
                facecolor="#d5d8dc",
                edgecolor="#7f8c8d",
                hatch="//",
            )
    if not downs.empty:
        handles.append(Patch(facecolor="#d5d8dc", edgecolor="#7f8c8d", hatch="//", label="crashed"))
    byz = byzantine_intervals(events, duration_ms)
    for _, bad in byz.iterrows():
        if bad["node"] in row_of:
            y = row_of[bad["node"]]
            span = (bad["end_ms"] - bad["start_ms"]) / 1000.0
            top.broken_barh([(bad["start_ms"] / 1000.0, span)], (y - 0.45, 0.9), facecolor="none", edgecolor="#c0392b", hatch="xx")
    if not byz.empty:
        behaviours = ", ".join(sorted(set(byz["behaviour"])))
        handles.append(Patch(facecolor="none", edgecolor="#c0392b", hatch="xx", label=f"byzantine ({behaviours})"))
    if not leads.empty:
        cmap = plt.get_cmap("tab10")
        term_codes = {t: i for i, t in enumerate(sorted(leads["term"].unique()))}
        for _, lead in leads.iterrows():
            if lead["node"] not in row_of:
                continue
            y = row_of[lead["node"]]
            start, span = lead["start_ms"] / 1000.0, (lead["end_ms"] - lead["start_ms"]) / 1000.0
            top.broken_barh([(start, span)], (y - 0.3, 0.6), facecolor=cmap(term_codes[lead["term"]] % 10))
            if span > end_s / 40:
                top.text(start + span / 2, y, f"term {lead['term']}", ha="center", va="center", fontsize=7, color="white")
        handles.append(Patch(color=cmap(0), label="leader (colour = term)"))
    elif downs.empty and byzantine_intervals(events, duration_ms).empty:
        _empty(top, "no leader, crash, recovery or byzantine events")
    top.set_yticks(range(len(shown)), shown)
    top.set_ylim(-0.7, max(len(shown), 1) - 0.3)
    top.invert_yaxis()
    top.set_ylabel("node")
    top.set_title(title)
    if handles:
        top.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    starts, rate, width = commit_rate(decisions, duration_ms)
    bottom.bar(starts, rate, width=width / 1000.0, align="edge", color="#4c72b0", label="committed slots")
    bottom.set_ylabel("commits / s")
    bottom.set_xlabel("simulated time (s)")
    bottom.set_xlim(0, end_s)
    bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# --- space-time diagram --------------------------------------------------------------------


def spacetime(trace: pd.DataFrame, nodes: list[str], limit: int = SPACETIME_MESSAGES, title: str = "Space-time diagram") -> Figure:
    """A Lamport diagram of the first `limit` messages between nodes (clients left out).

    Time runs left to right, one horizontal line per node; an arrow goes from (send time,
    sender) to (delivery time, receiver); a dropped message ends in a cross.
    """
    fig, ax = plt.subplots(figsize=(9, 0.6 * max(len(nodes), 2) + 1.6))
    lanes = {name: i for i, name in enumerate(sorted(nodes, key=natural_key))}
    msgs = trace[trace["src"].isin(lanes) & trace["dst"].isin(lanes)].sort_values(["send_ms", "src", "dst"], kind="stable").head(limit)
    for y in lanes.values():
        ax.axhline(y, color="#bdc3c7", linewidth=1, zorder=0)
    if msgs.empty:
        _empty(ax, "no messages between nodes in the trace")
    else:
        kinds = sorted(msgs["type"].unique())
        cmap = plt.get_cmap("tab10")
        colour = {kind: cmap(i % 10) for i, kind in enumerate(kinds)}
        span = float(np.nanmax(msgs[["send_ms", "deliver_ms"]].to_numpy(dtype=float)) - msgs["send_ms"].min()) or 1.0
        for _, m in msgs.iterrows():
            y0, y1 = lanes[m["src"]], lanes[m["dst"]]
            x0 = float(m["send_ms"])
            if m["fate"] == "delivered":
                ax.annotate(
                    "",
                    xy=(float(m["deliver_ms"]), y1),
                    xytext=(x0, y0),
                    arrowprops={"arrowstyle": "->", "color": colour[m["type"]], "linewidth": 1},
                )
            else:
                x1 = x0 + span * 0.02
                y_end = y0 + (y1 - y0) * 0.3
                ax.plot([x0, x1], [y0, y_end], linestyle="--", color=colour[m["type"]], linewidth=1)
                ax.plot([x1], [y_end], marker="x", color=colour[m["type"]])
        handles = [plt.Line2D([], [], color=colour[k], label=k) for k in kinds]
        handles.append(plt.Line2D([], [], color="grey", linestyle="--", marker="x", label="dropped"))
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="message type")
        ax.set_xlim(float(msgs["send_ms"].min()) - span * 0.02, float(msgs["send_ms"].min()) + span * 1.02)
    ax.set_yticks(list(lanes.values()), list(lanes))
    ax.set_ylim(-0.5, len(lanes) - 0.5)
    ax.invert_yaxis()
    ax.set_xlabel("simulated time (ms)")
    ax.set_ylabel("node")
    ax.set_title(f"{title} (first {len(msgs)} messages between nodes)")
    fig.tight_layout()
    return fig


# --- a run's plots -------------------------------------------------------------------------


def node_names(scenario: dict[str, Any]) -> list[str]:
    """Node names from a resolved scenario dict ('n0'.. when only a count was given)."""
    nodes = scenario.get("nodes", 0)
    if isinstance(nodes, int):
        return [f"n{i}" for i in range(nodes)]
    return [spec["name"] for spec in nodes]


def run_figures(result: RunResult) -> dict[str, Figure]:
    """Every plot of a run by file stem; the space-time diagram only with a trace and <= 8 nodes."""
    name = result.summary.get("name", result.scenario.get("name", ""))
    nodes = node_names(result.scenario)
    duration = float(result.summary.get("duration_ms") or 0.0) or 1.0
    figures = {
        "latency_cdf": latency_cdf(result.requests, f"Client latency — {name}"),
        "messages_by_type": messages_by_type(result.messages, f"Messages by type — {name}"),
        "timeline": timeline(result.events, result.decisions, nodes, duration, f"Timeline — {name}"),
    }
    if result.trace is not None and len(nodes) <= SPACETIME_MAX_NODES:
        figures["spacetime"] = spacetime(result.trace, nodes, title=f"Space-time — {name}")
    return figures


def save_figure(fig: Figure, path: Path) -> Path:
    """Write a PNG with reproducible bytes and close the figure."""
    fig.savefig(path, dpi=100, metadata=PNG_METADATA)
    plt.close(fig)
    return path


def save_run_plots(result: RunResult, folder: Path) -> list[Path]:
    """Write every plot of a run as PNG files into `folder`; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    return [save_figure(fig, folder / f"{stem}.png") for stem, fig in run_figures(result).items()]

"""The space-time (Lamport) diagram of a traced run, over a time window."""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from sim.plots.common import byzantine_intervals, empty_note, fault_periods, natural_key
from sim.units import parse_duration

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SPACETIME_MAX_NODES = 8
SPACETIME_MESSAGES = 60
CLIENT_LANES = 3
"""More clients than this share one lane ('clients'): a lane each would crowd out the nodes."""
LEAD_MS = 20.0
"""The default window opens this long before the first fault, to show the traffic it interrupts."""
BYZANTINE = "#c0392b"
CRASHED = MappingProxyType({"facecolor": "#d5d8dc", "edgecolor": "#7f8c8d", "hatch": "//"})
"""How a crashed stretch of a lane is drawn, and its legend entry."""
DROP_STUB = 0.3
"""How far toward its target a dropped message is drawn, in lanes (less than half: it stays off the lane separators)."""


def parse_window(text: str) -> tuple[float, float]:
    """'2.9s:3.3s' -> (2900.0, 3300.0) in ms; either end may be empty ('3s:' runs to the end).

    Raises:
        ValueError: when the text is not two durations around a colon, or the end is not after the start.

    """
    if text.count(":") != 1:
        raise ValueError(f"expected START:END such as 2.9s:3.3s, got {text!r}")
    left, right = (part.strip() for part in text.split(":"))
    start = float(parse_duration(left)) if left else 0.0
    end = float(parse_duration(right)) if right else float("inf")
    if end <= start:
        raise ValueError(f"the window must end after it starts, got {text!r}")
    return start, end


def default_window(events: pd.DataFrame, duration_ms: float) -> tuple[float, float]:
    """From just before the first fault (crash, partition, cut, link change, byzantine window) to the end."""
    starts = fault_periods(events, duration_ms)["start_ms"].to_numpy(dtype=float)
    if not starts.size:
        return 0.0, duration_ms
    return max(0.0, float(starts.min()) - LEAD_MS), duration_ms


def _lanes(nodes: list[str], trace: pd.DataFrame) -> tuple[dict[str, int], list[str]]:
    ordered = sorted(nodes, key=natural_key)
    lanes = {name: i for i, name in enumerate(ordered)}
    labels = list(ordered)
    known = set(nodes)
    clients = sorted((set(trace["src"]) | set(trace["dst"])) - known, key=natural_key)
    if len(clients) <= CLIENT_LANES:
        for name in clients:
            lanes[name] = len(labels)
            labels.append(name)
    elif clients:
        for name in clients:
            lanes[name] = len(labels)
        labels.append(f"clients ({len(clients)})")
    return lanes, labels


def spacetime(
    trace: pd.DataFrame,
    nodes: list[str],
    limit: int = SPACETIME_MESSAGES,
    title: str = "Space-time diagram",
    window: tuple[float, float] | None = None,
    events: pd.DataFrame | None = None,
) -> Figure:
    """A Lamport diagram of the first `limit` messages sent in `window` (ms), clients in lanes below the nodes.

    Time runs left to right, one horizontal line per node; an arrow goes from (send time,
    sender) to (delivery time, receiver); a dropped message ends in a cross. Messages a
    byzantine node sent while misbehaving are red and thick; crashed stretches of a lane are
    hatched. Without a window the diagram starts at the first message.
    """
    events = events if events is not None else pd.DataFrame(columns=["time_ms", "node", "kind"])
    lanes, labels = _lanes(nodes, trace)
    fig, ax = plt.subplots(figsize=(10, 0.55 * max(len(labels), 2) + 1.8))
    lo, hi = window if window is not None else (float("-inf"), float("inf"))
    inside = trace[trace["src"].isin(lanes) & trace["dst"].isin(lanes) & (trace["send_ms"] >= lo) & (trace["send_ms"] <= hi)]
    msgs = inside.sort_values(["send_ms", "src", "dst"], kind="stable").head(limit)
    client_row = len(nodes) - 0.5
    for y in range(len(labels)):
        ax.axhline(y, color="#bdc3c7", linewidth=1, zorder=0)
    if len(labels) > len(nodes):
        ax.axhline(client_row, color="#7f8c8d", linewidth=0.8, linestyle=":", zorder=0)
    end_ms = float(trace["send_ms"].max()) if len(trace) else 0.0
    bad = byzantine_intervals(events, end_ms)
    if msgs.empty:
        empty_note(ax, "no messages in the window")
        ax.set_xlim(0 if not np.isfinite(lo) else lo, max(1.0, 1.0 if not np.isfinite(hi) else hi))
    else:
        kinds = sorted(msgs["type"].unique())
        palette = [c for i, c in enumerate(plt.get_cmap("tab10").colors) if i != 3]  # red is kept for byzantine messages
        colour = {kind: palette[i % len(palette)] for i, kind in enumerate(kinds)}
        first = float(msgs["send_ms"].min())
        last = float(np.nanmax(msgs[["send_ms", "deliver_ms"]].to_numpy(dtype=float)))
        span = (last - first) or 1.0
        lying = np.zeros(len(msgs), dtype=bool)
        for row in bad.itertuples():
            lying |= ((msgs["src"] == row.node) & (msgs["send_ms"] >= row.start_ms) & (msgs["send_ms"] <= row.end_ms)).to_numpy()
        for (_, m), liar in zip(msgs.iterrows(), lying, strict=True):
            y0, y1 = lanes[m["src"]], lanes[m["dst"]]
            x0 = float(m["send_ms"])
            shade = BYZANTINE if liar else colour[m["type"]]
            width = 2.2 if liar else 1.0
            if m["fate"] == "delivered":
                ax.annotate("", xy=(float(m["deliver_ms"]), y1), xytext=(x0, y0),
                            arrowprops={"arrowstyle": "->", "color": shade, "linewidth": width})  # fmt: skip
            else:
                # A fixed stub toward the target, not a share of the distance: a client's request
                # to a node far up ended on the dotted line between nodes and clients.
                x1 = x0 + span * 0.02
                y_end = y0 + float(np.sign(y1 - y0)) * DROP_STUB
                ax.plot([x0, x1], [y0, y_end], linestyle="--", color=shade, linewidth=width)
                ax.plot([x1], [y_end], marker="x", color=shade)
        handles = [plt.Line2D([], [], color=colour[k], label=k) for k in kinds]
        handles.append(plt.Line2D([], [], color="grey", linestyle="--", marker="x", label="dropped"))
        if lying.any():
            handles.append(plt.Line2D([], [], color=BYZANTINE, linewidth=2.2, label="sent by a byzantine node"))
        ax.set_xlim(first - span * 0.02, first + span * 1.04)
        crashed = False
        for row in fault_periods(events, end_ms).itertuples():
            if row.kind == "crash" and row.label.split()[0] in lanes:
                y = lanes[row.label.split()[0]]
                ax.broken_barh([(row.start_ms, row.end_ms - row.start_ms)], (y - 0.2, 0.4), **CRASHED, zorder=0)
                crashed = True
        if crashed:
            handles.append(Patch(**CRASHED, label="node crashed"))
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="message type")
    ax.set_yticks(range(len(labels)), labels)
    for tick, name in zip(ax.get_yticklabels(), labels, strict=True):
        if name in set(bad["node"]):
            tick.set_color(BYZANTINE)
    ax.set_ylim(-0.5, len(labels) - 0.5)
    ax.invert_yaxis()
    ax.set_xlabel("simulated time (ms)")
    ax.set_ylabel("node / client")
    shown = f"first {len(msgs)} of {len(inside)} messages"
    if window is not None:
        stop = "end" if not np.isfinite(hi) else f"{hi:g} ms"
        shown += f" sent in {lo:g} ms .. {stop}"
    ax.set_title(f"{title}\n({shown})", fontsize=10)
    fig.set_layout_engine("tight")  # laid out when drawn: building a figure stays cheap
    return fig

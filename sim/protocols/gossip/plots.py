"""Figures of the gossip mechanism: the infection curve, and residue and cost for rumor mongering."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np

from sim.plots.common import empty_note, fault_periods, mark_violations, node_names, shade_faults
from sim.protocols.gossip.checks import CLIENT_KINDS, informed_times

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sim.results import RunResult

GRID_POINTS = 400
THIN_LINES = 60
"""Up to this many writes each gets its own thin curve; beyond, only the mean and the spread."""


def _setup(result: RunResult) -> tuple[Any, float, list[tuple[str, float, np.ndarray, float]]]:
    from sim.protocols.gossip import GossipConfig
    from sim.scenario import Scenario

    # The run's resolved scenario, read back without the load-time checks: it has run, and a fleet's
    # gossip plane keeps the fleet's faults (a `leader` that is another plane's), which alone it would refuse.
    scenario = Scenario.model_validate(result.scenario)
    config = GossipConfig.model_validate(scenario.protocol)
    return scenario, float(config.interval), informed_times(result.tables, scenario)


def infection(result: RunResult) -> Figure:
    """Fraction of reachable live nodes informed of each write, against time since the write and against simulated time.

    Left: one thin curve per write, their mean and the 10-90% spread across writes, with
    gossip rounds on the top axis. Right: the same curves placed at the time they were
    written, with partitions, crashes and other faults shaded.
    """
    scenario, interval, spread = _setup(result)
    name = result.summary.get("name", scenario.name)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4), gridspec_kw={"width_ratios": [1, 1.25]})
    duration = float(scenario.duration)
    if not spread:
        for ax in (left, right):
            empty_note(ax, "no writes reached any node")
    else:
        finite = np.concatenate([d[np.isfinite(d)] for _, _, d, _ in spread])
        horizon = max(float(finite.max()) * 1.1 if finite.size else 0.0, interval)
        grid = np.linspace(0.0, horizon, GRID_POINTS)
        curves = np.array([np.searchsorted(np.sort(d), grid, side="right") / max(len(d), 1) for _, _, d, _ in spread])
        if len(spread) <= THIN_LINES:
            for curve in curves:
                left.plot(grid, curve, color="#95a5a6", linewidth=0.6, alpha=0.6)
        if len(spread) > 1:
            lo, hi = np.percentile(curves, [10, 90], axis=0)
            left.fill_between(grid, lo, hi, color="#4c72b0", alpha=0.2, linewidth=0, label="10-90% of writes")
        mean_label = f"mean of {len(spread)} writes" if len(spread) > 1 else "the only write"
        left.plot(grid, curves.mean(axis=0), color="#1b4f72", linewidth=2, label=mean_label)
        left.set_xlim(0, horizon)
        top = left.secondary_xaxis("top", functions=(lambda t: t / interval, lambda r: r * interval))
        top.set_xlabel(f"gossip rounds ({interval:g} ms each)", fontsize=8)
        left.legend(fontsize=8, loc="lower right")
        for (_, start, _, _), curve in zip(spread, curves, strict=True):
            right.plot((start + grid) / 1000.0, curve, linewidth=1, color="#4c72b0", alpha=0.7 if len(spread) < 20 else 0.3)
        right.set_xlim(0, duration / 1000.0)
        handles = shade_faults([right], fault_periods(result.events, duration), label_on=right)
        handles += mark_violations([right], result.violations)
        handles.insert(0, plt.Line2D([], [], color="#4c72b0", label="a write's spread"))
        right.legend(handles=handles, fontsize=8, loc="lower right")
    left.set_xlabel("time since the write (ms)")
    left.set_ylabel("fraction of reachable live nodes informed")
    left.set_title(f"Infection curve — {name}", fontsize=10)
    right.set_xlabel("simulated time (s)")
    right.set_title("Each write's spread over the run", fontsize=10)
    for ax in (left, right):
        ax.set_ylim(0, 1.03)
        ax.grid(alpha=0.3)
    fig.set_layout_engine("tight")  # laid out when drawn: building a figure stays cheap
    return fig


def rumor_cost(result: RunResult) -> Figure | None:
    """Rumor mongering: the residue of each write (nodes never told) and the messages each node sent.

    None for anti-entropy, which promises no residue.
    """
    from sim.protocols.gossip import GossipConfig

    if GossipConfig.model_validate(result.scenario.get("protocol") or {}).style != "rumor":
        return None
    scenario, _, spread = _setup(result)
    name = result.summary.get("name", scenario.name)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    if spread:
        residue = np.array([r for _, _, _, r in spread])
        left.bar(np.arange(len(residue)), residue, color="#c44e52", width=0.8)
        left.axhline(float(residue.mean()), color="black", linestyle="--", linewidth=1, label=f"mean = {residue.mean():.3f}")
        few = len(residue) <= 8
        names = [s for s, _, _, _ in spread] if few else [str(i) for i in range(len(residue))]
        left.set_xticks(np.arange(len(residue)), names, rotation=20 if few else 0, fontsize=7)
        left.set_ylim(0, max(float(residue.max()) * 1.3, 0.01))
        left.legend(fontsize=8)
    else:
        empty_note(left, "no writes")
    left.set_xlabel("write")
    left.set_ylabel("residue (fraction of live nodes never told)")
    left.set_title(f"Residue — {name}", fontsize=10)
    nodes = node_names(result.scenario)
    messages = result.messages[~result.messages["type"].isin(CLIENT_KINDS)]
    sent = messages.groupby("src")["sent"].sum().reindex(nodes, fill_value=0).to_numpy()
    if sent.sum():
        right.hist(sent, bins=np.arange(sent.max() + 2) - 0.5 if sent.max() < 40 else 30, color="#4c72b0")
        right.axvline(float(sent.mean()), color="black", linestyle="--", linewidth=1, label=f"mean = {sent.mean():.2f} per node")
        right.legend(fontsize=8)
    else:
        empty_note(right, "no gossip messages")
    right.set_xlabel("gossip messages sent by a node")
    right.set_ylabel("nodes")
    right.set_title("Messages per node", fontsize=10)
    for ax in (left, right):
        ax.grid(axis="y", alpha=0.3)
    fig.set_layout_engine("tight")  # laid out when drawn: building a figure stays cheap
    return fig


def gossip_figures() -> dict[str, Any]:
    """Gossip's figures; a client's write latency and the shared over-time view say nothing about an epidemic."""
    return {"infection": infection, "rumor": rumor_cost, "latency_cdf": None, "performance": None}

"""Plots: pure functions from a run's tables to matplotlib Figures, and saving a run's plots.

Every figure has a title, axis labels with units and a legend where there is more than one
series. PNGs are written without a timestamp or software version so the bytes are reproducible.
The figures every mechanism gets live here; a mechanism adds its own through
`Protocol.figures()` (for example sim/protocols/gossip/plots.py), and nothing here switches on
mechanism names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.plots.common import (
    PNG_METADATA,
    byzantine_intervals,
    down_intervals,
    failed_candidacies,
    fault_periods,
    leader_intervals,
    mark_violations,
    natural_key,
    network_intervals,
    node_names,
    save_figure,
    shade_faults,
)
from sim.plots.run import MIN_CDF_POINTS, commit_rate, has_timeline, latency_cdf, message_load, messages_by_type, performance, timeline
from sim.plots.spacetime import SPACETIME_MAX_NODES, SPACETIME_MESSAGES, default_window, parse_window, spacetime

if TYPE_CHECKING:
    from pathlib import Path

    from matplotlib.figure import Figure

    from sim.results import RunResult


def spacetime_note(result: RunResult) -> str | None:
    """Why a traced run has no space-time diagram (None when it has one or was not traced)."""
    nodes = node_names(result.scenario)
    if result.trace is not None and len(nodes) > SPACETIME_MAX_NODES:
        return f"spacetime.png skipped: {len(nodes)} nodes, the diagram is drawn for at most {SPACETIME_MAX_NODES}"
    return None


def measure_window(summary: dict[str, Any]) -> tuple[float, float] | None:
    """The summary's measurement window `(measure_from_ms, measure_until_ms)`, None when it has none (an older run)."""
    start, end = summary.get("measure_from_ms"), summary.get("measure_until_ms")
    if start is None or end is None:
        return None
    return float(start), float(end)


def run_figures(result: RunResult, trace_window: tuple[float, float] | None = None) -> dict[str, Figure]:
    """Every plot of a run by file stem: the shared figures, then the mechanism's own.

    The latency CDF needs a few completed commands, the timeline leaders, elections, crashes or
    byzantine nodes, and the space-time diagram a trace and at most 8 nodes (over `trace_window`
    in ms, by default from just before the first fault). A mechanism's `figures()` may add
    figures and, by mapping a shared stem to None, leave out one that means nothing for it.
    """
    from sim.protocols.registry import MechanismError, get_mechanism

    name = result.summary.get("name", result.scenario.get("name", ""))
    nodes = node_names(result.scenario)
    duration = float(result.summary.get("duration_ms") or result.scenario.get("duration") or 0.0) or 1.0
    builders = {
        "performance": lambda: performance(
            result.requests, result.decisions, result.events, result.violations, duration, f"Latency and throughput over time — {name}"
        ),
        "latency_cdf": lambda: latency_cdf(result.requests, f"Client latency — {name}", measure_window(result.summary)),
        "messages_by_type": lambda: messages_by_type(result.messages, f"Messages by type — {name}"),
        "message_load": lambda: message_load(result.messages, nodes, f"Message load per node — {name}"),
        "timeline": lambda: timeline(result.events, result.decisions, nodes, duration, f"Timeline — {name}", result.violations),
    }
    if int(result.requests["done_ms"].notna().sum()) < MIN_CDF_POINTS:
        del builders["latency_cdf"]
    if not has_timeline(result.events):
        del builders["timeline"]
    if result.trace is not None and len(nodes) <= SPACETIME_MAX_NODES:
        window = trace_window or default_window(result.events, duration)
        builders["spacetime"] = lambda: spacetime(result.trace, nodes, title=f"Space-time — {name}", window=window, events=result.events)
    mechanism = str(result.summary.get("mechanism", result.scenario.get("mechanism", "")))
    try:
        own = get_mechanism(mechanism).figures if mechanism else {}
    except MechanismError:
        own = {}  # a run of a mechanism this process cannot load (e.g. a file since moved): the shared figures only
    for stem, draw in own.items():
        if draw is None:
            builders.pop(stem, None)
        else:
            builders[stem] = lambda draw=draw: draw(result)
    drawn = {stem: build() for stem, build in builders.items()}
    return {stem: fig for stem, fig in drawn.items() if fig is not None}


def save_run_plots(result: RunResult, folder: Path, trace_window: tuple[float, float] | None = None) -> list[Path]:
    """Write every plot of a run as PNG files into `folder`; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()  # a replot must not leave a figure that no longer applies
    return [save_figure(fig, folder / f"{stem}.png") for stem, fig in run_figures(result, trace_window).items()]


__all__ = [
    "MIN_CDF_POINTS",
    "PNG_METADATA",
    "SPACETIME_MAX_NODES",
    "SPACETIME_MESSAGES",
    "byzantine_intervals",
    "commit_rate",
    "default_window",
    "down_intervals",
    "failed_candidacies",
    "fault_periods",
    "has_timeline",
    "latency_cdf",
    "leader_intervals",
    "mark_violations",
    "measure_window",
    "message_load",
    "messages_by_type",
    "natural_key",
    "network_intervals",
    "node_names",
    "parse_window",
    "performance",
    "run_figures",
    "save_figure",
    "save_run_plots",
    "shade_faults",
    "spacetime",
    "spacetime_note",
    "timeline",
]

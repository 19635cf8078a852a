"""Figure legibility: every mark a figure draws is in its legend, visible, and not hidden by another."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from sim.plots import message_load, spacetime
from sim.plots.fleet import fleet_timeline
from sim.records import MESSAGE_COLUMNS, TRACE_COLUMNS

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def _run(stem: str):  # noqa: ANN202 - a RunResult
    from sim import load_scenario, run

    return run(load_scenario(SCENARIOS / f"{stem}.yaml"))


def test_votes_count_panel_reaches_every_question_and_the_end_of_the_run() -> None:
    """The 'questions so far' stack ends at the run's end at the full count, not one step short at the last question."""
    from sim.protocols.voting.plots import question_outcomes, votes

    result = _run("voting-majority-third-faulty")
    asked = len(question_outcomes(result))
    fig = votes(result)
    try:
        bottom = fig.axes[1]
        vertices = np.concatenate([path.vertices for coll in bottom.collections for path in coll.get_paths()])
        assert vertices[:, 0].max() == pytest.approx(result.summary["duration_ms"] / 1000.0)
        assert vertices[:, 1].max() == asked
    finally:
        plt.close(fig)


def _pipeline() -> pd.DataFrame:
    rows = [
        {
            "chain": 0,
            "stage": 0,
            "from_plane": "scale",
            "to_plane": "control",
            "trigger_ms": 6000.0,
            "decided_ms": 6006.0,
            "done_ms": 6040.0,
        },
        {
            "chain": 0,
            "stage": 1,
            "from_plane": "control",
            "to_plane": "routing",
            "trigger_ms": 6006.0,
            "decided_ms": 8000.0,
            "done_ms": np.nan,
        },
    ]
    return pd.DataFrame(rows)


def test_fleet_pipeline_shows_a_short_stage_and_explains_its_dots() -> None:
    """A 6 ms stage of a 20 s run is drawn wide enough to see, apart from the next stage; the dots have a legend entry."""
    events = pd.DataFrame(columns=["time_ms", "node", "kind", "plane"])
    decisions = pd.DataFrame({"time_ms": [10.0], "node": ["n0"], "slot": [1], "value": ["x"], "plane": ["control"]})
    fig = fleet_timeline(events, decisions, ["control"], 20_000.0, pipeline=_pipeline())
    try:
        links = fig.axes[-1]
        boxes = [path.get_extents() for coll in links.collections for path in coll.get_paths()]
        assert len(boxes) == 2 and min(b.width for b in boxes) >= 0.1  # s: 0.5% of the axis, where 6 ms is 0.03%
        assert boxes[0].y1 <= boxes[1].y0 or boxes[1].y1 <= boxes[0].y0  # the stages do not overlap
        labels = [t.get_text() for t in fig.legends[0].get_texts()] if fig.legends else []
        labels += [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
        assert "stage's last node had it" in labels
    finally:
        plt.close(fig)


def test_message_load_legend_does_not_cover_the_bars() -> None:
    """With 40 nodes the legend sits beside the axes, not over the last bars' tops."""
    nodes = [f"n{i}" for i in range(40)]
    messages = pd.DataFrame([("ping", src, dst, 80, 60, 20, 800) for src, dst in zip(nodes, nodes[1:] + nodes[:1], strict=True)],
                            columns=MESSAGE_COLUMNS)  # fmt: skip
    fig = message_load(messages, nodes)
    try:
        fig.canvas.draw()
        ax = fig.axes[0]
        assert ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1
    finally:
        plt.close(fig)


def test_spacetime_legend_names_the_crash_and_dropped_requests_stay_off_the_separator() -> None:
    """The hatched crash bar has a legend entry; a dropped client request ends clear of the node/client separator."""
    nodes = ["n0", "n1", "n2", "n3"]
    trace = pd.DataFrame(
        [
            (1.0, 3.0, "n0", "n1", "ping", 48, "delivered"),
            (2.0, np.nan, "client0", "n2", "client_request", 48, "loss"),  # two lanes up: 30% of that ended on the separator
            (5.0, 6.0, "n1", "n2", "ping", 48, "delivered"),
        ],
        columns=TRACE_COLUMNS,
    )
    events = pd.DataFrame({"time_ms": [4.0], "node": ["n3"], "kind": ["crash"]})
    fig = spacetime(trace, nodes, events=events)
    try:
        ax = fig.axes[0]
        assert "node crashed" in [t.get_text() for t in ax.get_legend().get_texts()]
        separator = len(nodes) - 0.5
        crosses = [line for line in ax.get_lines() if line.get_marker() == "x"]
        assert crosses and all(abs(float(line.get_ydata()[0]) - separator) > 0.15 for line in crosses)
    finally:
        plt.close(fig)


def test_pbft_view_change_crosses_are_drawn_above_the_new_primary_stars() -> None:
    """The legend counts the view changes; their crosses sit where the star of the new primary is, so they go on top."""
    from sim.protocols.pbft.plots import views

    fig = views(_run("pbft-equivocating-primary"))
    try:
        top = fig.axes[0]
        marks = {coll.get_label(): coll.get_zorder() for coll in top.collections}
        crosses = next(z for label, z in marks.items() if label.startswith("view change started"))
        assert crosses > marks["new primary"] and crosses > max(line.get_zorder() for line in top.get_lines())
    finally:
        plt.close(fig)

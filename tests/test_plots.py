"""Plots: the interval logic behind the timeline, and that every figure is labelled and survives empty input."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.patches import Rectangle, StepPatch
from matplotlib.text import Annotation

from sim.plots import (
    SPACETIME_MAX_NODES,
    byzantine_intervals,
    commit_rate,
    default_window,
    down_intervals,
    failed_candidacies,
    has_timeline,
    latency_cdf,
    leader_intervals,
    messages_by_type,
    natural_key,
    network_intervals,
    parse_window,
    run_figures,
    spacetime,
    timeline,
)
from sim.records import DECISION_COLUMNS, MESSAGE_COLUMNS, REQUEST_COLUMNS, TRACE_COLUMNS

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def events(*rows: dict[str, object]) -> pd.DataFrame:
    """An events table from rows (missing fields become NaN, as in a real run)."""
    return pd.DataFrame(list(rows), columns=sorted({k for r in rows for k in r} | {"time_ms", "node", "kind"}))


def test_leader_intervals_end_at_crash_or_step_down_and_turn_stale_at_a_higher_term() -> None:
    """A leadership lasts until its node crashes or steps down; from a higher term's first leader on it is stale."""
    ev = events(
        {"time_ms": 100.0, "node": "n0", "kind": "leader", "term": 1.0},
        {"time_ms": 300.0, "node": "n0", "kind": "crash"},
        {"time_ms": 500.0, "node": "n1", "kind": "leader", "term": 2.0},
        {"time_ms": 700.0, "node": "n2", "kind": "leader", "term": 3.0},
        {"time_ms": 750.0, "node": "n1", "kind": "step_down", "term": 2.0},
        {"time_ms": 800.0, "node": "n2", "kind": "step_down"},
        {"time_ms": 900.0, "node": "n3", "kind": "leader", "term": 4.0},
    )
    got = leader_intervals(ev, 1000.0)
    assert got.fillna(-1).to_dict("records") == [
        {"node": "n0", "term": 1, "start_ms": 100.0, "end_ms": 300.0, "stale_ms": -1},
        {"node": "n1", "term": 2, "start_ms": 500.0, "end_ms": 750.0, "stale_ms": 700.0},
        {"node": "n2", "term": 3, "start_ms": 700.0, "end_ms": 800.0, "stale_ms": -1},
        {"node": "n3", "term": 4, "start_ms": 900.0, "end_ms": 1000.0, "stale_ms": -1},
    ]


def test_leader_intervals_without_step_down_events_end_at_the_next_term() -> None:
    """A mechanism that never records step-downs: a leadership ends where a higher term begins."""
    ev = events(
        {"time_ms": 100.0, "node": "n0", "kind": "leader", "term": 1.0},
        {"time_ms": 500.0, "node": "n1", "kind": "leader", "term": 2.0},
    )
    got = leader_intervals(ev, 1000.0)
    assert got[["node", "end_ms"]].to_dict("records") == [{"node": "n0", "end_ms": 500.0}, {"node": "n1", "end_ms": 1000.0}]
    assert got["stale_ms"].isna().all()


def test_failed_candidacies_are_elections_not_won() -> None:
    """An election_start (or phase1) with no leader event of the same node and term is a failed candidacy."""
    ev = events(
        {"time_ms": 10.0, "node": "n0", "kind": "election_start", "term": 1.0},
        {"time_ms": 12.0, "node": "n1", "kind": "election_start", "term": 1.0},
        {"time_ms": 20.0, "node": "n1", "kind": "leader", "term": 1.0},
        {"time_ms": 30.0, "node": "n2", "kind": "phase1", "term": 2.0},
    )
    got = failed_candidacies(ev)
    assert got.to_dict("records") == [{"node": "n0", "term": 1.0, "time_ms": 10.0}, {"node": "n2", "term": 2.0, "time_ms": 30.0}]


def test_down_intervals_pair_crashes_with_recoveries() -> None:
    """Each crash is paired with the node's next recovery; a node still down runs to the end."""
    ev = events(
        {"time_ms": 10.0, "node": "n1", "kind": "crash"},
        {"time_ms": 20.0, "node": "n1", "kind": "recover"},
        {"time_ms": 30.0, "node": "n0", "kind": "crash"},
        {"time_ms": 40.0, "node": "n1", "kind": "crash"},
    )
    got = down_intervals(ev, 100.0)
    assert sorted(map(tuple, got.to_numpy().tolist())) == [("n0", 30.0, 100.0), ("n1", 10.0, 20.0), ("n1", 40.0, 100.0)]


def test_network_intervals_match_heals_by_handle() -> None:
    """A heal with a handle closes its own partition or cut; a heal-all closes everything still open."""
    ev = events(
        {"time_ms": 10.0, "node": "", "kind": "partition", "groups": "n0 | n1,n2", "handle": 1.0},
        {"time_ms": 20.0, "node": "", "kind": "cut", "src": "n0", "dst": "n1", "handle": 1.0},
        {"time_ms": 30.0, "node": "", "kind": "heal", "handle": 1.0, "healed": "cut"},
        {"time_ms": 40.0, "node": "", "kind": "partition", "groups": "n0,n1 | n2", "handle": 2.0},
        {"time_ms": 50.0, "node": "", "kind": "heal", "handle": 1.0, "healed": "partition"},
        {"time_ms": 60.0, "node": "", "kind": "heal"},
    )
    got = network_intervals(ev, 100.0)
    assert got.to_dict("records") == [
        {"kind": "cut", "label": "n0 -> n1", "start_ms": 20.0, "end_ms": 30.0},
        {"kind": "partition", "label": "n0 | n1,n2", "start_ms": 10.0, "end_ms": 50.0},
        {"kind": "partition", "label": "n0,n1 | n2", "start_ms": 40.0, "end_ms": 60.0},
    ]


def test_byzantine_intervals_use_from_and_until() -> None:
    """A byzantine node misbehaves from `from_ms` until `until_ms` (infinite: the end of the run)."""
    ev = events(
        {"time_ms": 0.0, "node": "n0", "kind": "byzantine", "behaviour": "equivocate", "from_ms": 100.0, "until_ms": float("inf")},
        {"time_ms": 0.0, "node": "n3", "kind": "byzantine", "behaviour": "silent", "from_ms": 0.0, "until_ms": 400.0},
    )
    got = byzantine_intervals(ev, 1000.0)
    assert got.to_dict("records") == [
        {"node": "n0", "behaviour": "equivocate", "start_ms": 100.0, "end_ms": 1000.0},
        {"node": "n3", "behaviour": "silent", "start_ms": 0.0, "end_ms": 400.0},
    ]


def test_commit_rate_counts_each_slot_once_at_its_first_decision() -> None:
    """Commits per second count a slot when the first node decides it, per bin of duration/bins."""
    decisions = pd.DataFrame(
        [(5.0, "n0", 0, "a", 0), (7.0, "n1", 0, "a", 0), (15.0, "n0", 1, "b", 0), (16.0, "n0", 2, "c", 0)], columns=DECISION_COLUMNS
    )
    starts, rate, width = commit_rate(decisions, 20.0, bins=2)
    assert width == 10.0
    assert starts.tolist() == [0.0, 0.01]
    assert rate.tolist() == [100.0, 200.0]  # 1 commit in 10 ms, then 2


def test_natural_order_of_node_names() -> None:
    """n2 sorts before n10."""
    assert sorted(["n10", "n2", "n1"], key=natural_key) == ["n1", "n2", "n10"]


@pytest.mark.parametrize("empty", [True, False])
def test_figures_are_labelled_and_survive_empty_tables(empty: bool) -> None:
    """Every figure has a title and axis labels, with data or without."""
    rng = np.random.default_rng(0)
    n = 0 if empty else 50
    requests = pd.DataFrame({"cmd_id": [f"c{i}" for i in range(n)], "client": "client0", "submit_ms": 0.0, "done_ms": 0.0, "retries": 0})
    requests["latency_ms"] = rng.lognormal(3, 1, n)
    requests = requests[list(REQUEST_COLUMNS)]
    messages = pd.DataFrame([("ping", "n0", "n1", 5, 4, 1, 240)][: 0 if empty else 1], columns=MESSAGE_COLUMNS)
    trace = pd.DataFrame(
        [(1.0, 3.0, "n0", "n1", "ping", 48, "delivered"), (2.0, np.nan, "n1", "n0", "pong", 0, "loss")][:n], columns=TRACE_COLUMNS
    )
    ev = events() if empty else events({"time_ms": 5.0, "node": "n1", "kind": "leader", "term": 1.0})
    decisions = pd.DataFrame(columns=DECISION_COLUMNS)
    figures = [
        latency_cdf(requests),
        messages_by_type(messages),
        timeline(ev, decisions, [f"n{i}" for i in range(40)], 1000.0),
        spacetime(trace, ["n0", "n1"]),
    ]
    if empty:  # the data check of the shipped-scenario test below sees that an empty figure is empty
        assert data_artists(figures[0].axes[0]) == 0 and data_artists(figures[3].axes[0]) == 0
    else:
        assert data_artists(figures[0].axes[0]) > 0 and data_artists(figures[3].axes[0]) > 0
    for fig in figures:
        first = fig.axes[0]
        assert first.get_title()
        assert fig.axes[-1].get_xlabel() and first.get_ylabel()
        plt.close(fig)


# --- every shipped scenario's figures ---------------------------------------------------------

SHIPPED = sorted(p for p in (Path(__file__).resolve().parent.parent / "scenarios").glob("*.yaml"))


def data_artists(ax: Axes) -> int:
    """How many artists on `ax` draw data (not a reference line, a shaded fault period or a note)."""
    count = 0
    for line in ax.get_lines():
        if line.get_transform() == ax.transData and len(np.atleast_1d(line.get_xdata())) >= 1:
            count += 1
    for coll in ax.collections:
        has_points = len(coll.get_offsets()) > 0 if isinstance(coll, PathCollection) else len(coll.get_paths()) > 0
        count += int(has_points and coll.get_transform() != ax.transAxes)
    for patch in ax.patches:
        if isinstance(patch, Rectangle | StepPatch) and patch.get_transform().contains_branch(ax.transData):
            count += int(not isinstance(patch, Rectangle) or patch.get_width() * patch.get_height() != 0)
    count += sum(1 for t in ax.texts if isinstance(t, Annotation) and t.arrow_patch is not None)
    return count


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_scenario_draws_figures_with_data_in_every_axis(path: Path) -> None:
    """Each figure of each shipped scenario has data in every axis it draws, and its mechanism's own figures are among them."""
    from sim import load_scenario, run
    from sim.protocols.base import get_protocol

    scenario = load_scenario(path)
    result = run(scenario, trace=scenario.n <= SPACETIME_MAX_NODES)
    figures = run_figures(result)
    try:
        own = {stem for stem, draw in get_protocol(scenario.mechanism).figures().items() if draw is not None}
        assert own - {"rumor"} <= set(figures), f"missing {own - set(figures)}"
        assert len(figures) >= 3
        for stem, fig in figures.items():
            for i, ax in enumerate(fig.axes):
                assert data_artists(ax) > 0, f"{path.stem}: {stem}.png axis {i} ({ax.get_title() or ax.get_ylabel()!r}) has no data"
            assert fig.axes[0].get_title(), f"{stem} has no title"
    finally:
        for fig in figures.values():
            plt.close(fig)


# --- the space-time diagram and its window ---------------------------------------------------


def test_parse_window_reads_durations_and_open_ends() -> None:
    """'2.9s:3.3s' is 2900..3300 ms; an empty end runs to the end; a reversed window is refused."""
    assert parse_window("2.9s:3.3s") == (2900.0, 3300.0)
    assert parse_window("150ms:") == (150.0, float("inf"))
    for bad in ("3s", "3s:2s", "a:b"):
        with pytest.raises(ValueError):
            parse_window(bad)


def test_default_window_opens_just_before_the_first_fault() -> None:
    """Without --trace-window the diagram starts 20 ms before the first crash, partition or cut (at 0 without faults)."""
    ev = events(
        {"time_ms": 0.0, "node": "n3", "kind": "byzantine", "behaviour": "silent", "from_ms": 0.0, "until_ms": float("inf")},
        {"time_ms": 3000.0, "node": "", "kind": "partition", "groups": "n0 | n1", "handle": 1.0},
        {"time_ms": 2500.0, "node": "n1", "kind": "crash"},
    )
    assert default_window(ev, 8000.0) == (2480.0, 8000.0)
    assert default_window(events(), 8000.0) == (0.0, 8000.0)


def test_spacetime_draws_the_window_with_client_lanes_and_byzantine_messages_marked() -> None:
    """Only messages sent in the window are drawn; clients get lanes below the nodes; a byzantine node's messages are red."""
    trace = pd.DataFrame(
        [
            (1.0, 2.0, "n0", "n1", "ping", 48, "delivered"),
            (10.0, 12.0, "client0", "n0", "client_request", 48, "delivered"),
            (11.0, 13.0, "n1", "n0", "pong", 48, "delivered"),
            (30.0, 31.0, "n0", "n1", "ping", 48, "delivered"),
        ],
        columns=TRACE_COLUMNS,
    )
    ev = events({"time_ms": 0.0, "node": "n1", "kind": "byzantine", "behaviour": "corrupt", "from_ms": 5.0, "until_ms": 20.0})
    fig = spacetime(trace, ["n0", "n1"], window=(5.0, 20.0), events=ev)
    ax = fig.axes[0]
    arrows = [t for t in ax.texts if isinstance(t, Annotation)]
    assert sorted(a.xyann[0] for a in arrows) == [10.0, 11.0]  # the two sent inside 5..20 ms
    assert [t.get_text() for t in ax.get_yticklabels()] == ["n0", "n1", "client0"]
    red = [a for a in arrows if a.arrow_patch.get_edgecolor()[:3] == pytest.approx((0xC0 / 255, 0x39 / 255, 0x2B / 255))]
    assert len(red) == 1 and red[0].xyann == (11.0, 1)
    assert "sent by a byzantine node" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert "2 of 2 messages sent in 5 ms .. 20 ms" in ax.get_title()
    plt.close(fig)


def test_cli_trace_window_and_skipped_spacetime(tmp_path: Path) -> None:
    """--trace-window picks the diagram's window; a bad one or one without --trace is one line and exit 2;
    above 8 nodes stderr says the diagram was skipped and why."""
    from typer.testing import CliRunner

    from sim.cli import app

    scenario = str(Path(__file__).resolve().parent.parent / "scenarios" / "raft-steady.yaml")
    short = ["--set", "duration=400ms", "--set", "workload.until=300ms", "--set", "workload.start=50ms"]
    runner = CliRunner()
    ok = runner.invoke(app, ["run", scenario, *short, "--trace", "--trace-window", "100ms:200ms", "--out", str(tmp_path / "a"), "-q"])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "a" / "plots" / "spacetime.png").is_file()
    for args, problem in ((["--trace", "--trace-window", "3s"], "expected START:END"), (["--trace-window", "1s:2s"], "needs --trace")):
        bad = runner.invoke(app, ["run", scenario, *short, *args, "--out", str(tmp_path / "b"), "-q"])
        assert bad.exit_code == 2 and problem in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
        assert not (tmp_path / "b").exists()
    many = runner.invoke(app, ["run", scenario, *short, "--set", "nodes=9", "--trace", "--out", str(tmp_path / "c"), "-q"])
    assert many.exit_code == 0, many.output
    assert "spacetime.png skipped: 9 nodes" in many.stderr and not (tmp_path / "c" / "plots" / "spacetime.png").exists()


def test_timeline_needs_a_story() -> None:
    """No timeline for one leader and nothing else; a second leader, an election or a crash makes one."""
    one = events({"time_ms": 0.0, "node": "n0", "kind": "leader", "term": 0.0})
    assert not has_timeline(one) and not has_timeline(events())
    first = {"time_ms": 0.0, "node": "n0", "kind": "leader", "term": 0.0}
    two = events(first, {"time_ms": 9.0, "node": "n1", "kind": "leader", "term": 1.0})
    assert has_timeline(two)
    assert has_timeline(events({"time_ms": 5.0, "node": "n1", "kind": "crash"}))

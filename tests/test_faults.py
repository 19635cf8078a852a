"""The fault plan: overlapping entries compose, in-flight messages meet crashes and cuts, the leader as a target.

Most tests drive the kernel's Chatter protocol (numbered messages at given times) and read the
fate of each message from the trace; the leader tests also run Raft.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from pydantic import Field

from sim import run, scenario_from_dict
from sim.errors import ScenarioError
from sim.kernel import Simulation
from sim.records import RunTables
from sim.results import RunResult
from sim.scenario import Scenario
from tests.test_kernel import Chatter, ChatterConfig, simulate


def fates(result: RunResult, src: str = "n0", dst: str = "n1") -> dict[float, str]:
    """Send time -> fate of each message from src to dst."""
    trace = result.trace
    assert trace is not None
    rows = trace[(trace["src"] == src) & (trace["dst"] == dst)]
    return dict(zip(rows["send_ms"], rows["fate"], strict=True))


def link_delays(result: RunResult, src: str = "n0", dst: str = "n1") -> dict[float, float]:
    """Send time -> delay of each delivered message from src to dst."""
    trace = result.trace
    assert trace is not None
    rows = trace[(trace["src"] == src) & (trace["dst"] == dst) & (trace["fate"] == "delivered")]
    return dict(zip(rows["send_ms"], rows["deliver_ms"] - rows["send_ms"], strict=True))


EVERY_100MS = [f"{t}ms" for t in range(50, 2000, 100)]


# --- overlapping entries compose (issue 8, item 15) ---------------------------------------------


def test_overlapping_set_link_undos_remove_only_their_own_layer() -> None:
    """Reproduction set-link-overlap: loss 1.0 for 100-600 ms under a 5 ms delay for 300-1300 ms.

    Each undo removes its own change: 2 ms and lossless before, lost while the loss layer holds,
    5 ms from 600 to 1300 ms, and 2 ms and lossless again afterwards (not 100% lossy forever).
    """
    result = simulate(
        duration="2s",
        network={"delay": "2ms"},
        protocol={"times": EVERY_100MS},
        faults=[
            {"at": "100ms", "set_link": {"from": "n0", "to": "n1", "loss": 1.0}, "for": "500ms"},
            {"at": "300ms", "set_link": {"from": "n0", "to": "n1", "delay": "5ms"}, "for": "1s"},
        ],
    )
    sent = fates(result)
    delay = link_delays(result)
    assert sent[50.0] == "delivered" and delay[50.0] == 2.0
    assert all(sent[t] == "loss" for t in (150.0, 250.0, 350.0, 450.0, 550.0))
    assert [delay[t] for t in (650.0, 950.0, 1250.0)] == [5.0, 5.0, 5.0]
    assert [delay[t] for t in (1350.0, 1950.0)] == [2.0, 2.0]


def test_set_link_overlap_reproduction_leaves_no_override_behind() -> None:
    """The raft reproduction from the issue: after both undos the link is the network default again."""
    scenario = scenario_from_dict(
        {
            "name": "set-link-overlap",
            "mechanism": "raft",
            "nodes": 3,
            "seed": 1,
            "duration": "3s",
            "network": {"delay": "2ms"},
            "faults": [
                {"at": "100ms", "set_link": {"from": "n0", "to": "n1", "loss": 1.0}, "for": "500ms"},
                {"at": "300ms", "set_link": {"from": "n0", "to": "n1", "delay": "5ms"}, "for": "1s"},
            ],
            "workload": {"kind": "none"},
        }
    )
    sim = Simulation(scenario)
    sim.run()
    assert sim.network.overrides == {}
    events = RunTables.from_recorder(sim.recorder).events
    assert events.loc[events["kind"] == "restore_link", "links"].tolist() == [1, 1]


def test_heal_all_does_not_let_an_old_cut_end_a_new_one() -> None:
    """A cut healed by `heal: all` and cut again by another entry stays cut when the first entry's `for` runs out."""
    result = simulate(
        duration="2s",
        protocol={"times": EVERY_100MS},
        faults=[
            {"at": "100ms", "cut": {"from": "n0", "to": "n1"}, "for": "500ms"},
            {"at": "200ms", "heal": "all"},
            {"at": "300ms", "cut": {"from": "n0", "to": "n1"}, "for": "1s"},
        ],
    )
    sent = fates(result)
    assert sent[150.0] == "partition" and sent[250.0] == "delivered"
    assert [sent[t] for t in (350.0, 650.0, 950.0, 1250.0)] == ["partition"] * 4
    assert sent[1350.0] == "delivered"
    heals = result.events[result.events["kind"] == "heal"]
    assert heals["time_ms"].tolist() == [200.0, 1300.0]  # the first cut's undo found nothing left to heal


def test_heal_all_does_not_let_an_old_partition_end_a_new_one() -> None:
    """The same for partitions: each undo heals only its own partition."""
    result = simulate(
        duration="2s",
        protocol={"times": EVERY_100MS},
        faults=[
            {"at": "100ms", "partition": [["n0"], ["n1"]], "for": "500ms"},
            {"at": "200ms", "heal": "all"},
            {"at": "300ms", "partition": [["n0"], ["n1"]], "for": "1s"},
        ],
    )
    sent = fates(result)
    assert [sent[t] for t in (150.0, 250.0, 650.0, 1250.0, 1350.0)] == ["partition", "delivered", "partition", "partition", "delivered"]


def test_overlapping_cuts_are_reference_counted() -> None:
    """Two overlapping cuts of one link: the link stays cut until the later one ends."""
    result = simulate(
        duration="2s",
        protocol={"times": EVERY_100MS},
        faults=[
            {"at": "100ms", "cut": {"from": "n0", "to": "n1"}, "for": "500ms"},
            {"at": "300ms", "cut": {"from": ["n0"], "to": "*"}, "for": "500ms"},
        ],
    )
    sent = fates(result)
    assert [sent[t] for t in (50.0, 150.0, 650.0, 750.0, 850.0)] == ["delivered", "partition", "partition", "partition", "delivered"]


def test_crash_undo_leaves_a_node_that_was_recovered_and_crashed_again_down() -> None:
    """`crash: n1, for: 500ms` must not recover n1 when another entry recovered it and a third crashed it again."""
    result = simulate(
        duration="2s",
        protocol={"times": EVERY_100MS},
        faults=[
            {"at": "100ms", "crash": "n1", "for": "500ms"},
            {"at": "200ms", "recover": "n1"},
            {"at": "300ms", "crash": "n1"},
        ],
    )
    n1 = result.events[result.events["node"] == "n1"]
    assert n1[n1["kind"].isin(["crash", "recover"])]["time_ms"].tolist() == [100.0, 200.0, 300.0]
    assert set(fates(result)[t] for t in (650.0, 1950.0)) == {"crashed"}


def test_crash_undo_still_recovers_its_own_crash() -> None:
    """Without interference a crash's undo recovers the node on time."""
    result = simulate(duration="1s", faults=[{"at": "100ms", "crash": "n1", "for": "300ms"}])
    n1 = result.events[result.events["node"] == "n1"]
    assert n1[n1["kind"] == "recover"]["time_ms"].tolist() == [400.0]


# --- messages in flight (item 16) -----------------------------------------------------------


def test_message_sent_to_a_crashed_node_is_lost_even_if_it_recovers_before_arrival() -> None:
    """Sent at 60 ms to n1 (down 50-70 ms), arriving at 90 ms: lost with the crash."""
    result = simulate(
        network={"delay": "30ms"},
        protocol={"times": ["60ms", "200ms"]},
        faults=[{"at": "50ms", "crash": "n1", "for": "20ms"}],
    )
    assert fates(result) == {60.0: "crashed", 200.0: "delivered"}


def test_a_partition_loses_the_messages_on_the_wire() -> None:
    """A partition that starts while a message travels loses it, even when healed before it would arrive."""
    result = simulate(
        nodes=3,
        network={"delay": "30ms"},
        protocol={"times": ["40ms", "200ms"], "targets": ["n1", "n2"]},
        faults=[{"at": "50ms", "partition": [["n0"], ["n1"]], "for": "10ms"}],
    )
    assert fates(result) == {40.0: "partition", 200.0: "delivered"}
    assert fates(result, "n0", "n2") == {40.0: "delivered", 200.0: "delivered"}  # n2 is in no group: not separated


def test_a_cut_loses_the_messages_on_the_wire_in_its_direction_only() -> None:
    """A one-way cut starting mid-flight loses messages going its way; the other direction arrives."""
    result = simulate(
        network={"delay": "30ms"},
        protocol={"times": ["40ms"], "senders": ["n0", "n1"]},
        faults=[{"at": "50ms", "cut": {"from": "n0", "to": "n1"}, "for": "100ms"}],
    )
    assert fates(result) == {40.0: "partition"}
    assert fates(result, "n1", "n0") == {40.0: "delivered"}


def test_a_partition_before_the_send_or_after_the_arrival_changes_nothing_in_flight() -> None:
    """Only partitions that begin while the message is on the wire lose it."""
    result = simulate(
        network={"delay": "30ms"},
        protocol={"times": ["40ms", "200ms"]},
        faults=[{"at": "10ms", "partition": [["n0"], ["n1"]], "for": "20ms"}, {"at": "80ms", "partition": [["n0"], ["n1"]], "for": "20ms"}],
    )
    assert fates(result) == {40.0: "delivered", 200.0: "delivered"}


# --- the leader as a target (item 17) -------------------------------------------------------


class ClaimsConfig(ChatterConfig):
    """Which nodes believe they lead, and in which epoch."""

    claims: dict[str, int] = Field(default_factory=dict)


class Claimants(Chatter):
    """Chatter whose listed nodes all believe they lead, each in its own epoch."""

    Config = ClaimsConfig
    config: ClaimsConfig

    def is_leader(self) -> bool:
        """Listed nodes lead."""
        return self.ctx.name in self.config.claims

    def epoch(self) -> tuple[int, ...]:
        """The listed epoch."""
        return (self.config.claims.get(self.ctx.name, 0),)


def claimants(**fields: Any) -> RunResult:
    """Run Claimants on five nodes for 1 s."""
    data: dict[str, Any] = {"name": "claims", "mechanism": "claims", "nodes": 5, "duration": "1s", "workload": None}
    data.update(fields)
    return run(Scenario.model_validate(data), trace=True, protocol_cls=Claimants)


def test_crash_leader_takes_the_leader_of_the_highest_epoch_not_a_stale_one() -> None:
    """Three nodes believe they lead (epochs 4, 3, 5): `crash: leader` takes the epoch-5 one; a stale one did not lead."""
    result = claimants(
        protocol={"claims": {"n0": 4, "n1": 3, "n3": 5}},
        faults=[{"at": "100ms", "crash": "leader"}, {"at": "200ms", "crash": "n1"}, {"at": "300ms", "crash": "leader"}],
    )
    crashes = result.events[result.events["kind"] == "crash"]
    assert crashes["node"].tolist() == ["n3", "n1", "n0"]  # with n3 down, n0 (epoch 4) is the leader; n1 (3) never was
    assert crashes["was_leader"].tolist() == [True, False, True]


def test_partition_and_cut_accept_leader_and_rest() -> None:
    """`partition: [[leader], [rest]]` isolates the leader; `cut: {from: leader}` cuts its outgoing links."""
    result = claimants(
        protocol={"claims": {"n2": 1}, "times": ["300ms", "700ms"], "senders": ["n2"]},
        faults=[
            {"at": "100ms", "partition": [["leader"], ["rest"]], "for": "100ms"},
            {"at": "600ms", "cut": {"from": "leader", "to": ["n0", "n4"]}, "for": "200ms"},
        ],
    )
    events = result.events
    assert events[events["kind"] == "partition"]["groups"].tolist() == ["n2 | n0,n1,n3,n4"]
    assert events[events["kind"] == "cut"]["src"].tolist() == ["n2"]
    assert fates(result, "n2", "n0") == {300.0: "delivered", 700.0: "partition"}
    assert fates(result, "n2", "n1") == {300.0: "delivered", 700.0: "delivered"}
    isolated = events[events["kind"] == "leader_isolated"]
    assert isolated["node"].tolist() == ["n2"]  # the partition cut it off from a majority; cutting 2 of 4 links did not


def _raft(faults: list[dict[str, Any]], seed: int = 3) -> RunResult:
    return run(
        scenario_from_dict(
            {
                "name": "raft-isolate",
                "mechanism": "raft",
                "nodes": 5,
                "seed": seed,
                "duration": "3s",
                "network": {"delay": "2ms"},
                "faults": faults,
                "workload": {"kind": "poisson", "rate": "50/s", "until": "2.5s"},
            }
        )
    )


def _leader_at(events: pd.DataFrame, time_ms: float) -> str:
    leaders = events[(events["kind"] == "leader") & (events["time_ms"] <= time_ms)]
    return str(leaders.sort_values("term")["node"].iloc[-1])


def test_raft_partitioned_leader_has_a_failover_time_and_crash_leader_skips_it() -> None:
    """Raft: isolating the leader starts a measured failover; later `crash: leader` takes the new leader, not the stale one."""
    result = _raft([{"at": "1s", "partition": [["leader"], ["rest"]]}, {"at": "2s", "crash": "leader"}])
    events = result.events
    isolated = events[events["kind"] == "leader_isolated"]
    assert len(isolated) == 1
    stale = str(isolated["node"].iloc[0])
    assert stale == _leader_at(events, 1000.0)
    crash = events[events["kind"] == "crash"]
    assert crash["node"].tolist() == [_leader_at(events, 2000.0)] and stale not in crash["node"].tolist()
    assert crash["was_leader"].tolist() == [True]
    assert result.summary["failover_ms_count"] == 2  # the isolation and the crash
    assert 0 < result.summary["failover_ms_max"] < 1000


def test_raft_cut_leader_outgoing_links_is_a_failover() -> None:
    """Cutting every link out of the leader (it still hears the others) forces a new leader; the failover is measured."""
    result = _raft([{"at": "1s", "cut": {"from": "leader", "to": "*"}, "for": "1s"}])
    assert len(result.events[result.events["kind"] == "leader_isolated"]) == 1
    assert result.summary["failover_ms_count"] == 1
    assert result.summary["safety_violations"] == 0


def test_the_leader_word_wins_over_its_name_in_another_group() -> None:
    """`[[leader], [n2, n3]]` with n2 leading puts n2 alone: the other group keeps only n3; with no leader the group is empty."""
    result = claimants(protocol={"claims": {"n2": 1}}, faults=[{"at": "100ms", "partition": [["leader"], ["n2", "n3"]], "for": "100ms"}])
    assert result.events[result.events["kind"] == "partition"]["groups"].tolist() == ["n2 | n3"]
    leaderless = claimants(faults=[{"at": "100ms", "partition": [["leader"], ["rest"]], "for": "100ms"}])
    assert leaderless.events[leaderless.events["kind"] == "partition"]["groups"].tolist() == [" | n0,n1,n2,n3,n4"]
    assert "leader_isolated" not in set(leaderless.events["kind"])


def test_leader_and_rest_are_checked_at_load_time() -> None:
    """'leader' may appear in one group only; 'rest' is a partition word, not a cut target."""
    base = {"name": "x", "mechanism": "raft", "nodes": 3, "duration": "1s"}
    with pytest.raises(ScenarioError, match=r"faults\[0\]\.partition\[1\]: 'leader' is in two groups"):
        scenario_from_dict({**base, "faults": [{"at": "1ms", "partition": [["leader"], ["leader", "n1"]]}]})
    with pytest.raises(ScenarioError, match=r"faults\[0\]\.cut\.to: no node named 'rest'"):
        scenario_from_dict({**base, "faults": [{"at": "1ms", "cut": {"from": "leader", "to": "rest"}}]})


def test_churn_strikes_only_between_start_and_until() -> None:
    """Churn used to ignore `start` and `until` and crash nodes for the whole run; now it keeps to its window."""
    data = {
        "name": "churn-window",
        "mechanism": "raft",
        "nodes": 5,
        "seed": 3,
        "duration": "6s",
        "faults": [{"churn": {"mtbf": "200ms", "mttr": "100ms", "max_down": 1}, "start": "2s", "until": "4s"}],
        "workload": {"kind": "none"},
    }
    events = run(scenario_from_dict(data)).events
    crashes = events.loc[events["kind"] == "crash", "time_ms"]
    recoveries = events.loc[events["kind"] == "recover", "time_ms"]
    assert len(crashes) > 0
    assert crashes.between(2000, 4000).all()
    # Every node churn took down is back by `until` (a repair may not outlast the window).
    assert len(recoveries) == len(crashes) and (recoveries <= 4000).all()


def test_churn_refuses_timing_that_it_would_ignore() -> None:
    """`at`/`for`/`every` on a churn entry did nothing: refused with a one-line error naming the field."""
    data = {
        "name": "churn-at",
        "mechanism": "raft",
        "nodes": 3,
        "faults": [{"churn": {"mtbf": "1s", "mttr": "100ms"}, "at": "1s"}],
    }
    with pytest.raises(ScenarioError, match=r"faults\[0\]\.at: does not apply to churn"):
        scenario_from_dict(data)


CHURN_IGNORES = "does not apply to churn, which strikes at random between 'start' and 'until' (default: the whole run)"


@pytest.mark.parametrize(
    ("timing", "field"),
    [
        ({"at": "0s"}, "at"),
        ({"for": "0s"}, "for"),
        ({"at": "0s", "for": "0s"}, "at"),
        ({"every": "500ms"}, "every"),
        ({"jitter": "10ms"}, "jitter"),
        ({"at": "20s"}, "at"),
    ],
    ids=["at-0", "for-0", "at-and-for-0", "every", "jitter", "at-after-the-end"],
)
def test_churn_refuses_any_strike_timing_even_zero(timing: dict[str, str], field: str) -> None:
    """`at: 0` and `for: 0` passed the check (it tested the value's truth, and 0 ms is false) and did nothing.

    A strike past the end of the run is refused for the same reason first: churn has no strike time to judge.
    """
    data = {
        "name": "churn-0",
        "mechanism": "raft",
        "nodes": 3,
        "duration": "2s",
        "faults": [{"churn": {"mtbf": "1s", "mttr": "100ms"}, **timing}],
    }
    with pytest.raises(ScenarioError) as caught:
        scenario_from_dict(data)
    assert str(caught.value) == f"<scenario>: faults[0].{field}: {CHURN_IGNORES}"


def test_churn_keeps_the_timing_it_reads_and_the_jitter_a_saved_run_writes() -> None:
    """`start` and `until` bound churn's window; `jitter: 0ms` is the default, which every saved scenario.yaml writes back."""
    data = {
        "name": "churn-window",
        "mechanism": "raft",
        "nodes": 3,
        "duration": "2s",
        "faults": [{"churn": {"mtbf": "1s", "mttr": "100ms"}, "start": "0s", "until": "1s", "jitter": "0ms"}],
    }
    scenario = scenario_from_dict(data)
    assert (scenario.faults[0].start, scenario.faults[0].until) == (0.0, 1000.0)
    saved = scenario.resolved()
    assert saved["faults"][0]["jitter"] == "0ms"
    assert scenario_from_dict(saved).faults == scenario.faults


def test_a_fault_naming_the_leader_when_none_leads_is_reported(tmp_path: Any) -> None:
    """`crash: leader` before any election, or a partition isolating the leader then, did nothing: the run warns.

    It left no trace at all (failover_ms_count 0 was the only hint); a leader present later is crashed without a warning.
    """
    from pathlib import Path

    from typer.testing import CliRunner

    from sim.cli import app

    scenario = str(Path(__file__).resolve().parents[1] / "scenarios" / "raft-steady.yaml")
    faults = "faults=[{at: 0s, crash: leader}, {at: 0s, partition: [[leader], [rest]], for: 1s}, {at: 2s, crash: leader}]"
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", scenario, "--set", faults, "--out", str(out), "-q", "--no-plots"])
    assert result.exit_code == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warned == [
        "warning: the crash at 0ms names the leader, but no node led then: that part did nothing",
        "warning: the partition at 0ms names the leader, but no node led then: that part did nothing",
    ]
    events = pd.read_parquet(out / "events.parquet")
    assert (events["kind"] == "crash").sum() == 1  # the leader at 2 s


def test_a_fleets_missed_fault_is_reported_once(tmp_path: Any) -> None:
    """Each plane of a fleet journals the fleet's fault events: the warning is one line for the entry, not one per plane."""
    from pathlib import Path

    from typer.testing import CliRunner

    from sim.cli import app

    fleet = str(Path(__file__).resolve().parents[1] / "scenarios" / "fleet" / "leader-crash.yaml")
    options = ["--set", "faults=[{at: 0s, crash: leader, plane: control}]", "--set", "duration=2500ms", "-q", "--no-plots"]
    result = CliRunner().invoke(app, ["run", fleet, *options, "--out", str(tmp_path / "fleet")])
    assert result.exit_code == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("warning:")] == [
        "warning: the crash at 0ms names the leader, but no node led then: that part did nothing"
    ]


def test_a_repeated_entry_that_keeps_missing_is_one_warning(tmp_path: Any) -> None:
    """With a majority of Raft down from the start nobody is ever elected: `every: 1s, crash: leader` misses at
    each strike, said once with the count. (A mechanism that never has a leader, gossip, is refused at load.)"""
    from pathlib import Path

    from typer.testing import CliRunner

    from sim.cli import app

    raft = str(Path(__file__).resolve().parents[1] / "scenarios" / "raft-steady.yaml")
    faults = "faults=[{at: 0s, crash: [n1, n2, n3]}, {every: 1s, until: 3500ms, crash: leader, for: 100ms}]"
    options = ["--set", faults, "-q", "--no-plots", "--out", str(tmp_path / "r")]
    result = CliRunner().invoke(app, ["run", raft, *options])
    assert result.exit_code == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warned == [
        "warning: the crash at 1s (and 2 more times, the last at 3s) names the leader, but no node led then: that part did nothing"
    ]

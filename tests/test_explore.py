"""`consim explore`: schedules drawn within the bound, oracles that fire, shrinking, resuming, the CLI."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from sim import load_scenario
from sim.cli import app
from sim.explore import FaultBound, ddmin, draw_schedule, explore, judge, plan, schedule_rng
from sim.explore.core import heal_time
from sim.explore.draw import faulty_at_once, within
from sim.units import parse_duration
from tests.checkers.test_raft_checkers import DoubleVoteRaft

BASE = {
    "name": "explore-raft",
    "mechanism": "raft",
    "nodes": 5,
    "seed": 1,
    "duration": "3s",
    "protocol": {"election_timeout": ["150ms", "300ms"], "heartbeat_interval": "50ms"},
    "network": {"delay": {"dist": "uniform", "low": "1ms", "high": "10ms"}},
    "workload": {"kind": "poisson", "rate": "50/s", "until": "2.8s"},
}
NODES = ["n0", "n1", "n2", "n3", "n4"]


@pytest.fixture
def base(tmp_path: Path) -> Path:
    path = tmp_path / "base.yaml"
    path.write_text(yaml.safe_dump(BASE), encoding="utf-8")
    return path


def test_ddmin_finds_the_two_entries_that_matter() -> None:
    """Delta debugging keeps exactly the entries whose presence makes the test fail."""
    calls: list[list[int]] = []

    def fails(items: list[int]) -> bool:
        calls.append(items)
        return 3 in items and 6 in items

    assert ddmin(list(range(10)), fails) == [3, 6]
    assert ddmin([7], lambda items: True) == []
    assert ddmin([1, 2], lambda items: items == [1, 2]) == [1, 2]


def _span(entry: dict) -> tuple[float, float]:
    if "churn" in entry:
        return parse_duration(entry["start"]), parse_duration(entry["until"])
    if "every" in entry:  # repeated: one node at a time, back by the last repeat's end
        assert parse_duration(entry["for"]) < parse_duration(entry["every"])
        return parse_duration(entry["start"]), parse_duration(entry["until"]) + parse_duration(entry["for"])
    return parse_duration(entry["at"]), parse_duration(entry["at"]) + parse_duration(entry["for"])


def _crashed_at_once(faults: list[dict]) -> int:
    """The most crash and churn entries (each at most one node down) in force at one instant."""
    spans = [_span(f) for f in faults if "crash" in f or "churn" in f]
    return max((sum(1 for s, e in spans if s <= p < e) for p, _ in spans), default=0)


@pytest.mark.parametrize("f", [1, 2])
def test_crash_schedules_stay_within_the_bound(f: int) -> None:
    """Within the bound no instant has more than f crash entries in force; every fault heals."""
    most = 0
    for index in range(300):
        data = draw_schedule(BASE, NODES, 3000.0, FaultBound("crash", f), (), schedule_rng(9, index))
        most = max(most, _crashed_at_once(data["faults"]))
        assert heal_time(data["faults"]) is not None
        assert all(_span(e)[1] <= 0.6 * 3000 + 1 for e in data["faults"])
    assert most == f  # the bound is reached, never passed


@pytest.mark.parametrize("f", [1, 2])
def test_beyond_the_bound_the_text_names_the_crashes_drawn(f: int) -> None:
    """Beyond the bound schedules crash f + 1 nodes at once, and the bound's text says f + 1 (it said f)."""
    bound = FaultBound("crash", f)
    most = max(
        _crashed_at_once(draw_schedule(BASE, NODES, 3000.0, bound, (), schedule_rng(9, i), beyond=True)["faults"]) for i in range(300)
    )
    assert most == bound.limit(beyond=True) == f + 1
    assert bound.describe(beyond=True).startswith(f"at most {f + 1} crashed nodes at once, one more than the {f} tolerated")
    assert bound.describe().startswith(f"at most {f} crashed node")


def test_cli_explore_beyond_the_bound_prints_and_records_f_plus_one(base: Path, tmp_path: Path) -> None:
    """`--beyond-bound` prints, and explore.json records, the f + 1 = 3 crashed nodes it draws (both said 2)."""
    out = tmp_path / "x"
    result = CliRunner().invoke(app, ["explore", str(base), "-n", "1", "--beyond-bound", "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert "beyond the bound: at most 3 crashed nodes at once, one more than the 2 tolerated" in result.output
    recorded = json.loads((out / "explore.json").read_text())["bound"]
    assert recorded["at_most"] == 3 and recorded["text"].startswith("at most 3 crashed nodes at once")


def test_byzantine_schedules_count_byzantine_and_crashed_together() -> None:
    """BFT bound: byzantine nodes plus concurrent crashes never exceed f; beyond the bound draws f + 1 liars."""
    for index in range(200):
        data = draw_schedule(BASE, NODES, 3000.0, FaultBound("byzantine", 1), ("equivocate",), schedule_rng(3, index))
        liars = sum(len(e["byzantine"]) for e in data["faults"] if "byzantine" in e)
        assert liars + _crashed_at_once(data["faults"]) <= 1
    bound = FaultBound("byzantine", 1)
    beyond = [draw_schedule(BASE, NODES, 3000.0, bound, ("equivocate",), schedule_rng(3, i), beyond=True) for i in range(50)]
    counts = {len(e["byzantine"]) for d in beyond for e in d["faults"] if "byzantine" in e}
    assert counts == {2}


def test_a_lone_node_draws_no_cut_or_link_change_and_every_schedule_loads() -> None:
    """With one node a cut or a link change could only join it to itself, which does nothing and is refused at load.

    Such an entry is left out (its draws still made, so the rest of the schedule is what it was); with five
    nodes both kinds are still drawn.
    """
    from sim.scenario import scenario_from_dict

    def kinds(nodes: list[str], index: int) -> tuple[set[str], dict[str, Any]]:
        data = draw_schedule({**BASE, "nodes": len(nodes)}, nodes, 3000.0, FaultBound("crash", 0), (), schedule_rng(9, index), beyond=True)
        return {key for entry in data["faults"] for key in ("cut", "set_link") if key in entry}, data

    lone = [kinds(["n0"], i) for i in range(200)]
    assert set().union(*(found for found, _ in lone)) == set()
    for _, data in lone:
        scenario_from_dict(data)  # raises if a drawn entry is refused
    assert set().union(*(kinds(NODES, i)[0] for i in range(200))) == {"cut", "set_link"}


def test_schedules_depend_only_on_the_explore_seed_and_index(base: Path) -> None:
    """Schedule k is the same whether drawn alone or among others; another explore seed draws others."""
    _, _, ten = plan(base, 10, seed=4)
    _, _, three = plan(base, 3, seed=4)
    assert [t.data for t in ten[:3]] == [t.data for t in three]
    _, _, other = plan(base, 3, seed=5)
    assert [t.data for t in other] != [t.data for t in three]
    assert isinstance(schedule_rng(1, 2), random.Random)


def test_liveness_oracle_fires_when_nothing_is_decided_after_the_heal(base: Path) -> None:
    """A schedule whose commands after the last heal never finish is 'stuck' (here: all nodes cut off)."""
    data = {**BASE, "faults": [{"at": "1s", "for": "200ms", "crash": "n0"}]}
    assert judge(data, "test")["outcome"] == "ok"
    silent = {**data, "faults": [*data["faults"], {"at": "100ms", "for": "1300ms", "crash": ["n1", "n2", "n3", "n4"]}]}
    assert judge(silent, "test")["outcome"] == "ok"  # healed at 1.4s, decides again
    never = {**data, "network": {"delay": "2ms", "links": [{"from": "*", "to": "*", "loss": 1.0}]}}
    assert judge(never, "test")["outcome"] == "stuck"


def test_explore_finds_and_shrinks_a_double_voting_raft(base: Path, tmp_path: Path) -> None:
    """A Raft that votes twice in a term is caught by election safety and shrunk to a smaller scenario that still fails.

    The base has a name near the longest allowed: the saved schedules and the shrunk one, whose names add
    `-s<i>` and `-s<i>-minimal`, must still load (they were refused as too long).
    """
    base.write_text(yaml.safe_dump({**BASE, "name": "r" * 95}), encoding="utf-8")
    result = explore(base, schedules=30, seed=0, out=tmp_path / "out", protocol_cls=DoubleVoteRaft)
    assert "election_safety" in set(result.failed["rule"])
    failure = next(f for f in result.failures if f["rule"] == "election_safety" and "minimal" in f)
    original = yaml.safe_load(Path(failure["scenario"]).read_text(encoding="utf-8"))
    minimal = yaml.safe_load(Path(failure["minimal"]).read_text(encoding="utf-8"))
    assert len(minimal["faults"]) <= len(original["faults"])
    assert minimal["nodes"] <= original["nodes"]
    assert parse_duration(minimal["duration"]) <= parse_duration(original["duration"])
    replay = judge(minimal, "minimal", DoubleVoteRaft)
    assert replay["outcome"] == "violation" and "election_safety" in replay["rules"].split(",")
    assert judge(minimal, "minimal")["outcome"] == "ok"  # the real Raft survives the same scenario
    for saved in (failure["scenario"], failure["minimal"]):
        assert load_scenario(Path(saved)).name.startswith("r" * 80)
    runs = pd.read_parquet(tmp_path / "out" / "runs.parquet")
    assert len(runs) == 30 and list(runs["schedule"]) == list(range(30))


def test_explore_finds_nothing_wrong_with_raft(base: Path, tmp_path: Path) -> None:
    """The correct Raft passes the same schedules (no violation, no exception, progress after every heal)."""
    result = explore(base, schedules=30, seed=0, out=tmp_path / "out")
    assert result.failures == []
    assert set(result.runs["outcome"]) <= {"ok"}


def test_explore_resumes_and_matches_a_fresh_run(base: Path, tmp_path: Path) -> None:
    """A second call with more schedules reuses the finished ones; the rows equal a fresh exploration's."""
    first = explore(base, schedules=3, seed=2, out=tmp_path / "a")
    assert (first.executed, first.reused) == (3, 0)
    again = explore(base, schedules=5, seed=2, out=tmp_path / "a")
    assert (again.executed, again.reused) == (2, 3)
    fresh = explore(base, schedules=5, seed=2, out=tmp_path / "b")
    columns = [c for c in fresh.runs.columns if c != "key"]
    pd.testing.assert_frame_equal(again.runs[columns], fresh.runs[columns])


def test_another_seed_in_the_same_folder_reuses_nothing(base: Path, tmp_path: Path) -> None:
    """Rows are keyed by what drew them: a second exploration with another seed in the same folder recomputes."""
    explore(base, schedules=2, seed=0, out=tmp_path / "a")
    other = explore(base, schedules=2, seed=7, out=tmp_path / "a")
    assert (other.executed, other.reused) == (2, 0)
    assert list(other.runs["seed"]) == [t.seed for t in plan(base, 2, seed=7)[2]]


def test_a_schedule_within_the_bound_of_n_may_leave_it_at_a_smaller_n() -> None:
    """Shrinking to fewer nodes must not turn a within-bound failure into an out-of-bound one."""
    faults = [{"byzantine": ["n1"], "behaviour": "silent"}, {"at": "1s", "for": "1s", "crash": "n2"}]
    assert not within(FaultBound("byzantine", 1), faults)  # one liar plus one crashed: two faulty at once
    assert within(FaultBound("byzantine", 1), faults[:1])
    assert not within(FaultBound("byzantine", 0), faults[:1])  # three nodes tolerate no liar
    assert within(FaultBound("none", 0), [{"at": "1s", "for": "1s", "cut": {"from": "n0", "to": "n1"}}])


def test_cli_explore_prints_tables_and_refuses_bad_options(base: Path, tmp_path: Path) -> None:
    """`consim explore` prints the outcome and fault tables; a bad option is one line, exit 2."""
    runner = CliRunner()
    ok = runner.invoke(app, ["explore", str(base), "-n", "2", "--out", str(tmp_path / "x"), "-q"])
    assert ok.exit_code == 0, ok.output
    assert "within the bound: at most 2 crashed nodes at once" in ok.output
    assert "no failures found" in ok.output
    bad = runner.invoke(app, ["explore", str(base), "--budget", "soon"])
    assert bad.exit_code == 2
    assert "--budget" in bad.output and "Traceback" not in bad.output


def test_cli_explore_whose_workers_all_died_says_so_in_one_line_exit_1(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Worker processes lost: one line on stderr, exit 1, no traceback (as `consim sweep`)."""
    import sim.cli_explore
    from sim.errors import WorkersLost

    def lose_workers(*args: object, **kwargs: object) -> None:
        raise WorkersLost("a worker process died while running seed 3 of grid point 0")

    monkeypatch.setattr(sim.cli_explore, "explore_command", lose_workers)
    result = CliRunner().invoke(app, ["explore", str(base), "-n", "2", "-q"])
    assert result.exit_code == 1
    assert result.output.strip() == "error: a worker process died while running seed 3 of grid point 0"


def test_local_and_dask_backends_write_the_same_rows(base: Path, tmp_path: Path) -> None:
    """The same exploration on the process pool and on a local Dask cluster writes identical runs.parquet rows."""
    kwargs = {"schedules": 4, "seed": 5, "jobs": 2, "protocol_cls": DoubleVoteRaft, "shrink_limit": 1}
    local = explore(base, out=tmp_path / "local", **kwargs)
    dask = explore(base, out=tmp_path / "dask", backend="dask", **kwargs)
    assert (local.executed, dask.executed) == (4, 4)
    rows = [pd.read_parquet(tmp_path / name / "runs.parquet") for name in ("local", "dask")]
    pd.testing.assert_frame_equal(rows[0], rows[1])
    assert list(rows[0]["schedule"]) == [0, 1, 2, 3]


BFT_BASES = {
    "pbft": "scenarios/pbft-normal.yaml",
    "hotstuff": "scenarios/hotstuff-normal.yaml",
    "tendermint": "scenarios/tendermint-normal.yaml",
    "voting": "scenarios/voting-majority-third-faulty.yaml",
    "attestation": "scenarios/attestation-forgers.yaml",
}
REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("mechanism", sorted(BFT_BASES))
def test_byzantine_schedules_use_every_behaviour_the_mechanism_accepts(mechanism: str) -> None:
    """Within the bound, liars draw every behaviour the mechanism accepts (double votes and equivocation
    included; forge only where messages are authenticated), with the parameters each behaviour reads."""
    from sim.protocols.base import get_protocol

    _, bound, tasks = plan(REPO / BFT_BASES[mechanism], 200, seed=2)
    cls = get_protocol(mechanism)
    entries = [e for t in tasks for e in t.data["faults"] if "byzantine" in e]
    assert bound.kind == "byzantine" and bound.f >= 1
    assert {e["behaviour"] for e in entries} == set(cls.byzantine_behaviours)
    assert all(name not in bound.honest for e in entries for name in e["byzantine"])
    assert all(within(bound, t.data["faults"]) for t in tasks)
    if "fork" in cls.byzantine_behaviours:
        assert {e["params"]["depth"] for e in entries if e["behaviour"] == "fork"} == {3, 4}


def test_beyond_the_bound_a_crash_tolerant_mechanism_meets_double_voters_and_equivocators(base: Path) -> None:
    """Raft tolerates no liar: beyond its bound schedules draw one, with every behaviour Raft accepts but forge
    (Raft's messages are not authenticated, so no model covers a forged sender)."""
    from sim.protocols.raft import Raft

    _, bound, tasks = plan(base, 200, seed=2, beyond=True)
    entries = [e for t in tasks for e in t.data["faults"] if "byzantine" in e]
    assert {e["behaviour"] for e in entries} == set(Raft.byzantine_behaviours) - {"forge"}
    assert {len(e["byzantine"]) for e in entries} == {1}
    _, _, inside = plan(base, 200, seed=2)
    assert not any("byzantine" in e for t in inside for e in t.data["faults"])


def test_a_drawn_double_voter_really_votes_twice(tmp_path: Path) -> None:
    """Voting within its bound: a drawn double_vote liar's second ballots reach the coordinator, which catches them."""
    from sim import run, scenario_from_dict

    _, bound, tasks = plan(REPO / BFT_BASES["voting"], 60, seed=2)
    task = next(t for t in tasks if any(e.get("behaviour") == "double_vote" and "from" not in e for e in t.data["faults"]))
    result = run(scenario_from_dict(task.data, "drawn"))
    assert result.summary["double_votes_detected"] > 0
    assert result.violations.empty
    assert bound.honest == ("n0",)


@pytest.mark.parametrize("mechanism", ["hotstuff", "tendermint"])
def test_hotstuff_and_tendermint_pass_exploration_within_their_bound(mechanism: str, tmp_path: Path) -> None:
    """The correct HotStuff and Tendermint survive liars (forks, equivocation), crashes and network faults within f < n/3."""
    data = yaml.safe_load((REPO / BFT_BASES[mechanism]).read_text(encoding="utf-8"))
    data.update(duration="1.5s", workload={"kind": "poisson", "rate": "50/s", "until": "1.2s"})
    path = tmp_path / "base.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = explore(path, schedules=8, seed=1, out=tmp_path / "out")
    assert result.bound.kind == "byzantine" and result.bound.f == 1
    assert result.failures == [], result.runs[["schedule", "kinds", "outcome", "rule"]].to_string()
    assert result.runs["kinds"].str.contains("byzantine").any()


def _scenario(mechanism: str, nodes: int | list, protocol: dict, workload: dict) -> Any:
    from sim import scenario_from_dict

    data = {"name": "b", "mechanism": mechanism, "nodes": nodes, "duration": "2s", "protocol": protocol, "workload": workload}
    return scenario_from_dict(data, "bound")


QUESTIONS = {"kind": "questions", "every": "100ms"}


@pytest.mark.parametrize("mechanism", ["pbft", "hotstuff", "tendermint"])
def test_a_configured_f_is_the_bound_not_the_most_n_allows(mechanism: str) -> None:
    """10 replicas configured with `protocol.f: 1` size their quorums for one fault: the bound is 1 (it was 3);
    unset, it is the most n tolerates; never more than n allows."""
    from sim.protocols.registry import get_mechanism

    poisson = {"kind": "poisson", "rate": "50/s"}
    fault_bound = get_mechanism(mechanism).fault_bound
    assert fault_bound(_scenario(mechanism, 10, {"f": 1}, poisson)) == ("byzantine", 1)
    assert fault_bound(_scenario(mechanism, 10, {"f": 0}, poisson)) == ("byzantine", 0)
    assert fault_bound(_scenario(mechanism, 10, {}, poisson)) == ("byzantine", 3)


def test_explore_of_pbft_configured_for_f_1_draws_one_liar_and_two_beyond(tmp_path: Path) -> None:
    """PBFT on 8 replicas with f: 1 (quorum 5): two colluding equivocators break agreement, which explore
    reported "within the bound" (at most 2); within it now draws at most one faulty node, beyond it two."""
    data = {
        "name": "pbft-n8-f1",
        "mechanism": "pbft",
        "nodes": 8,
        "seed": 1,
        "duration": "1s",
        "protocol": {"f": 1},
        "network": {"delay": {"dist": "constant", "value": "5ms"}},
        "workload": {"kind": "poisson", "rate": "50/s", "until": "800ms"},
    }
    path = tmp_path / "base.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    _, bound, tasks = plan(path, 100, seed=0)
    assert bound == FaultBound("byzantine", 1)
    assert not within(bound, [{"byzantine": ["n0", "n1"], "behaviour": "equivocate"}])
    assert all(within(bound, t.data["faults"]) for t in tasks)
    assert bound.describe(beyond=True).startswith("at most 2 byzantine-or-crashed nodes, one more than the 1 tolerated")
    _, beyond, drawn = plan(path, 100, seed=0, beyond=True)
    assert max(faulty_at_once(t.data["faults"]) for t in drawn) == 2


@pytest.mark.parametrize(
    ("nodes", "quorums", "f"),
    [
        (5, {"phase1": 4, "phase2": 2}, 1),
        ([{"name": "a", "weight": 10}, {"name": "b"}, {"name": "c"}, {"name": "d"}, {"name": "e"}], "weighted", 0),
    ],
)
def test_explore_of_multipaxos_draws_crashes_within_its_configured_quorums(tmp_path: Path, nodes: Any, quorums: Any, f: int) -> None:
    """Flexible {phase1: 4, phase2: 2} of 5 survives one crash and weights 10+1+1+1+1 none (the 10 is a majority):
    explore said "at most 2 crashed nodes" for both, floor((5 - 1) / 2); now within draws f, beyond f + 1."""
    data = {
        "name": "mp-bound",
        "mechanism": "multipaxos",
        "nodes": nodes,
        "seed": 1,
        "duration": "2s",
        "protocol": {"quorums": quorums},
        "network": {"delay": {"dist": "uniform", "low": "1ms", "high": "10ms"}},
        "workload": {"kind": "poisson", "rate": "50/s", "until": "1.8s"},
    }
    path = tmp_path / "base.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    _, bound, tasks = plan(path, 100, seed=0)
    assert bound == FaultBound("crash", f)
    assert bound.describe().startswith(f"at most {f} crashed node")
    assert all(within(bound, t.data["faults"]) for t in tasks)
    _, _, beyond = plan(path, 100, seed=0, beyond=True)
    assert max(faulty_at_once(t.data["faults"]) for t in beyond) == f + 1


def test_gossip_voting_and_attestation_declare_their_own_bounds() -> None:
    """Gossip: any n - 1 crashed at once; voting: the faulty voters max_faulty weighs, coordinator honest;
    attestation: faulty nodes plus configured false attesters below the lower threshold."""
    from sim.protocols.attestation import AttestationProtocol
    from sim.protocols.gossip import Gossip
    from sim.protocols.voting import Voting

    updates = {"kind": "updates", "rate": "5/s"}
    assert Gossip.fault_bound(_scenario("gossip", 6, {}, updates)) == ("crash", 5)
    assert Voting.fault_bound(_scenario("voting", 7, {}, QUESTIONS)) == ("byzantine", 3, ("n0",))
    assert Voting.fault_bound(_scenario("voting", 7, {"rule": "supermajority"}, QUESTIONS)) == ("byzantine", 2, ("n0",))
    assert Voting.fault_bound(_scenario("voting", 7, {"rule": "unanimous"}, QUESTIONS)) == ("byzantine", 0, ("n0",))
    assert Voting.fault_bound(_scenario("voting", 7, {"max_faulty": 1, "coordinator": "n3"}, QUESTIONS)) == ("byzantine", 1, ("n3",))
    weighted = [{"name": "a", "weight": 5}, {"name": "b"}, {"name": "c"}, {"name": "d", "weight": 3}]
    # Unequal weights: max_faulty is just below half the weight (5), so d and b (4) fit, not c too; the coordinator a stays honest.
    assert Voting.fault_bound(_scenario("voting", weighted, {"rule": "weighted"}, QUESTIONS)) == ("byzantine", 2, ("a",))
    assert Voting.fault_bound(_scenario("voting", weighted, {"rule": "weighted", "max_faulty": 4}, QUESTIONS)) == ("byzantine", 2, ("a",))
    claims = {"kind": "claims", "every": "100ms"}
    assert AttestationProtocol.fault_bound(_scenario("attestation", 12, {"threshold": 3}, claims)) == ("byzantine", 2)
    lower = {"threshold": 5, "reject_threshold": 2, "attesters": 0.5}
    assert AttestationProtocol.fault_bound(_scenario("attestation", 12, lower, claims)) == ("byzantine", 1)
    liars = {"threshold": 4, "attesters": ["n0", "n1", "n2", "n3", "n4"], "false_attesters": ["n0", "n1"]}
    assert AttestationProtocol.fault_bound(_scenario("attestation", 12, liars, claims)) == ("byzantine", 1)


def test_a_voter_weighing_half_the_total_is_beyond_the_weighted_bound() -> None:
    """Weights 1+3+1+1, rule weighted: a corrupt weight-3 voter ties every question against the honest 3 (none of 39
    decided), yet the bound admitted it (max_faulty defaulted to half the weight itself); equal weights agree."""
    from sim.protocols.voting import Voting

    weights = [{"name": "c", "weight": 1}, {"name": "heavy", "weight": 3}, {"name": "a"}, {"name": "b"}]
    bound = FaultBound(*Voting.fault_bound(_scenario("voting", weights, {"rule": "weighted"}, QUESTIONS)))
    assert bound == FaultBound("byzantine", 0, ("c",))
    assert not within(bound, [{"byzantine": ["heavy"], "behaviour": "corrupt"}])
    # Four equal voters: two are half the weight, so one is the most within the bound.
    assert Voting.fault_bound(_scenario("voting", 4, {"rule": "weighted"}, QUESTIONS)) == ("byzantine", 1, ("n0",))


def test_gossip_schedules_crash_many_but_every_fault_heals_and_no_one_lies() -> None:
    """Within gossip's bound schedules crash several nodes at once, never all, never lie, and always heal."""
    _, bound, tasks = plan(REPO / "scenarios/gossip-partition-heal.yaml", 200, seed=4)
    assert bound == FaultBound("crash", 39)
    assert max(faulty_at_once(t.data["faults"]) for t in tasks) >= 2
    assert all(within(bound, t.data["faults"]) and heal_time(t.data["faults"]) is not None for t in tasks)
    assert not any("byzantine" in e for t in tasks for e in t.data["faults"])


def test_attestation_passes_exploration_within_its_bound(tmp_path: Path) -> None:
    """Liars (forgers, silent, corrupt ...) below the threshold, crashes and network faults: no attestation checker fires."""
    data = {
        "name": "attest",
        "mechanism": "attestation",
        "nodes": 8,
        "seed": 1,
        "duration": "1.5s",
        "protocol": {"attesters": 0.5, "accuracy": 0.95, "threshold": 3, "spread": "broadcast"},
        "network": {"delay": {"dist": "uniform", "low": "1ms", "high": "10ms"}},
        "workload": {"kind": "claims", "every": "100ms", "p_true": 0.5},
    }
    path = tmp_path / "base.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = explore(path, schedules=4, seed=0, out=tmp_path / "out")
    assert result.bound == FaultBound("byzantine", 2)
    assert result.failures == [], result.runs[["schedule", "kinds", "outcome", "rule"]].to_string()
    assert result.runs["kinds"].str.contains("byzantine").any()


# Schedule 1159 of a campaign on pbft-normal: byzantine n0 omits 90% of what it sends and the leader
# is isolated again and again until 1.8 s. By then the view-change timers have backed off (x2 per
# view change), so the views that follow wait 600 ms and more: nothing was decided between the heal
# and the end at 3 s, and explore called it stuck. Run to 6 s, every command after the heal finishes.
# (The schedule's own seed, 217373332: it still looks stuck at 3 s with view-changes and new-views
# charged a verify per signed message the receiver has not checked before.)
BACKED_OFF = {
    "name": "pbft-backed-off",
    "mechanism": "pbft",
    "nodes": 4,
    "seed": 217373332,
    "duration": "3s",
    "protocol": {"checkpoint_interval": 16, "view_change_timeout": "300ms", "max_backoff": 64},
    "network": {"delay": {"dist": "lognormal", "median": "5ms", "sigma": 0.3}},
    "workload": {"kind": "poisson", "clients": 1, "rate": 100.0, "until": "2500ms"},
    "measure": {"from": "ready"},
    "crypto": {"sign": "0.05ms", "verify": "0.1ms"},
    "faults": [
        {"byzantine": ["n0"], "behaviour": "omit", "params": {"fraction": 0.9}},
        {"at": "1253ms", "for": "271ms", "partition": [["n2", "n3"], ["n0", "n1"]]},
        {"every": "98ms", "start": "281ms", "until": "1415ms", "for": "87ms", "partition": [["leader"], ["rest"]]},
        {"every": "139ms", "start": "629ms", "until": "1670ms", "for": "130ms", "partition": [["leader"], ["rest"]]},
    ],
}


def test_liveness_is_judged_over_a_run_long_enough_for_backed_off_timers() -> None:
    """A schedule that looks stuck only because the run ends before the backed-off timers expire is rerun longer, and passes."""
    from sim.protocols.registry import get_mechanism
    from sim.scenario import scenario_from_dict

    scenario = scenario_from_dict(BACKED_OFF, "test")
    pbft = get_mechanism("pbft")
    recovery = pbft.recovery_time(scenario, pbft.config.model_validate(scenario.protocol))
    assert recovery == 3 * 300.0 * 64  # a request's timer, then f + 1 new-view waits, all at the cap
    row = judge(BACKED_OFF, "test")
    assert row["outcome"] == "ok"
    assert row["liveness"] == 1.0
    healed = 1670.0 + 130.0
    assert row["judged_ms"] == math.ceil((healed + recovery) / 0.8)  # its last fifth is the grace
    never = {**BACKED_OFF, "network": {"delay": "2ms", "links": [{"from": "*", "to": "*", "loss": 1.0}]}}
    row = judge(never, "test")
    assert (row["outcome"], row["judged_ms"]) == ("stuck", math.ceil((healed + recovery) / 0.8))
    assert judge(BASE, "test")["judged_ms"] is None  # nothing looked stuck: the run is judged as it is


def _names_leader(entry: dict[str, Any]) -> bool:
    targets = [entry.get("crash"), *(entry.get("partition") or []), *(entry.get("cut") or {}).values()]
    return any(t == "leader" or (isinstance(t, list) and "leader" in t) for t in targets)


@pytest.mark.parametrize("mechanism", ["voting", "attestation"])
def test_a_mechanism_that_never_leads_draws_no_leader_target(mechanism: str) -> None:
    """Loading refuses `leader` where nobody ever leads: no drawn schedule names it, so none comes back 'invalid'."""
    from sim import scenario_from_dict

    _, _, tasks = plan(REPO / BFT_BASES[mechanism], 40, seed=3)
    assert not any(_names_leader(e) for t in tasks for e in t.data["faults"])
    assert any("crash" in e for t in tasks for e in t.data["faults"])
    for task in tasks:
        scenario_from_dict(task.data, task.source)


def test_a_mechanism_that_leads_still_draws_leader_targets(base: Path) -> None:
    _, _, tasks = plan(base, 40, seed=3)
    assert any(_names_leader(e) for t in tasks for e in t.data["faults"])

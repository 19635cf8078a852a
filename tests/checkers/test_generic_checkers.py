"""Agreement, integrity and validity on hand-built tables; integrity seen to fire on broken voting
and attestation (the checker those mechanisms run)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from sim import run, scenario_from_dict
from sim.checkers.agreement import check_agreement, check_integrity, check_validity, faulty_nodes
from sim.protocols.attestation import AttestationProtocol
from sim.protocols.base import NOOP
from sim.protocols.voting import Voting
from sim.records import DECISION_COLUMNS, EVENT_COLUMNS, REQUEST_COLUMNS, RunTables


def tables(decisions: list[tuple[float, str, Any, str, int]], byzantine: tuple[str, ...] = (), requests: tuple[str, ...] = ()) -> RunTables:
    """Tables with the given decisions (time, node, slot, value, incarnation), byzantine nodes and submitted commands."""
    events = pd.DataFrame([(0.0, n, "byzantine") for n in byzantine], columns=list(EVENT_COLUMNS))
    reqs = pd.DataFrame([(c, "client0", 0.0, 1.0, 1.0, 0) for c in requests], columns=list(REQUEST_COLUMNS))
    return RunTables(pd.DataFrame(decisions, columns=DECISION_COLUMNS), pd.DataFrame(), events, reqs)


def details(violations: list[dict[str, Any]]) -> list[tuple[float, str, str]]:
    return [(v["time_ms"], v["nodes"], v["rule"]) for v in violations]


def test_agreement_names_the_first_disagreement_per_slot_among_honest_nodes() -> None:
    """Slot 1 splits a/c (at c's decision), slot 2 agrees; a byzantine node's decisions are not judged."""
    rows = [(1, "a", 1, "x", 0), (2, "b", 1, "x", 0), (3, "c", 1, "y", 0), (4, "d", 1, "z", 0), (5, "a", 2, "w", 0), (6, "b", 2, "w", 0)]
    assert details(check_agreement(tables(rows), None)) == [(3, "a,c", "agreement")]  # type: ignore[arg-type]
    assert check_agreement(tables(rows, byzantine=("c", "d")), None) == []  # type: ignore[arg-type]
    assert faulty_nodes(tables(rows, byzantine=("c",))) == {"c"}


def test_integrity_allows_a_replay_after_recovery_but_not_within_an_incarnation() -> None:
    """The same slot twice in one incarnation is flagged (at the second); once per incarnation is fine."""
    ok = tables([(1, "a", "q1", "yes", 0), (9, "a", "q1", "yes", 1)])
    assert check_integrity(ok, None) == []  # type: ignore[arg-type]
    bad = tables([(1, "a", "q1", "yes", 0), (2, "a", "q2", "no", 0), (3, "a", "q1", "no", 0)])
    assert details(check_integrity(bad, None)) == [(3, "a", "integrity")]  # type: ignore[arg-type]
    assert check_integrity(tables([(1, "a", "q1", "yes", 0), (3, "a", "q1", "no", 0)], byzantine=("a",)), None) == []  # type: ignore[arg-type]


def test_integrity_flags_a_different_value_after_recovery() -> None:
    """A recovered node may decide a slot again, but only with the value it decided before: one
    violation per node and slot, at the first different value, named once; a repeat within an
    incarnation is still reported as such, and not again as a change."""
    rows = [(1, "a", "q1", "yes", 0), (5, "b", "q1", "no", 0), (9, "a", "q1", "no", 1), (12, "a", "q1", "x", 2)]
    [changed] = check_integrity(tables(rows), None)  # type: ignore[arg-type]
    assert (changed["time_ms"], changed["nodes"], changed["rule"]) == (9, "a", "integrity")
    assert changed["detail"] == "slot q1 decided 'no' in incarnation 1 after 'yes' in incarnation 0"
    same = tables([(1, "a", 7, "c:1", 0), (2, "a", 8, "c:2", 0), (9, "a", 7, "c:1", 1), (9, "a", 8, "c:2", 1), (20, "a", 7, "c:1", 2)])
    assert check_integrity(same, None) == []  # type: ignore[arg-type]
    both = check_integrity(tables([(1, "a", "q1", "yes", 0), (2, "a", "q1", "no", 0), (9, "a", "q1", "no", 1)]), None)  # type: ignore[arg-type]
    assert details(both) == [(2, "a", "integrity"), (9, "a", "integrity")]
    assert check_integrity(tables([(1, "a", "q1", "yes", 0), (9, "a", "q1", "no", 1)], byzantine=("a",)), None) == []  # type: ignore[arg-type]


def test_integrity_allows_pbft_replicas_re_executing_after_a_restart() -> None:
    """A PBFT replica that crashes and recovers decides again slots it had decided (re-execution
    from its stable checkpoint), with the same values: no violation."""
    result = run(
        scenario_from_dict(
            {
                "name": "p",
                "mechanism": "pbft",
                "nodes": 4,
                "seed": 1,
                "duration": "2s",
                "network": {"delay": {"dist": "lognormal", "median": "5ms", "sigma": 0.3}},
                "faults": [{"at": "800ms", "crash": "n2", "for": "300ms"}],
                "workload": {"kind": "poisson", "rate": "50/s", "until": "1.5s"},
            }
        )
    )
    d = result.decisions
    replayed = d.groupby(["node", "slot"])["incarnation"].nunique()
    assert (replayed > 1).sum() > 10  # slots decided in both incarnations of n2
    assert result.violations.empty


def test_validity_accepts_submitted_commands_and_noops_only() -> None:
    """A decided value must come from a client (or be a no-op); each invented value is named once."""
    rows = [(1, "a", 1, "c:1", 0), (2, "a", 2, NOOP, 0), (3, "a", 3, "bogus", 0), (4, "b", 3, "bogus", 0)]
    assert details(check_validity(tables(rows, requests=("c:1",)), None)) == [(3, "a", "validity")]  # type: ignore[arg-type]
    assert check_validity(tables(rows[:2], requests=("c:1",)), None) == []  # type: ignore[arg-type]


def test_validity_on_text_columns_of_either_kind() -> None:
    """Arrow text columns (pandas' default) and Python-object ones give the same violations; a missing value is never valid."""
    rows = [(1, "a", 1, "c:1", 0), (2, "a", 2, NOOP, 0), (3, "a", 3, "bogus", 0), (4, "b", 4, None, 0)]
    arrow = tables(rows, requests=("c:1",))
    assert isinstance(arrow.decisions["value"].dtype, pd.StringDtype)
    objects = tables(rows, requests=("c:1",))
    objects.decisions["value"] = objects.decisions["value"].astype(object)
    objects.requests["cmd_id"] = objects.requests["cmd_id"].astype(object)
    for table in (arrow, objects):
        assert details(check_validity(table, None)) == [(3, "a", "validity"), (4, "b", "validity")]  # type: ignore[arg-type]


# --- broken voting and attestation make integrity fire -------------------------------------------


class ReopeningVoting(Voting):
    """Broken: a collector keeps re-deciding a closed question on every later ballot."""

    def _evaluate(self, qid: str, final: bool) -> None:
        poll = self.polls.get(qid)
        super()._evaluate(qid, final)
        if poll is not None and qid not in self.polls:
            self.polls[qid] = poll  # forget that it was closed


class FickleAttestation(AttestationProtocol):
    """Broken: a node judges a claim again each time another attestation arrives."""

    def _hold(self, att: Any) -> None:
        super()._hold(att)
        self.judged.pop(att.claim_id, None)


def voting_scenario() -> Any:
    return scenario_from_dict(
        {
            "name": "v",
            "mechanism": "voting",
            "nodes": 5,
            "duration": "1s",
            "protocol": {"accuracy": 1.0, "timeout": "50ms", "max_faulty": 0},
            "network": {"delay": {"dist": "uniform", "low": "1ms", "high": "5ms"}},
            "workload": {"kind": "questions", "every": "100ms", "truth": "yes"},
        }
    )


def attestation_scenario() -> Any:
    return scenario_from_dict(
        {
            "name": "a",
            "mechanism": "attestation",
            "nodes": 10,
            "duration": "1s",
            "protocol": {"attesters": ["n0", "n1", "n2", "n3"], "accuracy": 1.0, "threshold": 2, "spread": "broadcast"},
            "network": {"delay": {"dist": "uniform", "low": "1ms", "high": "5ms"}},
            "workload": {"kind": "claims", "every": "100ms", "p_true": 1.0},
        }
    )


def test_integrity_fires_on_a_collector_that_decides_a_question_twice() -> None:
    """The real collector decides each question once; the reopening one is caught."""
    assert run(voting_scenario()).violations.empty
    broken = run(voting_scenario(), protocol_cls=ReopeningVoting)
    assert set(broken.violations["rule"]) == {"integrity"}


def test_integrity_fires_on_a_node_that_judges_a_claim_twice() -> None:
    """The real node judges each claim once; the fickle one is caught."""
    assert run(attestation_scenario()).violations.empty
    broken = run(attestation_scenario(), protocol_cls=FickleAttestation)
    assert set(broken.violations["rule"]) == {"integrity"}

"""Exactly-once and gapless execution: on hand-built tables, and seen to fire on broken Multi-Paxos."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from sim import run, scenario_from_dict
from sim.checkers.execution import STATE_INSTALLED, check_exactly_once, check_gapless, gapless_from
from sim.protocols.base import NOOP, ClientReply
from sim.protocols.multipaxos import MultiPaxos
from sim.protocols.pbft import Pbft
from sim.protocols.raft import Raft
from sim.records import DECISION_COLUMNS, EVENT_COLUMNS, REQUEST_COLUMNS, RunTables


def tables(decisions: list[tuple[float, str, int, str, int]], events: list[dict[str, Any]] = ()) -> RunTables:  # type: ignore[assignment]
    """Tables holding only the given decisions (time, node, slot, value, incarnation) and events."""
    frame = pd.DataFrame(decisions, columns=DECISION_COLUMNS)
    fixed = list(EVENT_COLUMNS)
    extra = sorted({k for e in events for k in e} - set(fixed))
    return RunTables(
        frame,
        pd.DataFrame(),
        pd.DataFrame(list(events), columns=[*fixed, *extra]),
        pd.DataFrame(columns=REQUEST_COLUMNS),
    )


def byzantine(node: str, start: float, stop: float = math.inf) -> dict[str, Any]:
    return {"time_ms": 0.0, "node": node, "kind": "byzantine", "behaviour": "equivocate", "from_ms": start, "until_ms": stop}


def rules(violations: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(v["nodes"], v["detail"]) for v in violations]


# --- exactly-once, hand-built ------------------------------------------------------------------


def test_exactly_once_allows_replays_and_noops_but_not_a_second_slot() -> None:
    """A replay after recovery (same slot) and repeated no-ops are fine; one command in two slots is not."""
    ok = tables([(1, "a", 1, "c:1", 0), (2, "a", 2, NOOP, 0), (3, "a", 3, NOOP, 0), (9, "a", 1, "c:1", 1), (4, "b", 1, "c:1", 0)])
    assert check_exactly_once(ok, None) == []  # type: ignore[arg-type]
    bad = tables([(1, "a", 1, "c:1", 0), (2, "a", 2, "c:2", 0), (5, "a", 3, "c:1", 0), (6, "b", 1, "c:1", 0)])
    [v] = check_exactly_once(bad, None)  # type: ignore[arg-type]
    assert (v["time_ms"], v["nodes"], v["rule"]) == (5, "a", "exactly_once")
    assert "slot 1 and again in slot 3" in v["detail"]


def test_exactly_once_skips_decisions_flagged_as_skipped_duplicates() -> None:
    """A copy its state machine skipped (duplicate=True) executed nothing: not a second execution."""
    rows = [(1, "a", 1, "c:1", 0), (2, "a", 2, "c:1", 0)]
    flagged = tables(rows)
    flagged.decisions["duplicate"] = [False, True]
    assert check_exactly_once(flagged, None) == []  # type: ignore[arg-type]
    flagged.decisions["duplicate"] = [False, None]
    assert [v["rule"] for v in check_exactly_once(flagged, None)] == ["exactly_once"]  # type: ignore[arg-type]


def test_exactly_once_across_incarnations() -> None:
    """A recovered node that executes a command in a new slot is caught."""
    bad = tables([(1, "a", 1, "c:1", 0), (9, "a", 1, "c:1", 1), (10, "a", 2, "c:1", 1)])
    assert [v["time_ms"] for v in check_exactly_once(bad, None)] == [10]  # type: ignore[arg-type]


def test_exactly_once_judges_a_byzantine_node_outside_its_window_only() -> None:
    """Within its byzantine window a node is not judged; before and after it, it is."""
    rows = [(1, "a", 1, "c:1", 0), (150, "a", 5, "c:1", 0), (300, "b", 1, "c:2", 0), (350, "b", 7, "c:2", 0)]
    within = tables(rows, [byzantine("a", 100, 200)])
    assert rules(check_exactly_once(within, None)) == [("b", "b decided 'c:2' in slot 1 and again in slot 7")]  # type: ignore[arg-type]
    after = tables([*rows, (250, "a", 6, "c:1", 0)], [byzantine("a", 100, 200), byzantine("b", 0, 320)])
    assert rules(check_exactly_once(after, None)) == [("a", "a decided 'c:1' in slot 1 and again in slot 6")]  # type: ignore[arg-type]


# --- gapless, hand-built -----------------------------------------------------------------------


def test_gapless_accepts_in_order_execution_and_replays() -> None:
    """1, 2, 3; a crash; a replay from 1 (Raft) or a continuation from 4 (Multi-Paxos) are both fine."""
    replay = tables([(1, "a", 1, "x", 0), (2, "a", 2, "y", 0), (3, "a", 3, "z", 0), (9, "a", 1, "x", 1), (9, "a", 2, "y", 1)])
    resume = tables([(1, "a", 1, "x", 0), (2, "a", 2, "y", 0), (9, "a", 3, "z", 1), (9, "a", 4, "w", 1)])
    assert check_gapless(replay, None) == [] and check_gapless(resume, None) == []  # type: ignore[arg-type]


def test_gapless_flags_holes_within_and_across_incarnations() -> None:
    """Skipping a slot is flagged once, at the decision that skipped; so is a recovery that starts too far."""
    within = tables([(1, "a", 1, "x", 0), (2, "a", 2, "y", 0), (3, "a", 5, "z", 0), (4, "a", 6, "w", 0)])
    assert rules(check_gapless(within, None)) == [("a", "a executed slot 5 without slots 3..4")]  # type: ignore[arg-type]
    across = tables([(1, "a", 1, "x", 0), (9, "a", 3, "z", 1)])
    assert rules(check_gapless(across, None)) == [("a", "a executed slot 3 without slot 2")]  # type: ignore[arg-type]
    late_start = tables([(1, "a", 2, "x", 0)])
    assert rules(check_gapless(late_start, None)) == [("a", "a executed slot 2 without slot 1")]  # type: ignore[arg-type]
    from_zero = gapless_from(0)
    assert from_zero(tables([(1, "a", 0, "x", 0), (2, "a", 1, "y", 0)]), None) == []  # type: ignore[arg-type]
    assert rules(from_zero(tables([(1, "a", 1, "y", 0)]), None)) == [("a", "a executed slot 1 without slot 0")]  # type: ignore[arg-type]


def walked(table: RunTables) -> list[str]:
    """The nodes the gapless checker walks row by row (the others are plainly gapless)."""
    from sim.checkers.execution import _steps

    return [step[-1] for step in _steps(table, 1)]


def test_gapless_reads_each_node_in_time_order_not_recording_order() -> None:
    """Rows recorded out of time order: 1, 2, 3 in time is fine, 1, 3, 2 in time is a hole (the whole-column check agrees with the walk)."""
    fine = tables([(2, "a", 2, "y", 0), (1, "b", 1, "x", 0), (1, "a", 1, "x", 0), (3, "a", 3, "z", 0), (2, "b", 2, "y", 0)])
    assert walked(fine) == [] and check_gapless(fine, None) == []  # type: ignore[arg-type]
    hole = tables([(1, "a", 1, "x", 0), (3, "a", 2, "y", 0), (2, "a", 3, "z", 0), (1, "b", 1, "x", 0)])
    assert walked(hole) == ["a"]
    assert rules(check_gapless(hole, None)) == [("a", "a executed slot 3 without slot 2")]  # type: ignore[arg-type]
    # A node's incarnation changing, or a node starting past the first slot, is always walked.
    assert walked(tables([(1, "a", 1, "x", 0), (2, "a", 2, "y", 1)])) == ["a"]
    assert walked(tables([(1, "a", 1, "x", 0), (2, "b", 2, "y", 0)])) == ["b"]


def test_gapless_plain_check_covers_installed_states() -> None:
    """A snapshot that continues the log is plain; one followed by a hole is walked and reported."""
    event = {"time_ms": 5.0, "node": "a", "kind": STATE_INSTALLED, "slot": 10}
    other = {"time_ms": 5.0, "node": "b", "kind": STATE_INSTALLED, "slot": 10}
    fine = tables([(1, "a", 1, "x", 0), (6, "a", 11, "y", 0), (7, "b", 11, "y", 0)], [event, other])
    assert walked(fine) == [] and check_gapless(fine, None) == []  # type: ignore[arg-type]
    hole = tables([(1, "a", 1, "x", 0), (6, "a", 12, "y", 0), (7, "b", 11, "y", 0)], [event, other])
    assert walked(hole) == ["a"]
    assert rules(check_gapless(hole, None)) == [("a", "a executed slot 12 without slot 11")]  # type: ignore[arg-type]


def test_gapless_installed_state_fills_what_it_covers() -> None:
    """A snapshot or state transfer up to slot 10 lets execution continue at 11, not at 12."""
    event = {"time_ms": 5.0, "node": "a", "kind": STATE_INSTALLED, "slot": 10}
    fine = tables([(1, "a", 1, "x", 0), (6, "a", 11, "y", 0)], [event])
    assert check_gapless(fine, None) == []  # type: ignore[arg-type]
    hole = tables([(1, "a", 1, "x", 0), (6, "a", 12, "y", 0)], [event])
    assert rules(check_gapless(hole, None)) == [("a", "a executed slot 12 without slot 11")]  # type: ignore[arg-type]


def test_gapless_judges_a_byzantine_node_outside_its_window_only() -> None:
    """A hole made inside the node's byzantine window is not judged; the same hole after it is."""
    rows = [(1, "a", 1, "x", 0), (150, "a", 3, "z", 0), (300, "a", 5, "w", 0)]
    assert rules(check_gapless(tables(rows, [byzantine("a", 100, 200)]), None)) == [("a", "a executed slot 5 without slot 4")]  # type: ignore[arg-type]
    assert check_gapless(tables(rows, [byzantine("a", 100)]), None) == []  # type: ignore[arg-type]


# --- attached to every log mechanism -------------------------------------------------------------


def test_log_mechanisms_run_both_checkers() -> None:
    """Raft, PBFT and Multi-Paxos (whose log starts at slot 0) all run exactly-once and gapless."""
    for cls in (Raft, Pbft, MultiPaxos):
        names = [c.__name__ for c in cls.checkers()]
        assert "check_exactly_once" in names and "check_gapless" in names, cls


# --- broken Multi-Paxos variants make them fire -------------------------------------------------


class ForgetfulProposerPaxos(MultiPaxos):
    """Broken as issue 8 item 13 found it: a command leaves `in_flight` once chosen (not applied),
    and the state machine executes a command again when it is chosen in a second slot."""

    def check_chosen(self, slot: int) -> None:
        value = self.proposals.get(slot)
        super().check_chosen(slot)
        if value is not None and slot not in self.proposals:
            self.in_flight.pop(value, None)

    def execute(self) -> None:
        st = self.ctx.storage
        while st["executed"] in st["chosen"]:
            slot = st["executed"]
            value, round_ = st["chosen"][slot]
            self.ctx.decide(slot, value, ballot=round_)
            st["executed"] = slot + 1
            self.in_flight.pop(value, None)
            if value != NOOP:
                self.applied.add(value)
                client = self.clients.pop(value, None)
                if client is not None:
                    self.ctx.send(client, ClientReply(value, True, self.ctx.name))


class HastyPaxos(MultiPaxos):
    """Broken: a learner executes every chosen slot as soon as it learns it, skipping missing ones."""

    def execute(self) -> None:
        st = self.ctx.storage
        for slot in sorted(s for s in st["chosen"] if s >= st["executed"]):
            value, round_ = st["chosen"][slot]
            self.ctx.decide(slot, value, ballot=round_)
            st["executed"] = slot + 1


def duplicate_slots_scenario() -> Any:
    """Issue 8 item 13's reproduction: loss and short client timeouts make clients retry."""
    return scenario_from_dict(
        {
            "name": "multipaxos-duplicate-slots",
            "mechanism": "multipaxos",
            "nodes": 3,
            "seed": 1,
            "duration": "2s",
            "network": {"delay": "5ms", "loss": 0.2},
            "workload": {"kind": "poisson", "rate": "50/s", "until": "1.5s", "timeout": "60ms"},
        }
    )


def test_real_multipaxos_passes_both_checkers_on_the_reproduction() -> None:
    """The fixed protocol decides every command once, in order."""
    result = run(duplicate_slots_scenario())
    assert result.violations.empty, result.violations.to_string()


def test_exactly_once_catches_item_13s_bug() -> None:
    """The old in-flight bookkeeping chooses retried commands in several slots, and they execute twice."""
    result = run(duplicate_slots_scenario(), protocol_cls=ForgetfulProposerPaxos)
    assert set(result.violations["rule"]) == {"exactly_once"}


def test_gapless_catches_a_learner_that_skips_missing_slots() -> None:
    """With 20% loss some decides are lost: executing past them leaves holes."""
    result = run(duplicate_slots_scenario(), protocol_cls=HastyPaxos)
    assert "gapless" in set(result.violations["rule"])
    assert set(result.violations["rule"]) <= {"gapless", "exactly_once"}


def test_pbft_request_ordered_twice_executes_once() -> None:
    """A retransmitted request assigned a second sequence number after a view change (before the PBFT
    fixes, seed 5 of a lossy crash run ordered client0:14 at 21 and 33) is executed once: the second
    decision says it was a skipped duplicate, and the client is answered from the first execution."""
    from sim.protocols.pbft import Pbft
    from sim.protocols.pbft.messages import Request
    from sim.testing import make_node

    node, ctx = make_node(Pbft, "n1", ["n0", "n1", "n2", "n3"])
    req = Request("client0", "client0:14", "op")
    assert node.apply(1, req, 0, reply=True) is True
    assert node.apply(2, req, 1, reply=True) is False
    assert [(slot, value, fields.get("duplicate")) for slot, value, fields in ctx.decided] == [
        (1, "client0:14", None),
        (2, "client0:14", True),
    ]
    replies = [m for dst, m in ctx.sent if dst == "client0"]
    assert len(replies) == 2 and replies[0].result == replies[1].result  # one execution, answered twice

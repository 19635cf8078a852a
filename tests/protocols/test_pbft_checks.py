"""PBFT's no-equivocation checker: quiet on honest runs, fires on a replica that says two things (issue 8, item 2)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from sim import run, scenario_from_dict
from sim.protocols.pbft import Pbft
from sim.protocols.pbft.checks import check_no_equivocation
from sim.protocols.pbft.messages import NULL_DIGEST, PrePrepare
from sim.records import DECISION_COLUMNS, MESSAGE_COLUMNS, RunTables


class TwoFacedPrimary(Pbft):
    """Broken: after pre-preparing a request the primary pre-prepares the same (view, seq) again, as null."""

    def multicast(self, msg: Any) -> None:
        super().multicast(msg)
        if isinstance(msg, PrePrepare) and msg.request is not None:
            super().multicast(PrePrepare(msg.view, msg.seq, NULL_DIGEST, None))


def small(**fields: Any) -> Any:
    data: dict[str, Any] = {
        "name": "pbft-checks",
        "mechanism": "pbft",
        "nodes": 4,
        "duration": "1s",
        "network": {"delay": "5ms"},
        "workload": {"kind": "script", "commands": [{"at": "10ms"}, {"at": "100ms"}]},
    }
    data.update(fields)
    return scenario_from_dict(data)


def tables(events: list[dict[str, Any]]) -> RunTables:
    """Run tables holding only the given events."""
    return RunTables(
        pd.DataFrame(columns=DECISION_COLUMNS),
        pd.DataFrame(columns=MESSAGE_COLUMNS),
        pd.DataFrame(events),
        pd.DataFrame(columns=["cmd_id", "client", "submit_ms", "done_ms", "latency_ms"]),
    )


def test_checker_fires_on_a_primary_that_pre_prepares_one_seq_twice() -> None:
    """The broken primary is honest as far as the fault plan knows, so its two digests are a violation."""
    broken = run(small(), protocol_cls=TwoFacedPrimary)
    found = broken.violations[broken.violations["rule"] == "no_equivocation"]
    assert len(found) == 2 and set(found["nodes"]) == {"n0,n0"}
    assert "pre_prepare for view 0, seq 1" in found.iloc[0]["detail"]
    assert run(small()).violations.empty


def test_checker_ignores_byzantine_replicas_and_repeats_of_the_same_digest() -> None:
    """Hand-built events: the same digest twice is fine; a different one is flagged, except for a byzantine node."""
    sent = [
        {"time_ms": 1.0, "node": "n1", "kind": "sent", "msg": "prepare", "view": 0, "seq": 1, "digest": "a"},
        {"time_ms": 2.0, "node": "n1", "kind": "sent", "msg": "prepare", "view": 0, "seq": 1, "digest": "a"},
        {"time_ms": 3.0, "node": "n1", "kind": "sent", "msg": "commit", "view": 0, "seq": 1, "digest": "b"},
        {"time_ms": 4.0, "node": "n2", "kind": "sent", "msg": "prepare", "view": 1, "seq": 1, "digest": "a"},
    ]
    assert check_no_equivocation(tables(sent), None) == []  # type: ignore[arg-type]
    lie = {"time_ms": 5.0, "node": "n2", "kind": "sent", "msg": "prepare", "view": 1, "seq": 1, "digest": "z"}
    found = check_no_equivocation(tables([*sent, lie]), None)  # type: ignore[arg-type]
    assert [(v["time_ms"], v["nodes"]) for v in found] == [(5.0, "n2,n2")]
    marked = [*sent, lie, {"time_ms": 0.0, "node": "n2", "kind": "byzantine"}]
    assert check_no_equivocation(tables(marked), None) == []  # type: ignore[arg-type]


def test_new_primary_does_not_pre_prepare_a_seq_of_its_o_set_twice() -> None:
    """Issue 8 reproduction: entering view 2, n2 assigned fresh requests at seq 125-128 before logging O there."""
    result = run(
        scenario_from_dict(
            {
                "name": "pbft-honest-primary-conflict",
                "mechanism": "pbft",
                "nodes": 10,
                "seed": 498084,
                "duration": "2100ms",
                "protocol": {"checkpoint_interval": 2, "view_change_timeout": "60ms"},
                "network": {"delay": {"dist": "uniform", "low": "1ms", "high": "10ms"}, "loss": 0.2},
                "faults": [{"at": "1424ms", "crash": "n0", "for": "732ms"}],
                "workload": {"kind": "poisson", "rate": "80/s", "until": "1500ms", "clients": 2, "timeout": "500ms"},
            }
        )
    )
    assert result.summary["view_changes"] >= 2  # the path under test: n2 became primary of view 2
    assert result.violations.empty, result.violations.to_string()

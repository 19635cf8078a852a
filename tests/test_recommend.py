"""The recommendation on hand-built comparison rows: every rejection reason, and the cheapest passing candidate wins."""

from __future__ import annotations

from typing import Any

import pytest

from sim.errors import ScenarioError
from sim.report.requirements import Requirements, parse_requirements, recommend, recommendation_lines, rejections, tolerated_kind


def row(mechanism: str, **changes: Any) -> dict[str, Any]:
    """A comparison-table row that meets every requirement used below, with `changes` applied."""
    base = {
        "mechanism": mechanism,
        "tolerates": "byzantine f<n/3 (f≤1 of 5)",
        "runs": 3,
        "failed": 0,
        "unsafe_runs": 0,
        "violations_total": 0,
        "liveness": 1.0,
        "latency_ms_p50": 10.0,
        "latency_ms_p99": 50.0,
        "throughput_per_s": 100.0,
        "messages_per_decision": 10.0,
        "bytes_per_decision": 1000.0,
        "notes": "",
    }
    return base | changes


STRICT = parse_requirements(
    {
        "safety": "crash",
        "latency_p99": "200ms",
        "latency_p50": "0.05s",
        "liveness": 0.99,
        "throughput": "50/s",
        "max_messages_per_decision": 40,
        "max_bytes_per_decision": 5000,
    }
)


@pytest.mark.parametrize(
    ("changes", "requires", "reason"),
    [
        ({"tolerates": "crash f<n/2"}, {"safety": "byzantine"}, "does not tolerate byzantine faults (declares: crash f<n/2)"),
        ({"tolerates": "crash, loss (eventual)"}, {"safety": "byzantine"}, "does not tolerate byzantine faults"),
        ({"tolerates": "?"}, {"safety": "crash"}, "does not tolerate crash faults (declares: ?)"),
        ({"unsafe_runs": 2, "violations_total": 7}, {}, "unsafe under this fault plan: a checker fired in 2/3 runs (7 violations)"),
        ({"latency_ms_p99": 312.0}, {"latency_p99": "200ms"}, "too slow: p99 312ms > 200ms required"),
        ({"latency_ms_p99": None}, {"latency_p99": "200ms"}, "too slow: no latency measured > 200ms required"),
        ({"latency_ms_p50": 80.0}, {"latency_p50": "50ms"}, "too slow: p50 80ms > 50ms required"),
        ({"liveness": 0.8}, {"liveness": 0.99}, "not live enough: liveness 0.800 < 0.99 required"),
        ({"throughput_per_s": 20.0}, {"throughput": "50/s"}, "too little throughput: 20.0/s < 50/s required"),
        ({"messages_per_decision": 45.0}, {"max_messages_per_decision": 40}, "too costly: 45.0 messages/decision > 40.0 allowed"),
        ({"bytes_per_decision": 6000.0}, {"max_bytes_per_decision": 5000}, "too costly: 6,000 bytes/decision > 5,000 allowed"),
        ({"runs": 0, "notes": "skipped: faults[0]: refused"}, {}, "could not run under this scenario: skipped: faults[0]: refused"),
        ({"failed": 3}, {}, "could not run under this scenario"),
        ({"messages_per_decision": None}, {}, "no messages per decision to rank it by (nothing decided)"),
    ],
)
def test_each_rejection_reason_can_be_produced(changes: dict[str, Any], requires: dict[str, Any], reason: str) -> None:
    """Each requirement a row misses is named with its numbers; the unchanged row passes the same requirements."""
    wanted = parse_requirements(requires)
    assert rejections(row("x"), wanted) == []
    found = rejections(row("x", **changes), wanted)
    assert len(found) == 1 and found[0].startswith(reason), found


def test_cheapest_passing_candidate_wins_and_the_others_say_why() -> None:
    """An unsafe cheaper candidate and a too-slow one are rejected; of the two that pass, the cheaper is recommended."""
    rows = [
        row("cheap-but-unsafe", messages_per_decision=2.0, unsafe_runs=1, violations_total=1),
        row("fast-enough", messages_per_decision=12.0),
        row("cheapest-passing", messages_per_decision=8.0),
        row("slow", messages_per_decision=5.0, latency_ms_p99=900.0),
        row("crash-only", tolerates="crash f<n/2", messages_per_decision=30.0),
    ]
    verdicts = {v.mechanism: v for v in recommend(rows, STRICT)}
    assert [m for m, v in verdicts.items() if v.recommended] == ["cheapest-passing"]
    assert verdicts["cheapest-passing"].reasons == [] and verdicts["cheapest-passing"].meets
    assert verdicts["fast-enough"].meets and not verdicts["fast-enough"].recommended
    assert verdicts["fast-enough"].reasons == ["meets the requirements but costs more: 12.0 vs 8.0 messages/decision"]
    assert verdicts["crash-only"].meets and verdicts["fast-enough"].meets  # crash needed: byzantine tolerance covers it too
    assert not verdicts["cheap-but-unsafe"].meets and "unsafe" in verdicts["cheap-but-unsafe"].reasons[0]
    assert not verdicts["slow"].meets and verdicts["slow"].reasons[0].startswith("too slow: p99")
    lines = recommendation_lines(list(verdicts.values()))
    assert lines[0] == "recommended: cheapest-passing (8.0 messages/decision, the cheapest that meets them)"
    assert "  slow rejected: too slow: p99 900ms > 200ms required" in lines
    assert "  fast-enough not chosen: meets the requirements but costs more: 12.0 vs 8.0 messages/decision" in lines


def test_ranking_by_bytes_can_change_the_winner() -> None:
    """Cheapest by bytes picks the candidate with fewer bytes per decision even when it sends more messages."""
    rows = [row("few-messages", messages_per_decision=5.0, bytes_per_decision=4000.0), row("few-bytes", messages_per_decision=9.0)]
    by_messages = [v.mechanism for v in recommend(rows, Requirements()) if v.recommended]
    by_bytes = [v.mechanism for v in recommend(rows, Requirements(), "bytes") if v.recommended]
    assert by_messages == ["few-messages"] and by_bytes == ["few-bytes"]


def test_a_cost_tie_goes_to_the_lower_p99() -> None:
    """Equal cost: the candidate with the lower p99 latency wins, whatever the row order."""
    rows = [row("slower", latency_ms_p99=90.0), row("quicker", latency_ms_p99=40.0)]
    assert [v.mechanism for v in recommend(rows, Requirements()) if v.recommended] == ["quicker"]


def test_nothing_passes_then_nothing_is_recommended() -> None:
    """When every candidate fails, no recommendation is made and the lines say so."""
    rows = [row("a", unsafe_runs=1, violations_total=1), row("b", tolerates="crash f<n/2")]
    verdicts = recommend(rows, parse_requirements({"safety": "byzantine"}))
    assert not any(v.recommended for v in verdicts)
    assert recommendation_lines(verdicts)[0] == "no candidate meets the requirements"


def test_planes_are_recommended_separately_with_their_own_requirements() -> None:
    """Rows with a plane column get one recommendation per plane, each against that plane's requirements."""
    rows = [
        row("raft", plane="model", tolerates="crash f<n/2", messages_per_decision=12.0),
        row("pbft", plane="model", tolerates="byzantine f<n/3", messages_per_decision=40.0),
        row("gossip", plane="routing", tolerates="crash, loss (eventual)", latency_ms_p99=900.0),
    ]
    requires = {"model": parse_requirements({"safety": "byzantine"}), "routing": parse_requirements({"latency_p99": "2s"})}
    chosen = {(v.plane, v.mechanism) for v in recommend(rows, requires) if v.recommended}
    assert chosen == {("model", "pbft"), ("routing", "gossip")}
    assert recommendation_lines(recommend(rows, requires))[0].startswith("plane model: recommended: pbft")


def test_tolerated_kind_reads_declared_bounds() -> None:
    """Declared bounds map to the fault kind they cover."""
    assert [tolerated_kind(t) for t in ("byzantine f<n/3", "crash f<n/2", "forgers; liars < threshold", "crash, loss (eventual)", "")] == [
        "byzantine",
        "crash",
        "byzantine",
        "crash",
        "none",
    ]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"latency_p99": "fast"}, "requires.latency_p99"),
        ({"safety": "paranoid"}, "requires.safety"),
        ({"throughput": "lots"}, "requires.throughput"),
        ({"liveness": 1.5}, "requires.liveness"),
        ({"max_messages_per_decision": 0}, "requires.max_messages_per_decision"),
        ({"cost": "bytes"}, "requires.cost"),
        ("crash", "requires"),
    ],
)
def test_bad_requirements_name_the_field(data: Any, words: str) -> None:
    """Bad requirements raise one ScenarioError line that names the field."""
    with pytest.raises(ScenarioError) as caught:
        parse_requirements(data, "spec.yaml")
    assert str(caught.value).startswith("spec.yaml: ") and words in str(caught.value) and "\n" not in str(caught.value)

"""Attestation soundness: an honest node judges a claim only on attestations that were really signed.

Every attester records an `attest` event when it signs (claim, verdict). An honest node that
accepts a claim at time t must by then have had `threshold` distinct attesters (their weight,
with `weighted: true`) sign it true; a rejection needs `reject_threshold` that signed it false.
A node that counted a forged attestation, or one attester twice, judges on fewer.

One verdict: an honest attester signs at most one verdict of a claim, however often it signs it
(a signer keeps what it signed, also across a crash).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import TYPE_CHECKING, Any

from sim.checkers.agreement import Violation, first_conflicts, honest_decisions, honest_events

if TYPE_CHECKING:
    from sim.records import RunTables
    from sim.scenario import Scenario

EPS = 1e-9


def check_attestation_soundness(tables: RunTables, scenario: Scenario) -> list[Violation]:
    """Each honest accept (reject) is backed by enough distinct attesters who signed true (false) by then."""
    from sim.protocols.attestation import AttestationConfig

    decisions = honest_decisions(tables)
    events = tables.events
    if decisions.empty:
        return []
    config = AttestationConfig.model_validate(scenario.protocol)
    weight = {s.name: (s.weight if config.weighted else 1.0) for s in scenario.node_specs}
    need = {"accept": config.threshold, "reject": config.reject_threshold or config.threshold}
    # (claim, verdict) -> signing times and signers, in time order
    signed: dict[tuple[str, bool], tuple[list[float], list[str]]] = {}
    if not events.empty and "attester" in events:
        rows = events[events["kind"] == "attest"].sort_values(["time_ms"], kind="stable")
        for r in rows.itertuples():
            times, names = signed.setdefault((str(r.claim_id), bool(r.verdict)), ([], []))
            times.append(float(r.time_ms))
            names.append(str(r.attester))
    out: list[Violation] = []
    for d in decisions.sort_values(["time_ms", "node"], kind="stable").itertuples():
        if d.value not in need:
            continue
        times, names = signed.get((str(d.slot), d.value == "accept"), ([], []))
        signers = set(names[: bisect_right(times, float(d.time_ms))])
        backing = sum(weight.get(a, 0.0) for a in signers)
        if backing < need[d.value] - EPS:
            out.append(
                {
                    "time_ms": float(d.time_ms),
                    "nodes": d.node,
                    "rule": "attestation_soundness",
                    "detail": f"{d.node} judged {d.slot!r} {d.value} with {backing:g} signed (of {need[d.value]:g} needed)",
                }
            )
    return out


def check_one_verdict(tables: RunTables, scenario: Scenario) -> list[Violation]:
    """No honest attester signs both verdicts of one claim (one violation per attester and claim, at the second)."""
    signed = honest_events(tables, "attest", needs="attester", by="attester")

    def detail(key: tuple[Any, ...], first: Any, other: Any) -> str:
        return f"{key[1]} signed {key[0]!r} {bool(first['verdict'])} at {first['time_ms']:g} ms, then {bool(other['verdict'])}"

    out = first_conflicts(signed, ["claim_id", "attester"], "verdict", "one_verdict", detail)
    for violation in out:
        violation["nodes"] = violation["nodes"].partition(",")[0]  # the one attester, named once
    return out

"""Attestation soundness and one verdict per signer: on hand-built tables, and soundness seen to fire on a node that
skips signature checks (one_verdict fires on a forgetful attester in tests/protocols/test_attestation.py)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from sim import run, scenario_from_dict
from sim.protocols.attestation import Attestation, AttestationProtocol
from sim.protocols.attestation.checks import check_attestation_soundness, check_one_verdict
from sim.records import DECISION_COLUMNS, EVENT_COLUMNS, REQUEST_COLUMNS, RunTables


def scenario(**protocol: Any) -> Any:
    return scenario_from_dict(
        {
            "name": "a",
            "mechanism": "attestation",
            "nodes": [{"name": "n0", "weight": 3}, *({"name": f"n{i}", "weight": 1} for i in range(1, 8))],
            "duration": "1s",
            "network": {"delay": {"dist": "uniform", "low": "1ms", "high": "5ms"}},
            "protocol": {"attesters": ["n0", "n1", "n2", "n3"], "threshold": 2, **protocol},
            "workload": {"kind": "claims", "every": "100ms", "p_true": 1.0},
        }
    )


def tables(decisions: list[tuple[float, str, str, str]], signed: list[tuple[float, str, str, bool]]) -> RunTables:
    """Decisions (time, node, claim, accept|reject) and signings (time, attester, claim, verdict)."""
    events = pd.DataFrame([(t, a, "attest", c, a, v) for t, a, c, v in signed], columns=[*EVENT_COLUMNS, "claim_id", "attester", "verdict"])
    frame = pd.DataFrame([(t, n, c, v, 0) for t, n, c, v in decisions], columns=DECISION_COLUMNS)
    return RunTables(frame, pd.DataFrame(), events, pd.DataFrame(columns=REQUEST_COLUMNS))


def test_soundness_counts_distinct_signers_of_the_verdict_before_the_decision() -> None:
    """Two signers of 'true' by the accept are enough; a later signer, a 'false' signer or a repeat is not."""
    signed = [(1, "n1", "c1", True), (2, "n1", "c1", True), (3, "n2", "c1", False), (9, "n3", "c1", True)]
    [v] = check_attestation_soundness(tables([(5, "n7", "c1", "accept")], signed), scenario())
    assert (v["time_ms"], v["nodes"], v["rule"]) == (5, "n7", "attestation_soundness")
    assert "with 1 signed (of 2 needed)" in v["detail"]
    assert check_attestation_soundness(tables([(9, "n7", "c1", "accept")], signed), scenario()) == []
    assert check_attestation_soundness(tables([(4, "n7", "c1", "reject")], signed), scenario()) != []
    assert check_attestation_soundness(tables([(4, "n7", "c1", "reject")], signed), scenario(reject_threshold=1)) == []


def test_soundness_weighs_signers_when_weighted() -> None:
    """Weighted, one signature of n0 (weight 3) backs a threshold of 3; three light ones are needed otherwise."""
    signed = [(1, "n0", "c1", True)]
    weighted = scenario(weighted=True, threshold=3)
    assert check_attestation_soundness(tables([(5, "n7", "c1", "accept")], signed), weighted) == []
    light = [(1, "n1", "c1", True), (2, "n2", "c1", True)]
    assert check_attestation_soundness(tables([(5, "n7", "c1", "accept")], light), weighted) != []


def test_one_verdict_flags_an_honest_attester_that_signs_both_verdicts() -> None:
    """Signing one verdict twice is fine; n1 signing true then false is flagged once, at the false; a byzantine n1 is not judged."""
    signed = [(1, "n1", "c1", True), (2, "n1", "c1", True), (3, "n2", "c1", False), (5, "n1", "c1", False), (6, "n1", "c1", True)]
    [v] = check_one_verdict(tables([], signed), scenario())
    assert (v["time_ms"], v["nodes"], v["rule"], v["detail"]) == (5, "n1", "one_verdict", "n1 signed 'c1' True at 1 ms, then False")
    assert check_one_verdict(tables([], signed[:3]), scenario()) == []
    byzantine = tables([], signed)
    byzantine.events = pd.concat([byzantine.events, pd.DataFrame([(0.0, "n1", "byzantine")], columns=list(EVENT_COLUMNS))])
    assert check_one_verdict(byzantine, scenario()) == []


class GullibleAttestation(AttestationProtocol):
    """Broken: counts every attestation it receives without checking whose key signed it."""

    def _on_attestation(self, src: str, att: Attestation) -> None:
        key = (att.claim_id, att.attester, att.verdict)
        if key in self.held or att.attester not in self.roster.attesters:
            return
        self._hold(att)
        if self.config.spread == "gossip":
            self._spread(att, src)


def forgers() -> Any:
    """Honest, accurate attesters; two relays forge 'false' attestations in their names."""
    return scenario_from_dict(
        {
            "name": "forgers",
            "mechanism": "attestation",
            "nodes": 12,
            "seed": 3,
            "duration": "1s",
            "network": {"delay": {"dist": "uniform", "low": "1ms", "high": "5ms"}},
            "protocol": {"attesters": ["n0", "n1", "n2", "n3"], "accuracy": 1.0, "threshold": 2, "spread": "gossip", "fanout": 4},
            "faults": [{"byzantine": ["n4", "n5"], "behaviour": "corrupt"}],
            "workload": {"kind": "claims", "every": "100ms", "p_true": 1.0},
        }
    )


def test_soundness_fires_on_a_node_that_counts_forgeries() -> None:
    """The real protocol rejects forged attestations; a gullible one rejects true claims on them."""
    real = run(forgers())
    assert real.violations.empty and real.summary["forged_rejected"] > 0
    broken = run(forgers(), protocol_cls=GullibleAttestation)
    assert "attestation_soundness" in set(broken.violations["rule"])

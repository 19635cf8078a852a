"""Attestation: signatures checked, thresholds, false attesters, forgeries never counted."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim import load_scenario, run
from sim.protocols.attestation import Attestation, AttestationProtocol, Claim, Roster
from sim.protocols.base import ClientRequest
from sim.scenario import ScenarioError, scenario_from_dict
from sim.testing import ManualContext

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
NODES = [f"n{i}" for i in range(6)]


def manual(name: str = "n5", attesters: tuple[str, ...] = ("n0", "n1", "n2"), **config: object):
    roster = Roster(frozenset(attesters), tuple(NODES), {n: i for i, n in enumerate(NODES)})
    ctx = ManualContext(name, NODES, shared=roster)
    node = AttestationProtocol(ctx, AttestationProtocol.Config.model_validate({"attesters": list(attesters), **config}))  # type: ignore[arg-type]
    node.on_start()
    return node, ctx


def scenario(**data: object):
    base = {
        "name": "a",
        "mechanism": "attestation",
        "nodes": 30,
        "duration": "2s",
        "network": {"delay": {"dist": "uniform", "low": "1ms", "high": "5ms"}},
        "protocol": {"attesters": [f"n{i}" for i in range(10)], "accuracy": 1.0, "threshold": 1},
        "workload": {"kind": "claims", "every": "100ms", "p_true": 1.0},
    }
    for key, value in data.items():
        base[key] = {**base[key], **value} if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return scenario_from_dict(base)


def test_accepts_at_threshold_of_distinct_attesters():
    """Two distinct valid attesters are needed at threshold 2; a repeat of one attester does not count twice."""
    node, ctx = manual(threshold=2)
    node.on_message("n3", Attestation("c1", "n0", True, "n0"))
    node.on_message("n4", Attestation("c1", "n0", True, "n0"))
    assert ctx.decided == []
    assert ctx.counters["signature_verifications"] == 1  # the copy was already held: no second verification
    node.on_message("n3", Attestation("c1", "n1", True, "n1"))
    assert [(d[0], d[1]) for d in ctx.decided] == [("c1", "accept")]


def test_rejects_once_enough_say_false():
    """With reject_threshold 2, two false verdicts reject the claim and later true ones change nothing."""
    node, ctx = manual(threshold=2, reject_threshold=2)
    node.on_message("n3", Attestation("c1", "n0", False, "n0"))
    node.on_message("n3", Attestation("c1", "n1", False, "n1"))
    node.on_message("n3", Attestation("c1", "n2", True, "n2"))
    assert [(d[0], d[1]) for d in ctx.decided] == [("c1", "reject")]


def test_forged_attestation_is_never_counted():
    """An attestation signed by someone other than its named attester, or by a non-attester, is rejected and counted."""
    node, ctx = manual(threshold=1)
    node.on_message("n4", Attestation("c1", "n0", False, "n4"))  # n4 cannot sign as n0
    node.on_message("n4", Attestation("c1", "n4", False, "n4"))  # n4 is no attester
    assert ctx.decided == [] and "c1" not in node.judgements
    assert ctx.counters["forged_rejected"] == 2 and ctx.counters["signature_verifications"] == 2


def test_attester_signs_what_it_saw_and_false_attester_the_opposite():
    """An accurate attester attests the truth; a false attester signs the opposite, under its own name."""
    honest, hctx = manual("n0", accuracy=1.0)
    honest.on_request(ClientRequest("client0", "c1", "true"))
    atts = {m for _, m in hctx.sent if isinstance(m, Attestation)}
    assert atts == {Attestation("c1", "n0", True, "n0")}
    assert any(isinstance(m, Claim) for _, m in hctx.sent)
    liar, lctx = manual("n1", accuracy=1.0, false_attesters=["n1"])
    liar.on_message("n0", Claim("c1", True))
    assert {m for _, m in lctx.sent if isinstance(m, Attestation)} == {Attestation("c1", "n1", False, "n1")}


class Gullible(AttestationProtocol):
    """Broken: skips the signature check, so forged attestations count."""

    def _on_attestation(self, src, att):
        if (att.claim_id, att.attester, att.verdict) not in self.held:
            self._hold(att)
            self._spread(att, src)


def test_forgers_never_sway_a_node_but_would_without_signature_checks():
    """Forgers fabricate 'false' in honest attesters' names: never counted; a node skipping the check is fooled."""
    faults = [{"byzantine": ["n10", "n11", "n12", "n13"], "behaviour": "corrupt"}]
    checked = run(scenario(faults=faults, protocol={"reject_threshold": 1})).summary
    assert checked["forged_rejected"] > 0
    assert checked["false_reject_rate"] == 0.0 and checked["true_accept_rate"] == 1.0
    fooled = run(scenario(faults=faults, protocol={"reject_threshold": 1}), protocol_cls=Gullible).summary
    assert fooled["false_reject_rate"] > 0.05


def test_sender_forgery_is_rejected_by_the_node_layer():
    """A byzantine `forge` attester's messages claim another sender and are all rejected."""
    faults = [{"byzantine": ["n0"], "behaviour": "forge"}]
    result = run(scenario(faults=faults, protocol={"spread": "broadcast", "threshold": 10}))
    assert result.summary["forged_rejected"] > 0
    assert result.summary["undecided_fraction"] > 0.9  # n0's attestations never arrive, so 10 are never reached


def test_verification_cost_delays_acceptance():
    """A signature verification cost (crypto.verify) shows up as slower acceptance."""
    fast = run(scenario(protocol={"threshold": 5})).summary
    slow = run(scenario(protocol={"threshold": 5}, crypto={"verify": "2ms"})).summary
    assert slow["accept_ms_p50"] > fast["accept_ms_p50"] + 2
    assert slow["verifications_per_node"] == pytest.approx(fast["verifications_per_node"], rel=0.2)


def test_bad_attestation_settings_are_rejected():
    """Unreachable thresholds and unknown names are load errors."""
    with pytest.raises(ScenarioError, match="protocol.threshold"):
        scenario(protocol={"threshold": 11})
    with pytest.raises(ScenarioError, match=r"protocol.false_attesters\[0\]"):
        scenario(protocol={"false_attesters": ["zz"]})
    with pytest.raises(ScenarioError, match=r"workload.claims\[0\].node"):
        scenario(workload={"kind": "claims", "claims": [{"at": "1ms", "node": "zz", "truth": True}]})


def test_scenario_forgers_and_false_attesters():
    """Shipped scenario: forgeries are rejected, every honest node judges every claim, false accepts stay rare."""
    result = run(load_scenario(SCENARIOS / "attestation-forgers.yaml"))
    s = result.summary
    assert result.violations.empty
    assert s["forged_rejected"] > 100 and s["forged_attestations_rejected"] > 0
    assert s["undecided_fraction"] < 0.01 and s["false_accept_rate"] < 0.05 and s["true_accept_rate"] > 0.95
    assert s["verifications_per_node"] > 0 and s["accept_ms_p99"] is not None

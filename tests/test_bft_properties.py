"""Property tests for HotStuff and Tendermint: n in 4..7, up to f liars drawing every behaviour, a network fault; always safe.

Hypothesis draws the cluster size, which replicas lie and how (the forking leader at depth 3 or 4,
double votes, equivocation, silence...), and a cut or a partition that forces view or round changes.
Every checker of the mechanism judges the run. Derandomized like tests/test_pbft_properties.py, so
CI sees the same examples every time.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import run, scenario_from_dict
from sim.protocols.quorum import byzantine_f
from sim.protocols.registry import get_mechanism

BFT_SETTINGS = settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
LIES = {
    "hotstuff": ["fork", "double_vote", "equivocate", "silent", "replay"],
    "tendermint": ["double_vote", "equivocate", "silent", "replay", "omit"],
}


def test_the_drawn_lies_are_the_mechanisms_own() -> None:
    """Every behaviour drawn here is one the mechanism declares (so none is refused at load)."""
    for mechanism, lies in LIES.items():
        assert set(lies) <= set(get_mechanism(mechanism).byzantine_behaviours)


@st.composite
def plans(draw: Any, mechanism: str) -> dict[str, Any]:
    """A scenario: n in 4..7, up to f liars each with a drawn behaviour, and a cut or partition for a while."""
    n = draw(st.integers(4, 7))
    nodes = [f"n{i}" for i in range(n)]
    liars = draw(st.lists(st.sampled_from(nodes), min_size=0, max_size=byzantine_f(n), unique=True))
    faults: list[dict[str, Any]] = []
    for liar in sorted(liars):
        entry: dict[str, Any] = {"byzantine": [liar], "behaviour": draw(st.sampled_from(LIES[mechanism]))}
        if entry["behaviour"] == "fork":
            entry["params"] = {"depth": draw(st.sampled_from([3, 4]))}
        faults.append(entry)
    at = draw(st.integers(100, 800))
    if draw(st.booleans()):
        faults.append({"at": f"{at}ms", "cut": {"from": "n0", "to": [x for x in nodes if x != "n0"]}, "for": "300ms"})
    else:
        cut = draw(st.integers(1, n - 1))
        faults.append({"at": f"{at}ms", "partition": [nodes[:cut], nodes[cut:]], "for": "300ms"})
    return {
        "name": f"property-{mechanism}",
        "mechanism": mechanism,
        "nodes": n,
        "seed": draw(st.integers(0, 2**16)),
        "duration": "1500ms",
        "network": {"delay": {"dist": "uniform", "low": "1ms", "high": "10ms"}, "loss": draw(st.sampled_from([0.0, 0.05]))},
        "faults": faults,
        "workload": {"kind": "poisson", "rate": "50/s", "until": "1200ms"},
    }


@pytest.mark.parametrize("mechanism", ["hotstuff", "tendermint"])
@BFT_SETTINGS
@given(data=st.data())
def test_safe_with_f_liars_and_a_network_fault(mechanism: str, data: st.DataObject) -> None:
    """HotStuff and Tendermint with up to f replicas lying (forks, double votes, equivocation) and a cut or partition: no violation."""
    plan = data.draw(plans(mechanism))
    result = run(scenario_from_dict(plan))
    assert result.violations.empty, result.violations.to_string()


@pytest.mark.parametrize(("mechanism", "behaviour"), [("hotstuff", "fork"), ("hotstuff", "double_vote"), ("tendermint", "double_vote")])
def test_the_new_lies_are_deterministic(mechanism: str, behaviour: str) -> None:
    """The same scenario with a forking or double-voting liar gives the same decisions and message counts twice."""
    plan = {
        "name": "lies-determinism",
        "mechanism": mechanism,
        "nodes": 4,
        "seed": 3,
        "duration": "1s",
        "network": {"delay": {"dist": "uniform", "low": "1ms", "high": "10ms"}, "loss": 0.05},
        "faults": [{"byzantine": ["n1"], "behaviour": behaviour}],
        "workload": {"kind": "poisson", "rate": "50/s", "until": "800ms"},
    }
    first, second = run(scenario_from_dict(plan)), run(scenario_from_dict(plan))
    assert len(first.decisions) > 0
    assert first.decisions.equals(second.decisions) and first.messages.equals(second.messages)

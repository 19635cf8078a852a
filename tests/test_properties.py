"""Property-based tests: safety must hold under any fault plan the strategies can draw.

Hypothesis draws fault plans (crashes, recoveries, partitions, one-way cuts, loss and
duplication) and seeds; each run is short, and the checkers of the mechanism judge it. By
default the tests are derandomized so CI sees the same examples every time;
`CONSIM_HYPOTHESIS=explore` draws new ones, ten times as many (see tests/conftest.py). A failure
prints the plan.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import run, scenario_from_dict
from sim.units import format_ms, parse_duration, parse_rate
from tests.conftest import examples

NODES = [f"n{i}" for i in range(5)]
PROPERTY_SETTINGS = settings(max_examples=examples(40))  # the rest comes from the profile loaded in conftest


@st.composite
def crash_faults(draw: Any, horizon_ms: int = 2500) -> list[dict[str, Any]]:
    """Up to four timed crash, partition or cut entries, each undone after a while."""
    faults = []
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(50, horizon_ms))
        hold = draw(st.integers(50, 1000))
        kind = draw(st.sampled_from(["crash", "crash_leader", "partition", "cut"]))
        if kind == "crash":
            faults.append({"at": f"{at}ms", "crash": draw(st.sampled_from(NODES)), "for": f"{hold}ms"})
        elif kind == "crash_leader":
            faults.append({"at": f"{at}ms", "crash": "leader", "for": f"{hold}ms"})
        elif kind == "partition":
            members = draw(st.permutations(NODES))
            cut = draw(st.integers(1, len(NODES) - 1))
            faults.append({"at": f"{at}ms", "partition": [list(members[:cut]), list(members[cut:])], "for": f"{hold}ms"})
        else:
            src = draw(st.sampled_from(NODES))
            dst = draw(st.lists(st.sampled_from([n for n in NODES if n != src]), min_size=1, max_size=3, unique=True))
            faults.append({"at": f"{at}ms", "cut": {"from": [src], "to": dst}, "for": f"{hold}ms"})
    return faults


def crash_scenario(mechanism: str, seed: int, loss: float, duplicate: float, faults: list[dict[str, Any]]) -> Any:
    """A 5-node, 3-second run of a crash-tolerant mechanism under the drawn plan."""
    return scenario_from_dict(
        {
            "name": f"property-{mechanism}",
            "mechanism": mechanism,
            "nodes": 5,
            "seed": seed,
            "duration": "3s",
            "network": {"delay": {"dist": "lognormal", "median": "5ms", "sigma": 0.6}, "loss": loss, "duplicate": duplicate},
            "faults": faults,
            "workload": {"kind": "poisson", "rate": "150/s", "until": "2.8s", "clients": 2},
        }
    )


@pytest.mark.parametrize("mechanism", ["raft", "multipaxos"])
@PROPERTY_SETTINGS
@given(
    seed=st.integers(0, 2**16),
    loss=st.sampled_from([0.0, 0.02, 0.1]),
    duplicate=st.sampled_from([0.0, 0.05]),
    faults=crash_faults(),
)
def test_crash_tolerant_mechanisms_are_safe_under_any_crash_and_partition_plan(
    mechanism: str, seed: int, loss: float, duplicate: float, faults: list
) -> None:
    """Raft and Multi-Paxos: none of their checkers (election safety, log matching, leader completeness, agreement,
    validity, integrity) reports a violation under drawn crashes, partitions, cuts, loss and duplicates."""
    result = run(crash_scenario(mechanism, seed, loss, duplicate, faults))
    assert result.violations.empty, result.violations.to_string()
    assert result.summary["decisions"] > 0


@PROPERTY_SETTINGS
@given(
    seed=st.integers(0, 2**16),
    liar=st.sampled_from(["n0", "n1", "n2", "n3"]),
    behaviour=st.sampled_from(["silent", "omit", "delay", "replay", "forge", "equivocate", "corrupt", "double_vote"]),
    loss=st.sampled_from([0.0, 0.02]),
)
def test_pbft_is_safe_with_f_byzantine_replicas(seed: int, liar: str, behaviour: str, loss: float) -> None:
    """PBFT with n = 4 and one replica (possibly the primary) lying in any supported way: no honest disagreement."""
    scenario = scenario_from_dict(
        {
            "name": "property-pbft",
            "mechanism": "pbft",
            "nodes": 4,
            "seed": seed,
            "duration": "3s",
            "protocol": {"view_change_timeout": "300ms"},
            "network": {"delay": {"dist": "lognormal", "median": "5ms", "sigma": 0.4}, "loss": loss},
            "faults": [{"byzantine": [liar], "behaviour": behaviour}],
            "workload": {"kind": "poisson", "rate": "80/s", "until": "2.5s"},
        }
    )
    result = run(scenario)
    assert result.violations.empty, result.violations.to_string()


@PROPERTY_SETTINGS
@given(
    seed=st.integers(0, 2**16),
    heal_ms=st.integers(200, 1500),
    split=st.integers(1, 11),
    loss=st.sampled_from([0.0, 0.1]),
)
def test_anti_entropy_converges_once_every_partition_heals(seed: int, heal_ms: int, split: int, loss: float) -> None:
    """Gossip anti-entropy: after any partition heals (and the settle time passes) every node holds the same store."""
    nodes = [f"n{i}" for i in range(12)]
    scenario = scenario_from_dict(
        {
            "name": "property-gossip",
            "mechanism": "gossip",
            "nodes": 12,
            "seed": seed,
            "duration": "4s",
            "protocol": {"style": "anti_entropy", "mode": "pushpull", "interval": "50ms", "settle": "1s"},
            "network": {"delay": {"dist": "uniform", "low": "1ms", "high": "9ms"}, "loss": loss},
            "faults": [{"at": "10ms", "until": f"{heal_ms}ms", "partition": [nodes[:split], nodes[split:]]}],
            "workload": {
                "kind": "updates",
                "updates": [
                    {"at": "50ms", "node": nodes[0], "key": "k", "value": "left"},
                    {"at": "60ms", "node": nodes[-1], "key": "k", "value": "right"},
                    {"at": "100ms", "node": nodes[split - 1], "key": "j", "value": "x"},
                ],
            },
        }
    )
    result = run(scenario)
    assert result.violations.empty, result.violations.to_string()
    # A superseded write need not reach everyone, but each key's winning write must.
    reach = result.decisions.assign(key=result.decisions["slot"].str.split("@").str[0]).groupby(["key", "slot"])["node"].nunique()
    assert (reach.groupby(level="key").max() == 12).all(), reach.to_string()


@settings(max_examples=examples(200))
@given(st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False))
def test_durations_round_trip_through_their_printed_form(ms: float) -> None:
    """format_ms writes what parse_duration reads back (the resolved scenario relies on it)."""
    assert parse_duration(format_ms(ms)) == ms or abs(parse_duration(format_ms(ms)) - ms) <= 1e-9 * max(ms, 1.0)


@settings(max_examples=examples(100))
@given(st.integers(min_value=1, max_value=10**6), st.sampled_from(["s", "ms", "min", "h"]))
def test_rates_are_events_per_second(count: int, unit: str) -> None:
    """'N/unit' parses to N events per that unit, expressed per second."""
    per_second = {"s": 1.0, "ms": 1000.0, "min": 1 / 60, "h": 1 / 3600}[unit]
    assert abs(parse_rate(f"{count}/{unit}") - count * per_second) <= 1e-9 * count * max(per_second, 1.0)

"""Property tests for Raft's replication settings: small batches, small windows, frequent snapshots,
on a network that reorders (exponential delays), loses and duplicates, under drawn fault plans."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import run, scenario_from_dict
from tests.test_properties import crash_faults

RAFT_SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def raft_protocol(draw: Any) -> dict[str, Any]:
    """Replication and election settings, including the corners (batch 1, window 1, snapshot every 20)."""
    return {
        "max_batch": draw(st.integers(1, 4)),
        "max_inflight": draw(st.sampled_from([1, 2, 8, 256])),
        "snapshot_interval": draw(st.sampled_from([20, 75, 10_000])),
        "pre_vote": draw(st.booleans()),
        "noop_on_elect": draw(st.booleans()),
    }


@RAFT_SETTINGS
@given(
    seed=st.integers(0, 2**16),
    protocol=raft_protocol(),
    mean_delay=st.sampled_from(["3ms", "10ms"]),
    loss=st.sampled_from([0.0, 0.05]),
    duplicate=st.sampled_from([0.0, 0.05]),
    write=st.sampled_from(["0ms", "2ms"]),
    faults=crash_faults(),
)
def test_raft_stays_safe_with_small_batches_windows_and_snapshots_on_a_reordering_network(
    seed: int, protocol: dict[str, Any], mean_delay: str, loss: float, duplicate: float, write: str, faults: list
) -> None:
    """No checker (agreement, integrity, validity, election safety, log matching, leader completeness)
    fires; each node records an index at most once across its incarnations; something commits."""
    scenario = scenario_from_dict(
        {
            "name": "property-raft-replication",
            "mechanism": "raft",
            "nodes": 5,
            "seed": seed,
            "duration": "3s",
            "protocol": protocol,
            "network": {"delay": {"dist": "exponential", "mean": mean_delay}, "loss": loss, "duplicate": duplicate},
            "storage": {"write": write},
            "faults": faults,
            "workload": {"kind": "poisson", "rate": "150/s", "until": "2.8s", "clients": 2},
        }
    )
    result = run(scenario)
    assert result.violations.empty, result.violations.to_string()
    assert not result.decisions.duplicated(["node", "slot"]).any()
    assert result.summary["decisions"] > 0

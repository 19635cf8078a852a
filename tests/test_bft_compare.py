"""The BFT family side by side: pbft, hotstuff and tendermint on one byzantine scenario (issue 12)."""

from __future__ import annotations

import math
from pathlib import Path

from sim.compare import compare

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "bft-byzantine-compare.yaml"


def test_compare_runs_the_three_bft_mechanisms_safely_on_one_byzantine_scenario() -> None:
    """Each mechanism runs the scenario with its liar kept (no fault dropped), stays safe and live, and has messages and latency."""
    result = compare(SCENARIO, mechanisms=("pbft", "hotstuff", "tendermint"), replicates=1)
    table = result.table.set_index("mechanism")
    assert list(table.index) == ["pbft", "hotstuff", "tendermint"]
    for name, row in table.iterrows():
        assert row["runs"] == 1 and row["failed"] == 0, (name, row["notes"])
        assert "dropped" not in row["notes"], (name, row["notes"])  # the equivocating replica is in every run
        assert row["violations_total"] == 0 and row["unsafe_runs"] == 0, name
        assert row["messages_per_decision"] > 0 and math.isfinite(row["messages_per_decision"]), name
        assert row["latency_ms_p50"] > 0 and math.isfinite(row["latency_ms_p50"]), name
    assert (result.runs["liveness"] == 1.0).all()
    # The headline: HotStuff's linear messages against the all-to-all phases of PBFT and Tendermint.
    assert table.loc["hotstuff", "messages_per_decision"] < table.loc["tendermint", "messages_per_decision"]
    assert table.loc["hotstuff", "messages_per_decision"] < table.loc["pbft", "messages_per_decision"]

"""PBFT quorums of ceil((n + f + 1) / 2): any two meet in an honest replica whatever n is (issue 8, item 1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sim import run, scenario_from_dict
from sim.cli import app
from sim.protocols.quorum import bft_quorum, byzantine_f


@pytest.mark.parametrize("n", range(1, 40))
def test_two_bft_quorums_share_an_honest_node_and_the_honest_nodes_form_one(n: int) -> None:
    """For every f with n >= 3f + 1: 2q - n >= f + 1 (intersection) and n - f >= q (availability)."""
    for f in range(byzantine_f(n) + 1):
        q = bft_quorum(n, f)
        assert 2 * q - n >= f + 1
        assert n - f >= q
    if n % 3 == 1:
        assert bft_quorum(n) == 2 * byzantine_f(n) + 1  # the paper's 2f + 1 when n = 3f + 1


def test_equivocating_primary_cannot_split_five_replicas() -> None:
    """Issue 8 reproduction: n = 5, one equivocating primary; with quorums of 2f + 1 = 3 both halves commit."""
    result = run(
        scenario_from_dict(
            {
                "name": "pbft-n5-equivocating-primary",
                "mechanism": "pbft",
                "nodes": 5,
                "seed": 1,
                "duration": "1s",
                "network": {"delay": "5ms"},
                "faults": [{"byzantine": ["n0"], "behaviour": "equivocate"}],
                "workload": {"kind": "script", "commands": [{"at": "10ms"}]},
            }
        )
    )
    assert result.violations.empty, result.violations.to_string()
    assert result.summary["commands_completed"] == 1


def test_f0_on_four_nodes_survives_a_one_way_cut() -> None:
    """Issue 8 reproduction: `f: 0` on 4 nodes meant quorums of 1, so a one-way cut alone broke agreement."""
    result = run(
        scenario_from_dict(
            {
                "name": "pbft-n4-f0-cut",
                "mechanism": "pbft",
                "nodes": 4,
                "seed": 1,
                "duration": "3s",
                "protocol": {"f": 0},
                "network": {"delay": {"dist": "uniform", "low": "1ms", "high": "20ms"}},
                "faults": [{"at": "500ms", "cut": {"from": "n0", "to": "n1"}, "for": "1s"}],
                "workload": {"kind": "poisson", "rate": "20/s", "until": "2s", "timeout": "10ms"},
            }
        )
    )
    assert result.violations.empty, result.violations.to_string()
    assert result.summary["decisions"] > 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_equivocating_primary_cannot_split_seven_replicas_with_f1(seed: int) -> None:
    """n = 7 with `f: 1`: 2f + 1 = 3 would let two halves of the honest replicas commit different requests."""
    data: dict[str, Any] = {
        "name": "pbft-n7-f1-equivocating-primary",
        "mechanism": "pbft",
        "nodes": 7,
        "seed": seed,
        "duration": "2s",
        "protocol": {"f": 1},
        "network": {"delay": {"dist": "uniform", "low": "1ms", "high": "10ms"}},
        "faults": [{"byzantine": ["n0"], "behaviour": "equivocate"}],
        "workload": {"kind": "poisson", "rate": "30/s", "until": "1s"},
    }
    result = run(scenario_from_dict(data))
    assert result.violations.empty, result.violations.to_string()
    assert result.summary["liveness"] == 1.0


def test_f_too_large_for_n_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """`protocol: {f: 2}` on 5 nodes: `consim run` names the file and protocol.f on one line, exits 2, writes nothing."""
    path = tmp_path / "bad-f.yaml"
    path.write_text("name: bad-f\nmechanism: pbft\nnodes: 5\nduration: 1s\nprotocol: {f: 2}\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and str(path) in lines[0] and "protocol.f" in lines[0] and "3f + 1" in lines[0]
    assert not out.exists()


def test_a_configured_f_is_what_the_cluster_tolerates_never_more_than_n_allows() -> None:
    """`protocol.f: 1` on 10 replicas: they tolerate 1 (quorum 6), not the 3 that n alone allows; f above that is capped."""
    assert byzantine_f(10) == 3 and byzantine_f(10, None) == 3
    assert byzantine_f(10, 1) == 1 and bft_quorum(10, 1) == 6
    assert byzantine_f(10, 0) == 0
    assert byzantine_f(4, 2) == 1

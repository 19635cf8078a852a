"""A boolean is not a number and a number is not a boolean: `nodes: true` and `pre_vote: 1` are refused, not coerced.

pydantic's lax mode used to run `nodes: true` as one node and `pre_vote: 1` as true.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.exact_types import field_kinds
from sim.scenario import FaultSpec, Scenario, load_scenario
from sim.sweep import load_sweep

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
RAFT = ROOT / "scenarios" / "raft-steady.yaml"
GOSSIP = ROOT / "scenarios" / "gossip-partition-heal.yaml"

SWAPPED = [
    ("nodes=true", "nodes: must be an integer (got True)"),
    ("seed=false", "seed: must be an integer (got False)"),
    ("network.loss=true", "network.loss: must be a number (got True)"),
    ("network.ordered=1", "network.ordered: must be true or false (got 1)"),
    ("protocol.pre_vote=1", "protocol.pre_vote: must be true or false (got 1)"),
    ("protocol.max_batch=true", "protocol.max_batch: must be an integer (got True)"),
    ("workload.clients=true", "workload.clients: must be an integer (got True)"),
    ("workload.adaptive=0", "workload.adaptive: must be true or false (got 0)"),
    ("faults=[{at: 1s, heal: 1}]", "faults[0].heal: must be true or false (got 1)"),
    ("nodes=[{name: a, weight: true}, {name: b}, {name: c}]", "nodes[0].weight: must be a number (got True)"),
    ("workload={kind: script, commands: [{at: 1s, client: true}]}", "workload.commands[0].client: must be an integer (got True)"),
]


@pytest.mark.parametrize(("setting", "message"), SWAPPED, ids=[s.split("=")[0] + f"-{i}" for i, (s, _) in enumerate(SWAPPED)])
def test_a_boolean_for_a_number_or_a_number_for_a_boolean_is_one_line_exit_2(tmp_path: Path, setting: str, message: str) -> None:
    """Each swap names its field in one line, exit 2, and nothing runs."""
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(RAFT), "--set", setting, "--out", str(out), "--no-plots", "-q"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"{RAFT}: {message}"
    assert not out.exists()


def test_numbers_and_booleans_of_the_right_kind_still_load() -> None:
    """Whole floats for integers, integers for floats, true and false for booleans, durations as strings."""
    scenario = load_scenario(
        RAFT, ["nodes=3.0", "network.loss=0", "workload.backoff=2", "protocol.pre_vote=false", "network.ordered=true", "duration=2s"]
    )
    assert scenario.nodes == 3 and scenario.network.loss == 0.0 and scenario.network.ordered is True
    assert scenario.protocol["pre_vote"] is False and scenario.workload is not None and scenario.workload.model_dump()["backoff"] == 2.0


def test_a_mechanism_setting_of_another_mechanism_is_checked_the_same_way() -> None:
    """Gossip's `sync_rounds` (a boolean) and `fanout` (an integer) refuse the other kind."""
    with pytest.raises(Exception, match=r"protocol\.fanout: must be an integer \(got True\)"):
        load_scenario(GOSSIP, ["protocol.fanout=true"])


def test_a_sweep_refuses_a_boolean_replicate_count(tmp_path: Path) -> None:
    """A sweep's own integers too: `replicates: true` is not one replicate."""
    path = tmp_path / "sweep.yaml"
    path.write_text(f"name: s\nbase: {RAFT}\ngrid: {{network.loss: [0.0]}}\nreplicates: true\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"replicates: must be an integer"):
        load_sweep(path)


def test_field_kinds_read_unions_aliases_and_literals() -> None:
    """`nodes` takes an integer (or a list), a fault's `for` (an alias) a duration, `heal` 'all' or a boolean."""
    assert field_kinds(Scenario)["nodes"] == {"int", "other"}
    assert field_kinds(FaultSpec)["for"] == field_kinds(FaultSpec)["for_"] == {"float", "other"}
    assert field_kinds(FaultSpec)["heal"] == {"str", "bool", "other"}


def test_a_boolean_among_a_lists_numbers_is_refused_with_its_index(tmp_path: Path) -> None:
    """`replicates: [true, 2]` ran seeds 1 and 2: the item is refused by its index, while a list of integers loads."""
    sweep = tmp_path / "s.yaml"
    base = Path(__file__).resolve().parents[1] / "scenarios" / "raft-steady.yaml"
    sweep.write_text(f"name: s\nbase: {base}\ngrid: {{network.loss: [0.0]}}\nreplicates: [true, 2]\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(sweep)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"{sweep}: replicates[0]: must be an integer (got True)"
    sweep.write_text(f"name: s\nbase: {base}\ngrid: {{network.loss: [0.0]}}\nreplicates: [1, 2]\n", encoding="utf-8")
    assert [t.seed for t in load_sweep(sweep).tasks] == [1, 2]

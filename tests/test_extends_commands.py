"""Every command that reads a scenario file resolves its `extends:` as `run` and `validate` do.

Before, `consim compare` and `consim explore` read the raw YAML and refused any extending file
with "extends: unknown field" (the shipped scenarios/fleet/partition.yaml among them).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sim.cli import app
from tests.small_scenario import RAFT, one_line, write

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def child(tmp_path: Path) -> Path:
    """A scenario that takes everything but its name from base.yaml."""
    write(tmp_path, {**RAFT, "name": "base", "workload": {"kind": "poisson", "rate": "20/s", "until": "250ms"}}, "base.yaml")
    return write(tmp_path, {"extends": "base.yaml", "name": "child"}, "child.yaml")


def test_compare_runs_a_scenario_that_extends_another(child: Path, tmp_path: Path) -> None:
    """`consim compare child.yaml` runs the merged scenario, under the child's name."""
    result = CliRunner().invoke(app, ["compare", str(child), "-m", "raft", "-r", "1", "--out", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("compare child: raft (1 seeds each)")
    assert (tmp_path / "c" / "table.csv").is_file()


def test_a_compare_spec_may_name_a_scenario_that_extends_another(child: Path, tmp_path: Path) -> None:
    """A compare spec's `scenario:` naming an extending file runs it too."""
    spec = write(tmp_path, {"scenario": "child.yaml", "candidates": ["raft"], "replicates": 1}, "spec.yaml")
    result = CliRunner().invoke(app, ["compare", str(spec), "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("compare child: raft")


def test_explore_draws_schedules_for_a_scenario_that_extends_another(child: Path, tmp_path: Path) -> None:
    """`consim explore child.yaml` explores the merged scenario."""
    result = CliRunner().invoke(app, ["explore", str(child), "-n", "1", "--out", str(tmp_path / "e"), "-q"])
    assert result.exit_code == 0, result.output
    assert "no failures found" in result.output


@pytest.mark.parametrize("command", [["compare", "-m", "raft", "-r", "1"], ["explore", "-n", "1"]])
def test_a_bad_value_in_the_base_names_the_base(command: list[str], child: Path, tmp_path: Path) -> None:
    """A mistake written in the base is reported in the base's name, as `run` and `validate` report it."""
    write(tmp_path, {**RAFT, "nodez": 4}, "base.yaml")
    result = CliRunner().invoke(app, [command[0], str(child), *command[1:], "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert one_line(result.output) == f"{tmp_path / 'base.yaml'}, extended by {child}: nodez: unknown field"
    assert not (tmp_path / "o").exists()


def test_the_shipped_fleet_partition_reaches_the_commands_own_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """scenarios/fleet/partition.yaml (extends no-faults.yaml) is refused for what it is, a fleet, as no-faults.yaml is.

    Nothing runs: compare without a spec and explore both refuse a scenario with planes.
    """
    monkeypatch.chdir(ROOT)
    runner = CliRunner()
    for command in (["compare", "-m", "raft", "-r", "1", "--out", "results/never"], ["explore", "-n", "2", "--out", "results/never"]):
        said = [runner.invoke(app, [command[0], f"scenarios/fleet/{name}.yaml", *command[1:]]) for name in ("partition", "no-faults")]
        assert [r.exit_code for r in said] == [2, 2], [r.output for r in said]
        partition, no_faults = (one_line(r.output) for r in said)
        assert "extends" not in partition
        assert partition.split(": ", 1)[1] == no_faults.split(": ", 1)[1]
    assert not (ROOT / "results" / "never").exists()

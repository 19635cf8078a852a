"""Input a review found to run as something nobody wrote, or to be told the wrong rule: one line each, exit 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sim.cli import app
from tests.small_scenario import RAFT, one_line, write

runner = CliRunner()


def _run_refused(tmp_path: Path, path: Path, *options: str) -> str:
    """`consim run` of `path`: exit 2, nothing written; its one stderr line."""
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(path), "--quiet", "--no-plots", "--out", str(out), *options])
    assert result.exit_code == 2, result.output
    assert not out.exists()
    return one_line(result.stderr)


def test_a_script_command_for_a_client_the_workload_lacks_is_refused(tmp_path: Path) -> None:
    """`client: 5` with one client ran as client0 (the index wrapped around)."""
    workload: dict[str, Any] = {"kind": "script", "commands": [{"at": "100ms", "op": "x"}, {"at": "200ms", "op": "y", "client": 5}]}
    path = write(tmp_path, {**RAFT, "workload": workload})
    line = _run_refused(tmp_path, path)
    assert line == f"{path}: workload.commands[1].client: must be below clients (1), counting from 0 (got 5)"


def test_a_script_command_for_the_last_client_still_runs(tmp_path: Path) -> None:
    """`client: 2` of three clients is the third client."""
    workload = {"kind": "script", "clients": 3, "commands": [{"at": "100ms", "op": "x", "client": 2}]}
    path = write(tmp_path, {**RAFT, "workload": workload})
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output


ROOT = Path(__file__).resolve().parent.parent


def _validate_refused(path: Path) -> str:
    """`consim validate` of a bad file: exit 2; its one stderr line."""
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    return one_line(result.stderr)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"scenario": str(ROOT / "scenarios" / "raft-steady.yaml"), "candidates": [], "replicates": 1}, "candidates"),
        (
            {"scenario": str(ROOT / "scenarios" / "fleet" / "partition.yaml"), "planes": {"control": {"candidates": []}}},
            "planes.control.candidates",
        ),
    ],
    ids=["top-level", "plane"],
)
def test_a_compare_spec_with_no_candidates_is_refused(tmp_path: Path, spec: dict[str, Any], field: str) -> None:
    """`candidates: []` validated and ran raft, multipaxos and pbft, while `--mechanisms ''` is refused."""
    path = write(tmp_path, spec, "spec.yaml")
    assert _validate_refused(path) == f"{path}: {field}: name at least one mechanism, e.g. [raft, multipaxos, pbft]"
    result = runner.invoke(app, ["compare", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "out").exists()

"""Input a review found to run as something nobody wrote, or to be told the wrong rule: one line each, exit 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sim.cli import app
from tests.small_scenario import RAFT, one_line, run_refused, write

runner = CliRunner()


def test_a_script_command_for_a_client_the_workload_lacks_is_refused(tmp_path: Path) -> None:
    """`client: 5` with one client ran as client0 (the index wrapped around)."""
    workload: dict[str, Any] = {"kind": "script", "commands": [{"at": "100ms", "op": "x"}, {"at": "200ms", "op": "y", "client": 5}]}
    path = write(tmp_path, {**RAFT, "workload": workload})
    line = run_refused(tmp_path, path)
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


FLEET: dict[str, Any] = {
    "name": "planes",
    "seed": 1,
    "duration": "2s",
    "nodes": 6,
    "planes": [
        {"name": "a", "mechanism": "raft", "nodes": 3, "workload": {"kind": "poisson", "rate": "20/s", "until": "1.5s"}},
        {"name": "g", "mechanism": "gossip", "workload": {"kind": "none"}},
    ],
}
PLANE_PICKS_NOTHING = "faults[0].plane: a {action} that names no 'leader' strikes every plane on its nodes: " + (
    "'plane' only picks whose leader 'leader' means, or the plane a byzantine entry lies in"
)


@pytest.mark.parametrize(
    ("fault", "action"),
    [
        ({"at": "1s", "crash": "n0", "plane": "a"}, "crash"),
        ({"at": "1s", "partition": [["n0"], ["rest"]], "plane": "a"}, "partition"),
        ({"at": "1s", "heal": "all", "plane": "g"}, "heal"),
    ],
    ids=["crash-named", "partition-named", "heal"],
)
def test_a_plane_on_a_fault_that_strikes_every_plane_is_refused(tmp_path: Path, fault: dict[str, Any], action: str) -> None:
    """`crash: n0, plane: a` crashed n0 in every plane: the node is the fleet's, so `plane:` picked nothing."""
    path = write(tmp_path, {**FLEET, "faults": [fault]})
    assert _validate_refused(path) == f"{path}: {PLANE_PICKS_NOTHING.format(action=action)}"


def test_a_plane_still_picks_whose_leader_and_where_a_liar_lies(tmp_path: Path) -> None:
    """`crash: leader`, a cut from the leader and a byzantine entry keep their `plane:`."""
    faults = [
        {"at": "1s", "crash": "leader", "plane": "a", "for": "200ms"},
        {"at": "1500ms", "cut": {"from": "leader", "to": ["n1"]}, "plane": "a"},
        {"byzantine": ["n1"], "behaviour": "omit", "plane": "a"},
    ]
    result = runner.invoke(app, ["validate", str(write(tmp_path, {**FLEET, "faults": faults}))])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"candidates": ["raft"]}, "candidates"),
        ({"candidates": ["raft"], "planes": {"control": {"candidates": ["pbft"]}}}, "candidates"),
        ({"requires": {"liveness": 0.5}, "planes": {"control": {"candidates": ["pbft"]}}}, "requires"),
    ],
    ids=["candidates-alone", "candidates-beside-planes", "requires-beside-planes"],
)
def test_top_level_candidates_or_requires_on_a_scenario_with_planes_are_refused(tmp_path: Path, extra: dict[str, Any], field: str) -> None:
    """The spec's own docstring says they are not used there; `candidates: [raft]` alone validated OK."""
    path = write(tmp_path, {"scenario": str(ROOT / "scenarios" / "fleet" / "partition.yaml"), **extra}, "spec.yaml")
    line = _validate_refused(path)
    assert line == (
        f"{path}: {field}: the scenario has planes, so a top-level {field!r} is not used:"
        " give each plane its own under planes: {scale: {candidates: [...]}}"
    )


def test_a_trace_window_with_no_plots_is_refused(tmp_path: Path) -> None:
    """`--trace-window` windows the space-time diagram; `--no-plots` draws none, and the window was silently dropped."""
    path = write(tmp_path, RAFT)
    line = run_refused(tmp_path, path, "--trace", "--trace-window", "100ms:200ms")
    assert line == "--trace-window: --no-plots draws no diagram to window (draw it later: consim plot RUN_DIR --trace-window START:END)"


def test_the_sweeps_readme_lists_every_sweep_and_both_interval_methods() -> None:
    """Its table left out bft-message-complexity.yaml, and it called every interval Student's t."""
    text = (ROOT / "scenarios" / "sweeps" / "README.md").read_text(encoding="utf-8")
    listed = {line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ") and ".yaml" in line}
    assert listed == {path.name for path in (ROOT / "scenarios" / "sweeps").glob("*.yaml")}
    assert "`wilson` for proportions" in text and "`t` (Student's t" in text


def test_the_readme_says_validate_prints_a_line_per_problem() -> None:
    """`consim validate` prints every problem of a file, one line each, not one line per file."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "# each file: OK, or one line per problem it has" in text

"""Bad input of every kind: one line on stderr naming file and field, exit 2, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import sim.protocols.base as base
from sim.cli import app
from sim.protocols.base import ProtocolConfig
from sim.scenario import Scenario
from tests.conftest import TOY_SCENARIO
from tests.toy import Toy

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent


def _with(**changes: Any) -> dict[str, Any]:
    return {**TOY_SCENARIO, **changes}


def _network(**changes: Any) -> dict[str, Any]:
    return _with(network={**TOY_SCENARIO["network"], **changes})


# (case id, scenario content (dict or raw YAML text), extra CLI args, field path expected in the line, words expected)
CASES: list[tuple[str, Any, list[str], str, str]] = [
    ("malformed-yaml", "name: x\nnodes: [1, 2\n", [], "", "malformed YAML"),
    ("not-a-mapping", "- just\n- a list\n", [], "", "mapping"),
    ("empty-file", "", [], "", "mapping"),
    ("unknown-field", _with(colour="blue"), [], "colour", "unknown field"),
    ("unknown-nested-field", _network(latency="5ms"), [], "network.latency", "unknown field"),
    ("wrong-type", _with(nodes="five"), [], "nodes", "integer"),
    ("negative-delay", _network(delay={"dist": "lognormal", "median": "-5ms"}), [], "network.delay.median", ">= 0"),
    ("loss-above-one", _network(loss=1.5), [], "network.loss", "<= 1"),
    ("unknown-distribution", _network(delay={"dist": "gamma", "mean": "5ms"}), [], "network.delay", "gamma"),
    ("bad-unit", _with(duration="10 parsecs"), [], "duration", "10 parsecs"),
    ("fault-unknown-node", _with(faults=[{"at": "1s", "crash": "n9"}]), [], "faults[0].crash", "n9"),
    ("fault-after-end", _with(faults=[{"at": "5s", "crash": "n1"}]), [], "faults[0].at", "not before the end"),
    # The run processes events strictly before its end: a fault due at the end never strikes.
    ("fault-at-end", _with(faults=[{"at": "2s", "crash": "n1"}]), [], "faults[0].at", "2s is not before the end of the run (2s)"),
    (
        "recover-leader",
        _with(faults=[{"at": "1s", "recover": "leader"}]),
        [],
        "faults[0].recover",
        "recover acts only on nodes that are down",
    ),
    ("fault-no-action", _with(faults=[{"at": "1s"}]), [], "faults[0]", "exactly one"),
    ("partition-overlap", _with(faults=[{"at": "1s", "partition": [["n0"], ["n0", "n1"]]}]), [], "faults[0].partition[1]", "two groups"),
    ("unknown-mechanism", _with(mechanism="zab"), [], "mechanism", "zab"),
    ("unknown-workload", _with(workload={"kind": "bursty"}), [], "workload.kind", "bursty"),
    ("bad-rate", _with(workload={"kind": "poisson", "rate": "fast"}), [], "workload.rate", "fast"),
    ("unknown-protocol-setting", _with(protocol={"timeout": "1s"}), [], "protocol.timeout", "unknown field"),
    ("duplicate-node-names", _with(nodes=[{"name": "a"}, {"name": "a"}], faults=[]), [], "nodes", "duplicate"),
    ("measure-after-end", _with(measure={"until": "5s"}), [], "measure.until", "after the end"),
    ("measure-bad-from", _with(measure={"from": "soon"}), [], "measure.from", "'ready' or a duration"),
    ("measure-backwards", _with(measure={"from": "1s", "until": "500ms"}), [], "measure", "after 'from'"),
    ("retry-timeout-above-max", _with(workload={"kind": "poisson", "timeout": "2s", "max_timeout": "1s"}), [], "workload.timeout", "1s"),
    ("bad-set-syntax", TOY_SCENARIO, ["--set", "duration"], "duration", "path=value"),
    ("bad-set-value", TOY_SCENARIO, ["--set", "network.loss=2"], "network.loss", "<= 1"),
    ("bad-set-path", TOY_SCENARIO, ["--set", "nodes.x=3"], "nodes.x", "not a mapping"),
]


@pytest.mark.parametrize(("content", "args", "field", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_scenario_is_one_line_exit_2_and_writes_nothing(
    toy_mechanism: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: Any, args: list[str], field: str, words: str
) -> None:
    """Each kind of bad input gives exit 2, a single stderr line 'file: field: problem', no stdout, no files."""
    import yaml

    monkeypatch.chdir(tmp_path)
    path = tmp_path / "bad.yaml"
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
    result = runner.invoke(app, ["run", str(path), *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    source = "--set" if args and "path=value" in words else str(path)
    assert line.startswith(f"{source}: "), line
    if field:
        assert f": {field}: " in line, line
    assert words in line, line
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"], "something was written"


class QuorumConfig(ProtocolConfig):
    """A configurable quorum size."""

    quorum: int = 2


class QuorumToy(Toy):
    """The toy protocol with a quorum setting that the mechanism checks at load time."""

    Config = QuorumConfig

    @classmethod
    def validate(cls, scenario: Scenario, config: ProtocolConfig) -> list[tuple[str, str]]:
        """Two quorums must intersect."""
        assert isinstance(config, QuorumConfig)
        if 2 * config.quorum <= scenario.n:
            return [("protocol.quorum", f"two quorums of {config.quorum} out of {scenario.n} nodes need not intersect")]
        return []


def test_impossible_quorum_from_the_mechanism(monkeypatch: pytest.MonkeyPatch, write_scenario: Any, tmp_path: Path) -> None:
    """A mechanism's own load-time rule (Protocol.validate) is reported like any field error: one line, exit 2."""
    real = base._discover
    monkeypatch.setattr(base, "_discover", lambda: {**real(), "quorum-toy": QuorumToy})
    monkeypatch.chdir(tmp_path)
    path = write_scenario(mechanism="quorum-toy", nodes=5, protocol={"quorum": 2}, faults=[])
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"{path}: protocol.quorum: two quorums of 2 out of 5 nodes need not intersect"
    assert not (tmp_path / "results").exists()
    assert (
        runner.invoke(app, ["validate", str(write_scenario(name="ok.yaml", mechanism="quorum-toy", protocol={"quorum": 2}))]).exit_code == 0
    )


def test_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A scenario file that does not exist: one line naming it, exit 2, nothing written."""
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["run", "nowhere.yaml"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "nowhere.yaml: cannot read file: No such file or directory"
    assert list(tmp_path.iterdir()) == []


def test_bad_cli_option_is_one_line(tmp_path: Path) -> None:
    """A malformed option (--seed abc) is a one-line usage error with exit 2, not a help panel."""
    result = runner.invoke(app, ["run", "x.yaml", "--seed", "abc"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--seed" in lines[0], result.stderr


def test_out_refuses_to_replace_a_foreign_folder(toy_mechanism: Any, write_scenario: Any, tmp_path: Path) -> None:
    """--out pointing at a non-empty folder that is not a run directory is refused, and it is left intact."""
    scenario = write_scenario()
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete")
    result = runner.invoke(app, ["run", str(scenario), "--out", str(precious)])
    assert result.exit_code == 2
    assert "not a run directory" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert (precious / "thesis.tex").read_text() == "do not delete"


def test_out_under_a_file_is_refused_before_the_run(toy_mechanism: Any, write_scenario: Any, tmp_path: Path) -> None:
    """--out below a file names that file, before running (it said only 'File exists', after the whole run)."""
    scenario = write_scenario()
    (tmp_path / "afile").write_text("x")
    result = runner.invoke(app, ["run", str(scenario), "--out", str(tmp_path / "afile" / "sub")])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"--out: cannot make {tmp_path / 'afile' / 'sub'}: {tmp_path / 'afile'} is a file, not a folder"


REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "command",
    [
        ["run", "scenarios/raft-steady.yaml"],
        ["sweep", "scenarios/sweeps/capacity.yaml"],
        ["compare", "scenarios/raft-steady.yaml", "--replicates", "1"],
        ["explore", "scenarios/raft-steady.yaml", "--schedules", "1"],
    ],
    ids=lambda command: command[0],
)
def test_out_that_is_a_file_is_one_line(command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command with --out says the same one line for a file, before any work (compare and explore raised
    FileExistsError / NotADirectoryError tracebacks after the runs); the file is left as it was."""
    monkeypatch.chdir(REPO)
    afile = tmp_path / "afile"
    afile.write_text("keep")
    result = runner.invoke(app, [*command, "--out", str(afile)])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"--out: {afile} is a file"
    assert afile.read_text() == "keep"


@pytest.mark.parametrize("item", ["=5", " =5"])
def test_set_with_no_path_says_so(toy_mechanism: Any, write_scenario: Any, item: str) -> None:
    """`--set =5` names the empty path instead of reporting an unnamed unknown field."""
    result = runner.invoke(app, ["run", str(write_scenario()), "--set", item])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"--set: {item}: expected path=value, and the path before '=' is empty"


def test_validate_reports_each_file_and_exits_2(toy_mechanism: Any, write_scenario: Any) -> None:
    """`consim validate` says OK for a good file and prints the one-line error for a bad one; exit 2."""
    good = write_scenario(name="good.yaml")
    bad = write_scenario(name="bad.yaml", nodes=-3)
    result = runner.invoke(app, ["validate", str(good), str(bad)])
    assert result.exit_code == 2
    assert result.stdout.splitlines()[0] == f"{good}: OK" and "bad.yaml" not in result.stdout
    assert result.stderr.strip() == f"{bad}: nodes: must be >= 1 (got -3)"


def test_plot_of_a_non_run_directory(tmp_path: Path) -> None:
    """`consim plot` on a folder that is not a run directory: one line, exit 2."""
    result = runner.invoke(app, ["plot", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"{tmp_path}: not a run directory (no summary.json)"


def test_plot_of_a_missing_folder_says_it_is_missing(tmp_path: Path) -> None:
    """`consim plot nosuchdir` says the folder is not there (it said "not a run directory (no summary.json)")."""
    missing = tmp_path / "nosuchdir"
    result = runner.invoke(app, ["plot", str(missing)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"{missing}: no such folder"


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_list_of_a_missing_scenarios_folder_is_refused(kind: str, tmp_path: Path) -> None:
    """`consim list --scenarios` with no folder there is bad input (it listed "scenarios: (none)", exit 0)."""
    folder = tmp_path / "scenarios"
    if kind == "file":
        folder.write_text("x")
    result = runner.invoke(app, ["list", "--scenarios", str(folder)])
    assert result.exit_code == 2
    expected = f"{folder} is a file, not a folder" if kind == "file" else f"no folder {folder}"
    assert result.stderr.strip() == f"--scenarios: {expected}"


def test_subprocess_has_no_traceback(tmp_path: Path) -> None:
    """The real entry point (`python -m sim run`) prints one line and exits 2, with no traceback."""
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nmechanism: raft\nnetwork: {loss: 1.5}\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "run", str(path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip() == f"{path}: network.loss: must be <= 1.0 (got 1.5)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]

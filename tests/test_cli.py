"""The command line: run, validate, list and plot, through typer's CliRunner."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

import sim.protocols.base as base
from sim import console, load_scenario, run
from sim.cli import app
from sim.cli_run import run_id
from sim.console import format_summary
from sim.protocols.base import Message
from sim.records import DECISION_COLUMNS, EVENT_COLUMNS, MESSAGE_COLUMNS, REQUEST_COLUMNS, VIOLATION_COLUMNS
from sim.results import RunResult
from tests.toy import Put, Toy

runner = CliRunner()
CONTRACT_SUMMARY_KEYS = {
    "mechanism",
    "nodes",
    "seed",
    "decisions",
    "latency_ms_p50",
    "latency_ms_p95",
    "latency_ms_p99",
    "latency_ms_mean",
    "messages_sent",
    "messages_delivered",
    "messages_dropped",
    "bytes_sent",
    "messages_per_decision",
    "safety_violations",
    "liveness",
    "wall_time_s",
}
TABLE_COLUMNS = {
    "decisions": DECISION_COLUMNS,
    "messages": MESSAGE_COLUMNS,
    "events": EVENT_COLUMNS,
    "violations": VIOLATION_COLUMNS,
    "requests": REQUEST_COLUMNS,
}


def _run_dir(stdout: str) -> Path:
    line = next(line for line in stdout.splitlines() if line.startswith("tables: "))
    return Path(line.removeprefix("tables: ").split(" ")[0].rstrip("/"))


def test_run_writes_the_run_directory_of_the_contract(toy_mechanism: Any, write_scenario: Any, tmp_path: Path, monkeypatch: Any) -> None:
    """`consim run` exits 0, prints a summary, and writes results/<name>/<run-id>/ with every table and plot."""
    scenario = write_scenario()
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["run", str(scenario)])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # stderr is not a terminal here: no progress bar
    assert result.stdout.startswith("run toy-demo\n")
    assert "latency_ms_p50" in result.stdout and "safety_violations" in result.stdout
    run_dir = _run_dir(result.stdout)
    expected_id = run_id(load_scenario(scenario))
    assert run_dir == Path("results") / "toy-demo" / expected_id and expected_id.startswith("seed7-")
    assert result.stdout.rstrip().splitlines()[-1].startswith(f"plots:  {run_dir / 'plots'}/")
    for name, columns in TABLE_COLUMNS.items():
        frame = pd.read_parquet(run_dir / f"{name}.parquet")
        assert tuple(frame.columns)[: len(columns)] == columns, name
    assert len(pd.read_parquet(run_dir / "decisions.parquet")) > 100
    summary = json.loads((run_dir / "summary.json").read_text())
    assert CONTRACT_SUMMARY_KEYS <= set(summary)
    assert summary["seed"] == 7 and summary["safety_violations"] == 0
    resolved = load_scenario(run_dir / "scenario.yaml")
    assert resolved.seed == 7 and resolved.network.loss == 0.01
    assert sorted(p.name for p in (run_dir / "plots").iterdir()) == [
        "latency_cdf.png",
        "message_load.png",
        "messages_by_type.png",
        "performance.png",
        "timeline.png",
    ]
    assert not (run_dir / "trace.parquet").exists()
    assert [p.name for p in run_dir.parent.iterdir()] == [run_dir.name]  # no temporary folder left behind


def test_run_options_seed_set_out_trace_no_plots_quiet(toy_mechanism: Any, write_scenario: Any, tmp_path: Path) -> None:
    """--seed and --set change the resolved scenario (and run id), --out places it, --trace adds the journal, --quiet hides the table."""
    scenario = write_scenario()
    out = tmp_path / "out" / "run1"
    args = ["run", str(scenario), "--seed", "11", "--set", "duration=1500ms", "--set", "network.loss=0", "--out", str(out)]
    result = runner.invoke(app, [*args, "--trace", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "latency_ms_p50" not in result.stdout and result.stdout.startswith("tables: ")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 11 and summary["duration_ms"] == 1500.0
    assert load_scenario(out / "scenario.yaml").network.loss == 0.0
    trace = pd.read_parquet(out / "trace.parquet")
    assert list(trace.columns) == ["send_ms", "deliver_ms", "src", "dst", "type", "size_bytes", "fate"] and len(trace) > 100
    assert (out / "plots" / "spacetime.png").is_file()
    again = runner.invoke(app, [*args, "--no-plots"])
    assert again.exit_code == 0 and not (out / "plots").exists() and not (out / "trace.parquet").exists()
    assert "plots:" not in again.stdout


def test_run_id_is_reproducible_and_depends_on_the_scenario(toy_mechanism: Any, write_scenario: Any) -> None:
    """The run id is the seed plus a hash of the resolved scenario: equal inputs, equal ids; any change, a new id."""
    path = write_scenario()
    assert run_id(load_scenario(path)) == run_id(load_scenario(path))
    assert run_id(load_scenario(path, seed=8)).startswith("seed8-")
    assert run_id(load_scenario(path, ["network.loss=0.02"])) != run_id(load_scenario(path))


class BrokenToy(Toy):
    """Follower n2 decides a value nobody proposed: the validity and agreement checkers must notice."""

    def on_message(self, src: str, msg: Message) -> None:
        """Corrupt what n2 stores."""
        if isinstance(msg, Put) and self.ctx.name == "n2":
            msg = Put(msg.slot, msg.value + "-corrupted")
        super().on_message(src, msg)


@pytest.fixture
def broken_mechanism(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register BrokenToy as `mechanism: broken-toy`."""
    real = base._discover
    monkeypatch.setattr(base, "_discover", lambda: {**real(), "broken-toy": BrokenToy})


def test_strict_exits_3_on_a_safety_violation(broken_mechanism: None, write_scenario: Any, tmp_path: Path) -> None:
    """With violations, `run` warns on stderr and exits 0; with --strict it exits 3 (and still writes the run)."""
    scenario = write_scenario(mechanism="broken-toy", duration="500ms", faults=[])
    loose = runner.invoke(app, ["run", str(scenario), "--out", str(tmp_path / "a"), "--no-plots"])
    assert loose.exit_code == 0
    assert loose.stderr.startswith("warning: ") and "validity" in loose.stderr
    strict = runner.invoke(app, ["run", str(scenario), "--out", str(tmp_path / "b"), "--no-plots", "--strict"])
    assert strict.exit_code == 3
    assert len(pd.read_parquet(tmp_path / "b" / "violations.parquet")) > 0


def test_strict_exits_0_when_safe(toy_mechanism: Any, write_scenario: Any, tmp_path: Path) -> None:
    """--strict on a correct protocol exits 0."""
    result = runner.invoke(app, ["run", str(write_scenario()), "--out", str(tmp_path / "r"), "--no-plots", "--strict", "-q"])
    assert result.exit_code == 0, result.output


def test_validate_ok(toy_mechanism: Any, write_scenario: Any) -> None:
    """`consim validate` on good files prints OK for each, then its resolved timing (rtt, client timeout); exit 0."""
    a, b = write_scenario(name="a.yaml"), write_scenario(name="b.yaml", nodes=5)
    result = runner.invoke(app, ["validate", str(a), str(b)])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert [line for line in lines if not line.startswith("  ")] == [f"{a}: OK", f"{b}: OK"]
    assert lines[1].startswith("  network.rtt: ") and lines[1].endswith("ms") and "  workload.timeout: 500ms" in lines


def test_list_shows_every_section(toy_mechanism: Any, write_scenario: Any, tmp_path: Path) -> None:
    """`consim list` names mechanisms with their docstrings, distributions, faults, behaviours, workloads and scenarios."""
    folder = tmp_path / "scen"
    (folder / "sweeps").mkdir(parents=True)
    (folder / "one.yaml").write_text("name: one\ndescription: The first example.\nmechanism: toy\n")
    (folder / "sweeps" / "grid.yaml").write_text("base: one.yaml\n")
    result = runner.invoke(app, ["list", "--scenarios", str(folder)])
    assert result.exit_code == 0
    out = result.stdout
    for section in ("mechanisms:", "delay distributions:", "fault kinds:", "byzantine behaviours:", "workload kinds:", "scenarios:"):
        assert section in out
    assert re.search(r"^  toy +n0 orders commands", out, re.M)
    assert "lognormal" in out and "churn" in out and "equivocate" in out and "poisson" in out
    assert re.search(r"one\.yaml +The first example\.$", out, re.M)
    assert "grid.yaml" not in out


def test_plot_redraws_identical_pngs(toy_mechanism: Any, write_scenario: Any, tmp_path: Path) -> None:
    """`consim plot RUN_DIR` redraws a run's plots from its saved tables, byte for byte."""
    out = tmp_path / "r"
    assert runner.invoke(app, ["run", str(write_scenario()), "--out", str(out), "--trace", "-q"]).exit_code == 0
    before = {p.name: p.read_bytes() for p in (out / "plots").iterdir()}
    for p in (out / "plots").iterdir():
        p.unlink()
    result = runner.invoke(app, ["plot", str(out)])
    assert result.exit_code == 0, result.output
    after = {p.name: p.read_bytes() for p in (out / "plots").iterdir()}
    assert set(after) == {"latency_cdf.png", "message_load.png", "messages_by_type.png", "performance.png", "timeline.png", "spacetime.png"}
    assert after == before


def test_python_api_matches_the_cli(toy_mechanism: Any, write_scenario: Any, tmp_path: Path) -> None:
    """`run(load_scenario(path))` gives the same tables the CLI saved."""
    path = write_scenario()
    api = run(load_scenario(path))
    assert runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "r"), "--no-plots", "-q"]).exit_code == 0
    saved = RunResult.load(tmp_path / "r")
    pd.testing.assert_frame_equal(api.decisions, saved.decisions, check_dtype=False)
    pd.testing.assert_frame_equal(api.messages, saved.messages, check_dtype=False)
    assert {k: v for k, v in api.summary.items() if k != "wall_time_s"} == {k: v for k, v in saved.summary.items() if k != "wall_time_s"}


def test_summary_table_shows_every_key() -> None:
    """The printed summary lists every summary key but the name and the journal hash, with readable numbers."""
    summary = {
        "name": "x",
        "mechanism": "raft",
        "decisions": 1234,
        "latency_ms_p50": 4.5,
        "liveness": None,
        "elections": 3,
        "journal_sha256": "ab",
    }
    text = format_summary(summary)
    assert text.splitlines()[0] == "run x"
    for key in ("mechanism", "decisions", "latency_ms_p50", "liveness", "elections"):
        assert key in text
    assert "1,234" in text and "4.5" in text and "journal_sha256" not in text


def test_no_arguments_shows_help() -> None:
    """Bare `consim` prints the command list (to stderr) and exits 2."""
    result = runner.invoke(app, [])
    assert result.exit_code == 2
    for command in ("run", "validate", "list", "plot"):
        assert command in result.stderr


def test_progress_bar_appears_only_after_the_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """The progress callback draws nothing when disabled or before the wall-time threshold, and a bar after it."""

    off = console.RunProgress(1000.0, enabled=False)
    off(500.0)
    assert off.bar is None
    monkeypatch.setattr(console, "PROGRESS_AFTER_S", 3600.0)
    early = console.RunProgress(1000.0, enabled=True)
    early(500.0)
    assert early.bar is None
    monkeypatch.setattr(console, "PROGRESS_AFTER_S", 0.0)
    late = console.RunProgress(1000.0, enabled=True)
    late(500.0)
    late(750.0)
    assert late.bar is not None and late.bar.tasks[0].completed == 750.0 and late.bar.tasks[0].total == 1000.0
    late.close()


def test_every_command_and_option_has_help_text() -> None:
    """Each command has a short and a long help, and each of its arguments and options has help text."""
    import typer.main

    group = typer.main.get_command(app)
    assert sorted(group.commands) == ["compare", "explore", "list", "new", "plot", "report", "run", "sweep", "validate"]
    commands = [((name,), command) for name, command in group.commands.items()]
    commands += [(("new", name), command) for name, command in group.commands["new"].commands.items()]  # type: ignore[attr-defined]
    assert [words for words, _ in commands if words[0] == "new"] == [("new",), ("new", "mechanism")]
    for words, command in commands:
        assert command.short_help and command.help, words
        for param in command.params:
            assert getattr(param, "help", None), f"{words} {param.name}"
        result = runner.invoke(app, [*words, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, words


def test_list_shows_each_mechanisms_fault_model() -> None:
    """Every shipped mechanism declares what it tolerates, and `consim list` shows it next to the name."""
    mechanisms = base.mechanisms()
    assert {"raft", "multipaxos", "pbft", "gossip", "voting", "attestation"} <= set(mechanisms)
    out = runner.invoke(app, ["list"]).stdout
    for name, cls in mechanisms.items():
        assert cls.tolerates, name
        assert re.search(rf"^  {name} +{re.escape(cls.tolerates)}  ", out, re.M), name
    assert re.search(r"^  pbft +byzantine f<n/3 ", out, re.M) and re.search(r"^  raft +crash f<n/2 ", out, re.M)

"""Determinism: the same scenario and seed give identical tables, summary and file bytes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from sim import load_scenario, run
from sim.results import TABLES, RunResult

IGNORED = {"wall_time_s"}


def _summary(result: RunResult) -> dict[str, Any]:
    return {k: v for k, v in result.summary.items() if k not in IGNORED}


def _frames(result: RunResult) -> dict[str, pd.DataFrame]:
    frames = {name: getattr(result, name) for name in TABLES}
    if result.trace is not None:
        frames["trace"] = result.trace
    return frames


def test_same_seed_gives_identical_tables_and_summary(toy_mechanism: Any, write_scenario: Any) -> None:
    """Two runs of one scenario and seed agree on every table (trace included) and every summary key but wall time."""
    scenario = load_scenario(write_scenario())
    a, b = run(scenario, trace=True), run(scenario, trace=True)
    assert _summary(a) == _summary(b)
    for name, frame in _frames(a).items():
        pd.testing.assert_frame_equal(frame, _frames(b)[name], check_exact=True, obj=name)
    assert len(a.trace) > 500 and a.summary["decisions"] > 100  # a run with something in it


def test_another_seed_gives_different_results(toy_mechanism: Any, write_scenario: Any) -> None:
    """A different seed changes the draws: different latencies and journal hash."""
    path = write_scenario()
    a, b = run(load_scenario(path)), run(load_scenario(path, seed=8))
    assert a.summary["journal_sha256"] != b.summary["journal_sha256"]
    assert not a.requests["latency_ms"].equals(b.requests["latency_ms"])


def test_saved_files_are_byte_identical(toy_mechanism: Any, write_scenario: Any, tmp_path: Path) -> None:
    """Saving two equal runs gives the same bytes for every parquet table, scenario.yaml, the PNGs, and summary.json minus wall time."""
    scenario = load_scenario(write_scenario())
    dirs = [run(scenario, trace=True).save(tmp_path / name) for name in ("a", "b")]
    files = sorted(p.relative_to(dirs[0]) for p in dirs[0].rglob("*") if p.is_file())
    assert {"decisions.parquet", "trace.parquet", "summary.json", "scenario.yaml"} <= {p.name for p in files}
    assert any(p.suffix == ".png" for p in files)
    for rel in files:
        first, second = (d / rel for d in dirs)
        if rel.name == "summary.json":
            one, two = (json.loads(p.read_text()) for p in (first, second))
            assert {k: v for k, v in one.items() if k not in IGNORED} == {k: v for k, v in two.items() if k not in IGNORED}
            stripped = ["\n".join(line for line in p.read_text().splitlines() if '"wall_time_s"' not in line) for p in (first, second)]
            assert stripped[0] == stripped[1]
        else:
            assert first.read_bytes() == second.read_bytes(), rel


def test_quickstart_twice_through_the_cli_gives_identical_files(tmp_path: Path) -> None:
    """The shipped Raft quickstart run twice by `consim run` writes the same bytes (summary.json aside from wall time)."""
    from typer.testing import CliRunner

    from sim.cli import app

    quickstart = Path(__file__).resolve().parent.parent / "scenarios" / "quickstart.yaml"
    for name in ("a", "b"):
        result = CliRunner().invoke(app, ["run", str(quickstart), "--out", str(tmp_path / name), "--no-plots", "-q"])
        assert result.exit_code == 0, result.output
    for table in (*TABLES, "scenario"):
        suffix = ".yaml" if table == "scenario" else ".parquet"
        assert (tmp_path / "a" / f"{table}{suffix}").read_bytes() == (tmp_path / "b" / f"{table}{suffix}").read_bytes(), table
    one, two = (json.loads((tmp_path / d / "summary.json").read_text()) for d in ("a", "b"))
    one.pop("wall_time_s"), two.pop("wall_time_s")
    assert one == two and one["mechanism"] == "raft" and one["decisions"] > 0


REPO = Path(__file__).resolve().parents[1]
CROSS_PROCESS_SCENARIOS = (
    "scenarios/quickstart.yaml",
    "scenarios/multipaxos-leader-crash.yaml",
    "scenarios/pbft-equivocating-primary.yaml",
    "scenarios/gossip-partition-heal.yaml",
    "scenarios/voting-weighted.yaml",
    "scenarios/attestation-forgers.yaml",
)


def _journal_hashes(hash_seed: str) -> dict[str, str]:
    code = (
        "import json, sys\n"
        "from sim import load_scenario, run\n"
        "print(json.dumps({p: run(load_scenario(p)).summary['journal_sha256'] for p in sys.argv[1:]}))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-c", code, *CROSS_PROCESS_SCENARIOS], capture_output=True, text=True, env=env, check=True, cwd=REPO
    )
    return json.loads(done.stdout)


def test_journal_does_not_depend_on_the_process_hash_seed() -> None:
    """Two processes with different string-hash seeds give the same journal for every mechanism (no set order leaks out)."""
    first, second = _journal_hashes("1"), _journal_hashes("2")
    assert set(first) == set(CROSS_PROCESS_SCENARIOS)
    assert first == second

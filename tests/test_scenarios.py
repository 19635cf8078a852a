"""Every shipped scenario (scenarios/**/*.yaml, sweep files aside) loads, runs and writes its outputs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sim import load_scenario, run
from sim.cli import app
from sim.effects import message_kinds
from sim.protocols.registry import get_mechanism

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "scenarios"
sys.path.insert(0, str(ROOT / "benchmarks"))  # the hash recorder is a repository tool, not part of the package
from journal_hashes import shipped  # noqa: E402

SCENARIOS = shipped()

# Journal hashes recorded by `python benchmarks/journal_hashes.py --write`: speed work must leave
# them unchanged; a change meant to alter a scenario's behaviour rewrites them and says why.
RECORDED_HASHES: dict[str, str] = json.loads((ROOT / "tests" / "journal_hashes.json").read_text())

# Scenarios that demonstrate a safety violation on purpose (file stem -> why). They must show
# one; every other scenario must show none. Add a line here with a scenario that breaks a mechanism.
EXPECT_VIOLATIONS: dict[str, str] = {
    "crash-vs-byzantine-raft": "Raft assumes crash faults; an equivocating leader splits the replicas",
    "crash-vs-byzantine-multipaxos": "Multi-Paxos assumes crash faults; an equivocating leader splits the acceptors",
    "multipaxos-equivocation-violation": "one equivocating Multi-Paxos leader breaks agreement",
    "pbft-f-plus-one-byzantine": "f+1 colluding replicas exceed what PBFT with n = 3f+1 tolerates",
}


def _id(path: Path) -> str:
    return str(path.relative_to(FOLDER))


@pytest.mark.parametrize("path", SCENARIOS, ids=[_id(p) for p in SCENARIOS])
def test_shipped_scenario_runs(path: Path, tmp_path: Path) -> None:
    """The scenario has a description, runs, decides something, writes its tables, and is safe unless it says otherwise."""
    scenario = load_scenario(path)
    assert scenario.description.strip(), f"{path.name} needs a description"
    result = run(scenario)
    run_dir = result.save(tmp_path / "run", plots=False)
    for name in ("decisions", "messages", "events", "violations", "requests"):
        assert (run_dir / f"{name}.parquet").is_file()
    assert (run_dir / "summary.json").is_file() and (run_dir / "scenario.yaml").is_file()
    assert result.summary["messages_delivered"] > 0
    assert result.summary["journal_sha256"] == RECORDED_HASHES.get(_id(path)), (
        f"{_id(path)}: the journal differs from tests/journal_hashes.json (rerun benchmarks/journal_hashes.py --write "
        "only if the change is meant to alter this scenario's behaviour)"
    )
    if scenario.planes is None:
        # Every kind the run sent is one a byzantine entry's `messages` may name (read from the code, see message_kinds).
        mechanism = get_mechanism(scenario.mechanism or "")
        assert set(result.messages["type"]) <= message_kinds(mechanism.protocol, mechanism.client)
    stem = path.stem
    violations = len(pd.read_parquet(run_dir / "violations.parquet"))
    if stem in EXPECT_VIOLATIONS:
        assert violations > 0, f"{stem} should show a violation: {EXPECT_VIOLATIONS[stem]}"
    else:
        assert violations == 0, result.violations.head().to_string()


def test_quickstart_through_the_cli(tmp_path: Path) -> None:
    """`consim run scenarios/quickstart.yaml` (what `make demo` does) exits 0 and says where tables and plots went."""
    out = tmp_path / "quickstart"
    result = CliRunner().invoke(app, ["run", str(FOLDER / "quickstart.yaml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.rstrip().splitlines()
    assert lines[-2].startswith(f"tables: {out}/") and lines[-1].startswith(f"plots:  {out / 'plots'}/")
    assert {"latency_cdf.png", "messages_by_type.png", "timeline.png"} <= {p.name for p in (out / "plots").iterdir()}
    summary = pd.read_json(out / "summary.json", typ="series")
    assert summary["mechanism"] == "raft" and summary["decisions"] > 0 and summary["safety_violations"] == 0

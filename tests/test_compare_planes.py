"""`consim compare` on a scenario with planes: each plane's candidates under the same faults, a recommendation per plane."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from sim.cli import app
from sim.cli_sweep import compare_spec_scenario, plane_requirements
from sim.extends import read_scenario_yaml
from sim.planes.compare import adapt_plane
from sim.report.requirements import Requirements

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "scenarios" / "compare" / "fleet-mechanisms.yaml"
FLEET = ROOT / "scenarios" / "fleet"


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The shipped spec, as `consim compare` runs it, then `consim report` on its output."""
    out = tmp_path_factory.mktemp("cmp") / "out"
    result = CliRunner().invoke(app, ["compare", str(SPEC), "--out", str(out)])
    assert result.exit_code == 0, result.output
    reported = CliRunner().invoke(app, ["report", str(out)])
    assert reported.exit_code == 0, reported.output
    return out, result.output


def test_the_shipped_spec_recommends_per_plane_with_the_reasons(compared: tuple[Path, str]) -> None:
    out, text = compared
    # Control must survive a compromised server: only PBFT declares byzantine tolerance.
    assert "plane control: recommended: pbft" in text
    assert "raft rejected: does not tolerate byzantine faults" in text and "multipaxos rejected: does not tolerate byzantine faults" in text
    # Routing: both meet the staleness bound; gossip is the cheaper.
    assert "plane routing: recommended: gossip" in text and "raft not chosen: meets the requirements but costs more" in text
    table = pd.read_parquet(out / "table.parquet")
    assert list(zip(table["plane"], table["mechanism"], strict=True)) == [
        ("control", "raft"),
        ("control", "multipaxos"),
        ("control", "pbft"),
        ("routing", "gossip"),
        ("routing", "raft"),
    ]
    routing = table[table["plane"] == "routing"].set_index("mechanism")
    assert routing.loc["raft", "messages_per_decision"] > routing.loc["gossip", "messages_per_decision"]
    # Staleness is measured for the log and the store alike; the partition keeps both above a second.
    assert (routing["staleness_ms_p99"] > 1000).all() and (routing["staleness_ms_p99"] < 4000).all()
    meta = json.loads((out / "compare.json").read_text())
    assert meta["planes"]["control"]["requires"]["safety"] == "byzantine"


def test_each_run_swaps_one_plane_and_keeps_the_others_and_the_faults(compared: tuple[Path, str]) -> None:
    out, _ = compared
    runs = pd.read_parquet(out / "runs.parquet")
    assert runs["error"].isna().all() and len(runs) == 5
    for row in runs.to_dict("records"):
        expected = {"scale": "voting", "control": "raft", "routing": "gossip", row["plane"]: row["mechanism"]}
        assert {p: row[f"{p}.mechanism"] for p in expected} == expected
        # The partition splits every plane in every run, and the links still carry scale-ups end to end.
        assert row["links.chains_completed"] >= 3
    scenario = yaml.safe_load((out / "scenario.yaml").read_text())
    assert scenario["faults"][0]["partition"][0][0] == "n27"


def test_the_report_has_the_plane_verdicts(compared: tuple[Path, str]) -> None:
    out, _ = compared
    md = (out / "report.md").read_text()
    assert "| control | raft | rejected |" in md and "| control | pbft | recommended |" in md
    assert "| routing | gossip | recommended |" in md and "| routing | raft | meets, costlier |" in md
    assert "plane routing (candidates gossip, raft): liveness at least 0.9; staleness p99 at most 4s" in md
    assert "### control: pbft" in md


def test_a_candidate_that_refuses_a_fault_aimed_at_its_plane_drops_it_with_a_note() -> None:
    data = read_scenario_yaml(FLEET / "byzantine-server.yaml")
    data["planes"][0]["workload"] = {"kind": "poisson", "rate": "2/s"}  # a workload a log takes
    scenario, notes = adapt_plane(data, "scale", "raft", "byzantine-server.yaml")
    assert scenario is not None
    assert notes[0] == "voting settings not used: accuracy, answers, rule"
    assert any(note.startswith("dropped fault corrupt: 'corrupt' makes no sense for plane scale (raft)") for note in notes)
    assert [(f.plane, f.behaviour) for f in scenario.faults] == [("routing", "omit")]
    assert scenario.plane_scenarios["scale"].mechanism == "raft" and scenario.plane_scenarios["routing"].mechanism == "gossip"


def test_a_candidate_that_cannot_run_the_plane_is_skipped_with_the_reason() -> None:
    scenario, notes = adapt_plane(read_scenario_yaml(FLEET / "byzantine-server.yaml"), "scale", "multipaxos", "x")
    assert scenario is None and notes[-1].startswith("skipped: planes[0].workload.kind: unknown workload 'questions' for multipaxos")


def test_requirements_default_to_the_scenario_planes_own(tmp_path: Path) -> None:
    spec = {"scenario": str(FLEET / "partition.yaml"), "planes": {"control": {"candidates": ["raft"]}, "scale": {"candidates": ["voting"]}}}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    scenario, found = compare_spec_scenario(path)
    assert found is not None
    requires = plane_requirements(found[0], scenario)
    assert requires["control"].safety == "crash" and requires["control"].latency_p99 == 200.0
    assert requires["scale"].liveness == 1.0
    only = {"scenario": str(FLEET / "partition.yaml"), "planes": {"routing": {"candidates": ["gossip"], "requires": {}}}}
    path.write_text(yaml.safe_dump(only))
    assert plane_requirements(compare_spec_scenario(path)[1][0], scenario)["routing"] == Requirements()


@pytest.mark.parametrize(
    ("planes", "words"),
    [
        ({"nope": {"candidates": ["raft"]}}, "planes.nope: the scenario has no plane named 'nope'"),
        ({"control": {"candidates": ["raft", "paxosx"]}}, "planes.control.candidates[1]: unknown mechanism 'paxosx'"),
        ({"control": {"candidates": []}}, "planes.control.candidates"),
        ({"control": {"candidates": ["raft"], "requires": {"staleness_p99": "soon"}}}, "planes.control.requires.staleness_p99"),
    ],
)
def test_bad_plane_compare_spec_is_one_line_exit_2(tmp_path: Path, planes: dict, words: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({"scenario": str(FLEET / "partition.yaml"), "planes": planes}))
    result = CliRunner().invoke(app, ["compare", str(path), "--out", str(tmp_path / "o")])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and words in lines[0], result.output
    assert not (tmp_path / "o").exists()

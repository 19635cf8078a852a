"""`consim report` on a run with planes: per plane its needs, faults and measures; the fleet timeline; the pipeline."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.report import report_blocks
from sim.report.document import Figure, Heading, Table
from sim.report.fleet import chain_totals, needs_blocks, pipeline_blocks

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def partition_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`consim run scenarios/fleet/partition.yaml --out D` then `consim report D`, as the README has it."""
    out = tmp_path_factory.mktemp("fleet") / "run"
    runner = CliRunner()
    ran = runner.invoke(app, ["run", str(ROOT / "scenarios" / "fleet" / "partition.yaml"), "--out", str(out)])
    assert ran.exit_code == 0, ran.output
    reported = runner.invoke(app, ["report", str(out)])
    assert reported.exit_code == 0, reported.output
    return out, (out / "report.md").read_text(encoding="utf-8")


def section(markdown: str, heading: str) -> str:
    """The text under a `## heading` up to the next `## `."""
    start = markdown.index(f"## {heading}\n")
    end = markdown.find("\n## ", start + 3)
    return markdown[start : end if end >= 0 else None]


def test_partition_report_has_one_section_per_plane_with_needs_faults_and_measures(partition_report: tuple[Path, str]) -> None:
    _, md = partition_report
    for plane, mechanism in (("scale", "voting"), ("control", "raft"), ("routing", "gossip")):
        text = section(md, f"Plane {plane}: {mechanism}")
        for heading in ("The guarantee it provides", "The guarantee it needs", "Under which faults", "What was measured"):
            assert f"### {heading}" in text, (plane, heading)
        # The partition struck every plane at 6 s and healed at 11 s.
        assert f"6000 ms: partition (plane {plane}" in text and f"11000 ms: heal (plane {plane})" in text
        assert "Met in this run." in text
    routing = section(md, "Plane routing: gossip")
    assert "staleness p99 (ms)" in routing and "staleness\\_p99 5s" in routing


def test_partition_report_shows_the_fleet_timeline_and_the_pipeline(partition_report: tuple[Path, str]) -> None:
    out, md = partition_report
    timeline = section(md, "The fleet timeline")
    assert "data:image/png;base64," in timeline and "fleet\\_timeline.png" in timeline
    pipe = section(md, "The pipeline: end-to-end time")
    assert "0: scale -&gt; control" in pipe or "0: scale -> control" in pipe
    assert "1: control -&gt; routing" in pipe or "1: control -> routing" in pipe
    pipeline = pd.read_parquet(out / "pipeline.parquet")
    totals = chain_totals(pipeline)["e2e_ms"].dropna()
    # The report's "in all" row quotes the pipeline table's end-to-end median and longest.
    assert f"{len(totals)}/{pipeline['chain'].nunique()} complete" in pipe
    assert f"{totals.median():,.0f} ms" in pipe and f"{totals.max():,.0f} ms" in pipe
    # The chain triggered just before the partition ends waits for it to heal: the longest.
    assert totals.max() > 4000 > totals.min()
    # The timeline appears once, in its own section, not again under shared figures.
    blocks = report_blocks(out)
    assert sum(isinstance(b, Figure) and "fleet_timeline" in b.caption for b in blocks) == 1


def test_a_need_the_run_misses_is_reported_with_its_reason() -> None:
    values = {"latency_ms_p99": 350.0, "liveness": 1.0, "messages_per_decision": 10.0, "staleness_ms_p99": 9000.0}
    text = needs_blocks({"safety": "byzantine", "latency_p99": "200ms", "staleness_p99": "5s"}, "crash f<n/2", values, 0)[1].text
    assert "NOT met in this run" in text
    assert "does not tolerate byzantine faults" in text and "too slow" in text and "too stale" in text
    met = needs_blocks({"safety": "crash", "latency_p99": "400ms"}, "crash f<n/2", values, 0)[1].text
    assert "Met in this run." in met
    assert "unsafe" in needs_blocks({"safety": "crash"}, "crash f<n/2", values, 3)[1].text


def test_pipeline_section_counts_a_chain_that_never_reached_every_node_as_incomplete() -> None:
    row = {
        "from_plane": "a",
        "to_plane": "b",
        "trigger_slot": "0",
        "trigger_value": "up",
        "submit_ms": 0.0,
        "cmd_id": "c",
    }
    pipeline = pd.DataFrame(
        [
            {
                **row,
                "chain": 0,
                "stage": 0,
                "link": 0,
                "trigger_ms": 0.0,
                "decided_ms": 10.0,
                "done_ms": 30.0,
                "nodes_decided": 3,
                "plane_nodes": 3,
                "stage_ms": 10.0,
                "final": True,
            },
            {
                **row,
                "chain": 1,
                "stage": 0,
                "link": 0,
                "trigger_ms": 100.0,
                "decided_ms": 150.0,
                "done_ms": 190.0,
                "nodes_decided": 2,
                "plane_nodes": 3,
                "stage_ms": 50.0,
                "final": True,
            },
        ]
    )
    blocks = pipeline_blocks(pipeline, [{"from": "a", "to": "b", "submit": "x"}])
    table = next(b for b in blocks if isinstance(b, Table))
    assert table.rows[-1][1] == "1/2 complete" and table.rows[-1][4] == "30 ms"
    assert table.rows[0][1:4] == (2, "30 ms", "50 ms")
    assert [h.text for h in blocks if isinstance(h, Heading)][0] == "The pipeline: end-to-end time"
    assert pipeline_blocks(None, []) == []


@pytest.mark.parametrize(
    ("requires", "words"),
    [
        ({"speed": 3}, "planes[1].requires.speed: unknown field"),
        ({"latency_p99": "soon"}, "planes[1].requires.latency_p99: expected a duration"),
        ({"safety": "paranoid"}, "planes[1].requires.safety"),
    ],
)
def test_a_bad_plane_requirement_is_one_line_naming_the_plane(requires: dict, words: str) -> None:
    from sim.errors import ScenarioError
    from sim.extends import read_scenario_yaml
    from sim.scenario import scenario_from_dict

    data = read_scenario_yaml(ROOT / "scenarios" / "fleet" / "no-faults.yaml")
    data["planes"][1]["requires"] = requires
    with pytest.raises(ScenarioError) as caught:
        scenario_from_dict(data, "fleet.yaml")
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_staleness_of_a_log_counts_a_later_entry_and_skips_named_slots() -> None:
    from sim.report.facts import staleness

    log = pd.DataFrame(
        {
            "node": ["n0", "n1", "n0", "n1"],
            "slot": [1, 2, 2, 2],
            "value": ["a", "b", "b", "b"],
            "time_ms": [100.0, 400.0, 200.0, 400.0],
        }
    )
    # Entry 1 from 100 ms: n0 at once, n1 only through entry 2 at 400 ms (300 ms stale);
    # entry 2 from 200 ms: n0 at once, n1 at 400 ms (200 ms).
    found = staleness(log, 1000.0)
    assert found is not None and found["staleness_ms_max"] == 300.0 and found["staleness_ms_mean"] == 125.0
    assert found["never_informed"] == 0.0
    votes = log.assign(slot=["client0:1", "client0:2", "client0:2", "client0:2"])
    assert staleness(votes, 1000.0) is None

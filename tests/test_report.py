"""`consim report`: run, sweep and compare directories as Markdown and HTML; planes; bad input."""

from __future__ import annotations

import base64
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from sim import load_scenario, run
from sim.cli import app
from sim.report import report_blocks, write_report
from sim.report.document import Figure, Heading, Table
from sim.report.facts import describe_fault, observed_faults, staleness
from sim.results import TABLES

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"
GOSSIP = ROOT / "scenarios" / "gossip-partition-heal.yaml"
SHORT = ["duration=2s", "workload.until=1.5s", "faults=[{at: 1s, crash: leader, for: 500ms}]"]
SHORT_SET = [arg for pair in zip(["--set"] * len(SHORT), SHORT, strict=True) for arg in pair]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short quickstart run (raft, leader crash) saved with its plots."""
    return run(load_scenario(QUICKSTART, SHORT)).save(tmp_path_factory.mktemp("run") / "qs")


@pytest.fixture(scope="module")
def gossip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The gossip partition-heal run saved with its plots."""
    return run(load_scenario(GOSSIP)).save(tmp_path_factory.mktemp("run") / "gossip")


class Page(HTMLParser):
    """Collects the tags, attributes and headings of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Keep every start tag with its attributes."""
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        """Keep the text."""
        self.text.append(data)


def parse(page: Path) -> Page:
    """The parsed HTML of a report."""
    parser = Page()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def assert_self_contained(page: Path) -> int:
    """The page loads nothing from outside: no script, no link, every image an embedded PNG. Returns the image count."""
    parsed = parse(page)
    tags = [t for t, _ in parsed.tags]
    assert "script" not in tags and "link" not in tags and "iframe" not in tags
    images = [a["src"] for t, a in parsed.tags if t == "img"]
    for src in images:
        assert src is not None and src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    for _, attrs in parsed.tags:
        for name, value in attrs.items():
            assert not (value or "").startswith(("http:", "https:", "//")), f"external {name}={value}"
    return len(images)


def section(markdown: str, heading: str) -> str:
    """The Markdown from `heading` to the next heading of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    start = markdown.index(heading + "\n")
    rest = markdown[start + len(heading) :]
    stop = re.search(rf"^#{{1,{level}}} ", rest, flags=re.MULTILINE)
    return rest[: stop.start()] if stop else rest


def test_report_on_a_run_dir_says_guarantee_measures_faults_and_embeds_every_plot(run_dir: Path, tmp_path: Path) -> None:
    """A run's report names raft's declared bound, its latency, the leader crash and embeds each plots/*.png."""
    md, page = write_report(run_dir, tmp_path / "out")
    text = md.read_text(encoding="utf-8")
    again = write_report(run_dir, tmp_path / "again")
    assert again[0].read_bytes() == md.read_bytes() and again[1].read_bytes() == page.read_bytes()  # same run, same bytes
    summary = json.loads((run_dir / "summary.json").read_text())
    assert "# consim report: quickstart" in text
    assert "crash f&lt;n/2 (f≤2 of 5)" in text and "crash leader at 1s for 500ms" in text
    assert re.search(r"- 1000 ms: n\d crash \(was leader\)\n- 1500 ms: n\d recover\n", text)
    assert f"| latency p99 (ms) | {summary['latency_ms_p99']:,.3f}".rstrip("0").rstrip(".") in text
    assert "Held: no safety checker fired" in text and "check\\_election\\_safety" in text
    pngs = sorted((run_dir / "plots").glob("*.png"))
    assert len(pngs) >= 3 and assert_self_contained(page) == len(pngs) == text.count("](data:image/png;base64,")


def test_run_and_compare_reports_name_the_f_a_bft_cluster_is_configured_for(tmp_path: Path) -> None:
    """10 PBFT replicas with `protocol.f: 1` tolerate one fault: both reports' guarantee says f≤1 (they said f≤3)."""
    data = {
        "name": "pbft-f1",
        "mechanism": "pbft",
        "nodes": 10,
        "duration": "300ms",
        "protocol": {"f": 1},
        "workload": {"kind": "poisson", "rate": "20/s", "until": "200ms"},
    }
    scenario = tmp_path / "pbft-f1.yaml"
    scenario.write_text(yaml.safe_dump(data), encoding="utf-8")
    folder = run(load_scenario(scenario)).save(tmp_path / "run", plots=False)
    guarantee = section(write_report(folder, tmp_path / "run-report")[0].read_text(encoding="utf-8"), "### The guarantee it provides")
    assert "byzantine f&lt;n/3 (f≤1 of 10)" in guarantee
    out = tmp_path / "cmp"
    result = CliRunner().invoke(app, ["compare", str(scenario), "-m", "pbft", "-r", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = write_report(out)[0].read_text(encoding="utf-8")
    assert "f≤3" not in text and "byzantine f&lt;n/3 (f≤1 of 10)" in section(text, "## The guarantee each mechanism provides")


SHORT_RUN = {
    "duration": "300ms",
    "network": {"delay": {"dist": "constant", "value": "5ms"}},
    "workload": {"kind": "poisson", "rate": "20/s", "until": "200ms"},
}


@pytest.mark.parametrize(
    ("mechanism", "nodes", "protocol", "grid", "expected"),
    [
        ("pbft", 10, {"f": 1}, {"network.loss": [0.0, 0.05]}, "byzantine f&lt;n/3 (f≤1 of 10)"),
        ("multipaxos", 5, {"quorums": {"phase1": 4, "phase2": 2}}, {"network.loss": [0.0, 0.05]}, "crash f&lt;n/2 (f≤1 of 5)"),
        ("pbft", 10, {}, {"protocol.f": [1, 2]}, "byzantine f&lt;n/3 (f≤1 of 10, f≤2 of 10 across the grid)"),
    ],
)
def test_sweep_report_names_the_bound_each_grid_point_is_configured_for(
    tmp_path: Path, mechanism: str, nodes: int, protocol: dict, grid: dict, expected: str
) -> None:
    """PBFT with `protocol.f: 1` of 10 tolerates 1 (the sweep report said f≤3) and Multi-Paxos with phase-1 quorums
    of 4 of 5 survives one crash (it said f≤2): the report reads each grid point's `fault_bound`, not n alone."""
    from sim.cli_sweep import sweep_command

    base = {"name": f"{mechanism}-bound", "mechanism": mechanism, "nodes": nodes, "protocol": protocol, **SHORT_RUN}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base), encoding="utf-8")
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump({"name": "bound", "base": "base.yaml", "grid": grid, "replicates": 1}))
    out = tmp_path / "sweep"
    sweep_command(tmp_path / "sweep.yaml", jobs=1, out=out, quiet=True, plots=False)
    guarantee = section(write_report(out)[0].read_text(encoding="utf-8"), "## The guarantee each mechanism provides")
    assert f"Tolerates: {expected}:" in guarantee
    assert "f≤3" not in guarantee and "f≤2 of 5" not in guarantee


def test_sweep_report_names_no_count_when_a_grid_point_no_longer_loads(tmp_path: Path) -> None:
    """A sweep directory whose scenario no longer loads gets the declared bound with no count rather than n's guess."""
    from sim.report.collection import sweep_labels

    meta = {"base": {"name": "x", "mechanism": "pbft", "nodes": 10, "protocol": {"f": 1, "no_such_setting": 1}}, "points": [{}]}
    assert sweep_labels(meta, ["pbft"]) == {"pbft": "byzantine f<n/3"}
    meta["base"]["protocol"] = {"f": 1}
    assert sweep_labels(meta, ["pbft"]) == {"pbft": "byzantine f<n/3 (f≤1 of 10)"}


def test_report_on_a_run_without_plots_draws_them(tmp_path: Path) -> None:
    """A run saved with --no-plots still gets its figures, drawn for the report."""
    folder = run(load_scenario(QUICKSTART, SHORT)).save(tmp_path / "bare", plots=False)
    blocks = report_blocks(folder)
    assert not (folder / "plots").exists()
    assert sum(isinstance(b, Figure) for b in blocks) >= 3


def test_report_on_a_gossip_run_reports_staleness(gossip_dir: Path, tmp_path: Path) -> None:
    """Gossip's report says how long nodes worked on an old value: the 2s partition shows in the longest staleness."""
    md, _ = write_report(gossip_dir, tmp_path)
    text = md.read_text(encoding="utf-8")
    assert "staleness: time a node works on an old value, mean (ms)" in text
    found = staleness(pd.read_parquet(gossip_dir / "decisions.parquet"), 4000.0)
    assert found is not None and 1500 < found["staleness_ms_max"] < 2500 and found["never_informed"] == 0


def test_staleness_counts_newer_writes_and_never_informed_nodes() -> None:
    """A node that learns a newer write stops being stale on the older one; one that never learns is stale until the end."""
    rows = [
        # key k: v1 by a at 0, known by b at 10; v2 by a at 100, known by b at 150; c never hears anything.
        (0.0, "a", "k@1:a", "k", 1, "a"),
        (10.0, "b", "k@1:a", "k", 1, "a"),
        (100.0, "a", "k@2:a", "k", 2, "a"),
        (150.0, "b", "k@2:a", "k", 2, "a"),
        (120.0, "c", "other@1:c", "other", 1, "c"),
    ]
    decisions = pd.DataFrame(rows, columns=["time_ms", "node", "slot", "key", "version", "writer"])
    found = staleness(decisions, 200.0)
    assert found is not None
    # k@1: a 0, b 10, c 200; k@2: a 0, b 50, c 100; other@1: a 80, b 80, c 0 (never informed: c twice, a and b once each).
    assert found["never_informed"] == 4
    assert found["staleness_ms_max"] == 200.0
    assert found["staleness_ms_mean"] == pytest.approx((0 + 10 + 200 + 0 + 50 + 100 + 80 + 80 + 0) / 9, abs=1e-3)
    assert staleness(decisions.drop(columns="key"), 200.0) is None


def planes_run(run_dir: Path, gossip_dir: Path, target: Path, nested: bool = True) -> Path:
    """A hand-built two-plane run directory: the raft run as plane `model`, the gossip run as plane `routing`."""
    target.mkdir()
    model, routing = (json.loads((d / "summary.json").read_text()) for d in (run_dir, gossip_dir))
    for name in TABLES:
        a, b = pd.read_parquet(run_dir / f"{name}.parquet"), pd.read_parquet(gossip_dir / f"{name}.parquet")
        frames = [f.assign(plane=p) for f, p in ((a, "model"), (b, "routing")) if len(f)]
        both = pd.concat(frames, ignore_index=True) if frames else a.assign(plane=pd.Series(dtype=str))
        for column in [c for c in ("slot", "value") if c in both]:  # raft's slots are numbers, gossip's text: one type per column
            both[column] = both[column].map(lambda v: v if v is None or v != v else str(v))
        both.to_parquet(target / f"{name}.parquet")
    scenario = yaml.safe_load((gossip_dir / "scenario.yaml").read_text())
    scenario["planes"] = [{"name": "model", "mechanism": "raft", "nodes": 5}, {"name": "routing", "mechanism": "gossip"}]
    del scenario["mechanism"]
    (target / "scenario.yaml").write_text(yaml.safe_dump(scenario))
    sent = model["messages_sent"] + routing["messages_sent"]
    totals = {"name": "fleet", "nodes": 40, "seed": 5, "duration_ms": 4000.0, "messages_sent": sent}
    (target / "summary.json").write_text(json.dumps({**totals, "model": model, "routing": routing} if nested else totals))
    for plane, source in (("model", run_dir), ("routing", gossip_dir)):
        (target / "plots" / plane).mkdir(parents=True)
        for png in (source / "plots").glob("*.png"):
            (target / "plots" / plane / png.name).write_bytes(png.read_bytes())
    (target / "plots" / "timeline_shared.png").write_bytes((run_dir / "plots" / "performance.png").read_bytes())
    return target


def test_report_groups_by_plane_when_tables_carry_a_plane_column(run_dir: Path, gossip_dir: Path, tmp_path: Path) -> None:
    """Each plane gets its own guarantee, numbers and figures; the shared figure lands in its own section."""
    folder = planes_run(run_dir, gossip_dir, tmp_path / "fleet")
    md, page = write_report(folder, tmp_path / "out")
    text = md.read_text(encoding="utf-8")
    model, routing = section(text, "## Plane model: raft"), section(text, "## Plane routing: gossip")
    raft = json.loads((run_dir / "summary.json").read_text())
    assert "crash f&lt;n/2 (f≤2 of 5)" in model and "| messages sent | " + f"{raft['messages_sent']:,}" + " |" in model
    assert "staleness p99 (ms)" in routing and "staleness p99 (ms)" not in model
    assert "crash, loss (eventual)" in routing
    assert model.count("](data:image/png") == model.count("(model/") // 2 == len(list((run_dir / "plots").glob("*.png")))
    assert routing.count("](data:image/png") == routing.count("(routing/") // 2 == len(list((gossip_dir / "plots").glob("*.png")))
    assert "timeline\\_shared" in section(text, "## Shared figures")
    assert assert_self_contained(page) == len(list((folder / "plots").rglob("*.png")))


def test_report_on_a_sweep_dir_has_the_table_and_the_figures(tmp_path: Path) -> None:
    """A sweep's report has one table row per grid point and embeds the sweep's plots."""
    from sim.cli_sweep import sweep_command

    spec = {
        "name": "loss-small",
        "base": str(QUICKSTART),
        "set": {"duration": "1500ms", "workload.until": "1s", "faults": []},
        "grid": {"network.loss": [0.0, 0.1]},
        "replicates": 2,
    }
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(spec))
    out = tmp_path / "sweep"
    sweep_command(tmp_path / "sweep.yaml", jobs=1, out=out, quiet=True, plots=True)
    md, page = write_report(out)
    assert md.parent == out
    blocks = report_blocks(out)
    table = next(b for b in blocks if isinstance(b, Table))
    assert len(table.rows) == 2 and "network.loss" in table.columns
    assert "no faults injected" in md.read_text(encoding="utf-8")
    drawn = len(list((out / "plots").glob("*.png")))
    assert assert_self_contained(page) == drawn > 0
    for png in (out / "plots").glob("*.png"):
        png.unlink()
    _, again = write_report(out, tmp_path / "again")
    assert assert_self_contained(again) == drawn  # a sweep saved without plots gets them drawn for the report


def write_spec(folder: Path, requires: dict, candidates: list[str], **extra: object) -> Path:
    """A compare spec on the quickstart scenario."""
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump({"scenario": str(QUICKSTART), "candidates": candidates, "requires": requires, **extra}))
    return path


def test_compare_spec_recommends_and_the_report_says_why_others_lost(tmp_path: Path) -> None:
    """A spec requiring byzantine tolerance rejects raft for its fault model; pbft is recommended; the report shows both."""
    spec = write_spec(tmp_path, {"safety": "byzantine", "liveness": 0.5}, ["raft", "pbft"], replicates=1)
    out = tmp_path / "cmp"
    result = CliRunner().invoke(app, ["compare", str(spec), "--out", str(out), *SHORT_SET])
    assert result.exit_code == 0, result.output
    assert "recommended: pbft" in result.output and "raft rejected: does not tolerate byzantine faults" in result.output
    meta = json.loads((out / "compare.json").read_text())
    assert meta["candidates"] == ["raft", "pbft"] and meta["requires"]["safety"] == "byzantine"
    assert (out / "scenario.yaml").is_file()
    report = CliRunner().invoke(app, ["report", str(out)])
    assert report.exit_code == 0, report.output
    text = (out / "report.md").read_text(encoding="utf-8")
    verdicts = section(text, "## Recommendation")
    assert "Recommended: pbft" in verdicts and "| raft | rejected |" in verdicts and "does not tolerate byzantine faults" in verdicts
    assert "crash leader at 1s for 500ms" in text
    assert assert_self_contained(out / "report.html") == 1


def test_plain_compare_dir_reports_without_a_recommendation(tmp_path: Path) -> None:
    """Compare on a scenario (no spec) still reports: the candidates' table, no recommendation section."""
    out = tmp_path / "cmp"
    result = CliRunner().invoke(app, ["compare", str(QUICKSTART), "-m", "raft", "-r", "1", "--out", str(out), *SHORT_SET])
    assert result.exit_code == 0, result.output
    assert "recommended" not in result.output
    md, _ = write_report(out)
    text = md.read_text(encoding="utf-8")
    assert "## Recommendation" not in text and "## What was measured (means over seeds)" in text


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        (lambda p: write_spec(p, {"latency_p99": "fast"}, ["raft"]), "requires.latency_p99"),
        (lambda p: write_spec(p, {"safety": "paranoid"}, ["raft"]), "requires.safety"),
        (lambda p: write_spec(p, {"speed": 3}, ["raft"]), "requires.speed"),
        (lambda p: write_spec(p, {}, ["raft"], cheapest_by="vibes"), "cheapest_by"),
        (lambda p: write_spec(p, {"liveness": 2}, ["raft"]), "requires.liveness"),
        (lambda p: write_spec(p, {}, ["raft", "nope"]), "unknown mechanism"),
    ],
)
def test_bad_compare_spec_is_one_line_exit_2(tmp_path: Path, setup, words: str) -> None:
    """Bad requirements, an unknown ranking and an unknown candidate are one line naming the field, exit 2."""
    path = setup(tmp_path)
    result = CliRunner().invoke(app, ["compare", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in result.output


def test_compare_spec_naming_a_missing_scenario_is_one_line(tmp_path: Path) -> None:
    """A spec whose scenario file does not exist names the spec file and the field."""
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump({"scenario": "nowhere.yaml", "requires": {}}))
    result = CliRunner().invoke(app, ["compare", str(tmp_path / "spec.yaml")])
    assert result.exit_code == 2 and result.output.strip() == f"{tmp_path / 'spec.yaml'}: scenario: no such scenario file: nowhere.yaml"


def test_report_bad_input_is_one_line_exit_2(tmp_path: Path, run_dir: Path) -> None:
    """No directory, a folder that is no output, an unfinished sweep, --out naming a file: one line each, exit 2."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "sweep.json").write_text("{}")
    (tmp_path / "file").write_text("x")
    cases = [
        ([str(tmp_path / "missing")], "no such directory"),
        ([str(tmp_path / "empty")], "not a run, sweep or compare directory"),
        ([str(tmp_path / "half")], "the sweep has not finished"),
        ([str(run_dir), "--out", str(tmp_path / "file")], "--out: "),
    ]
    for args, words in cases:
        result = CliRunner().invoke(app, ["report", *args])
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and words in lines[0], result.output


def test_report_never_overwrites_a_report_file_consim_did_not_write(tmp_path: Path, run_dir: Path) -> None:
    """A user's report.md (or report.html) in --out or in the directory itself: one line, exit 2, nothing written.

    Before, `consim report` wrote over it without a word. Its own report it replaces, as before.
    """
    out = tmp_path / "notes"
    out.mkdir()
    (out / "report.md").write_text("# my notes\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["report", str(run_dir), "--out", str(out)])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"--out: {out / 'report.md'} was not written by consim report; refusing to overwrite it (move it away or choose another --out)"
    )
    assert (out / "report.md").read_text(encoding="utf-8") == "# my notes\n" and sorted(p.name for p in out.iterdir()) == ["report.md"]
    # In the run directory itself (no --out), a page of the user's is kept too.
    own = tmp_path / "run"
    shutil.copytree(run_dir, own)
    (own / "report.html").write_text("<p>mine</p>\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["report", str(own)])
    assert result.exit_code == 2
    problem = "not written by consim report; refusing to overwrite it (move it away, or write the report elsewhere with --out DIR)"
    assert result.output.strip() == f"{own / 'report.html'}: {problem}"
    assert (own / "report.html").read_text(encoding="utf-8") == "<p>mine</p>\n" and not (own / "report.md").exists()
    # Moved away, the report is written; written by consim, it is replaced on the next call.
    (own / "report.html").unlink()
    for _ in range(2):
        result = CliRunner().invoke(app, ["report", str(own)])
        assert result.exit_code == 0, result.output
    assert (own / "report.md").read_text(encoding="utf-8").startswith("# consim report: quickstart")
    assert sorted(p.name for p in own.iterdir() if p.name.startswith((".", "report"))) == ["report.html", "report.md"]  # no temporary left


def test_report_on_a_run_dir_with_a_broken_table_is_one_line(run_dir: Path, tmp_path: Path) -> None:
    """A run directory whose parquet file is damaged is reported as unreadable, not as a traceback."""
    broken = tmp_path / "broken"
    broken.mkdir()
    for item in run_dir.iterdir():
        if item.is_file():
            (broken / item.name).write_bytes(item.read_bytes())
    (broken / "decisions.parquet").write_bytes(b"not parquet")
    result = CliRunner().invoke(app, ["report", str(broken)])
    assert result.exit_code == 2 and "cannot read the run directory" in result.output and len(result.output.strip().splitlines()) == 1


def test_headings_follow_the_documented_outline(run_dir: Path) -> None:
    """A one-mechanism run: title, faults, the mechanism with its guarantee, measurements and figures."""
    headings = [(b.level, b.text) for b in report_blocks(run_dir) if isinstance(b, Heading)]
    assert headings[:6] == [
        (1, "consim report: quickstart"),
        (2, "Under which faults"),
        (2, "Mechanism: raft"),
        (3, "The guarantee it provides"),
        (3, "What was measured"),
        (3, "Figures"),
    ]


def test_compare_spec_with_an_inline_scenario_runs_and_validates(tmp_path: Path) -> None:
    """A spec may carry its scenario inline; `consim validate` accepts a good spec and rejects a bad candidate in one line."""
    scenario = load_scenario(QUICKSTART, SHORT).resolved()
    spec = tmp_path / "inline.yaml"
    spec.write_text(yaml.safe_dump({"scenario": scenario, "candidates": ["raft"], "requires": {"liveness": 0.5}, "replicates": 1}))
    assert CliRunner().invoke(app, ["validate", str(spec)]).output.startswith(f"{spec}: OK")
    result = CliRunner().invoke(app, ["compare", str(spec), "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 0, result.output
    assert "recommended: raft" in result.output
    assert json.loads((tmp_path / "cmp" / "compare.json").read_text())["scenario"] == f"{spec}#scenario"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"scenario": scenario, "candidates": ["raft", "nope"]}))
    checked = CliRunner().invoke(app, ["validate", str(bad)])
    assert checked.exit_code == 2 and checked.output.strip().startswith(f"{bad}: candidates[1]: unknown mechanism 'nope'")


@pytest.mark.parametrize(
    ("fault", "line"),
    [
        ({"at": "3s", "crash": "leader", "for": "2s"}, "crash leader at 3s for 2s"),
        ({"at": "1s", "partition": [["n0", "n1"], ["n2", "n3", "n4"]], "until": "4s"}, "partition [n0, n1] | [n2, n3, n4] at 1s until 4s"),
        ({"at": "0ms", "cut": {"from": ["n1", "n2"], "to": ["n3"]}}, "cut n1, n2 -> n3 at 0ms"),
        ({"byzantine": ["n4"], "behaviour": "equivocate", "from": "1.6s"}, "byzantine n4 (equivocate) from 1.6s"),
        ({"byzantine": ["n4"], "behaviour": "silent", "plane": "routing"}, "byzantine n4 (silent) on plane routing from the start"),
    ],
)
def test_fault_plan_entries_read_as_one_line(fault: dict, line: str) -> None:
    """Each kind of fault-plan entry is described with its target, its timing and (for planes) its plane."""
    assert describe_fault(fault) == line


def test_observed_faults_read_the_events_table() -> None:
    """Crashes, partitions and heals from the events table, in time order, with what the row adds."""
    events = pd.DataFrame(
        [
            {"time_ms": 2000.0, "node": "", "kind": "heal", "groups": None, "was_leader": None},
            {"time_ms": 10.0, "node": "", "kind": "partition", "groups": "n0,n1 | n2,n3,n4", "was_leader": None},
            {"time_ms": 500.0, "node": "n3", "kind": "crash", "groups": None, "was_leader": True},
            {"time_ms": 600.0, "node": "n1", "kind": "leader", "groups": None, "was_leader": None},
        ]
    )
    assert observed_faults(events) == ["10 ms: partition (groups of 2 / 3 nodes)", "500 ms: n3 crash (was leader)", "2000 ms: heal"]
    assert observed_faults(events, limit=1) == ["10 ms: partition (groups of 2 / 3 nodes)", "... and 2 more fault events"]


def test_plane_numbers_come_from_its_rows_when_the_summary_has_none(run_dir: Path, gossip_dir: Path, tmp_path: Path) -> None:
    """Without per-plane summary keys, each plane's messages and latency are computed from its own table rows."""
    folder = planes_run(run_dir, gossip_dir, tmp_path / "fleet", nested=False)
    text = write_report(folder, tmp_path / "out")[0].read_text(encoding="utf-8")
    model, routing = section(text, "## Plane model: raft"), section(text, "## Plane routing: gossip")
    raft_sent = int(pd.read_parquet(run_dir / "messages.parquet")["sent"].sum())
    gossip_sent = int(pd.read_parquet(gossip_dir / "messages.parquet")["sent"].sum())
    assert f"| messages sent | {raft_sent:,} |" in model and f"| messages sent | {gossip_sent:,} |" in routing
    done = pd.read_parquet(run_dir / "requests.parquet")["latency_ms"].dropna()
    assert f"| latency p99 (ms) | {done.quantile(0.99):,.3f}".rstrip("0").rstrip(".") in model


def test_the_network_line_reads_a_bare_delay_as_constant():
    """A sweep's base is the file as written: `delay: 5ms` (constant) made `consim report` end in an AttributeError."""
    from sim.report.facts import describe_network

    assert describe_network({"network": {"delay": "5ms", "loss": 0.1}}) == "Network: delay constant (value 5ms), loss 0.1."
    spelled = {"network": {"delay": {"dist": "constant", "value": "5ms"}, "loss": 0.1}}
    assert describe_network(spelled) == describe_network({"network": {"delay": "5ms", "loss": 0.1}})

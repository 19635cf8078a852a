"""Several mechanisms in one run ("planes"): loading, running, checking, links, saving and bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from sim import load_scenario, run, scenario_from_dict
from sim.cli import app
from sim.errors import ScenarioError
from sim.planes.run import run_fleet
from sim.protocols.raft import Raft
from sim.results import RunResult

ROOT = Path(__file__).resolve().parent.parent
FLEET = ROOT / "scenarios" / "fleet"


def fleet(**changes: Any) -> dict[str, Any]:
    """A small three-plane fleet (12 nodes, 6 s) as raw scenario data, with top-level `changes` laid over it."""
    data: dict[str, Any] = {
        "name": "small-fleet",
        "description": "test fleet",
        "nodes": 12,
        "seed": 3,
        "duration": "6s",
        "planes": [
            {
                "name": "scale",
                "mechanism": "voting",
                "nodes": 5,
                "protocol": {"answers": ["up", "hold"], "accuracy": 1.0},
                "workload": {"kind": "questions", "every": "1s", "until": "4s", "truth": "up"},
            },
            {
                "name": "control",
                "mechanism": "raft",
                "nodes": ["n0", "n1", "n2"],
                "workload": {"kind": "poisson", "rate": "20/s", "until": "5s"},
            },
            {"name": "routing", "mechanism": "gossip", "protocol": {"interval": "100ms"}, "workload": {"kind": "none"}},
        ],
        "links": [
            {"from": "scale", "when": "up", "to": "control", "submit": "load model-b"},
            {"from": "control", "when": "linked", "to": "routing", "write": "route", "after": "500ms"},
        ],
    }
    data.update(changes)
    return data


def _without_wall(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k != "wall_time_s" and not k.endswith(".wall_time_s")}


# --- running ----------------------------------------------------------------------------------


def test_a_plane_run_is_deterministic_to_the_byte(tmp_path: Path) -> None:
    """The same plane scenario and seed twice: identical summary (wall time aside), tables, pipeline and files."""
    scenario = scenario_from_dict(fleet())
    first, second = run(scenario), run(scenario_from_dict(fleet()))
    assert _without_wall(first.summary) == _without_wall(second.summary)
    a, b = first.save(tmp_path / "a", plots=False), second.save(tmp_path / "b", plots=False)
    for name in ("decisions", "events", "messages", "requests", "violations", "pipeline"):
        assert (a / f"{name}.parquet").read_bytes() == (b / f"{name}.parquet").read_bytes(), name
    assert (a / "scenario.yaml").read_bytes() == (b / "scenario.yaml").read_bytes()
    other = run(scenario_from_dict(fleet(seed=4)))
    assert other.summary["journal_sha256"] != first.summary["journal_sha256"]


def test_every_table_has_a_plane_column_and_each_plane_its_own_rows() -> None:
    """Joined tables start with `plane`; each plane's rows are its own (raft decisions on its 3 nodes only)."""
    result = run(scenario_from_dict(fleet()))
    for table in (result.decisions, result.messages, result.events, result.requests, result.violations):
        assert list(table.columns)[0] == "plane"
    raft = result.decisions[result.decisions["plane"] == "control"]
    assert set(raft["node"]) == {"n0", "n1", "n2"}
    assert set(result.decisions["plane"]) == {"scale", "control", "routing"}
    # Bytes are counted per plane, and the run's total is their sum.
    per_plane = result.messages.groupby("plane")["bytes_sent"].sum()
    assert result.summary["bytes_sent"] == int(per_plane.sum())
    assert result.summary["control.bytes_sent"] == int(per_plane["control"])
    assert result.summary["planes"] == "scale,control,routing" and result.summary["mechanism"] == "planes"
    assert result.summary["control.mechanism"] == "raft" and result.summary["routing.nodes"] == 12


def test_a_single_plane_scenario_has_no_plane_column_and_no_plane_keys() -> None:
    """Without `planes:` nothing changes: no plane column, no planes/links in the resolved scenario, no pipeline."""
    result = run(load_scenario(ROOT / "scenarios" / "quickstart.yaml"))
    assert "plane" not in result.decisions.columns and result.pipeline is None and result.planes is None
    assert "planes" not in result.scenario and "links" not in result.scenario
    assert "planes" not in result.summary


def test_a_crash_takes_down_every_plane_on_the_node() -> None:
    """Crashing n1 stops its instance in every plane it runs (scale, control, routing) and no other node."""
    data = fleet(faults=[{"at": "2s", "crash": "n1", "for": "2s"}, {"at": "3s", "crash": "n7"}])
    result = run(scenario_from_dict(data))
    events = result.events
    crashes = events[events["kind"] == "crash"]
    assert set(crashes.loc[crashes["node"] == "n1", "plane"]) == {"scale", "control", "routing"}
    # n7 takes part in the routing plane only: its crash is that plane's alone.
    assert set(crashes.loc[crashes["node"] == "n7", "plane"]) == {"routing"}
    decided = result.decisions
    down = decided[(decided["node"] == "n1") & (decided["time_ms"] > 2000) & (decided["time_ms"] < 4000)]
    assert down.empty, down.head().to_string()
    later = decided[(decided["node"] == "n1") & (decided["time_ms"] >= 4000)]
    assert set(later["plane"]) >= {"control"}  # back after recovery


def test_a_partition_splits_every_plane() -> None:
    """A partition is recorded in every plane, and messages across it are dropped in more than one plane."""
    groups = [["n0", "n1", "n2", "n3", "n4", "n5"], ["rest"]]
    result = run(scenario_from_dict(fleet(faults=[{"at": "1s", "partition": groups, "for": "2s"}])))
    parts = result.events[result.events["kind"] == "partition"]
    assert set(parts["plane"]) == {"scale", "control", "routing"}
    dropped = result.messages.groupby("plane")["dropped"].sum()
    assert dropped["routing"] > 0  # gossip crosses the cut; raft's nodes all sit on one side
    assert dropped["control"] == 0


def test_leader_with_plane_names_that_planes_leader() -> None:
    """`crash: leader, plane: control` crashes the Raft leader (recorded with was_leader in the control plane)."""
    result = run(scenario_from_dict(fleet(faults=[{"at": "2s", "crash": "leader", "plane": "control"}])))
    crash = result.events[(result.events["kind"] == "crash") & (result.events["plane"] == "control")]
    assert len(crash) == 1 and bool(crash["was_leader"].iloc[0]) is True


def test_byzantine_in_one_plane_lies_only_there() -> None:
    """A byzantine entry naming the scale plane makes n2 faulty there and nowhere else."""
    result = run(scenario_from_dict(fleet(faults=[{"byzantine": ["n2"], "behaviour": "corrupt", "plane": "scale"}])))
    byz = result.events[result.events["kind"] == "byzantine"]
    assert list(byz["plane"]) == ["scale"] and list(byz["node"]) == ["n2"]


class ForgetfulRaft(Raft):
    """Broken on purpose: n1 applies a value at log index 2 that no leader proposed."""

    def on_start(self) -> None:
        """Start; on n1, every decision of index 2 is of a forged value."""
        super().on_start()
        ctx: Any = self.ctx
        if ctx.name == "n1" and "honest_decide" not in vars(ctx):
            ctx.honest_decide = ctx.decide
            ctx.decide = lambda slot, value, **fields: ctx.honest_decide(slot, "forged" if slot == 2 else value, **fields)


def test_checkers_run_per_plane_and_catch_a_broken_plane() -> None:
    """A broken control plane shows agreement violations in its own rows and summary; the other planes stay clean."""
    result = run_fleet(scenario_from_dict(fleet()), protocols={"control": ForgetfulRaft})
    violations = result.violations
    assert len(violations) > 0
    assert set(violations["plane"]) == {"control"}
    assert result.summary["control.safety_violations"] > 0
    assert result.summary["scale.safety_violations"] == 0 and result.summary["routing.safety_violations"] == 0
    assert result.summary["safety_violations"] == len(violations)


def test_the_link_pipeline_end_to_end() -> None:
    """Each 'up' vote submits a load to Raft; each commit of one, after 500ms, a route write gossiped to every node."""
    result = run(scenario_from_dict(fleet()))
    pipeline = result.pipeline
    assert pipeline is not None
    ups = result.decisions[(result.decisions["plane"] == "scale") & (result.decisions["value"] == "up")]
    assert pipeline["chain"].nunique() == ups["slot"].nunique() >= 3
    first, second = pipeline[pipeline["stage"] == 0], pipeline[pipeline["stage"] == 1]
    assert set(first["to_plane"]) == {"control"} and set(second["to_plane"]) == {"routing"}
    assert (second["submit_ms"] - second["trigger_ms"]).round(6).eq(500.0).all()  # the apply delay
    # Stage 2 starts where stage 1's command was first decided by the control plane.
    merged = first.merge(second, on="chain", suffixes=("_1", "_2"))
    assert (merged["decided_ms_1"] == merged["trigger_ms_2"]).all()
    # The load commands were Raft commands: submitted by the link, decided as their ids.
    control = result.decisions[result.decisions["plane"] == "control"]
    assert set(first["cmd_id"]) <= set(control["value"])
    assert (second["nodes_decided"] == 12).all() and second["final"].all()
    totals = (second.set_index("chain")["done_ms"] - first.set_index("chain")["trigger_ms"]).to_numpy()
    assert result.summary["links.chains_completed"] == len(totals)
    assert result.summary["links.e2e_ms_p50"] == pytest.approx(float(pd.Series(totals).quantile(0.5)), abs=1e-3)
    assert (totals > 500.0).all()


def test_a_link_without_when_linked_fires_on_every_decision() -> None:
    """`when` left out: every control decision (the workload's commands too) writes to routing."""
    links = [{"from": "control", "to": "routing", "write": "route"}]
    result = run(scenario_from_dict(fleet(links=links)))
    assert result.pipeline is not None
    committed = result.decisions[(result.decisions["plane"] == "control") & (result.decisions["value"] != "noop")]
    assert len(result.pipeline) == committed["slot"].nunique()


def test_a_plane_run_saves_and_loads_back(tmp_path: Path) -> None:
    """The run directory has the joined tables and pipeline.parquet; load rebuilds each plane's result."""
    result = run(scenario_from_dict(fleet(faults=[{"at": "2s", "crash": "n1", "for": "1s"}])))
    out = result.save(tmp_path / "run", plots=False)
    assert (out / "pipeline.parquet").is_file()
    loaded = RunResult.load(out)
    assert loaded.planes is not None and list(loaded.planes) == ["scale", "control", "routing"]
    assert loaded.pipeline is not None and len(loaded.pipeline) == len(result.pipeline)  # type: ignore[arg-type]
    assert result.planes is not None
    control = loaded.planes["control"]
    assert len(control.decisions) == len(result.planes["control"].decisions)
    assert control.summary["mechanism"] == "raft" and control.summary["safety_violations"] == 0
    # Each plane's scenario, as loaded, is a valid one-mechanism scenario on its own nodes.
    again = scenario_from_dict(control.scenario)
    assert again.node_names == ["n0", "n1", "n2"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["control.decisions"] == result.summary["control.decisions"]


def test_the_fleet_timeline_has_a_row_per_plane_and_shades_the_partition_on_each() -> None:
    """One axis per plane plus the links' row; the partition is shaded on every axis; each plane's figures are drawn."""
    from matplotlib.patches import Rectangle

    from sim.plots import run_figures
    from sim.plots.fleet import fleet_timeline

    groups = [["n0", "n1", "n2", "n3", "n4", "n5"], ["rest"]]
    result = run(scenario_from_dict(fleet(faults=[{"at": "1s", "partition": groups, "for": "2s"}])))
    fig = fleet_timeline(result.events, result.decisions, ["scale", "control", "routing"], 6000.0, "t", result.violations, result.pipeline)
    axes = fig.get_axes()
    assert len(axes) == 4
    for ax in axes:
        # axvspan draws a Rectangle from x = 1 s (the partition) to 3 s.
        shaded = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_x() == 1.0 and p.get_width() == 2.0]
        assert shaded, ax.get_ylabel()
    assert result.planes is not None
    assert "infection" in run_figures(result.planes["routing"])


def test_every_shipped_fleet_scenario_extends_the_base() -> None:
    """The fault scenarios of scenarios/fleet/ reuse no-faults.yaml through `extends` (their planes are its planes)."""
    base = load_scenario(FLEET / "no-faults.yaml")
    for name in ("leader-crash", "partition", "byzantine-server"):
        child = load_scenario(FLEET / f"{name}.yaml")
        assert child.planes == base.planes and child.faults and child.name != base.name


# --- extends ----------------------------------------------------------------------------------


def _write(folder: Path, name: str, data: dict[str, Any]) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_extends_merges_mappings_and_replaces_lists(tmp_path: Path) -> None:
    """A child overrides one nested key and keeps the base's others; a list in the child replaces the base's."""
    base = {
        "name": "base",
        "mechanism": "raft",
        "nodes": 5,
        "network": {"delay": "3ms", "loss": 0.01},
        "faults": [{"at": "1s", "crash": "n0"}],
        "duration": "2s",
    }
    (tmp_path / "sub").mkdir()
    _write(tmp_path, "base.yaml", base)
    child = _write(tmp_path / "sub", "child.yaml", {"extends": "../base.yaml", "name": "child", "network": {"loss": 0.02}, "faults": []})
    scenario = load_scenario(child)
    assert scenario.name == "child" and scenario.n == 5
    assert scenario.network.loss == 0.02 and scenario.network.delay.value == 3.0  # type: ignore[union-attr]
    assert scenario.faults == []


def test_extends_refuses_a_cycle_in_one_line(tmp_path: Path) -> None:
    """a extends b extends a: one error naming the cycle."""
    _write(tmp_path, "a.yaml", {"extends": "b.yaml", "name": "a"})
    _write(tmp_path, "b.yaml", {"extends": "a.yaml", "mechanism": "raft"})
    with pytest.raises(ScenarioError) as err:
        load_scenario(tmp_path / "a.yaml")
    assert "extends" in str(err.value) and "cycle" in str(err.value) and "\n" not in str(err.value)


def test_extends_a_missing_file(tmp_path: Path) -> None:
    """An `extends` naming no file is one line naming the field."""
    path = _write(tmp_path, "a.yaml", {"extends": "nope.yaml", "name": "a", "mechanism": "raft"})
    with pytest.raises(ScenarioError, match=r"a\.yaml: extends: no file"):
        load_scenario(path)


def test_a_bad_value_in_a_base_is_reported_in_the_file_that_wrote_it(tmp_path: Path) -> None:
    """A base's bad field names the base (through a chain, the file that wrote it); the child's own or a --set value names the child.

    Before, every error named the file given on the command line, where the field is not written.
    """
    _write(
        tmp_path,
        "grand.yaml",
        {"name": "g", "mechanism": "raft", "nodes": 3, "duration": "1s", "protocol": {"heartbeat_interval": "bogus"}},
    )
    _write(tmp_path, "base.yaml", {"extends": "grand.yaml"})
    _write(tmp_path, "child.yaml", {"extends": "base.yaml", "name": "child"})
    grand, child = tmp_path / "grand.yaml", tmp_path / "child.yaml"
    with pytest.raises(ScenarioError) as err:
        load_scenario(child)
    assert str(err.value).startswith(f"{grand}, extended by {child}: protocol.heartbeat_interval: ")
    _write(tmp_path, "base.yaml", {"extends": "grand.yaml", "nodez": 4})
    with pytest.raises(ScenarioError) as err:
        load_scenario(child)
    assert str(err.value) == f"{tmp_path / 'base.yaml'}, extended by {child}: nodez: unknown field"
    # Fixed below: the child's own bad value, and a --set one, are the child's.
    _write(tmp_path, "base.yaml", {"extends": "grand.yaml"})
    _write(tmp_path, "child.yaml", {"extends": "base.yaml", "name": "child", "protocol": {"heartbeat_interval": "also bad"}})
    with pytest.raises(ScenarioError, match=r"^\S*child\.yaml: protocol\.heartbeat_interval: .*'also bad'"):
        load_scenario(tmp_path / "child.yaml")
    _write(tmp_path, "child.yaml", {"extends": "base.yaml", "name": "child"})
    with pytest.raises(ScenarioError, match=r"^\S*child\.yaml: protocol\.heartbeat_interval: .*'bad again'"):
        load_scenario(tmp_path / "child.yaml", overrides={"protocol.heartbeat_interval": "bad again"})
    assert load_scenario(tmp_path / "child.yaml", overrides={"protocol": {"heartbeat_interval": "20ms"}}).name == "child"


# --- bad input ---------------------------------------------------------------------------------


def _plane(i: int, **changes: Any) -> dict[str, Any]:
    data = fleet()
    data["planes"][i].update(changes)
    return data


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("unknown mechanism", _plane(1, mechanism="zab"), "planes[1].mechanism: unknown mechanism 'zab'"),
    ("unknown node", _plane(1, nodes=["n0", "n99"]), "planes[1].nodes[1]: no node named 'n99'"),
    ("too many nodes", _plane(0, nodes=50), "planes[0].nodes: asks for 50 nodes; the scenario has 12"),
    ("duplicate plane", _plane(2, name="scale"), "planes[2].name: duplicate plane name 'scale'"),
    ("top-level mechanism", fleet(mechanism="raft"), "mechanism: a scenario with planes names a mechanism in each plane"),
    ("top-level workload", fleet(workload={"kind": "poisson"}), "workload: a scenario with planes gives a workload in each plane"),
    ("top-level protocol", fleet(protocol={"fanout": 2}), "protocol: a scenario with planes gives protocol settings in each plane"),
    (
        "byzantine unknown plane",
        fleet(faults=[{"byzantine": ["n1"], "behaviour": "silent", "plane": "billing"}]),
        "faults[0].plane: no plane named 'billing'",
    ),
    (
        "byzantine node outside its plane",
        fleet(faults=[{"byzantine": ["n9"], "behaviour": "silent", "plane": "control"}]),
        "faults[0].byzantine: 'n9' does not take part in plane 'control'",
    ),
    (
        "behaviour nonsense for a plane",
        fleet(faults=[{"byzantine": ["n1"], "behaviour": "double_vote"}]),
        "faults[0].behaviour: 'double_vote' makes no sense for plane routing (gossip)",
    ),
    ("link to an unknown plane", fleet(links=[{"from": "scale", "to": "billing", "submit": "x"}]), "links[0].to: no plane named 'billing'"),
    ("link to itself", fleet(links=[{"from": "scale", "to": "scale", "submit": "x"}]), "links[0].to: a link joins two different planes"),
    (
        "link with two actions",
        fleet(links=[{"from": "scale", "to": "control", "submit": "x", "write": "k"}]),
        "exactly one of 'submit' or 'write'",
    ),
    ("plane protocol setting", _plane(2, protocol={"fanout": 0}), "planes[2].protocol.fanout"),
    ("bad plane name", _plane(0, name="a.b"), "planes[0].name: String should match pattern"),
    ("no mechanism, no planes", {"name": "x"}, "mechanism: missing: name a mechanism (or declare 'planes')"),
    (
        "plane without planes",
        {"name": "x", "mechanism": "raft", "faults": [{"at": "1s", "crash": "leader", "plane": "c"}]},
        "faults[0].plane: names a plane",
    ),
    (
        "links without planes",
        {"name": "x", "mechanism": "raft", "links": [{"from": "a", "to": "b", "submit": "x"}]},
        "links: links join planes",
    ),
]


@pytest.mark.parametrize(("data", "expected"), [(d, e) for _, d, e in BAD], ids=[name for name, _, _ in BAD])
def test_bad_plane_input_is_one_line(data: dict[str, Any], expected: str) -> None:
    """Each bad plane scenario fails with one line naming the field and the problem."""
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(data, "fleet.yaml")
    text = str(err.value)
    assert text.startswith("fleet.yaml: ") and "\n" not in text
    assert expected in text, text


def test_bad_plane_file_through_the_cli_exits_2(tmp_path: Path) -> None:
    """`consim run` on a plane scenario naming an unknown mechanism: exit 2, one line, no traceback, no run directory."""
    path = _write(tmp_path, "bad.yaml", _plane(1, mechanism="zab"))
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "planes[1].mechanism" in result.output
    assert not (tmp_path / "out").exists()


def test_a_write_superseded_behind_a_partition_counts_when_the_newer_table_arrives() -> None:
    """Regression: a route written during the partition, then overwritten, never reached the cut-off third as itself.

    Those routers got the newer table at the heal; the stage used to end with 27 of 40 nodes and
    a done_ms before the heal, so the chain looked complete and fast.
    """
    result = run(load_scenario(FLEET / "partition.yaml"))
    pipeline = result.pipeline
    assert pipeline is not None
    routing = pipeline[pipeline["to_plane"] == "routing"]
    assert (routing["nodes_decided"] == routing["plane_nodes"]).all() and (routing["plane_nodes"] == 40).all()
    during = routing[(routing["submit_ms"] >= 6000) & (routing["submit_ms"] < 11000)]
    assert not during.empty and (during["done_ms"] >= 11000).all()


@pytest.mark.slow  # draws every figure of two planes (~30 s on a shared 2-core machine)
def test_consim_plot_redraws_a_plane_run(tmp_path: Path) -> None:
    """`consim plot` on a saved plane run draws each plane's figures in plots/<plane>/ and the fleet timeline."""
    data = {
        "name": "tiny-fleet",
        "description": "two planes",
        "nodes": 6,
        "duration": "2s",
        "planes": [
            {"name": "control", "mechanism": "raft", "nodes": 3, "workload": {"kind": "poisson", "rate": "20/s"}},
            {"name": "routing", "mechanism": "gossip", "workload": {"kind": "none"}},
        ],
        "links": [{"from": "control", "to": "routing", "write": "route"}],
        "faults": [{"at": "1s", "crash": "n1", "for": "500ms"}],
    }
    out = run(scenario_from_dict(data)).save(tmp_path / "run", plots=False)
    result = CliRunner().invoke(app, ["plot", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "plots" / "fleet_timeline.png").is_file()
    assert (out / "plots" / "control" / "timeline.png").is_file() and any((out / "plots" / "routing").glob("*.png"))


def test_explore_refuses_a_plane_scenario_in_one_line(tmp_path: Path) -> None:
    """`consim explore` draws faults for one mechanism: on a plane scenario, exit 2 and one line."""
    result = CliRunner().invoke(app, ["explore", str(FLEET / "no-faults.yaml"), "--schedules", "1", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "planes: consim explore draws faults for one mechanism" in result.output


def test_a_sized_write_costs_its_size_on_every_gossip_message_that_carries_it() -> None:
    """`size: 4KB` on the write link: each of the 12 routers receives the table at least once, so >= 11 x 4KB more bytes per write."""
    plain = run(scenario_from_dict(fleet()))
    links = fleet()["links"]
    links[1]["size"] = "4KB"
    sized = run(scenario_from_dict(fleet(links=links)))
    assert sized.pipeline is not None and plain.pipeline is not None
    routed = sized.pipeline[sized.pipeline["to_plane"] == "routing"]
    assert len(routed) == len(plain.pipeline[plain.pipeline["to_plane"] == "routing"]) >= 3
    assert (routed["nodes_decided"] == 12).all()  # the padded values are still found
    extra = sized.summary["routing.bytes_sent"] - plain.summary["routing.bytes_sent"]
    assert extra >= len(routed) * 11 * 4000
    values = sized.decisions.loc[sized.decisions["plane"] == "routing", "value"]
    assert values.str.len().eq(4000).all()


def _sized_submit(size: str | None, **network: Any) -> Any:
    links = fleet()["links"]
    if size is not None:
        links[0]["size"] = size
    changes: dict[str, Any] = {"links": links}
    if network:
        changes["network"] = network
    return run(scenario_from_dict(fleet(**changes)))


def test_a_sized_submit_costs_its_payload_on_every_message_that_carries_the_command() -> None:
    """`size: 256KB` on the submit link: the ClientRequest and Raft's AppendEntries to both followers carry it."""
    plain, sized = _sized_submit(None), _sized_submit("256KB")
    fired = sized.pipeline[sized.pipeline["to_plane"] == "control"]
    assert len(fired) == len(plain.pipeline[plain.pipeline["to_plane"] == "control"]) >= 3
    extra = sized.summary["control.bytes_sent"] - plain.summary["control.bytes_sent"]
    # Per command at least: the request to the leader, AppendEntries to each of the 2 followers.
    assert extra >= len(fired) * 3 * 256_000
    # The other planes do not carry it.
    assert sized.summary["scale.bytes_sent"] == plain.summary["scale.bytes_sent"]
    # The decided values are still the command ids, so the pipeline finds them.
    assert (fired["nodes_decided"] == 3).all()


def test_with_a_bandwidth_limit_a_larger_command_takes_longer_to_commit() -> None:
    """At 10MB/s a 1MB manifest takes 100 ms per hop (1KB: 0.1 ms): the request and the AppendEntries add two hops."""
    small = _sized_submit("1KB", bandwidth="10MB/s")
    large = _sized_submit("1MB", bandwidth="10MB/s")
    stage = [r.pipeline.loc[r.pipeline["to_plane"] == "control", "stage_ms"] for r in (small, large)]
    assert len(stage[0]) == len(stage[1]) >= 3
    assert stage[1].min() > stage[0].max() + 2 * 99.0
    assert large.summary["control.latency_ms_p99"] > small.summary["control.latency_ms_p99"]


@pytest.mark.parametrize("mechanism", ["multipaxos", "pbft"])
def test_a_sized_submit_is_carried_by_multipaxos_accept_and_pbft_preprepare(mechanism: str) -> None:
    """The payload reaches the bytes of the other logs too (Accept, PrePrepare's request)."""
    runs = []
    for size in (None, "64KB"):
        data = fleet()
        data["planes"][1]["mechanism"] = mechanism
        data["planes"][1]["nodes"] = 4
        if size is not None:
            data["links"][0]["size"] = size
        runs.append(run(scenario_from_dict(data)))
    plain, sized = runs
    fired = sized.pipeline[sized.pipeline["to_plane"] == "control"]
    assert len(fired) >= 3
    # Accept / PrePrepare to each of the 3 others, for every linked command.
    assert sized.summary["control.bytes_sent"] - plain.summary["control.bytes_sent"] >= len(fired) * 3 * 64_000


def test_command_keeps_its_payload_through_a_pickle_and_acts_as_its_id() -> None:
    import pickle

    from sim.protocols.base import Command, payload_bytes

    cmd = Command("client0:3", 4096)
    back = pickle.loads(pickle.dumps(cmd))
    assert back == "client0:3" and hash(back) == hash("client0:3") and payload_bytes(back) == 4096
    assert payload_bytes("client0:3") == 0 and type(str(cmd)) is str


def test_parse_size() -> None:
    """Sizes in bytes: '4KB' is 4000, a bare integer is bytes; a bandwidth or a word is refused."""
    from sim.units import parse_size

    assert parse_size("4KB") == 4000 and parse_size("1.5MB") == 1_500_000 and parse_size(10) == 10
    for bad in ("10MB/s", "big", True, 2.5):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_the_resolved_plane_scenario_runs_again_to_the_same_journal(tmp_path: Path) -> None:
    """scenario.yaml of a plane run (every default filled in, rtt resolved) loads and runs to the same journal hash."""
    data = fleet(faults=[{"at": "2s", "crash": "leader", "plane": "control", "for": "1s"}])
    first = run(scenario_from_dict(data))
    out = first.save(tmp_path / "run", plots=False)
    written = yaml.safe_load((out / "scenario.yaml").read_text())
    assert written["network"]["rtt"] and written["planes"][1]["protocol"]["election_timeout"]
    again = run(load_scenario(out / "scenario.yaml"))
    assert again.summary["journal_sha256"] == first.summary["journal_sha256"]


def test_a_traced_plane_run_journals_every_delivery_under_its_plane() -> None:
    """With trace, the journal has a plane column and each plane's delivered rows match its message counts."""
    result = run(scenario_from_dict(fleet(duration="3s")), trace=True)
    trace = result.trace
    assert trace is not None and list(trace.columns)[0] == "plane"
    delivered = trace[trace["fate"] == "delivered"].groupby("plane").size()
    counted = result.messages.groupby("plane")["delivered"].sum()
    for plane in ("scale", "control", "routing"):
        assert int(delivered[plane]) == int(counted[plane]) > 0


def test_run_refuses_one_protocol_class_for_a_plane_scenario() -> None:
    """`run(..., protocol_cls=...)` on a plane scenario would be ambiguous: it says to pass one per plane."""
    with pytest.raises(ValueError, match="protocols="):
        run(scenario_from_dict(fleet()), protocol_cls=Raft)


def _cpu_fleet(with_gossip: bool, crypto: bool) -> RunResult:
    planes: list[dict[str, Any]] = [{"name": "control", "mechanism": "raft", "workload": {"kind": "poisson", "rate": "50/s"}}]
    if with_gossip:
        gossip = {"interval": "5ms", "fanout": 2}
        planes.append({"name": "routing", "mechanism": "gossip", "protocol": gossip, "workload": {"kind": "none"}})
    data: dict[str, Any] = {"name": "cpu", "nodes": 3, "duration": "2s", "network": {"delay": "1ms"}, "planes": planes}
    if crypto:
        data["crypto"] = {"sign": "0.5ms", "verify": "0.5ms"}
    return run(scenario_from_dict(data))


def test_the_planes_on_a_server_share_its_cpu() -> None:
    """With signing and verifying costs, a busy gossip plane on the same servers slows Raft; without them it does not.

    The network's delay is constant, so the gossip plane cannot change Raft's run except through the shared CPU.
    """
    alone, shared = _cpu_fleet(False, crypto=False), _cpu_fleet(True, crypto=False)
    assert alone.summary["control.latency_ms_p50"] == shared.summary["control.latency_ms_p50"]
    alone, shared = _cpu_fleet(False, crypto=True), _cpu_fleet(True, crypto=True)
    assert shared.summary["control.latency_ms_p50"] > alone.summary["control.latency_ms_p50"]

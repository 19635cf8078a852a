"""Input that used to surprise: each gives one clear line (exit 2), or a warning, instead of a traceback or a silent no-op."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.errors import ScenarioError
from sim.scenario import load_scenario, scenario_from_dict
from sim.sweep import load_sweep
from tests.small_scenario import RAFT, one_line, write

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent


def test_negative_seed_is_one_line_exit_2(tmp_path: Path) -> None:
    """`--seed -1` (numpy's SeedSequence refuses it) is bad input: one line naming --seed, exit 2, nothing written."""
    path = write(tmp_path, RAFT)
    result = runner.invoke(app, ["run", str(path), "--seed", "-1", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert one_line(result.stderr) == "--seed: must be >= 0 (got -1)"
    assert not (tmp_path / "out").exists()
    bad_file = write(tmp_path, {**RAFT, "seed": -4}, "negative.yaml")
    with pytest.raises(ScenarioError, match=r"seed: must be >= 0 \(got -4\)"):
        load_scenario(bad_file)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"duration": 10}, "duration"),
        ({"duration": "10"}, "duration"),
        ({"faults": [{"at": 100, "crash": "n1"}]}, "faults[0].at"),
        ({"protocol": {"heartbeat_interval": 50}}, "protocol.heartbeat_interval"),
        ({"workload": {"kind": "poisson", "rate": "20/s", "until": 200}}, "workload.until"),
        ({"network": {"delay": 5}}, "network.delay.value"),
    ],
    ids=["duration", "duration-string", "fault-at", "protocol", "workload", "network-delay"],
)
def test_a_duration_without_a_unit_is_refused(tmp_path: Path, changes: dict[str, Any], field: str) -> None:
    """`duration: 10` used to mean 10 ms and decide nothing: every duration needs its unit (0 needs none)."""
    path = write(tmp_path, {**RAFT, **changes})
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    line = one_line(result.stderr)
    assert line.startswith(f"{path}: {field}: a duration needs a unit: ")
    assert "ms'" in line


def test_zero_and_durations_with_units_still_load() -> None:
    """0 needs no unit; '10ms', '2s' and '1.5m' load as before."""
    scenario = scenario_from_dict({**RAFT, "duration": "2s", "faults": [{"at": 0, "crash": "n1", "for": "1.5m"}]})
    assert scenario.duration == 2000.0 and scenario.faults[0].at == 0.0 and scenario.faults[0].for_ == 90_000.0


def test_every_shipped_scenario_and_sweep_still_validates() -> None:
    """The unit rule and the gossip setting rules leave every shipped scenario and sweep valid."""
    files = sorted((ROOT / "scenarios").glob("*.yaml")) + sorted((ROOT / "scenarios" / "sweeps").glob("*.yaml"))
    result = runner.invoke(app, ["validate", *map(str, files)])
    assert result.exit_code == 0, result.stderr
    assert [line for line in result.stdout.splitlines() if line.endswith(": OK")] == [f"{f}: OK" for f in files]


def test_pbft_that_tolerates_no_fault_says_so_on_stderr(tmp_path: Path) -> None:
    """PBFT on 3 nodes has f = 0: validate and run warn on stderr; 4 nodes do not."""
    three = write(tmp_path, {**RAFT, "mechanism": "pbft"}, "pbft3.yaml")
    four = write(tmp_path, {**RAFT, "mechanism": "pbft", "nodes": 4}, "pbft4.yaml")
    checked = runner.invoke(app, ["validate", str(three), str(four)])
    assert checked.exit_code == 0
    assert one_line(checked.stderr) == f"warning: {three}: pbft on 3 nodes tolerates no faulty replica (f = 0; 4 nodes tolerate one)"
    ran = runner.invoke(app, ["run", str(three), "--quiet", "--no-plots", "--out", str(tmp_path / "out")])
    assert ran.exit_code == 0
    assert "tolerates no faulty replica" in ran.stderr


def test_mechanism_and_timing_warnings_are_one_kind_of_line(tmp_path: Path) -> None:
    """A mechanism's own warning and a timing warning print alike: `warning: FILE: [FIELD: ]PROBLEM`, in validate and run."""
    data = {**RAFT, "mechanism": "pbft", "protocol": {"view_change_timeout": "1ms"}}
    path = write(tmp_path, data, "pbft3-short.yaml")
    checked = runner.invoke(app, ["validate", str(path)])
    ran = runner.invoke(app, ["run", str(path), "--quiet", "--no-plots", "--out", str(tmp_path / "out")])
    for result in (checked, ran):
        assert result.exit_code == 0, result.output
        lines = [line for line in result.stderr.splitlines() if "warning" in line]
        assert len(lines) == 2, result.stderr
        assert lines[0] == f"warning: {path}: pbft on 3 nodes tolerates no faulty replica (f = 0; 4 nodes tolerate one)"
        assert lines[1].startswith(f"warning: {path}: protocol.view_change_timeout: 1ms is below")


@pytest.mark.parametrize(
    ("protocol", "field"),
    [
        ({"style": "anti_entropy", "stop": "coin"}, "protocol.stop"),
        ({"style": "anti_entropy", "k": 3}, "protocol.k"),
        ({"style": "anti_entropy", "feedback": False}, "protocol.feedback"),
        ({"style": "rumor", "settle": "2s"}, "protocol.settle"),
        ({"sync_rounds": True, "jitter": 0.3}, "protocol.jitter"),
    ],
    ids=["stop", "k", "feedback", "settle", "jitter"],
)
def test_gossip_refuses_settings_its_style_does_not_use(protocol: dict[str, Any], field: str) -> None:
    """A setting the chosen style ignores is refused, naming it and the style that would use it."""
    data = {**RAFT, "mechanism": "gossip", "nodes": 4, "protocol": protocol, "workload": {"kind": "updates", "rate": "10/s"}}
    with pytest.raises(ScenarioError) as caught:
        scenario_from_dict(data)
    assert caught.value.field == field
    assert "is not used with" in caught.value.problem and "remove it" in caught.value.problem


def test_attestation_broadcast_refuses_a_fanout() -> None:
    """`fanout` only applies to `spread: gossip`; with broadcast it is refused."""
    data = {**RAFT, "mechanism": "attestation", "nodes": 6, "protocol": {"spread": "broadcast", "fanout": 2, "threshold": 1}}
    data["workload"] = {"kind": "claims", "rate": "5/s"}
    with pytest.raises(ScenarioError) as caught:
        scenario_from_dict(data)
    assert caught.value.field == "protocol.fanout" and "only with spread: gossip" in caught.value.problem


def test_gossip_accepts_the_defaults_of_unused_settings_as_a_resolved_scenario_has_them() -> None:
    """A resolved scenario lists every setting with its default; it must load again."""
    workload = {"kind": "updates", "rate": "10/s"}
    data = {**RAFT, "mechanism": "gossip", "nodes": 4, "protocol": {"style": "anti_entropy"}, "workload": workload}
    resolved = scenario_from_dict(data).resolved()
    assert resolved["protocol"]["k"] == 2
    assert scenario_from_dict(resolved).protocol == resolved["protocol"]


def test_validate_recognises_a_sweep_and_shows_every_problem(tmp_path: Path) -> None:
    """`consim validate` on a sweep validates it as a sweep (OK), and lists each problem of a bad one on its own line."""
    write(tmp_path, RAFT, "base.yaml")
    good = write(tmp_path, {"name": "s", "base": "base.yaml", "grid": {"network.loss": [0.0, 0.1]}, "replicates": 2}, "good-sweep.yaml")
    wrong = {"name": "s", "base": "base.yaml", "grid": {"network.loss": [0.0]}, "seed": -3, "colour": 1, "size": 2}
    bad = write(tmp_path, wrong, "bad.yaml")
    result = runner.invoke(app, ["validate", str(good), str(bad)])
    assert result.exit_code == 2
    assert result.stdout.strip() == f"{good}: OK"
    assert result.stderr.strip().splitlines() == [
        f"{bad}: seed: must be >= 0 (got -3)",
        f"{bad}: colour: unknown field",
        f"{bad}: size: unknown field",
    ]
    assert "more problem" not in result.stderr


def test_a_sweep_grid_value_without_a_unit_names_the_grid_entry(tmp_path: Path) -> None:
    """A bare number in a swept duration is refused at the grid entry that holds it."""
    write(tmp_path, RAFT, "base.yaml")
    sweep = write(tmp_path, {"name": "s", "base": "base.yaml", "grid": {"duration": ["1s", 500]}}, "sweep.yaml")
    with pytest.raises(ScenarioError) as caught:
        load_sweep(sweep)
    assert caught.value.field == "grid.duration[1]" and "needs a unit" in caught.value.problem


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        (None, "cannot override: there is no 'faults' list to change item 5 of"),
        ([{"at": "100ms", "crash": "n1"}], "cannot override: 'faults' has 1 item; there is no item 5"),
    ],
    ids=["no-faults", "too-few-faults"],
)
def test_set_on_a_missing_list_item_is_a_clear_line(tmp_path: Path, faults: Any, message: str) -> None:
    """`--set faults.5.at=1s` without a sixth fault says so (it used to say 'faults: must be a list')."""
    data = dict(RAFT) if faults is None else {**RAFT, "faults": faults}
    path = write(tmp_path, data)
    result = runner.invoke(app, ["run", str(path), "--set", "faults.5.at=1s", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert one_line(result.stderr) == f"{path}: faults.5.at: {message}"


def test_set_still_creates_mappings_and_changes_existing_list_items() -> None:
    """`--set` keeps working where it did: new mapping keys, and items of an existing list."""
    data = {**RAFT, "faults": [{"at": "100ms", "crash": "n1"}]}
    scenario = scenario_from_dict(data, overrides={"faults.0.at": "200ms", "protocol.heartbeat_interval": "20ms"})
    assert scenario.faults[0].at == 200.0 and scenario.protocol["heartbeat_interval"] == "20ms"


@pytest.mark.parametrize(
    ("behaviour", "params", "field", "words"),
    [
        ("delay", {"delay": 40}, "faults[0].params.delay", "needs a unit"),
        ("delay", {"delay": "soon"}, "faults[0].params.delay", "expected a duration"),
        ("omit", {"fraction": 1.5}, "faults[0].params.fraction", "from 0 to 1"),
    ],
    ids=["delay-without-unit", "delay-not-a-duration", "fraction-above-one"],
)
def test_byzantine_parameters_are_checked_at_load_time(behaviour: str, params: dict[str, Any], field: str, words: str) -> None:
    """A byzantine `delay` needs its unit and an `omit` fraction lies in [0, 1]; both used to surface only mid-run, or never."""
    data = {**RAFT, "faults": [{"byzantine": ["n1"], "behaviour": behaviour, "params": params}]}
    with pytest.raises(ScenarioError) as caught:
        scenario_from_dict(data)
    assert caught.value.field == field and words in caught.value.problem

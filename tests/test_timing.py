"""Timeouts relative to the network (issue 14): the 'rtt' unit, relative defaults, timing warnings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from sim.cli import app
from sim.protocols.raft.config import RaftConfig
from sim.scenario import DEFAULT_RTT_MS, Scenario, ScenarioError, scenario_from_dict
from sim.sweep import build_sweep
from sim.timing import network_timing, show_ms
from sim.units import parse_duration

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
WAN = {"delay": {"dist": "normal", "mean": "250ms", "std": "50ms"}}
runner = CliRunner()


def scenario(mechanism: str = "raft", network: dict[str, Any] | None = None, **fields: Any) -> Any:
    """A small scenario of `mechanism` on `network` (the default LAN when None)."""
    data: dict[str, Any] = {"name": "t", "mechanism": mechanism, "nodes": 4, "duration": "1s", **fields}
    if network is not None:
        data["network"] = network
    return scenario_from_dict(data, "t.yaml")


def unresolved(network: dict[str, Any] | None = None, **fields: Any) -> Scenario:
    """A scenario model not yet through `check_scenario` (so `network.rtt` is not pinned yet)."""
    return Scenario.model_validate({"name": "t", "mechanism": "raft", "nodes": 4, "network": network or {}, **fields})


def warnings_of(loaded: Any) -> dict[str, str]:
    """Timing warnings by field path."""
    return {w.field: w.problem for w in loaded.timing_warnings}


# --- the unit ------------------------------------------------------------------------------


def test_rtt_unit_and_max_parse_against_a_known_round_trip():
    """'8rtt' is eight round trips, 'max(a, b)' the larger; absolute units are unchanged."""
    assert parse_duration("8rtt", rtt=10.0) == 80.0
    assert parse_duration("0.5 rtt", rtt=10.0) == 5.0
    assert parse_duration("max(300ms, 8rtt)", rtt=10.0) == 300.0
    assert parse_duration("max(300ms, 8rtt)", rtt=100.0) == 800.0
    assert parse_duration("2s", rtt=10.0) == 2000.0


def test_rtt_is_refused_where_no_round_trip_is_known():
    """Outside protocol and workload settings (e.g. `duration`), 'rtt' is a one-line error naming the field."""
    with pytest.raises(ValueError, match="only in protocol and workload"):
        parse_duration("3rtt")
    with pytest.raises(ScenarioError) as err:
        scenario(duration="10rtt")
    assert err.value.field == "duration" and "rtt" in err.value.problem


# --- the statistic -------------------------------------------------------------------------


def test_rtt_of_constant_links_is_exact_and_counts_bandwidth_and_crypto():
    """Constant 5ms links: rtt 10ms; a 128 kB/s link adds 1ms of serialisation each way, crypto sign+verify each way."""
    plain = network_timing(unresolved({"delay": "5ms"}))
    assert (plain.rtt, plain.one_way) == (10.0, 5.0)
    slow = network_timing(unresolved({"delay": "5ms", "bandwidth": "128KB/s"}, crypto={"sign": "1ms", "verify": "2ms"}))
    assert slow.rtt == 10.0 + 2 * 1.0 + 2 * 3.0 and slow.one_way == 5.0 + 1.0 + 3.0


def test_rtt_is_the_slowest_pair_and_does_not_depend_on_the_seed():
    """One slow link (asymmetric, one way 40ms) makes the round trip 45ms; the estimate is the same for any run seed."""
    network = {"delay": "5ms", "links": [{"from": "n0", "to": "n3", "delay": "40ms"}]}
    net = network_timing(unresolved(network))
    assert net.rtt == 45.0 and net.one_way == 40.0 and net.where == "n0<->n3"
    a, b = scenario(network=WAN, seed=1), scenario(network=WAN, seed=2)
    assert a.network.rtt == b.network.rtt


def test_rtt_of_a_normal_wan_link_is_its_p99_round_trip():
    """Normal(250, 50) each way: the round trip is Normal(500, 70.7), whose p99 is 500 + 2.326 x 70.7 = 664ms (within 1%)."""
    assert network_timing(unresolved(WAN)).rtt == pytest.approx(664.5, rel=0.01)


def test_default_rtt_is_the_default_networks():
    """A config built without a scenario reads 'rtt' as the default network's round trip."""
    assert network_timing(unresolved()).rtt == DEFAULT_RTT_MS


def test_network_rtt_overrides_the_estimate():
    """`network.rtt` pins what 'rtt' means, and the timeouts follow it."""
    loaded = scenario(network={"delay": "5ms", "rtt": "100ms"}, protocol={"election_timeout": ["3rtt", "6rtt"]})
    assert loaded.protocol["election_timeout"] == ["300ms", "600ms"]


# --- resolution ----------------------------------------------------------------------------


def test_relative_timeouts_resolve_to_ms_in_the_resolved_scenario():
    """`election_timeout: [10rtt, 20rtt]` is written in ms, with rtt itself, and the resolved scenario loads to the same."""
    loaded = scenario(network={"delay": "5ms"}, protocol={"election_timeout": ["10rtt", "20rtt"], "heartbeat_interval": "2rtt"})
    resolved = loaded.resolved()
    assert resolved["protocol"]["election_timeout"] == ["100ms", "200ms"] and resolved["protocol"]["heartbeat_interval"] == "20ms"
    assert resolved["network"]["rtt"] == "10ms"
    assert scenario_from_dict(yaml.safe_load(yaml.safe_dump(resolved)), "again.yaml").resolved() == resolved


def test_relative_workload_timeout_and_sweep_values():
    """The client timeout and a swept timeout take 'rtt' too."""
    loaded = scenario(network={"delay": "5ms"}, workload={"kind": "poisson", "rate": "10/s", "timeout": "7rtt"})
    assert loaded.workload.model_dump()["timeout"] == "70ms"
    base = {"name": "b", "mechanism": "pbft", "nodes": 4, "duration": "1s", "network": {"delay": "5ms"}}
    sweep = build_sweep({"name": "s", "base": base, "grid": {"protocol.view_change_timeout": ["4rtt", "8rtt"]}}, "s.yaml")
    assert [t.scenario.protocol["view_change_timeout"] for t in sweep.tasks] == ["40ms", "80ms"]


def test_defaults_on_a_lan_are_what_they_were():
    """On a LAN (rtt of a few ms) the defaults stay 150-300ms / 50ms, 300ms, 100ms, 200ms and 500ms."""
    lan = {"delay": {"dist": "lognormal", "median": "5ms", "sigma": 0.4}}
    assert RaftConfig().election_timeout == (150.0, 300.0) and RaftConfig().heartbeat_interval == 50.0
    raft = scenario("raft", lan)
    assert raft.protocol["election_timeout"] == ["150ms", "300ms"] and raft.protocol["heartbeat_interval"] == "50ms"
    assert raft.workload.model_dump()["timeout"] == "500ms"
    assert scenario("multipaxos", lan).protocol["election_timeout"] == ["150ms", "300ms"]
    assert scenario("pbft", lan).protocol["view_change_timeout"] == "300ms"
    assert scenario("gossip", lan, workload={"kind": "updates", "rate": "1/s"}).protocol["interval"] == "100ms"
    assert scenario("voting", lan, workload={"kind": "questions", "every": "100ms"}).protocol["timeout"] == "200ms"


def test_defaults_on_a_wan_scale_with_the_round_trip():
    """On Normal(250, 50) links the defaults become multiples of rtt (~664ms) and nothing warns."""
    rtt = scenario("pbft", WAN).network.rtt
    pbft = scenario("pbft", WAN, nodes=64)
    assert parse_duration(pbft.protocol["view_change_timeout"]) == pytest.approx(8 * rtt)
    assert parse_duration(pbft.workload.model_dump()["timeout"]) == pytest.approx(4 * rtt)
    raft = scenario("raft", WAN)
    low, high = (parse_duration(v) for v in raft.protocol["election_timeout"])
    assert (low, high) == (pytest.approx(5 * rtt), pytest.approx(10 * rtt))
    assert parse_duration(raft.protocol["heartbeat_interval"]) == pytest.approx(rtt)
    for loaded in (pbft, raft, scenario("multipaxos", WAN)):
        assert loaded.timing_warnings == []


# --- warnings ------------------------------------------------------------------------------


def test_pbft_view_change_timeout_below_one_request_warns_with_numbers():
    """The issue's case: 64 nodes on Normal(250, 50) links with view_change_timeout 300ms warns, naming the setting and the need."""
    loaded = scenario("pbft", WAN, nodes=64, protocol={"view_change_timeout": "300ms"})
    problem = warnings_of(loaded)["protocol.view_change_timeout"]
    rtt = loaded.network.rtt
    assert problem.startswith("300ms is below what one request needs") and show_ms(2 * rtt) in problem and "8rtt" in problem
    assert str(loaded.timing_warnings[0]).startswith("t.yaml: protocol.view_change_timeout: 300ms")


def test_pbft_crypto_cost_counts_in_what_a_request_needs():
    """With heavy crypto on 16 nodes, three multicasts' CPU (3 x 15 x 3ms) push the need past a timeout rtt alone would allow."""
    loaded = scenario(
        "pbft", {"delay": "5ms"}, nodes=16, protocol={"view_change_timeout": "100ms"}, crypto={"sign": "1ms", "verify": "2ms"}
    )
    assert "CPU 135ms" in warnings_of(loaded)["protocol.view_change_timeout"]
    assert scenario("pbft", {"delay": "5ms"}, nodes=16, protocol={"view_change_timeout": "100ms"}).timing_warnings == []


def test_election_timeout_below_a_round_trip_and_slow_heartbeats_warn():
    """Raft and Multi-Paxos: low end under rtt warns on election_timeout; heartbeat + one-way p99 over the low end warns on heartbeat."""
    for mechanism in ("raft", "multipaxos"):
        short = warnings_of(
            scenario(mechanism, {"delay": "50ms"}, protocol={"election_timeout": ["80ms", "160ms"], "heartbeat_interval": "20ms"})
        )
        assert "protocol.election_timeout" in short and "100ms" in short["protocol.election_timeout"]
        late = warnings_of(
            scenario(mechanism, {"delay": "50ms"}, protocol={"election_timeout": ["300ms", "600ms"], "heartbeat_interval": "260ms"})
        )
        assert list(late) == ["protocol.heartbeat_interval"] and "one-way delay p99 (50ms)" in late["protocol.heartbeat_interval"]


def test_gossip_voting_and_client_timeouts_warn_against_the_network():
    """Gossip interval under the one-way delay, a voting timeout under rtt, a client timeout under the expected latency."""
    slow = {"delay": "80ms"}
    gossip = scenario("gossip", slow, protocol={"interval": "50ms"}, workload={"kind": "updates", "rate": "1/s"})
    assert "protocol.interval" in warnings_of(gossip)
    voting = scenario("voting", slow, protocol={"timeout": "100ms"}, workload={"kind": "questions", "every": "100ms"})
    assert list(warnings_of(voting)) == ["protocol.timeout"]
    client = warnings_of(scenario("raft", slow, workload={"kind": "poisson", "rate": "1/s", "timeout": "200ms"}))
    assert list(client) == ["workload.timeout"] and "320ms" in client["workload.timeout"]


def test_strict_timing_makes_the_first_warning_an_error():
    """`strict_timing` raises the warning as a one-line ScenarioError."""
    data = {"name": "t", "mechanism": "pbft", "nodes": 4, "network": WAN, "protocol": {"view_change_timeout": "300ms"}}
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(data, "t.yaml", strict_timing=True)
    assert err.value.field == "protocol.view_change_timeout"


SHIPPED = sorted(SCENARIOS.glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenarios_have_no_timing_warning(path):
    """Every shipped scenario's timeouts fit its network (or its description says why they should not)."""
    from sim.scenario import load_scenario

    loaded = load_scenario(path)
    assert not loaded.timing_warnings or "timing warning" in loaded.description, [str(w) for w in loaded.timing_warnings]


# --- the command line ----------------------------------------------------------------------


def _write(tmp_path: Path, **protocol: Any) -> Path:
    path = tmp_path / "wan.yaml"
    data = {"name": "wan", "mechanism": "pbft", "nodes": 4, "duration": "2s", "network": WAN, "protocol": protocol}
    data["workload"] = {"kind": "poisson", "rate": "2/s", "until": "1s"}
    path.write_text(yaml.safe_dump(data))
    return path


def test_run_warns_on_stderr_and_strict_timing_exits_2(tmp_path):
    """`consim run` prints the warning on one stderr line and runs; with --strict-timing it exits 2 and writes nothing."""
    path = _write(tmp_path, view_change_timeout="300ms")
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "r"), "--no-plots", "-q"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(lines) == 1 and lines[0].startswith(f"warning: {path}: protocol.view_change_timeout: 300ms is below")
    strict = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "s"), "--strict-timing"])
    assert strict.exit_code == 2 and strict.stderr.strip().startswith(f"{path}: protocol.view_change_timeout:")
    assert not (tmp_path / "s").exists()


def test_validate_prints_resolved_timing_and_honours_strict_timing(tmp_path):
    """`consim validate` prints rtt and the resolved timeouts in ms; --strict-timing turns a warning into exit 2."""
    good = _write(tmp_path)
    result = runner.invoke(app, ["validate", str(good)])
    assert result.exit_code == 0 and result.stderr == ""
    rtt = parse_duration(result.stdout.splitlines()[1].split(": ")[1])
    assert rtt == pytest.approx(664.5, rel=0.01)
    vct = next(line for line in result.stdout.splitlines() if line.startswith("  protocol.view_change_timeout: "))
    assert parse_duration(vct.split(": ")[1]) == pytest.approx(8 * rtt)
    bad = _write(tmp_path, view_change_timeout="300ms")
    assert runner.invoke(app, ["validate", str(bad)]).stderr.startswith("warning: ")
    assert runner.invoke(app, ["validate", str(bad), "--strict-timing"]).exit_code == 2


def test_sweep_warns_once_per_grid_point_and_strict_timing_refuses(tmp_path):
    """`consim sweep` names the grid point of each warning; with --strict-timing it exits 2 before running anything."""
    _write(tmp_path)
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"name": "s", "base": "wan.yaml", "grid": {"protocol.view_change_timeout": ["1rtt", "8rtt"]}}))
    strict = runner.invoke(app, ["sweep", str(sweep), "--out", str(tmp_path / "out"), "--strict-timing", "-j", "1"])
    assert strict.exit_code == 2 and "grid.protocol.view_change_timeout[0]" in strict.stderr
    assert not (tmp_path / "out").exists()
    loaded = build_sweep(yaml.safe_load(sweep.read_text()), str(sweep), tmp_path)
    assert len(loaded.timing_warnings) == 1 and "grid point (protocol.view_change_timeout=1rtt)" in loaded.timing_warnings[0]


def test_a_mechanism_declares_its_own_timing_checks(toy_mechanism, monkeypatch):
    """The checks are a hook on the protocol class: a mechanism outside sim/protocols adds its own, and its expected latency."""
    from sim.protocols import base
    from tests.conftest import TOY_SCENARIO

    class TimedToy(toy_mechanism):  # a subclass: a registered class's record is read once, so patching it is not seen
        @classmethod
        def timing(cls, scen: Any, config: Any, net: Any) -> list[tuple[str, str]]:
            return [("protocol.toy", f"needs {net.rtt:g}ms")]

        @classmethod
        def expected_latency(cls, scen: Any, config: Any, net: Any) -> float:
            return 10 * net.rtt

    table = base._discover
    monkeypatch.setattr(base, "_discover", lambda: {**table(), "toy": TimedToy})
    data = {**TOY_SCENARIO, "network": {"delay": "30ms"}}
    found = warnings_of(scenario_from_dict(data, "toy.yaml"))
    assert list(found) == ["protocol.toy", "workload.timeout"]
    assert found["protocol.toy"] == "needs 60ms" and ", 600ms" in found["workload.timeout"]


# --- the links the statistic reads, without the kernel (issue 13: `consim validate` imports neither simpy nor the network) ---


def test_links_resolve_as_the_network_resolves_them() -> None:
    """Layered `links:` entries give the estimate the network's overridden links: same pairs, order, delay and bandwidth."""
    import numpy as np
    import simpy

    from sim.network import Network
    from sim.records import Recorder
    from sim.timing import _links

    links = [
        {"from": "*", "to": "n3", "delay": "20ms"},
        {"from": ["n0", "n1"], "to": "*", "bandwidth": "64KB/s"},
        {"from": "n3", "to": "n0", "delay": {"dist": "uniform", "low": "1ms", "high": "2ms"}, "loss": 0.1},
    ]
    loaded = unresolved({"delay": "5ms", "links": links})
    network = Network(simpy.Environment(), loaded.network, loaded.node_names, np.random.default_rng(0), Recorder())
    default, overrides = _links(loaded)
    assert default.delay is network.default.delay.spec and default.bandwidth == network.default.bandwidth
    assert list(overrides) == list(network.overrides)
    for key, link in overrides.items():
        assert link.delay is network.overrides[key].delay.spec, key
        assert link.bandwidth == network.overrides[key].bandwidth, key
    assert overrides[("n1", "n3")].bandwidth == 64_000 and overrides[("n1", "n3")].delay.value == 20.0

"""The crypto CPU model: a node verifies received messages one at a time and signs before sending."""

from __future__ import annotations

from typing import Any

from sim import run, scenario_from_dict
from sim.kernel import Simulation
from sim.protocols.pbft.messages import Checkpoint
from sim.records import RunTables


def pbft(**fields: Any) -> Any:
    data: dict[str, Any] = {"name": "cpu", "mechanism": "pbft", "nodes": 4, "duration": "1s", "network": {"delay": "1ms"}}
    data.update(fields)
    return scenario_from_dict(data)


def test_busy_node_handles_messages_one_at_a_time_and_signs_after_its_queue() -> None:
    """Three messages at once are handled 2ms apart (verify); a send waits for the queue, then 0.5ms to sign."""
    sim = Simulation(pbft(crypto={"sign": "0.5ms", "verify": "2ms"}, workload=None))
    for node in sim.nodes.values():
        node.start()
    n0, n1 = sim.nodes["n0"], sim.nodes["n1"]
    seen: dict[str, list[tuple[float, str]]] = {"n0": [], "n1": []}
    n0.protocol.on_message = lambda src, msg: seen["n0"].append((sim.env.now, src))  # type: ignore[union-attr, method-assign]
    n1.protocol.on_message = lambda src, msg: seen["n1"].append((sim.env.now, src))  # type: ignore[union-attr, method-assign]
    for src in ("n1", "n2", "n3"):
        n0.receive(src, Checkpoint(1, "x"), src)
    n0.send("n1", Checkpoint(2, "y"))
    n0.send("n1", Checkpoint(3, "z"))
    sim.env.run(until=100)
    assert seen["n0"] == [(2.0, "n1"), (4.0, "n2"), (6.0, "n3")]
    # Signed after the queue (6 + 0.5, 7 + 0.5... each sign adds 0.5), 1ms on the wire, 2ms to verify each.
    assert seen["n1"] == [(9.5, "n0"), (11.5, "n0")]
    assert n0.cpu_ms == 3 * 2.0 + 2 * 0.5


def test_cpu_time_accounts_for_every_message() -> None:
    """Each node's CPU time is verify x messages delivered to it + sign x messages it sent."""
    sign, verify = 0.05, 0.1
    scenario = pbft(crypto={"sign": f"{sign}ms", "verify": f"{verify}ms"}, workload={"kind": "poisson", "rate": "50/s", "until": "800ms"})
    sim = Simulation(scenario)
    sim.run()
    messages = RunTables.from_recorder(sim.recorder).messages
    for name, node in sim.nodes.items():
        sent = int(messages.loc[messages["src"] == name, "sent"].sum())
        delivered = int(messages.loc[messages["dst"] == name, "delivered"].sum())
        assert abs(node.cpu_ms - (sent * sign + delivered * verify)) < 1e-6


def test_crypto_cost_slows_pbft_down() -> None:
    """With 1ms verify, each request pays at least its five-step critical path in verifications."""
    workload = {"kind": "script", "commands": [{"at": f"{10 + 100 * i}ms"} for i in range(5)]}
    fast = run(pbft(workload=workload))
    slow = run(pbft(workload=workload, crypto={"sign": "0.2ms", "verify": "1ms"}))
    assert fast.summary["decisions"] == slow.summary["decisions"] == 5
    # request -> pre-prepare -> prepare(s) -> commit(s) -> reply: at least 5 verifications on the path.
    assert slow.summary["latency_ms_mean"] >= fast.summary["latency_ms_mean"] + 5.0


def test_a_relay_costs_a_verify_per_signature_it_carries() -> None:
    """A Tendermint relay holds its sender's signature and each relayed message's: 1 + k verifications, not one."""
    from sim.protocols.tendermint.messages import Precommit, Prevote, Relay

    scenario = scenario_from_dict(
        {"name": "cpu", "mechanism": "tendermint", "nodes": 4, "duration": "1s", "network": {"delay": "1ms"}, "crypto": {"verify": "2ms"}}
    )
    sim = Simulation(scenario)
    for node in sim.nodes.values():
        node.start()
    n0 = sim.nodes["n0"]
    before = n0.cpu_ms
    n0.receive("n1", Relay(1, (("n2", Prevote(1, 0, "v")), ("n3", Precommit(1, 0, "v")))), "n1")
    assert n0.cpu_ms - before == 3 * 2.0
    assert Prevote(1, 0, "v").signatures == 1

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


def _signed_in(msg: Any) -> int:
    """The signed messages a receiver checks, counted from the message's parts (Castro and Liskov, section 4.4)."""
    from sim.protocols.pbft.messages import NewView, ViewChange

    if isinstance(msg, ViewChange):
        return 1 + len(msg.checkpoint_proof) + sum(1 + len(cert.prepares) for cert in msg.prepared)
    if isinstance(msg, NewView):
        return 1 + sum(_signed_in(vc) for _, vc in msg.view_changes)
    return 1


def _charged(node: Any, src: str, msg: Any) -> int:
    """What a replica verifies to take `msg`: all its signed messages, but a view-change it holds or one for
    a view it is past only its sender's, and in a new-view nothing of a view-change it holds."""
    if msg.kind not in ("view_change", "new_view"):
        return 1
    st = node.protocol.st
    if msg.view < st.view or (msg.view == st.view and st.active):
        return 1
    held = st.view_changes.get(msg.view, {})
    if msg.kind == "view_change":
        return 1 if held.get(src) == msg else _signed_in(msg)
    if src != node.protocol.primary(msg.view):
        return 1
    return 1 + sum(0 if held.get(sender) == vc else _signed_in(vc) for sender, vc in msg.view_changes)


def _view_change(view: int) -> Any:
    """A view-change with a 3-message checkpoint proof and two prepared certificates of a pre-prepare and 2 prepares."""
    from sim.protocols.pbft.messages import Prepare, PreparedCert, PrePrepare, ViewChange

    proof = tuple((s, Checkpoint(16, "s16")) for s in ("n1", "n2", "n3"))
    certs = tuple(
        PreparedCert(PrePrepare(view - 1, seq, f"d{seq}"), tuple((s, Prepare(view - 1, seq, f"d{seq}")) for s in ("n2", "n3")))
        for seq in (17, 18)
    )
    return ViewChange(view, 16, "s16", proof, certs)


def test_pbft_view_change_and_new_view_cost_a_verify_per_signed_message_they_carry() -> None:
    """A view-change is checked whole: its own signature, the 3 checkpoints of C and the 2 x 3 messages of P (10 verifications);
    a new-view, its own and every view-change's in V (1 + 3 x 10). Both were charged one verify, as a prepare is."""
    from sim.protocols.pbft.messages import NewView, PrePrepare
    from sim.protocols.tendermint.messages import SyncReply, Value

    sim = Simulation(pbft(crypto={"verify": "2ms"}, workload=None))
    for node in sim.nodes.values():
        node.start()
    n0 = sim.nodes["n0"]
    seen: list[tuple[float, str]] = []
    n0.protocol.on_message = lambda src, msg: seen.append((sim.env.now, msg.kind))  # type: ignore[union-attr, method-assign]
    view_change = _view_change(1)
    new_view = NewView(1, tuple((s, _view_change(1)) for s in ("n1", "n2", "n3")), (PrePrepare(1, 17, "d17"),))
    n0.receive("n1", view_change, "n1")
    n0.receive("n1", new_view, "n1")
    sim.env.run(until=200)
    # Handled one at a time: the view-change after 10 verifications, the new-view 31 after that.
    assert seen == [(20.0, "view_change"), (82.0, "new_view")]
    assert n0.cpu_ms == 41 * 2.0
    assert (view_change.signatures, new_view.signatures) == (10, 31)
    # Once n0 holds the view-changes, a repeat of one costs its sender's signature, and a new-view
    # naming them only its own: they are matched, not verified again.
    n0.protocol.on_message = type(n0.protocol).on_message.__get__(n0.protocol)  # type: ignore[union-attr, method-assign]
    n0.protocol.st.view_changes[1] = {s: _view_change(1) for s in ("n1", "n2", "n3")}  # type: ignore[union-attr]
    cpu = n0.cpu_ms
    n0.receive("n2", _view_change(1), "n2")
    n0.receive("n1", NewView(1, tuple((s, _view_change(1)) for s in ("n1", "n2", "n3")), (PrePrepare(1, 17, "d17"),)), "n1")
    assert n0.cpu_ms - cpu == 2 * 2.0
    # A new-view from a replica that is not the view's primary is dropped unread: its sender's signature only.
    n0.protocol.st.view_changes[5] = {}  # type: ignore[union-attr]
    cpu = n0.cpu_ms
    n0.receive("n2", NewView(5, tuple((s, _view_change(5)) for s in ("n1", "n2", "n3")), ()), "n2")
    assert n0.cpu_ms - cpu == 1 * 2.0
    # A Tendermint sync reply's commit certificate: the sender's signature and each precommit's.
    assert SyncReply(3, 0, Value((), "n1", 3), frozenset({"n1", "n2", "n3"})).signatures == 4


def test_a_pbft_view_change_run_charges_every_certificate_signature(monkeypatch: Any) -> None:
    """The primary crashes under load: each replica's CPU time is verify x the signed messages it had to check
    (view-changes and new-views with their certificates counted message by message), not verify x messages."""
    from sim.node import Node

    verify = 0.5  # exact in binary: the sums below compare equal
    checked: dict[str, int] = {}
    kinds: dict[str, int] = {}
    receive = Node.receive

    def counting(self: Node, src: str, msg: Any, true_src: str) -> None:
        charged = _charged(self, src, msg)
        checked[self.name] = checked.get(self.name, 0) + charged
        kinds[msg.kind] = kinds.get(msg.kind, 0) + 1
        if charged > 1:
            kinds[f"{msg.kind} checked whole"] = kinds.get(f"{msg.kind} checked whole", 0) + 1
        receive(self, src, msg, true_src)

    monkeypatch.setattr(Node, "receive", counting)
    scenario = pbft(
        duration="3s",
        crypto={"verify": f"{verify}ms"},
        protocol={"checkpoint_interval": 4},
        workload={"kind": "poisson", "rate": "50/s", "until": "2500ms"},
        faults=[{"at": "300ms", "crash": "n0"}],
    )
    sim = Simulation(scenario)
    sim.run()
    assert kinds.get("view_change checked whole", 0) >= 2 and kinds.get("new_view", 0) >= 2, kinds
    for name, node in sim.nodes.items():
        assert node.cpu_ms == checked.get(name, 0) * verify, name
    requests = RunTables.from_recorder(sim.recorder).requests
    assert requests["done_ms"].notna().all()  # one view change, and every command done in view 1

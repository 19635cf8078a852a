"""A broadcast on the network's multicast path is, message for message, what sending to each peer in turn is."""

from __future__ import annotations

from typing import Any

import pytest

from sim import run, scenario_from_dict
from sim.fastpath import SENT
from sim.kernel import Simulation
from sim.network import Network
from sim.protocols.pbft.messages import Status


def pbft(network: dict[str, Any], faults: list[dict[str, Any]]) -> Any:
    """Seven PBFT replicas, a request every 10 ms, the given network and faults."""
    return scenario_from_dict(
        {
            "name": "multicast",
            "mechanism": "pbft",
            "nodes": 7,
            "seed": 3,
            "duration": "600ms",
            "network": network,
            "faults": faults,
            "workload": {"kind": "script", "commands": [{"at": f"{i * 10}ms"} for i in range(40)]},
        }
    )


def one_by_one(self: Network, src: str, dsts: list[str], msg: Any) -> None:
    """Multicast as it was: one `send` per destination."""
    for dst in dsts:
        self.send(src, dst, msg)


@pytest.mark.parametrize(
    ("network", "faults"),
    [
        ({"delay": {"dist": "lognormal", "median": "2ms", "sigma": 0.5}}, []),  # the plain case: one queue entry per broadcast
        ({"delay": {"dist": "constant", "value": "1ms"}}, [{"at": "100ms", "crash": "n3", "for": "200ms"}]),  # ties, a crash
        (
            {"delay": {"dist": "uniform", "low": "1ms", "high": "3ms"}},
            [{"at": "50ms", "partition": [["n0", "n1"], ["n2", "n3", "n4", "n5", "n6"]], "until": "300ms"}],
        ),
        ({"delay": {"dist": "exponential", "mean": "1ms"}, "loss": 0.05}, []),  # a lossy link: per-message sends
    ],
)
def test_multicast_delivers_what_sending_to_each_peer_would(
    monkeypatch: pytest.MonkeyPatch, network: dict[str, Any], faults: list[dict[str, Any]]
) -> None:
    """Same trace (every message, its times and fate, in delivery order), same tables, same journal hash."""
    fast = run(pbft(network, faults), trace=True)
    with monkeypatch.context() as patch:
        patch.setattr(Network, "multicast", one_by_one)
        patch.setattr(Network, "broadcast", one_by_one)
        plain = run(pbft(network, faults), trace=True)
    assert fast.summary["messages_delivered"] > 1000
    assert fast.trace is not None and plain.trace is not None
    assert fast.trace.equals(plain.trace)
    assert fast.summary["journal_sha256"] == plain.summary["journal_sha256"]


def test_a_broadcast_goes_to_the_peers_it_is_given_when_the_list_is_another() -> None:
    """The network keeps each sender's peers per kind; a broadcast to another list is sent to that list, counted as such."""
    sim = Simulation(pbft({"delay": "1ms"}, []))
    network = sim.network
    peers = ["n1", "n2", "n3"]
    ping = Status(0, True, 0, 0, ())
    network.broadcast("n0", peers, ping)
    network.broadcast("n0", ["n4", "n5"], ping)  # same sender and kind, another list: not the kept one
    network.broadcast("n0", peers, ping)
    sent = {key[2]: row[SENT] for key, row in sim.recorder.counts.items() if key[0] == ping.kind}
    assert sent == {"n1": 2, "n2": 2, "n3": 2, "n4": 1, "n5": 1}
    handed: list[str] = []
    for name in ("n1", "n2", "n3", "n4", "n5"):
        sim.nodes[name].receive = lambda src, msg, true_src, name=name: handed.append(name)  # type: ignore[method-assign]
    sim.env.advance(5.0)
    assert sorted(handed) == ["n1", "n1", "n2", "n2", "n3", "n3", "n4", "n5"]

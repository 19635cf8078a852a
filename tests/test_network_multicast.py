"""A broadcast on the network's multicast path is, message for message, what sending to each peer in turn is."""

from __future__ import annotations

from typing import Any

import pytest

from sim import run, scenario_from_dict
from sim.network import Network


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
        plain = run(pbft(network, faults), trace=True)
    assert fast.summary["messages_delivered"] > 1000
    assert fast.trace is not None and plain.trace is not None
    assert fast.trace.equals(plain.trace)
    assert fast.summary["journal_sha256"] == plain.summary["journal_sha256"]

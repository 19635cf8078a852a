"""The plain sends of one instant share a queue entry (`Sends`), yet deliver exactly as one `Delivery` each would."""

from __future__ import annotations

from heapq import heappush
from typing import Any

import pytest
from simpy.events import NORMAL

import sim.fastpath
import sim.network
from sim import run, scenario_from_dict
from sim.fastpath import FAST
from sim.network import Delivery, Network


def gossip(network: dict[str, Any], faults: list[dict[str, Any]]) -> Any:
    """Sixty anti-entropy nodes in synchronised rounds (every round timer fires at one instant), three writes."""
    return scenario_from_dict(
        {
            "name": "gathered",
            "mechanism": "gossip",
            "nodes": 60,
            "seed": 4,
            "duration": "900ms",
            "protocol": {"style": "anti_entropy", "mode": "pushpull", "interval": "20ms", "fanout": 2, "settle": "300ms"},
            "network": network,
            "faults": faults,
            "workload": {
                "kind": "updates",
                "updates": [
                    {"at": "5ms", "node": "n0", "key": "a", "value": "1"},
                    {"at": "40ms", "node": "n31", "key": "b", "value": "2"},
                    {"at": "41ms", "node": "n7", "key": "a", "value": "3"},
                ],
            },
        }
    )


def one_delivery_each(network: Network, item: tuple[Any, ...]) -> None:
    """What each send did before batching: its own `Delivery` on the queue, with the time and id it was given."""
    at, eid, endpoint, changes, row, src, msg, true_src, sent_at = item
    delivery = object.__new__(Delivery)
    delivery.callbacks = FAST
    delivery.network, delivery.endpoint, delivery.src, delivery.msg, delivery.true_src = network, endpoint, src, msg, true_src
    delivery.row, delivery.changes, delivery.sent_at = row, changes, sent_at
    assert sent_at == network.env._now
    heappush(network.env._queue, (at, NORMAL, eid, delivery))


CASES = [
    # Constant delays: every message of a round is due at once, so only the ids order them.
    ({"delay": {"dist": "constant", "value": "2ms"}}, [{"at": "60ms", "crash": "n3", "for": "100ms"}]),
    ({"delay": {"dist": "uniform", "low": "1ms", "high": "30ms"}}, [{"at": "101ms", "crash": "n12", "for": "200ms"}]),
    (
        {"delay": {"dist": "lognormal", "median": "5ms", "sigma": 0.5}},
        [
            {"at": "70ms", "partition": [[f"n{i}" for i in range(20)], [f"n{i}" for i in range(20, 60)]], "until": "300ms"},
            {"at": "401ms", "cut": {"from": ["n1", "n2"], "to": [f"n{i}" for i in range(30, 40)]}, "until": "500ms"},
        ],
    ),
    ({"delay": {"dist": "constant", "value": "0ms"}}, []),  # due at the very instant they are sent
]


@pytest.mark.parametrize(("network", "faults"), CASES)
def test_gathered_sends_deliver_what_one_delivery_each_would(
    monkeypatch: pytest.MonkeyPatch, network: dict[str, Any], faults: list[dict[str, Any]]
) -> None:
    """Same trace (every message, its times and fate, in delivery order), same tables, same journal hash."""
    fast = run(gossip(network, faults), trace=True)
    with monkeypatch.context() as patch:
        patch.setattr(sim.network, "Sends", one_delivery_each)
        plain = run(gossip(network, faults), trace=True)
    assert fast.summary["messages_delivered"] > 3000
    assert fast.trace is not None and plain.trace is not None
    assert fast.trace.equals(plain.trace)
    assert fast.messages.equals(plain.messages) and fast.decisions.equals(plain.decisions)
    assert fast.summary["journal_sha256"] == plain.summary["journal_sha256"]


def test_a_synchronised_round_is_gathered_into_one_queue_entry() -> None:
    """Each node's round timer sends one digest at the same instant: all but the first share one entry."""
    from sim.kernel import Simulation

    simulation = Simulation(gossip({"delay": {"dist": "constant", "value": "2ms"}}, []))
    for node in simulation.nodes.values():
        node.start()
    simulation.env.advance(20.5)  # the first round fired at 20 ms; its digests are due at 22 ms
    gathered = [entry[3] for entry in simulation.env._queue if isinstance(entry[3], sim.network.Sends)]
    assert len(gathered) == 1 and len(gathered[0].due) == 60 * 2 - 1


def test_the_comparison_notices_a_wrong_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sorting a gathered batch's ties against the order they were sent changes the trace (so the test above can fail)."""
    network, faults = CASES[0]
    good = run(gossip(network, faults), trace=True)
    with monkeypatch.context() as patch:
        patch.setattr(sim.fastpath, "_at", lambda item: (item[0], -item[1]))
        bad = run(gossip(network, faults), trace=True)
    assert good.trace is not None and bad.trace is not None
    assert not good.trace.equals(bad.trace)

"""Kernel throughput: 5-node Raft in steady state, against a bare heapq callback loop.

Prints delivered messages per second of simulation wall time and the ratio to a bare heapq
event loop that delivers the same number of messages in the same process (the ceiling for a
pure-Python discrete-event kernel). A second line runs an echo protocol that only bounces
messages back, so the kernel's own share (network, journal, event loop) shows apart from
Raft's handlers. Run with `make bench` or `python benchmarks/throughput.py`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from common import heapq_rate

from sim import run, scenario_from_dict
from sim.protocols.base import Message, Protocol
from sim.scenario import Scenario


@dataclass(frozen=True, slots=True)
class Ping(Message):
    """The one message of the echo protocol."""


class Echo(Protocol):
    """Every node sends one ping to each peer at start; every ping is answered by one ping."""

    name = "echo"

    def on_start(self) -> None:
        """Put n(n-1) messages in flight."""
        for peer in self.ctx.peers:
            self.ctx.send(peer, Ping())

    def on_message(self, src: str, msg: Message) -> None:
        """Bounce it back."""
        self.ctx.send(src, msg)


def echo_rate(nodes: int, duration: str, repeat: int) -> tuple[int, float]:
    """Delivered messages and the best wall time of the echo protocol over the same network."""
    scenario = Scenario.model_validate(
        {
            "name": "bench-echo",
            "mechanism": "echo",
            "nodes": nodes,
            "duration": duration,
            "network": {"delay": {"dist": "lognormal", "median": "2ms", "sigma": 0.3}},
            "workload": None,
        }
    )
    best, delivered = float("inf"), 0
    for _ in range(repeat):
        result = run(scenario, protocol_cls=Echo)
        best = min(best, result.summary["wall_time_s"])
        delivered = result.summary["messages_delivered"]
    return delivered, best


def raft_scenario(nodes: int, duration: str, rate: str, seed: int) -> Any:
    """Raft in steady state: no faults, light lognormal delays, an open-loop Poisson workload."""
    return scenario_from_dict(
        {
            "name": "bench-raft-steady",
            "description": "Benchmark: Raft steady state, no faults.",
            "mechanism": "raft",
            "nodes": nodes,
            "seed": seed,
            "duration": duration,
            "network": {"delay": {"dist": "lognormal", "median": "2ms", "sigma": 0.3}},
            "workload": {"kind": "poisson", "rate": rate},
        },
        source="benchmarks/throughput.py",
    )


def main() -> None:
    """Run the benchmark and print its numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--duration", default="20s", help="simulated time (default 20s)")
    parser.add_argument("--rate", default="1000/s", help="client commands per second (default 1000/s)")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is reported (default 3)")
    args = parser.parse_args()

    scenario = raft_scenario(args.nodes, args.duration, args.rate, seed=1)
    best_sim, delivered = float("inf"), 0
    for _ in range(args.repeat):
        result = run(scenario)
        best_sim = min(best_sim, result.summary["wall_time_s"])
        delivered = result.summary["messages_delivered"]
    heap_rate = heapq_rate(delivered, args.repeat)
    sim_rate = delivered / best_sim
    print(f"scenario: {args.nodes}-node raft, {args.duration} simulated, {args.rate} commands, no faults")
    print(f"decisions: {result.summary['decisions']}, messages delivered: {delivered:,}")
    print(f"consim:     {sim_rate:>12,.0f} messages/s  ({best_sim:.3f} s wall, best of {args.repeat})")
    print(f"heapq loop: {heap_rate:>12,.0f} messages/s  (best of {args.repeat})")
    print(f"ratio:      {sim_rate / heap_rate:.3f}")
    echo_delivered, echo_wall = echo_rate(args.nodes, "5s", args.repeat)
    echo = echo_delivered / echo_wall
    print(f"kernel only (echo protocol, {echo_delivered:,} messages): {echo:,.0f} messages/s, ratio {echo / heap_rate:.3f}")


if __name__ == "__main__":
    main()

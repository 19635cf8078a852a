"""Kernel throughput: 5-node Raft in steady state, against a bare heapq callback loop.

Prints delivered messages per CPU second (end to end: build, simulate, tables, checkers,
summary) and the ratio to a bare heapq event loop that delivers the same number of messages in
the same process (the ceiling for a
pure-Python discrete-event kernel). A second line runs an echo protocol that only bounces
messages back, so the kernel's own share (network, journal, event loop) shows apart from
Raft's handlers. Run with `make bench` or `python benchmarks/throughput.py`.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

from common import cpu_timed, heapq_rate, report

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
    """Delivered messages and the best CPU time of the echo protocol over the same network."""
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
        result, cpu, _ = cpu_timed(lambda: run(scenario, protocol_cls=Echo))
        best = min(best, cpu)
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
    parser.add_argument("--json", action="store_true", help="print one JSON object (what `make docs` reads)")
    args = parser.parse_args()

    scenario = raft_scenario(args.nodes, args.duration, args.rate, seed=1)
    best_cpu, best_wall, delivered, post_run = float("inf"), float("inf"), 0, 0.0
    for _ in range(args.repeat):
        # End to end: build, simulate, tables, checkers and summary (nothing written to disk).
        marks: dict[str, float] = {}
        started = time.process_time()
        result, cpu, wall = cpu_timed(lambda marks=marks: run(scenario, stage=lambda name: marks.setdefault(name, time.process_time())))
        if cpu < best_cpu:
            post_run = cpu - (marks["simulated"] - started)  # tables, checkers and summary
        best_cpu, best_wall = min(best_cpu, cpu), min(best_wall, wall)
        delivered = result.summary["messages_delivered"]
    heap_rate = heapq_rate(delivered, args.repeat)
    sim_rate = delivered / best_cpu
    echo_delivered, echo_cpu = echo_rate(args.nodes, "5s", args.repeat)
    echo = echo_delivered / echo_cpu
    record = {
        "benchmark": "throughput",
        "messages": delivered,
        "cpu_s": round(best_cpu, 3),
        "wall_s": round(best_wall, 3),
        "rate": round(sim_rate),
        "baseline_rate": round(heap_rate),
        "ratio": round(sim_rate / heap_rate, 3),
        "us_per_message": round(1e6 / sim_rate, 2),
        "post_run_s": round(post_run, 3),
        "post_run_share": round(post_run / best_cpu, 3),
        "echo_rate": round(echo),
        "echo_ratio": round(echo / heap_rate, 3),
        "echo_us_per_message": round(1e6 / echo, 2),
    }
    record["text"] = (
        f"{args.nodes}-node Raft, {args.rate}, {args.duration}: {delivered:,} messages in {best_cpu:.2f} s CPU end to end "
        f"({record['us_per_message']} µs each), {sim_rate:,.0f}/s, ratio {record['ratio']}; kernel alone (echo protocol) "
        f"{echo:,.0f}/s ({record['echo_us_per_message']} µs each), ratio {record['echo_ratio']}; heapq loop {heap_rate:,.0f}/s"
    )
    lines = [
        f"scenario: {args.nodes}-node raft, {args.duration} simulated, {args.rate} commands, no faults",
        f"decisions: {result.summary['decisions']}, messages delivered: {delivered:,}",
        f"consim:     {sim_rate:>12,.0f} messages per CPU second  ({best_cpu:.3f} s CPU, {best_wall:.3f} s wall, best of {args.repeat})",
        f"heapq loop: {heap_rate:>12,.0f} messages per CPU second  (best of {args.repeat})",
        f"ratio:      {sim_rate / heap_rate:.3f}",
        f"post-run (tables, checkers, summary): {post_run:.3f} s CPU, {100 * post_run / best_cpu:.1f}% of end to end",
        f"kernel only (echo protocol, {echo_delivered:,} messages): {echo:,.0f} messages per CPU second, ratio {echo / heap_rate:.3f}",
    ]
    report(record, lines, args.json)


if __name__ == "__main__":
    main()

"""Gossip at scale: 10,000 nodes, full mesh, push-pull, one update.

Prints wall time (build + run + tables + checkers + summary), simulated messages per second of
wall time, peak resident memory, and the ratio to a bare heapq callback loop in this process.

    python benchmarks/gossip10k.py [--nodes 10000] [--style anti_entropy|rumor] [--duration 2s]
"""

from __future__ import annotations

import argparse
import heapq
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim import run  # noqa: E402
from sim.scenario import scenario_from_dict  # noqa: E402


def bare_heapq(n: int) -> float:
    """Messages per second of a bare heapq loop calling one callback per message."""
    sink = []
    heap: list[tuple[float, int, object]] = []
    started = time.perf_counter()
    for i in range(n):
        heapq.heappush(heap, (i * 0.001, i, sink.append))
    while heap:
        _, i, callback = heapq.heappop(heap)
        callback(i)  # type: ignore[operator]
    return n / (time.perf_counter() - started)


def main() -> None:
    """Run the benchmark and print its numbers."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--style", default="anti_entropy", choices=["anti_entropy", "rumor"])
    parser.add_argument("--duration", default="2s")
    args = parser.parse_args()
    scenario = scenario_from_dict(
        {
            "name": "gossip10k",
            "mechanism": "gossip",
            "nodes": args.nodes,
            "seed": 1,
            "duration": args.duration,
            "protocol": {"style": args.style, "mode": "pushpull", "interval": "100ms", "settle": "500ms"},
            "network": {"delay": {"dist": "lognormal", "median": "5ms", "sigma": 0.5}},
            "workload": {"kind": "updates", "updates": [{"at": "50ms", "node": "n0", "key": "k", "value": "v"}]},
        }
    )
    started = time.perf_counter()
    result = run(scenario)
    wall = time.perf_counter() - started
    s = result.summary
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rate = s["messages_delivered"] / s["wall_time_s"]
    baseline = bare_heapq(min(s["messages_delivered"], 1_000_000))
    print(f"nodes                 {args.nodes}  ({args.style}, pushpull, full mesh, {args.duration} simulated)")
    print(f"wall time             {wall:.2f} s total, {s['wall_time_s']:.2f} s simulating")
    print(f"messages delivered    {s['messages_delivered']}")
    print(f"messages/s (wall)     {rate:,.0f}")
    print(f"bare heapq loop       {baseline:,.0f} /s   ratio {rate / baseline:.3f}")
    print(f"peak memory (RSS)     {peak_mb:,.0f} MB")
    print(f"message table rows    {len(result.messages)}")
    print(f"time to all           {s['time_to_all_ms_mean']} ms, {s['time_to_all_rounds_mean']} rounds; residue {s['residue_mean']}")
    print(f"violations            {s['safety_violations']}")


if __name__ == "__main__":
    main()

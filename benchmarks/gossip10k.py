"""Gossip at scale: 10,000 nodes, full mesh, push-pull, one update.

Prints wall time (build + run + tables + checkers + summary), simulated messages per second of
wall time, peak resident memory, and the ratio to a bare heapq callback loop in this process.

    python benchmarks/gossip10k.py [--nodes 10000] [--style anti_entropy|rumor] [--duration 2s]
"""

from __future__ import annotations

import argparse
import time

from common import heapq_rate, peak_rss_mb

from sim import run, scenario_from_dict


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
    # The baseline runs first: measured after the big run, the garbage collector would be
    # scanning its tables and the ratio would flatter the simulator.
    baseline = heapq_rate(500_000)
    started = time.perf_counter()
    result = run(scenario)
    wall = time.perf_counter() - started
    s = result.summary
    peak_mb = peak_rss_mb()
    rate = s["messages_delivered"] / s["wall_time_s"]
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

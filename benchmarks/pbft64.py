"""A 64-node PBFT run of 100 requests: wall time, messages per second and peak memory.

Run: `python benchmarks/pbft64.py` (add `--requests N` to change the load).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

from common import heapq_rate, peak_rss_mb

from sim import run, scenario_from_dict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--nodes", type=int, default=64)
    parser.add_argument("--tracemalloc", action="store_true", help="measure peak Python heap too (slower)")
    args = parser.parse_args()
    scenario = scenario_from_dict(
        {
            "name": "pbft64-bench",
            "mechanism": "pbft",
            "nodes": args.nodes,
            "duration": f"{args.requests * 20 + 500}ms",
            "protocol": {"checkpoint_interval": 32},
            "network": {"delay": {"dist": "lognormal", "median": "5ms", "sigma": 0.3}},
            "workload": {"kind": "script", "commands": [{"at": f"{i * 20}ms"} for i in range(args.requests)]},
        }
    )
    baseline = heapq_rate(500_000)
    if args.tracemalloc:
        tracemalloc.start()
    started = time.perf_counter()
    cpu_started = time.process_time()
    result = run(scenario)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    s = result.summary
    print(f"nodes={args.nodes} requests={s['commands_submitted']} completed={s['commands_completed']} violations={s['safety_violations']}")
    print(f"messages={s['messages_sent']} wall={wall:.2f}s cpu={cpu:.2f}s")
    print(f"messages/s (wall)={s['messages_sent'] / wall:,.0f} messages/s (cpu)={s['messages_sent'] / cpu:,.0f}")
    print(f"bare heapq loop={baseline:,.0f} /s ratio (delivered/s wall)={s['messages_delivered'] / wall / baseline:.3f}")
    print(f"peak RSS={peak_rss_mb():.0f} MB")
    if args.tracemalloc:
        print(f"peak traced heap={tracemalloc.get_traced_memory()[1] / 2**20:.0f} MB")


if __name__ == "__main__":
    main()

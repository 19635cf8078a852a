"""Raft under constant recovery: 5 nodes, the leader crashes every 3 s (back 1 s later), 100 commands/s.

Before snapshots a recovering node re-applied and re-recorded its whole log, so the journal and
memory grew with recoveries x log length (1.1 GB at 300 s, 14 GB at 1200 s). Now a node restarts
from its snapshot and records each index once, so both grow with the work. Prints wall and CPU
time, simulated messages per second of wall time, the ratio to a bare heapq callback loop in this
process, decision rows, and peak resident memory.

    python benchmarks/raft_recovery.py [--duration 1200s] [--snapshot-interval 10000] [--seed 1]

Measured (this machine, shared and loaded, so wall time is noisy; CPU time is the steadier
figure): 1200 s, 399 leader crashes: 120,843 indexes, 603,778 decision rows (at most one per
node and index), liveness 0.99999, CPU 50 s, peak RSS ~400 MB, of which ~130 MB is importing
pandas and pyarrow; the run itself ends at ~240 MB and the rest is building the tables,
checking and hashing them. 60 s before snapshots: 87,788 rows for 6,038 indexes, 211 MB; now
30,189 rows, 181 MB. The issue's target of 300 MB at 1200 s is not met yet.
"""

from __future__ import annotations

import argparse
import time

from common import heapq_rate, peak_rss_mb

from sim import run, scenario_from_dict


def main() -> None:
    """Run the benchmark and print its numbers."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", default="1200s")
    parser.add_argument("--snapshot-interval", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    scenario = scenario_from_dict(
        {
            "name": "raft-recovery",
            "mechanism": "raft",
            "nodes": 5,
            "seed": args.seed,
            "duration": args.duration,
            "protocol": {"snapshot_interval": args.snapshot_interval},
            "network": {"delay": {"dist": "lognormal", "median": "5ms", "sigma": 0.4}},
            "faults": [{"every": "3s", "crash": "leader", "for": "1s"}],
            "workload": {"kind": "poisson", "rate": "100/s"},
        }
    )
    # The baseline runs first, before the run's tables exist for the garbage collector to scan.
    baseline = heapq_rate(500_000)
    cpu_started, started = time.process_time(), time.perf_counter()
    result = run(scenario)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    s = result.summary
    rate = s["messages_delivered"] / s["wall_time_s"]
    crashes = int((result.events["kind"] == "crash").sum())
    print(f"run                   5 nodes, {args.duration} simulated, {crashes} leader crashes, snapshot every {args.snapshot_interval}")
    print(f"wall time             {wall:.2f} s total, {s['wall_time_s']:.2f} s simulating; CPU {cpu:.2f} s")
    print(f"messages delivered    {s['messages_delivered']}")
    print(f"messages/s (wall)     {rate:,.0f}")
    print(f"bare heapq loop       {baseline:,.0f} /s   ratio {rate / baseline:.3f}")
    print(f"decisions             {s['decisions']} indexes, {len(result.decisions)} rows")
    print(f"liveness              {s['liveness']}  (failovers {s['failover_ms_count']}, p50 {s['failover_ms_p50']} ms)")
    print(f"peak memory (RSS)     {peak_rss_mb():,.0f} MB")
    print(f"violations            {s['safety_violations']}")


if __name__ == "__main__":
    main()

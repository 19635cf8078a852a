"""Gossip at scale: full-mesh push-pull anti-entropy of one write over 100,000 nodes (or --nodes).

Reports the CPU time end to end (build, simulate, tables, checkers, summary) and how it splits
between building and simulating and the post-run steps, messages per CPU second and the ratio
to the bare heapq loop in this process, peak resident memory and memory per node, and when
(ms and rounds) everyone had the write. The run lasts until the write has reached everyone
plus a few rounds (`--duration`).

    python benchmarks/gossip_scale.py [--nodes 100000] [--duration 2s] [--json]

The issue's targets: 100,000 nodes in under 30 s, 1,000,000 within 8 GB and 10 minutes.
"""

from __future__ import annotations

import argparse
import time

from common import heapq_rate, peak_rss_mb, report

from sim import run, scenario_from_dict


def scenario(nodes: int, duration: str) -> object:
    """One write at n0 after 50 ms; push-pull anti-entropy every 100 ms, fanout 1, on lognormal links."""
    return scenario_from_dict(
        {
            "name": "gossip-scale",
            "mechanism": "gossip",
            "nodes": nodes,
            "seed": 1,
            "duration": duration,
            "protocol": {"style": "anti_entropy", "mode": "pushpull", "interval": "100ms", "settle": "500ms"},
            "network": {"delay": {"dist": "lognormal", "median": "5ms", "sigma": 0.5}},
            "workload": {"kind": "updates", "updates": [{"at": "50ms", "node": "n0", "key": "k", "value": "v"}]},
        }
    )


def main() -> None:
    """Run the benchmark and print its numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--duration", default="2s", help="simulated time (default 2s: the write reaches 100,000 nodes in ~1.5 s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    # The baseline runs first, before the big heap exists (see gossip10k.py).
    baseline = heapq_rate(500_000)
    rss_before = peak_rss_mb()
    cpu, wall = time.process_time(), time.perf_counter()
    marks: dict[str, float] = {}
    result = run(scenario(args.nodes, args.duration), stage=lambda name: marks.setdefault(name, time.process_time()))
    end = time.process_time()
    cpu, wall = end - cpu, time.perf_counter() - wall
    simulating = marks["simulated"] - (end - cpu)
    s = result.summary
    rate = s["messages_delivered"] / cpu
    peak = peak_rss_mb()
    per_node_kb = (peak - rss_before) * 1024 / args.nodes
    record = {
        "benchmark": "gossip_scale",
        "nodes": args.nodes,
        "messages": s["messages_delivered"],
        "cpu_s": round(cpu, 2),
        "cpu_build_and_simulate_s": round(simulating, 2),
        "cpu_tables_checks_summary_s": round(cpu - simulating, 2),
        "wall_s": round(wall, 2),
        "simulating_wall_s": s["wall_time_s"],
        "rate": round(rate),
        "baseline_rate": round(baseline),
        "ratio": round(rate / baseline, 4),
        "peak_rss_mb": round(peak),
        "kb_per_node": round(per_node_kb, 2),
        "time_to_all_ms": s["time_to_all_ms_mean"],
        "time_to_all_rounds": s["time_to_all_rounds_mean"],
        "residue": s["residue_mean"],
    }
    reached = (
        f"everyone informed after {s['time_to_all_ms_mean']:,.0f} ms ({s['time_to_all_rounds_mean']:g} rounds)"
        if s["time_to_all_ms_mean"] is not None
        else f"not everyone informed (residue {s['residue_mean']})"
    )
    record["text"] = (
        f"{args.nodes:,}-node push-pull gossip of one write: {s['messages_delivered']:,} messages in {cpu:.1f} s CPU "
        f"({wall:.1f} s wall), {rate:,.0f}/s, ratio {record['ratio']}; peak RSS {peak:,.0f} MB "
        f"(~{per_node_kb:.1f} KB per node); {reached}"
    )
    lines = [
        f"nodes                 {args.nodes:,}  (anti-entropy, pushpull, full mesh, {args.duration} simulated)",
        f"time                  {cpu:.1f} s CPU, {wall:.1f} s wall in all, {s['wall_time_s']:.1f} s wall building and simulating",
        f"CPU split             {simulating:.1f} s building and simulating, {cpu - simulating:.1f} s tables, checkers and summary",
        f"messages delivered    {s['messages_delivered']:,}",
        f"messages per CPU s    {rate:,.0f}",
        f"bare heapq loop       {baseline:,.0f} /s   ratio {rate / baseline:.4f}",
        f"memory                peak RSS {peak:,.0f} MB, ~{per_node_kb:.1f} KB per node above the start",
        f"spread                {reached}",
    ]
    report(record, lines, args.json)


if __name__ == "__main__":
    main()

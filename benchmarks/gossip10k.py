"""Gossip at scale: 10,000 nodes, full mesh, push-pull, one update.

Prints CPU time (build + run + tables + checkers + summary), messages per CPU second, the ratio
to a bare heapq callback loop in this process, peak resident memory and the Python version.

    python benchmarks/gossip10k.py [--nodes 10000] [--style anti_entropy|rumor] [--duration 2s]
"""

from __future__ import annotations

import argparse

from common import cpu_timed, heapq_rate, peak_rss_mb, report

from sim import run, scenario_from_dict


def main() -> None:
    """Run the benchmark and print its numbers."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--style", default="anti_entropy", choices=["anti_entropy", "rumor"])
    parser.add_argument("--duration", default="2s")
    parser.add_argument("--json", action="store_true", help="print one JSON object (what `make docs` reads)")
    args = parser.parse_args()
    protocol = {"style": args.style, "mode": "pushpull", "interval": "100ms"}
    if args.style == "anti_entropy":
        protocol["settle"] = "500ms"  # the convergence checker's wait: rumor mongering refuses the setting
    scenario = scenario_from_dict(
        {
            "name": "gossip10k",
            "mechanism": "gossip",
            "nodes": args.nodes,
            "seed": 1,
            "duration": args.duration,
            "protocol": protocol,
            "network": {"delay": {"dist": "lognormal", "median": "5ms", "sigma": 0.5}},
            "workload": {"kind": "updates", "updates": [{"at": "50ms", "node": "n0", "key": "k", "value": "v"}]},
        }
    )
    # The baseline runs first: measured after the big run, the garbage collector would be
    # scanning its tables and the ratio would flatter the simulator.
    baseline = heapq_rate(500_000)
    result, cpu, wall = cpu_timed(lambda: run(scenario))
    s = result.summary
    rate = s["messages_delivered"] / cpu
    record = {
        "benchmark": "gossip10k",
        "nodes": args.nodes,
        "messages": s["messages_delivered"],
        "cpu_s": round(cpu, 3),
        "wall_s": round(wall, 3),
        "simulating_s": s["wall_time_s"],
        "rate": round(rate),
        "baseline_rate": round(baseline),
        "ratio": round(rate / baseline, 3),
        "time_to_all_ms": s["time_to_all_ms_mean"],
        "time_to_all_rounds": s["time_to_all_rounds_mean"],
        "message_rows": len(result.messages),
    }
    reached = (
        f"everyone informed after {s['time_to_all_rounds_mean']:g} rounds ({s['time_to_all_ms_mean']:,.0f} ms)"
        if s["time_to_all_rounds_mean"] is not None
        else f"residue {s['residue_mean']}"
    )
    record["text"] = (
        f"{args.nodes:,}-node push-pull gossip of one write: {s['messages_delivered']:,} messages in {cpu:.2f} s CPU "
        f"({s['wall_time_s']:.2f} s wall simulating), {rate:,.0f}/s, ratio {record['ratio']}; peak RSS {peak_rss_mb():,.0f} MB; {reached}"
    )
    lines = [
        f"nodes                 {args.nodes}  ({args.style}, pushpull, full mesh, {args.duration} simulated)",
        f"time                  {cpu:.2f} s CPU, {wall:.2f} s wall in all, {s['wall_time_s']:.2f} s wall simulating",
        f"messages delivered    {s['messages_delivered']}",
        f"messages per CPU s    {rate:,.0f}",
        f"bare heapq loop       {baseline:,.0f} /s   ratio {rate / baseline:.3f}",
        f"message table rows    {len(result.messages)}",
        f"spread                {reached}",
        f"violations            {s['safety_violations']}",
    ]
    report(record, lines, args.json)


if __name__ == "__main__":
    main()

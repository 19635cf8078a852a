"""PBFT's cost per message as the cluster grows: µs per delivered message at n = 4, 16, 64, 100.

Each size runs the same kind of load (one request every 20 ms, checkpoints every 32) with about
as many messages in all (fewer requests at larger n, since a request costs ~2n² messages), end
to end (build, simulate, tables, checkers, summary). A protocol whose per-message work does not
grow with n shows a flat line; the ratio is messages per CPU second against the bare heapq loop
run in the same process.

    python benchmarks/pbft_scaling.py [--nodes 4,16,64,100] [--messages 80000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

from common import cpu_timed, heapq_rate, report

from sim import run, scenario_from_dict


def scenario(nodes: int, requests: int) -> object:
    """`requests` requests, one every 20 ms, on `nodes` replicas with light lognormal delays."""
    return scenario_from_dict(
        {
            "name": f"pbft-scaling-{nodes}",
            "mechanism": "pbft",
            "nodes": nodes,
            "seed": 1,
            "duration": f"{requests * 20 + 500}ms",
            "protocol": {"checkpoint_interval": 32},
            "network": {"delay": {"dist": "lognormal", "median": "5ms", "sigma": 0.3}},
            "workload": {"kind": "script", "commands": [{"at": f"{i * 20}ms"} for i in range(requests)]},
        }
    )


def requests_for(nodes: int, messages: int) -> int:
    """Requests that make about `messages` messages (pre-prepare, prepares, commits, replies: ~2n² + 2n each)."""
    return max(2, math.ceil(messages / (2 * nodes * nodes + 2 * nodes)))


def staged_run(built: object) -> tuple[Any, float, float]:
    """Run a scenario end to end; returns the result, the CPU seconds in all, and those of the build and simulation alone."""
    marks: dict[str, float] = {}
    started = time.process_time()
    result, cpu, _ = cpu_timed(lambda: run(built, stage=lambda name: marks.setdefault(name, time.process_time())))  # type: ignore[arg-type]
    return result, cpu, marks["simulated"] - started


def main() -> None:
    """Run each size and print µs per message and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", default="4,16,64,100", help="cluster sizes, comma-separated")
    parser.add_argument("--messages", type=int, default=80_000, help="about this many messages per size (default 80000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each size; the least CPU is reported (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    sizes = [int(n) for n in args.nodes.split(",")]
    baseline = heapq_rate(500_000)
    rows = []
    for n in sizes:
        requests = requests_for(n, args.messages)
        # Best of `repeat`: one run of a second or two is at the mercy of whatever else the machine does.
        cpu, simulated = float("inf"), float("inf")
        for _ in range(args.repeat):
            result, took, took_simulating = staged_run(scenario(n, requests))
            if took < cpu:
                cpu, simulated = took, took_simulating
        s = result.summary
        delivered = s["messages_delivered"]
        rows.append(
            {
                "nodes": n,
                "requests": requests,
                "completed": s["commands_completed"],
                "messages": delivered,
                "cpu_s": round(cpu, 3),
                "us_per_message": round(1e6 * cpu / delivered, 2),
                # Build and simulation alone, per message; the rest (tables, checkers, summary) per request.
                "sim_us_per_message": round(1e6 * simulated / delivered, 2),
                "post_run_us_per_request": round(1e6 * (cpu - simulated) / requests, 1),
                "ratio": round(delivered / cpu / baseline, 3),
            }
        )
    spread = max(r["us_per_message"] for r in rows) / min(r["us_per_message"] for r in rows)
    cpu = sum(r["cpu_s"] for r in rows)
    messages = sum(r["messages"] for r in rows)
    record = {
        "benchmark": "pbft_scaling",
        "baseline_rate": round(baseline),
        "sizes": rows,
        "max_over_min": round(spread, 2),
        "cpu_s": round(cpu, 3),
        "messages": messages,
        "ratio": round(messages / cpu / baseline, 3),
    }
    record["text"] = (
        "PBFT µs per message "
        + ", ".join(f"n={r['nodes']}: {r['us_per_message']} (ratio {r['ratio']})" for r in rows)
        + f"; largest/smallest x{spread:.2f}"
    )
    head = f"{'n':>5} {'requests':>9} {'messages':>10} {'CPU s':>7} {'µs/msg':>8} {'ratio':>6}"
    lines = [f"{head} {'sim µs/msg':>11} {'post-run µs/request':>20}"]
    for r in rows:
        done = f"{r['completed']:>4}/{r['requests']:<4}"
        lines.append(
            f"{r['nodes']:>5} {done} {r['messages']:>10,} {r['cpu_s']:>7.2f} {r['us_per_message']:>8.2f} {r['ratio']:>6.3f}"
            f" {r['sim_us_per_message']:>11.2f} {r['post_run_us_per_request']:>20,.1f}"
        )
    lines.append(f"bare heapq loop {baseline:,.0f}/s; µs per message largest/smallest x{spread:.2f}")
    report(record, lines, args.json)


if __name__ == "__main__":
    main()

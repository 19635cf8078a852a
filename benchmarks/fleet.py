"""The inference fleet at scale: 200 servers, a 5-node Raft control plane, 60 simulated seconds.

Three planes in one run (scenarios/fleet/no-faults.yaml scaled up): a majority vote on scaling
among 9 servers, Raft on 5, push-pull gossip of the routing table across all of them, linked
(an "up" vote loads a model through Raft; each load is gossiped after 2s). With `--partition`
a third of the fleet is cut off for 10s. Prints CPU and wall time (build + run + tables +
checkers + summaries, no plots), whether the run took under a minute, messages per CPU second
and the ratio to a bare heapq loop in this process.

    python benchmarks/fleet.py [--servers 200] [--duration 60s] [--partition] [--json]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import cpu_timed, heapq_rate, report

from sim import run, scenario_from_dict
from sim.extends import read_scenario_yaml

BASE = Path(__file__).resolve().parent.parent / "scenarios" / "fleet" / "no-faults.yaml"
TARGET_S = 60.0


def main() -> None:
    """Run the benchmark and print its numbers."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--servers", type=int, default=200)
    parser.add_argument("--duration", default="60s")
    parser.add_argument("--partition", action="store_true", help="cut a third of the fleet off from 20s to 30s")
    parser.add_argument("--json", action="store_true", help="print one JSON object (what `make docs` reads)")
    args = parser.parse_args()
    data = read_scenario_yaml(BASE)
    data.update(name="fleet-bench", nodes=args.servers, duration=args.duration)
    seconds = float(args.duration.rstrip("s"))
    data["planes"][0]["workload"] = {"kind": "questions", "every": "2s", "until": f"{seconds - 4:g}s"}
    data["planes"][1]["workload"] = {"kind": "poisson", "rate": "5/s", "until": f"{seconds - 2:g}s"}
    if args.partition:
        third = [f"n{i}" for i in range(args.servers - args.servers // 3, args.servers)]
        data["faults"] = [{"at": "20s", "for": "10s", "partition": [third, ["rest"]]}]
    scenario = scenario_from_dict(data, "benchmarks/fleet.py")
    baseline = heapq_rate(500_000)
    result, cpu, wall = cpu_timed(lambda: run(scenario))
    s = result.summary
    rate = s["messages_delivered"] / cpu
    under = wall < TARGET_S
    record = {
        "benchmark": "fleet",
        "servers": args.servers,
        "duration": args.duration,
        "partition": args.partition,
        "messages": s["messages_delivered"],
        "cpu_s": round(cpu, 3),
        "wall_s": round(wall, 3),
        "under_a_minute": under,
        "rate": round(rate),
        "baseline_rate": round(baseline),
        "ratio": round(rate / baseline, 3),
        "e2e_ms_p50": s.get("links.e2e_ms_p50"),
        "chains": s.get("links.chains"),
    }
    record["text"] = (
        f"{args.servers}-server fleet (vote on 9, Raft on 5, gossip on all), {args.duration} simulated"
        f"{' with a partition of a third' if args.partition else ''}: {s['messages_delivered']:,} messages in "
        f"{wall:.1f} s wall ({cpu:.1f} s CPU), {'under' if under else 'OVER'} a minute; ratio {record['ratio']}"
    )
    by_plane = ", ".join(f"{p} {s[f'{p}.messages_delivered']:,}" for p in s["planes"].split(","))
    lines = [
        f"servers               {args.servers}  ({args.duration} simulated{', partition of a third 20s-30s' if args.partition else ''})",
        f"time                  {wall:.2f} s wall, {cpu:.2f} s CPU  ({'under' if under else 'OVER'} a minute)",
        f"messages delivered    {s['messages_delivered']:,}  ({by_plane})",
        f"messages per CPU s    {rate:,.0f}",
        f"bare heapq loop       {baseline:,.0f} /s   ratio {rate / baseline:.3f}",
        f"scale-up chains       {s.get('links.chains')} started, {s.get('links.chains_completed')} completed, "
        f"end-to-end p50 {s.get('links.e2e_ms_p50')} ms",
        f"violations            {s['safety_violations']}",
    ]
    report(record, lines, args.json)


if __name__ == "__main__":
    main()

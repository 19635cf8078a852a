"""Gossip at scale: full-mesh push-pull anti-entropy of one write over 100,000 nodes (or --nodes).

What is measured is the task "one write reaching everyone": the simulation advances round by
round (`Environment.advance` to each multiple of the 100 ms interval), and after each round it
checks whether every node has decided the write (one decision per node: there is one write and
no fault). It stops one round after the first check that finds everyone informed, so the
round that starts then (in which every digest already matches) is simulated too; then every
node stops, and the tables, checkers and summary are made as `sim.run` makes them, for the run
as it was simulated (the scenario with the duration it ran). `--duration` only caps the run;
`--full` runs it to the cap with `sim.run` instead (how earlier versions of this benchmark
measured, with more rounds after everyone had the write).

Reports the CPU time end to end (build, simulate, tables, checkers, summary) and how it splits
between building and simulating and the post-run steps, messages per CPU second and the ratio
to the bare heapq loop in this process, peak resident memory and memory per node, and when
(ms and rounds) everyone had the write.

    python benchmarks/gossip_scale.py [--nodes 100000] [--duration 10s] [--full] [--json]

The issue's targets: 100,000 nodes in under 30 s, 1,000,000 within 8 GB and 10 minutes.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from typing import Any

from common import heapq_rate, peak_rss_mb, report

from sim import run, scenario_from_dict
from sim.checkers import run_checkers
from sim.kernel import Simulation
from sim.metrics import summarise
from sim.records import RunTables, release_memory, system_allocator_for_arrow
from sim.runner import collector_paused
from sim.scenario import Scenario

INTERVAL_MS = 100.0


def scenario(nodes: int, duration: str) -> Scenario:
    """One write at n0 after 50 ms; push-pull anti-entropy every 100 ms, fanout 1, on lognormal links."""
    return scenario_from_dict(
        {
            "name": "gossip-scale",
            "mechanism": "gossip",
            "nodes": nodes,
            "seed": 1,
            "duration": duration,
            "protocol": {"style": "anti_entropy", "mode": "pushpull", "interval": f"{INTERVAL_MS:g}ms", "settle": "500ms"},
            "network": {"delay": {"dist": "lognormal", "median": "5ms", "sigma": 0.5}},
            "workload": {"kind": "updates", "updates": [{"at": "50ms", "node": "n0", "key": "k", "value": "v"}]},
        }
    )


def run_until_everyone_knows(nodes: int, cap: str, mark: Callable[[str], None]) -> tuple[dict[str, Any], float]:
    """Simulate round by round until one round after every node has the write (or the cap); returns the summary and the ms simulated."""
    capped = scenario(nodes, cap)
    started = time.perf_counter()  # wall time of the build and the simulation, as `sim.run` reports it
    with collector_paused():
        sim = Simulation(capped)
        # What `Simulation.run` does, with the advance split into rounds.
        for node in sim.nodes.values():
            node.start()
        del node  # the loop's last node would keep the simulation alive through it after the run
        assert sim.faults is not None
        sim.faults.start()
        sim.workload.attach(sim.clients)
        decisions, everyone = sim.recorder.decisions, len(sim.nodes)
        until, stop, informed = 0.0, capped.duration, False
        while until < stop:
            until = min(until + INTERVAL_MS, stop)
            sim.env.advance(until)
            if not informed and len(decisions) >= everyone:
                informed = True
                stop = min(until + INTERVAL_MS, stop)  # one more round: the first in which nobody learns anything
        sim.stop()
        wall = time.perf_counter() - started
        recorder, mechanism = sim.recorder, sim.mechanism
        # As `sim.run` does: the nodes and the network are freed before the tables are built, by
        # reference counting once `release` has broken their cycles, and the rest by a collection made
        # while the collector is still paused and what existed before is frozen.
        sim.release()
        del sim
        gc.collect()
    mark("simulated")
    ran = scenario(nodes, f"{until:g}ms")  # the scenario as simulated: the tables and checks are for the run's end
    with system_allocator_for_arrow():
        tables = RunTables.from_recorder(recorder)
        del recorder
        release_memory()
        tables.violations = run_checkers(tables, ran, mechanism)
        release_memory()
        summary = summarise(tables, ran, mechanism, wall)
        release_memory()
    return summary, until


def main() -> None:
    """Run the benchmark and print its numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--duration", default="10s", help="the most simulated time (default 10s; 1,000,000 nodes know the write by ~1.5 s)")
    parser.add_argument("--full", action="store_true", help="simulate all of --duration with sim.run (no stop once everyone knows)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    # The baseline runs first, before the big heap exists (see gossip10k.py).
    baseline = heapq_rate(500_000)
    rss_before = peak_rss_mb()
    cpu, wall = time.process_time(), time.perf_counter()
    marks: dict[str, float] = {}

    def mark(name: str) -> None:
        marks.setdefault(name, time.process_time())

    if args.full:
        s = run(scenario(args.nodes, args.duration), stage=mark).summary
        simulated_ms = scenario(args.nodes, args.duration).duration
    else:
        s, simulated_ms = run_until_everyone_knows(args.nodes, args.duration, mark)
    end = time.process_time()
    cpu, wall = end - cpu, time.perf_counter() - wall
    simulating = marks["simulated"] - (end - cpu)
    rate = s["messages_delivered"] / cpu
    peak = peak_rss_mb()
    per_node_kb = (peak - rss_before) * 1024 / args.nodes
    record = {
        "benchmark": "gossip_scale",
        "nodes": args.nodes,
        "simulated_ms": simulated_ms,
        "stopped": "at the cap" if args.full else "one round after everyone had the write",
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
        f"({wall:.1f} s wall; {simulated_ms:,.0f} ms simulated, {record['stopped']}), {rate:,.0f}/s, ratio {record['ratio']}; "
        f"peak RSS {peak:,.0f} MB "
        f"(~{per_node_kb:.1f} KB per node); {reached}"
    )
    lines = [
        f"nodes                 {args.nodes:,}  (anti-entropy, pushpull, full mesh, one write)",
        f"simulated             {simulated_ms:,.0f} ms, {record['stopped']}",
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

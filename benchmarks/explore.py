"""A long `consim explore` campaign per mechanism: schedules per minute per core, and what was found.

Each mechanism's shipped base scenario is explored within its declared fault bound with the same
explore seed; the correct mechanisms should find nothing. Prints, per mechanism, schedules run,
CPU seconds, schedules per CPU minute (per core: the workers' CPU time is counted), outcomes and
rules that fired.

    python benchmarks/explore.py [--schedules 2000] [--jobs CPUS] [--mechanisms raft,multipaxos,pbft] [--out DIR]

With `--out DIR` each mechanism's exploration is kept in DIR/<mechanism> and a killed campaign
resumes where it stopped (finished schedules are reused; their CPU time is then not counted).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from common import report

from sim.explore import explore

BASES = {
    "raft": "scenarios/raft-isolated-leader.yaml",
    "multipaxos": "scenarios/multipaxos-leader-crash.yaml",
    "pbft": "scenarios/pbft-normal.yaml",
    "hotstuff": "scenarios/hotstuff-normal.yaml",
    "tendermint": "scenarios/tendermint-normal.yaml",
}


def children_cpu() -> float:
    """CPU seconds of this process and of its finished worker processes."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    """Run the campaigns and print their numbers."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--schedules", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mechanisms", default="raft,multipaxos,pbft")
    parser.add_argument("--out", type=Path, default=None, help="keep each exploration in OUT/<mechanism> (resumable)")
    parser.add_argument("--json", action="store_true", help="print one JSON object (what `make docs` reads)")
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    load = os.getloadavg()[0]
    lines, found = [], {}
    for name in args.mechanisms.split(","):
        with tempfile.TemporaryDirectory() as scratch:
            out = args.out / name if args.out is not None else Path(scratch)
            cpu, wall = children_cpu(), time.perf_counter()
            result = explore(root / BASES[name], schedules=args.schedules, seed=args.seed, jobs=args.jobs, out=out)
            cpu, wall = children_cpu() - cpu, time.perf_counter() - wall
        runs = result.runs
        outcomes = runs["outcome"].value_counts().sort_index().to_dict() if not runs.empty else {}
        rules = sorted({r for r in runs.get("rule", []) if isinstance(r, str)})
        per_min = result.executed / (cpu / 60) if cpu else 0.0
        found[name] = {
            "schedules": len(runs),
            "executed": result.executed,
            "cpu_s": round(cpu, 1),
            "wall_s": round(wall, 1),
            "per_cpu_minute": round(per_min),
            "outcomes": outcomes,
            "rules": rules,
            "bound": result.bound.describe(),
            "failures": [{k: f[k] for k in ("schedule", "outcome", "rule")} for f in result.failures],
        }
        lines.append(
            f"{name}: {len(runs)} schedules ({result.bound.describe()}), {result.executed} run now in {cpu:,.0f} CPU s / "
            f"{wall:,.0f} s wall, {per_min:,.0f} schedules per CPU minute; outcomes {outcomes}; rules {rules or 'none'}"
        )
    record = {
        "benchmark": "explore",
        "seed": args.seed,
        "jobs": args.jobs,
        "cores": os.cpu_count(),
        "load_at_start": round(load, 1),
        "finished_utc": f"{datetime.now(UTC):%Y-%m-%d %H:%M}",
        "mechanisms": found,
    }
    report(record, lines, args.json)


if __name__ == "__main__":
    main()

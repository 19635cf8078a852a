"""The README's inference-fleet regions: the measured answer per fleet scenario, the per-plane recommendation, the benchmark."""

from __future__ import annotations

import os
import platform
import sys
from datetime import UTC, datetime

import pandas as pd
from docs_session import Facts, RegionError, Session, prose, sig, table, transcript
from docs_slow import _bench

from sim.report.fleet import unmet
from sim.report.run import measured, planes
from sim.results import RunResult

FLEET = ("no-faults", "leader-crash", "partition", "byzantine-server", "load-spike")
"""scenarios/fleet/*.yaml, in the order the README lists them."""


def _seconds(ms: float) -> str:
    return f"{ms / 1000:.2f} s"


def _plane(result: RunResult, f: Facts, plane: str) -> str:
    """One plane's safety, latency (staleness for the routing store) and whether it met its `requires:`, in a table cell."""
    unsafe = int(f[f"{plane}.safety_violations"])
    safe = "safe" if unsafe == 0 else f"UNSAFE ({unsafe} violations)"
    if plane == "scale":
        cell = f"{safe}, {sig(f['scale.decision_accuracy'] * 100)}% right, p99 {sig(f['scale.latency_ms_p99'])} ms"
    elif plane == "routing":
        stale = sig(f["routing.staleness_ms_p99"] / 1000)
        cell = f"{safe}, a router on an old table for {stale} s (p99), {int(f['routing.never_informed'])} never informed"
    else:
        cell = f"{safe}, p99 {sig(f[f'{plane}.latency_ms_p99'])} ms, liveness {sig(f[f'{plane}.liveness'])}"
    found = next(p for p in planes(result) if p.name == plane)
    if not found.requires:
        return cell
    reasons = unmet(found.requires, found.tolerates_text, measured(found, f["duration_ms"]), len(found.tables["violations"]))
    return f"{cell}; needs {'met' if not reasons else 'NOT met: ' + '; '.join(reasons)}"


def fleet_answers(s: Session) -> str:
    """Each shipped fleet scenario's measured answer: end to end, and per plane safety and latency."""
    rows = []
    for name in FLEET:
        result = s.result(f"fleet/{name}")
        f = Facts(result.summary, f"scenarios/fleet/{name}.yaml")
        pipeline = result.pipeline if result.pipeline is not None else pd.DataFrame()
        if pipeline.empty:
            raise RegionError(f"scenarios/fleet/{name}.yaml: no scale-up chain started")
        e2e = f"{_seconds(f['links.e2e_ms_p50'])} / {_seconds(_longest(pipeline))}"
        chains = f"{f['links.chains_completed']} of {f['links.chains']}"
        rows.append((f"`fleet/{name}`", chains, e2e, *(_plane(result, f, p) for p in ("scale", "control", "routing"))))
    header = ("scenario", "scale-ups done", "end to end p50 / max", "scale (voting)", "control (raft)", "routing (gossip)")
    return table(header, rows)


def _longest(pipeline: pd.DataFrame) -> float:
    """The longest completed chain, from its first trigger to the last router having the table."""
    from sim.report.fleet import chain_totals

    return float(chain_totals(pipeline)["e2e_ms"].max())


def fleet_compare(s: Session) -> str:
    """`consim compare` on the shipped per-plane spec: the table, and what it recommends for each plane and why."""
    return transcript(("compare", "scenarios/compare/fleet-mechanisms.yaml", "--out", "results/fleet-compare"), session=s)


def fleet_benchmark(s: Session) -> str:
    """`benchmarks/fleet.py`: 200 servers, 60 simulated seconds, with and without a partition."""
    plain, cut = _bench("fleet"), _bench("fleet", "--partition")
    stamp = prose(
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `make docs` on a {os.cpu_count()}-core {platform.machine()} "
        f"machine (load average {os.getloadavg()[0]:.1f} when it started), Python {sys.version.split()[0]}."
    )
    rows = [("`python benchmarks/fleet.py`", str(plain["text"])), ("`python benchmarks/fleet.py --partition`", str(cut["text"]))]
    return f"{stamp}\n\n{table(('command', 'result'), rows)}"

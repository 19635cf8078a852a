"""`run_fleet(scenario)`: run a scenario with planes, check and summarise each plane, join the tables."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd

from sim.checkers import run_checkers
from sim.metrics import summarise
from sim.planes import PLANE_COLUMN
from sim.planes.kernel import Fleet
from sim.planes.links import pipeline_summary
from sim.records import RunTables
from sim.report.facts import staleness
from sim.results import RunResult

if TYPE_CHECKING:
    from sim.protocols.base import Protocol
    from sim.scenario import Scenario

JOINED = ("decisions", "messages", "events", "requests", "violations", "trace")
TOTALS = (
    "decisions",
    "commands_submitted",
    "commands_completed",
    "commands_committed",
    "messages_sent",
    "messages_delivered",
    "messages_dropped",
    "bytes_sent",
    "safety_violations",
)
"""Run totals: the sum over planes of these per-plane keys."""
RUN_KEYS = ("name", "seed", "duration_ms", "journal_sha256", "wall_time_s")
"""Per-plane summary keys that are the run's, so they appear once, unprefixed."""


def join(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One table from each plane's: a first column `plane`, then the union of the columns (first seen first)."""
    parts = []
    columns: list[str] = [PLANE_COLUMN]
    for name, frame in frames.items():
        part = frame.copy()
        part.insert(0, PLANE_COLUMN, name)
        parts.append(part)
        columns += [c for c in frame.columns if c not in columns]
    parts = [p for p in parts if not p.empty] or parts[:1]
    joined = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
    joined = joined.reindex(columns=columns)
    for column in joined.columns:
        if joined[column].dtype == object:
            present = joined[column].dropna()
            if present.map(type).nunique() > 1:
                # One plane's slots are numbers, another's names: text, as one run's mixed slots are (records.py).
                joined[column] = joined[column].map(lambda v: v if v is None or v != v else str(v))
    return joined


def split(table: pd.DataFrame, plane: str) -> pd.DataFrame:
    """One plane's rows of a joined table, without the `plane` column (the columns it never filled dropped)."""
    mine = table[table[PLANE_COLUMN] == plane].drop(columns=[PLANE_COLUMN]).reset_index(drop=True)
    empty = [c for c in mine.columns if mine[c].isna().all()] if not mine.empty else []
    return mine.drop(columns=empty)


def fleet_summary(scenario: Scenario, planes: dict[str, RunResult], pipeline: pd.DataFrame, digest: str, wall: float) -> dict[str, Any]:
    """The run's keys and totals, `links.*` keys, then each plane's keys prefixed with `<plane>.`."""
    summary: dict[str, Any] = {
        "name": scenario.name,
        "mechanism": "planes",
        "planes": ",".join(planes),
        "nodes": scenario.n,
        "seed": scenario.seed,
        "duration_ms": scenario.duration,
    }
    for key in TOTALS:
        summary[key] = sum(int(result.summary.get(key) or 0) for result in planes.values())
    if scenario.links:
        summary.update(pipeline_summary(pipeline, scenario.links))
    for name, result in planes.items():
        summary.update({f"{name}.{key}": value for key, value in result.summary.items() if key not in RUN_KEYS})
        # A keyed store (gossip): how long its nodes work on an old value, which a plane's requirements may bound.
        stale = staleness(result.decisions, scenario.duration)
        for key in ("staleness_ms_mean", "staleness_ms_p99", "staleness_ms_max", "never_informed"):
            if stale is not None and f"{name}.{key}" not in summary:
                summary[f"{name}.{key}"] = stale[key]
    summary = {key: round(value, 6) if isinstance(value, float) else value for key, value in summary.items()}
    summary["journal_sha256"] = digest
    summary["wall_time_s"] = round(wall, 3)
    return summary


def run_fleet(
    scenario: Scenario,
    trace: bool = False,
    progress: Callable[[float], None] | None = None,
    protocols: dict[str, type[Protocol]] | None = None,
) -> RunResult:
    """Run a scenario with planes in one simulation; each plane is checked and summarised on its own rows.

    Args:
        scenario: a validated scenario with `planes`.
        trace: keep the full message journal.
        progress: called with the simulated time reached (ms) as the run advances.
        protocols: Protocol classes to run instead of the registered ones, by plane name (tests).

    """
    from sim.runner import collector_paused  # late: the runner dispatches here

    started = time.perf_counter()  # wall time of the run itself; never read by the simulation
    with collector_paused():
        fleet = Fleet(scenario, trace, protocols)
        fleet.run(progress=progress)
    wall = time.perf_counter() - started
    results: dict[str, RunResult] = {}
    for name, sim in fleet.planes.items():
        tables = RunTables.from_recorder(sim.recorder)
        tables.violations = run_checkers(tables, sim.scenario, sim.mechanism)
        results[name] = RunResult(sim.scenario.resolved(), summarise(tables, sim.scenario, sim.mechanism, wall), tables)
    pipeline = fleet.links.table({name: result.decisions for name, result in results.items()})
    del fleet
    frames = {table: {name: getattr(r.tables, table) for name, r in results.items()} for table in JOINED}
    traced = all(frame is not None for frame in frames["trace"].values())
    counters = {f"{name}.{key}": value for name, r in results.items() for key, value in r.tables.counters.items()}
    tables = RunTables(
        decisions=join(frames["decisions"]),
        messages=join(frames["messages"]),
        events=join(frames["events"]),
        requests=join(frames["requests"]),
        trace=join(frames["trace"]) if traced else None,
        counters=counters,
        violations=join(frames["violations"]),
    )
    h = hashlib.sha256(tables.digest().encode())
    h.update(pd.util.hash_pandas_object(pipeline.astype(str), index=False).to_numpy().tobytes())
    summary = fleet_summary(scenario, results, pipeline, h.hexdigest(), wall)
    return RunResult(scenario.resolved(), summary, tables, planes=results, pipeline=pipeline)

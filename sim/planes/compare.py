"""`consim compare` on a scenario with planes: each plane's candidate mechanisms under the same faults.

For each plane given candidates, each candidate replaces that plane's mechanism while every other
plane, the nodes, the network, the links and the fault plan stay as they are; the table has one
row per (plane, candidate): the plane's own numbers (its `<plane>.` summary keys, means over
seeds) and the run's end-to-end time through the links. Protocol settings the candidate does not
know, and faults it refuses (a byzantine behaviour aimed at that plane), are dropped for it and
the row's notes say so, as `sim.compare.adapt` does for a one-mechanism scenario.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd

from sim.compare import Comparison, tolerates
from sim.protocols.registry import get_mechanism
from sim.scenario import Scenario, ScenarioError, scenario_from_dict
from sim.sweep.execute import execute
from sim.sweep.spec import Task, run_key
from sim.sweep_plots import tradeoff_chart

PLANE_METRICS = (
    "latency_ms_p50",
    "latency_ms_p99",
    "throughput_per_s",
    "liveness",
    "decisions",
    "messages_sent",
    "bytes_sent",
    "messages_per_decision",
    "staleness_ms_p99",
)
"""A plane's summary keys the table averages over seeds (NaN when the candidate does not report one)."""
RUN_METRICS = ("links.e2e_ms_p50", "links.e2e_ms_p99", "links.chains_completed")


def _plane_index(data: dict[str, Any], plane: str) -> int:
    for i, spec in enumerate(data.get("planes") or []):
        if isinstance(spec, dict) and spec.get("name") == plane:
            return i
    raise ScenarioError("<compare spec>", f"planes.{plane}", f"the scenario has no plane named {plane!r}")


def adapt_plane(data: dict[str, Any], plane: str, mechanism: str, source: str) -> tuple[Scenario | None, list[str]]:
    """The scenario with `plane` running `mechanism`, dropping its settings and faults the mechanism refuses; and notes."""
    data = copy.deepcopy(data)
    i = _plane_index(data, plane)
    spec = data["planes"][i]
    original = spec.get("mechanism")
    spec["mechanism"] = mechanism
    notes: list[str] = []
    protocol = spec.get("protocol") if isinstance(spec.get("protocol"), dict) else {}
    if original != mechanism and protocol:
        fields = get_mechanism(mechanism).config.model_fields
        known = set(fields) | {f.alias for f in fields.values() if f.alias}
        dropped = sorted(k for k in protocol if k not in known)
        for key in dropped:
            del protocol[key]
        if dropped:
            notes.append(f"{original} settings not used: {', '.join(dropped)}")
    prefix = f"planes[{i}]."
    for _ in range(len(data.get("faults") or []) + len(protocol) + 1):
        try:
            return scenario_from_dict(data, source), notes
        except ScenarioError as err:
            where = err.field
            if where.startswith("faults[") and (data.get("faults") or []):
                index = int(where[len("faults[") :].split("]")[0])
                fault = data["faults"].pop(index)
                notes.append(f"dropped fault {fault.get('behaviour') or next(iter(fault))}: {err.problem}")
                continue
            if where.startswith(prefix + "protocol.") and protocol:
                key = where[len(prefix + "protocol.") :].split(".")[0].split("[")[0]
                if key in protocol:
                    del protocol[key]
                    notes.append(f"dropped protocol.{key}: {err.problem}")
                    continue
            return None, [*notes, f"skipped: {where or 'scenario'}: {err.problem}"]
    return None, [*notes, "skipped: could not adapt the scenario"]


def compare_planes(
    data: dict[str, Any], candidates: dict[str, list[str]], replicates: int = 1, jobs: int = 1, source: str = "<scenario>"
) -> Comparison:
    """Run each plane's candidates (seeds seed..seed+replicates-1) and tabulate them per plane.

    Raises:
        ScenarioError: a plane the scenario lacks, or nothing could run.

    """
    tasks: list[Task] = []
    notes: dict[str, list[str]] = {}
    clusters: dict[str, tuple[int, int]] = {}  # label -> (the plane's nodes, faults it tolerates as configured)
    labels: list[tuple[str, str]] = []
    for plane, names in candidates.items():
        _plane_index(data, plane)
        for name in names:
            label = f"{plane}: {name}"
            labels.append((plane, name))
            adapted, notes[label] = adapt_plane(data, plane, name, source)
            if adapted is None:
                continue
            mine = adapted.plane_scenarios[plane]
            clusters[label] = (len(mine.node_names), get_mechanism(name).fault_bound(mine)[1])
            for i in range(replicates):
                one = adapted.model_copy(update={"seed": adapted.seed + i}, deep=True)
                tasks.append(Task(run_key(one), len(labels) - 1, {"plane": plane, "mechanism": name}, one.seed, one))
    if not tasks:
        raise ScenarioError(
            "<compare spec>", "planes", "no candidate can run this scenario: " + "; ".join(n[-1] for n in notes.values() if n)
        )
    runs = pd.DataFrame(sorted(execute(tasks, jobs=jobs), key=lambda r: (r["point"], r["seed"])))
    table = _table(runs, labels, notes, clusters)
    chart = table.assign(mechanism=[f"{p}: {m}" for p, m in zip(table["plane"], table["mechanism"], strict=True)])
    figure = tradeoff_chart(
        chart, x="messages_per_decision", title=f"Each plane's candidates — {data.get('name', '')} ({replicates} seeds each)"
    )
    return Comparison(table, runs, figure, notes, data)


def _mean(mine: pd.DataFrame, column: str) -> float:
    if column not in mine:
        return float("nan")
    values = pd.to_numeric(mine[column], errors="coerce").dropna()
    return float(values.mean()) if len(values) else float("nan")


def _table(
    runs: pd.DataFrame, labels: list[tuple[str, str]], notes: dict[str, list[str]], clusters: dict[str, tuple[int, int]]
) -> pd.DataFrame:
    records = []
    for point, (plane, name) in enumerate(labels):
        label = f"{plane}: {name}"
        mine = runs[runs["point"] == point] if "point" in runs else runs.iloc[0:0]
        errors = mine["error"].dropna() if "error" in mine else pd.Series(dtype=object)
        ok = mine[mine["error"].isna()] if "error" in mine else mine
        record: dict[str, Any] = {"plane": plane, "mechanism": name, "tolerates": tolerates(name, *clusters.get(label, ()))}
        record["runs"], record["failed"] = len(mine), len(errors)
        found = pd.to_numeric(ok.get(f"{plane}.safety_violations", pd.Series(dtype=float)), errors="coerce").fillna(0)
        record["violations_total"] = int(found.sum())
        record["unsafe_runs"] = int((found > 0).sum())
        record["safety_violations"] = float(found.mean()) if len(found) else float("nan")
        for metric in PLANE_METRICS:
            record[metric] = _mean(ok, f"{plane}.{metric}")
        decided = record["decisions"]
        record["bytes_per_decision"] = record["bytes_sent"] / decided if decided and np.isfinite(decided) else float("nan")
        for metric in RUN_METRICS:
            record[metric.removeprefix("links.")] = _mean(ok, metric)
        if len(errors):
            notes.setdefault(label, []).append(f"{len(errors)} runs failed, e.g. {errors.iloc[0]}")
        record["notes"] = "; ".join(notes.get(label, []))
        records.append(record)
    return pd.DataFrame(records)

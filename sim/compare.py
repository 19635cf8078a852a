"""Compare mechanisms on the same nodes, network, faults and workload: a table and a trade-off chart."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from matplotlib.figure import Figure

from sim.protocols.registry import MechanismError, absolute_reference, get_mechanism, is_reference
from sim.protocols.registry import mechanisms as registered
from sim.scenario import Scenario, ScenarioError, read_scenario, scenario_from_dict, set_path
from sim.sweep.execute import execute
from sim.sweep.spec import Task, run_key
from sim.sweep.stats import aggregate
from sim.sweep_plots import tradeoff_chart

TABLE_METRICS = (
    "latency_ms_p50",
    "latency_ms_p99",
    "messages_per_command",
    "messages_per_decision",
    "bytes_per_decision",
    "throughput_per_s",
    "decisions",
    "liveness",
    "safety_violations",
)
"""Means over seeds in the table; a metric the runs do not report (e.g. an older summary) stays NaN."""
CI_METRICS = ("latency_ms_p50", "messages_per_command", "messages_per_decision")
_FAULT_INDEX = re.compile(r"^faults\[(\d+)\]")
_BOUND = re.compile(r"\bf<n/(\d+)\b")


def tolerates(mechanism: str, n: int | None = None, f: int | None = None) -> str:
    """The faults a mechanism tolerates (its `Protocol.tolerates`), e.g. "crash f<n/2 (f≤2 of 5)"; "?" when undeclared.

    A bound of the form `f<n/K` gets the f of `n` nodes appended when `n` is given: `f`, the bound of
    the cluster as configured (its mechanism's `fault_bound`, e.g. PBFT's `protocol.f`), when known,
    else the largest f below n/K.
    """
    try:
        declared = get_mechanism(mechanism).tolerates
    except MechanismError:
        declared = ""
    if not declared:
        return "?"
    bound = _BOUND.search(declared)
    if bound and n:
        most = (n - 1) // int(bound.group(1)) if f is None else f
        return f"{declared} (f≤{most} of {n})"
    return declared


def _describe_fault(fault: dict[str, Any]) -> str:
    keys = [k for k in ("crash", "recover", "partition", "cut", "heal", "set_link", "churn", "byzantine") if k in fault]
    action = keys[0] if keys else "fault"
    detail = fault.get("behaviour") or fault.get(action)
    return f"{action} {detail}" if isinstance(detail, str) else action


def adapt(data: dict[str, Any], mechanism: str, source: str = "<scenario>") -> tuple[Scenario | None, list[str]]:
    """Retarget scenario data at `mechanism`, dropping protocol settings and faults it refuses.

    Returns:
        The validated scenario (None when it cannot run this mechanism) and notes saying what
        was dropped or why the mechanism was skipped.

    """
    data = copy.deepcopy(data)
    original = data.get("mechanism")
    data["mechanism"] = mechanism
    notes: list[str] = []
    dropped_settings: list[str] = []
    if original != mechanism and isinstance(data.get("protocol"), dict):
        # Another mechanism's settings rarely mean the same thing here; keep only the ones this one knows.
        fields = get_mechanism(mechanism).config.model_fields
        known = set(fields)
        aliases = {f.alias for f in fields.values() if f.alias}
        for key in sorted(data["protocol"]):
            if key not in known and key not in aliases:
                dropped_settings.append(key)
                del data["protocol"][key]
    faults = data.get("faults") or []
    for _ in range(len(faults) + len(data.get("protocol") or {}) + 1):
        try:
            scenario = scenario_from_dict(data, source)
        except ScenarioError as err:
            match = _FAULT_INDEX.match(err.field)
            if match and int(match.group(1)) < len(data.get("faults") or []):
                fault = data["faults"].pop(int(match.group(1)))
                notes.append(f"dropped fault '{_describe_fault(fault)}': {err.problem}")
                continue
            if err.field.startswith("protocol.") and isinstance(data.get("protocol"), dict):
                key = err.field.split(".")[1].split("[")[0]
                if key in data["protocol"]:
                    del data["protocol"][key]
                    notes.append(f"dropped protocol.{key}: {err.problem}")
                    continue
            return None, [*notes, f"skipped: {err.field or 'scenario'}: {err.problem}"]
        if dropped_settings:
            notes.insert(0, f"{original} settings not used: {', '.join(dropped_settings)}")
        return scenario, notes
    return None, [*notes, "skipped: could not adapt the scenario"]


@dataclass
class Comparison:
    """The result of `compare`: one table row per mechanism, every run's row, and the chart."""

    table: pd.DataFrame
    runs: pd.DataFrame
    figure: Figure
    notes: dict[str, list[str]] = field(default_factory=dict)
    scenario: dict[str, Any] = field(default_factory=dict)
    """The scenario data every mechanism was adapted from (after overrides): its faults are the report's fault plan."""

    def save(self, folder: str | Path, meta: dict[str, Any] | None = None) -> Path:
        """Write table.csv, table.parquet, runs.parquet, tradeoff.png, scenario.yaml and (given `meta`) compare.json into `folder`.

        `meta` records what was asked (candidates, replicates, requirements) for `consim report`.
        """
        root = Path(folder)
        root.mkdir(parents=True, exist_ok=True)
        if self.scenario:
            (root / "scenario.yaml").write_text(yaml.safe_dump(self.scenario, sort_keys=False), encoding="utf-8")
        if meta is not None:
            (root / "compare.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        self.table.to_csv(root / "table.csv", index=False)
        self.table.to_parquet(root / "table.parquet", index=False)
        self.runs.to_parquet(root / "runs.parquet", index=False)
        self.figure.savefig(root / "tradeoff.png", dpi=100, metadata={"Software": None})
        return root


def _load(scenario: Scenario | dict[str, Any] | str | Path, overrides: dict[str, Any] | None) -> tuple[dict[str, Any], str]:
    """The scenario's data (a file's with its `extends:` resolved) with `overrides` applied, and its source name.

    Raises:
        ScenarioError: the scenario, with the overrides, is not valid for its own mechanism.

    """
    # The scenario must be valid for its own mechanism: its mistakes are reported as such,
    # never mistaken for something another mechanism refuses.
    if not isinstance(scenario, (Scenario, dict)):
        data, _ = read_scenario(scenario, overrides)  # as `run` reads it: extends resolved, a base's mistakes named in the base
        return data, str(scenario)
    if isinstance(scenario, Scenario):
        data, source = scenario.resolved(), f"<{scenario.name}>"
    else:
        data, source = copy.deepcopy(scenario), "<scenario>"
    scenario_from_dict(data, source, overrides)  # validates a copy: a bad override is refused here, in one line
    for path, value in (overrides or {}).items():
        set_path(data, path, value)
    return data, source


def compare(
    scenario: Scenario | dict[str, Any] | str | Path,
    mechanisms: Sequence[str] = ("raft", "multipaxos", "pbft"),
    replicates: int = 3,
    jobs: int = 1,
    overrides: dict[str, Any] | None = None,
) -> Comparison:
    """Run the same scenario on each mechanism (seeds seed..seed+replicates-1) and compare them.

    Protocol settings a mechanism does not understand and faults it refuses (e.g. byzantine
    behaviours a crash-tolerant protocol does not model) are dropped for that mechanism, and
    the table's `notes` column says so; a mechanism the scenario cannot run at all is listed
    with the reason and no numbers.

    Args:
        scenario: a Scenario, raw scenario data, or a YAML path.
        mechanisms: the mechanisms to compare (registered names, or `module:Class` / `file.py:Class`
            references, a relative file being found from the working folder).
        replicates: seeds per mechanism.
        jobs: local worker processes (1 runs in this process).
        overrides: dotted overrides applied to the scenario first (e.g. {"duration": "3s"}).

    Raises:
        ScenarioError: the scenario itself is bad, a mechanism name is unknown, or nothing could
            run (no mechanism can run the scenario, or every run failed).

    """
    for i, name in enumerate(mechanisms):
        if name in mechanisms[:i]:
            # Its copy would run the same seeds again, and the table would count every run twice as
            # independent replicates: twice the runs, and a confidence interval narrower than the seeds give.
            raise ScenarioError("--mechanisms", "", f"{name!r} is listed twice")
    data, source = _load(scenario, overrides)
    known = list(registered())
    targets: dict[str, str] = {}
    for name in mechanisms:
        if not is_reference(name) and name not in known:
            raise ScenarioError("--mechanisms", name, f"unknown mechanism (known: {', '.join(known)})")
        try:
            get_mechanism(name)  # a reference given on the command line is found from the working folder
        except MechanismError as err:
            raise ScenarioError("--mechanisms", name, str(err)) from None
        targets[name] = absolute_reference(name, None)
    tasks: list[Task] = []
    notes: dict[str, list[str]] = {}
    clusters: dict[str, tuple[int, int]] = {}  # mechanism -> (nodes, faults tolerated as configured)
    for name in mechanisms:
        adapted, notes[name] = adapt(data, targets[name], source)
        if adapted is None:
            continue
        clusters[name] = (adapted.n, get_mechanism(targets[name]).fault_bound(adapted)[1])
        for i in range(replicates):
            one = adapted.model_copy(update={"seed": adapted.seed + i}, deep=True)
            tasks.append(Task(run_key(one), len(clusters) - 1, {"mechanism": name}, one.seed, one))
    if not tasks:
        why = "; ".join(f"{name}: {notes[name][-1].removeprefix('skipped: ')}" for name in mechanisms)
        raise ScenarioError("--mechanisms", "", f"none of the mechanisms can run this scenario ({why})")
    rows = sorted(execute(tasks, jobs=jobs), key=lambda r: (r["point"], r["seed"]))
    runs = pd.DataFrame(rows)
    if {"bytes_sent", "decisions"} <= set(runs.columns):
        # Bytes per decided slot, the byte cost a recommendation can rank by (see sim/report/requirements.py).
        decided = pd.to_numeric(runs["decisions"], errors="coerce")
        runs["bytes_per_decision"] = pd.to_numeric(runs["bytes_sent"], errors="coerce") / decided.where(decided > 0)
    if "error" in runs and runs["error"].notna().all():
        raise ScenarioError("--mechanisms", "", f"every run failed, e.g. {runs['error'].dropna().iloc[0]}")
    table = _table(runs, list(mechanisms), notes, clusters)
    x = "messages_per_command" if table["messages_per_command"].notna().any() else "messages_per_decision"
    figure = tradeoff_chart(table, x=x, title=f"Latency against message cost — {data.get('name', '')} ({replicates} seeds each)")
    return Comparison(table, runs, figure, notes, data)


def _table(runs: pd.DataFrame, names: list[str], notes: dict[str, list[str]], clusters: dict[str, tuple[int, int]]) -> pd.DataFrame:
    stats = aggregate(runs, ["mechanism"], [m for m in TABLE_METRICS if m in runs.columns]) if not runs.empty else pd.DataFrame()
    records = []
    for name in names:
        record: dict[str, Any] = {"mechanism": name, "tolerates": tolerates(name, *clusters.get(name, ()))}
        part = stats[stats["mechanism"] == name] if not stats.empty else stats
        mine = runs[runs["mechanism"] == name] if not runs.empty else runs
        errors = mine["error"].dropna() if "error" in mine else pd.Series(dtype=object)
        record["runs"] = len(mine)
        record["failed"] = len(errors)
        found = pd.to_numeric(mine["safety_violations"], errors="coerce") if "safety_violations" in mine else pd.Series(dtype=float)
        record["violations_total"] = int(found.fillna(0).sum())
        record["unsafe_runs"] = int((found > 0).sum())
        if len(errors):
            notes.setdefault(name, []).append(f"{len(errors)} runs failed, e.g. {errors.iloc[0]}")
        for metric in TABLE_METRICS:
            hit = part[part["metric"] == metric] if len(part) else part
            mean = float(hit["mean"].iloc[0]) if len(hit) else float("nan")
            record[metric] = mean
            if metric in CI_METRICS:  # the interval's ends: it need not be symmetric about the mean (Wilson, clipping)
                record[f"{metric}_ci_low"] = float(hit["ci_low"].iloc[0]) if len(hit) else float("nan")
                record[f"{metric}_ci_high"] = float(hit["ci_high"].iloc[0]) if len(hit) else float("nan")
        record["notes"] = "; ".join(notes.get(name, []))
        records.append(record)
    return pd.DataFrame(records)

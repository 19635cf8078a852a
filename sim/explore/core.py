"""`explore`: draw fault schedules, run each against every oracle, save and shrink the failures."""

from __future__ import annotations

import hashlib
import json
import math
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pandas as pd
import yaml

from sim.effects import has_leader
from sim.explore.draw import FaultBound, draw_schedule, fault_kinds, schedule_rng, within
from sim.explore.shrink import shrink
from sim.scenario import Scenario, ScenarioError, load_scenario, scenario_from_dict
from sim.scenario_parts import derived_name
from sim.units import parse_duration

ROWS = "rows"
FAILING = ("violation", "error", "stuck")
"""Outcomes that are failures: a checker fired, the run raised, or nothing was decided after the faults healed."""


@dataclass(frozen=True)
class ExploreTask:
    """One schedule to run: its index, drawn scenario data and run seed (duck-types a sweep Task)."""

    key: str
    point: int
    seed: int
    data: dict[str, Any]
    source: str
    protocol_cls: Any = None
    params: dict[str, Any] = field(default_factory=dict)


def heal_time(faults: list[dict[str, Any]]) -> float | None:
    """When the last fault of a schedule ends (ms), or None when one never ends (a permanent fault)."""
    end = 0.0
    for entry in faults:
        if "byzantine" in entry:
            if "until" not in entry:
                continue  # byzantine nodes within the bound must not stop progress: judged as if healed at 0
            end = max(end, parse_duration(entry["until"]))
        elif "churn" in entry and "until" in entry:
            end = max(end, parse_duration(entry["until"]))
        elif "at" in entry and "for" in entry:
            end = max(end, parse_duration(entry["at"]) + parse_duration(entry["for"]))
        elif "every" in entry and "until" in entry and "for" in entry:
            end = max(end, parse_duration(entry["until"]) + parse_duration(entry["for"]))  # the last repeat's undo
        else:
            return None
    return end


def judge(data: dict[str, Any], source: str, protocol_cls: Any = None) -> dict[str, Any]:
    """Run one schedule and say how it went.

    Returns:
        outcome ("ok", "violation", "error", "stuck" or "invalid"), the first violated rule, every
        rule that fired, the violation count, liveness, the error text, and `judged_ms`: the
        length of the longer run liveness was judged over, when the schedule's own was too short.

    """
    from sim.runner import run  # late: keeps worker start-up light

    row: dict[str, Any] = {"outcome": "ok", "rule": None, "rules": "", "violations": 0, "liveness": None, "decisions": 0, "error": None}
    row["judged_ms"] = None  # set when the run had to be extended to judge liveness (see `_longer_run`)
    try:
        scenario = scenario_from_dict(data, source)
    except ScenarioError as exc:
        return {**row, "outcome": "invalid", "error": str(exc)}
    try:
        result = run(scenario, protocol_cls=protocol_cls)
    except Exception as exc:  # an exception is itself a finding
        last = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f" ({Path(last.filename).name}:{last.lineno})" if last else ""
        return {**row, "outcome": "error", "rule": type(exc).__name__, "error": f"{type(exc).__name__}: {exc}{where}"}
    violations = result.tables.violations
    row["liveness"] = result.summary.get("liveness")
    row["decisions"] = int(result.summary.get("decisions") or 0)
    if not violations.empty:
        rules = list(dict.fromkeys(violations["rule"]))
        return {**row, "outcome": "violation", "rule": rules[0], "rules": ",".join(sorted(rules)), "violations": len(violations)}
    healed = heal_time(data.get("faults", []))
    if healed is not None:
        mechanism = _mechanism(scenario.mechanism, protocol_cls)
        own = mechanism.progress_after_heal(result.tables, result.summary, scenario, healed)
        if own is False or (own is None and _stuck_after(result.tables.requests, healed, scenario)):
            longer = _longer_run(data, scenario, healed, mechanism)
            if longer is not None:
                # Stuck so far, but the run ended before the mechanism's backed-off timers could
                # expire: judged again over a run long enough for them (the same run, extended).
                return {**judge(longer, source, protocol_cls), "judged_ms": parse_duration(longer["duration"])}
            return {**row, "outcome": "stuck", "rule": "no_progress_after_heal"}
    return row


def _longer_run(data: dict[str, Any], scenario: Scenario, healed: float, mechanism: Any) -> dict[str, Any] | None:
    """The schedule run until `healed` + the mechanism's recovery time + the grace, or None when it already is that long.

    Only the end moves: the workload keeps the end it had (its `until`, else the old duration),
    so the longer run issues the same commands.
    """
    config = mechanism.config.model_validate(scenario.protocol)
    recovered = healed + mechanism.recovery_time(scenario, config)
    end = math.ceil(max(recovered + 1000.0, recovered / 0.8))  # so that end - liveness_grace >= recovered
    if end <= scenario.duration:
        return None
    workload = dict(data.get("workload") or {})
    workload.setdefault("until", data.get("duration", f"{scenario.duration:g}ms"))
    return {**data, "duration": f"{end}ms", "workload": workload}


def liveness_grace(scenario: Scenario) -> float:
    """How long before the end a command must have been submitted to be expected to finish (ms): a second, or a fifth of the run."""
    return max(1000.0, 0.2 * scenario.duration)


LIVE_FRACTION = 0.5
"""Of the commands submitted after the last heal (with time to finish), at least this share must complete."""


def _stuck_after(requests: pd.DataFrame, healed: float, scenario: Scenario) -> bool:
    # Commands submitted after the last heal with time to spend: most of them must complete. (Requiring
    # only one let a mechanism that stalls a second after the heal pass.)
    if requests.empty:
        return False
    due = requests[(requests["submit_ms"] >= healed) & (requests["submit_ms"] <= scenario.duration - liveness_grace(scenario))]
    return len(due) > 0 and float(due["done_ms"].notna().mean()) < LIVE_FRACTION


def run_schedule(task: ExploreTask) -> dict[str, Any]:
    """A worker's job: one schedule's row (key, index, seed, fault summary and the judgement)."""
    faults = task.data.get("faults", [])
    row = {"key": task.key, "schedule": task.point, "seed": task.seed, "faults": len(faults), "kinds": fault_kinds(faults)}
    row.update(judge(task.data, task.source, task.protocol_cls))
    return row


def signature(row: dict[str, Any]) -> tuple[str, str | None]:
    """What makes two failures the same bug: the outcome and the rule (or exception type)."""
    return (row["outcome"], row.get("rule"))


@dataclass
class ExploreResult:
    """What an exploration found."""

    path: Path
    bound: FaultBound
    runs: pd.DataFrame
    failures: list[dict[str, Any]]
    executed: int
    reused: int

    @property
    def failed(self) -> pd.DataFrame:
        """The failing schedules' rows."""
        return self.runs[self.runs["outcome"].isin(FAILING)] if not self.runs.empty else self.runs


def _write_json(path: Path, payload: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=1, default=str, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def _write_yaml(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120), encoding="utf-8")
    tmp.replace(path)


def plan(
    source: str | Path,
    schedules: int,
    seed: int = 0,
    beyond: bool = False,
    protocol_cls: Any = None,
) -> tuple[Scenario, FaultBound, list[ExploreTask]]:
    """Load the base scenario and draw every schedule (cheap: nothing runs).

    Raises:
        ScenarioError: the base scenario is bad, or its mechanism tolerates no faulty node and
            `beyond` was not asked for (only network faults are then drawn, which is allowed).

    """
    scenario = load_scenario(source)  # as `run` reads it: extends resolved, a base's mistakes named in the base
    if scenario.planes is not None:
        raise ScenarioError(str(source), "planes", "consim explore draws faults for one mechanism; explore one plane as its own scenario")
    mechanism = _mechanism(scenario.mechanism or "", protocol_cls)
    bound = FaultBound(*mechanism.fault_bound(scenario))
    data = scenario.resolved()
    data.pop("faults", None)
    nodes = scenario.node_names
    behaviours = drawn_behaviours(mechanism, bound, beyond)
    leads = has_leader(mechanism)
    # Rows are keyed by schedule and by what drew it (seed, bound, base scenario, class), so an output folder
    # reused with other settings never passes off another exploration's rows as this one's.
    origin = json.dumps([seed, beyond, data, getattr(protocol_cls, "__qualname__", "")], sort_keys=True, default=str)
    tag = hashlib.sha256(origin.encode()).hexdigest()[:10]
    tasks = []
    for index in range(schedules):
        drawn = draw_schedule(data, nodes, scenario.duration, bound, behaviours, schedule_rng(seed, index), beyond=beyond, leads=leads)
        drawn["name"] = derived_name(scenario.name, f"-s{index}")
        tasks.append(ExploreTask(f"{index:06d}-{tag}", index, int(drawn["seed"]), drawn, f"{source} (schedule {index})", protocol_cls))
    return scenario, bound, tasks


def drawn_behaviours(mechanism: Any, bound: FaultBound, beyond: bool) -> tuple[str, ...]:
    """The byzantine behaviours schedules draw from: every one the mechanism accepts.

    None within the bound of a mechanism that tolerates no liar; `forge` only where messages are
    authenticated (an unauthenticated mechanism cannot tell a forged sender, so no bound covers it).
    """
    if bound.kind != "byzantine" and not (beyond and bound.kind == "crash"):
        return ()
    accepted = tuple(mechanism.byzantine_behaviours)
    return accepted if mechanism.authenticated else tuple(b for b in accepted if b != "forge")


def _rows_dir_rows(rows_dir: Path) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for path in sorted(rows_dir.glob("*.json")):
        try:
            rows[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # half-written: computed again
    return rows


def _execute(todo: list[ExploreTask], jobs: int, backend: str) -> Iterator[dict[str, Any]]:
    from sim.sweep.execute import execute

    return execute(todo, jobs=jobs, backend=backend, fn=run_schedule)


def explore(
    source: str | Path,
    schedules: int = 100,
    seed: int = 0,
    jobs: int = 1,
    backend: str = "local",
    beyond: bool = False,
    out: str | Path | None = None,
    budget_s: float | None = None,
    shrink_limit: int = 200,
    protocol_cls: Any = None,
    quiet: bool = True,
    stream: IO[str] | None = None,
) -> ExploreResult:
    """Draw `schedules` fault schedules over a base scenario, run them, and save and shrink the failures.

    Args:
        source: the base scenario file (mechanism, nodes, protocol settings, workload; its faults are replaced).
        schedules: how many schedules to draw.
        seed: the explore seed: the same seed draws the same schedules.
        jobs: worker processes (local) or threads (dask).
        backend: "local" or "dask".
        beyond: draw f + 1 faulty nodes (beyond the declared bound) instead of at most f.
        out: the output directory (default `results/<name>-explore/`).
        budget_s: stop starting new schedules after this many seconds of wall time (finished ones are kept).
        shrink_limit: the most trial runs spent shrinking one failure.
        protocol_cls: run this Protocol class instead of the registered mechanism (broken variants in tests).
        quiet: no progress bar.
        stream: where the progress bar goes (default stderr).

    """
    from sim.sweep.execute import Progress

    scenario, bound, tasks = plan(source, schedules, seed, beyond, protocol_cls)
    root = Path(out) if out is not None else Path("results") / f"{scenario.name}-explore"
    rows_dir = root / ROWS
    rows_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "source": str(source),
        "name": scenario.name,
        "mechanism": scenario.mechanism,
        "seed": seed,
        "schedules": schedules,
        "bound": {"kind": bound.kind, "f": bound.f, "beyond": beyond, "at_most": bound.limit(beyond), "text": bound.describe(beyond)},
    }
    _write_json(root / "explore.json", meta)
    rows = _rows_dir_rows(rows_dir)
    todo = [task for task in tasks if task.key not in rows]
    reused = len(tasks) - len(todo)
    progress = Progress(len(todo), enabled=not quiet, stream=stream, label="explore")
    started = time.monotonic()
    executed = 0
    try:
        for row in _execute(todo, jobs, backend):
            if row.pop("_transient", False):
                continue
            _write_json(rows_dir / f"{row['key']}.json", row)
            rows[row["key"]] = row
            executed += 1
            progress.advance(failed=row["outcome"] in FAILING)
            if budget_s is not None and time.monotonic() - started > budget_s:
                break
    finally:
        progress.close()
    ordered = [rows[task.key] for task in tasks if task.key in rows]
    runs = pd.DataFrame(ordered)
    if not runs.empty:
        runs.to_parquet(root / "runs.parquet", index=False)
    failures = _save_failures(root, scenario, tasks, ordered, shrink_limit, None if beyond else bound)
    return ExploreResult(root, bound, runs, failures, executed, reused)


def _save_failures(
    root: Path, scenario: Scenario, tasks: list[ExploreTask], rows: list[dict[str, Any]], shrink_limit: int, bound: FaultBound | None
) -> list[dict[str, Any]]:
    """Save every failing schedule; shrink the first of each distinct failure (resumable)."""
    by_key = {task.key: task for task in tasks}
    shrunk: set[tuple[str, str | None]] = set()
    found = []
    for row in rows:
        if row["outcome"] not in FAILING:
            continue
        task = by_key[row["key"]]
        folder = root / "failures" / str(row["schedule"])
        folder.mkdir(parents=True, exist_ok=True)
        data = dict(task.data)
        _write_yaml(folder / "scenario.yaml", data)
        entry = {"schedule": row["schedule"], "outcome": row["outcome"], "rule": row.get("rule"), "scenario": str(folder / "scenario.yaml")}
        sig = signature(row)
        minimal = folder / "minimal.yaml"
        if sig not in shrunk:
            shrunk.add(sig)
            if not minimal.is_file():
                small, trials = shrink(data, lambda cand, sig=sig, t=task: _same_failure(cand, t, sig, bound), limit=shrink_limit)
                small = {**small, "name": derived_name(scenario.name, f"-s{row['schedule']}-minimal")}
                small["description"] = (
                    f"Shrunk by consim explore from schedule {row['schedule']} ({trials} trial runs): "
                    f"{row['outcome']} {row.get('rule') or ''}".strip()
                )
                _write_yaml(minimal, small)
            entry["minimal"] = str(minimal)
        found.append(entry)
    return found


def _same_failure(data: dict[str, Any], task: ExploreTask, sig: tuple[str, str | None], bound: FaultBound | None) -> bool:
    """Whether a shrunk candidate fails as the original did, and (within the bound) stays inside it for its size."""
    if bound is not None:
        try:
            candidate = scenario_from_dict(data, task.source)
        except ScenarioError:
            return False
        mechanism = _mechanism(candidate.mechanism, task.protocol_cls)
        if not within(FaultBound(*mechanism.fault_bound(candidate)), data.get("faults", [])):
            return False  # fewer nodes tolerate fewer faults: that would be another, out-of-bound failure
    row = judge(data, task.source, task.protocol_cls)
    if row["outcome"] == "violation" and sig[0] == "violation":
        return sig[1] in row["rules"].split(",")
    return signature(row) == sig


def _mechanism(name: str, protocol_cls: Any = None) -> Any:
    """The record of `protocol_cls` when one is given (broken variants in tests), else of the scenario's mechanism."""
    from sim.protocols.registry import get_mechanism, mechanism_of

    return mechanism_of(protocol_cls) if protocol_cls is not None else get_mechanism(name)


def outcome_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Schedules by outcome (and rule)."""
    if runs.empty:
        return pd.DataFrame(columns=["outcome", "rule", "schedules"])
    frame = runs.assign(rule=runs["rule"].fillna("-"))
    return frame.groupby(["outcome", "rule"], sort=True).size().rename("schedules").reset_index()


def kind_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per fault kind: schedules that drew it and how many of those failed."""
    counts: dict[str, list[int]] = {}
    for kinds, outcome in zip(runs.get("kinds", []), runs.get("outcome", []), strict=True):
        for kind in str(kinds).split(","):
            total = counts.setdefault(kind, [0, 0])
            total[0] += 1
            total[1] += int(outcome in FAILING)
    rows = [{"fault": k, "schedules": v[0], "failed": v[1]} for k, v in sorted(counts.items())]
    return pd.DataFrame(rows, columns=["fault", "schedules", "failed"])

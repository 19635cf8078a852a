"""The summary of one run, computed from its tables (never from a protocol's own bookkeeping).

Latency and throughput are measured over a window: by default from the moment the mechanism
could first decide a command (its `ready_at`, e.g. the first leader elected) to the end of the
workload, so that start-up is not reported as the mechanism's latency. The summary says what
the window was and how many commands it left out. Message costs and liveness cover the whole run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.checkers.agreement import faulty_nodes, isin
from sim.records import percentiles

if TYPE_CHECKING:
    from sim.protocols.registry import Mechanism
    from sim.records import RunTables
    from sim.scenario import Scenario
    from sim.workload import WorkloadConfig

DEFAULT_TIMEOUT_MS = 500.0
"""The workload's first-attempt timeout when a scenario has no workload to take it from."""


def _num(value: Any) -> Any:
    # numpy scalars are not JSON; keep ints ints and round floats for stable bytes.
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        return round(value, 6)
    return value


def _workload_config(scenario: Scenario, mechanism: Mechanism) -> WorkloadConfig | None:
    """The scenario's workload settings, parsed (the resolved scenario keeps them as text)."""
    from sim.workload import workload_kinds  # late: workload imports the scenario models

    if scenario.workload is None:
        return None
    data = scenario.workload.model_dump()
    kind = workload_kinds(mechanism).get(data.get("kind", ""))
    return kind.Config.model_validate(data) if kind is not None else None


@dataclass(frozen=True)
class Window:
    """The measurement window in simulated ms, and why it starts where it does."""

    start: float
    end: float
    reason: str

    def contains(self, times: pd.Series) -> pd.Series:
        """Which of `times` fall in [start, end)."""
        return (times >= self.start) & (times < self.end)


def measurement_window(tables: RunTables, scenario: Scenario, mechanism: Mechanism, workload: WorkloadConfig | None) -> Window:
    """The window the scenario asks for (`measure:`), defaulting to mechanism ready .. workload end (`workload`: the parsed settings)."""
    measure = scenario.measure
    end = measure.until if measure.until is not None else (workload.until if workload is not None else None)
    end = min(float(end), scenario.duration) if end is not None else scenario.duration
    if measure.from_ != "ready":
        return Window(float(measure.from_), end, "measure.from")
    ready = mechanism.ready_at(tables, scenario)
    if ready is None:
        return Window(0.0, end, "never ready: whole run")
    what = f"first {mechanism.ready_event} event" if mechanism.ready_event else "start"
    return Window(min(float(ready), end), end, f"ready: {what}")


def client_metrics(tables: RunTables, scenario: Scenario, window: Window, decided: np.ndarray, timeout: float) -> dict[str, Any]:
    """Window, latency (all measured commands, and those answered at their first attempt), retries, throughput.

    `decided` says, for each row of the requests table, whether an honest node decided that command.
    """
    requests = tables.requests
    retries = requests["retries"] if "retries" in requests else None
    measured = requests[window.contains(requests["submit_ms"])]
    done = measured[measured["done_ms"].notna()]
    span_s = (window.end - window.start) / 1000.0
    out: dict[str, Any] = {
        "measure_from_ms": window.start,
        "measure_until_ms": window.end,
        "measure_from": window.reason,
        "commands_measured": len(measured),
        "commands_before_window": int((requests["submit_ms"] < window.start).sum()),
        "commands_after_window": int((requests["submit_ms"] >= window.end).sum()),
    }
    out.update(percentiles(done["latency_ms"], "latency_ms"))
    first = done[done["retries"] == 0] if retries is not None else done
    out.update(percentiles(first["latency_ms"], "latency_first_attempt_ms"))
    out["retries"] = int(retries.sum()) if retries is not None else 0
    out["retried_fraction"] = round(1 - len(first) / len(done), 6) if len(done) else None
    # Commands left over from the warm-up finish in a burst once the mechanism is ready: not throughput.
    completed_in_window = int((window.contains(requests["done_ms"]) & (requests["submit_ms"] >= window.start)).sum())
    out["throughput_per_s"] = round(completed_in_window / span_s, 6) if span_s > 0 else None
    # A command issued less than one timeout before the end had no fair chance to finish: it is
    # still in flight, neither a success nor a failure (closed loops always end with some).
    young = requests["submit_ms"] > scenario.duration - timeout
    undecided = ~decided & requests["done_ms"].isna().to_numpy(dtype=bool)
    in_flight = young.to_numpy(dtype=bool) & undecided
    out["in_flight_at_end"] = int(in_flight.sum())
    counted = decided[~in_flight]
    out["liveness"] = round(float(counted.mean()), 6) if len(counted) else None
    return out


def summarise(
    tables: RunTables, scenario: Scenario, mechanism: Mechanism, wall_time_s: float, workload: WorkloadConfig | None = None
) -> dict[str, Any]:
    """Flat headline metrics: the keys every mechanism has, then the mechanism's own.

    `workload` is the scenario's workload settings as the run parsed them, when the caller has
    them (parsing again costs a scripted workload a parse per command); else they are parsed here.
    """
    decisions, requests, messages = tables.decisions, tables.requests, tables.messages
    faulty = faulty_nodes(tables)
    honest = decisions[~decisions["node"].isin(faulty)] if faulty else decisions
    decided_slots = int(honest["slot"].nunique()) if not honest.empty else 0
    # Client commands an honest node decided (no-ops and null requests are not commands). Vectorised:
    # a long run has millions of decision rows, and a Python set of them costs ~100 MB.
    # A mask over the requests (whose ids are distinct), not a Python set of strings: the same
    # commands without an object for each.
    decided = isin(requests["cmd_id"], honest["value"]) if not honest.empty else np.zeros(len(requests), dtype=bool)
    committed = int(decided.sum())
    sent = int(messages["sent"].sum())
    # Parsed once at most: a scripted workload's settings hold every command (thousands of durations to parse).
    if workload is None or scenario.workload is None:
        workload = _workload_config(scenario, mechanism)
    window = measurement_window(tables, scenario, mechanism, workload)
    timeout = workload.timeout if workload is not None else DEFAULT_TIMEOUT_MS
    clients = client_metrics(tables, scenario, window, decided, timeout)
    summary: dict[str, Any] = {
        "name": scenario.name,
        "mechanism": scenario.mechanism,
        "nodes": scenario.n,
        "seed": scenario.seed,
        "duration_ms": scenario.duration,
        "decisions": decided_slots,
        "commands_submitted": len(requests),
        "commands_completed": int(requests["done_ms"].notna().sum()),
        "commands_committed": committed,
    }
    summary.update(clients)
    summary.update(
        {
            "messages_sent": sent,
            "messages_delivered": int(messages["delivered"].sum()),
            "messages_dropped": int(messages["dropped"].sum()),
            "bytes_sent": int(messages["bytes_sent"].sum()),
            "messages_per_command": round(sent / committed, 6) if committed else None,
            "messages_per_decision": round(sent / decided_slots, 6) if decided_slots else None,
            "safety_violations": len(tables.violations),
        }
    )
    summary.update(tables.counters)
    summary.update(mechanism.summarise(tables, scenario))
    summary = {key: _num(value) for key, value in summary.items()}
    summary["journal_sha256"] = tables.digest()
    summary["wall_time_s"] = round(wall_time_s, 3)
    return summary


def summary_keys(scenario: Scenario) -> list[str] | None:
    """The numeric keys a run of `scenario` reports in its summary (its metrics), in the summary's order.

    Found by summarising an empty journal with the scenario's mechanism, so that no list of keys is
    kept beside `summarise` (and each mechanism's own `summarise`) to drift from them. A counter
    appears only once something counts it, so one a mechanism does not report up front is missing.

    Returns:
        The keys, or None when they cannot be known before a run: a scenario with planes (each
        plane's keys are prefixed and gathered by the fleet), or a mechanism whose summary of an
        empty journal fails.

    """
    if scenario.planes is not None or not scenario.mechanism:
        return None
    from sim.protocols.registry import get_mechanism  # late: the registry imports every protocol
    from sim.records import Recorder, RunTables

    try:
        summary = summarise(RunTables.from_recorder(Recorder()), scenario, get_mechanism(scenario.mechanism), 0.0)
    except Exception:  # noqa: BLE001 - a mechanism's own summary may need a real run; then nothing is known before it
        return None
    return [key for key, value in summary.items() if not isinstance(value, str)]  # names and hashes are not metrics

"""The summary of one run, computed from its tables (never from a protocol's own bookkeeping)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.checkers.agreement import faulty_nodes
from sim.records import percentiles

if TYPE_CHECKING:
    from sim.protocols.base import Protocol
    from sim.records import RunTables
    from sim.scenario import Scenario


def _num(value: Any) -> Any:
    # numpy scalars are not JSON; keep ints ints and round floats for stable bytes.
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        return round(value, 6)
    return value


def summarise(tables: RunTables, scenario: Scenario, protocol_cls: type[Protocol], wall_time_s: float) -> dict[str, Any]:
    """Flat headline metrics: the keys every mechanism has, then the mechanism's own."""
    decisions, requests, messages = tables.decisions, tables.requests, tables.messages
    faulty = faulty_nodes(tables)
    honest = decisions[~decisions["node"].isin(faulty)] if faulty else decisions
    decided_slots = int(honest["slot"].nunique()) if not honest.empty else 0
    # Vectorised: a long run has millions of decision rows, and a Python set of them costs ~100 MB.
    decided = int(requests["cmd_id"].isin(honest["value"].unique()).sum()) if not honest.empty else 0
    submitted = len(requests)
    sent = int(messages["sent"].sum())
    summary: dict[str, Any] = {
        "name": scenario.name,
        "mechanism": scenario.mechanism,
        "nodes": scenario.n,
        "seed": scenario.seed,
        "duration_ms": scenario.duration,
        "decisions": decided_slots,
        "commands_submitted": submitted,
        "commands_completed": int(requests["done_ms"].notna().sum()),
    }
    summary.update(percentiles(requests["latency_ms"], "latency_ms"))
    summary.update(
        {
            "messages_sent": sent,
            "messages_delivered": int(messages["delivered"].sum()),
            "messages_dropped": int(messages["dropped"].sum()),
            "bytes_sent": int(messages["bytes_sent"].sum()),
            "messages_per_decision": round(sent / decided_slots, 6) if decided_slots else None,
            "safety_violations": len(tables.violations),
            "liveness": round(decided / submitted, 6) if submitted else None,
        }
    )
    summary.update(tables.counters)
    summary.update(protocol_cls.summarise(tables, scenario))
    summary = {key: _num(value) for key, value in summary.items()}
    summary["journal_sha256"] = tables.digest()
    summary["wall_time_s"] = round(wall_time_s, 3)
    return summary

"""What a report says about a mechanism, a fault plan and a gossip store, from declared facts and tables."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sim.fault_specs import FAULT_ACTIONS
from sim.report.requirements import tolerated_kind

_KIND_WORDS = {
    "byzantine": "stays safe while some nodes lie (byzantine faults)",
    "crash": "stays safe while some nodes crash or are cut off (crash faults); it assumes no node lies",
    "none": "declares no fault bound",
}


def _first_line(text: str | None) -> str:
    return (text or "").strip().split("\n\n")[0].replace("\n", " ").strip()


def guarantee(mechanism: str, n: int | None, declared: str | None = None) -> list[str]:
    """Bullet lines on the guarantee a registered mechanism provides, from its declared properties.

    `declared` is its `tolerates` label for the cluster as configured (e.g. "byzantine f<n/3 (f≤1 of
    10)" with `protocol.f: 1`), when the caller knows it; else the label for `n` nodes.
    """
    from sim.compare import tolerates
    from sim.protocols.base import get_protocol, mechanisms

    if mechanism not in mechanisms():
        return [f"{mechanism}: not a registered mechanism here, so its guarantee is unknown"]
    cls = get_protocol(mechanism)
    declared = declared or tolerates(mechanism, n)
    lines = []
    about = _first_line(cls.__doc__)
    if about:
        lines.append(f"What it is: {about}")
    lines.append(f"Tolerates: {declared}: it {_KIND_WORDS[tolerated_kind(cls.tolerates)]}.")
    lines.append("Messages are authenticated (a forged sender is detected)." if cls.authenticated else "Messages are not authenticated.")
    names = [getattr(c, "__name__", str(c)) for c in cls.checkers()]
    if names:
        lines.append(f"Checked by: {', '.join(names)} (safety checkers run on every run).")
    return lines


def _when(fault: dict[str, Any]) -> str:
    if fault.get("at") is not None:
        start = f"at {fault['at']}"
    else:
        start = f"from {fault['from']}" if fault.get("from") is not None else "from the start"
    if fault.get("for") is not None:
        return f"{start} for {fault['for']}"
    if fault.get("until") is not None:
        return f"{start} until {fault['until']}"
    return start


def _target(value: Any) -> str:
    if isinstance(value, list):
        if value and all(isinstance(v, list) for v in value):
            return " | ".join(f"[{', '.join(map(str, g[:6]))}{', ...' if len(g) > 6 else ''}]" for g in value)
        return ", ".join(map(str, value))
    if isinstance(value, dict):
        if "from" in value and "to" in value:
            return f"{_target(value['from'])} -> {_target(value['to'])}"
        return ", ".join(f"{k}={_target(v)}" for k, v in value.items())
    return str(value)


def describe_fault(fault: dict[str, Any]) -> str:
    """One line for a fault-plan entry, e.g. "crash leader at 3s for 2s"."""
    action = next((k for k in FAULT_ACTIONS if k in fault), "fault")
    what = f"{action} {_target(fault[action])}" if action in fault else action
    if action == "byzantine" and fault.get("behaviour"):
        what += f" ({fault['behaviour']})"
    if fault.get("plane"):
        what += f" on plane {fault['plane']}"
    return f"{what} {_when(fault)}"


def describe_network(scenario: dict[str, Any]) -> str:
    """One line on the network: delay distribution, loss, duplication, per-link overrides."""
    net = scenario.get("network") or {}
    delay = net.get("delay") or {}
    if not isinstance(delay, dict):  # a bare `5ms` means constant (a sweep's base is the file as written)
        delay = {"dist": "constant", "value": delay}
    params = ", ".join(f"{k} {v}" for k, v in delay.items() if k != "dist")
    parts = [f"delay {delay.get('dist', '?')} ({params})" if delay else "default delay"]
    parts.append(f"loss {net.get('loss', 0)}")
    if net.get("duplicate"):
        parts.append(f"duplication {net['duplicate']}")
    if net.get("links"):
        parts.append(f"{len(net['links'])} link override(s)")
    return "Network: " + ", ".join(parts) + "."


def fault_lines(scenario: dict[str, Any]) -> list[str]:
    """The fault plan, one line per entry; says so when there is none."""
    faults = scenario.get("faults") or []
    return [describe_fault(f) for f in faults] or ["no faults injected (only what the network does)"]


def staleness(decisions: pd.DataFrame, end_ms: float) -> dict[str, float] | None:
    """How long nodes work on an old value of a gossiped key: one delay per (write, node).

    For each write of a key (ordered by version, then writer, as last-writer-wins orders them),
    a node is stale from the write until it knows that write or a newer one of the key; a node
    that never learns it is stale until `end_ms` (counted in `never_informed`). The nodes are
    those that decided any write of the table. A log (numbered slots, no `key` column) is one
    key whose writes are its slots in order: a node is stale on an entry until it has applied it
    or a later one. None for anything else (e.g. a vote's questions) or no writes.
    """
    needed = {"key", "version", "writer", "slot", "node", "time_ms"}
    if decisions.empty:
        return None
    if not needed <= set(decisions.columns) and "key" not in decisions.columns and {"slot", "node", "time_ms"} <= set(decisions.columns):
        index = pd.to_numeric(decisions["slot"], errors="coerce")
        if index.isna().any():
            return None
        decisions = decisions.assign(key="log", version=index.astype("int64"), writer="", slot=index.astype("int64"))
    if not needed <= set(decisions.columns):
        return None
    nodes = sorted(decisions["node"].astype(str).unique())
    index = {n: i for i, n in enumerate(nodes)}
    delays: list[np.ndarray] = []
    never = 0
    for _, rows in decisions.groupby("key", sort=True):
        writes = rows.drop_duplicates("slot").sort_values(["version", "writer"], kind="stable")
        col = {slot: j for j, slot in enumerate(writes["slot"])}
        known = np.full((len(nodes), len(writes)), np.inf)
        np.minimum.at(
            known, (rows["node"].astype(str).map(index).to_numpy(), rows["slot"].map(col).to_numpy()), rows["time_ms"].to_numpy(float)
        )
        # Knowing a newer write of the key ends the staleness of an older one.
        known = np.minimum.accumulate(known[:, ::-1], axis=1)[:, ::-1]
        written = rows.groupby("slot")["time_ms"].min()
        for j, slot in enumerate(writes["slot"]):
            start = float(written[slot])
            column = known[:, j]
            never += int(np.isinf(column).sum())
            delays.append(np.clip(np.where(np.isinf(column), end_ms, column) - start, 0.0, None))
    if not delays:
        return None
    values = np.concatenate(delays)
    return {
        "staleness_ms_mean": round(float(values.mean()), 3),
        "staleness_ms_p99": round(float(np.percentile(values, 99)), 3),
        "staleness_ms_max": round(float(values.max()), 3),
        "stale_node_seconds": round(float(values.sum()) / 1000.0, 3),
        "never_informed": float(never),
    }


OBSERVED_KINDS = ("crash", "recover", "partition", "cut", "heal", "set_link", "churn", "byzantine")
"""Event kinds that show a fault striking or ending (see sim/faults.py)."""


def observed_faults(events: pd.DataFrame, limit: int = 20) -> list[str]:
    """The faults as they struck, from the events table: "3000 ms: n3 crash (was leader)"; at most `limit` lines."""
    if events.empty or "kind" not in events:
        return []
    rows = events[events["kind"].isin(OBSERVED_KINDS)].sort_values("time_ms", kind="stable")
    lines = []
    for row in rows.head(limit).to_dict("records"):
        node = row.get("node")
        who = f"{node} " if isinstance(node, str) and node else ""
        extra = []
        if row.get("was_leader") is True:
            extra.append("was leader")
        for key in ("behaviour", "plane"):
            value = row.get(key)
            if isinstance(value, str) and value:
                extra.append(f"{key} {value}")
        groups = row.get("groups")
        if isinstance(groups, str) and groups:
            sizes = [len([n for n in g.split(",") if n.strip()]) for g in groups.split(" | ")]
            extra.append("groups of " + " / ".join(map(str, sizes)) + " nodes")
        lines.append(f"{float(row['time_ms']):.0f} ms: {who}{row['kind']}" + (f" ({', '.join(extra)})" if extra else ""))
    if len(rows) > limit:
        lines.append(f"... and {len(rows) - limit} more fault events")
    return lines

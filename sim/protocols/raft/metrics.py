"""Raft's summary keys: elections, highest term, and failover time after leader crashes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sim.records import RunTables


def failover_times(events: Any) -> list[float]:
    """For each crash or isolation of a leader: ms until some follower accepts a newer leader's AppendEntries.

    The crashed leader's term is that of its latest `leader` event before the crash; a failover
    ends at the first `follow` event of a higher term after the crash. Crashes never followed by
    a new leader (before the run ends) are not counted.
    """
    if events.empty or "term" not in events:
        return []
    # A leader cut off from a majority (`leader_isolated`) starts a failover just as its crash does.
    crashes = events[events["kind"].isin(["crash", "leader_isolated"])]
    if "was_leader" not in crashes:
        return []
    crashes = crashes[crashes["was_leader"].fillna(False).astype(bool)]
    leaders = events[events["kind"] == "leader"]
    follows = events[events["kind"] == "follow"]
    out: list[float] = []
    for crash in crashes.itertuples():
        led = leaders[(leaders["node"] == crash.node) & (leaders["time_ms"] <= crash.time_ms)]
        if led.empty:
            continue
        term = led["term"].iloc[-1]
        after = follows[(follows["time_ms"] >= crash.time_ms) & (follows["term"] > term)]
        if not after.empty:
            out.append(float(after["time_ms"].min()) - float(crash.time_ms))
    return out


def raft_summary(tables: RunTables) -> dict[str, Any]:
    """`elections`, `terms` and `failover_ms_p50/p90/p99/max/count`."""
    events = tables.events
    has_term = not events.empty and "term" in events
    elections = int((events["kind"] == "election_start").sum()) if not events.empty else 0
    terms = 0
    for column in ("term", "new_term"):
        if has_term and column in events and events[column].notna().any():
            terms = max(terms, int(events[column].max()))
    times = np.asarray(failover_times(events), dtype=float)
    out: dict[str, Any] = {"elections": elections, "terms": terms}
    for q in (50, 90, 99):
        out[f"failover_ms_p{q}"] = round(float(np.percentile(times, q)), 6) if times.size else None
    out["failover_ms_max"] = round(float(times.max()), 6) if times.size else None
    out["failover_ms_count"] = int(times.size)
    return out

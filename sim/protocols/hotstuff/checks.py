"""HotStuff's own checker: a replica never finds a committed block off the chain it executed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.checkers.agreement import Violation, faulty_nodes

if TYPE_CHECKING:
    from sim.records import RunTables
    from sim.scenario import Scenario


def check_no_fork(tables: RunTables, scenario: Scenario) -> list[Violation]:
    """No honest replica is asked to commit a block that does not extend what it already executed.

    The replica refuses such a commit (and records a `fork` event) rather than execute two
    histories; agreement would then not see the conflict in the decisions, so this rule reports it.
    """
    events = tables.events
    if events.empty:
        return []
    forks = events[(events["kind"] == "fork") & ~events["node"].isin(faulty_nodes(tables))]
    return [
        {
            "time_ms": float(row.time_ms),
            "nodes": str(row.node),
            "rule": "no_fork",
            "detail": f"{row.node} was asked to commit block {row.block} (view {row.view}), which does not extend its executed chain",
        }
        for row in forks.itertuples(index=False)
    ]

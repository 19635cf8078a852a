"""PBFT's own safety checker: an honest replica never says two things about one (kind, view, seq)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.checkers.agreement import Violation, first_conflicts, honest_events

if TYPE_CHECKING:
    from sim.records import RunTables
    from sim.scenario import Scenario


def check_no_equivocation(tables: RunTables, scenario: Scenario) -> list[Violation]:
    """No honest replica sends two different digests for the same (message kind, view, seq).

    Replicas journal every pre-prepare, prepare and commit they originate as a `sent` event
    (a new primary's O set included). An honest replica that did so would be indistinguishable
    from a byzantine one to its peers, so the whole f-resilience argument would be void.
    """
    return first_conflicts(
        honest_events(tables, "sent", needs="digest"),
        ["node", "msg", "view", "seq"],
        "digest",
        "no_equivocation",
        lambda key, a, b: f"{key[0]} sent {key[1]} for view {int(key[2])}, seq {int(key[3])} with digests {a['digest']} and {b['digest']}",
    )


PBFT_CHECKERS = (check_no_equivocation,)

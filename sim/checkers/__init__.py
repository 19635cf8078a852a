"""Safety checkers: each reads the run's tables and returns violation rows (time, nodes, rule, detail)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from sim.records import VIOLATION_COLUMNS, release_memory

if TYPE_CHECKING:
    from sim.protocols.registry import Mechanism
    from sim.records import RunTables
    from sim.scenario import Scenario


def run_checkers(tables: RunTables, scenario: Scenario, mechanism: Mechanism) -> pd.DataFrame:
    """Run the mechanism's checkers; violations sorted by time, then rule."""
    rows: list[dict[str, object]] = []
    for checker in mechanism.checkers:
        rows.extend(checker(tables, scenario))
        release_memory()  # each checker's temporaries go before the next one's
    frame = pd.DataFrame(rows, columns=VIOLATION_COLUMNS)
    return frame.sort_values(["time_ms", "rule", "nodes"], kind="stable").reset_index(drop=True)

"""`run(scenario)`: build, simulate, check and summarise one scenario."""

from __future__ import annotations

import time
from collections.abc import Callable

from sim.checkers import run_checkers
from sim.kernel import Simulation
from sim.metrics import summarise
from sim.protocols.base import Protocol
from sim.records import RunTables
from sim.results import RunResult
from sim.scenario import Scenario


def run(
    scenario: Scenario,
    trace: bool = False,
    progress: Callable[[float], None] | None = None,
    protocol_cls: type[Protocol] | None = None,
) -> RunResult:
    """Run one scenario and return its tables, violations and summary.

    Args:
        scenario: a validated scenario (see `load_scenario`).
        trace: keep the full message journal (`result.trace`).
        progress: called with the simulated time reached (ms) as the run advances.
        protocol_cls: run this Protocol class instead of the registered mechanism (tests use it
            to run deliberately broken variants).

    """
    started = time.perf_counter()  # wall time of the run itself; never read by the simulation
    sim = Simulation(scenario, trace=trace, protocol_cls=protocol_cls)
    sim.run(progress=progress)
    wall = time.perf_counter() - started
    tables = RunTables.from_recorder(sim.recorder)
    protocol = sim.protocol_cls
    del sim  # the nodes' state and the recorder's columns are done with: free them before checking
    tables.violations = run_checkers(tables, scenario, protocol)
    summary = summarise(tables, scenario, protocol, wall)
    return RunResult(scenario.resolved(), summary, tables)

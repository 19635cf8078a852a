"""`run(scenario)`: build, simulate, check and summarise one scenario."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sim.checkers import run_checkers
from sim.kernel import Simulation
from sim.metrics import summarise
from sim.protocols.base import Protocol
from sim.records import RunTables, release_memory, system_allocator_for_arrow
from sim.results import RunResult
from sim.scenario import Scenario


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the build and the run, then restore it.

    A run allocates millions of short-lived objects that are almost never in cycles, and the
    collector's repeated scans of them took 15-40% of a run (issue 13). Objects alive before
    the run are frozen so that the collections after it do not rescan them either. Nothing the
    simulation computes depends on when memory is reclaimed, so the outputs are unchanged.
    """
    was_enabled = gc.isenabled()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()


def run(
    scenario: Scenario,
    trace: bool = False,
    progress: Callable[[float], None] | None = None,
    protocol_cls: type[Protocol] | None = None,
    stage: Callable[[str], None] | None = None,
) -> RunResult:
    """Run one scenario and return its tables, violations and summary.

    Args:
        scenario: a validated scenario (see `load_scenario`).
        trace: keep the full message journal (`result.trace`).
        progress: called with the simulated time reached (ms) as the run advances.
        protocol_cls: run this Protocol class instead of the registered mechanism (tests use it
            to run deliberately broken variants).
        stage: called with the name of each step as it ends ("simulated", "tables", "checked",
            "summarised"); benchmarks/raft_recovery.py measures memory there.

    """
    if scenario.planes is not None:
        from sim.planes.run import run_fleet  # late: planes build on this module

        if protocol_cls is not None:
            raise ValueError("a scenario with planes takes a Protocol class per plane: run_fleet(scenario, protocols={plane: cls})")
        return run_fleet(scenario, trace, progress)
    started = time.perf_counter()  # wall time of the run itself; never read by the simulation
    with collector_paused():
        sim = Simulation(scenario, trace=trace, protocol_cls=protocol_cls)
        sim.run(progress=progress)
        wall = time.perf_counter() - started
        recorder, mechanism = sim.recorder, sim.mechanism
        workload = sim.workload.config if scenario.workload is not None else None  # as the run parsed it
        # The nodes, the network and the clients are done with. Their cycles are broken so that most
        # of them go by reference counting; the rest (the simulation, the network, the workload,
        # whatever a mechanism ties together) takes a collection: done now, before the tables are
        # built beside the journal, and while what existed before the run is still frozen, so that
        # only the run's own objects are scanned (a full collection also walks every imported module).
        sim.release()
        del sim
        gc.collect()
    mark = stage or (lambda _name: None)
    mark("simulated")
    with system_allocator_for_arrow():
        tables = RunTables.from_recorder(recorder)  # hands the journal's columns over (it is emptied)
        del recorder
        release_memory()
        mark("tables")
        tables.violations = run_checkers(tables, scenario, mechanism)
        release_memory()
        mark("checked")
        summary = summarise(tables, scenario, mechanism, wall, workload)
        release_memory()
        mark("summarised")
    return RunResult(scenario.resolved(), summary, tables)

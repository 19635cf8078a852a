"""The shared workloads issue commands on kernel timers, not one SimPy process step each: the runs are what the process gave."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

import sim.kernel
from sim import run, scenario_from_dict
from sim.node import ClientEndpoint
from sim.workload import ClosedWorkload, PoissonWorkload, ScriptWorkload, workload_kinds


class ProcessPoisson(PoissonWorkload):
    """The Poisson workload as a process yielding a timeout per gap (as it was)."""

    def run(self) -> Generator[Any, Any, None]:
        """Issue commands with exponential gaps until `until`."""
        env, cfg = self.sim.env, self.config
        mean_gap = 1000.0 / cfg.rate
        yield env.timeout(cfg.start)
        i = 0
        while True:
            yield env.timeout(self.rng.expovariate(1.0 / mean_gap))
            if env.now >= self.end():
                return
            self.issue(self.clients[i % len(self.clients)])
            i += 1


class ProcessScript(ScriptWorkload):
    """The scripted workload as a process walking the script (as it was)."""

    def run(self) -> Generator[Any, Any, None]:
        """Walk the script in time order."""
        env = self.sim.env
        for cmd in sorted(self.config.commands, key=lambda c: c.at):
            if cmd.at > env.now:
                yield env.timeout(cmd.at - env.now)
            self.issue(self.clients[cmd.client], cmd.op)


class ProcessClosed(ClosedWorkload):
    """The closed loop with a SimPy timeout per think time (as it was)."""

    def on_complete(self, client: ClientEndpoint, cmd_id: str) -> None:
        """Think, then issue the next command if the run is not over."""
        event = self.sim.env.timeout(self.config.think)
        event.callbacks.append(lambda _e: self.issue(client) if self.sim.env.now < self.end() else None)


AS_PROCESSES = {"poisson": ProcessPoisson, "script": ProcessScript, "closed": ProcessClosed}

CASES = {
    # Constant delays put many events on one instant; the crash at 0 and the start at 0 tie with the workload's first steps.
    "poisson": (
        "raft",
        {"kind": "poisson", "rate": "400/s", "clients": 3, "until": "1500ms"},
        {"delay": "1ms"},
        [{"at": "0ms", "crash": "n2", "for": "300ms"}],
    ),
    "poisson-late-start": (
        "pbft",
        {"kind": "poisson", "rate": "300/s", "start": "50ms", "clients": 2},
        {"delay": {"dist": "lognormal", "median": "2ms", "sigma": 0.4}, "loss": 0.02},
        [],
    ),
    "script": (
        "pbft",
        {"kind": "script", "clients": 3, "commands": [{"at": f"{(i * 7) % 40}ms", "client": i % 3} for i in range(60)]},
        {"delay": "2ms"},
        [{"at": "20ms", "crash": "n0", "for": "100ms"}],
    ),
    "closed": (
        "raft",
        {"kind": "closed", "clients": 4, "think": "3ms", "until": "1500ms"},
        {"delay": "1ms"},
        [{"at": "1200ms", "crash": "leader"}],
    ),
    "closed-no-think": ("multipaxos", {"kind": "closed", "clients": 3}, {"delay": {"dist": "uniform", "low": "1ms", "high": "2ms"}}, []),
}


@pytest.mark.parametrize("case", list(CASES))
def test_timer_driven_workload_runs_as_the_process_did(monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    """Same trace, requests table and journal hash as the workload written as a SimPy process."""
    mechanism, workload, network, faults = CASES[case]
    fields = {"name": "wl", "mechanism": mechanism, "nodes": 4, "seed": 7, "duration": "2s"}
    scenario = scenario_from_dict({**fields, "network": network, "faults": faults, "workload": workload})
    now = run(scenario, trace=True)

    def as_processes(mechanism: Any = None) -> dict[str, Any]:
        return {**workload_kinds(mechanism), **AS_PROCESSES}

    monkeypatch.setattr(sim.kernel, "workload_kinds", as_processes)
    before = run(scenario, trace=True)
    assert now.summary["commands_submitted"] > 40
    assert now.trace is not None and before.trace is not None
    assert now.trace.equals(before.trace)
    assert now.tables.requests.equals(before.tables.requests)
    assert now.summary["journal_sha256"] == before.summary["journal_sha256"]

"""benchmarks/floor.py: its replay into a do-nothing context is the run's own protocol work, decision for decision."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))  # the benchmark is a repository tool, not part of the package

from floor import MESSAGE, START, TIMER, record_calls, replay  # noqa: E402
from pbft_scaling import scenario as pbft_scenario  # noqa: E402
from throughput import raft_scenario  # noqa: E402

from sim import run  # noqa: E402


@pytest.mark.parametrize("scenario", [raft_scenario(5, "1s", "500/s", seed=2), pbft_scenario(4, 20)], ids=["raft", "pbft"])
def test_the_replay_makes_the_runs_decisions_from_the_runs_calls(scenario: object) -> None:
    """Every node starts once, messages and timers are noted, and the replay decides what the run decided."""
    calls, delivered, decided = record_calls(scenario)  # type: ignore[arg-type]
    result = run(scenario)  # type: ignore[arg-type]
    assert delivered == result.summary["messages_delivered"]
    assert decided == len(result.tables.decisions) > 0
    kinds = [kind for _, _, kind, _, _ in calls]
    assert kinds.count(START) == scenario.n  # type: ignore[attr-defined]
    assert kinds.count(MESSAGE) > 0 and kinds.count(TIMER) > 0
    _, _, replayed = replay(scenario, calls)  # type: ignore[arg-type]
    assert replayed == decided


def test_a_replay_missing_calls_decides_less() -> None:
    """The check that guards the floor bites: drop the second half of the calls and the replay decides less."""
    scenario = raft_scenario(5, "1s", "500/s", seed=2)
    calls, _, decided = record_calls(scenario)
    _, _, replayed = replay(scenario, calls[: len(calls) // 2])
    assert 0 < replayed < decided

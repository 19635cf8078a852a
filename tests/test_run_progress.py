"""A run reports its progress in equal steps of simulated time, and reporting it changes nothing it computes."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim import load_scenario, run

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


@pytest.mark.parametrize("name", ["voting-weighted.yaml", "fleet/no-faults.yaml"])
def test_progress_reaches_each_step_and_leaves_the_journal_alone(name: str) -> None:
    """One scenario and one fleet (planes): 100 calls at i/100 of the duration, and the same journal as without."""
    scenario = load_scenario(SCENARIOS / name)
    seen: list[float] = []
    with_progress = run(scenario, progress=seen.append)
    assert seen == pytest.approx([scenario.duration * i / 100 for i in range(1, 101)])
    assert with_progress.summary["journal_sha256"] == run(scenario).summary["journal_sha256"]

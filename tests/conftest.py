"""Shared fixtures: the toy protocol registered as a mechanism, and scenario files in tmp dirs."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, settings

import sim.protocols.base as base
from tests.toy import Toy

# Property tests: CI replays the same derandomized examples every time; CONSIM_HYPOTHESIS=explore
# draws fresh ones (and ten times as many) to hunt for new failures. Hypothesis prints the
# failing example, and `@reproduce_failure` pins it.
HYPOTHESIS_PROFILE = os.environ.get("CONSIM_HYPOTHESIS", "ci")
settings.register_profile("ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", derandomize=False, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(HYPOTHESIS_PROFILE)


def examples(ci: int) -> int:
    """How many examples a property test draws: `ci` in CI, ten times as many when exploring."""
    return ci * 10 if HYPOTHESIS_PROFILE == "explore" else ci


TOY_SCENARIO: dict[str, Any] = {
    "name": "toy-demo",
    "description": "The toy protocol under light load, a crash and a partition.",
    "mechanism": "toy",
    "nodes": 3,
    "seed": 7,
    "duration": "2s",
    "network": {"delay": {"dist": "lognormal", "median": "5ms", "sigma": 0.3}, "loss": 0.01},
    "faults": [
        {"at": "1s", "crash": "n2", "for": "300ms"},
        {"at": "400ms", "partition": [["n0", "n1"], ["n2"]], "until": "700ms"},
    ],
    "workload": {"kind": "poisson", "rate": "100/s"},
}


@pytest.fixture
def toy_mechanism(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Toy]]:
    """Make `mechanism: toy` resolvable (the toy protocol lives in tests, not in sim/protocols)."""
    real = base._discover

    def discover() -> dict[str, type[base.Protocol]]:
        found = real()
        found["toy"] = Toy
        return dict(sorted(found.items()))

    monkeypatch.setattr(base, "_discover", discover)
    yield Toy


@pytest.fixture
def write_scenario(tmp_path: Path) -> Callable[..., Path]:
    """Write a scenario (the toy one by default, with top-level changes) to a YAML file."""

    def write(data: Any = None, name: str = "scenario.yaml", **changes: Any) -> Path:
        content = dict(TOY_SCENARIO) if data is None else data
        if isinstance(content, dict):
            content = {**content, **changes}
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
        return path

    return write

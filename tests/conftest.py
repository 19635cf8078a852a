"""Shared fixtures: the toy protocol registered as a mechanism, and scenario files in tmp dirs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import sim.protocols.base as base
from tests.toy import Toy

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

"""Helpers for the sweep tests: the toy protocol reachable as `mechanism: toy`, and sweep files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

import sim.protocols.base as base
from sim.protocols.base import ClientRequest
from tests.toy import Toy


class ExplodingToy(Toy):
    """The toy protocol, except that it raises on five-node clusters (to test failed runs)."""

    def on_request(self, request: ClientRequest) -> None:
        """Fail loudly when there are five nodes."""
        if len(self.ctx.nodes) == 5:
            raise RuntimeError("five is too many")
        super().on_request(request)


def allow_toy(monkeypatch: Any) -> None:
    """Let scenarios name `mechanism: toy` (and `picky`) in this process; pool workers get the class passed in."""
    allow_toys(monkeypatch)


BASE = {
    "name": "toy-base",
    "description": "toy cluster for sweep tests",
    "mechanism": "toy",
    "nodes": 3,
    "duration": "1s",
    "workload": {"kind": "poisson", "rate": "100/s"},
}


def write_sweep(folder: Path, sweep: dict[str, Any], base: dict[str, Any] | None = None) -> Path:
    """Write base.yaml and sweep.yaml into `folder`; return the sweep file."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "base.yaml").write_text(yaml.safe_dump(base or BASE), encoding="utf-8")
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump({"base": "base.yaml", **sweep}, sort_keys=False), encoding="utf-8")
    return path


class PickyToy(Toy):
    """The toy protocol as a second mechanism with a declared fault model and one byzantine behaviour."""

    name = "picky"
    tolerates = "nothing"
    byzantine_behaviours = ("silent",)


def allow_toys(monkeypatch: Any) -> dict[str, type]:
    """Register `toy` and `picky` as mechanisms for validation, runs and comparisons (this process only)."""
    table = {"toy": Toy, "picky": PickyToy}
    real = base._discover
    monkeypatch.setattr(base, "_discover", lambda: dict(sorted({**real(), **table}.items())))
    return table


GRID_SMALL = {"name": "small", "grid": {"network.loss": [0.0, 0.1]}, "replicates": 2}

"""Sweeps: a base scenario over a grid of parameters and seeds, resumable, local or on Dask.

A sweep file names a base scenario (relative to the sweep file), a `grid` of dotted paths to
lists of values (their product), optional `zip` groups (paths whose lists vary together), fixed
`set` overrides, and `replicates` (a count of seeds or a list of them)::

    name: raft-timeouts
    base: ../raft-leader-crash.yaml
    set: {duration: 5s}
    grid:
      protocol.election_timeout: [[150ms, 300ms], [300ms, 600ms]]
      network.loss: [0.0, 0.05]
    replicates: 5

Each run writes one row file `rows/<key>.json` as soon as it finishes (the key hashes the
resolved scenario and its seed), so an interrupted sweep keeps its work and a rerun computes
only what is missing. At the end the rows become `runs.parquet` and the per-point aggregates
(mean, standard deviation, 95% CI over seeds) `summary.parquet`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.sweep.core import SweepResult, consolidate, is_sweep_dir, run_sweep
    from sim.sweep.execute import BACKENDS, execute, run_task
    from sim.sweep.spec import Sweep, SweepSpec, Task, build_sweep, is_sweep_file, label, load_sweep, run_key
    from sim.sweep.stats import aggregate, describe, metric_columns, t975
    from sim.sweep.workers import default_jobs

# Each name is imported from its module on first use: `consim validate` reads sweep files
# through `spec` and must not pay for pandas, which `core` and `stats` import.
_HOME = {
    **dict.fromkeys(("SweepResult", "consolidate", "is_sweep_dir", "run_sweep"), "core"),
    **dict.fromkeys(("BACKENDS", "execute", "run_task"), "execute"),
    "default_jobs": "workers",
    **dict.fromkeys(("Sweep", "SweepSpec", "Task", "build_sweep", "is_sweep_file", "label", "load_sweep", "run_key"), "spec"),
    **dict.fromkeys(("aggregate", "describe", "metric_columns", "t975"), "stats"),
}


def __getattr__(name: str) -> Any:
    """Import a public name from the submodule that defines it (PEP 562)."""
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"sim.sweep.{_HOME[name]}"), name)


__all__ = [
    "BACKENDS",
    "Sweep",
    "SweepResult",
    "SweepSpec",
    "Task",
    "aggregate",
    "build_sweep",
    "consolidate",
    "default_jobs",
    "describe",
    "execute",
    "is_sweep_dir",
    "is_sweep_file",
    "label",
    "load_sweep",
    "metric_columns",
    "run_key",
    "run_sweep",
    "run_task",
    "t975",
]

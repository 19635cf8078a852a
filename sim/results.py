"""RunResult: the tables and summary of one run; saving to and loading from a run directory."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from sim.records import RunTables

TABLES = ("decisions", "events", "violations", "messages", "requests")


def _fresh_dir(parent: Path, stem: str) -> Path:
    # Like mkdtemp, but with the usual permissions (mkdtemp makes a private 0700 folder).
    for i in range(10_000):
        candidate = parent / f".{stem}.{os.getpid()}.{i}.tmp"
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary folder name in {parent}")


@dataclass
class RunResult:
    """Everything one run produced."""

    scenario: dict[str, Any]
    summary: dict[str, Any]
    tables: RunTables
    planes: dict[str, RunResult] | None = None
    """A run with planes: each plane's own result (its scenario, unprefixed summary and tables), by name."""
    pipeline: pd.DataFrame | None = None
    """A run with planes: the stages of the links between them (sim/planes/links.py), else None."""

    @property
    def decisions(self) -> pd.DataFrame:
        """One row per decision: time_ms, node, slot, value, incarnation (+ mechanism columns)."""
        return self.tables.decisions

    @property
    def messages(self) -> pd.DataFrame:
        """Message counts by type, src and dst: sent, delivered, dropped, bytes_sent."""
        return self.tables.messages

    @property
    def events(self) -> pd.DataFrame:
        """Elections, crashes, partitions, view changes...: time_ms, node, kind (+ fields)."""
        return self.tables.events

    @property
    def violations(self) -> pd.DataFrame:
        """Safety violations found by the checkers: time_ms, nodes, rule, detail."""
        return self.tables.violations

    @property
    def requests(self) -> pd.DataFrame:
        """Client commands: cmd_id, client, submit_ms, done_ms, latency_ms, retries (timeouts that re-sent it)."""
        return self.tables.requests

    @property
    def trace(self) -> pd.DataFrame | None:
        """The full message journal (with `trace=True` only)."""
        return self.tables.trace

    def save(self, path: str | Path, plots: bool = True, trace_window: tuple[float, float] | None = None) -> Path:
        """Write the run directory atomically: a temporary folder, renamed when complete.

        `trace_window` (start, end in ms) is the space-time diagram's window (default: around the first fault).

        Returns:
            The run directory.

        """
        final = Path(path)
        if final.exists() and not (final / "summary.json").exists() and (not final.is_dir() or any(final.iterdir())):
            # Replacing a previous run is fine; replacing anything else (say, '.') is not.
            raise FileExistsError(f"{final} exists and is not a run directory; refusing to replace it")
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = _fresh_dir(final.parent, final.name)
        try:
            (tmp / "scenario.yaml").write_text(yaml.safe_dump(self.scenario, sort_keys=False), encoding="utf-8")
            (tmp / "summary.json").write_text(json.dumps(self.summary, indent=2) + "\n", encoding="utf-8")
            for name in TABLES:
                getattr(self, name).to_parquet(tmp / f"{name}.parquet", index=False)
            if self.trace is not None:
                self.trace.to_parquet(tmp / "trace.parquet", index=False)
            if self.pipeline is not None:
                self.pipeline.to_parquet(tmp / "pipeline.parquet", index=False)
            if plots and self.planes is not None:
                from sim.plots.fleet import save_fleet_plots

                save_fleet_plots(self, tmp / "plots", trace_window)
            elif plots:
                from sim.plots import save_run_plots

                save_run_plots(self, tmp / "plots", trace_window)
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    @classmethod
    def load(cls, path: str | Path) -> RunResult:
        """Read a run directory written by `save`."""
        root = Path(path)
        scenario = yaml.safe_load((root / "scenario.yaml").read_text(encoding="utf-8"))
        summary = json.loads((root / "summary.json").read_text(encoding="utf-8"))
        frames = {name: pd.read_parquet(root / f"{name}.parquet") for name in TABLES}
        trace = pd.read_parquet(root / "trace.parquet") if (root / "trace.parquet").exists() else None
        tables = RunTables(
            decisions=frames["decisions"],
            messages=frames["messages"],
            events=frames["events"],
            requests=frames["requests"],
            trace=trace,
            violations=frames["violations"],
        )
        result = cls(scenario, summary, tables)
        if scenario.get("planes") is not None:
            from sim.planes.results import plane_results  # late: it builds on this module

            result.planes = plane_results(result)
            pipeline = root / "pipeline.parquet"
            result.pipeline = pd.read_parquet(pipeline) if pipeline.exists() else None
        return result

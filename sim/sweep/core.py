"""`run_sweep`: run what is missing, keep every finished row, consolidate the tables."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pandas as pd

from sim.sweep.execute import TRANSIENT, Progress, execute
from sim.sweep.spec import Sweep, Task, label, load_sweep
from sim.sweep.stats import aggregate
from sim.sweep.workers import default_jobs

ROWS = "rows"
RUNS = "runs"
PLOTS = "plots"
_RUN_KEY = re.compile(r"[0-9a-f]{16}")
"""How `run_key` names a run's row and folder: the only names `clear_previous` removes there."""


@dataclass
class SweepResult:
    """What a sweep produced, and how much of it this call computed."""

    path: Path
    params: list[str]
    runs: pd.DataFrame
    summary: pd.DataFrame
    executed: int
    reused: int
    failed: int

    @classmethod
    def load(cls, path: str | Path) -> SweepResult:
        """Read a finished sweep directory (runs.parquet, summary.parquet, sweep.json)."""
        root = Path(path)
        meta = json.loads((root / "sweep.json").read_text(encoding="utf-8"))
        runs = pd.read_parquet(root / "runs.parquet")
        summary = pd.read_parquet(root / "summary.parquet")
        failed = int(runs["error"].notna().sum()) if "error" in runs else 0
        return cls(root, list(meta["params"]), runs, summary, 0, len(runs), failed)


def is_sweep_dir(path: str | Path) -> bool:
    """Whether a directory holds sweep output (rather than one run)."""
    return (Path(path) / "sweep.json").is_file()


def _write_atomic(path: Path, text: str) -> None:
    # Write, flush to disk, then rename: a kill at any moment leaves the old file or the new one.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _to_parquet_atomic(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def _arrow_safe(frame: pd.DataFrame) -> pd.DataFrame:
    # A column mixing numbers and text (e.g. a swept value given as 5 and as "5ms") is stored as text.
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object:
            kinds = {type(v) for v in frame[column] if v is not None and not (isinstance(v, float) and pd.isna(v))}
            if len(kinds) > 1 and not kinds <= {int, float}:
                frame[column] = [None if v is None else str(v) for v in frame[column]]
    return frame


def finished_rows(rows_dir: Path) -> dict[str, dict[str, Any]]:
    """Every row already written under `rows_dir`, by key (half-written files never exist)."""
    rows: dict[str, dict[str, Any]] = {}
    if rows_dir.is_dir():
        for path in sorted(rows_dir.glob("*.json")):
            try:
                rows[path.stem] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # unreadable: it is simply computed again
    return rows


def consolidate(sweep: Sweep, out: Path, rows: dict[str, dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write runs.parquet (grid order, then seed) and summary.parquet from the finished rows."""
    ordered = [rows[task.key] for task in sweep.tasks if task.key in rows]
    runs = _arrow_safe(pd.DataFrame(ordered))
    if "error" not in runs.columns:
        runs["error"] = None
    params = sweep.params
    summary = aggregate(runs, ["point", *params]) if not runs.empty else pd.DataFrame()
    _to_parquet_atomic(runs, out / "runs.parquet")
    _to_parquet_atomic(_arrow_safe(summary), out / "summary.parquet")
    return runs, summary


def clear_previous(root: Path, sweep: Sweep) -> None:
    """Remove what an earlier sweep into `root` left that this one would not replace, so nothing stale stays beside its results.

    The tables and the figures are rebuilt from the rows at the end, so they go now (an interrupted
    sweep then reads as unfinished, not as the previous one's tables under this one's sweep.json),
    with the report `consim report` wrote of them (a report.md or report.html it did not write is
    the user's, and stays). Rows and kept run directories of runs this sweep does not have go too;
    those it has are its own runs (the key hashes the resolved scenario and seed) and are reused.

    Only what consim names is removed, and never through a link: a folder without a sweep.json is
    no earlier sweep's (nothing is touched); in plots/ only the `<metric>_vs_<parameter>.png` figures
    go; in rows/ and runs/ only entries named by a run key; and a plots/, rows/, runs/ or run folder
    that is a symbolic link (to a larger disk, say) is left as it is, with whatever it points at.
    """
    from sim.report import REPORT_FILES, written_by_consim  # late: only a rerun into a folder with a report needs it

    if not (root / "sweep.json").is_file():
        return
    for name in ("runs.parquet", "summary.parquet"):
        (root / name).unlink(missing_ok=True)
    plots = root / PLOTS
    if plots.is_dir() and not plots.is_symlink():
        for png in plots.glob("*_vs_*.png"):  # the sweep's figures and `consim plot`'s, drawn from the old tables
            if not png.is_dir():
                png.unlink()
        if not any(plots.iterdir()):
            plots.rmdir()
    for name in REPORT_FILES:
        if written_by_consim(root / name):
            (root / name).unlink()
    keys = {task.key for task in sweep.tasks}
    rows = root / ROWS
    if rows.is_dir() and not rows.is_symlink():
        for row in rows.glob("*.json"):
            if _RUN_KEY.fullmatch(row.stem) and row.stem not in keys and not row.is_symlink():
                row.unlink()
    runs = root / RUNS
    if runs.is_dir() and not runs.is_symlink():
        for folder in runs.iterdir():
            if _RUN_KEY.fullmatch(folder.name) and folder.name not in keys and folder.is_dir() and not folder.is_symlink():
                shutil.rmtree(folder)
        if not any(runs.iterdir()):
            runs.rmdir()


def run_sweep(
    sweep: Sweep | str | Path,
    out: str | Path | None = None,
    jobs: int | None = None,
    backend: str = "local",
    scheduler: str | None = None,
    keep_runs: bool = False,
    quiet: bool = False,
    retry_failed: bool = False,
    protocol_cls: Any = None,
    stream: IO[str] | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> SweepResult:
    """Run a sweep, computing only the runs that have no row yet, and write its tables.

    What an earlier sweep left in `out` is cleared first (`clear_previous`): its tables, figures
    and consim report, and the rows and run directories of runs this sweep does not have.

    Args:
        sweep: a loaded sweep or the path of a sweep YAML file.
        out: the output directory (default `results/<sweep name>`).
        jobs: local worker processes (default: all cores; 1 runs in this process).
        backend: "local" or "dask".
        scheduler: a Dask scheduler address (dask backend); without one a local cluster starts.
        keep_runs: also save each run's directory under `<out>/runs/<key>/` (without plots).
        quiet: no progress bar and no failure lines.
        retry_failed: run again the runs whose earlier row records an error.
        protocol_cls: run this Protocol class instead of the registered mechanism (tests).
        stream: where progress and failures go (default stderr).
        on_row: called with each new row as it is written.

    Returns:
        The tables and the counts of runs executed now, reused from earlier, and failed.

    Raises:
        KeyboardInterrupt: when interrupted; every row finished before is kept on disk.

    """
    if not isinstance(sweep, Sweep):
        sweep = load_sweep(sweep)
    root = Path(out) if out is not None else Path("results") / sweep.name
    rows_dir = root / ROWS
    rows_dir.mkdir(parents=True, exist_ok=True)
    clear_previous(root, sweep)
    meta = {
        "name": sweep.name,
        "description": sweep.spec.description,
        "source": sweep.source,
        "params": sweep.params,
        "seeds": sweep.spec.seeds,
        "points": [{p: label(v) for p, v in point.items()} for point in sweep.points],
        "runs": len(sweep.tasks),
        "base": sweep.base_data,
        "set": sweep.spec.set_,
    }
    _write_atomic(root / "sweep.json", json.dumps(meta, indent=2, default=str) + "\n")

    rows = finished_rows(rows_dir)
    todo: list[Task] = []
    for task in sweep.tasks:
        old = rows.get(task.key)
        if old is None or (retry_failed and old.get("error")):
            keep = str(root / RUNS / task.key) if keep_runs else None
            todo.append(dataclasses.replace(task, keep_dir=keep, protocol_cls=protocol_cls))
    reused = len(sweep.tasks) - len(todo)

    progress = Progress(len(todo), enabled=not quiet, stream=stream, label=sweep.name)
    executed = 0
    try:
        for row in execute(todo, jobs=jobs or default_jobs(), backend=backend, scheduler=scheduler):
            if not row.pop(TRANSIENT, False):
                _write_atomic(rows_dir / f"{row['key']}.json", json.dumps(row, default=str) + "\n")
                rows[row["key"]] = row
                executed += 1
            if on_row is not None:
                on_row(row)
            if row.get("error") and not quiet:
                shown = ", ".join(f"{p}={row.get(p)}" for p in sweep.params)
                progress.note(f"run failed ({shown}{', ' if shown else ''}seed={row['seed']}): {row['error']}")
            progress.advance(failed=bool(row.get("error")))
    finally:
        progress.close()
    runs, summary = consolidate(sweep, root, rows)
    failed = int(runs["error"].notna().sum()) if "error" in runs else 0
    return SweepResult(root, sweep.params, runs, summary, executed, reused, failed)

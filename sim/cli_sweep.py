"""The work behind `consim sweep`, `consim compare` and `consim plot SWEEP_DIR`, as plain functions.

The typer commands in sim/cli.py are thin wrappers: they turn `ScenarioError` into one line on
stderr and exit status 2, and `KeyboardInterrupt` into exit status 130.
"""

from __future__ import annotations

import copy
import importlib
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sim.cli_run import check_out_dir
from sim.scenario import ScenarioError

if TYPE_CHECKING:  # pandas too: the tables arrive built, and `consim validate` of a compare spec needs none
    import pandas as pd

    from sim.report.requirements import CompareSpec
    from sim.scenario import Scenario

EXIT_INTERRUPTED = 130
SUMMARY_METRICS = (
    "liveness",
    "latency_ms_p50",
    "failover_ms_p50",
    "time_to_all_ms_mean",
    "messages_per_decision",
    "messages_per_node",
    "safety_violations",
)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    return str(value)


def text_table(frame: pd.DataFrame, max_rows: int = 40) -> str:
    """A plain fixed-width text table (first `max_rows` rows)."""
    shown = frame.head(max_rows)
    columns = [str(c) for c in shown.columns]
    cells = [[_cell(v) for v in row] for row in shown.itertuples(index=False)]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    if len(frame) > max_rows:
        lines.append(f"... {len(frame) - max_rows} more rows")
    return "\n".join(lines)


def sweep_overview(summary: pd.DataFrame, params: list[str]) -> pd.DataFrame:
    """One row per grid point: its parameters and the mean [95% CI low, high] of headline metrics.

    The interval is printed by its ends, not as mean ± a half-width: Wilson's interval, and any
    interval clipped to the metric's range, are not symmetric about the mean.
    """
    if summary.empty:
        return summary
    metrics = [m for m in SUMMARY_METRICS if m in set(summary["metric"]) and summary.loc[summary["metric"] == m, "n"].sum() > 0]
    first = summary.drop_duplicates("point").set_index("point")
    table = first[[*params, "runs", "failed"]].copy()
    for metric in metrics:
        part = summary[summary["metric"] == metric].set_index("point")
        table[metric] = [
            _cell(m) if math.isnan(low) else f"{_cell(m)} [{_cell(low)}, {_cell(high)}]"
            for m, low, high in zip(part["mean"], part["ci_low"], part["ci_high"], strict=True)
        ]
    return table.reset_index(drop=True)


def sweep_command(
    path: Path,
    jobs: int | None = None,
    backend: str = "local",
    scheduler: str | None = None,
    keep_runs: bool = False,
    out: Path | None = None,
    quiet: bool = False,
    retry_failed: bool = False,
    stream: IO[str] | None = None,
    plots: bool = False,
    strict_timing: bool = False,
    warn: Callable[[str], None] | None = None,
) -> tuple[Any, str]:
    """Validate and run a sweep; returns the SweepResult and the text to print.

    Timeouts that do not fit the network are passed to `warn` (one line each, once per grid
    point) before anything runs; with `strict_timing` they are errors.

    Raises:
        ScenarioError: bad sweep file, bad grid value, bad option.
        KeyboardInterrupt: interrupted; finished rows are kept (say so with `interrupted_text`).

    """
    from sim.sweep import BACKENDS, load_sweep, run_sweep
    from sim.sweep.workers import default_jobs

    if backend not in BACKENDS:
        raise ScenarioError("--backend", "", f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
    if scheduler and backend != "dask":
        raise ScenarioError("--scheduler", "", "a scheduler address needs --backend dask")
    if jobs is not None and jobs < 1:
        raise ScenarioError("--jobs", "", "must be at least 1")
    if backend == "dask" and scheduler is None:
        from sim.sweep.workers import start_fork_server

        if (jobs or default_jobs()) > 1:
            start_fork_server()  # the workers' imports overlap the loading below and the cluster's start (issue 13)
    sweep = load_sweep(path, strict_timing)
    for line in sweep.timing_warnings:
        if warn is not None:
            warn(line)
    target = out if out is not None else Path("results") / sweep.name
    check_out_dir(target, "sweep.json", "sweep")
    # With workers, this process mostly waits while they run: the imports its own work after the
    # runs needs (the parquet writer, the plots) are made then, on a thread, not after the last run.
    ahead = ImportAhead(["pyarrow.parquet", *(["sim.sweep_plots"] if plots else [])])
    workers = jobs if jobs is not None else default_jobs()
    try:
        result = run_sweep(
            sweep,
            target,
            jobs,
            backend,
            scheduler,
            keep_runs=keep_runs,
            quiet=quiet,
            retry_failed=retry_failed,
            stream=stream,
            # After the first row: by then the workers are forked, and a fork never copies a thread mid-import.
            on_row=ahead.start if workers > 1 else None,
        )
    except ImportError as exc:  # dask missing
        raise ScenarioError("--backend", "", str(exc)) from None
    lines = [
        f"sweep {sweep.name}: {len(sweep.tasks)} runs ({len(sweep.points)} grid points x {len(sweep.spec.seeds)} seeds); "
        f"{result.executed} computed now, {result.reused} reused, {result.failed} failed"
    ]
    if not quiet:
        lines.append(text_table(sweep_overview(result.summary, sweep.params)))
    lines.append(f"rows:       {target / 'runs.parquet'}")
    lines.append(f"aggregates: {target / 'summary.parquet'} (mean, std, 95% CI per grid point and metric)")
    if keep_runs:
        lines.append(f"runs:       {target / 'runs'}/<key>/")
    if plots and sweep.params and len(result.runs):
        from sim.sweep_plots import save_sweep_plots, with_derived

        have = with_derived(result.runs).columns
        for metric in sweep.spec.theory:
            if metric not in have:  # loading checks the names it can know (sim/sweep/spec.py); this, the ones it cannot
                problem = f"no metric {metric!r} in the runs; no plots drawn (the rows are kept)"
                raise ScenarioError(sweep.source, f"theory.{metric}", problem)
        drawn = save_sweep_plots(result.runs, sweep.params, target / "plots")
        for metric, law in sweep.spec.theory.items():  # the spec's reference laws redraw their metric's figure
            drawn += [p for p in save_sweep_plots(result.runs, sweep.params, target / "plots", metric, theory=law) if p not in drawn]
        lines.append(f"plots:      {target / 'plots'}/ ({', '.join(p.name for p in drawn)})")
    return result, "\n".join(lines)


class ImportAhead:
    """Modules imported on a daemon thread, once, when `start` is first called (with any arguments)."""

    def __init__(self, modules: list[str]) -> None:
        self.modules = modules
        self.thread: threading.Thread | None = None

    def start(self, *_: object) -> None:
        """Begin the imports unless begun; a later plain `import` of one waits for it (the import lock)."""
        if self.thread is None:
            self.thread = threading.Thread(target=self._load, name="consim-import-ahead", daemon=True)
            self.thread.start()

    def _load(self) -> None:
        for name in self.modules:
            try:
                importlib.import_module(name)
            except ImportError:
                pass  # the import where the module is used reports it


def interrupted_text(path: Path, out: Path | None = None) -> str:
    """What to tell the user after Ctrl-C: where the finished rows are and how to resume."""
    from sim.sweep import load_sweep

    try:
        sweep = load_sweep(path)
        target = out if out is not None else Path("results") / sweep.name
        done = len(list((target / "rows").glob("*.json")))
        return f"interrupted: {done} of {len(sweep.tasks)} runs are kept in {target / 'rows'}; run the same command again to finish"
    except (ScenarioError, OSError):
        return "interrupted; run the same command again to finish"


def compare_spec_scenario(
    path: Path, overrides: list[str] | None = None
) -> tuple[Scenario, tuple[CompareSpec, dict[str, Any] | Path] | None]:
    """The scenario a compare command runs: the file itself, or a compare spec's scenario; and the spec, if any.

    Raises:
        ScenarioError: bad scenario, bad spec, unknown candidate.

    """
    from sim.protocols.base import mechanisms
    from sim.report.requirements import is_compare_spec, load_compare_spec
    from sim.scenario import load_scenario, parse_overrides, scenario_from_dict

    if not is_compare_spec(path):
        return load_scenario(path, overrides or []), None
    spec, found = load_compare_spec(path)
    known = list(mechanisms())
    for i, name in enumerate(spec.candidates):
        if name not in known:
            raise ScenarioError(str(path), f"candidates[{i}]", f"unknown mechanism {name!r} (known: {', '.join(known)})")
    for plane, wanted in (spec.planes or {}).items():
        for i, name in enumerate(wanted.candidates):
            if name not in known:
                raise ScenarioError(str(path), f"planes.{plane}.candidates[{i}]", f"unknown mechanism {name!r} (known: {', '.join(known)})")
    if isinstance(found, dict):
        scenario = scenario_from_dict(found, f"{path}#scenario", parse_overrides(overrides))
    else:
        scenario = load_scenario(found, overrides or [])
    _refuse_unused_top_level(spec, scenario, str(path))
    if spec.planes is not None:
        have = [p.name for p in scenario.planes or []]
        if not have:
            raise ScenarioError(str(path), "planes", "the scenario has no planes; name candidates with 'candidates:' instead")
        for plane in spec.planes:
            if plane not in have:
                raise ScenarioError(str(path), f"planes.{plane}", f"the scenario has no plane named {plane!r} (planes: {', '.join(have)})")
    return scenario, (spec, found)


def _refuse_unused_top_level(spec: CompareSpec, scenario: Scenario, source: str) -> None:
    """Refuse a spec's top-level `candidates` or `requires` on a scenario with planes: only `planes:` is read there.

    Raises:
        ScenarioError: the unused field, and where the planes' candidates go instead.

    """
    if not scenario.planes:
        return
    example = f"planes: {{{scenario.planes[0].name}: {{candidates: [...]}}}}"
    for field in ("candidates", "requires"):
        if field in spec.model_fields_set:
            problem = f"the scenario has planes, so a top-level {field!r} is not used: give each plane its own under {example}"
            raise ScenarioError(source, field, problem)


def plane_requirements(spec: CompareSpec, scenario: Scenario) -> dict[str, Any]:
    """Each compared plane's requirements: the spec's, else the scenario plane's own `requires:`, else none."""
    from sim.report.requirements import Requirements, parse_requirements

    own = {p.name: p.requires for p in scenario.planes or []}
    out: dict[str, Any] = {}
    for plane, wanted in (spec.planes or {}).items():
        if wanted.requires is not None:
            out[plane] = wanted.requires
        elif own.get(plane):
            out[plane] = parse_requirements(own[plane], scenario.name, f"planes.{plane}.requires")
        else:
            out[plane] = Requirements()
    return out


def compare_command(
    path: Path,
    mechanisms: str | None = None,
    replicates: int | None = None,
    out: Path | None = None,
    jobs: int = 1,
    overrides: list[str] | None = None,
) -> tuple[Any, str]:
    """Run a scenario (or a compare spec's) on each mechanism, save table, runs and chart; returns (Comparison, text).

    A compare spec (sim/report/requirements.py) names the scenario, the candidates and the
    requirements; `mechanisms` and `replicates` given here override its candidates and seeds. With
    requirements the text ends with the recommendation, and compare.json keeps them for `consim report`.

    Raises:
        ScenarioError: bad scenario or spec, unknown mechanism, bad option.

    """
    from sim.compare import compare
    from sim.report.requirements import recommend, recommendation_lines
    from sim.scenario import parse_overrides

    if jobs < 1:  # as sweep and explore refuse it: a negative count ran in this process and said nothing
        raise ScenarioError("--jobs", "", "must be at least 1")
    scenario, found = compare_spec_scenario(path, overrides)
    spec, source = found if found is not None else (None, path)
    if spec is not None and spec.planes is not None:
        return compare_planes_command(path, scenario, spec, source, replicates, out, jobs, overrides)
    default = ",".join(spec.candidates) if spec is not None and spec.candidates else "raft,multipaxos,pbft"
    names = [m.strip() for m in (mechanisms if mechanisms is not None else default).split(",") if m.strip()]
    if not names:
        raise ScenarioError("--mechanisms", "", "name at least one mechanism, e.g. raft,multipaxos,pbft")
    seeds = replicates if replicates is not None else (spec.replicates if spec is not None and spec.replicates else 3)
    if seeds < 1:
        raise ScenarioError("--replicates", "", "must be at least 1")
    target = out if out is not None else Path("results") / f"{scenario.name}-compare"
    check_out_dir(target, "compare.json", "compare")
    result = compare(source, names, seeds, jobs=jobs, overrides=parse_overrides(overrides))
    where = str(source) if isinstance(source, Path) else f"{path}#scenario"
    meta: dict[str, Any] = {"name": scenario.name, "scenario": where, "candidates": names, "replicates": seeds}
    if spec is not None:
        meta["requires"] = spec.requires.model_dump()
        meta["cheapest_by"] = spec.cheapest_by
    result.save(target, meta)
    shown = result.table[
        [
            "mechanism",
            "tolerates",
            "runs",
            "failed",
            "latency_ms_p50",
            "latency_ms_p99",
            "messages_per_decision",
            "liveness",
            "unsafe_runs",
            "violations_total",
        ]
    ]
    lines = [f"compare {scenario.name}: {', '.join(names)} ({seeds} seeds each)", text_table(shown)]
    for name, notes in result.notes.items():
        for note in notes:
            lines.append(f"  {name}: {note}")
    if spec is not None:
        verdicts = recommend(result.table.to_dict("records"), spec.requires, spec.cheapest_by)
        lines += recommendation_lines(verdicts, spec.cheapest_by)
    lines.append(f"table: {target / 'table.csv'} (and table.parquet, runs.parquet)")
    lines.append(f"chart: {target / 'tradeoff.png'}")
    return result, "\n".join(lines)


def compare_planes_command(
    path: Path,
    scenario: Scenario,
    spec: CompareSpec,
    source: dict[str, Any] | Path,
    replicates: int | None,
    out: Path | None,
    jobs: int,
    overrides: list[str] | None,
) -> tuple[Any, str]:
    """A compare spec with `planes:`: each plane's candidates, the others kept; the recommendation per plane."""
    from sim.planes.compare import compare_planes
    from sim.report.requirements import recommend, recommendation_lines
    from sim.scenario import parse_overrides, read_scenario, set_path

    assert spec.planes is not None
    seeds = replicates if replicates is not None else (spec.replicates or 1)
    if seeds < 1:
        raise ScenarioError("--replicates", "", "must be at least 1")
    if isinstance(source, Path):
        data, where = read_scenario(source, overrides)[0], str(source)  # extends resolved, overrides applied
    else:
        data, where = copy.deepcopy(source), f"{path}#scenario"
        for key, value in parse_overrides(overrides).items():  # validated with the spec (compare_spec_scenario)
            set_path(data, key, value)
    candidates = {plane: list(wanted.candidates) for plane, wanted in spec.planes.items()}
    target = out if out is not None else Path("results") / f"{scenario.name}-compare"
    check_out_dir(target, "compare.json", "compare")
    result = compare_planes(data, candidates, seeds, jobs=jobs, source=where)
    requires = plane_requirements(spec, scenario)
    meta: dict[str, Any] = {
        "name": scenario.name,
        "scenario": where,
        "planes": {plane: {"candidates": candidates[plane], "requires": requires[plane].model_dump()} for plane in candidates},
        "candidates": [f"{plane}: {name}" for plane, names in candidates.items() for name in names],
        "replicates": seeds,
        "cheapest_by": spec.cheapest_by,
    }
    result.save(target, meta)
    shown = result.table[
        ["plane", "mechanism", "tolerates", "runs", "latency_ms_p99", "messages_per_decision", "staleness_ms_p99", "e2e_ms_p50"]
    ]
    lines = [f"compare {scenario.name}: each plane's candidates ({seeds} seed{'s' if seeds > 1 else ''} each)", text_table(shown)]
    for label, notes in result.notes.items():
        lines += [f"  {label}: {note}" for note in notes]
    lines += recommendation_lines(recommend(result.table.to_dict("records"), requires, spec.cheapest_by), spec.cheapest_by)
    lines.append(f"table: {target / 'table.csv'} (and table.parquet, runs.parquet)")
    return result, "\n".join(lines)


def plot_sweep_command(
    target: Path, metric: str | None = None, x: str | None = None, hue: str | None = None, theory: str | None = None
) -> list[Path]:
    """Draw a finished sweep's metric-against-parameter plots into TARGET/plots/.

    Raises:
        ScenarioError: not a sweep directory, an unknown metric or parameter, `hue` the x axis too,
            or a per-line `theory` naming no value of the hue.

    """
    from sim.sweep import SweepResult, is_sweep_dir
    from sim.sweep_plots import save_sweep_plots

    if not is_sweep_dir(target) or not (target / "runs.parquet").exists():
        raise ScenarioError(str(target), "", "not a finished sweep directory (no sweep.json and runs.parquet)")
    result = SweepResult.load(target)
    for option, value, known in (("--x", x, result.params), ("--hue", hue, result.params)):
        if value is not None and value not in known:
            raise ScenarioError(option, "", f"{value!r} is not a swept parameter (have: {', '.join(known)})")
    if metric is not None and metric not in result.runs.columns:
        from sim.sweep import metric_columns

        raise ScenarioError("--metric", "", f"no metric {metric!r} (have: {', '.join(metric_columns(result.runs, result.params))})")
    if not result.params:
        raise ScenarioError(str(target), "", "the sweep has no swept parameter to plot against")
    from sim.sweep_plots import LAWS, plot_axes

    try:
        x, hue = plot_axes(result.runs, result.params, x, hue)  # as the plots will choose them, to check what names them
    except ValueError as exc:  # the hue is the x axis
        raise ScenarioError("--hue", "", str(exc)) from None
    laws: str | dict[str, str] | None = theory
    if theory is not None and "=" in theory:
        # One law per line: "pbft=n^2,hotstuff=n" (the values of --hue).
        pairs = [part.split("=", 1) for part in theory.split(",") if part.strip()]
        laws = {name.strip(): law.strip() for name, law in pairs} if all(len(p) == 2 for p in pairs) else theory
    for law in [laws] if isinstance(laws, str) else list((laws or {}).values()):
        if law not in LAWS:
            raise ScenarioError("--theory", "", f"unknown law {law!r} (choose from {', '.join(LAWS)})")
    if isinstance(laws, dict):
        # A law for a line the plot does not have would be drawn nowhere, and say nothing.
        lines = list(dict.fromkeys(str(value) for value in result.runs[hue])) if hue else []
        for name in laws:
            if name not in lines:
                have = f"{hue} values: {', '.join(lines)}" if hue else "it has one line, no --hue"
                raise ScenarioError("--theory", name, f"no line {name!r} on the plot ({have})")
    try:
        return save_sweep_plots(result.runs, result.params, target / "plots", metric, x, hue, laws)
    except ValueError as exc:  # a theory overlay on a category axis
        raise ScenarioError("--theory", "", str(exc)) from None

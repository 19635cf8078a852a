"""The plain functions behind `consim run` and `consim plot` of a run directory.

Kept out of sim/cli.py so that `consim --help` and `consim validate` import none of this (nor
hashlib and json, which only a run's id needs).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.errors import ScenarioError
from sim.units import format_ms, parse_duration

if TYPE_CHECKING:  # pydantic, pandas, numpy and matplotlib are imported by the functions that need them
    from sim.scenario import Scenario


def run_id(scenario: Scenario) -> str:
    """A reproducible run id: the seed plus a short hash of the resolved scenario."""
    import hashlib
    import json

    canonical = json.dumps(scenario.resolved(), sort_keys=True, separators=(",", ":"))
    return f"seed{scenario.seed}-{hashlib.sha256(canonical.encode()).hexdigest()[:8]}"


def default_run_dir(scenario: Scenario, root: Path = Path("results")) -> Path:
    """Where `consim run` writes by default: `results/<name>/<run-id>/`."""
    return root / scenario.name / run_id(scenario)


def check_out_dir(path: Path, marker: str = "summary.json", kind: str = "run") -> None:
    """Refuse an output folder before any work is done, unless it is empty, new, or a `kind` directory already.

    Shared by `run`, `sweep`, `compare` and `explore`: found after the work, a file where the
    folder should be would cost the whole run and end in a traceback.

    Args:
        path: the `--out` folder.
        marker: the file every `kind` directory holds (a folder with it may be written into again).
        kind: what the folder holds, for the message ("run", "sweep", ...).

    Raises:
        ScenarioError: when `path` is a file, a non-empty folder that is not a `kind` directory, or
            lies under a file.

    """
    if path.exists() and not path.is_dir():
        raise ScenarioError("--out", "", f"{path} is a file")
    if path.is_dir() and any(path.iterdir()) and not (path / marker).exists():
        article = "an" if kind[0] in "aeiou" else "a"
        raise ScenarioError("--out", "", f"{path} is a non-empty folder that is not {article} {kind} directory; refusing to write into it")
    # Found now, not after the run: a file where a folder on the way should be.
    above = next((p for p in path.absolute().parents if p.exists()), None)
    if above is not None and not above.is_dir():
        raise ScenarioError("--out", "", f"cannot make {path}: {above} is a file, not a folder")


def prepare_run(
    path: Path,
    seed: int | None = None,
    overrides: list[str] | None = None,
    out: Path | None = None,
    strict_timing: bool = False,
    trace_window: tuple[float, float] | None = None,
) -> tuple[Scenario, Path]:
    """Load and validate a scenario and choose its run directory; nothing is written.

    Raises:
        ScenarioError: for bad input of any kind (with `strict_timing`, a timeout that does not fit the network; a
            `trace_window` that starts at or after the end of the run).

    """
    from sim.scenario import load_scenario

    if seed is not None and seed < 0:
        raise ScenarioError("--seed", "", f"must be >= 0 (got {seed})")
    scenario = load_scenario(path, overrides or [], seed, strict_timing)
    check_trace_window(trace_window, scenario.duration)
    target = out if out is not None else default_run_dir(scenario)
    check_out_dir(target)
    return scenario, target


def trace_window_option(text: str | None, trace: bool = True, plots: bool = True) -> tuple[float, float] | None:
    """Read `--trace-window START:END` (e.g. 2.9s:3.3s) into ms; None when not given.

    Args:
        text: the option's value, if given.
        trace: whether the run keeps the message journal the diagram is drawn from.
        plots: whether the run draws plots at all (`consim run --no-plots` draws no diagram to window).

    Raises:
        ScenarioError: when the text is not a window, or there is no trace to draw it from, or no diagram is drawn.

    """
    from sim.plots import parse_window

    if text is None:
        return None
    if not trace:
        raise ScenarioError("--trace-window", "", "needs --trace (the space-time diagram is drawn from the message journal)")
    if not plots:
        raise ScenarioError(
            "--trace-window", "", "--no-plots draws no diagram to window (draw it later: consim plot RUN_DIR --trace-window START:END)"
        )
    try:
        return parse_window(text)
    except ValueError as exc:
        raise ScenarioError("--trace-window", "", str(exc)) from None


def check_trace_window(window: tuple[float, float] | None, duration: float) -> None:
    """A space-time window must start before the run ends: one that starts later would draw an empty diagram.

    Raises:
        ScenarioError: naming --trace-window.

    """
    if window is not None and window[0] >= duration:
        start, end = format_ms(window[0]), format_ms(duration)
        raise ScenarioError("--trace-window", "", f"starts at {start}, not before the end of the run ({end}): the diagram would be empty")


def execute_run(
    scenario: Scenario,
    target: Path,
    trace: bool = False,
    plots: bool = True,
    progress: Callable[[float], None] | None = None,
    trace_window: tuple[float, float] | None = None,
) -> Any:
    """Run a validated scenario and save its run directory atomically; returns the RunResult.

    Raises:
        ScenarioError: when the run directory cannot be written.

    """
    from sim.runner import run

    result = run(scenario, trace=trace, progress=progress)
    try:
        result.save(target, plots=plots, trace_window=trace_window)
    except OSError as exc:
        raise ScenarioError("--out", "", f"cannot write {target}: {exc.strerror or exc}") from None
    return result


def describe_outputs(run_dir: Path) -> str:
    """Lines saying where the tables and plots of a run directory are."""
    tables = sorted(p.name for p in run_dir.glob("*.parquet"))
    lines = [f"tables: {run_dir}/ ({', '.join(tables)}, summary.json, scenario.yaml)"]
    plots = sorted(p.name for p in (run_dir / "plots").glob("*.png"))
    if plots:
        lines.append(f"plots:  {run_dir / 'plots'}/ ({', '.join(plots)})")
    return "\n".join(lines)


def replot(run_dir: Path, trace_window: tuple[float, float] | None = None, note: Callable[[str], None] | None = None) -> list[Path]:
    """Draw a saved run's plots again from its tables; returns the PNG files.

    `note` receives the space-time plot's note, when there is one (the CLI prints it on stderr).

    Raises:
        ScenarioError: when `run_dir` does not exist or is not a run directory.

    """
    from sim.plots import save_run_plots, spacetime_note
    from sim.results import RunResult

    if not run_dir.exists():  # "no summary.json" would send the user looking inside a folder that is not there
        raise ScenarioError(str(run_dir), "", "no such folder")
    if not (run_dir / "summary.json").is_file():
        raise ScenarioError(str(run_dir), "", "not a run directory (no summary.json)")
    try:
        result = RunResult.load(run_dir)
    except (OSError, ValueError) as exc:
        raise ScenarioError(str(run_dir), "", f"cannot read run directory: {exc}") from None
    if trace_window is not None and result.trace is None:
        raise ScenarioError("--trace-window", "", f"{run_dir} has no trace.parquet (run it with --trace)")
    if trace_window is not None:
        check_trace_window(trace_window, float(result.summary.get("duration_ms") or parse_duration(result.scenario.get("duration", 0))))
    text = spacetime_note(result)
    if text and note is not None:
        note(text)
    if result.planes is not None:
        from sim.plots.fleet import save_fleet_plots

        return save_fleet_plots(result, run_dir / "plots", trace_window)
    return save_run_plots(result, run_dir / "plots", trace_window)


def run_warnings(result: Any) -> list[str]:
    """The lines `consim run` warns with after a run: safety violations found, fault entries that did nothing."""
    from sim.units import format_ms

    lines = []
    violations = result.violations
    if len(violations):
        rules = ", ".join(sorted(set(violations["rule"].astype(str))))
        lines.append(f"warning: {len(violations)} safety violation(s): {rules} (see violations.parquet)")
    events = result.events
    missed = events[events["kind"] == "fault_missed"] if len(events) else events
    # A fleet's planes each journal the fleet's fault events: one strike is one instant, not one per plane;
    # and a repeated entry that keeps missing is one line, not one per strike.
    strikes: dict[str, list[float]] = {}
    for action, time_ms in dict.fromkeys(zip(missed["action"], missed["time_ms"], strict=True)) if len(missed) else ():
        strikes.setdefault(action, []).append(time_ms)
    for action, times in strikes.items():
        more = f" (and {len(times) - 1} more times, the last at {format_ms(times[-1])})" if len(times) > 1 else ""
        lines.append(f"warning: the {action} at {format_ms(times[0])}{more} names the leader, but no node led then: that part did nothing")
    return lines

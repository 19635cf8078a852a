"""The `consim` command line: thin typer commands over plain functions.

Every command turns bad input into one line on stderr (`file: field.path: problem`) and exit
status 2; `ScenarioError` is caught here, at the boundary, and nowhere else. To add a command,
write the work as a plain function (in its own module when it is large) and a thin `@app.command`
wrapper that catches `ScenarioError` through `guard`.
"""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from sim.errors import ScenarioError, WorkersLost

# No `from __future__ import annotations` here: typer reads every command's parameters on every
# call (even --help), and string annotations would each be compiled and evaluated again.
# Each command imports what it needs when it runs (pydantic, numpy, pandas, matplotlib, the plain
# functions in sim/cli_*.py), so that `consim --help` and `consim validate` stay quick (issue 13).
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_UNSAFE = 3
"""Show a progress bar only once a run has taken this much wall time."""

# typer vendors click in recent versions and uses the click package in older ones; find the
# error classes through a public exception so both work.
_CLICK_ERROR: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def use_headless_backend() -> None:
    """Draw with matplotlib's Agg backend: the CLI writes PNGs and must never need a display.

    Done here rather than in sim/plots.py so that notebooks importing the plots keep their
    inline backend. Through the environment while matplotlib is not imported yet, so that
    commands which draw nothing (`--help`, `validate`) do not pay for importing it.
    """
    if "matplotlib" in sys.modules:
        sys.modules["matplotlib"].use("Agg")
    else:
        os.environ["MPLBACKEND"] = "Agg"


PLUGINS_SWITCH = "PYDANTIC_DISABLE_PLUGINS"
"""pydantic's documented setting that turns its plugins off (read each time a model is built)."""


@contextmanager
def pydantic_plugins_off() -> Iterator[None]:
    """Build models without looking for pydantic plugins, unless the user set `PYDANTIC_DISABLE_PLUGINS` themselves.

    consim uses no pydantic plugin, and looking for one reads the metadata of every installed
    distribution (importlib.metadata, email parsing): about a fifth of `consim validate`'s own
    time (issue 13). Scoped to one command, as typer does while it builds its own validators;
    worker processes a command starts inherit the setting.
    """
    if PLUGINS_SWITCH in os.environ:
        yield
        return
    os.environ[PLUGINS_SWITCH] = "__all__"
    try:
        yield
    finally:
        os.environ.pop(PLUGINS_SWITCH, None)


class ConsimGroup(TyperGroup):
    """A typer group whose usage errors are one line on stderr (exit 2), never a panel."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        """Run the command (pydantic plugins off); in standalone mode render click's errors as a single line."""
        with pydantic_plugins_off():
            return self._main(*args, standalone_mode=standalone_mode, **kwargs)

    def _main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        use_headless_backend()
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
        except _CLICK_ERROR as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `consim`: the help text is the answer
                typer.echo(exc.format_message(), err=True)
                sys.exit(EXIT_BAD_INPUT)
            ctx = getattr(exc, "ctx", None)
            where = ctx.command_path if ctx is not None else "consim"
            message = " ".join(exc.format_message().split())
            typer.echo(f"{where}: {message}", err=True)
            sys.exit(getattr(exc, "exit_code", EXIT_BAD_INPUT))
        except typer.Abort:
            typer.echo("Aborted.", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    cls=ConsimGroup,
    name="consim",
    help="consim: a discrete-event simulator for consensus experiments.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def bad_input(message: str) -> typer.Exit:
    """Print one line on stderr and return the exit to raise (status 2)."""
    typer.echo(message, err=True)
    return typer.Exit(EXIT_BAD_INPUT)


@contextmanager
def guard() -> Iterator[None]:
    """Turn a `ScenarioError` raised inside into one line on stderr and exit status 2; lost worker processes into one line, exit 1."""
    try:
        yield
    except ScenarioError as exc:
        raise bad_input(str(exc)) from None
    except WorkersLost as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None


def note(line: str) -> None:
    """Print a note (e.g. why a space-time plot was left out) as one line on stderr."""
    typer.echo(line, err=True)


# --- commands ----------------------------------------------------------------------------

ScenarioArg = Annotated[Path, typer.Argument(metavar="SCENARIO", help="Scenario YAML file.", show_default=False)]
StrictTiming = Annotated[
    bool,
    typer.Option("--strict-timing", help="A timeout that does not fit the network (see the warnings) is an error: exit 2."),
]


@app.command("run", short_help="Run one scenario and write its run directory.")
def run_cmd(
    scenario: ScenarioArg,
    seed: Annotated[int | None, typer.Option("--seed", metavar="N", help="Replace the scenario's seed.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set", metavar="PATH=VALUE", help="Override a field before validation: dotted.path=value (value read as YAML). Repeatable."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", metavar="DIR", help="Run directory (default: results/<name>/seed<N>-<hash>/).")
    ] = None,
    trace: Annotated[bool, typer.Option("--trace", help="Keep the full message journal (trace.parquet, space-time plot).")] = False,
    trace_window: Annotated[
        str | None,
        typer.Option(
            "--trace-window",
            metavar="START:END",
            help=(
                "Time window of the space-time plot, e.g. 2.9s:3.3s (default: from just before the first fault)."
                " Needs --trace; refused with --no-plots."
            ),
        ),
    ] = None,
    no_plots: Annotated[bool, typer.Option("--no-plots", help="Do not draw plots.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit with status 3 when a safety violation is found.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary table and no progress bar.")] = False,
    strict_timing: StrictTiming = False,
) -> None:
    """Run one scenario: print a summary and write the run directory (tables, plots)."""
    from sim.cli_run import describe_outputs, execute_run, prepare_run, run_warnings, trace_window_option
    from sim.console import RunProgress, format_summary

    with guard():
        window = trace_window_option(trace_window, trace, plots=not no_plots)
        resolved, run_dir = prepare_run(scenario, seed, set_, out, strict_timing, window)
    from sim.validate import warning_lines

    for line in warning_lines(resolved, str(scenario)):
        typer.echo(line, err=True)
    with guard():
        progress = RunProgress(resolved.duration, enabled=not quiet and sys.stderr.isatty())
        try:
            result = execute_run(resolved, run_dir, trace, not no_plots, progress, window)
        finally:
            progress.close()
    if not no_plots:
        from sim.plots import spacetime_note

        note = spacetime_note(result)
        if note:
            typer.echo(note, err=True)
    if not quiet:
        typer.echo(format_summary(result.summary))
    violations = result.violations
    for line in run_warnings(result):
        typer.echo(line, err=True)
    typer.echo(describe_outputs(run_dir))
    if strict and len(violations):
        raise typer.Exit(EXIT_UNSAFE)


@app.command("validate", short_help="Check scenario and sweep files without running them.")
def validate_cmd(
    scenarios: Annotated[list[Path], typer.Argument(metavar="FILE", help="Scenario or sweep YAML files to check.", show_default=False)],
    strict_timing: StrictTiming = False,
) -> None:
    """Check scenario and sweep files without running them: OK and the resolved timing, or every problem (exit 2 if any is bad)."""
    from sim.cli_validate import timing_lines, validate_files

    bad = 0
    for path, problems, warnings, loaded in validate_files(scenarios, strict_timing):
        for warning in warnings:
            typer.echo(warning, err=True)
        if not problems:
            typer.echo(f"{path}: OK")
            if loaded is not None:
                typer.echo("\n".join(timing_lines(loaded)))
        else:
            bad += 1
            for problem in problems:
                typer.echo(problem, err=True)
    if bad:
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command("list", short_help="List mechanisms, distributions, faults, workloads, scenarios.")
def list_cmd(
    scenarios_dir: Annotated[
        Path | None,
        typer.Option("--scenarios", metavar="DIR", help="Folder of shipped scenarios (default: ./scenarios, else the package's)."),
    ] = None,
    mechanism: Annotated[
        list[str] | None,
        typer.Option("--mechanism", "-m", metavar="REF", help="Also list this module:Class or file.py:Class mechanism (repeatable)."),
    ] = None,
) -> None:
    """List mechanisms, delay distributions, fault kinds, byzantine behaviours, workloads and scenarios."""
    from sim.catalog import catalog, referenced, render_catalog

    with guard():
        typer.echo(render_catalog(catalog(scenarios_dir, referenced(mechanism or []))))


@app.command("plot", short_help="Draw a run's or a sweep's plots again from its tables.")
def plot_cmd(
    target: Annotated[
        Path,
        typer.Argument(metavar="RUN_OR_SWEEP_DIR", help="A run directory or a sweep directory.", show_default=False),
    ],
    metric: Annotated[
        str | None,
        typer.Option("--metric", metavar="METRIC", help="Sweep only: the metric to plot (default: every headline metric present)."),
    ] = None,
    x: Annotated[
        str | None,
        typer.Option("--x", metavar="PARAM", help="Sweep only: the swept parameter on the x axis (default: the one with the most values)."),
    ] = None,
    hue: Annotated[
        str | None,
        typer.Option("--hue", metavar="PARAM", help="Sweep only: one line per value of this parameter (default: the other one, if any)."),
    ] = None,
    trace_window: Annotated[
        str | None,
        typer.Option("--trace-window", metavar="START:END", help="Run only: time window of the space-time plot, e.g. 2.9s:3.3s."),
    ] = None,
    theory: Annotated[
        str | None,
        typer.Option(
            "--theory",
            metavar="LAW",
            help="Sweep only: overlay a scaling law fitted to the means: n, n^2, 'log n' or 'n log n'; "
            "or one per line, e.g. 'pbft=n^2,hotstuff=n'.",
        ),
    ] = None,
) -> None:
    """Draw plots again from saved tables: a run's plots, or a sweep's metric against a parameter with 95% CI bands."""
    from sim.cli_run import replot, trace_window_option
    from sim.cli_sweep import plot_sweep_command
    from sim.sweep import is_sweep_dir

    with guard():
        if is_sweep_dir(target):
            if trace_window:
                raise ScenarioError("--trace-window", "", "applies to run directories only")
            paths = plot_sweep_command(target, metric, x, hue, theory)
        else:
            if metric or x or hue or theory:
                raise ScenarioError("--metric/--x/--hue/--theory", "", "apply to sweep directories only")
            paths = replot(target, trace_window_option(trace_window), note)
    typer.echo(f"plots:  {target / 'plots'}/ ({', '.join(sorted(p.name for p in paths))})")


@app.command("sweep", short_help="Run a grid of parameters x seeds; resumable.")
def sweep_cmd(
    sweep: Annotated[
        Path, typer.Argument(metavar="SWEEP", help="Sweep YAML file (base scenario, grid, zip, replicates).", show_default=False)
    ],
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", metavar="N", help="Local worker processes (default: all cores; 1 runs in this process).")
    ] = None,
    backend: Annotated[
        str, typer.Option("--backend", metavar="local|dask", help="Where runs execute: local (process pool) or dask.")
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler", metavar="ADDR", help="Dask scheduler address (with --backend dask); without it a local cluster starts."
        ),
    ] = None,
    keep_runs: Annotated[bool, typer.Option("--keep-runs", help="Also keep each run's directory under OUT/runs/<key>/.")] = False,
    out: Annotated[Path | None, typer.Option("--out", metavar="DIR", help="Sweep directory (default: results/<sweep name>/).")] = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Run again the runs whose earlier attempt failed.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar, no failure lines, no table.")] = False,
    no_plots: Annotated[bool, typer.Option("--no-plots", help="Skip the default plots in OUT/plots/.")] = False,
    strict_timing: StrictTiming = False,
) -> None:
    """Run a sweep: every grid point x seed, one row per run; resumable (only missing runs are computed)."""
    from sim.cli_sweep import EXIT_INTERRUPTED, interrupted_text, sweep_command

    def warn(line: str) -> None:
        typer.echo(f"warning: {line}", err=True)

    try:
        with guard():
            _, text = sweep_command(
                sweep,
                jobs,
                backend,
                scheduler,
                keep_runs,
                out,
                quiet,
                retry_failed,
                plots=not no_plots,
                strict_timing=strict_timing,
                warn=warn,
            )
    except KeyboardInterrupt:
        typer.echo(interrupted_text(sweep, out), err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    typer.echo(text)


@app.command("compare", short_help="Run one scenario on several mechanisms, side by side.")
def compare_cmd(
    scenario: Annotated[
        Path,
        typer.Argument(
            metavar="SCENARIO_OR_SPEC",
            help="Scenario YAML, or a compare spec (scenario, candidates, requires) to get a recommendation.",
            show_default=False,
        ),
    ],
    mechanisms: Annotated[
        str | None,
        typer.Option(
            "--mechanisms",
            "-m",
            metavar="NAMES",
            help="Comma-separated mechanisms to run the scenario on (default: the spec's candidates, else raft,multipaxos,pbft).",
        ),
    ] = None,
    replicates: Annotated[
        int | None,
        typer.Option("--replicates", "-r", metavar="R", help="Seeds per mechanism (seed, seed+1, ...; default: the spec's, else 3)."),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", metavar="DIR", help="Output folder (default: results/<name>-compare/).")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", metavar="N", help="Local worker processes (1 runs in this process).")] = 1,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set", metavar="PATH=VALUE", help="Override a field before validation: dotted.path=value (value read as YAML). Repeatable."
        ),
    ] = None,
) -> None:
    """Run one scenario on several mechanisms: a table and a trade-off chart; with a spec's requirements, a recommendation."""
    from sim.cli_sweep import compare_command

    with guard():
        _, text = compare_command(scenario, mechanisms, replicates, out, jobs, set_)
    typer.echo(text)


@app.command("report", short_help="Write a self-contained report (Markdown and HTML) of a run, sweep or compare.")
def report_cmd(
    target: Annotated[
        Path,
        typer.Argument(metavar="RUN_OR_SWEEP_OR_COMPARE_DIR", help="A run, sweep or compare directory.", show_default=False),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", metavar="DIR", help="Where to write report.md and report.html (default: the directory itself).")
    ] = None,
) -> None:
    """Write report.md and report.html: guarantees, measurements, faults and figures; a compare spec's recommendation."""
    from sim.report import write_report

    with guard():
        md, page = write_report(target, out)
    typer.echo(f"report: {md} and {page}")


@app.command("explore", short_help="Draw fault schedules, find safety and liveness failures, shrink them.")
def explore_cmd(
    scenario: ScenarioArg,
    schedules: Annotated[int, typer.Option("--schedules", "-n", metavar="N", help="How many fault schedules to draw.")] = 100,
    seed: Annotated[int, typer.Option("--seed", metavar="S", help="Explore seed: the same seed draws the same schedules.")] = 0,
    jobs: Annotated[int, typer.Option("--jobs", "-j", metavar="N", help="Local worker processes (1 runs in this process).")] = 1,
    backend: Annotated[str, typer.Option("--backend", metavar="local|dask", help="Where schedules run: local or dask.")] = "local",
    beyond: Annotated[
        bool,
        typer.Option("--beyond-bound/--within-bound", help="Draw f + 1 faulty nodes (where the mechanism breaks) instead of at most f."),
    ] = False,
    budget: Annotated[
        str | None, typer.Option("--budget", metavar="TIME", help="Stop starting schedules after this wall time, e.g. 10m.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", metavar="DIR", help="Output folder (default: results/<name>-explore/).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Simulation testing: run a scenario under drawn fault schedules; save, shrink and print the failures (exit 3 if any)."""
    from sim.cli_explore import explore_command
    from sim.cli_sweep import EXIT_INTERRUPTED

    try:
        with guard():
            result, text = explore_command(scenario, schedules, seed, jobs, backend, beyond, out, budget, quiet)
    except KeyboardInterrupt:
        typer.echo("interrupted: finished schedules are kept; run the same command again to resume", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    typer.echo(text)
    if result.failures:
        raise typer.Exit(EXIT_UNSAFE)  # as `consim run --strict`: a script can tell a finding from a clean exploration


def _add_subcommands() -> None:
    from sim.cli_new import new_app  # `consim new ...`: its own module, as the sweep and explore commands

    app.add_typer(new_app, name="new", short_help="Write a skeleton to start from: consim new mechanism NAME.")


_add_subcommands()


def main() -> None:
    """Entry point for `python -m sim`."""
    app(prog_name="consim")

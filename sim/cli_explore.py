"""The work behind `consim explore`, as a plain function returning the text to print."""

from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any

from sim.scenario import ScenarioError

_BUDGET_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?\s*$")
_BUDGET_SCALE_S = MappingProxyType({"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0})


def parse_budget(text: str | None) -> float | None:
    """'90s', '10m', '1h' -> seconds; None stays None.

    A bare number is refused: it used to mean seconds, while a bare duration elsewhere
    (`--trace-window`, a byzantine `delay`) means milliseconds, so `--budget 5` was ambiguous.

    Raises:
        ScenarioError: the text is not a duration with its unit.

    """
    if text is None:
        return None
    match = _BUDGET_RE.match(text)
    if match is None:
        raise ScenarioError("--budget", "", f"expected a wall-clock budget such as '90s', '10m' or '1h', got {text!r}")
    number, unit = match.groups()
    if unit is None:
        raise ScenarioError("--budget", "", f"{text.strip()!r} needs a unit: '{number}s' or '{number}m'")
    return float(number) * _BUDGET_SCALE_S[unit]


def explore_command(
    scenario: Path,
    schedules: int = 100,
    seed: int = 0,
    jobs: int = 1,
    backend: str = "local",
    beyond: bool = False,
    out: Path | None = None,
    budget: str | None = None,
    quiet: bool = False,
    stream: IO[str] | None = None,
) -> tuple[Any, str]:
    """Validate the options, explore, and return the ExploreResult and the report text.

    Raises:
        ScenarioError: a bad base scenario or option.

    """
    from sim.cli_sweep import text_table
    from sim.explore import explore, kind_table, outcome_table
    from sim.sweep.execute import BACKENDS

    if schedules < 1:
        raise ScenarioError("--schedules", "", f"must be at least 1, got {schedules}")
    if seed < 0:
        raise ScenarioError("--seed", "", f"must be a non-negative integer, got {seed}")
    if jobs < 1:
        raise ScenarioError("--jobs", "", f"must be at least 1, got {jobs}")
    if backend not in BACKENDS:
        raise ScenarioError("--backend", "", f"unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
    budget_s = parse_budget(budget)
    if out is not None:  # the default, results/<name>-explore/, is known only once the scenario is read
        from sim.cli_run import check_out_dir

        check_out_dir(out, "explore.json", "explore")
    result = explore(scenario, schedules, seed, jobs, backend, beyond, out, budget_s, quiet=quiet, stream=stream)
    runs = result.runs
    lines = [
        f"explored {len(runs)} schedule(s) of {scenario} ({result.executed} run now, {result.reused} reused), "
        f"{'beyond' if beyond else 'within'} the bound: {result.bound.describe(beyond)}",
        "",
        text_table(outcome_table(runs)),
        "",
        text_table(kind_table(runs)),
        "",
    ]
    if result.failures:
        lines.append(f"{len(result.failures)} failing schedule(s); reproduce the shrunk ones with:")
        for failure in result.failures:
            if "minimal" in failure:
                why = f"{failure['outcome']} {failure['rule'] or ''}".rstrip()
                lines.append(f"  consim run {failure['minimal']} --strict --trace    # {why}")
    else:
        lines.append("no failures found")
    lines.append(f"runs:   {result.path / 'runs.parquet'}")
    return result, "\n".join(lines)

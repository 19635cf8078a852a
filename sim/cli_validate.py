"""The plain functions behind `consim validate`: check files without running them.

Each file is sorted by its top-level keys (sim/yaml_kind.py) before anything heavier is
imported, so that validating a scenario imports neither the sweep machinery nor the reports;
a scenario's YAML read for that is the YAML it is loaded from (parsed once).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.errors import ScenarioError
from sim.yaml_kind import data_kind, read_or_none

if TYPE_CHECKING:
    from sim.scenario import Scenario

Checked = tuple[Path, list[str], list[str], "Scenario | None"]
"""A checked file: its path, its problems (none when valid), its warnings, and the loaded scenario."""


def check_file(path: Path, strict_timing: bool = False) -> Checked:
    """One file (scenario, sweep or compare spec) with its problems, its warnings (one line each) and the scenario.

    The scenario is None for a sweep file, a compare spec and a file with problems.
    """
    from sim.validate import scenario_warnings, warning_line, warning_lines

    try:
        data = read_or_none(path)
        kind = data_kind(data)
        if kind == "compare":
            from sim.cli_sweep import compare_spec_scenario

            loaded, _ = compare_spec_scenario(path)
            return path, [], warning_lines(loaded, str(path)), None
        if kind == "sweep":
            from sim.sweep import load_sweep

            sweep = load_sweep(path, strict_timing=strict_timing)
            warnings = list(dict.fromkeys(w for task in sweep.tasks for w in scenario_warnings(task.scenario)))
            lines = [warning_line(str(path), w) for w in warnings] + [f"warning: {w}" for w in sweep.timing_warnings]
            return path, [], lines, None
        from sim.scenario import load_scenario, scenario_from_dict

        if isinstance(data, dict) and "extends" not in data:  # read once: what load_scenario would read again
            loaded = scenario_from_dict(data, str(path), strict_timing=strict_timing)
        else:  # unreadable, malformed, not a mapping or extending another file: the loader says why or merges
            loaded = load_scenario(path, strict_timing=strict_timing)
        return path, [], warning_lines(loaded, str(path)), loaded
    except ScenarioError as exc:
        return path, exc.problems, [], None


def validate_files(paths: list[Path], strict_timing: bool = False) -> list[Checked]:
    """Each file (scenario, sweep or compare spec) checked by `check_file`, in order."""
    return [check_file(path, strict_timing) for path in paths]


def timing_lines(scenario: Scenario) -> list[str]:
    """The resolved timing settings of a scenario, one indented `path: value` line each."""
    from sim.timing import timing_settings

    def shown(value: Any) -> str:
        return f"[{', '.join(map(str, value))}]" if isinstance(value, list) else str(value)

    return [f"  {path}: {shown(value)}" for path, value in timing_settings(scenario)]

"""Sweep files: the model, loading, the grid points, and every run resolved and validated up front."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from sim.errors import first_error
from sim.exact_types import ExactScalars
from sim.extends import read_scenario_yaml
from sim.scenario import Scenario, ScenarioError, read_yaml, results_name, scenario_from_dict


class SweepSpec(ExactScalars):
    """A sweep: a base scenario, a grid of dotted paths to value lists, zip groups and seeds."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str
    description: str = ""
    base: str | dict[str, Any]
    """The base scenario: a file relative to the sweep file, or the scenario itself inline."""
    set_: dict[str, Any] = Field(default_factory=dict, alias="set")
    """Fixed dotted overrides applied to the base before the grid (e.g. a shorter duration)."""
    grid: dict[str, Annotated[list[Any], Field(min_length=1)]]
    zip: list[Annotated[list[str], Field(min_length=2)]] = Field(default_factory=list)
    replicates: Annotated[int, Field(ge=1)] | Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)] = 1
    seed: Annotated[int, Field(ge=0)] = 0
    theory: dict[str, str | dict[str, str]] = Field(default_factory=dict)
    """Reference laws drawn on the sweep's plots: metric -> one law, or hue value -> law (e.g. a
    mechanism's), as `consim plot --theory` draws them."""
    """The first seed when `replicates` is a count (seeds seed, seed+1, ...)."""

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        return results_name(value)

    @field_validator("theory")
    @classmethod
    def _known_laws(cls, value: dict[str, str | dict[str, str]]) -> dict[str, str | dict[str, str]]:
        from sim.sweep.laws import LAWS

        for metric, law in value.items():
            for name in [law] if isinstance(law, str) else law.values():
                if name not in LAWS:
                    raise ValueError(f"{metric}: unknown law {name!r} (choose from {', '.join(LAWS)})")
        return value

    @field_validator("grid")
    @classmethod
    def _no_seed_path(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        if "seed" in value:
            raise ValueError("seeds come from 'replicates' (a count or a list of seeds), not from the grid")
        return value

    @field_validator("replicates")
    @classmethod
    def _unique_seeds(cls, value: int | list[int]) -> int | list[int]:
        if isinstance(value, list) and len(set(value)) != len(value):
            raise ValueError("seeds must be unique")
        return value

    @field_validator("zip")
    @classmethod
    def _zip_groups(cls, value: list[list[str]], info: ValidationInfo) -> list[list[str]]:
        grid = info.data.get("grid") or {}
        seen: set[str] = set()
        for i, group in enumerate(value):
            for path in group:
                if path not in grid:
                    raise ValueError(f"group {i}: {path!r} is not a grid path")
                if path in seen:
                    raise ValueError(f"group {i}: {path!r} is in two zip groups")
                seen.add(path)
            lengths = {len(grid[p]) for p in group}
            if len(lengths) > 1:
                sizes = ", ".join(f"{p}: {len(grid[p])}" for p in group)
                raise ValueError(f"group {i}: zipped value lists must have the same length ({sizes})")
        return value

    @property
    def seeds(self) -> list[int]:
        """The replicate seeds."""
        if isinstance(self.replicates, int):
            return list(range(self.seed, self.seed + self.replicates))
        return list(self.replicates)

    def groups(self) -> list[list[str]]:
        """Grid paths grouped: zipped paths together, others alone, in the grid's order."""
        zipped = {path: group for group in self.zip for path in group}
        out: list[list[str]] = []
        for path in self.grid:
            group = zipped.get(path, [path])
            if group not in out:
                out.append(group)
        return out

    def points(self) -> list[dict[str, Any]]:
        """Every grid point as {dotted path: value}: the product over groups, zips in step."""
        axes = []
        for group in self.groups():
            length = len(self.grid[group[0]])
            axes.append([{path: self.grid[path][i] for path in group} for i in range(length)])
        points = []
        for combo in itertools.product(*axes):
            point: dict[str, Any] = {}
            for part in combo:
                point.update(part)
            points.append({path: point[path] for path in self.grid})
        return points


def label(value: Any) -> Any:
    """A parameter value as a table cell: scalars as they are, lists and mappings as flow YAML."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()


def run_key(scenario: Scenario) -> str:
    """A short stable hash of the resolved scenario (which includes the seed) and consim's version.

    The version is in the key so that rows computed by another release are not reused.
    """
    from sim import __version__

    text = __version__ + "\n" + json.dumps(scenario.resolved(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Task:
    """One run of a sweep: where it sits in the grid, its seed, and its resolved scenario."""

    key: str
    point: int
    params: dict[str, Any]
    seed: int
    scenario: Scenario
    keep_dir: str | None = None
    protocol_cls: Any = None


@dataclass
class Sweep:
    """A loaded sweep: its spec, its source, the resolved base data, and every run."""

    spec: SweepSpec
    source: str
    base_path: Path
    base_data: dict[str, Any]
    points: list[dict[str, Any]]
    tasks: list[Task] = field(default_factory=list)
    timing_warnings: list[str] = field(default_factory=list)
    """One line per grid point and timeout that does not fit the network (see sim/timing.py)."""

    @property
    def name(self) -> str:
        """The sweep's name (its results folder)."""
        return self.spec.name

    @property
    def params(self) -> list[str]:
        """The swept dotted paths (the parameter columns of the rows)."""
        return list(self.spec.grid)


def _problem_in(err: ScenarioError, params: dict[str, Any]) -> str | None:
    # The swept path the error is about, if any (the error's field is the path or below it).
    for path in params:
        if err.field == path or err.field.startswith(path + ".") or err.field.startswith(path + "["):
            return path
    return None


def build_sweep(data: Any, source: str = "<sweep>", base_dir: Path | None = None, strict_timing: bool = False) -> Sweep:
    """Validate sweep data, then resolve and validate the scenario of every grid point and seed.

    Raises:
        ScenarioError: one line naming the sweep file, the field and the problem; a bad grid
            value is reported as `grid.<path>[i]` before anything runs. With `strict_timing`, a
            grid point whose timeouts do not fit its network is one too.

    """
    if not isinstance(data, dict):
        raise ScenarioError(source, "", "a sweep must be a YAML mapping")
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as err:
        raise first_error(source, err) from None
    if isinstance(spec.base, dict):
        base_path, base_data = Path(f"{source}#base"), spec.base
    else:
        base_path = (base_dir or Path(".")) / spec.base
        # Read as every scenario file is (UTF-8, no duplicate keys, `extends` resolved): the base's
        # own problem, named with its file, after the sweep's field.
        try:
            base_data = read_scenario_yaml(base_path)
        except ScenarioError as err:
            raise ScenarioError(source, "base", str(err)) from None
    try:
        scenario_from_dict(base_data, str(base_path), spec.set_)
    except ScenarioError as err:
        where = "set" if err.field in spec.set_ else "base"
        raise ScenarioError(source, where, str(err)) from None

    _check_theory_lines(spec, source)
    points = spec.points()
    sweep = Sweep(spec, source, base_path, base_data, points)
    seen: dict[str, tuple[int, int]] = {}
    for index, params in enumerate(points):
        try:
            scenario = scenario_from_dict(base_data, str(base_path), {**spec.set_, **params}, strict_timing=strict_timing)
        except ScenarioError as err:
            path = _problem_in(err, params)
            if path is not None:
                position = next(i for i, v in enumerate(spec.grid[path]) if v == params[path])
                raise ScenarioError(source, f"grid.{path}[{position}]", f"{label(params[path])!r}: {err.problem}") from None
            shown = ", ".join(f"{p}={label(v)}" for p, v in params.items())
            raise ScenarioError(source, "grid", f"point ({shown}): {err.field}: {err.problem}") from None
        shown = ", ".join(f"{p}={label(v)}" for p, v in params.items())
        sweep.timing_warnings += [f"{source}: grid point ({shown}): {w.field}: {w.problem}" for w in scenario.timing_warnings]
        for seed in spec.seeds:
            resolved = scenario.model_copy(update={"seed": seed}, deep=True)
            key = run_key(resolved)
            if key in seen:
                other = points[seen[key][0]]
                shown = ", ".join(f"{p}={label(v)}" for p, v in other.items())
                raise ScenarioError(source, "grid", f"points {seen[key][0]} and {index} give the same scenario ({shown})")
            seen[key] = (index, seed)
            sweep.tasks.append(Task(key, index, params, seed, resolved))
    _check_theory_metrics(spec, sweep.tasks, source)
    _check_theory_axis(spec, source)
    return sweep


def _check_theory_axis(spec: SweepSpec, source: str) -> None:
    """Refuse `theory:` on a sweep whose plots put no positive number on the x axis, before anything runs.

    A law is drawn against x; on mechanism names (or a loss of 0, where log n has no value) drawing
    it failed with a traceback after every run had run.

    Raises:
        ScenarioError: `theory` is given and the default x axis is not a positive number.

    """
    from sim.sweep.axes import column_values, grid_axes, theory_axis_problem

    if not spec.theory:
        return
    x, _, _ = grid_axes({path: [label(v) for v in values] for path, values in spec.grid.items()})
    problem = theory_axis_problem(x, column_values([label(v) for v in spec.grid[x]]))
    if problem is not None:
        raise ScenarioError(source, "theory", f"{problem} (the plots put {x} on the x axis: it has the most values)")


def _check_theory_lines(spec: SweepSpec, source: str) -> None:
    """Refuse a per-line `theory:` law keyed by no line of the sweep's plots, before anything runs.

    The plots draw one line per value of the parameter chosen as hue (sim/sweep/axes.py) and look
    each line's law up by its name; a key that names no line (a typo) was drawn nowhere, silently.

    Raises:
        ScenarioError: `theory.<metric>.<key>` names no value of the hue, or the plots have one line.

    """
    from sim.sweep.axes import grid_axes

    x, hue, lines = grid_axes({path: [label(v) for v in values] for path, values in spec.grid.items()})
    for metric, laws in spec.theory.items():
        if isinstance(laws, str):
            continue
        for key in laws:
            if hue is None:
                problem = f"a law per line needs a second swept parameter (the plots draw one line against {x}); "
                problem += f"give one law, e.g. {metric}: n"
                raise ScenarioError(source, f"theory.{metric}", problem)
            if key not in lines:
                problem = f"{hue} has no value {key!r} in the grid, so no line to draw this law on (lines: {', '.join(lines)})"
                raise ScenarioError(source, f"theory.{metric}.{key}", problem)


def _check_theory_metrics(spec: SweepSpec, tasks: list[Task], source: str) -> None:
    """Refuse a `theory:` metric that no run of the sweep reports, before anything runs.

    Without this a typo passed validation, every run ran, and drawing its plot failed at the end.

    Raises:
        ScenarioError: `theory.<metric>` names no metric of any mechanism the sweep runs.

    """
    from sim.console import HEADLINE
    from sim.sweep.laws import DERIVED_METRICS

    if all(metric in HEADLINE or metric in DERIVED_METRICS for metric in spec.theory):
        return  # keys every run reports: known without summarising, which imports numpy (`consim validate` does not)
    from sim.metrics import summary_keys  # late: it imports pandas and numpy

    firsts: dict[str, Scenario] = {}  # one scenario per mechanism: the summary keys depend on nothing else we can know now
    for task in tasks:
        firsts.setdefault(task.scenario.mechanism or "", task.scenario)
    known: list[str] = []
    for scenario in firsts.values():
        keys = summary_keys(scenario)
        if keys is None:
            return  # not knowable before a run (planes, or a mechanism that needs one): checked when plotting
        known += [key for key in keys if key not in known]
    known += [key for key in DERIVED_METRICS if key not in known]
    for metric in spec.theory:
        if metric not in known:
            runs = " or ".join(name.rsplit(":", 1)[-1] for name in firsts)
            raise ScenarioError(source, f"theory.{metric}", f"no metric {metric!r} in a {runs} run's summary (have: {', '.join(known)})")


def load_sweep(path: str | Path, strict_timing: bool = False) -> Sweep:
    """Read a sweep YAML file; the base scenario path is relative to the sweep file.

    Raises:
        ScenarioError: one line naming the file, the field and the problem.

    """
    return build_sweep(read_yaml(path), str(path), Path(path).parent, strict_timing)


def is_sweep_file(path: str | Path) -> bool:
    """Whether a YAML file is a sweep (it has a top-level `grid:`) rather than a scenario."""
    from sim.yaml_kind import is_sweep_data, read_or_none

    return is_sweep_data(read_or_none(path))

"""The scenario: an experiment's mechanism, nodes, network, faults and workload, loaded from YAML.

Bad input is one line naming the file, the field and the problem.

Its parts (the network, workload, ... models and the duration fields) live in sim/scenario_parts.py,
the fault plan's entries in sim/fault_specs.py; all are importable from here.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field, PrivateAttr, ValidationError, field_validator

from sim.errors import ScenarioError, first_error
from sim.fault_specs import FAULT_ACTIONS, ChurnSpec, CutSpec, FaultSpec
from sim.scenario_parts import (
    DEFAULT_RTT_MS,
    MAX_CLIENTS,
    MAX_NODES,
    PLANE_NAME,
    RTT_CONTEXT,
    BytesPerSecond,
    ConstantDelay,
    CryptoSpec,
    DelaySpec,
    ExponentialDelay,
    LinkSettings,
    LinkSpec,
    LognormalDelay,
    MeasureSpec,
    Ms,
    NetworkSpec,
    NodeSpec,
    NormalDelay,
    ParetoDelay,
    PerSecond,
    PlaneLink,
    PlaneSpec,
    PositiveMs,
    PositivePerSecond,
    Probability,
    ReadyOrMs,
    StorageSpec,
    Strict,
    Targets,
    TimingWarning,
    UniformDelay,
    WorkloadSpec,
    check_count,
    parse_duration_in_context,
    results_name,
)
from sim.units import format_ms
from sim.yaml_kind import DuplicateKeyError, safe_load

__all__ = [
    "DEFAULT_RTT_MS",
    "FAULT_ACTIONS",
    "MAX_CLIENTS",
    "MAX_NODES",
    "PLANE_NAME",
    "RTT_CONTEXT",
    "BytesPerSecond",
    "ChurnSpec",
    "ConstantDelay",
    "CryptoSpec",
    "CutSpec",
    "DelaySpec",
    "ExponentialDelay",
    "FaultSpec",
    "LinkSettings",
    "LinkSpec",
    "LognormalDelay",
    "MeasureSpec",
    "Ms",
    "NetworkSpec",
    "NodeSpec",
    "NormalDelay",
    "ParetoDelay",
    "PerSecond",
    "PlaneLink",
    "PlaneSpec",
    "PositiveMs",
    "PositivePerSecond",
    "Probability",
    "ReadyOrMs",
    "Scenario",
    "ScenarioError",
    "StorageSpec",
    "Strict",
    "Targets",
    "TimingWarning",
    "UniformDelay",
    "WorkloadSpec",
    "load_scenario",
    "parse_duration_in_context",
    "parse_overrides",
    "read_yaml",
    "results_name",
    "scenario_from_dict",
    "set_path",
]


CLOCK_STEP_MS = 0.001
"""The finest time step a run must be able to take (1 µs): timers, delays and CPU costs are that fine."""
LONGEST_DURATION_MS = 2.0**43
"""Where the clock (a double in ms) stops resolving `CLOCK_STEP_MS`: from 2**43 ms (about 278 years) on,
`math.ulp` is 2**-9 ms, so `now + timer` rounds back to `now` and a run never ends."""


def resolvable_duration(value: float) -> float:
    """`value` if the clock can still take a 1 µs step at the end of a run that long.

    `duration: 1e300h` loaded and ran forever: at such a clock value `now + timer == now`, so
    protocol timers never moved time. (`sim.effects._check_pace` refuses a workload gap the
    clock cannot add; this refuses the run's own clock, with no workload needed.)

    Raises:
        ValueError: the one-line problem, naming the limit.

    """
    step = math.ulp(value)
    if step > CLOCK_STEP_MS:
        raise ValueError(
            f"{format_ms(value)} is too long for the clock: its resolution there is {step:.3g} ms, coarser than 1 µs,"
            " so timers could not advance time and the run would stand still"
            f" (it must be below {format_ms(LONGEST_DURATION_MS)}, about 278 years)"
        )
    return value


class Scenario(Strict):
    """A whole experiment: mechanism, agents, network, faults and workload."""

    name: str
    description: str = ""
    mechanism: str | None = None
    """Required unless the scenario declares `planes` (then each plane names its own)."""
    nodes: Annotated[int, Field(ge=1)] | list[NodeSpec] = 3
    seed: Annotated[int, Field(ge=0)] = 0
    duration: PositiveMs = 10_000.0
    protocol: dict[str, Any] = Field(default_factory=dict)
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    faults: list[FaultSpec] = Field(default_factory=list)
    workload: WorkloadSpec | None = Field(default_factory=WorkloadSpec)
    measure: MeasureSpec = Field(default_factory=MeasureSpec)
    crypto: CryptoSpec | None = None
    storage: StorageSpec | None = None
    planes: list[PlaneSpec] | None = None
    links: list[PlaneLink] | None = None
    _timing_warnings: list[TimingWarning] = PrivateAttr(default_factory=list)
    _plane_scenarios: dict[str, Scenario] = PrivateAttr(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _results_name(cls, value: str) -> str:
        return results_name(value)

    @field_validator("duration")
    @classmethod
    def _resolvable_duration(cls, value: float) -> float:
        return resolvable_duration(value)

    @field_validator("nodes")
    @classmethod
    def _count_or_unique_names(cls, value: int | list[NodeSpec]) -> int | list[NodeSpec]:
        if isinstance(value, int):
            # Checked here, after the union has picked the count: every check after this one builds the names.
            return check_count(value, MAX_NODES)
        if isinstance(value, list):
            names = [spec.name for spec in value]
            if not names:
                raise ValueError("needs at least one node")
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"duplicate node names: {', '.join(dupes)}")
        return value

    @property
    def node_specs(self) -> list[NodeSpec]:
        """Every node with its name and weight ('n0'.. when only a count was given)."""
        if isinstance(self.nodes, int):
            return [NodeSpec(name=f"n{i}") for i in range(self.nodes)]
        return list(self.nodes)

    @property
    def node_names(self) -> list[str]:
        """Node names in scenario order."""
        if isinstance(self.nodes, int):  # no NodeSpec per node: a validated model each costs µs, at 100,000 nodes seconds
            return [f"n{i}" for i in range(self.nodes)]
        return [spec.name for spec in self.nodes]

    @property
    def n(self) -> int:
        """Number of nodes."""
        return self.nodes if isinstance(self.nodes, int) else len(self.nodes)

    @property
    def plane_scenarios(self) -> dict[str, Scenario]:
        """Each plane as a one-mechanism scenario on its nodes, by plane name (empty without planes)."""
        return dict(self._plane_scenarios)

    @property
    def timing_warnings(self) -> list[TimingWarning]:
        """Timeouts that do not fit the network, found at load time (see `check_timing`)."""
        return list(self._timing_warnings)

    def resolved(self) -> dict[str, Any]:
        """The scenario with every default filled in, as plain YAML-ready data."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# --- loading -----------------------------------------------------------------------------


def set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set `a.b.c` (list items as integers) in nested data, creating mappings as needed.

    Raises:
        ValueError: the path indexes a list that is missing or too short, or runs through a value
            that is neither a mapping nor a list.

    """
    keys = dotted.split(".")
    cursor: Any = data
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        here = ".".join(keys[:depth])
        if isinstance(cursor, list):
            if not key.isdigit():
                raise ValueError(f"'{here}' is a list: expected an item number, got {key!r}")
            if int(key) >= len(cursor):
                raise ValueError(f"'{here}' has {len(cursor)} item{'s' if len(cursor) != 1 else ''}; there is no item {key}")
            if last:
                cursor[int(key)] = value
                return
            cursor = cursor[int(key)]
        elif isinstance(cursor, dict):
            if last:
                cursor[key] = value
                return
            if cursor.get(key) is None:
                if keys[depth + 1].isdigit():
                    # A list item can only be changed, not created: '--set faults.5.at=1s' needs faults[5].
                    raise ValueError(f"there is no '{'.'.join(keys[: depth + 1])}' list to change item {keys[depth + 1]} of")
                cursor[key] = {}
            cursor = cursor[key]
        else:
            raise ValueError(f"'{here}' is not a mapping")


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """Parse `path=value` strings (values read as YAML) into a dict of dotted paths."""
    overrides: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ScenarioError("--set", item, "expected path=value")
        path, raw = item.split("=", 1)
        if not path.strip():
            raise ScenarioError("--set", item, "expected path=value, and the path before '=' is empty")
        try:
            overrides[path.strip()] = safe_load(raw)
        except DuplicateKeyError as exc:
            raise ScenarioError("--set", f"{path.strip()}.{exc.field}", "duplicate key: say it once") from None
        except yaml.YAMLError:
            overrides[path.strip()] = raw
    return overrides


def scenario_from_dict(
    data: Any,
    source: str = "<scenario>",
    overrides: dict[str, Any] | None = None,
    seed: int | None = None,
    strict_timing: bool = False,
    *,
    plane_of_fleet: bool = False,
) -> Scenario:
    """Validate raw scenario data (with optional dotted overrides) into a `Scenario`.

    Timeouts that do not fit the network are kept in `scenario.timing_warnings`, or raised with
    `strict_timing`. `plane_of_fleet`: the data is one plane's view of a fleet, whose faults are
    the fleet's (see `sim.validate.check_scenario`).

    Raises:
        ScenarioError: one line naming the source, the field path and the problem.

    """
    if not isinstance(data, dict):
        raise ScenarioError(source, "", "a scenario must be a YAML mapping")
    data = copy.deepcopy(data)
    for path, value in (overrides or {}).items():
        try:
            set_path(data, path, value)
        except (ValueError, IndexError, TypeError) as exc:
            raise ScenarioError(source, path, f"cannot override: {exc}") from None
    if seed is not None:
        data["seed"] = seed
    try:
        # 'rtt' is unknown until the network is: protocol and workload settings resolve it later.
        scenario = Scenario.model_validate(data, context={RTT_CONTEXT: None})
    except ValidationError as err:
        raise first_error(source, err) from None
    from sim.validate import check_scenario  # late: the registries import protocol modules

    check_scenario(scenario, source, plane_of_fleet)
    if strict_timing and scenario.timing_warnings:
        raise scenario.timing_warnings[0].error()
    return scenario


def load_scenario(
    path: str | Path, overrides: dict[str, Any] | list[str] | None = None, seed: int | None = None, strict_timing: bool = False
) -> Scenario:
    """Read and validate a YAML scenario file (see `read_scenario`, which also returns its data).

    Args:
        path: the YAML file.
        overrides: dotted paths to values (or `path=value` strings) applied before validation.
        seed: replaces the scenario's seed when given.
        strict_timing: a timeout that does not fit the network is an error, not a warning.

    Raises:
        ScenarioError: one line naming the file, the field path and the problem.

    """
    return read_scenario(path, overrides, seed, strict_timing)[1]


def read_scenario(
    path: str | Path, overrides: dict[str, Any] | list[str] | None = None, seed: int | None = None, strict_timing: bool = False
) -> tuple[dict[str, Any], Scenario]:
    """Read a scenario file the one way every command does: `extends:` resolved, overrides applied, validated.

    A command that adapts the scenario further (compare, explore) needs the data as written, not
    only the validated `Scenario` (whose `resolved()` fills in every default): both come from here,
    so no command reads the raw YAML and misses the `extends:` that `run` and `validate` resolve.

    Args:
        path: the YAML file.
        overrides: dotted paths to values (or `path=value` strings) applied before validation.
        seed: replaces the scenario's seed when given.
        strict_timing: a timeout that does not fit the network is an error, not a warning.

    Returns:
        The data (its base merged in, the overrides and seed applied, no defaults filled in) and
        the validated scenario.

    Raises:
        ScenarioError: one line naming the file that wrote the field at fault (a base file, for a
            mistake written there), the field path and the problem.

    """
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
    from sim.extends import attribute, read_with_origins, without  # late: it reads files with this module's reader

    data, origins = read_with_origins(path)
    for dotted in overrides or {}:  # a value given with --set is the command line's, wherever the field was written
        origins = without(origins, dotted)
    try:
        scenario = scenario_from_dict(data, str(path), overrides, seed, strict_timing)
    except ScenarioError as error:
        raise attribute(error, origins) from None
    # Validation worked on its own copy; the caller's data gets the same changes (they applied cleanly there).
    for dotted, value in (overrides or {}).items():
        set_path(data, dotted, value)
    if seed is not None:
        data["seed"] = seed
    return data, scenario


def read_yaml(path: str | Path) -> Any:
    """Read a YAML file safely.

    Raises:
        ScenarioError: the file cannot be read, is not UTF-8, is not well-formed YAML (with line and
            column) or repeats a key in a mapping.

    """
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ScenarioError(source, "", f"cannot read file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Saved in Latin-1 or the like, or not text at all: say where, as the file's own line.
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ScenarioError(source, "", f"not UTF-8 text: byte 0x{raw[exc.start]:02x} on line {line}; save the file as UTF-8") from None
    try:
        return safe_load(text)
    except DuplicateKeyError as exc:
        problem = f"duplicate key on line {exc.line} (first on line {exc.first_line}); YAML would silently keep only the last"
        raise ScenarioError(source, exc.field, problem) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(source, "", f"malformed YAML: {where}{problem}") from None

"""Scenario models (pydantic) and loading from YAML, with one-line errors for bad input."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sim.errors import ScenarioError, first_error
from sim.units import format_ms, parse_bandwidth, parse_rate, parse_scenario_duration, parse_size

DEFAULT_RTT_MS = 2.0
"""The round trip of the default network (1 ms each way): what 'rtt' means in a protocol or
workload config built without a scenario (e.g. `RaftConfig()` in a unit test)."""
RTT_CONTEXT = "rtt"
"""Validation-context key carrying the scenario's round trip in ms (None: 'rtt' not allowed here)."""


def parse_duration_in_context(value: object, info: ValidationInfo) -> float:
    """A duration; 'rtt' means the round trip given in the validation context (see `RTT_CONTEXT`)."""
    context = info.context if isinstance(info.context, dict) else {}
    return parse_scenario_duration(value, context.get(RTT_CONTEXT, DEFAULT_RTT_MS))


Ms = Annotated[float, BeforeValidator(parse_duration_in_context), Field(ge=0), PlainSerializer(format_ms, return_type=str)]
"""A non-negative duration in milliseconds, written as '150ms', '2s', '8rtt' or 'max(300ms, 8rtt)' in YAML (a bare
number is refused)."""
PerSecond = Annotated[float, BeforeValidator(parse_rate), Field(ge=0)]
"""A non-negative rate in events per second, written as '200/s'."""
BytesPerSecond = Annotated[float, BeforeValidator(parse_bandwidth), Field(gt=0)]
Probability = Annotated[float, Field(ge=0, le=1)]
Targets = str | list[str]


class Strict(BaseModel):
    """Base for scenario models: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --- network ---------------------------------------------------------------------------


class ConstantDelay(Strict):
    """Every message takes exactly `value`."""

    dist: Literal["constant"] = "constant"
    value: Ms = 0.0


class UniformDelay(Strict):
    """Delay uniform in [low, high]."""

    dist: Literal["uniform"]
    low: Ms
    high: Ms

    @model_validator(mode="after")
    def _ordered(self) -> UniformDelay:
        if self.high < self.low:
            raise ValueError("high must be >= low")
        return self


class NormalDelay(Strict):
    """Normal delay, truncated at 0."""

    dist: Literal["normal"]
    mean: Ms
    std: Ms


class LognormalDelay(Strict):
    """Log-normal delay with the given median and shape sigma."""

    dist: Literal["lognormal"]
    median: Ms
    sigma: Annotated[float, Field(ge=0)] = 0.5


class ExponentialDelay(Strict):
    """Exponential delay with the given mean, plus an optional fixed minimum."""

    dist: Literal["exponential"]
    mean: Ms
    min: Ms = 0.0


class ParetoDelay(Strict):
    """Pareto (heavy-tailed) delay: scale is the minimum, shape the tail index alpha."""

    dist: Literal["pareto"]
    scale: Ms
    shape: Annotated[float, Field(gt=0)] = 2.0


def _delay_shorthand(value: object) -> object:
    # "5ms" or 5 is a constant delay; keeps simple scenarios short.
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return {"dist": "constant", "value": value}
    return value


DelaySpec = Annotated[
    ConstantDelay | UniformDelay | NormalDelay | LognormalDelay | ExponentialDelay | ParetoDelay,
    Field(discriminator="dist"),
    BeforeValidator(_delay_shorthand),
]


class LinkSettings(Strict):
    """Settings that one link may override; unset fields keep the network default."""

    delay: DelaySpec | None = None
    loss: Probability | None = None
    duplicate: Probability | None = None
    bandwidth: BytesPerSecond | None = None
    ordered: bool | None = None


class LinkSpec(LinkSettings):
    """A per-link override; `from`/`to` are node names, lists of them, or '*'."""

    from_: Targets = Field(alias="from")
    to: Targets


class NetworkSpec(Strict):
    """Default link behaviour plus per-link overrides."""

    delay: DelaySpec = Field(default_factory=lambda: ConstantDelay(value="1ms"))
    loss: Probability = 0.0
    duplicate: Probability = 0.0
    ordered: bool = False
    bandwidth: BytesPerSecond | None = None
    links: list[LinkSpec] = Field(default_factory=list)
    rtt: Annotated[Ms, Field(gt=0)] | None = None
    """What 'rtt' stands for in timeouts: computed at load time (sim/timing.py) unless given."""


# --- nodes, faults, workload -------------------------------------------------------------


class NodeSpec(Strict):
    """One agent: a unique name and a voting weight."""

    name: str
    weight: Annotated[float, Field(gt=0)] = 1.0


class CutSpec(Strict):
    """A one-way cut: messages from `from` to `to` are dropped."""

    from_: Targets = Field(alias="from")
    to: Targets


class ChurnSpec(Strict):
    """Random crashes and recoveries: exponential up and down times."""

    mtbf: Annotated[Ms, Field(gt=0)]
    mttr: Annotated[Ms, Field(gt=0)]
    max_down: Annotated[int, Field(ge=1)] = 1
    nodes: Targets = "all"


FAULT_ACTIONS = ("crash", "recover", "partition", "cut", "heal", "set_link", "churn", "byzantine")


class FaultSpec(Strict):
    """One entry of the fault plan: one action, with its timing."""

    at: Ms | None = None
    every: Annotated[Ms, Field(gt=0)] | None = None
    start: Ms | None = None
    until: Ms | None = None
    jitter: Ms = 0.0
    for_: Ms | None = Field(default=None, alias="for")
    crash: Targets | None = None
    recover: Targets | None = None
    partition: list[list[str]] | None = None
    cut: CutSpec | None = None
    heal: Literal["all"] | bool | None = None
    set_link: LinkSpec | None = None
    churn: ChurnSpec | None = None
    byzantine: Targets | None = None
    behaviour: str | None = None
    from_: Ms | None = Field(default=None, alias="from")
    messages: list[str] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    plane: str | None = None
    """In a scenario with planes: the plane a byzantine entry lies in, or whose leader `leader` means."""

    @property
    def action(self) -> str:
        """The one action this entry performs."""
        return next(name for name in FAULT_ACTIONS if getattr(self, name) is not None)

    @model_validator(mode="after")
    def _one_action(self) -> FaultSpec:
        actions = [name for name in FAULT_ACTIONS if getattr(self, name) is not None]
        if len(actions) != 1:
            raise ValueError(f"each fault needs exactly one of {', '.join(FAULT_ACTIONS)}; got {actions or 'none'}")
        action = actions[0]
        if action == "byzantine":
            if self.behaviour is None:
                raise ValueError("a byzantine fault needs a 'behaviour'")
        elif self.behaviour is not None or self.messages is not None or self.from_ is not None:
            raise ValueError("'behaviour', 'messages' and 'from' belong to byzantine faults only")
        if action not in ("churn", "byzantine") and self.at is None and self.every is None:
            raise ValueError(f"a {action} fault needs 'at' or 'every'")
        if self.at is not None and self.every is not None:
            raise ValueError("give either 'at' or 'every', not both")
        if self.partition is not None and len(self.partition) < 2:
            raise ValueError("a partition needs at least two groups")
        return self


class WorkloadSpec(BaseModel):
    """The client workload; `kind` picks a registered workload whose own model checks the rest."""

    model_config = ConfigDict(extra="allow")
    kind: str = "poisson"


def _ready_or_duration(value: object) -> object:
    if value == "ready":
        return value
    try:
        return parse_scenario_duration(value)
    except ValueError:
        raise ValueError(f"expected 'ready' or a duration such as '2s', got {value!r}") from None


def _ready_or_ms(value: float | str) -> str:
    return value if isinstance(value, str) else format_ms(value)


ReadyOrMs = Annotated[float | Literal["ready"], BeforeValidator(_ready_or_duration), PlainSerializer(_ready_or_ms, return_type=str)]


class MeasureSpec(Strict):
    """The measurement window of latency and throughput.

    `from: ready` (the default) starts it when the mechanism can first decide a command (e.g. its
    first leader is elected), so start-up is not mistaken for the mechanism's latency; `until`
    defaults to the end of the workload (or of the run).
    """

    from_: ReadyOrMs = Field(default="ready", alias="from")
    until: Annotated[Ms, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> MeasureSpec:
        if self.until is not None and not isinstance(self.from_, str) and self.until <= self.from_:
            raise ValueError("'until' must be after 'from'")
        return self

    @field_validator("from_")
    @classmethod
    def _non_negative(cls, value: float | str) -> float | str:
        if not isinstance(value, str) and value < 0:
            raise ValueError("must be 'ready' or a duration >= 0")
        return value


class CryptoSpec(Strict):
    """CPU time a node spends signing each message it sends and verifying each it receives."""

    sign: Ms = 0.0
    verify: Ms = 0.0


class StorageSpec(Strict):
    """Time a node takes to make a write to stable storage durable (an fsync)."""

    write: Annotated[Ms, Field(ge=0)] = 0.0


@dataclass(frozen=True)
class TimingWarning:
    """A timeout that does not fit the network: printed as one line, or raised with --strict-timing."""

    source: str
    field: str
    problem: str

    def __str__(self) -> str:
        return str(self.error())

    def error(self) -> ScenarioError:
        """The same, as the one-line error that --strict-timing raises."""
        return ScenarioError(self.source, self.field, self.problem)


PLANE_NAME = r"^[A-Za-z][A-Za-z0-9_-]*$"
"""A plane's name: it prefixes the plane's summary keys (`control.latency_ms_p50`), so no dots."""


class PlaneSpec(Strict):
    """One mechanism of a run with several ("planes"): its settings, workload and the nodes it runs on."""

    name: Annotated[str, Field(pattern=PLANE_NAME)]
    mechanism: str
    protocol: dict[str, Any] = Field(default_factory=dict)
    workload: WorkloadSpec | None = Field(default_factory=lambda: WorkloadSpec(kind="none"))
    nodes: Literal["all"] | Annotated[int, Field(ge=1)] | list[str] = "all"
    """Every node (default), the first k nodes, or a list of node names."""
    requires: dict[str, Any] | None = None
    """What this plane needs (the `requires:` of a compare spec, e.g. {safety: crash, latency_p99: 200ms});
    the report checks the run against it and `consim compare` ranks a plane's candidates by it."""


class PlaneLink(Strict):
    """A plane's decisions feed another plane's workload: each decision matching `when` submits one command."""

    from_: str = Field(alias="from")
    to: str
    when: str | None = None
    """The decided value that triggers (default: any; `linked`: only commands a link submitted to `from`)."""
    submit: str | None = None
    """The command submitted to the `to` plane (e.g. "load model-b on 20 servers")."""
    write: str | None = None
    """The key written in the `to` plane (a gossip store); its value is the command's id."""
    after: Ms = 0.0
    """Time the decision takes to apply before it feeds the next plane (e.g. loading a model)."""
    size: Annotated[int, BeforeValidator(parse_size), Field(ge=0)] | None = None
    """The size in bytes of what the link sends: with `write`, the value (e.g. '4KB', a routing table) carried by every
    gossip message that holds it; with `submit`, the command's payload (e.g. '64KB', a model manifest) carried by every
    message that holds the command (a ClientRequest, Raft's AppendEntries, Multi-Paxos's Accept, PBFT's PrePrepare)."""

    @model_validator(mode="after")
    def _one_action(self) -> PlaneLink:
        if (self.submit is None) == (self.write is None):
            raise ValueError("a link needs exactly one of 'submit' or 'write'")
        return self


class Scenario(Strict):
    """A whole experiment: mechanism, agents, network, faults and workload."""

    name: str
    description: str = ""
    mechanism: str | None = None
    """Required unless the scenario declares `planes` (then each plane names its own)."""
    nodes: Annotated[int, Field(ge=1)] | list[NodeSpec] = 3
    seed: Annotated[int, Field(ge=0)] = 0
    duration: Annotated[Ms, Field(gt=0)] = 10_000.0
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

    @field_validator("nodes")
    @classmethod
    def _unique_names(cls, value: int | list[NodeSpec]) -> int | list[NodeSpec]:
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
        try:
            overrides[path.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError:
            overrides[path.strip()] = raw
    return overrides


def scenario_from_dict(
    data: Any, source: str = "<scenario>", overrides: dict[str, Any] | None = None, seed: int | None = None, strict_timing: bool = False
) -> Scenario:
    """Validate raw scenario data (with optional dotted overrides) into a `Scenario`.

    Timeouts that do not fit the network are kept in `scenario.timing_warnings`, or raised with
    `strict_timing`.

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

    check_scenario(scenario, source)
    if strict_timing and scenario.timing_warnings:
        raise scenario.timing_warnings[0].error()
    return scenario


def load_scenario(
    path: str | Path, overrides: dict[str, Any] | list[str] | None = None, seed: int | None = None, strict_timing: bool = False
) -> Scenario:
    """Read and validate a YAML scenario file.

    Args:
        path: the YAML file.
        overrides: dotted paths to values (or `path=value` strings) applied before validation.
        seed: replaces the scenario's seed when given.
        strict_timing: a timeout that does not fit the network is an error, not a warning.

    Raises:
        ScenarioError: one line naming the file, the field path and the problem.

    """
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
    from sim.extends import read_scenario_yaml  # late: it reads files with this module's reader

    return scenario_from_dict(read_scenario_yaml(path), str(path), overrides, seed, strict_timing)


def read_yaml(path: str | Path) -> Any:
    """Read a YAML file safely.

    Raises:
        ScenarioError: the file cannot be read or is not well-formed YAML (with line and column).

    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(source, "", f"cannot read file: {exc.strerror or exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(source, "", f"malformed YAML: {where}{problem}") from None

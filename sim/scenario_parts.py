"""The parts of a scenario (pydantic models): the network, nodes, workload, measurement, planes.

Also the field types they share (durations, rates, probabilities) and the CPU and storage costs;
the fault plan's entries are in sim/fault_specs.py.

`sim.scenario` assembles them into the `Scenario` and loads it from YAML; import them from there.
"""

# No `from __future__ import annotations` here: pydantic would evaluate every field's annotation
# again from its text when each class is made (0.7% of `consim validate`'s instructions, issue 13).
import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from sim.delays import overflow
from sim.errors import ScenarioError
from sim.exact_types import ExactScalars
from sim.units import NotFiniteError, format_ms, parse_bandwidth, parse_rate, parse_scenario_duration, parse_size

DEFAULT_RTT_MS = 2.0
"""The round trip of the default network (1 ms each way): what 'rtt' means in a protocol or
workload config built without a scenario (e.g. `RaftConfig()` in a unit test)."""
RTT_CONTEXT = "rtt"
"""Validation-context key carrying the scenario's round trip in ms (None: 'rtt' not allowed here)."""
RTT_CAUSE_CONTEXT = "rtt_cause"
"""Validation-context key: what makes most of that round trip (`NetworkTiming.cause`), for errors on timeouts derived from it."""


FOLDER_CONTEXT = "folder"
"""Validation-context key carrying the folder of the scenario file (a `Path`): where a relative file path
it names is found (absent: the working folder)."""


def anchored_path(path: str, folder: Path) -> str:
    """`path` as an absolute path: a relative one is taken from `folder`; `~` is expanded, an absolute one kept."""
    written = Path(path).expanduser()
    if written.is_absolute():
        return written.as_posix()
    return (folder / written).resolve().as_posix()


def parse_duration_in_context(value: object, info: ValidationInfo) -> float:
    """A duration; 'rtt' means the round trip given in the validation context (see `RTT_CONTEXT`)."""
    context = info.context if isinstance(info.context, dict) else {}
    return parse_scenario_duration(value, context.get(RTT_CONTEXT, DEFAULT_RTT_MS))


Ms = Annotated[float, BeforeValidator(parse_duration_in_context), Field(ge=0), PlainSerializer(format_ms, return_type=str)]
"""A non-negative duration in milliseconds, written as '150ms', '2s', '8rtt' or 'max(300ms, 8rtt)' in YAML (a bare
number is refused)."""
PositiveMs = Annotated[float, BeforeValidator(parse_duration_in_context), Field(gt=0), PlainSerializer(format_ms, return_type=str)]
"""A duration above zero (a period, a timeout, a run's length), written as `Ms` is.

Its own type rather than `Annotated[Ms, Field(gt=0)]`: that stacks Ms's `>= 0` check before the `> 0`
one, so '-5ms' was told "must be >= 0" and then 0 was refused all the same."""
PerSecond = Annotated[float, BeforeValidator(parse_rate), Field(ge=0)]
"""A non-negative rate in events per second, written as '200/s'."""
PositivePerSecond = Annotated[float, BeforeValidator(parse_rate), Field(gt=0)]
"""A rate above zero, written as `PerSecond` is (its own type for the reason `PositiveMs` is)."""
BytesPerSecond = Annotated[float, BeforeValidator(parse_bandwidth), Field(gt=0)]
Probability = Annotated[float, Field(ge=0, le=1)]
Targets = str | list[str]


class Strict(ExactScalars):
    """Base for scenario models: unknown fields are errors."""

    # Built on first use: validating a `Scenario` builds the parts it holds, once, inside its own schema.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)


# --- network ---------------------------------------------------------------------------


class _DrawnDelay(Strict):
    """A delay drawn from a law: refused when a draw can overflow to infinity (see `sim.delays.overflow`)."""

    @model_validator(mode="after")
    def _finite_draws(self) -> "_DrawnDelay":
        problem = overflow(self)
        if problem is not None:
            # Raised from a model validator, a ValueError would name the whole delay: this names the field.
            field, text = problem
            detail = InitErrorDetails(type=PydanticCustomError("value_error", text), loc=(field,), input=getattr(self, field))
            raise ValidationError.from_exception_data(type(self).__name__, [detail])
        return self


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
    def _ordered(self) -> "UniformDelay":
        if self.high < self.low:
            raise ValueError("high must be >= low")
        return self


class NormalDelay(_DrawnDelay):
    """Normal delay, truncated at 0."""

    dist: Literal["normal"]
    mean: Ms
    std: Ms


class LognormalDelay(_DrawnDelay):
    """Log-normal delay with the given median and shape sigma."""

    dist: Literal["lognormal"]
    median: Ms
    sigma: Annotated[float, Field(ge=0)] = 0.5


class ExponentialDelay(_DrawnDelay):
    """Exponential delay with the given mean, plus an optional fixed minimum."""

    dist: Literal["exponential"]
    mean: Ms
    min: Ms = 0.0


class ParetoDelay(_DrawnDelay):
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
    rtt: PositiveMs | None = None
    """What 'rtt' stands for in timeouts: computed at load time (sim/timing.py) unless given."""


# --- nodes, workload -------------------------------------------------------------------


MAX_NODES = 10_000_000
"""The most nodes a scenario may have: ten times the largest benchmark (1,000,000 gossip nodes in about
3.2 GB). The count is checked before any node name is built: `nodes: 100000000000` used to build
names until memory ran out."""
MAX_CLIENTS = 10_000_000
"""The most client endpoints a workload may have (each is an object of the run, as each node is)."""


def check_count(value: int, limit: int) -> int:
    """`value` if it is at most `limit`.

    Raises:
        ValueError: the one-line problem, with the limit written as a reader counts it.

    """
    if value > limit:
        raise ValueError(f"must be at most {limit:,} (got {value})")
    return value


FAULT_WORDS = MappingProxyType(
    {
        "leader": "any node that leads when a fault strikes",
        "all": "every node",
        "random": "a node drawn when a fault strikes",
        "rest": "every node no other partition group names",
    }
)
"""Words a fault plan reads before node names (sim/faults.py): a node so named could never be targeted."""
CLIENT_NAME = re.compile(r"client[0-9]+")
"""The names of a workload's client endpoints (`client0`, `client1`, ...: sim/kernel.py), which share the network with the nodes."""


def node_name(value: str) -> str:
    """`value` if a node may bear it: not a fault-plan word, nor a marker of the tables, nor a client's name.

    Each was accepted before and lost to the reserved meaning: `crash: leader` crashed the leader,
    not a node named `leader`; events of a node named '' read as the network's; `*` is the messages
    table's aggregated destination (and every node in a link). A ',' or '|' inside a name broke
    what splits joined names: 'a,b' under a partition gave gossip a false convergence violation,
    'p|1' crashed an attestation run (its claims are 'node|true').

    Raises:
        ValueError: the one-line problem.

    """
    if value in FAULT_WORDS:
        raise ValueError(f"{value!r} is a word of the fault plan ({FAULT_WORDS[value]}): name the node otherwise")
    if value == "":
        raise ValueError("must not be empty: the events table leaves the node empty for the network's own events")
    if value == "*":
        raise ValueError("'*' is reserved: the messages table writes it for destinations it aggregates, and links for every node")
    if CLIENT_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is the name of a workload client (client0, client1, ...): name the node otherwise")
    if "," in value or "|" in value:
        # Split again where they are read: gossip's checks, the partition plots and an attestation claim's op.
        raise ValueError(
            "must not contain ',' or '|': the run's tables join node names with ',' (a partition's groups with ' | ')"
            f" and a claim names its node before '|' (got {value!r})"
        )
    return value


class NodeSpec(Strict):
    """One agent: a unique name and a voting weight."""

    name: Annotated[str, AfterValidator(node_name)]
    weight: Annotated[float, Field(gt=0)] = 1.0


class WorkloadSpec(BaseModel):
    """The client workload; `kind` picks a registered workload whose own model checks the rest."""

    model_config = ConfigDict(extra="allow")
    kind: str = "poisson"


def _ready_or_duration(value: object) -> object:
    if value == "ready":
        return value
    try:
        return parse_scenario_duration(value)
    except NotFiniteError:
        raise  # a duration, just not a usable one: say that rather than what else it could have been
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
    until: PositiveMs | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "MeasureSpec":
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


RESULTS_NAME_MAX = 100
RESULTS_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{RESULTS_NAME_MAX - 1}}}")
"""A scenario's or a sweep's name, the folder it writes by default (`results/<name>/`): one plain
folder name, so `../x`, `/tmp/x` or a hidden `.x` cannot send results elsewhere."""


def results_name(value: str) -> str:
    """`value` if it may name a results folder (see `RESULTS_NAME`).

    Raises:
        ValueError: the one-line problem, naming the rule and the value.

    """
    if not RESULTS_NAME.fullmatch(value):
        raise ValueError(
            "must be a plain folder name (it names results/<name>/): up to 100 letters, digits, '.', '_' or '-',"
            f" starting with a letter or digit (got {value!r})"
        )
    return value


def derived_name(name: str, suffix: str) -> str:
    """`name` + `suffix` (e.g. explore's `-s3-minimal`), `name` cut so that the whole stays a valid results name."""
    return name[: RESULTS_NAME_MAX - len(suffix)] + suffix


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
    def _one_action(self) -> "PlaneLink":
        if (self.submit is None) == (self.write is None):
            raise ValueError("a link needs exactly one of 'submit' or 'write'")
        return self

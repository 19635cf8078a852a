"""The mechanism API: messages, the Context, the Protocol base class and its declarations, `register`.

The registry that reads these declarations once into a `Mechanism` record is `sim.protocols.registry`;
`mechanisms`, `get_mechanism` and `get_protocol` here are thin doors to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from typing import Protocol as TypingProtocol

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    import random

    import numpy as np

    from sim.protocols.registry import Mechanism
    from sim.scenario import Scenario
    from sim.timing import NetworkTiming
    from sim.workload import Client

API_VERSION = "1.0"
"""Version of the public mechanism API (Protocol, Context, Message, ProtocolConfig, the hooks, the record).

The major number changes when a documented name is removed or changes meaning; the minor one when
one is added. A mechanism outside the package can check it (see README, "The mechanism API").
"""

NOOP = "noop"
"""The value a protocol decides to fill a slot that no client asked for."""
STATE_INSTALLED = "state_installed"
"""Event kind: the node adopted a state covering every slot up to `slot` without executing them."""


class Command(str):
    """A command id whose command carries a payload of `payload` bytes (e.g. a model manifest).

    It compares, hashes and prints as its id, so it goes wherever an id goes (a log entry, a
    decision, a request table); a message that carries the command itself (Raft's AppendEntries,
    Multi-Paxos's Accept, PBFT's request in a PrePrepare, a ClientRequest) adds `payload_bytes`.
    """

    payload: int

    def __new__(cls, value: str, payload: int) -> Command:  # noqa: D102 - the id and the payload's size
        self = super().__new__(cls, value)
        self.payload = payload
        return self

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        """Pickles (a sweep's workers, a deep copy) keep the payload."""
        return (Command, (str(self), self.payload))


def payload_bytes(value: str) -> int:
    """The payload a command id carries (a `Command`'s), 0 for a plain id or value."""
    return value.payload if type(value) is Command else 0


def snake_case(name: str) -> str:
    """`AppendEntries` -> `append_entries`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _slot_init(cls: type) -> Any:
    """A faster `__init__` for a frozen slots dataclass: the same parameters, each stored straight into its slot.

    A frozen dataclass's own `__init__` stores each field with `object.__setattr__`, looked up
    afresh per field, to get past the `__setattr__` that makes it frozen; a message is built for
    almost every send, and that cost twice a plain class's. This one calls each slot's setter
    directly, so the instance is as frozen as before (assignment still raises). None (keep the
    dataclass's) for anything beyond plain fields with plain defaults: a `__post_init__`,
    default factories, keyword-only or init=False fields, InitVars.
    """
    import inspect
    from dataclasses import MISSING, fields
    from types import MemberDescriptorType

    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    if not params.frozen or hasattr(cls, "__post_init__"):
        return None
    own = fields(cls)
    expected = [name for name in inspect.signature(cls.__init__).parameters][1:]  # type: ignore[misc]
    if expected != [f.name for f in own]:
        return None  # InitVars or init=False fields
    names: dict[str, Any] = {}
    args, body = [], []
    for i, f in enumerate(own):
        if f.kw_only or f.default_factory is not MISSING:
            return None
        slot = next((klass.__dict__[f.name] for klass in cls.__mro__ if f.name in klass.__dict__), None)
        if type(slot) is not MemberDescriptorType:
            return None
        names[f"_set{i}"] = slot.__set__
        if f.default is MISSING:
            args.append(f.name)
        else:
            names[f"_default{i}"] = f.default
            args.append(f"{f.name}=_default{i}")
        body.append(f"    _set{i}(self, {f.name})")
    source = f"def __init__(self, {', '.join(args)}):\n" + ("\n".join(body) or "    pass") + "\n"
    exec(source, names)  # noqa: S102 - code built from the field names alone, as dataclasses does
    init = names["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


@dataclass(frozen=True, slots=True)
class Message:
    """Base of every protocol message: small, frozen, with a snake_case `kind` and a size."""

    kind: ClassVar[str] = "message"
    header_bytes: ClassVar[int] = 48
    _header_sized: ClassVar[bool] = True
    """Whether this class's size is its header alone (then `size_bytes` is a class constant)."""

    def __init_subclass__(cls) -> None:
        # No super() call: dataclass(slots=True) rebuilds the class, which breaks the zero-arg form.
        if "kind" not in cls.__dict__:
            cls.kind = snake_case(cls.__name__)
        # A message whose size does not depend on its fields has it as a class constant: the
        # network reads `size_bytes` on every send, and a property costs a call each time.
        # A class that defines its own `size_bytes` (a property or a constant) keeps it.
        if "_header_sized" not in cls.__dict__:
            cls._header_sized = "size_bytes" not in cls.__dict__ and cls._header_sized
            if cls._header_sized:
                cls.size_bytes = cls.header_bytes  # type: ignore[assignment,misc]
        if "__slots__" in cls.__dict__ and "__dataclass_fields__" in cls.__dict__:  # dataclass(slots=True) rebuilding it
            init = _slot_init(cls)
            if init is not None:
                cls.__init__ = init  # type: ignore[method-assign]

    @property
    def size_bytes(self) -> int:
        """Bytes on the wire; subclasses with payloads add to the header (a constant when it is the header alone)."""
        return self.header_bytes


@dataclass(frozen=True, slots=True)
class ClientRequest(Message):
    """A client's command; `cmd_id` is unique so a replica never applies it twice."""

    client: str
    cmd_id: str
    op: str = ""
    floor: int = -1
    """The lowest sequence number of this client's commands still unanswered (Raft's client
    sessions, thesis section 6.3); -1 when the client does not say (then it costs no bytes)."""

    kind: ClassVar[str] = "client_request"

    @property
    def size_bytes(self) -> int:
        """Header plus the command (and its payload, and the floor when sent)."""
        return self.header_bytes + len(self.cmd_id) + len(self.op) + payload_bytes(self.cmd_id) + (8 if self.floor >= 0 else 0)


@dataclass(frozen=True, slots=True)
class ClientReply(Message):
    """A replica's answer: done, or not the leader (with a hint where to go)."""

    cmd_id: str
    ok: bool
    leader: str | None = None
    result: str = ""

    kind: ClassVar[str] = "client_reply"


class ProtocolConfig(BaseModel):
    """Base for a mechanism's `protocol:` settings; unknown fields are errors."""

    # Built on first use, not at import: a process validates the configs of the mechanisms it uses only.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)


class Context(TypingProtocol):
    """What a protocol may do: the only door to time, randomness, the network and storage."""

    name: str
    peers: list[str]
    nodes: list[str]
    weights: dict[str, float]
    rng: random.Random
    storage: dict[str, Any]
    shared: Any

    @property
    def now(self) -> float: ...  # noqa: D102

    def send(self, dst: str, msg: Message) -> None: ...  # noqa: D102

    def broadcast(self, msg: Message) -> None: ...  # noqa: D102

    def set_timer(self, name: str, delay: float) -> None: ...  # noqa: D102

    def cancel_timer(self, name: str) -> None: ...  # noqa: D102

    def decide(self, slot: int | str, value: str, **fields: Any) -> None: ...  # noqa: D102

    def persist(self) -> None: ...  # noqa: D102

    def record(self, kind: str, **fields: Any) -> None: ...  # noqa: D102

    def count(self, counter: str, amount: int = 1) -> None: ...  # noqa: D102


class Protocol:
    """One agent's state machine. Never touches SimPy, the wall clock or a global RNG.

    Subclasses set `name` (via `@register`), `Config`, and implement the `on_*` handlers.
    State that must survive a crash lives in `ctx.storage`; everything else is volatile and
    is rebuilt by `on_start` after a recovery.
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type[ProtocolConfig]] = ProtocolConfig
    authenticated: ClassVar[bool] = False
    """Messages carry unforgeable authenticators: a forged sender is detected and rejected."""
    byzantine_behaviours: ClassVar[tuple[str, ...]] = ("silent", "omit", "delay", "replay", "forge")
    """Byzantine behaviours that make sense for this mechanism; others are refused at load time."""
    tolerates: ClassVar[str] = ""
    """The faults this mechanism survives, e.g. "crash f<n/2" (shown by `consim list` and `consim compare`)."""
    ready_event: ClassVar[str | None] = None
    """The event kind that first shows the mechanism able to decide client commands (e.g. "leader");
    None: ready from the start. Latency and throughput are measured from then on (see `ready_at`)."""

    def __init__(self, ctx: Context, config: ProtocolConfig) -> None:
        self.ctx = ctx
        self.config = config

    def on_start(self) -> None:
        """Called at time 0 and after every recovery."""

    def on_message(self, src: str, msg: Message) -> None:
        """Called for each message delivered from another node."""

    def on_timer(self, name: str) -> None:
        """Called when a timer set with `ctx.set_timer` fires."""

    def on_request(self, request: ClientRequest) -> None:
        """Called for each client request delivered to this node."""

    def on_stop(self) -> None:
        """Called once at the end of the run on every node that is up (e.g. to record final state)."""

    def is_leader(self) -> bool:
        """Whether this node currently believes it leads (for `crash: leader` and plots)."""
        return False

    def epoch(self) -> tuple[int, ...]:
        """Where this node stands in the succession of leaders (a term, view or ballot).

        Of several nodes that believe they lead, the one with the highest epoch is the leader; the
        others are stale (e.g. a leader cut off in a minority that has not yet heard of the next term).
        """
        return ()

    # --- declarations: read once into the mechanism's record (sim.protocols.registry) -----

    @classmethod
    def client_class(cls) -> type[Client]:
        """The client that talks to this mechanism (default: leader-following client)."""
        from sim.workload import LeaderClient

        return LeaderClient

    @classmethod
    def validate(cls, scenario: Scenario, config: ProtocolConfig) -> list[tuple[str, str]]:
        """Cross-field checks at load time: a list of (field path, problem); empty when fine."""
        return []

    @classmethod
    def warnings(cls, scenario: Scenario, config: ProtocolConfig) -> list[str]:
        """Legal but likely unintended settings (e.g. a cluster too small to tolerate any fault), one line each."""
        return []

    @classmethod
    def timing(cls, scenario: Scenario, config: ProtocolConfig, net: NetworkTiming) -> list[tuple[str, str]]:
        """Load-time checks of this mechanism's timeouts against the network: (field path, problem) warnings.

        Say what the setting must wait for, with its numbers, and the setting to change
        (`sim.timing.shortfall` words it); a run with a warning goes ahead unless --strict-timing.
        """
        return []

    @classmethod
    def expected_latency(cls, scenario: Scenario, config: ProtocolConfig, net: NetworkTiming) -> float | None:
        """What one client command needs from submission to reply, in ms; None when clients never retry.

        Checked against `workload.timeout`. The default is one round trip to a node.
        """
        return net.rtt

    @classmethod
    def checkers(cls) -> list[Any]:
        """Safety checkers for this mechanism: functions (tables, scenario) -> violation rows."""
        from sim.checkers.agreement import GENERIC_CHECKERS

        return list(GENERIC_CHECKERS)

    @classmethod
    def summarise(cls, tables: Any, scenario: Scenario) -> dict[str, Any]:
        """Mechanism-specific summary keys, computed from the run's tables."""
        return {}

    @classmethod
    def ready_at(cls, tables: Any, scenario: Scenario) -> float | None:
        """When the mechanism could first decide a client command (ms); None if it never could.

        The default reads `ready_event` from the events table: a leader-based protocol is ready
        once its first leader is elected, not while the cluster is still starting up.
        """
        if cls.ready_event is None:
            return 0.0
        events = tables.events
        if events.empty:
            return None
        times = events.loc[events["kind"] == cls.ready_event, "time_ms"]
        return float(times.min()) if not times.empty else None

    @classmethod
    def figures(cls) -> dict[str, Any]:
        """The mechanism's own figures: file stem -> function(RunResult) -> Figure.

        A stem of a shared figure (sim/plots) mapped to None leaves that figure out for this
        mechanism; a shared stem mapped to a function replaces it.
        """
        return {}

    @classmethod
    def mutate(cls, behaviour: str, msg: Message, dst: str, rng: random.Random, ctx: Context) -> Message | tuple[Message, ...] | None:
        """Byzantine hook: the lying version of `msg` sent to `dst` (None: send it unchanged).

        A tuple sends several messages instead of one (e.g. a double vote); an empty tuple sends nothing.
        """
        return None

    @classmethod
    def prepare(cls, scenario: Scenario, config: ProtocolConfig, rng: np.random.Generator) -> Any:
        """Build read-only data every node shares (e.g. a gossip topology); seen as `ctx.shared`."""
        return None

    @classmethod
    def fault_bound(cls, scenario: Scenario) -> tuple[str, int] | tuple[str, int, tuple[str, ...]]:
        """The fault model `consim explore` stays within: ("crash" | "byzantine" | "none", f) for this cluster.

        The default reads `tolerates` when it has the form "<crash|byzantine> f<n/k>" (f is the largest
        integer below n/k); a mechanism whose bound depends on its settings overrides this. A third
        item may name nodes the model assumes honest (they may crash but are never drawn byzantine).
        """
        match = re.match(r"(crash|byzantine) f<n/(\d+)", cls.tolerates)
        if match is None:
            return ("none", 0)
        return (match.group(1), (scenario.n - 1) // int(match.group(2)))

    @classmethod
    def progress_after_heal(cls, tables: Any, summary: dict[str, Any], scenario: Scenario, healed: float) -> bool | None:
        """`consim explore`'s liveness verdict once every fault has healed (at `healed` ms).

        None (the default) judges by client commands: most of those submitted after the heal, with
        time left to finish, must complete. A mechanism whose clients do not show progress (e.g.
        gossip, whose writes are acknowledged at once) returns True or False from its own tables.
        """
        return None

    @classmethod
    def recovery_time(cls, scenario: Scenario, config: ProtocolConfig) -> float:
        """How long (ms) after every fault has healed a correct run may still wait before it makes progress again.

        `consim explore` calls a schedule stuck only if it stays stuck this long past the last heal
        (plus its own grace). 0, the default, suits a mechanism whose timers do not grow: the grace
        covers them. A mechanism whose timers back off returns its longest wait with the backoff
        at its cap (PBFT's and HotStuff's views).
        """
        return 0.0

    @classmethod
    def workloads(cls) -> dict[str, Any]:
        """Workload kinds of this mechanism's own, by name (beyond poisson, closed, script)."""
        return {}


def unused_settings(config: ProtocolConfig, rules: tuple[tuple[str, str, Any], ...]) -> list[tuple[str, str]]:
    """Settings moved off their default although the chosen style does not read them, as (field path, problem).

    Each rule is (field, the setting that decides whether it is read, the value that reads it). A
    default is accepted, so a resolved scenario (every field written out) loads again.
    """
    defaults = type(config)()
    problems: list[tuple[str, str]] = []
    for field, switch, needed in rules:
        actual = getattr(config, switch)
        if actual != needed and getattr(config, field) != getattr(defaults, field):
            now, used = (str(v).lower() if isinstance(v, bool) else v for v in (actual, needed))
            problems.append((f"protocol.{field}", f"is not used with {switch}: {now} (only with {switch}: {used}); remove it"))
    return problems


def register(name: str) -> Any:
    """Class decorator: make a Protocol subclass available as `mechanism: name`."""

    def wrap(cls: type[Protocol]) -> type[Protocol]:
        cls.name = name
        return cls

    return wrap


def _discover() -> dict[str, Any]:
    """A copy of the registry's table, name -> Mechanism record (found once per process; see `sim.protocols.registry`).

    Tests swap this function with monkeypatch to add mechanisms of their own (a Protocol class is accepted there).
    """
    from sim.protocols.registry import discover

    return dict(discover())


def mechanisms() -> dict[str, Mechanism]:
    """Every registered mechanism's record by name (see `sim.protocols.registry.mechanisms`)."""
    from sim.protocols.registry import mechanisms as registered

    return registered()


def get_mechanism(name: str) -> Mechanism:
    """The record of the mechanism registered as (or referenced by) `name`.

    Raises:
        KeyError: when no mechanism has that name or the reference does not load.

    """
    from sim.protocols.registry import MechanismError
    from sim.protocols.registry import get_mechanism as lookup

    try:
        return lookup(name)
    except MechanismError as err:
        raise KeyError(name) from err


def get_protocol(name: str) -> type[Protocol]:
    """The Protocol class registered as `name` (its record's `protocol`).

    Raises:
        KeyError: when no mechanism has that name.

    """
    return get_mechanism(name).protocol

"""The mechanism API: the Context, the Protocol base class and its declarations, `register`, and the messages.

The messages live in sim/protocols/message.py and are exported here as part of the API.

The registry that reads these declarations once into a `Mechanism` record is `sim.protocols.registry`;
`mechanisms`, `get_mechanism` and `get_protocol` here are thin doors to it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar
from typing import Protocol as TypingProtocol

from pydantic import ConfigDict

from sim.exact_types import ExactScalars

# The messages are part of this API; they live in their own module (sim/protocols/message.py).
from sim.protocols.message import ClientReply, ClientRequest, Command, Message, payload_bytes

__all__ = [
    "API_VERSION",
    "NOOP",
    "STATE_INSTALLED",
    "ClientReply",
    "ClientRequest",
    "Command",
    "Context",
    "Message",
    "Protocol",
    "ProtocolConfig",
    "get_mechanism",
    "get_protocol",
    "mechanisms",
    "payload_bytes",
    "register",
    "unused_settings",
]

if TYPE_CHECKING:
    import random
    from collections.abc import Sequence

    import numpy as np

    from sim.protocols.registry import Mechanism
    from sim.scenario import Scenario
    from sim.timing import NetworkTiming
    from sim.workload import Client

API_VERSION = "1.3"
"""Version of the public mechanism API (Protocol, Context, Message, ProtocolConfig, the hooks, the record).

The major number changes when a documented name is removed or changes meaning; the minor one when
one is added. A mechanism outside the package can check it (see README, "The mechanism API").
"""

NOOP = "noop"
"""The value a protocol decides to fill a slot that no client asked for."""
STATE_INSTALLED = "state_installed"
"""Event kind: the node adopted a state covering every slot up to `slot` without executing them."""


class ProtocolConfig(ExactScalars):
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

    def multicast(self, dsts: Sequence[str], msg: Message) -> None:
        """`send(dst, msg)` to each of `dsts` in order: the same counts, delay draws and deliveries, at less cost per copy."""
        ...

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
    weighs_nodes: ClassVar[bool] = True
    """The mechanism can weigh its nodes (`ctx.weights`, under some settings at least); where not, a weight other
    than 1 is refused at load time. True by default: the framework cannot see whether a mechanism reads the weights."""
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

    def signatures_to_check(self, src: str, msg: Message) -> int:
        """The signatures this node verifies to take `msg` (`crypto.verify` is charged that many times; CPU modelling only).

        All it carries by default. A protocol that keeps what it verified overrides it: a repeat
        of a certificate it holds, or one for a view it is past, is not checked signature by signature again.
        """
        return msg.signatures

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

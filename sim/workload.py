"""Clients and workloads: open-loop Poisson, closed-loop, and scripted commands.

Clients are endpoints on the network. Each command has a unique id (`client:seq`) so that a
retried command is never applied twice by a correct replica.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, ConfigDict, Field, ValidationError, ValidationInfo, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from sim.exact_types import ExactScalars
from sim.protocols.base import ClientReply, ClientRequest, Command, Message
from sim.scenario import RTT_CONTEXT, Ms, PositiveMs, PositivePerSecond
from sim.scenario_parts import MAX_CLIENTS, RTT_CAUSE_CONTEXT, check_count
from sim.units import format_ms

if TYPE_CHECKING:
    from collections.abc import Generator

    from sim.kernel import Simulation
    from sim.node import ClientEndpoint


class Client:
    """Client logic: turns submitted commands into messages and notices when they are done.

    Retries follow TCP's retransmission timer (RFC 6298): the first attempt of a command waits
    the client's current timeout, which with `adaptive` is estimated from the round trips of
    commands answered at their first attempt (Karn's rule: a retried command's round trip is
    ambiguous); each retry waits `backoff` times longer, up to `max_timeout`, with `jitter` so
    that clients stranded together do not retry in lockstep.
    """

    addressed: ClassVar[bool] = False
    """Each command is `node|rest`: it goes to the node it names first (a link into the plane must name one)."""

    def __init__(self, ctx: ClientEndpoint, sim: Simulation) -> None:
        self.ctx = ctx
        self.nodes = list(sim.node_names)
        self.retry = sim.workload.config
        self.timeout = self.retry.timeout
        self._srtt: float | None = None
        self._rttvar = 0.0
        self._attempt: dict[str, int] = {}  # cmd_id -> retries so far
        self._wait: dict[str, float] = {}  # cmd_id -> its current timeout, before jitter
        self._first_sent: dict[str, float] = {}

    def submit(self, cmd_id: str, op: str) -> None:
        """Issue a new command."""
        raise NotImplementedError

    def on_message(self, src: str, msg: Message) -> None:
        """A reply from a node."""

    def on_timer(self, name: str) -> None:
        """A retry timer fired."""

    def arm(self, cmd_id: str) -> None:
        """(Re)start `cmd_id`'s retry timer: the client's timeout at first, backed off once per retry."""
        wait = self._wait.setdefault(cmd_id, self.timeout)
        self._first_sent.setdefault(cmd_id, self.ctx.now)
        jitter = self.retry.jitter
        if self._attempt.get(cmd_id) and jitter:
            wait *= self.ctx.rng.uniform(1.0 - jitter, 1.0 + jitter)
        self.ctx.set_timer(cmd_id, wait)

    def retrying(self, cmd_id: str, back_off: bool = True) -> None:
        """`cmd_id` timed out and goes out again: count the retry and back off.

        Only this command's next attempt waits `backoff` times longer (unless `back_off` is
        False: a client trying other nodes in turn backs off once per round). TCP also backs off the
        timeout of every new segment (RFC 6298, 5.5) because its losses signal congestion; here
        commands are independent and losses mostly random, and backing off new commands too left
        late commands unsent at 30% loss.
        """
        cfg = self.retry
        self._attempt[cmd_id] = self._attempt.get(cmd_id, 0) + 1
        if back_off:
            self._wait[cmd_id] = min(self._wait.get(cmd_id, self.timeout) * cfg.backoff, cfg.max_timeout)
        self.ctx.sim.recorder.request_retry(cmd_id)

    def finish(self, cmd_id: str) -> None:
        """`cmd_id` has its answer: stop its timer, learn from its round trip, report it done."""
        self.ctx.cancel_timer(cmd_id)
        retries = self._attempt.pop(cmd_id, 0)
        self._wait.pop(cmd_id, None)
        sent = self._first_sent.pop(cmd_id, None)
        if self.retry.adaptive and retries == 0 and sent is not None:
            self._observe(self.ctx.now - sent)
        self.ctx.complete(cmd_id)

    def _observe(self, rtt: float) -> None:
        # RFC 6298 section 2 with alpha = 1/8, beta = 1/4.
        if self._srtt is None:
            self._srtt, self._rttvar = rtt, rtt / 2
        else:
            self._rttvar = 0.75 * self._rttvar + 0.25 * abs(self._srtt - rtt)
            self._srtt = 0.875 * self._srtt + 0.125 * rtt
        cfg = self.retry
        self.timeout = min(max(self._srtt + 4 * self._rttvar, cfg.min_timeout), cfg.max_timeout)


class LeaderClient(Client):
    """Sends to the node it believes leads, follows redirects, retries elsewhere on timeout.

    Each command remembers where it was last sent. A timeout moves that command on to the next
    node, and moves the shared belief only if the silent node was the believed leader: many
    commands time out together when a node crashes, and letting each of them advance one shared
    pointer would walk new commands onto other crashed nodes. The exception is the node that
    last answered a command: one lost message there is likelier than a crash, and a retry that
    lands on a follower costs a redirect, so it gets a second attempt before the command moves.
    """

    SILENCES_BEFORE_MOVING: ClassVar[int] = 2

    def __init__(self, ctx: ClientEndpoint, sim: Simulation) -> None:
        super().__init__(ctx, sim)
        self.leader = self.nodes[ctx.rng.randrange(len(self.nodes))]
        self.pending: dict[str, tuple[str, str, int]] = {}  # cmd_id -> (op, node last sent to, its timeouts in a row)
        self.answered: str | None = None  # the node that completed our latest command
        self._moves: dict[str, int] = {}  # cmd_id -> times it moved on to the next node

    def submit(self, cmd_id: str, op: str) -> None:
        """Send the command to the believed leader and arm its retry timer."""
        self._send(cmd_id, op, self.leader)

    def _send(self, cmd_id: str, op: str, target: str, silences: int = 0) -> None:
        self.pending[cmd_id] = (op, target, silences)
        self.ctx.send(target, ClientRequest(self.ctx.name, cmd_id, op))
        self.arm(cmd_id)

    def on_message(self, src: str, msg: Message) -> None:
        """Complete on success; on a redirect, go where the node points."""
        if not isinstance(msg, ClientReply) or msg.cmd_id not in self.pending:
            return
        if msg.ok:
            del self.pending[msg.cmd_id]
            self._moves.pop(msg.cmd_id, None)
            self.leader = self.answered = src
            self.finish(msg.cmd_id)
        elif msg.leader is not None and msg.leader != src:
            self.leader = msg.leader
            self._send(msg.cmd_id, self.pending[msg.cmd_id][0], msg.leader)

    def on_timer(self, name: str) -> None:
        """No answer in time: try the next node (the node that answered last gets a second chance)."""
        if name not in self.pending:
            return
        op, silent, silences = self.pending[name]
        if silent == self.answered and silences + 1 < self.SILENCES_BEFORE_MOVING:
            self.retrying(name)
            self._send(name, op, silent, silences + 1)
            return
        if silent == self.answered:
            self.answered = None
        moves = self._moves[name] = self._moves.get(name, 0) + 1
        # Walking on to the next node is not hammering the same one: back off once per round of
        # the cluster, so a chain of crashed nodes is crossed quickly and a dead cluster is not.
        self.retrying(name, back_off=moves % len(self.nodes) == 0)
        following = self.nodes[(self.nodes.index(silent) + 1) % len(self.nodes)]
        if silent == self.leader:
            self.leader = following
        self._send(name, op, following)


def _client_count(value: int) -> int:
    """`value` if it is at most `MAX_CLIENTS`: a run builds one client endpoint per count, before its first event."""
    return check_count(value, MAX_CLIENTS)


class WorkloadConfig(ExactScalars):
    """Settings every workload shares."""

    # Built on first use, not at import: a scenario validates one workload kind of the several defined here.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)
    kind: str
    clients: Annotated[int, Field(ge=1), AfterValidator(_client_count)] = 1
    """Client endpoints issuing the commands (each closed-loop client keeps one outstanding); at most `MAX_CLIENTS`."""
    timeout: PositiveMs = Field(default="max(500ms, 4rtt)", validate_default=True)
    """A first attempt's timeout before the client has timed any reply (default: 500ms, or 4 rtt on a
    slower network; RFC 6298 starts at 1s)."""
    adaptive: bool = True
    """Estimate the timeout from measured round trips (srtt + 4 rttvar), as TCP does."""
    min_timeout: PositiveMs = 100.0
    """Floor of the estimated timeout, so that ordinary jitter does not trigger retries."""
    max_timeout: PositiveMs = 10_000.0
    """Ceiling of any timeout, backed off or estimated."""
    backoff: Annotated[float, Field(ge=1)] = 2.0
    """Each retry of the same command waits this many times longer than the previous attempt."""
    jitter: Annotated[float, Field(ge=0, lt=1)] = 0.1
    """Retry timeouts are scaled by a uniform factor in [1 - jitter, 1 + jitter]."""
    start: Ms = 0.0
    until: Ms | None = None

    @model_validator(mode="after")
    def _timeouts_ordered(self, info: ValidationInfo) -> WorkloadConfig:
        if not self.min_timeout <= self.max_timeout:
            raise ValueError("min_timeout must not exceed max_timeout")
        if self.timeout > self.max_timeout:
            raise _timeout_error(self, info)
        return self


def _timeout_error(config: WorkloadConfig, info: ValidationInfo) -> ValidationError:
    """`timeout` above `max_timeout`, as an error on `timeout` itself, saying where its value came from.

    A user who never wrote a timeout would otherwise be told about one: the default grows with the
    network's round trip (a heavy-tailed delay makes it huge), so name that and what to set.
    """
    ceiling = format_ms(config.max_timeout)
    if "timeout" in config.model_fields_set:
        problem = f"{format_ms(config.timeout)} exceeds max_timeout ({ceiling}): lower it or raise max_timeout"
    else:
        default = type(config).model_fields["timeout"].default
        context = info.context if isinstance(info.context, dict) else {}
        rtt, cause = context.get(RTT_CONTEXT), context.get(RTT_CAUSE_CONTEXT)
        because = f" ({cause})" if cause else ""  # a tiny bandwidth, say: the fix is there, not in the timeout
        basis = f" with the network's round-trip time rtt = {format_ms(rtt)}{because}" if rtt is not None else ""
        problem = (
            f"the default {default}{basis} is {format_ms(config.timeout)}, above max_timeout ({ceiling}):"
            " set workload.timeout (or raise workload.max_timeout)"
        )
    # Raised from a model validator, a ValueError would name the whole workload: this names the field.
    detail = InitErrorDetails(type=PydanticCustomError("value_error", problem), loc=("timeout",), input=config.timeout)
    return ValidationError.from_exception_data(type(config).__name__, [detail])


class Workload:
    """Drives the clients; a subclass is one `workload.kind`."""

    kind: ClassVar[str] = ""
    Config: ClassVar[type[WorkloadConfig]] = WorkloadConfig

    def __init__(self, sim: Simulation, config: WorkloadConfig) -> None:
        self.sim = sim
        self.config = config
        self.rng = sim.py_rng("workload")
        self.clients: list[ClientEndpoint] = []
        self._seq = 0

    def attach(self, clients: list[ClientEndpoint]) -> None:
        """Give the workload its clients and start it."""
        self.clients = clients
        self.sim.env.process(self.run())

    def issue(self, client: ClientEndpoint, op: str = "", payload: int = 0) -> str:
        """Submit one new command through `client` (carrying `payload` bytes when given); returns its id."""
        cmd_id: str = f"{client.name}:{self._seq}"
        if payload:
            cmd_id = Command(cmd_id, payload)
        self._seq += 1
        self.sim.recorder.request_submitted(cmd_id, client.name, self.sim.env.now)
        client.client.submit(cmd_id, op or f"op{self._seq}")
        return cmd_id

    def end(self) -> float:
        """When no more commands are issued."""
        return self.config.until if self.config.until is not None else self.sim.scenario.duration

    def run(self) -> Generator[Any, Any, None]:
        """The SimPy process that issues commands."""
        yield from ()

    def on_complete(self, client: ClientEndpoint, cmd_id: str) -> None:
        """A command finished (closed loops use this to issue the next one)."""


class PoissonConfig(WorkloadConfig):
    """Open loop: commands arrive as a Poisson process, spread over the clients."""

    kind: Literal["poisson"] = "poisson"
    rate: PositivePerSecond = 100.0


class PoissonWorkload(Workload):
    """Open-loop Poisson arrivals at `rate`, round-robin over the clients."""

    kind = "poisson"
    Config = PoissonConfig

    def run(self) -> Generator[Any, Any, None]:
        """Wait for `start`, then issue commands with exponential gaps until `until`.

        Each arrival is a kernel timer calling `_arrive`, not a step of this process: the same
        instants, draws and queue order as a process that yields a timeout per gap, at a
        fraction of the cost per command.
        """
        cfg = self.config
        self._rate = 1.0 / (1000.0 / cfg.rate)  # the expovariate rate of a mean gap of 1000 / rate ms
        self._issued = 0
        yield self.sim.env.timeout(cfg.start)
        self._wait()

    def _wait(self) -> None:
        self.sim.timers.schedule(self.rng.expovariate(self._rate), self._arrive, None)

    def _arrive(self, _: None) -> None:
        if self.sim.env.now >= self.end():
            return
        self.issue(self.clients[self._issued % len(self.clients)])
        self._issued += 1
        self._wait()


class ClosedConfig(WorkloadConfig):
    """Closed loop: each client keeps one command outstanding, with a think time between."""

    kind: Literal["closed"] = "closed"
    think: Ms = 0.0


class ClosedWorkload(Workload):
    """Each client issues its next command `think` ms after the previous one completes."""

    kind = "closed"
    Config = ClosedConfig

    def run(self) -> Generator[Any, Any, None]:
        """Start every client's first command."""
        yield self.sim.env.timeout(self.config.start)
        for client in self.clients:
            self.issue(client)

    def on_complete(self, client: ClientEndpoint, cmd_id: str) -> None:
        """Think, then issue the next command if the run is not over."""
        self.sim.timers.schedule(self.config.think, self._issue_next, client)

    def _issue_next(self, client: ClientEndpoint) -> None:
        if self.sim.env.now < self.end():
            self.issue(client)


class ScriptedCommand(ExactScalars):
    """One scripted command."""

    model_config = ConfigDict(extra="forbid")
    at: Ms
    op: str = ""
    client: Annotated[int, Field(ge=0)] = 0


class ScriptConfig(WorkloadConfig):
    """Commands at given times."""

    kind: Literal["script"] = "script"
    commands: list[ScriptedCommand] = Field(default_factory=list)

    @model_validator(mode="after")
    def _clients_exist(self) -> ScriptConfig:
        """Refuse a command for a client the workload does not have (`client` counts from 0 below `clients`)."""
        for i, cmd in enumerate(self.commands):
            if cmd.client >= self.clients:
                problem = f"must be below clients ({self.clients}), counting from 0 (got {cmd.client})"
                detail = InitErrorDetails(type=PydanticCustomError("value_error", problem), loc=("commands", i, "client"), input=cmd.client)
                raise ValidationError.from_exception_data(type(self).__name__, [detail])
        return self


class ScriptWorkload(Workload):
    """Issues each scripted command at its time."""

    kind = "script"
    Config = ScriptConfig

    def run(self) -> Generator[Any, Any, None]:
        """Walk the script in time order: the commands due at start now, each later one on a kernel timer."""
        self._script = sorted(self.config.commands, key=lambda c: c.at)
        self._next = 0
        self._walk(None)
        yield from ()

    def _walk(self, _: None) -> None:
        """Issue the next command and every one after it already due; then wait for the one after."""
        env, script = self.sim.env, self._script
        while self._next < len(script):
            cmd = script[self._next]
            if cmd.at > env.now:
                # The delay a process yielding `env.timeout(cmd.at - env.now)` would wait, to the bit.
                self.sim.timers.schedule(cmd.at - env.now, self._issue_due, None)
                return
            self._next += 1
            self.issue(self.clients[cmd.client], cmd.op)

    def _issue_due(self, _: None) -> None:
        cmd = self._script[self._next]
        self._next += 1
        self.issue(self.clients[cmd.client], cmd.op)
        self._walk(None)


class NoWorkload(Workload):
    """No client commands (e.g. a pure election experiment)."""

    kind = "none"


def workload_kinds(mechanism: Any = None) -> dict[str, type[Workload]]:
    """Workload kinds available to a mechanism (its `Mechanism` record): the shared ones plus its own."""
    kinds: dict[str, type[Workload]] = {w.kind: w for w in (PoissonWorkload, ClosedWorkload, ScriptWorkload, NoWorkload)}
    if mechanism is not None:
        kinds.update(mechanism.workloads)
    return kinds

"""Tendermint (Buchman, Kwon and Milosevic, "The latest gossip on BFT consensus", 2018), Algorithm 1.

n >= 3f + 1 replicas decide a sequence of values (blocks of client commands), one per height.
Each height runs rounds; the proposer of round r at height h is replica (h + r) mod n. A round has
three steps: the proposer broadcasts a value (its `validValue` if it has one, else new commands);
replicas prevote for it if it is valid and they are not locked on another value (or the value had
a polka - a quorum of prevotes - in a round no older than their lock); a quorum of prevotes for a
value locks it (`lockedValue`, `lockedRound`) and makes replicas precommit it; a quorum of
precommits for a value decides it. A quorum of prevotes or precommits for nil, or a timeout,
moves the round on; timeouts grow with the round (`timeout + round * timeout_delta`), and f + 1
messages of a higher round make a replica skip ahead to it. Quorums are ceil((n + f + 1) / 2),
2f + 1 when n = 3f + 1.

The gossip delivers what the algorithm assumes it does: each replica re-sends what it signed and
relays what others signed that its round needs (sim/protocols/tendermint/gossip.py).

A replica behind (it missed a decision) asks its peers for the decided value and adopts it once
f + 1 of them send the same one, so at least one honest replica vouches for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import Field

from sim.protocols._broadcast_client import BroadcastBft, Reply, Request
from sim.protocols.base import Message, Protocol, ProtocolConfig, register
from sim.protocols.dispatch import Dispatch, handles
from sim.protocols.quorum import bft_quorum, byzantine_f
from sim.protocols.tendermint.catch_up import CatchUp
from sim.protocols.tendermint.gossip import Gossip
from sim.protocols.tendermint.messages import FetchValue, Precommit, Prevote, Proposal, SyncRequest, Value
from sim.scenario import Ms, PositiveMs
from sim.timing import NetworkTiming, shortfall, show_ms

if TYPE_CHECKING:
    import random

    from sim.protocols.base import Context
    from sim.scenario import Scenario

PROPOSE, PREVOTE, PRECOMMIT = 0, 1, 2
STEP_NAMES = ("propose", "prevote", "precommit")
FUTURE_LIMIT = 10_000
"""Most messages of later heights a replica keeps (a faulty peer must not exhaust memory)."""


class TendermintConfig(ProtocolConfig):
    """Tendermint settings (the timeouts of Algorithm 1)."""

    f: Annotated[int, Field(ge=0)] | None = None
    """Faults tolerated; derived as (n-1)//3 when not given."""
    timeout_propose: PositiveMs = Field(default="max(200ms, 4rtt)", validate_default=True)
    """How long a replica waits for the round's proposal (default: 200ms, or 4 rtt on a slower network)."""
    timeout_prevote: PositiveMs = Field(default="max(100ms, 2rtt)", validate_default=True)
    timeout_precommit: PositiveMs = Field(default="max(100ms, 2rtt)", validate_default=True)
    timeout_delta: Annotated[Ms, Field(ge=0)] = Field(default="max(50ms, 1rtt)", validate_default=True)
    """Added to each timeout per round, so that after GST some round lasts long enough."""
    max_batch: Annotated[int, Field(ge=1)] = 64
    """Most commands in one value."""
    gossip_interval: PositiveMs = Field(default="max(100ms, 2rtt)", validate_default=True)
    """While a height is undecided, a replica re-sends what it signed in it this often, and relays the
    proposal and votes others signed that its round needs: Tendermint's gossip layer delivers every
    message a correct replica received to every correct replica, which the algorithm assumes and a
    lossy link or a faulty sender that reaches only some replicas breaks."""


@dataclass
class TendermintState:
    """What a replica keeps on stable storage (Tendermint's write-ahead log): its step, lock and decisions."""

    height: int = 1
    round: int = 0
    step: int = PROPOSE
    locked_value: Value | None = None
    locked_round: int = -1
    valid_value: Value | None = None
    valid_round: int = -1
    signed: dict[tuple[int, int, str], Message] = field(default_factory=dict)
    """Every vote and proposal this replica signed, so that after a crash it never signs another."""
    decided: dict[int, Value] = field(default_factory=dict)
    commits: dict[int, tuple[int, frozenset[str]]] = field(default_factory=dict)
    """height -> (round, the replicas whose precommits decided it): the commit certificate."""
    executed: dict[str, int] = field(default_factory=dict)
    slot: int = 0


@register("tendermint")
class Tendermint(Dispatch, BroadcastBft, CatchUp, Gossip, Protocol):
    """One Tendermint replica: propose, prevote, precommit, locks and valid values, growing timeouts."""

    Config = TendermintConfig
    tolerates: ClassVar[str] = "byzantine f<n/3"
    authenticated: ClassVar[bool] = True
    byzantine_behaviours: ClassVar[tuple[str, ...]] = ("silent", "omit", "delay", "replay", "forge", "equivocate", "double_vote")
    weighs_nodes: ClassVar[bool] = False
    """Every validator counts as one: a node weight would do nothing."""
    config: TendermintConfig

    def on_start(self) -> None:
        """Load the persistent state; the tallies, the mempool and the timers start afresh."""
        ctx = self.ctx
        self.n = len(ctx.nodes)
        self.f = byzantine_f(self.n, self.config.f)
        self.quorum = bft_quorum(self.n, self.f)
        self.me = ctx.name
        self.st: TendermintState = ctx.storage.setdefault("tendermint", TendermintState())
        self.pending: dict[str, Request] = {}
        self.proposals: dict[int, tuple[Value, int]] = {}  # round -> (value, valid round), this height
        self.values: dict[str, Value] = {}  # id -> value, every value of this height we hold
        self.fetching: set[str] = set()
        self.prevotes: dict[int, dict[str, str | None]] = {}
        self.precommits: dict[int, dict[str, str | None]] = {}
        self.senders: dict[int, set[str]] = {}  # round -> who sent anything in it (round skipping)
        self.fired: set[tuple[str, int]] = set()
        self.future: list[tuple[str, Message]] = []
        self.sync_votes: dict[str, tuple[Value, set[str]]] = {}
        self.started = False
        # Re-send what we signed in the current round: peers may have lost it while we were down.
        for (height, _, _), msg in sorted(self.st.signed.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
            if height == self.st.height:
                self.ctx.broadcast(msg)

    def proposer(self, height: int, rnd: int) -> str:
        """The proposer of round `rnd` at `height`: replica (h + r) mod n."""
        return self.ctx.nodes[(height + rnd) % self.n]

    def is_leader(self) -> bool:
        """Whether this replica proposes in its current round."""
        return self.proposer(self.st.height, self.st.round) == self.me

    def epoch(self) -> tuple[int, ...]:
        """Height and round (the fault plan's 'leader' is the proposer of the latest)."""
        return (self.st.height, self.st.round)

    # --- rounds ----------------------------------------------------------------------------

    def kick(self) -> None:
        """Start the current round if this height has not started (a replica with nothing to do idles)."""
        if not self.started:
            self.started = True
            self.ctx.set_timer("gossip", self.config.gossip_interval)
            self.start_round(self.st.round)

    def start_round(self, rnd: int) -> None:
        """StartRound(round): propose as proposer, else wait for the proposal with a timeout."""
        st = self.st
        st.round, st.step = rnd, PROPOSE
        if self.proposer(st.height, rnd) == self.me:
            value = st.valid_value
            if value is None:
                cmds = tuple(req for cmd_id, req in self.pending.items() if cmd_id not in st.executed)[: self.config.max_batch]
                value = Value(cmds, self.me, st.height)
            self.ctx.record("leader", term=self.st.height, round=rnd)
            self.sign_and_send(Proposal(st.height, rnd, value, st.valid_round), "proposal")
        else:
            self.set_step_timer("propose", self.config.timeout_propose)
        self.check()

    def set_step_timer(self, step: str, base: float) -> None:
        """Time out `step` of the current round after `base` plus the round's growth."""
        st = self.st
        self.ctx.set_timer(f"{step}:{st.height}:{st.round}", base + st.round * self.config.timeout_delta)

    def sign_and_send(self, msg: Proposal | Prevote | Precommit, kind: str) -> None:
        """Sign at most one message per (height, round, kind) ever; count our own as received.

        Our own message is tallied here, not delivered through the handlers: a handler would run
        the rules again in the middle of the rule that sent it (and could decide the height under it).
        """
        key = (msg.height, msg.round, kind)
        msg = self.st.signed.setdefault(key, msg)  # after a crash: the same vote again, never another
        self.ctx.persist()  # what we signed is on disk before it leaves, as Tendermint's WAL has it
        self.ctx.broadcast(msg)
        self._tally(self.me, msg)

    def _tally(self, src: str, msg: Message) -> None:
        """Record a message of the current height (a proposal, prevote or precommit)."""
        if isinstance(msg, Proposal):
            self.proposals.setdefault(msg.round, (msg.value, msg.valid_round))
            self.values.setdefault(msg.value.id, msg.value)
        else:
            tally = self.prevotes if isinstance(msg, Prevote) else self.precommits
            tally.setdefault(msg.round, {}).setdefault(src, msg.value)  # type: ignore[attr-defined]
        self.senders.setdefault(msg.round, set()).add(src)  # type: ignore[attr-defined]

    # --- inputs ----------------------------------------------------------------------------

    @handles(Request)
    def on_client_request(self, src: str, req: Request) -> None:
        """Keep the command until decided; answer again if it already was."""
        if req.cmd_id in self.st.executed:
            self.ctx.send(req.client, Reply(req.cmd_id, str(self.st.executed[req.cmd_id])))
            return
        self.pending.setdefault(req.cmd_id, req)
        self.kick()

    def _height_check(self, src: str, height: int, msg: Message) -> bool:
        """True when `msg` is for the current height; buffers later ones and helps laggards."""
        st = self.st
        if height > st.height:
            if len(self.future) < FUTURE_LIMIT:
                self.future.append((src, msg))
            if src != self.me:
                self.ctx.broadcast(SyncRequest(st.height))
            return False
        if height < st.height:
            if height in st.decided and src != self.me:
                self.on_sync_request(src, SyncRequest(height))
            return False
        return True

    @handles(Proposal)
    def on_proposal(self, src: str, msg: Proposal) -> None:
        """Keep the proposer's first proposal of each round."""
        if src != self.proposer(msg.height, msg.round) or msg.value.height != msg.height:
            return
        if not self._height_check(src, msg.height, msg):
            return
        self._tally(src, msg)
        self.kick()
        self.check()

    @handles(Prevote, Precommit)
    def on_vote(self, src: str, msg: Prevote | Precommit) -> None:
        """Tally a prevote or precommit (the first from each replica per round counts)."""
        if not self._height_check(src, msg.height, msg):
            return
        self._tally(src, msg)
        self.kick()
        self.check()

    # --- the rules of Algorithm 1 ------------------------------------------------------------

    def count(self, tally: dict[int, dict[str, str | None]], rnd: int, value: str | None = ...) -> int:  # type: ignore[assignment]
        """How many replicas sent a vote in round `rnd` (for `value`, when given)."""
        votes = tally.get(rnd, {})
        if value is ...:
            return len(votes)
        return sum(1 for v in votes.values() if v == value)

    def check(self) -> None:
        """Apply every rule whose condition holds, until none does (one may enable another)."""
        before = None
        while before != (self.st.height, self.st.round, self.st.step, len(self.fired)):
            before = (self.st.height, self.st.round, self.st.step, len(self.fired))
            self._rules()

    def _rules(self) -> None:
        st, q = self.st, self.quorum
        h, r = st.height, st.round
        # Decide (lines 49-54): a quorum of precommits for a value, in any round, and the value itself
        # (from the proposal, or fetched by its digest when the proposal was lost).
        for rnd, votes in sorted(self.precommits.items()):
            for vid in sorted({v for v in votes.values() if v is not None}):
                if self.count(self.precommits, rnd, vid) < q or h in st.decided:
                    continue
                if vid in self.values:
                    signers = frozenset(src for src, v in votes.items() if v == vid)
                    self.decide(self.values[vid], rnd, signers)
                    return
                if vid not in self.fetching:
                    self.fetching.add(vid)
                    self.ctx.broadcast(FetchValue(h, vid))
        # Round skip (lines 55-56): f + 1 replicas already in a later round.
        later = [rnd for rnd, who in self.senders.items() if rnd > r and len(who) >= self.f + 1]
        if later:
            self.start_round(min(later))
            return
        prop = self.proposals.get(r)
        if st.step == PROPOSE and prop is not None:
            value, vr = prop
            if vr == -1:  # lines 22-27
                ok = st.locked_round == -1 or (st.locked_value is not None and st.locked_value.id == value.id)
                self.prevote(value.id if ok else None)
            elif 0 <= vr < r and self.count(self.prevotes, vr, value.id) >= q:  # lines 28-33
                ok = st.locked_round <= vr or (st.locked_value is not None and st.locked_value.id == value.id)
                self.prevote(value.id if ok else None)
        if st.step == PREVOTE and self.count(self.prevotes, r) >= q and ("prevote_wait", r) not in self.fired:
            self.fired.add(("prevote_wait", r))  # lines 34-35
            self.set_step_timer("prevote", self.config.timeout_prevote)
        if st.step >= PREVOTE and prop is not None and ("polka", r) not in self.fired:
            value = prop[0]
            if self.count(self.prevotes, r, value.id) >= q:  # lines 36-43
                self.fired.add(("polka", r))
                precommit = st.step == PREVOTE
                if precommit:
                    st.locked_value, st.locked_round = value, r
                st.valid_value, st.valid_round = value, r
                if precommit:
                    self.precommit(value.id)
        if st.step == PREVOTE and self.count(self.prevotes, r, None) >= q:  # lines 44-46
            self.precommit(None)
        if self.count(self.precommits, r) >= q and ("precommit_wait", r) not in self.fired:
            self.fired.add(("precommit_wait", r))  # lines 47-48
            self.set_step_timer("precommit", self.config.timeout_precommit)

    def prevote(self, value: str | None) -> None:
        """Broadcast our prevote and move to the prevote step."""
        st = self.st
        st.step = PREVOTE
        self.sign_and_send(Prevote(st.height, st.round, value), "prevote")

    def precommit(self, value: str | None) -> None:
        """Broadcast our precommit and move to the precommit step."""
        st = self.st
        st.step = PRECOMMIT
        self.sign_and_send(Precommit(st.height, st.round, value), "precommit")

    def on_timer(self, name: str) -> None:
        """OnTimeoutPropose / OnTimeoutPrevote / OnTimeoutPrecommit for the round they were set in; gossip."""
        st = self.st
        if name == "gossip":
            if self.started:
                self.gossip()
                self.ctx.set_timer("gossip", self.config.gossip_interval)
            return
        step, height, rnd = name.split(":")
        if int(height) != st.height or int(rnd) != st.round:
            return
        if step == "propose" and st.step == PROPOSE:
            self.ctx.count("timeouts_propose")
            self.prevote(None)
        elif step == "prevote" and st.step == PREVOTE:
            self.ctx.count("timeouts_prevote")
            self.precommit(None)
        elif step == "precommit":
            self.ctx.count("timeouts_precommit")
            self.ctx.record("round_change", height=st.height, round=st.round + 1)
            self.start_round(st.round + 1)
            return
        self.check()

    # --- deciding --------------------------------------------------------------------------

    def decide(self, value: Value, rnd: int, signers: frozenset[str]) -> None:
        """Commit `value` at this height (its certificate: `signers`' precommits in `rnd`), execute it, move on."""
        st = self.st
        st.decided[st.height] = value
        st.commits[st.height] = (rnd, signers)
        for req in value.cmds:
            self.pending.pop(req.cmd_id, None)
            if req.cmd_id in st.executed:
                continue  # proposed at two heights (a proposer raced a decision): executes once
            st.slot += 1
            st.executed[req.cmd_id] = st.slot
            self.ctx.decide(st.slot, req.cmd_id, height=st.height, round=st.round)
            self.ctx.send(req.client, Reply(req.cmd_id, str(st.slot)))
        st.height += 1
        st.round, st.step = 0, PROPOSE
        st.locked_value, st.locked_round, st.valid_value, st.valid_round = None, -1, None, -1
        st.signed = {key: msg for key, msg in st.signed.items() if key[0] >= st.height}
        self.proposals, self.prevotes, self.precommits, self.senders = {}, {}, {}, {}
        self.values, self.fetching = {}, set()
        self.fired, self.sync_votes = set(), {}
        self.started = False
        self.ctx.cancel_timer("gossip")
        if self.pending:
            self.kick()
        waiting, self.future = self.future, []
        for src, msg in waiting:
            self.on_message(src, msg)

    # --- class hooks -----------------------------------------------------------------------

    @classmethod
    def timing(cls, scenario: Scenario, config: ProtocolConfig, net: NetworkTiming) -> list[tuple[str, str]]:
        """The proposal must be able to arrive before a replica gives up on it (a one-way delay, from the proposer's request)."""
        assert isinstance(config, TendermintConfig)
        return shortfall(
            "protocol.timeout_propose",
            config.timeout_propose,
            net.rtt,
            "what a proposal needs",
            "replicas prevote nil before the proposal can reach them, round after round",
            "raise it, e.g. timeout_propose: 4rtt",
            f"rtt {show_ms(net.rtt)}",
        )

    @classmethod
    def expected_latency(cls, scenario: Scenario, config: ProtocolConfig, net: NetworkTiming) -> float:
        """Request, proposal, prevote, precommit, reply: five one-way delays."""
        return 2.5 * net.rtt

    @classmethod
    def checkers(cls) -> list[Any]:
        """Agreement, integrity, validity, exactly-once and gapless execution."""
        from sim.checkers.agreement import GENERIC_CHECKERS
        from sim.checkers.execution import LOG_CHECKERS

        return [*GENERIC_CHECKERS, *LOG_CHECKERS]

    @classmethod
    def summarise(cls, tables: Any, scenario: Scenario) -> dict[str, Any]:
        """Heights decided, round changes and timeouts by step."""
        counters = tables.counters
        events = tables.events
        return {
            "round_changes": int((events["kind"] == "round_change").sum()) if not events.empty else 0,
            **{key: int(counters.get(key, 0)) for key in ("timeouts_propose", "timeouts_prevote", "timeouts_precommit")},
        }

    @classmethod
    def mutate(cls, behaviour: str, msg: Message, dst: str, rng: random.Random, ctx: Context) -> Message | tuple[Message, ...] | None:
        """Equivocating proposals and double votes (see sim/protocols/tendermint/lies.py)."""
        from sim.protocols.tendermint.lies import mutate

        return mutate(behaviour, msg, dst, ctx)

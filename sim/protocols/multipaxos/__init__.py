"""Multi-Paxos: a stable leader runs phase 1 once for every open slot, then phase 2 per command.

Every node is proposer, acceptor and learner. Ballots are `(round, node index)` pairs, ordered
lexicographically, so two proposers never share one. A leader that wins phase 1 adopts, for
every slot reported in the promises, the value accepted with the highest ballot, fills the gaps
with no-ops, and then proposes client commands in fresh slots. The leader learns a slot is
chosen when a phase-2 quorum accepted it and tells everyone with `decide`; learners that missed
a `decide` catch up from the heartbeats. Acceptor state (the promised ballot and the accepted
value of each slot), the learned log and the state machine's table of applied commands live in
`ctx.storage` and survive crashes.

A command is proposed once per leadership: it stays "in flight" from its proposal (or from
being learned chosen) until it is applied, and a client's retry meanwhile only waits for it.
Learning, execution and compaction are in `learner.py`; messages in `messages.py`; settings in
`config.py`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from sim.protocols.base import NOOP, ClientReply, ClientRequest, Message, Protocol, ProtocolConfig, register
from sim.protocols.dispatch import Dispatch, handles
from sim.protocols.multipaxos.config import FlexibleQuorums, MultiPaxosConfig
from sim.protocols.multipaxos.learner import LearnerMixin
from sim.protocols.multipaxos.messages import (
    NO_BALLOT,
    Accept,
    Accepted,
    Ballot,
    CatchUp,
    Decide,
    Heartbeat,
    Nack,
    Prepare,
    Promise,
)
from sim.protocols.quorum import Quorums, crash_f, flexible_problem
from sim.timing import NetworkTiming, leader_timing

if TYPE_CHECKING:
    import random

    from sim.protocols.base import Context
    from sim.records import RunTables
    from sim.scenario import Scenario

# --- the protocol --------------------------------------------------------------------------


@register("multipaxos")
class MultiPaxos(Dispatch, LearnerMixin, Protocol):
    """One Multi-Paxos replica: proposer, acceptor and learner."""

    Config = MultiPaxosConfig
    tolerates: ClassVar[str] = "crash f<n/2"
    ready_event: ClassVar[str | None] = "leader"  # commands wait for a leader that has finished phase 1
    byzantine_behaviours: ClassVar[tuple[str, ...]] = ("silent", "omit", "delay", "replay", "forge", "equivocate", "corrupt")
    config: MultiPaxosConfig

    # --- lifecycle ---------------------------------------------------------------------------

    def on_start(self) -> None:
        """Load the persistent acceptor/learner state, reset the rest, arm the election timer."""
        st = self.ctx.storage
        st.setdefault("promised", NO_BALLOT)
        st.setdefault("accepted", {})  # slot -> (ballot, value)
        st.setdefault("chosen", {})  # slot -> (value, round)
        st.setdefault("executed", 0)  # every slot below has been applied, in order
        st.setdefault("applied", set())  # the state machine's table of commands already applied
        st.setdefault("compacted", 0)  # every node has learned every slot below: nothing kept there
        self.me = self.ctx.nodes.index(self.ctx.name)
        self.quorums = self.quorum_rules(self.config, len(self.ctx.nodes), self.ctx.weights)
        self.role = "follower"
        self.ballot: Ballot | None = None
        self.leader: str | None = None
        self.max_round = st["promised"][0]
        self.low = 0
        self.promises: dict[str, tuple[tuple[int, Ballot, str], ...]] = {}
        self.proposals: dict[int, str] = {}
        self.votes: dict[int, set[str]] = {}
        self.sent_at: dict[int, float] = {}
        self.next_slot = 0
        self.clients: dict[str, str] = {}  # cmd_id -> client waiting for this node's reply
        self.queue: list[ClientRequest] = []
        # cmd_id -> slot, for every command this leader proposed or knows chosen and has not yet
        # applied: a client's retry of one of them must not be proposed in a second slot.
        self.in_flight: dict[str, int] = {}
        self.applied: set[str] = st["applied"]
        self.learned: dict[str, int] = {}  # leader: node -> every slot below is learned there
        self.seen_upto = 0
        if self.config.bootstrap and self.me == 0 and not st.get("booted"):
            st["booted"] = True
            self.start_phase1()
        else:
            self.reset_election_timer()

    def is_leader(self) -> bool:
        """Whether this node won phase 1 for its current ballot and has not stepped down."""
        return self.role == "leader"

    def epoch(self) -> tuple[int, ...]:
        """The ballot this node leads or campaigns with (none yet: empty)."""
        return tuple(self.ballot) if self.ballot is not None else ()

    def reset_election_timer(self) -> None:
        """(Re)arm the randomized timeout after which a silent leader is presumed dead."""
        low, high = self.config.election_timeout
        self.ctx.set_timer("election", self.ctx.rng.uniform(low, high))

    @property
    def promised(self) -> Ballot:
        """The highest ballot this acceptor promised (persistent)."""
        return self.ctx.storage["promised"]

    def promise(self, ballot: Ballot) -> None:
        """Persist a promise never to accept a lower ballot."""
        self.ctx.storage["promised"] = ballot
        self.max_round = max(self.max_round, ballot[0])

    # --- proposer: phase 1 ---------------------------------------------------------------------

    def start_phase1(self) -> None:
        """Become a candidate with a ballot above any seen, and ask every acceptor to promise it."""
        self.max_round = max(self.max_round, self.promised[0]) + 1
        ballot = (self.max_round, self.me)
        self.role, self.ballot, self.leader = "candidate", ballot, None
        self.proposals, self.votes, self.sent_at, self.in_flight = {}, {}, {}, {}
        self.promise(ballot)
        self.low = self.ctx.storage["executed"]
        self.promises = {self.ctx.name: self.accepted_from(self.low)}
        self.ctx.record("phase1", term=ballot[0])
        self.ctx.broadcast(Prepare(ballot, self.low))
        self.reset_election_timer()  # retry with a higher ballot if this one stalls
        if self.quorums.phase1_ok(self.promises):
            self.become_leader()

    def accepted_from(self, low: int) -> tuple[tuple[int, Ballot, str], ...]:
        """The accepted (slot, ballot, value) for slots >= low, in slot order."""
        accepted = self.ctx.storage["accepted"]
        return tuple((s, accepted[s][0], accepted[s][1]) for s in sorted(accepted) if s >= low)

    @handles(Promise)
    def on_promise(self, src: str, msg: Promise) -> None:
        """Collect promises for our ballot; a phase-1 quorum makes us leader."""
        if self.role != "candidate" or msg.ballot != self.ballot:
            return
        self.promises[src] = msg.accepted
        if self.quorums.phase1_ok(self.promises):
            self.become_leader()

    def become_leader(self) -> None:
        """Adopt the highest-ballot value of every reported slot, fill gaps with no-ops, lead."""
        assert self.ballot is not None
        self.role, self.leader = "leader", self.ctx.name
        self.ctx.cancel_timer("election")
        self.ctx.record("leader", term=self.ballot[0])
        best = self.adopt()
        chosen = self.ctx.storage["chosen"]
        top = max([self.low - 1, *best, *chosen])
        self.learned = {self.ctx.name: self.ctx.storage["executed"]}
        for slot in range(self.low, top + 1):
            if slot not in chosen:
                self.propose(slot, best[slot][1] if slot in best else NOOP)
            elif chosen[slot][0] != NOOP and chosen[slot][0] not in self.applied:
                self.in_flight.setdefault(chosen[slot][0], slot)
        self.next_slot = top + 1
        queued, self.queue = self.queue, []
        for request in queued:
            self.on_request(request)
        self.send_heartbeat()

    def adopt(self) -> dict[int, tuple[Ballot, str]]:
        """For each slot reported in a promise, the (ballot, value) accepted with the highest ballot."""
        best: dict[int, tuple[Ballot, str]] = {}
        for node in sorted(self.promises):
            for slot, ballot, value in self.promises[node]:
                if slot not in best or ballot > best[slot][0]:
                    best[slot] = (ballot, value)
        return best

    def step_down(self, higher: Ballot | None = None) -> None:
        """Give up leadership or candidacy (someone has a higher ballot)."""
        if higher is not None:
            self.max_round = max(self.max_round, higher[0])
        if self.role == "follower":
            return
        self.role, self.ballot = "follower", None
        self.proposals, self.votes, self.sent_at, self.in_flight, self.queue = {}, {}, {}, {}, []
        self.ctx.cancel_timer("heartbeat")
        self.reset_election_timer()

    # --- proposer: phase 2 ---------------------------------------------------------------------

    def propose(self, slot: int, value: str) -> None:
        """Send `accept` for one slot (accepting it locally first: the leader is an acceptor too)."""
        assert self.ballot is not None
        self.proposals[slot] = value
        self.votes[slot] = set()
        if value != NOOP:
            self.in_flight[value] = slot
        if self.ballot >= self.promised:
            self.ctx.storage["accepted"][slot] = (self.ballot, value)
            self.votes[slot].add(self.ctx.name)
        self.sent_at[slot] = self.ctx.now
        self.ctx.broadcast(Accept(self.ballot, slot, value))
        self.check_chosen(slot)

    @handles(Accepted)
    def on_accepted(self, src: str, msg: Accepted) -> None:
        """Count phase-2 votes for our ballot."""
        if self.role != "leader" or msg.ballot != self.ballot:
            return
        self.note_learned(src, msg.learned)
        if msg.slot not in self.proposals:
            return  # a late vote for a slot already chosen
        self.votes[msg.slot].add(src)
        self.check_chosen(msg.slot)

    def check_chosen(self, slot: int) -> None:
        """A phase-2 quorum accepted `slot`: it is chosen; tell every learner."""
        assert self.ballot is not None
        if not self.quorums.phase2_ok(self.votes[slot]):
            return
        value = self.proposals.pop(slot)
        del self.votes[slot], self.sent_at[slot]
        # The command stays in `in_flight` until applied: chosen is not yet executed, and a retry
        # arriving in between must not be proposed again.
        self.ctx.broadcast(Decide(slot, value, self.ballot[0]))
        self.learn(slot, value, self.ballot[0])

    def send_heartbeat(self) -> None:
        """Assert leadership, and resend `accept` for slots still waiting for a quorum."""
        assert self.ballot is not None
        interval = self.config.heartbeat_interval
        st = self.ctx.storage
        self.note_learned(self.ctx.name, st["executed"])
        self.ctx.broadcast(Heartbeat(self.ballot, st["executed"], st["compacted"]))
        for slot in sorted(self.proposals):
            if self.ctx.now - self.sent_at[slot] >= interval:
                self.sent_at[slot] = self.ctx.now
                msg = Accept(self.ballot, slot, self.proposals[slot])
                for peer in self.ctx.peers:
                    if peer not in self.votes[slot]:
                        self.ctx.send(peer, msg)
        self.ctx.set_timer("heartbeat", interval)

    # --- acceptor ------------------------------------------------------------------------------

    def _admit(self, src: str, ballot: Ballot) -> bool:
        """Nack a ballot below our promise; otherwise promise it (a proposer of a lower ballot steps down)."""
        if ballot < self.promised:
            self.ctx.send(src, Nack(ballot, self.promised))
            return False
        if self.ballot is not None and ballot > self.ballot:
            self.step_down(ballot)
        self.promise(ballot)
        return True

    @handles(Prepare)
    def on_prepare(self, src: str, msg: Prepare) -> None:
        """Promise a ballot at least as high as any promised, reporting accepted values; else nack."""
        if not self._admit(src, msg.ballot):
            return
        self.leader = None
        self.ctx.send(src, Promise(msg.ballot, msg.low, self.accepted_from(msg.low)))
        self.reset_election_timer()  # give the candidate time to finish phase 1

    @handles(Accept)
    def on_accept(self, src: str, msg: Accept) -> None:
        """Accept unless a higher ballot was promised."""
        if not self._admit(src, msg.ballot):
            return
        st = self.ctx.storage
        if msg.slot < st["compacted"]:
            return  # a stale resend: every node has learned this slot already
        st["accepted"][msg.slot] = (msg.ballot, msg.value)
        self.ctx.send(src, Accepted(msg.ballot, msg.slot, st["executed"]))
        self.leader = src
        if self.role == "follower":
            self.reset_election_timer()

    @handles(Heartbeat)
    def on_heartbeat(self, src: str, msg: Heartbeat) -> None:
        """A live leader: stay a follower, and ask for decisions we are missing."""
        if msg.ballot < self.promised:
            self.ctx.send(src, Nack(msg.ballot, self.promised))
            return
        if self.ballot is not None and msg.ballot > self.ballot:
            self.step_down(msg.ballot)
        if self.role != "follower":
            return
        self.leader = src
        self.reset_election_timer()
        self.compact(min(msg.compacted, self.ctx.storage["executed"]))
        # Ask only for what was already chosen at the previous heartbeat: a `decide` sent with
        # this heartbeat may simply still be in flight.
        if self.ctx.storage["executed"] < self.seen_upto:
            self.ctx.send(src, CatchUp(self.ctx.storage["executed"]))
        self.seen_upto = msg.chosen_upto

    @handles(Nack)
    def on_nack(self, src: str, msg: Nack) -> None:
        """Our ballot was rejected for a higher one: stop proposing."""
        if self.ballot is not None and msg.ballot == self.ballot and msg.promised > self.ballot:
            self.step_down(msg.promised)

    # --- clients -------------------------------------------------------------------------------

    def on_request(self, request: ClientRequest) -> None:
        """Leader: propose in the next free slot (once per command); others redirect."""
        cmd = request.cmd_id
        if cmd in self.applied:
            self.ctx.send(request.client, ClientReply(cmd, True, self.leader))
            return
        if self.role == "candidate":
            self.queue.append(request)
            return
        if self.role != "leader":
            self.ctx.send(request.client, ClientReply(cmd, False, self.leader))
            return
        self.clients[cmd] = request.client
        if cmd in self.in_flight:
            return
        slot = self.next_slot
        self.next_slot += 1
        self.propose(slot, cmd)

    # --- dispatch ------------------------------------------------------------------------------

    def on_timer(self, name: str) -> None:
        """Election timeout: start phase 1; heartbeat tick: assert leadership."""
        if name == "election" and self.role != "leader":
            self.start_phase1()
        elif name == "heartbeat" and self.role == "leader":
            self.send_heartbeat()

    # --- class hooks ---------------------------------------------------------------------------

    @classmethod
    def quorum_rules(cls, config: MultiPaxosConfig, n: int, weights: dict[str, float]) -> Quorums:
        """The phase-1/phase-2 rules `config.quorums` asks for on `n` nodes of these weights."""
        if config.quorums == "weighted":
            return Quorums.weighted(weights)
        if config.quorums == "majority":
            return Quorums.majority(n)
        return Quorums(config.quorums.phase1, config.quorums.phase2)

    @classmethod
    def fault_bound(cls, scenario: Scenario) -> tuple[str, int]:
        """Crashes of any nodes that still leave a live phase-1 and phase-2 quorum (`quorum.crash_f`).

        Not `tolerates` alone: with flexible quorums {phase1: 4, phase2: 2} of 5 a second crash
        leaves no phase-1 quorum, though f<n/2 of 5 would allow 2; weighted quorums can allow fewer still.
        """
        config = MultiPaxosConfig.model_validate(scenario.protocol)
        weights = {spec.name: spec.weight for spec in scenario.node_specs}
        return ("crash", crash_f(scenario.n, cls.quorum_rules(config, scenario.n, weights)))

    @classmethod
    def validate(cls, scenario: Scenario, config: ProtocolConfig) -> list[tuple[str, str]]:
        """Flexible quorums must intersect; heartbeats must come faster than election timeouts."""
        assert isinstance(config, MultiPaxosConfig)
        problems: list[tuple[str, str]] = []
        if isinstance(config.quorums, FlexibleQuorums):
            problem = flexible_problem(scenario.n, config.quorums.phase1, config.quorums.phase2)
            if problem:
                problems.append(("protocol.quorums", problem))
        if config.heartbeat_interval >= config.election_timeout[0]:
            problems.append(("protocol.heartbeat_interval", "must be shorter than the lowest election timeout"))
        return problems

    @classmethod
    def checkers(cls) -> list[Any]:
        """Agreement, integrity, validity, exactly-once, and gapless execution from slot 0."""
        from sim.checkers.agreement import GENERIC_CHECKERS
        from sim.checkers.execution import check_exactly_once, gapless_from

        return [*GENERIC_CHECKERS, check_exactly_once, gapless_from(0)]

    @classmethod
    def timing(cls, scenario: Scenario, config: ProtocolConfig, net: NetworkTiming) -> list[tuple[str, str]]:
        """Phase 1 needs a round trip; heartbeats must reach followers inside the election timeout."""
        return leader_timing(config, net)

    @classmethod
    def expected_latency(cls, scenario: Scenario, config: ProtocolConfig, net: NetworkTiming) -> float:
        """To the leader and back (one rtt), plus the leader's phase-2 round trip to a quorum."""
        return 2 * net.rtt

    @classmethod
    def summarise(cls, tables: RunTables, scenario: Scenario) -> dict[str, Any]:
        """`ballots`: phase-1 attempts; `ballot_round_max`: the highest ballot round tried."""
        events = tables.events
        phase1 = events[events["kind"] == "phase1"] if not events.empty else events
        return {
            "ballots": len(phase1),
            "ballot_round_max": int(phase1["term"].max()) if len(phase1) else 0,
            "leader_changes": int((events["kind"] == "leader").sum()) if not events.empty else 0,
        }

    @classmethod
    def mutate(cls, behaviour: str, msg: Message, dst: str, rng: random.Random, ctx: Context) -> Message | None:
        """Lies told to `dst`: equivocation splits the nodes, corruption invents values.

        `equivocate` tells odd-indexed nodes a no-op instead of the command (and hides accepted
        values from them in promises); `corrupt` replaces values with garbage.
        """
        if dst not in ctx.nodes:
            return None
        if behaviour == "equivocate" and ctx.nodes.index(dst) % 2 == 1:
            if isinstance(msg, Accept | Decide) and msg.value != NOOP:
                return replace(msg, value=NOOP)
            if isinstance(msg, Promise):
                return replace(msg, accepted=())
        if behaviour == "corrupt" and isinstance(msg, Accept | Decide):
            return replace(msg, value=f"corrupt-{rng.randrange(1 << 30):x}")
        return None


__all__ = ["FlexibleQuorums", "MultiPaxos", "MultiPaxosConfig"]

"""PBFT: Practical Byzantine Fault Tolerance (Castro and Liskov, OSDI 1999).

n >= 3f + 1 replicas; the primary of view v is replica v mod n. Every quorum has
q = ceil((n + f + 1) / 2) replicas (`quorum.bft_quorum`; 2f + 1 when n = 3f + 1), so that any two
quorums share an honest replica whatever n is. Normal case: the client sends a request to the
primary; the primary multicasts a pre-prepare assigning it a sequence number; each backup that
accepts it multicasts a prepare; a replica that is *prepared* (the pre-prepare plus q - 1
matching prepares from different backups) multicasts a commit; a replica that is
*committed-local* (prepared plus q matching commits) executes the request once all lower
sequence numbers are executed and replies to the client, which waits for f + 1 matching replies.
Every `checkpoint_interval` executions a replica multicasts a checkpoint; q matching ones
make it stable, which truncates the log and moves the watermarks (h, h + L]. A backup waiting
too long for a request to execute starts a view change (see `view_change.py`).

Messages are point-to-point, a replica never sends to itself and the primary sends no prepare,
so a request costs 1 request, n-1 pre-prepares, (n-1)^2 prepares, n(n-1) commits and n replies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import Field

from sim.protocols._broadcast_client import BroadcastBft
from sim.protocols.base import NOOP, Message, Protocol, ProtocolConfig, register
from sim.protocols.dispatch import Dispatch, handles
from sim.protocols.pbft import lies
from sim.protocols.pbft.checkpoint import CheckpointMixin
from sim.protocols.pbft.client import PbftClient
from sim.protocols.pbft.messages import (
    NULL_DIGEST,
    Commit,
    Prepare,
    PrePrepare,
    Reply,
    Request,
    Vote,
    next_state_digest,
)
from sim.protocols.pbft.retransmit import RetransmitMixin
from sim.protocols.pbft.state import ReplicaState, Slot
from sim.protocols.pbft.view_change import ViewChangeMixin
from sim.protocols.quorum import byzantine_f
from sim.scenario import Ms
from sim.timing import NetworkTiming, shortfall, show_ms

if TYPE_CHECKING:
    import random

    from sim.protocols.base import Context
    from sim.records import RunTables
    from sim.scenario import Scenario
    from sim.workload import Client

FUTURE_LIMIT = 100_000
"""Most messages of not-yet-entered views a replica keeps (a faulty peer must not exhaust memory)."""


class PbftConfig(ProtocolConfig):
    """PBFT settings."""

    f: Annotated[int, Field(ge=0)] | None = None
    """Faults tolerated; derived as (n-1)//3 when not given."""
    checkpoint_interval: Annotated[int, Field(ge=1)] = 64
    log_size: Annotated[int, Field(ge=1)] | None = None
    """L, the width of the watermark window; 2 x checkpoint_interval when not given."""
    view_change_timeout: Annotated[Ms, Field(gt=0)] = Field(default="max(300ms, 8rtt)", validate_default=True)
    """T: how long a backup waits for a request to execute before suspecting the primary (default: 300ms, or 8 rtt)."""
    max_backoff: Annotated[int, Field(ge=1)] = 64
    """Cap on the exponential backoff factor of the view-change timer."""
    retransmit_timeout: Annotated[Ms, Field(gt=0)] | None = None
    """How long a replica may make no progress before it asks peers to re-send (and re-sends its
    view-change, or fetch); view_change_timeout / 6 when not given. Backs off x2 up to x4."""


def _multicast_cpu(n: int, net: NetworkTiming) -> float:
    # Pre-prepare, prepare and commit each sign n-1 messages at the sender and verify n-1 at a
    # receiver, one after another on its CPU; `rtt` holds only one message's share of that.
    return 3 * (n - 1) * net.cpu


@register("pbft")
class Pbft(Dispatch, BroadcastBft, ViewChangeMixin, CheckpointMixin, RetransmitMixin, Protocol):
    """One PBFT replica: pre-prepare, prepare, commit, checkpoints, view changes, retransmission."""

    Config = PbftConfig
    byzantine_behaviours: ClassVar[tuple[str, ...]] = (
        "silent",
        "omit",
        "delay",
        "replay",
        "forge",
        "equivocate",
        "corrupt",
        "double_vote",
        "censor",
    )
    config: PbftConfig

    # --- lifecycle -----------------------------------------------------------------------------

    def on_start(self) -> None:
        """Load (or create) the replica state; re-arm the view-change timer if something waits."""
        ctx = self.ctx
        self.count_replicas()
        self.window = self.config.log_size or 2 * self.config.checkpoint_interval
        # One quorum size q for commits, view changes, new views and checkpoints: 2f + 1 when
        # n = 3f + 1, ceil((n + f + 1) / 2) in general, so that any two quorums share an honest replica.
        self.commit_quorum = self.quorum
        self.prepare_quorum = self.commit_quorum - 1  # the pre-prepare stands for the primary's vote (it sends no prepare)
        first = "pbft" not in ctx.storage
        if not first:  # a reboot: only what was on stable storage is left
            ctx.storage["pbft"] = ctx.storage["pbft"].after_crash(self.me, self.config.checkpoint_interval)
        self.st: ReplicaState = ctx.storage.setdefault("pbft", ReplicaState())
        self.timer_on = False
        self.timer_at: float | None = None
        # When this replica started waiting for each request (the paper's per-request timer); the
        # clocks are volatile, so after a recovery every request known to wait starts afresh.
        self.since: dict[str, float] = dict.fromkeys(self.st.waiting, ctx.now)
        self.rt_on, self.rt_tries, self.rt_mark = False, 0, None
        self.rt_quiet: int | None = None
        self.rt_touched: dict[tuple[int, int], Slot] = {}
        if first and self.primary(0) == self.me:
            ctx.record("leader", term=0)
        if not self.st.active:
            self.set_vc_timer()
        else:
            self.arm_timer()
        if self.st.last_exec < self.st.h:  # rebooted behind its stable checkpoint: state transfer
            self.request_fetch([s for s, _ in self.st.stable_proof if s != self.me][: self.f + 1])
        self.arm_retransmit()

    def primary(self, view: int) -> str:
        """The primary of `view`: replica v mod n."""
        return self.ctx.nodes[view % self.n]

    def is_leader(self) -> bool:
        """Whether this replica is the primary of the view it is active in."""
        return self.st.active and self.primary(self.st.view) == self.me

    def epoch(self) -> tuple[int, ...]:
        """The current view."""
        return (self.st.view,)

    def slot(self, view: int, seq: int) -> Slot:
        """The log entry for (view, seq), created empty on first use; every change to the log goes through here."""
        key = (view, seq)
        slot = self.st.log.get(key)
        if slot is None:
            slot = self.st.log[key] = Slot()
        if self.rt_quiet is not None:
            self.rt_touched[key] = slot  # the retransmission check looks at it again (see `outstanding`)
        return slot

    def in_window(self, seq: int) -> bool:
        """H < seq <= h + L."""
        return self.st.h < seq <= self.st.h + self.window

    # --- requests ------------------------------------------------------------------------------

    @handles(Request)
    def on_client_request(self, src: str, req: Request) -> None:
        """Primary: assign a sequence number. Backup: forward to the primary and start the timer."""
        st = self.st
        if req.cmd_id in st.executed:
            self.ctx.send(req.client, Reply(st.view, req.cmd_id, st.executed[req.cmd_id]))
            return
        self.wait_for(req)
        if not st.active:
            return
        if self.is_leader():
            self.assign_pending()
            return
        if src not in self.ctx.nodes:
            self.ctx.send(self.primary(st.view), req)
        self.arm_timer()

    def assign_pending(self) -> None:
        """Primary: give every waiting, unassigned request the next sequence number in the window."""
        st = self.st
        for cmd_id, req in list(st.waiting.items()):
            if cmd_id in st.assigned:
                continue
            if not self.in_window(st.next_seq):
                return
            seq = st.next_seq
            st.next_seq += 1
            st.assigned[cmd_id] = seq
            slot = self.slot(st.view, seq)
            slot.digest, slot.request = req.digest, req
            self.multicast(PrePrepare(st.view, seq, req.digest, req))
            self.check_prepared(st.view, seq, slot)

    # --- normal case ---------------------------------------------------------------------------

    def defer(self, src: str, view: int, msg: Message) -> bool:
        """Keep a message of a view not entered yet; True when the message is not for now."""
        st = self.st
        if view > st.view or (view == st.view and not st.active):
            if len(st.future) < FUTURE_LIMIT:
                st.future.append((src, msg))
            return True
        return view < st.view

    @handles(PrePrepare)
    def on_pre_prepare(self, src: str, pp: PrePrepare) -> None:
        """Accept a pre-prepare from the primary of our view if its digest is right and unique."""
        if self.defer(src, pp.view, pp) or src != self.primary(pp.view) or not self.in_window(pp.seq):
            return
        expected = pp.request.digest if pp.request is not None else NULL_DIGEST
        if pp.digest != expected:
            return  # a digest that does not match the request: a faulty primary
        slot = self.slot(pp.view, pp.seq)
        if slot.digest is not None:
            return  # already accepted one for (v, n): keep the first, ignore conflicts
        self.accept_pre_prepare(pp, slot)

    def accept_pre_prepare(self, pp: PrePrepare, slot: Slot) -> None:
        """Log the pre-prepare, multicast our prepare, and start waiting for the request."""
        slot.digest, slot.request = pp.digest, pp.request
        if pp.request is not None:
            self.wait_for(pp.request)
            self.arm_timer()
        self.vote(slot.prepares, slot.prepare_votes, self.me, pp.digest)
        self.multicast(Prepare(pp.view, pp.seq, pp.digest))
        self.check_prepared(pp.view, pp.seq, slot)

    def multicast(self, msg: PrePrepare | Vote) -> None:
        """Multicast a first-time pre-prepare, prepare or commit, and journal what it said.

        The `sent` events let `check_no_equivocation` see whether an honest replica ever said
        two things about one (kind, view, seq); retransmissions re-send these and are not journaled.
        """
        self.ctx.record("sent", msg=msg.kind, view=msg.view, seq=msg.seq, digest=msg.digest)
        self.ctx.broadcast(msg)

    @staticmethod
    def vote(votes: dict[str, str], counts: dict[str, int], sender: str, digest: str) -> bool:
        """Record one vote per sender; False when the sender already voted."""
        if sender in votes:
            return False
        votes[sender] = digest
        counts[digest] = counts.get(digest, 0) + 1
        return True

    @handles(Prepare)
    def on_prepare(self, src: str, p: Prepare) -> None:
        """Log a backup's prepare for our view."""
        if self.defer(src, p.view, p) or src == self.primary(p.view) or not self.in_window(p.seq):
            return
        slot = self.slot(p.view, p.seq)
        if self.vote(slot.prepares, slot.prepare_votes, src, p.digest):
            self.check_prepared(p.view, p.seq, slot)

    def check_prepared(self, view: int, seq: int, slot: Slot) -> None:
        """prepared(m, v, n, i): the pre-prepare and q - 1 matching prepares from different backups."""
        if slot.prepared or slot.digest is None or slot.prepare_votes.get(slot.digest, 0) < self.prepare_quorum:
            return
        slot.prepared = True
        self.st.certs[seq] = self.make_cert(seq, view, slot)
        self.vote(slot.commits, slot.commit_votes, self.me, slot.digest)
        self.multicast(Commit(view, seq, slot.digest))
        self.check_committed(view, seq, slot)

    @handles(Commit)
    def on_commit(self, src: str, c: Commit) -> None:
        """Log a replica's commit for our view."""
        if self.defer(src, c.view, c) or not self.in_window(c.seq):
            return
        slot = self.slot(c.view, c.seq)
        if self.vote(slot.commits, slot.commit_votes, src, c.digest):
            self.check_committed(c.view, c.seq, slot)

    def check_committed(self, view: int, seq: int, slot: Slot) -> None:
        """committed-local(m, v, n, i): prepared and q matching commits (ours included)."""
        if slot.committed or not slot.prepared or slot.commit_votes.get(slot.digest or "", 0) < self.commit_quorum:
            return
        slot.committed = True
        assert slot.digest is not None
        if seq > self.st.last_exec:
            self.st.committed.setdefault(seq, (slot.digest, slot.request, view))
        self.execute()

    def execute(self) -> None:
        """Execute committed requests in sequence order, reply to clients, checkpoint."""
        st = self.st
        progress = False
        while st.last_exec + 1 in st.committed:
            seq = st.last_exec + 1
            _, req, view = st.committed.pop(seq)
            progress = self.apply(seq, req, view, True) or progress
            if seq % self.config.checkpoint_interval == 0:
                self.take_checkpoint(seq)
        if progress:
            st.backoff = 1
        self.arm_timer()  # executed requests no longer count; the next-oldest one sets the deadline

    def apply(self, seq: int, req: Request | None, view: int, reply: bool) -> bool:
        """Decide and execute `seq` (the next one); True when it executed a new request."""
        st = self.st
        # A request ordered a second time (a retransmission assigned again after a view change)
        # is executed once: the decision says so, for the exactly-once checker.
        fresh = req is not None and req.cmd_id not in st.executed
        if req is not None and not fresh:
            self.ctx.decide(seq, req.cmd_id, view=view, duplicate=True)
        else:
            self.ctx.decide(seq, NOOP if req is None else req.cmd_id, view=view)
        st.last_exec = seq
        st.history[seq] = (req, view)
        # The digest chains every decided value, duplicates included, so that a checkpoint
        # certifies the whole decided sequence (which is what a fetched history is checked against).
        st.state = next_state_digest(st.state, seq, NOOP if req is None else req.cmd_id)
        if req is None:
            return False
        if fresh:  # a request is executed once, whatever its sequence numbers
            st.executed[req.cmd_id] = st.state
        st.waiting.pop(req.cmd_id, None)
        self.since.pop(req.cmd_id, None)
        if reply:
            self.ctx.send(req.client, Reply(st.view, req.cmd_id, st.executed[req.cmd_id]))
        return fresh

    # --- timers --------------------------------------------------------------------------------

    def wait_for(self, req: Request) -> None:
        """Start waiting for `req` to execute, unless it already has; its clock starts now."""
        if req.cmd_id not in self.st.executed:
            self.st.waiting.setdefault(req.cmd_id, req)
            self.since.setdefault(req.cmd_id, self.ctx.now)

    def restart_clocks(self) -> None:
        """Every waiting request waits afresh from now (a new view deserves a full period)."""
        now = self.ctx.now
        for cmd_id in self.since:
            self.since[cmd_id] = now

    def arm_timer(self) -> None:
        """Backups: expire when the longest-waiting request has waited T x backoff; the primary runs none.

        Each request is timed from when this backup started waiting for it (section 4.4), so
        executing other requests does not excuse a primary that never orders one of them.
        """
        st = self.st
        if not st.active:
            return
        if not self.since or self.primary(st.view) == self.me:
            if self.timer_on:
                self.ctx.cancel_timer("view_change")
            self.timer_on, self.timer_at = False, None
            return
        # `since` only ever gains later times or is reset to one time, so its first entry is the oldest.
        deadline = next(iter(self.since.values())) + self.config.view_change_timeout * st.backoff
        if not self.timer_on or deadline != self.timer_at:
            self.timer_on, self.timer_at = True, deadline
            self.ctx.set_timer("view_change", deadline - self.ctx.now)

    def on_timer(self, name: str) -> None:
        """The primary is suspected (or the new view is late): move to the next view; or retransmit."""
        if name == "view_change":
            self.timer_on, self.timer_at = False, None
            if self.st.active and self.lagging():
                self.restart_clocks()  # the others execute past us: catch up rather than blame the primary
                self.arm_timer()
            else:
                self.start_view_change(self.st.view + 1)
        elif name == "retransmit":
            self.on_retransmit_timer()
        self.arm_retransmit()

    # --- dispatch ------------------------------------------------------------------------------

    def on_message(self, src: str, msg: Message) -> None:
        """Route a message through the handler table, then re-arm retransmission for what it changed."""
        handler = self.handlers.get(type(msg))
        if handler is not None:
            handler(self, src, msg)
            self.arm_retransmit()

    # --- class hooks ---------------------------------------------------------------------------

    @classmethod
    def figures(cls) -> dict[str, Any]:
        """Views over time with view changes, checkpoints and state transfers."""
        from sim.protocols.pbft.plots import pbft_figures

        return pbft_figures()

    @classmethod
    def client_class(cls) -> type[Client]:
        """Clients wait for f + 1 matching replies and retransmit to every replica."""
        return PbftClient

    @classmethod
    def validate(cls, scenario: Scenario, config: ProtocolConfig) -> list[tuple[str, str]]:
        """N >= 3f + 1, and the watermark window holds at least one checkpoint interval."""
        assert isinstance(config, PbftConfig)
        problems: list[tuple[str, str]] = []
        if config.f is not None and scenario.n < 3 * config.f + 1:
            problems.append(
                ("protocol.f", f"PBFT needs n >= 3f + 1 = {3 * config.f + 1} nodes to tolerate f={config.f}; got n={scenario.n}")
            )
        if config.log_size is not None and config.log_size < config.checkpoint_interval:
            problems.append(("protocol.log_size", "must be at least checkpoint_interval, or the window can never advance"))
        return problems

    @classmethod
    def checkers(cls) -> list[Any]:
        """Agreement, integrity, validity, exactly-once and gapless execution, and no honest replica equivocating."""
        from sim.checkers.agreement import GENERIC_CHECKERS
        from sim.checkers.execution import LOG_CHECKERS
        from sim.protocols.pbft.checks import PBFT_CHECKERS

        return [*GENERIC_CHECKERS, *LOG_CHECKERS, *PBFT_CHECKERS]

    @classmethod
    def warnings(cls, scenario: Scenario, config: ProtocolConfig) -> list[str]:
        """A cluster that tolerates no faulty replica (f = 0) is legal but rarely what was meant."""
        assert isinstance(config, PbftConfig)
        f = byzantine_f(scenario.n) if config.f is None else config.f
        if f > 0:
            return []
        return [f"pbft on {scenario.n} node{'s' if scenario.n != 1 else ''} tolerates no faulty replica (f = 0; 4 nodes tolerate one)"]

    @classmethod
    def timing(cls, scenario: Scenario, config: ProtocolConfig, net: NetworkTiming) -> list[tuple[str, str]]:
        """The view-change timer must outlast one request from a backup's receipt.

        That is forward, pre-prepare, prepare, commit (four one-way hops: 2 rtt) plus the CPU
        of three multicasts.
        """
        assert isinstance(config, PbftConfig)
        cpu = _multicast_cpu(scenario.n, net)
        return shortfall(
            "protocol.view_change_timeout",
            config.view_change_timeout,
            2 * net.rtt + cpu,
            "what one request needs",
            "backups suspect every primary before a request can finish",
            "raise it, e.g. view_change_timeout: 8rtt",
            f"2 x rtt {show_ms(net.rtt)}" + (f" + CPU {show_ms(cpu)}" if cpu else ""),
        )

    @classmethod
    def expected_latency(cls, scenario: Scenario, config: ProtocolConfig, net: NetworkTiming) -> float:
        """Request, pre-prepare, prepare, commit, reply: five one-way hops, plus three multicasts' CPU."""
        return 2.5 * net.rtt + _multicast_cpu(scenario.n, net)

    @classmethod
    def summarise(cls, tables: RunTables, scenario: Scenario) -> dict[str, Any]:
        """`view_changes` (views installed after view 0), `view_max`, `forged_rejected`."""
        events = tables.events
        leaders = events[events["kind"] == "leader"] if not events.empty else events
        views = sorted({int(v) for v in leaders["term"]}) if len(leaders) else [0]
        return {
            "view_changes": sum(1 for v in views if v > 0),
            "view_max": max(views),
            "forged_rejected": int(tables.counters.get("forged_rejected", 0)),
        }

    @classmethod
    def mutate(
        cls, behaviour: str, msg: Message, dst: str, rng: random.Random, ctx: Context, client: str = "client0"
    ) -> Message | tuple[Message, ...] | None:
        """Lies in every message a replica sends (see `lies.py`); `client` is whom `censor` shuts out."""
        protocol = getattr(ctx, "protocol", None)
        interval = protocol.config.checkpoint_interval if isinstance(protocol, Pbft) else PbftConfig().checkpoint_interval
        return lies.mutate(behaviour, msg, dst, rng, ctx, client, interval)

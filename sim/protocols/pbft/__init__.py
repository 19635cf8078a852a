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

This module is the replica's frame (its state at start, timers, dispatch) and the mechanism's
class hooks; the normal case is `normal.py`, checkpoints `checkpoint.py`, retransmission and
state transfer `retransmit.py`, the settings `config.py`.

Messages are point-to-point, a replica never sends to itself and the primary sends no prepare,
so a request costs 1 request, n-1 pre-prepares, (n-1)^2 prepares, n(n-1) commits and n replies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from sim.protocols._broadcast_client import BroadcastBft
from sim.protocols.base import Message, Protocol, ProtocolConfig, register
from sim.protocols.dispatch import Dispatch
from sim.protocols.pbft import lies
from sim.protocols.pbft.alarm import Alarm
from sim.protocols.pbft.checkpoint import CheckpointMixin
from sim.protocols.pbft.client import PbftClient
from sim.protocols.pbft.config import PbftConfig
from sim.protocols.pbft.messages import Request
from sim.protocols.pbft.normal import NormalCase
from sim.protocols.pbft.retransmit import RetransmitMixin
from sim.protocols.pbft.state import ReplicaState, Slot
from sim.protocols.pbft.view_change import ViewChangeMixin
from sim.protocols.quorum import byzantine_f
from sim.timing import NetworkTiming, shortfall, show_ms

__all__ = ["Pbft", "PbftConfig"]

if TYPE_CHECKING:
    import random

    from sim.protocols.base import Context
    from sim.records import RunTables
    from sim.scenario import Scenario
    from sim.workload import Client


def _multicast_cpu(n: int, net: NetworkTiming) -> float:
    # Pre-prepare, prepare and commit each sign n-1 messages at the sender and verify n-1 at a
    # receiver, one after another on its CPU; `rtt` holds only one message's share of that.
    return 3 * (n - 1) * net.cpu


@register("pbft")
class Pbft(Dispatch, BroadcastBft, NormalCase, ViewChangeMixin, CheckpointMixin, RetransmitMixin, Protocol):
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
    weighs_nodes: ClassVar[bool] = False
    """Every replica counts as one: a node weight would do nothing."""
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
        self.vc_alarm = Alarm(ctx, "view_change")  # the request timer, and the new-view timer while inactive
        self.rt_alarm = Alarm(ctx, "retransmit")
        self.lag_mark: int | None = None  # last_exec when the timer last expired while lagging
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
        if self.rt_quiet is not None and seq > self.st.last_exec:
            # The retransmission check looks at it again (see `outstanding`); an entry already
            # executed here is never in progress again (late votes for it are most messages at large n).
            self.rt_touched[key] = slot
        return slot

    def in_window(self, seq: int) -> bool:
        """H < seq <= h + L."""
        return self.st.h < seq <= self.st.h + self.window

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
                self.vc_alarm.stop()
            self.timer_on, self.timer_at = False, None
            return
        # `since` only ever gains later times or is reset to one time, so its first entry is the oldest.
        deadline = next(iter(self.since.values())) + self.config.view_change_timeout * st.backoff
        if not self.timer_on or deadline != self.timer_at:
            self.timer_on, self.timer_at = True, deadline
            self.vc_alarm.set(deadline - self.ctx.now)

    def on_timer(self, name: str) -> None:
        """The primary is suspected (or the new view is late): move to the next view; or retransmit."""
        if name == "view_change":
            if not self.vc_alarm.expired():
                return  # went off before a deadline that has moved later (or stopped) since it was set
            self.timer_on, self.timer_at = False, None
            st = self.st
            if st.active and self.lagging() and st.last_exec != self.lag_mark:
                # The others execute past us: catch up rather than blame the primary, for as long as
                # catching up advances. A catch-up that stalls for a whole period (no stable
                # checkpoint to fetch, say) must not hold back the view change for ever.
                self.lag_mark = st.last_exec
                self.restart_clocks()
                self.arm_timer()
            else:
                self.lag_mark = None
                self.start_view_change(st.view + 1)
        elif name == "retransmit":
            if not self.rt_alarm.expired():
                return
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
    def recovery_time(cls, scenario: Scenario, config: ProtocolConfig) -> float:
        """A request's timer, then a new-view wait for each of up to f faulty primaries and a correct one, all at the capped backoff."""
        f = byzantine_f(scenario.n, config.f)  # type: ignore[attr-defined]
        return (f + 2) * config.view_change_timeout * config.max_backoff  # type: ignore[attr-defined]

    @classmethod
    def warnings(cls, scenario: Scenario, config: ProtocolConfig) -> list[str]:
        """A cluster that tolerates no faulty replica (f = 0) is legal but rarely what was meant."""
        assert isinstance(config, PbftConfig)
        f = byzantine_f(scenario.n, config.f)
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

"""Epidemic dissemination (Demers et al., 1987): anti-entropy and rumor mongering.

Every node holds a key-value store. A write lands at one node (a client's `ClientRequest`
carrying `key=value`), which stamps it with the next version of that key and its own name;
the store keeps, per key, the greatest (version, writer) pair: last writer wins, ties broken
by writer name, so every node that has seen the same writes holds the same value.

- `style: anti_entropy`: each round a node contacts `fanout` peers and they compare digests
  (key -> version, writer). `push` sends the initiator's newer values to the peer, `pull`
  brings the peer's newer values back, `pushpull` does both.
- `style: rumor`: a freshly learned value is a hot rumor; a node spreads its hot rumors each
  round until they go cold, either after `k` unnecessary contacts (`stop: counter`) or with
  probability 1/k per unnecessary contact (`stop: coin`). With `feedback: false` (blind) every
  contact counts, needed or not; with `feedback: true` only contacts with a node that already
  knew. In `pull` and `pushpull` a node asks a peer each round for the hot rumors it lacks.

Each time a node learns a value it decides `slot=key@version:writer`. At the end of the run
every live node records a `final_state` event, which the convergence checker compares.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field

from sim.protocols._topology import MeshTopology, Overlay, TopologySpec, build_overlay, check_topology
from sim.protocols.base import ClientReply, ClientRequest, Protocol, ProtocolConfig, register, unused_settings
from sim.protocols.dispatch import Dispatch, handles
from sim.protocols.gossip.draws import NodeDraws
from sim.protocols.gossip.messages import Digest, Entry, Rumor, RumorFeedback, RumorPoll, Stamp, Updates, newer
from sim.protocols.gossip.workload import UpdatesWorkload, check_updates_workload
from sim.scenario import Ms, PositiveMs, Scenario
from sim.timing import NetworkTiming, shortfall

if TYPE_CHECKING:
    import numpy as np

# Settings that only some styles read: (field, the setting that reads it, the value it needs).
_USED_ONLY_WITH = (
    ("stop", "style", "rumor"),
    ("k", "style", "rumor"),
    ("feedback", "style", "rumor"),
    ("settle", "style", "anti_entropy"),
    ("jitter", "sync_rounds", False),
)


class GossipConfig(ProtocolConfig):
    """Settings of `mechanism: gossip`."""

    mode: Literal["push", "pull", "pushpull"] = "pushpull"
    style: Literal["anti_entropy", "rumor"] = "anti_entropy"
    stop: Literal["counter", "coin"] = "counter"
    k: Annotated[int, Field(ge=1)] = 2
    feedback: bool = True
    fanout: Annotated[int, Field(ge=1)] = 1
    interval: PositiveMs = Field(default="max(100ms, 1rtt)", validate_default=True)
    """Time between a node's rounds (default: 100ms, or one rtt on a slower network)."""
    sync_rounds: bool = True
    jitter: Annotated[float, Field(ge=0, lt=1)] = 0.1
    settle: Ms = 1000.0
    topology: TopologySpec = Field(default_factory=MeshTopology)


@register("gossip")
class Gossip(Dispatch, Protocol):
    """One node of an epidemic protocol: anti-entropy or rumor mongering, by push, pull or both."""

    Config = GossipConfig
    tolerates: ClassVar[str] = "crash, loss (eventual)"
    config: GossipConfig
    byzantine_behaviours: ClassVar[tuple[str, ...]] = ("silent", "omit", "delay", "replay")
    weighs_nodes: ClassVar[bool] = False
    """Every node counts as one: a node weight would do nothing."""

    # --- class hooks ---------------------------------------------------------------------

    @classmethod
    def validate(cls, scenario: Scenario, config: ProtocolConfig) -> list[tuple[str, str]]:
        """Fanout, topology parameters, and the update workload's node names."""
        assert isinstance(config, GossipConfig)
        problems: list[tuple[str, str]] = []
        if scenario.n < 2:
            problems.append(("nodes", "gossip needs at least 2 nodes"))
        elif config.fanout > scenario.n - 1:
            problems.append(("protocol.fanout", f"must be at most nodes - 1 ({scenario.n - 1})"))
        problems += unused_settings(config, _USED_ONLY_WITH)
        problems += check_topology(config.topology, scenario.node_names)
        problems += check_updates_workload(scenario)
        return problems

    @classmethod
    def timing(cls, scenario: Scenario, config: ProtocolConfig, net: NetworkTiming) -> list[tuple[str, str]]:
        """A round's messages should arrive before the next round starts."""
        assert isinstance(config, GossipConfig)
        return shortfall(
            "protocol.interval",
            config.interval,
            net.one_way,
            "the one-way delay (p99 over the slowest link)",
            "each round starts before the last one's messages arrive",
            "raise it, e.g. interval: 1rtt",
        )

    @classmethod
    def prepare(cls, scenario: Scenario, config: ProtocolConfig, rng: np.random.Generator) -> Overlay:
        """Build the overlay once; every node reads it through `ctx.shared`."""
        assert isinstance(config, GossipConfig)
        return build_overlay(config.topology, scenario.node_names, rng)

    @classmethod
    def workloads(cls) -> dict[str, Any]:
        """Adds `updates`: writes to keys at nodes (Poisson or scripted)."""
        return {"updates": UpdatesWorkload}

    @classmethod
    def fault_bound(cls, scenario: Scenario) -> tuple[str, int]:
        """Any node but one may be down at once, as long as each comes back (the store survives a crash).

        Partitions and lossy links are network faults, always drawn; what gossip promises after they
        heal is convergence, which `consim explore` checks through `progress_after_heal`.
        """
        return ("crash", max(0, scenario.n - 1))

    @classmethod
    def progress_after_heal(cls, tables: Any, summary: dict[str, Any], scenario: Scenario, healed: float) -> bool | None:
        """Anti-entropy: every write reaches every live node it can reach, given `settle` after the heal and the last write.

        None (no verdict) for rumor mongering, whose residue is a metric, or when the run ends too soon.
        """
        cfg = GossipConfig.model_validate(scenario.protocol)
        submits = tables.requests["submit_ms"] if not tables.requests.empty else []
        last = max([healed, *map(float, submits)])
        if cfg.style != "anti_entropy" or last + cfg.settle > scenario.duration:
            return None
        return summary.get("liveness") in (None, 1.0)

    @classmethod
    def checkers(cls) -> list[Any]:
        """Convergence (anti-entropy) and validity of held values."""
        from sim.protocols.gossip.checks import check_convergence, check_gossip_validity

        return [check_convergence, check_gossip_validity]

    @classmethod
    def summarise(cls, tables: Any, scenario: Scenario) -> dict[str, Any]:
        """Spread times, residue and per-node costs."""
        from sim.protocols.gossip.checks import gossip_summary

        return gossip_summary(tables, scenario)

    @classmethod
    def figures(cls) -> dict[str, Any]:
        """The infection curve, and residue and messages per node for rumor mongering."""
        from sim.protocols.gossip.plots import gossip_figures

        return gossip_figures()

    # --- lifecycle -----------------------------------------------------------------------

    def on_start(self) -> None:
        """Reopen the persistent store; hot rumors are volatile and start empty."""
        storage = self.ctx.storage
        self.store: dict[str, tuple[int, str, str]] = storage.setdefault("store", {})
        self.writes: dict[str, str] = storage.setdefault("writes", {})
        self.hot: dict[str, int] = {}
        self.overlay: Overlay = self.ctx.shared
        self.me = self.overlay.index[self.ctx.name]
        # The node's own stream (not ctx.rng: see draws.py), fresh at each start as a rebooted process's would be.
        boots = storage["boots"] = storage.get("boots", 0) + 1
        self.rng = NodeDraws(self.overlay.key, self.me, boots)
        self.ticking = False
        self._stamps: tuple[Stamp, ...] | None = None
        self._digest_msg: Digest | None = None
        cfg = self.config
        self.rumor = cfg.style == "rumor"
        self.pushing = cfg.mode in ("push", "pushpull")
        self.pulling = cfg.mode in ("pull", "pushpull")
        if not self.rumor or self.pulling:
            self._schedule(first=True)

    def on_stop(self) -> None:
        """Record the final store compactly for the convergence checker."""
        state = ";".join(f"{k}={v}@{ver}:{w}" for k, (ver, w, v) in sorted(self.store.items()))
        fields: dict[str, Any] = {"state": state}
        if self.overlay.neighbours is not None:
            fields["neighbours"] = ",".join(self.overlay.neighbours[self.ctx.name])
        self.ctx.record("final_state", **fields)

    # --- rounds --------------------------------------------------------------------------

    def _schedule(self, first: bool = False) -> None:
        interval = self.config.interval
        now = self.ctx.now
        if self.config.sync_rounds:
            # Round r starts at r * interval for every node; the epsilon absorbs float error.
            delay = (math.floor(now / interval + 1e-9) + 1) * interval - now
        elif first:
            delay = self.rng.uniform(0.0, interval)
        else:
            j = self.config.jitter
            delay = interval * self.rng.uniform(1.0 - j, 1.0 + j)
        self.ticking = True
        self.ctx.set_timer("round", delay)

    def on_timer(self, name: str) -> None:
        """A gossip round: contact `fanout` peers."""
        if self.rumor and not self.pulling and not self.hot:
            self.ticking = False  # push rumor mongering sleeps until a new rumor arrives
            return
        for peer in self._pick_peers():
            self._initiate(peer)
        self._schedule()

    def _pick_peers(self) -> list[str]:
        rng = self.rng
        fanout = self.config.fanout
        neighbours = self.overlay.neighbours
        if neighbours is None:
            nodes = self.overlay.nodes
            if fanout == 1:
                # One draw, skipping our own index: this runs n times a round.
                i = int(rng.random() * (len(nodes) - 1))
                return [nodes[i + 1 if i >= self.me else i]]
            return [nodes[i + 1 if i >= self.me else i] for i in rng.sample(range(len(nodes) - 1), fanout)]
        mine = neighbours[self.ctx.name]
        if not mine:
            return []
        if fanout >= len(mine):
            return list(mine)
        if fanout == 1:
            return [mine[rng.randrange(len(mine))]]
        return rng.sample(mine, fanout)

    def _initiate(self, peer: str) -> None:
        send = self.ctx.send
        if not self.rumor:
            # The same digest goes out every round until the store changes: one message object serves them all.
            send(peer, self._digest_message())
            return
        hot = self._hot_entries()
        if self.pulling:
            entries = hot if self.pushing else ()
            send(peer, Rumor(entries, self._digest()) if entries else RumorPoll((), self._digest()))
        elif hot:
            send(peer, Rumor(hot))
        if self.pushing and hot and not self.config.feedback:
            for entry in hot:
                self._contact(entry[0])  # blind: every push counts

    # --- store ---------------------------------------------------------------------------

    def _digest(self) -> tuple[Stamp, ...]:
        """The stamps of the store, with `_digest_msg` their `Digest`: made when the store has changed, else kept."""
        if self._stamps is None:
            stamps = tuple((k, ver, w) for k, (ver, w, _) in self.store.items())
            # Nodes that hold the same versions share one digest (it is immutable): an epidemic
            # makes the same digest at every node in turn, and 100,000 equal copies cost memory
            # and a comparison of two copies reads both. Only the last one made is remembered.
            last = self.overlay.last_made
            digest = last.get(stamps)
            if digest is None:
                last.clear()
                digest = last[stamps] = Digest.of(stamps)
            self._digest_msg = digest
            self._stamps = digest.stamps
        return self._stamps

    def _digest_message(self) -> Digest:
        """The `Digest` of the store (see `_digest`)."""
        self._digest()
        return self._digest_msg  # type: ignore[return-value]  # set by `_digest`

    def _entry(self, key: str) -> Entry:
        ver, writer, value = self.store[key]
        return (key, ver, writer, value)

    def _hot_entries(self) -> tuple[Entry, ...]:
        return tuple(self._entry(k) for k in self.hot)

    def _apply(self, entries: tuple[Entry, ...]) -> list[str]:
        """Keep each entry that is newer (last writer wins); returns the keys already known."""
        known: list[str] = []
        for key, ver, writer, value in entries:
            cur = self.store.get(key)
            if cur is not None and not newer(ver, writer, (cur[0], cur[1])):
                known.append(key)
                continue
            self._learn(key, ver, writer, value)
        if known:
            self.ctx.count("gossip_duplicates", len(known))
        return known

    def _learn(self, key: str, ver: int, writer: str, value: str, **fields: Any) -> None:
        self.store[key] = (ver, writer, value)
        self._stamps = self._digest_msg = None
        self.ctx.decide(f"{key}@{ver}:{writer}", value, key=key, version=ver, writer=writer, **fields)
        if self.rumor:
            self.hot[key] = 0
            if not self.ticking:
                self._schedule()

    def _contact(self, key: str) -> None:
        """A contact that may cool the rumor on `key` (counter or coin)."""
        if key not in self.hot:
            return
        if self.config.stop == "counter":
            self.hot[key] += 1
            if self.hot[key] >= self.config.k:
                del self.hot[key]
        elif self.rng.random() < 1.0 / self.config.k:
            del self.hot[key]

    def _newer_than(self, stamps: tuple[Stamp, ...], keys: Any) -> tuple[Entry, ...]:
        """Entries among `keys` that are newer here than in `stamps`."""
        theirs = {k: (ver, w) for k, ver, w in stamps}
        out = []
        for key in keys:
            ver, writer, _ = self.store[key]
            if newer(ver, writer, theirs.get(key)):
                out.append(self._entry(key))
        return tuple(out)

    # --- messages ------------------------------------------------------------------------

    def on_request(self, request: ClientRequest) -> None:
        """A client write `key=value`: stamp it with the next version and our name."""
        if request.cmd_id not in self.writes:
            key, _, value = request.op.partition("=")
            cur = self.store.get(key)
            ver = cur[0] + 1 if cur is not None else 1
            self.writes[request.cmd_id] = f"{key}@{ver}:{self.ctx.name}"
            self._learn(key, ver, self.ctx.name, value or request.cmd_id, cmd_id=request.cmd_id)
        self.ctx.send(request.client, ClientReply(request.cmd_id, True))

    @handles(Updates)
    def _on_updates(self, src: str, msg: Updates) -> None:
        """Take the fresher entries; send back those the peer asked for."""
        self._apply(msg.entries)
        if msg.wants:
            self.ctx.send(src, Updates(tuple(self._entry(k) for k in msg.wants if k in self.store)))

    @handles(RumorFeedback)
    def _on_feedback(self, src: str, msg: RumorFeedback) -> None:
        """The peer already knew these rumors: they cool down."""
        for key in msg.needless:
            self._contact(key)

    @handles(Digest)
    def _on_digest(self, src: str, msg: Digest) -> None:
        if msg.stamps == self._digest():
            return  # the same versions on both sides: nothing to exchange (the common case once a write has spread)
        store = self.store
        fresher = self._newer_than(msg.stamps, store) if self.pulling else ()
        wants: tuple[str, ...] = ()
        if self.pushing:
            wants = tuple(k for k, ver, w in msg.stamps if k not in store or newer(ver, w, (store[k][0], store[k][1])))
        if fresher or wants:
            self.ctx.send(src, Updates(fresher, wants))

    @handles(Rumor, RumorPoll)
    def _on_rumor(self, src: str, msg: Rumor) -> None:
        hot_before = list(self.hot)  # rumors we just learn from this very message are not judged on it
        known = self._apply(msg.entries)
        for key in msg.needless:
            self._contact(key)  # feedback on rumors we pushed
        feedback = self.config.feedback
        if msg.stamps is None:
            # A plain push (push mode) or a reply; only a plain push gets feedback.
            if known and feedback and not self.pulling:
                self.ctx.send(src, RumorFeedback(tuple(known)))
            return
        # The sender asks for our hot rumors it lacks (pull / pushpull).
        give = self._newer_than(msg.stamps, [k for k in hot_before if k in self.hot])
        given = {entry[0] for entry in give}
        for key in hot_before:
            if not feedback or key not in given:
                self._contact(key)
        reply_needless = tuple(known) if feedback else ()
        if give or reply_needless:
            self.ctx.send(src, Rumor(give, None, reply_needless))


__all__ = ["Digest", "Gossip", "GossipConfig", "Rumor", "RumorFeedback", "RumorPoll", "Updates", "newer"]

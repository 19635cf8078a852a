"""Attestation propagation: signed observations of a claim spread until nodes can judge it.

A claim (true or false in the world) appears at a node: a client's `ClientRequest` with
`op="true"` or `"false"`. The node spreads a `Claim`; attesters (a fraction of the nodes,
chosen once per run, or named) observe the world when they hear of it, see the truth with
probability `accuracy`, and sign an `Attestation` of what they saw. Claims and attestations
spread by `broadcast` (each originator sends to every node) or `gossip` (every node forwards
each new item to `fanout` random peers, once). A node accepts a claim once it holds valid
attestations saying true from `threshold` distinct attesters (summed weight with
`weighted: true`), and rejects it once `reject_threshold` say false.

Signatures are modelled by the `signer` of an attestation, which only its true author can
set: an attestation is valid only if its `signer` is its `attester`. Faults:

- byzantine `forge` (generic): sends under another node's name; the node layer rejects it.
- byzantine `corrupt`: fabricates attestations in other attesters' names with the opposite
  verdict; receivers check the signature, reject them and count `forged_rejected`.
- `false_attesters: [...]` (protocol setting): attesters that sign the opposite of what they
  saw. Their signatures are valid, so they count: the threshold is what absorbs them. Each
  must be one of the named `attesters`; with a fractional `attesters` they are always among
  those picked, the rest being drawn from the other nodes.

What a node signed and how it judged each claim are durable (`ctx.storage`); the attestations
it holds and the claims it relayed are not. A recovered attester that hears of a claim again
re-sends the attestation it signed before, never a fresh draw that could sign the opposite, and
a recovered node never judges a claim it judged before.

Verifying an attestation's signature is counted (`signature_verifications`); give the
scenario a `crypto: {verify: ...}` cost to make it take CPU time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field

from sim.protocols.attestation.support import ClaimsWorkload, attestation_summary, check_claims_workload
from sim.protocols.base import ClientReply, ClientRequest, Message, Protocol, ProtocolConfig, register, unused_settings
from sim.protocols.dispatch import Dispatch, handles
from sim.protocols.message import SIGNATURE_BYTES
from sim.scenario import Scenario, ScenarioError
from sim.timing import NetworkTiming

if TYPE_CHECKING:
    import random

    import numpy as np

    from sim.protocols.base import Context


@dataclass(frozen=True, slots=True)
class Claim(Message):
    """A claim to judge; `truth` is the world attesters observe (noisily), not something nodes trust."""

    claim_id: str
    truth: bool

    @property
    def size_bytes(self) -> int:
        """Header plus the claim."""
        return self.header_bytes + len(self.claim_id) + 1


@dataclass(frozen=True, slots=True)
class Attestation(Message):
    """`attester` says `claim_id` is `verdict`; `signer` is whose key signed it."""

    claim_id: str
    attester: str
    verdict: bool
    signer: str

    @property
    def size_bytes(self) -> int:
        """Header, fields and the signature."""
        return self.header_bytes + len(self.claim_id) + len(self.attester) + 1 + SIGNATURE_BYTES


class AttestationConfig(ProtocolConfig):
    """Settings of `mechanism: attestation`."""

    attesters: Annotated[float, Field(gt=0, le=1)] | list[str] = 0.3
    accuracy: Annotated[float, Field(ge=0, le=1)] = 0.9
    threshold: Annotated[float, Field(gt=0)] = 3
    reject_threshold: Annotated[float, Field(gt=0)] | None = None
    weighted: bool = False
    spread: Literal["gossip", "broadcast"] = "gossip"
    fanout: Annotated[int, Field(ge=1)] = 4
    false_attesters: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class Roster:
    """Shared, read-only: who attests, and the node list for peer sampling."""

    attesters: frozenset[str]
    nodes: tuple[str, ...]
    index: dict[str, int]


@dataclass
class Judgement:
    """One node's view of one claim: the attesters held for and against it (volatile; the verdict is in storage)."""

    support: dict[str, float] = field(default_factory=dict)
    against: dict[str, float] = field(default_factory=dict)


def attester_count(config: AttestationConfig, nodes: int) -> int:
    """How many attesters a fractional `attesters` makes of `nodes` nodes (at least one)."""
    assert not isinstance(config.attesters, list)
    return max(1, round(config.attesters * nodes))


def pick_attesters(names: list[str], config: AttestationConfig, rng: np.random.Generator) -> frozenset[str]:
    """The attesters of a run: the named ones, or a fraction of `names` drawn from `rng`.

    With a fraction, the named `false_attesters` are always among them and the rest are drawn
    from the other nodes: a liar that the draw could leave out would lie in some seeds and
    change nothing in others. Without false attesters the draw is what it always was.
    """
    if isinstance(config.attesters, list):
        return frozenset(config.attesters)
    count = attester_count(config, len(names))
    liars = config.false_attesters
    if not liars:
        return frozenset(names[i] for i in rng.choice(len(names), size=count, replace=False))
    others = [name for name in names if name not in liars]
    return frozenset(liars) | frozenset(others[i] for i in rng.choice(len(others), size=count - len(liars), replace=False))


def attester_stream(scenario: Scenario) -> np.random.Generator:
    """The generator the attesters are drawn from: the run's `protocol` stream, from the scenario's seed alone."""
    from sim.draws import stream  # late: numpy, which `consim validate` needs only for a seeded pick

    return stream(scenario.seed, "protocol")


def _unreachable(scenario: Scenario, config: AttestationConfig, chosen: frozenset[str] | None) -> list[tuple[str, str]]:
    """A threshold above what the attesters `chosen` can reach (None: an unweighted fraction, whose count is enough)."""
    if chosen is None:
        available = float(attester_count(config, scenario.n))
        shown = f"{available:g}"
    else:
        weights = {s.name: (s.weight if config.weighted else 1.0) for s in scenario.node_specs}
        available = sum(weights[name] for name in chosen)
        ordered = [name for name in scenario.node_names if name in chosen]
        listed = ", ".join(ordered[:8]) + (f", ... ({len(ordered)} in all)" if len(ordered) > 8 else "")
        shown = f"{available:g}: {listed}" if config.weighted else f"{available:g}"
    for key in ("threshold", "reject_threshold"):
        value = getattr(config, key)
        if value is not None and value > available:
            what = "weight" if config.weighted else "count"
            return [(f"protocol.{key}", f"{value:g} exceeds the attesters' total {what} ({shown})")]
    return []


def _false_attester_problems(config: AttestationConfig, nodes: int) -> list[tuple[str, str]]:
    """A false attester that cannot attest would lie about nothing: refuse it (names already known to exist)."""
    if isinstance(config.attesters, list):
        for i, name in enumerate(config.false_attesters):
            if name not in config.attesters:
                return [(f"protocol.false_attesters[{i}]", f"{name!r} is not an attester")]
        return []
    count = attester_count(config, nodes)
    if len(config.false_attesters) > count:
        problem = f"names {len(config.false_attesters)} nodes, but attesters: {config.attesters:g} makes {count} attesters of {nodes} nodes"
        return [("protocol.false_attesters", problem)]
    return []


@register("attestation")
class AttestationProtocol(Dispatch, Protocol):
    """A node that relays claims and attestations, attests if it can, and judges claims."""

    Config = AttestationConfig
    tolerates: ClassVar[str] = "forgers; liars < threshold"
    config: AttestationConfig
    authenticated: ClassVar[bool] = True
    byzantine_behaviours: ClassVar[tuple[str, ...]] = ("silent", "omit", "delay", "replay", "forge", "corrupt")

    @classmethod
    def figures(cls) -> dict[str, Any]:
        """Acceptance of each claim over time, false accepts and forgeries rejected."""
        from sim.protocols.attestation.plots import attestation_figures

        return attestation_figures()

    @classmethod
    def validate(cls, scenario: Scenario, config: ProtocolConfig) -> list[tuple[str, str]]:
        """Named attesters exist, and enough attester weight exists to reach the thresholds."""
        assert isinstance(config, AttestationConfig)
        unused = unused_settings(config, (("fanout", "spread", "gossip"),))
        if unused:
            return unused
        known = scenario.node_names
        for key in ("attesters", "false_attesters"):
            names = getattr(config, key)
            if isinstance(names, list):
                for i, name in enumerate(names):
                    if name not in known:
                        return [(f"protocol.{key}[{i}]", f"no node named {name!r}")]
                    if name in names[:i]:  # it would count once, yet weigh in twice where the list's length is read
                        return [(f"protocol.{key}[{i}]", f"{name!r} is listed twice")]
        liars = _false_attester_problems(config, scenario.n)
        if liars:
            return liars
        if isinstance(config.attesters, list):
            chosen: frozenset[str] | None = frozenset(config.attesters)
        elif config.weighted:
            chosen = pick_attesters(scenario.node_names, config, attester_stream(scenario))
        else:
            chosen = None  # a fraction of unweighted heads reaches the same count whoever is picked: no draw needed
        return _unreachable(scenario, config, chosen) or check_claims_workload(scenario)

    @classmethod
    def prepare(cls, scenario: Scenario, config: ProtocolConfig, rng: np.random.Generator) -> Roster:
        """Pick the attesters once (seeded), shared by every node.

        The pick draws from `attester_stream`, not from `rng` (the same numbers in a one-mechanism run,
        a plane's own in a fleet), so that the load-time check, which knows only the scenario, judges
        the very attesters the run gets.

        Raises:
            ScenarioError: a seed other than the one checked at load (a sweep's or a comparison's
                replicates) picked attesters too light to reach a threshold: the run would judge nothing.

        """
        assert isinstance(config, AttestationConfig)
        names = scenario.node_names
        chosen = pick_attesters(names, config, attester_stream(scenario))
        problems = _unreachable(scenario, config, chosen)
        if problems:
            raise ScenarioError(f"{scenario.name} (seed {scenario.seed})", *problems[0])
        return Roster(chosen, tuple(names), {n: i for i, n in enumerate(names)})

    @classmethod
    def expected_latency(cls, scenario: Scenario, config: ProtocolConfig, net: NetworkTiming) -> None:
        """Claim clients never retry: nothing to check."""
        return None

    @classmethod
    def workloads(cls) -> dict[str, Any]:
        """Adds `claims`: true or false claims appearing at nodes."""
        return {"claims": ClaimsWorkload}

    @classmethod
    def fault_bound(cls, scenario: Scenario) -> tuple[str, int]:
        """Faulty nodes (drawn byzantine ones plus the configured false attesters) stay below the lower threshold.

        Signatures make forgers harmless; what the thresholds absorb is attesters whose valid
        signatures lie, so `consim explore` keeps every faulty node a possible liar and their count under it.
        """
        config = AttestationConfig.model_validate(scenario.protocol)
        lowest = min(config.threshold, config.reject_threshold or config.threshold)
        below = math.ceil(lowest) - 1 - len(config.false_attesters)
        return ("byzantine", max(0, min(below, scenario.n - 1)))

    @classmethod
    def checkers(cls) -> list[Any]:
        """Integrity (each claim judged at most once), soundness (judged on really signed attestations), one verdict per signer."""
        from sim.checkers.agreement import check_integrity
        from sim.protocols.attestation.checks import check_attestation_soundness, check_one_verdict

        return [check_integrity, check_attestation_soundness, check_one_verdict]

    @classmethod
    def summarise(cls, tables: Any, scenario: Scenario) -> dict[str, Any]:
        """Acceptance latency, false accepts and rejects, forgeries, cost per claim and per node."""
        return attestation_summary(tables, scenario)

    @classmethod
    def mutate(cls, behaviour: str, msg: Message, dst: str, rng: random.Random, ctx: Context) -> Message | tuple[Message, ...] | None:
        """`corrupt`: pass off the opposite verdict as another attester's (signed with our own key)."""
        if behaviour != "corrupt" or type(msg) is not Attestation:
            return None
        victim = msg.attester
        if victim == ctx.name:
            others = sorted(ctx.shared.attesters - {ctx.name}) or [p for p in ctx.nodes if p != ctx.name]
            victim = others[rng.randrange(len(others))]
        return Attestation(msg.claim_id, victim, not msg.verdict, ctx.name)

    # --- lifecycle -----------------------------------------------------------------------

    def on_start(self) -> None:
        """Volatile view of every claim, relearnt from later messages; what it signed and judged, from storage."""
        cfg = self.config
        self.roster: Roster = self.ctx.shared
        self.me = self.roster.index[self.ctx.name]
        self.judgements: dict[str, Judgement] = {}
        self.seen_claims: set[str] = set()
        self.held: set[tuple[str, str, bool]] = set()
        storage = self.ctx.storage
        # Durable facts, kept across crashes: a signer keeps what it signed (claim -> verdict), so a
        # recovered attester never signs the opposite verdict of one claim, and a node keeps what it
        # judged (claim -> "accept" or "reject"), so it never judges a claim twice.
        self.signed: dict[str, bool] = storage.setdefault("signed", {})
        self.judged: dict[str, str] = storage.setdefault("judged", {})
        self.accept_at = cfg.threshold
        self.reject_at = cfg.reject_threshold if cfg.reject_threshold is not None else cfg.threshold
        self.liar = self.ctx.name in cfg.false_attesters

    def _weight(self, name: str) -> float:
        return self.ctx.weights[name] if self.config.weighted else 1.0

    def _spread(self, msg: Message, exclude: str | None) -> None:
        if self.config.spread == "broadcast":
            self.ctx.broadcast(msg)
            return
        nodes = self.roster.nodes
        rng = self.ctx.rng
        fanout = min(self.config.fanout, len(nodes) - 1)
        for i in rng.sample(range(len(nodes) - 1), fanout):
            peer = nodes[i + 1 if i >= self.me else i]
            if peer != exclude:
                self.ctx.send(peer, msg)

    # --- inputs --------------------------------------------------------------------------

    def on_request(self, request: ClientRequest) -> None:
        """A claim appears here."""
        truth = request.op.strip().lower() == "true"
        if request.cmd_id not in self.seen_claims:
            self.ctx.record("claim", claim_id=request.cmd_id, truth=truth)
        self._on_claim(None, Claim(request.cmd_id, truth), origin=True)
        self.ctx.send(request.client, ClientReply(request.cmd_id, True))

    @handles(Claim)
    def _on_claim(self, src: str | None, claim: Claim, origin: bool = False) -> None:
        """Relay a claim once; an attester judges it and spreads its signed verdict."""
        if claim.claim_id in self.seen_claims:
            return
        self.seen_claims.add(claim.claim_id)
        if origin or self.config.spread == "gossip":
            self._spread(claim, src)
        if self.ctx.name in self.roster.attesters:
            verdict = self.signed.get(claim.claim_id)
            if verdict is None:
                verdict = self._observe(claim)
                self.signed[claim.claim_id] = verdict
                self.ctx.persist()  # what we signed is on disk before it leaves
                self.ctx.count("signatures")
                self.ctx.record("attest", claim_id=claim.claim_id, attester=self.ctx.name, verdict=verdict)
            # else: a recovered attester hearing of the claim again re-sends what it signed before.
            attestation = Attestation(claim.claim_id, self.ctx.name, verdict, self.ctx.name)
            self._hold(attestation)
            self._spread(attestation, None)

    def _observe(self, claim: Claim) -> bool:
        """The verdict this attester signs: the truth seen with `accuracy`, turned over by a false attester."""
        saw = claim.truth if self.ctx.rng.random() < self.config.accuracy else not claim.truth
        return (not saw) if self.liar else saw

    @handles(Attestation)
    def _on_attestation(self, src: str, att: Attestation) -> None:
        key = (att.claim_id, att.attester, att.verdict)
        if key in self.held:
            return  # already verified and held: no work
        self.ctx.count("signature_verifications")
        if att.signer != att.attester or att.attester not in self.roster.attesters:
            # The signature does not belong to the attester it names (or names a non-attester).
            self.ctx.count("forged_rejected")
            self.ctx.count("forged_attestations_rejected")
            return
        self._hold(att)
        if self.config.spread == "gossip":
            self._spread(att, src)

    def _hold(self, att: Attestation) -> None:
        self.held.add((att.claim_id, att.attester, att.verdict))
        j = self.judgements.setdefault(att.claim_id, Judgement())
        (j.support if att.verdict else j.against)[att.attester] = self._weight(att.attester)
        if att.claim_id in self.judged:
            return
        if sum(j.support.values()) >= self.accept_at:
            self._judge(att.claim_id, "accept", len(j.support))
        elif sum(j.against.values()) >= self.reject_at:
            self._judge(att.claim_id, "reject", len(j.against))

    def _judge(self, claim_id: str, verdict: str, attesters: int) -> None:
        """Judge a claim once and for all: the judgement is stored, so a recovered node never judges it again."""
        self.judged[claim_id] = verdict
        self.ctx.persist()
        self.ctx.decide(claim_id, verdict, attesters=attesters)


__all__ = ["Attestation", "AttestationConfig", "AttestationProtocol", "Claim"]

"""The `claims` workload and the summary of the attestation mechanism."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationError, model_validator

from sim.exact_types import ExactScalars
from sim.protocols.base import ClientReply, ClientRequest, Message
from sim.scenario import Ms, PerSecond, PositiveMs
from sim.workload import Client, Workload, WorkloadConfig

if TYPE_CHECKING:
    from collections.abc import Generator

    from sim.records import RunTables
    from sim.scenario import Scenario


class ScriptedClaim(ExactScalars):
    """One claim at a given time and node."""

    model_config = ConfigDict(extra="forbid")
    at: Ms
    node: str
    truth: bool


class ClaimsConfig(WorkloadConfig):
    """Claims at a Poisson `rate` or one `every` interval (at most `count`, true with `p_true`), or scripted."""

    kind: Literal["claims"] = "claims"
    rate: PerSecond | None = None
    every: PositiveMs | None = None
    count: Annotated[int, Field(ge=1)] | None = None
    p_true: Annotated[float, Field(ge=0, le=1)] = 0.5
    claims: list[ScriptedClaim] = Field(default_factory=list)

    @model_validator(mode="after")
    def _pace(self) -> ClaimsConfig:
        if self.rate is not None and self.every is not None:
            raise ValueError("give 'rate' or 'every', not both")
        if self.rate is None and self.every is None and not self.claims:
            raise ValueError("a claims workload needs 'rate', 'every' or a list of 'claims'")
        return self


class ClaimClient(Client):
    """Hands each claim to its node once."""

    addressed = True

    def submit(self, cmd_id: str, op: str) -> None:
        """`op` is `node|true` or `node|false`."""
        node, _, truth = op.partition("|")
        self.ctx.send(node, ClientRequest(self.ctx.name, cmd_id, truth))

    def on_message(self, src: str, msg: Message) -> None:
        """The node took the claim."""
        if isinstance(msg, ClientReply):
            self.ctx.complete(msg.cmd_id)


class ClaimsWorkload(Workload):
    """Scripted claims at their times, plus paced claims at random nodes."""

    kind = "claims"
    Config = ClaimsConfig
    client_class = ClaimClient
    config: ClaimsConfig

    def run(self) -> Generator[Any, Any, None]:
        """Merge scripted and paced claims in time order."""
        env, cfg = self.sim.env, self.config
        nodes = self.sim.node_names
        planned: list[tuple[float, int, str, bool]] = [(c.at, i, c.node, c.truth) for i, c in enumerate(cfg.claims)]
        if cfg.rate is not None or cfg.every is not None:
            t, made = cfg.start, 0
            while cfg.count is None or made < cfg.count:
                t += cfg.every if cfg.every is not None else self.rng.expovariate((cfg.rate or 1.0) / 1000.0)
                if t >= self.end():
                    break
                planned.append((t, len(cfg.claims) + made, nodes[self.rng.randrange(len(nodes))], self.rng.random() < cfg.p_true))
                made += 1
        for i, (at, _, node, truth) in enumerate(sorted(planned)):
            if at >= self.sim.scenario.duration:
                return
            if at > env.now:
                yield env.timeout(at - env.now)
            self.issue(self.clients[i % len(self.clients)], f"{node}|{'true' if truth else 'false'}")


def check_claims_workload(scenario: Scenario) -> list[tuple[str, str]]:
    """Scripted claims must name known nodes."""
    if scenario.workload is None or scenario.workload.kind != "claims":
        return []
    try:
        cfg = ClaimsConfig.model_validate(scenario.workload.model_dump())
    except ValidationError:
        return []
    known = set(scenario.node_names)
    for i, c in enumerate(cfg.claims):
        if c.node not in known:
            return [(f"workload.claims[{i}].node", f"no node named {c.node!r}")]
    return []


def attestation_summary(tables: RunTables, scenario: Scenario) -> dict[str, Any]:
    """Acceptance latency per node, false accept/reject rates over honest nodes, costs."""
    import numpy as np  # a run's tables: validation of a scenario never gets here

    from sim.checkers.agreement import faulty_nodes, honest_decisions
    from sim.records import percentiles  # pandas: imported by the run's summary, not by validation

    events = tables.events
    claims = events[events["kind"] == "claim"] if not events.empty else events
    truth = dict(zip(claims.get("claim_id", []), claims.get("truth", []), strict=True))
    appeared = dict(zip(claims.get("claim_id", []), claims.get("time_ms", []), strict=True))
    honest = sorted(set(scenario.node_names) - faulty_nodes(tables))
    decisions = honest_decisions(tables)
    out: dict[str, Any] = {"claims": len(truth)}
    accepts = decisions[decisions["value"] == "accept"] if not decisions.empty else decisions
    latency = (accepts["time_ms"] - accepts["slot"].map(appeared)).to_numpy(float) if not accepts.empty else np.array([])
    out.update(percentiles(latency, "accept_ms", (50, 90, 99)))
    n_false = sum(1 for v in truth.values() if not v)
    n_true = len(truth) - n_false
    false_accepts = int((accepts["slot"].map(truth) == False).sum()) if not accepts.empty else 0  # noqa: E712
    rejects = decisions[decisions["value"] == "reject"] if not decisions.empty else decisions
    false_rejects = int((rejects["slot"].map(truth) == True).sum()) if not rejects.empty else 0  # noqa: E712
    out["false_accept_rate"] = round(false_accepts / (n_false * len(honest)), 6) if n_false and honest else None
    out["false_reject_rate"] = round(false_rejects / (n_true * len(honest)), 6) if n_true and honest else None
    out["true_accept_rate"] = round((len(accepts) - false_accepts) / (n_true * len(honest)), 6) if n_true and honest else None
    pairs = len(truth) * len(honest)
    out["undecided_fraction"] = round(1 - len(decisions) / pairs, 6) if pairs else None
    out["liveness"] = round(len(decisions) / pairs, 6) if pairs else None
    out["forged_rejected"] = tables.counters.get("forged_rejected", 0)
    sent = int(tables.messages["sent"].sum())
    out["messages_per_claim"] = round(sent / len(truth), 6) if truth else None
    out["verifications_per_node"] = round(tables.counters.get("signature_verifications", 0) / scenario.n, 6)
    return out

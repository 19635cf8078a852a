"""The `questions` workload and the summary of the voting mechanism."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, model_validator

from sim.protocols.base import ClientReply, ClientRequest, Message
from sim.scenario import PerSecond, PositiveMs
from sim.workload import Client, Workload, WorkloadConfig

if TYPE_CHECKING:
    from collections.abc import Generator

    from sim.kernel import Simulation
    from sim.records import RunTables
    from sim.scenario import Scenario


class QuestionsConfig(WorkloadConfig):
    """Questions at a Poisson `rate` or one `every` interval, at most `count`; `truth` fixed or random."""

    kind: Literal["questions"] = "questions"
    rate: PerSecond | None = None
    every: PositiveMs | None = None
    count: Annotated[int, Field(ge=1)] | None = None
    truth: str = "random"
    to: str | None = None

    @model_validator(mode="after")
    def _pace(self) -> QuestionsConfig:
        if (self.rate is None) == (self.every is None):
            raise ValueError("a questions workload needs exactly one of 'rate' or 'every'")
        return self


class QuestionClient(Client):
    """Sends each question once (an unanswered question is a result, not something to retry)."""

    addressed = True

    def submit(self, cmd_id: str, op: str) -> None:
        """Ask the collecting node."""
        dst, _, op = op.partition("|")
        self.ctx.send(dst, ClientRequest(self.ctx.name, cmd_id, op))

    def on_message(self, src: str, msg: Message) -> None:
        """The question was decided (or closed without a decision)."""
        if isinstance(msg, ClientReply):
            self.ctx.complete(msg.cmd_id)


class QuestionsWorkload(Workload):
    """Poses questions to the coordinator (or the first node when everyone collects)."""

    kind = "questions"
    Config = QuestionsConfig
    client_class = QuestionClient
    config: QuestionsConfig

    def __init__(self, sim: Simulation, config: QuestionsConfig) -> None:
        super().__init__(sim, config)
        proto = sim.config
        self.answers: list[str] = list(getattr(proto, "answers", ["yes", "no"]))
        self.target: str = config.to or getattr(proto, "coordinator", None) or sim.node_names[0]

    def run(self) -> Generator[Any, Any, None]:
        """Issue questions until `until`, the end of the run, or `count`."""
        env, cfg = self.sim.env, self.config
        yield env.timeout(cfg.start)
        asked = 0
        while cfg.count is None or asked < cfg.count:
            gap = cfg.every if cfg.every is not None else self.rng.expovariate((cfg.rate or 1.0) / 1000.0)
            yield env.timeout(gap)
            if env.now >= self.end():
                return
            self.issue(self.clients[asked % len(self.clients)], f"{self.target}|{self.question(env.now)}")
            asked += 1

    def question(self, now: float) -> str:
        """The op of the question asked at `now` (ms): its true answer, fixed or drawn from the answers."""
        cfg = self.config
        truth = cfg.truth if cfg.truth != "random" else self.answers[self.rng.randrange(len(self.answers))]
        return f"truth={truth}"


def check_questions_workload(scenario: Scenario, answers: list[str]) -> list[tuple[str, str]]:
    """The fixed truth must be one of the answers; `to` must name a node."""
    if scenario.workload is None or scenario.workload.kind != "questions":
        return []
    data = scenario.workload.model_dump()
    truth = data.get("truth", "random")
    if truth != "random" and truth not in answers:
        return [("workload.truth", f"{truth!r} is not one of the answers {answers}")]
    to = data.get("to")
    if to is not None and to not in scenario.node_names:
        return [("workload.to", f"no node named {to!r}")]
    return []


def voting_summary(tables: RunTables, scenario: Scenario, timeout: float) -> dict[str, Any]:
    """decisions, decision_accuracy, no_decision (with reasons), liveness, decision latency, ballots per decision.

    Liveness leaves out, as every mechanism's does, what was still in flight at the end: an
    undecided question asked (or its poll reopened after a crash) no more than one poll `timeout`
    (ms) before the end, whose poll could not have closed (a poll closing at the end itself is
    never processed), is neither decided nor failed (`in_flight_at_end`).
    """
    import numpy as np  # a run's tables: validation of a scenario never gets here

    from sim.checkers.agreement import honest_decisions
    from sim.records import percentiles  # pandas: imported by the run's summary, not by validation

    events = tables.events
    questions = events[events["kind"] == "question"] if not events.empty else events
    truth = dict(zip(questions.get("qid", []), questions.get("truth", []), strict=True))
    started = dict(zip(questions.get("qid", []), questions.get("time_ms", []), strict=True))
    asked = set(truth) | set(tables.requests["cmd_id"])
    decisions = honest_decisions(tables)
    decided = set(decisions["slot"]) if not decisions.empty else set()
    out: dict[str, Any] = {"questions": len(asked), "decisions": len(decided), "no_decision": len(asked - decided)}
    # A client's question is asked when submitted, whether or not a live node took it up.
    submitted = dict(zip(tables.requests["cmd_id"], tables.requests["submit_ms"], strict=True))
    end = scenario.duration - timeout
    # A poll reopened after its collector's crash (a `repoll`) runs a fresh timeout from then.
    opened = dict(started)
    repolls = events[events["kind"] == "repoll"] if not events.empty else events
    for qid, at in zip(repolls.get("qid", []), repolls.get("time_ms", []), strict=True):
        opened[qid] = max(opened.get(qid, at), at)
    in_flight = {qid for qid in asked - decided if opened.get(qid, submitted.get(qid, -math.inf)) >= end}
    out["in_flight_at_end"] = len(in_flight)
    counted = asked - in_flight
    out["liveness"] = round(len(decided & counted) / len(counted), 6) if counted else None
    if not decisions.empty:
        right = decisions["value"].to_numpy() == decisions["slot"].map(truth).to_numpy()
        out["decision_accuracy"] = round(float(np.mean(right)), 6)
        latency = decisions["time_ms"] - decisions["slot"].map(started)
    else:
        out["decision_accuracy"] = None
        latency = np.array([])
    out.update(percentiles(latency, "decision_latency_ms", (50, 90, 99)))
    nodecide = events[events["kind"] == "no_decision"] if not events.empty else events
    for reason in ("quorum", "tie", "threshold"):
        out[f"no_decision_{reason}"] = int((nodecide["reason"] == reason).sum()) if "reason" in nodecide else 0
    # A client's question that reached no live coordinator (it was down): never put to the voters,
    # so not "still collecting" either.
    out["no_decision_unasked"] = len(set(tables.requests["cmd_id"]) - set(truth) - decided)
    # Questions whose vote was still being collected when the run ended.
    reasons = ("quorum", "tie", "threshold", "unasked")
    out["no_decision_open"] = out["no_decision"] - sum(out[f"no_decision_{r}"] for r in reasons)
    sent = int(tables.messages["sent"].sum())
    out["messages_per_decision"] = round(sent / len(decided), 6) if decided else None
    return out

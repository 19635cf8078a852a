"""Repeated votes on questions with a true answer (Condorcet's jury, with faulty voters).

A question starts at the coordinator (a client's `ClientRequest` with `op="truth=<answer>"`, or
the coordinator's own timer with `ask_every`). It broadcasts a `Question`; every voter answers
with a `Vote`, naming the true answer with probability `accuracy` (independently, from its
own stream) and a uniformly chosen wrong answer otherwise; under the `load` workload the question
carries a load reading instead, which each voter observes with Gaussian noise and compares with
the threshold (sim/protocols/voting/load.py). The coordinator (or every node,
`collect: all`, where votes are broadcast) tallies valid votes under the rule, decides as soon
as no ballot still unseen can change the result, and otherwise decides at `timeout` on the
votes it got (judged against the weight cast).

What survives a crash (in `ctx.storage`, written before anything that depends on it is sent):
a voter's ballot on each question (its answer and ballot number), a collector's open polls with
the ballots counted in them, and how it closed each poll (the answer it decided, or that it
decided none). A recovered collector never reopens a question it closed, so it decides each
question at most once, whatever late ballots it then receives. It does reopen, with a fresh
`timeout`, each poll it had open, and sends a `Repoll` to the voters it has no ballot from:
ballots that reached it while it was down were lost, and voters send a ballot only once, so
without asking it would wait for ballots that never come (or close on too few). A voter answers
a `Repoll` with the very ballot it cast on that question (same answer, same ballot number, so it
is a duplicate where it was already counted, never a second signed ballot), and with nothing if
it has not voted on it: the repoll never makes a voter vote, and never carries a ballot cast on
another question.

"Cannot change" means: whatever the voters not yet heard vote (or if they abstain), and
whatever up to `max_faulty` weight of faulty voters still do with a second ballot, the final
tally gives the same answer (never another answer, a tie, a failed threshold or a failed
quorum). With signed ballots a double vote is detected only when both ballots are in, and then
voids both: an early decision must survive losing the first ballots of up to `max_faulty`
voters. Unsigned, the second ballot counts: it must survive `max_faulty` more weight for the
strongest rival. `max_faulty` defaults to the most the rule tolerates: just below
min(1 - threshold, 1/2) of the total weight (3 of 7 under majority, 2 of 7 under 2/3; with
weights 1 + 3 + 1 + 1, less than 3: a faulty 3 ties the honest 3).

Faulty voters are byzantine faults in the scenario (one design for all of them):
`silent` abstains, `corrupt` votes against the true answer, `double_vote` sends two distinct
ballots against it. With `authenticated: true` votes are signed: two different ballots signed
by one voter prove a double vote, and both are discarded (counter `double_votes_detected`).
Without signatures the voter field proves nothing, so every distinct ballot counts (only an
identical copy, a network duplicate, is ignored). The coordinator itself is assumed honest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, model_validator

from sim.protocols._tally import EPS, Rule, RuleName, Unseen, default_threshold, parse_fraction, tolerated_faulty
from sim.protocols.base import ClientReply, ClientRequest, Message, Protocol, ProtocolConfig, register
from sim.protocols.dispatch import Dispatch, handles
from sim.protocols.voting.load import LoadWorkload, Signal, check_load_workload
from sim.protocols.voting.messages import Poll, Question, Repoll, Vote
from sim.protocols.voting.support import QuestionsWorkload, check_questions_workload, voting_summary
from sim.scenario import PositiveMs, Scenario
from sim.timing import NetworkTiming, shortfall

if TYPE_CHECKING:
    import random

    from sim.protocols.base import Context

Fraction01 = Annotated[float, BeforeValidator(parse_fraction), Field(gt=0, le=1)]


class VotingConfig(ProtocolConfig):
    """Settings of `mechanism: voting`."""

    rule: RuleName = "majority"
    threshold: Fraction01 | None = None
    quorum: Annotated[float, BeforeValidator(parse_fraction), Field(ge=0, le=1)] = 0.0
    collect: Literal["coordinator", "all"] = "coordinator"
    coordinator: str | None = None
    timeout: PositiveMs = Field(default="max(200ms, 3rtt)", validate_default=True)
    """How long a collector waits for votes (default: 200ms, or 3 rtt on a slower network)."""
    accuracy: Annotated[float, Field(ge=0, le=1)] = 0.8
    answers: list[str] = Field(default_factory=lambda: ["yes", "no"], min_length=2)
    authenticated: bool = True
    ask_every: PositiveMs | None = None
    max_faulty: Annotated[float, Field(ge=0)] | None = None
    """Faulty voter weight an early decision must survive (default: the most the rule tolerates)."""

    @model_validator(mode="after")
    def _threshold(self) -> VotingConfig:
        if self.threshold is not None and self.rule in ("majority", "unanimous"):
            raise ValueError(f"'threshold' does not apply to rule {self.rule} (it is fixed)")
        if len(set(self.answers)) != len(self.answers):
            raise ValueError("answers must be distinct")
        return self

    def make_rule(self) -> Rule:
        """The tally rule these settings describe."""
        threshold = self.threshold if self.threshold is not None else default_threshold(self.rule)
        return Rule(self.rule, threshold, self.quorum)


@register("voting")
class Voting(Dispatch, Protocol):
    """A voter, and the collector of votes (the coordinator, or everyone with `collect: all`)."""

    Config = VotingConfig
    tolerates: ClassVar[str] = "byzantine < threshold"
    config: VotingConfig
    byzantine_behaviours: ClassVar[tuple[str, ...]] = ("silent", "omit", "delay", "corrupt", "double_vote")

    @classmethod
    def figures(cls) -> dict[str, Any]:
        """Right, wrong and undecided questions over time, against the rule's threshold."""
        from sim.protocols.voting.plots import voting_figures

        return voting_figures()

    @classmethod
    def validate(cls, scenario: Scenario, config: ProtocolConfig) -> list[tuple[str, str]]:
        """The coordinator and the workload's fixed truth and target must exist."""
        assert isinstance(config, VotingConfig)
        if config.coordinator is not None and config.coordinator not in scenario.node_names:
            return [("protocol.coordinator", f"no node named {config.coordinator!r}")]
        return check_questions_workload(scenario, config.answers) + check_load_workload(scenario, config.answers)

    @classmethod
    def timing(cls, scenario: Scenario, config: ProtocolConfig, net: NetworkTiming) -> list[tuple[str, str]]:
        """A poll must stay open for the question to go out and the votes to come back."""
        assert isinstance(config, VotingConfig)
        return shortfall(
            "protocol.timeout",
            config.timeout,
            net.rtt,
            "a question's round trip",
            "polls close before the votes can arrive",
            "raise it, e.g. timeout: 3rtt",
            f"rtt over {net.where}",
        )

    @classmethod
    def expected_latency(cls, scenario: Scenario, config: ProtocolConfig, net: NetworkTiming) -> None:
        """Question clients never retry: nothing to check."""
        return None

    @classmethod
    def workloads(cls) -> dict[str, Any]:
        """Adds `questions` (a true answer observed with `accuracy`) and `load` (a load signal observed with noise)."""
        return {"questions": QuestionsWorkload, "load": LoadWorkload}

    @classmethod
    def fault_bound(cls, scenario: Scenario) -> tuple[str, int, tuple[str, ...]]:
        """Faulty voters (byzantine or crashed) up to `max_faulty`: as many as the heaviest voters that fit in it.

        The coordinator is assumed honest (it may crash, never lie).
        """
        config = VotingConfig.model_validate(scenario.protocol)
        rule = config.make_rule()
        weights = {s.name: (s.weight if config.rule == "weighted" else 1.0) for s in scenario.node_specs}
        budget = config.max_faulty if config.max_faulty is not None else tolerated_faulty(list(weights.values()), rule)
        coordinator = config.coordinator or scenario.node_names[0]
        heaviest = sorted((w for n, w in weights.items() if n != coordinator), reverse=True)
        count = 0
        while count < len(heaviest) and sum(heaviest[: count + 1]) <= budget + EPS:
            count += 1
        return ("byzantine", count, (coordinator,))

    @classmethod
    def checkers(cls) -> list[Any]:
        """Integrity (each question decided at most once; answers may differ across nodes), ballot weight, early decisions."""
        from sim.checkers.agreement import check_integrity
        from sim.protocols.voting.checks import check_ballot_weight, check_early_decision

        return [check_integrity, check_ballot_weight, check_early_decision]

    @classmethod
    def summarise(cls, tables: Any, scenario: Scenario) -> dict[str, Any]:
        """Accuracy, undecided questions and latency."""
        return voting_summary(tables, scenario, VotingConfig.model_validate(scenario.protocol).timeout)

    @classmethod
    def mutate(cls, behaviour: str, msg: Message, dst: str, rng: random.Random, ctx: Context) -> Message | tuple[Message, ...] | None:
        """Faulty votes: `corrupt` votes against the truth, `double_vote` casts two ballots against it."""
        if type(msg) is not Vote:
            return None
        truth = ctx.storage.get("seen", {}).get(msg.qid)
        answers = ctx.storage.get("answers", [msg.answer])
        wrong = [a for a in answers if a != truth] or [msg.answer]
        against = Vote(msg.qid, msg.voter, wrong[rng.randrange(len(wrong))], msg.ballot, msg.signed)
        if behaviour == "corrupt":
            return against
        if behaviour == "double_vote":
            second = Vote(msg.qid, msg.voter, wrong[rng.randrange(len(wrong))], msg.ballot + 1_000_000, msg.signed)
            return (against, second)
        return None

    # --- lifecycle -----------------------------------------------------------------------

    def on_start(self) -> None:
        """Set up from storage; a recovering collector resumes the polls it had open (see `_resume`)."""
        cfg = self.config
        self.rule = cfg.make_rule()
        self.coordinator = cfg.coordinator or self.ctx.nodes[0]
        weighted = cfg.rule == "weighted"
        self.weights = {n: (self.ctx.weights[n] if weighted else 1.0) for n in self.ctx.nodes}
        self.eligible = sum(self.weights.values())
        self.faulty = cfg.max_faulty if cfg.max_faulty is not None else tolerated_faulty(list(self.weights.values()), self.rule)
        storage = self.ctx.storage
        # Storage outlives a crash: holding anything, it is this node's second life or later, and
        # questions asked while it was down never reached it (see `_on_vote`).
        self.restarted = bool(storage)
        # Open polls are durable: kept volatile, a crash lost the ballots counted so far, and with
        # them the question (voters send a ballot once), which then was never decided.
        self.polls: dict[str, Poll] = storage.setdefault("polls", {})
        # A decision is a durable fact: qid -> the answer decided (None: closed without one). Kept
        # volatile, a recovered collector reopened the poll on a late ballot and decided again.
        self.closed: dict[str, str | None] = storage.setdefault("closed", {})
        storage.setdefault("seen", {})
        # qid -> (answer, ballot number) of this voter's ballot: what it re-sends on a `Repoll`.
        storage.setdefault("cast", {})
        storage["answers"] = list(cfg.answers)
        storage.setdefault("ballot", 0)
        storage.setdefault("asked", 0)
        if cfg.ask_every is not None and self.ctx.name == self.coordinator:
            self.ctx.set_timer("ask", cfg.ask_every)
        self._resume()

    def _resume(self) -> None:
        """Reopen the polls open at a crash (none at the first start): a fresh timeout, and a `Repoll`.

        The close timer died with the crash, and the ballots sent while this node was down are
        lost; the voters not yet heard from are asked to re-send. The timeout restarts from now: the
        repoll needs a round trip, and closing on the ballots kept (possibly only our own) would
        decide on fewer than the voters cast.
        """
        for qid in self.polls:
            self._repoll(qid)
            self.ctx.set_timer(f"close:{qid}", self.config.timeout)

    def _repoll(self, qid: str) -> None:
        """Ask the voters this node has no ballot from on `qid` to re-send the one they cast (a `repoll` event)."""
        poll = self.polls[qid]
        heard = {voter for voter, _ in poll.ballots} | poll.cheaters
        missing = [n for n in self.ctx.nodes if n != self.ctx.name and n not in heard]
        self.ctx.record("repoll", qid=qid, ballots=len(poll.ballots), asked=len(missing))
        if missing:
            self.ctx.multicast(missing, Repoll(qid))

    def collects(self) -> bool:
        """Whether this node tallies votes."""
        return self.config.collect == "all" or self.ctx.name == self.coordinator

    # --- questions -----------------------------------------------------------------------

    def on_request(self, request: ClientRequest) -> None:
        """A client asks a question; `op` carries the world's true answer (and, from a `load` workload, the reading)."""
        fields = dict(pair.partition("=")[::2] for pair in request.op.split(";"))
        truth = fields.get("truth") or self.config.answers[0]
        self._ask(request.cmd_id, truth, request.client, Signal.decode(fields))

    def on_timer(self, name: str) -> None:
        """Ask our own question, or close a poll at its timeout."""
        if name == "ask":
            self.ctx.storage["asked"] += 1
            answers = self.config.answers
            self._ask(f"{self.ctx.name}:q{self.ctx.storage['asked']}", answers[self.ctx.rng.randrange(len(answers))], None)
            self.ctx.set_timer("ask", self.config.ask_every or 0.0)
        elif name.startswith("close:"):
            self._evaluate(name[len("close:") :], final=True)

    def _ask(self, qid: str, truth: str, client: str | None, signal: Signal | None = None) -> None:
        if qid in self.closed or qid in self.polls or qid in self.ctx.storage["seen"]:
            return
        if signal is None:
            self.ctx.record("question", qid=qid, truth=truth)
        else:
            self.ctx.record("question", qid=qid, truth=truth, load=signal.load)
        self._open(qid, client)  # durable before the question leaves: the ballots it draws have a poll to land in
        self.ctx.broadcast(Question(qid, truth, signal))
        self._vote(qid, truth, signal)

    def _open(self, qid: str, client: str | None) -> None:
        if self.collects() and qid not in self.polls and qid not in self.closed:
            self.polls[qid] = Poll(qid, self.ctx.now, client)
            self.ctx.persist()
            self.ctx.set_timer(f"close:{qid}", self.config.timeout)

    def _vote(self, qid: str, truth: str, signal: Signal | None = None) -> None:
        """Observe the world (the load reading with its noise, or the truth with `accuracy`) and cast one ballot."""
        seen = self.ctx.storage["seen"]
        if qid in seen:
            return
        seen[qid] = truth
        rng = self.ctx.rng
        answers = self.config.answers
        if signal is not None:
            answer = signal.observe(rng.gauss(0.0, 1.0))
        elif rng.random() < self.config.accuracy:
            answer = truth
        else:
            wrong = [a for a in answers if a != truth]
            answer = wrong[rng.randrange(len(wrong))]
        self.ctx.storage["ballot"] += 1
        self.ctx.storage["cast"][qid] = (answer, self.ctx.storage["ballot"])
        # On disk before it is sent: a voter that re-sends after a crash re-sends this ballot, never
        # a second one (two signed ballots are a double vote, and void each other).
        self.ctx.persist()
        self.ctx.record("ballot", qid=qid, answer=answer)
        vote = Vote(qid, self.ctx.name, answer, self.ctx.storage["ballot"], self.config.authenticated)
        if self.config.collect == "all":
            self.ctx.broadcast(vote)
        elif self.ctx.name != self.coordinator:
            self.ctx.send(self.coordinator, vote)
        self._count(vote)  # no-op unless we collect

    @handles(Question)
    def _on_question(self, src: str, msg: Question) -> None:
        """Open the poll and answer."""
        self._open(msg.qid, None)
        self._vote(msg.qid, msg.truth, msg.signal)

    @handles(Repoll)
    def _on_repoll(self, src: str, msg: Repoll) -> None:
        """Re-send to the recovered collector the ballot cast on `msg.qid`; nothing if we cast none."""
        cast = self.ctx.storage["cast"].get(msg.qid)
        if cast is None:
            return  # not voted (the question has not reached us): we vote when it does, if ever
        answer, ballot = cast
        self.ctx.send(src, Vote(msg.qid, self.ctx.name, answer, ballot, self.config.authenticated))

    @handles(Vote)
    def _on_vote(self, src: str, msg: Vote) -> None:
        """Collectors tally the vote."""
        opened = self.config.collect == "all" and msg.qid not in self.polls and msg.qid not in self.closed
        if opened:
            self._open(msg.qid, None)  # a vote overtook its question
        self._count(msg)
        if opened and self.restarted and msg.qid in self.polls:
            # Or the question came while we were down, and with it the ballots sent before this
            # one: ask for them, or the poll closes at its timeout on this ballot alone.
            self._repoll(msg.qid)

    # --- tallying ------------------------------------------------------------------------

    def _count(self, vote: Vote) -> None:
        poll = self.polls.get(vote.qid)
        if poll is None or vote.voter not in self.weights:
            return
        key = (vote.voter, vote.ballot)
        if key in poll.ballots or vote.voter in poll.cheaters:
            return  # a network duplicate, or a voter already caught
        if self.config.authenticated and vote.signed:
            if any(v == vote.voter for v, _ in poll.ballots):
                # Two different ballots signed by one voter: proof of a double vote; drop them all.
                poll.cheaters.add(vote.voter)
                for k in [k for k in poll.ballots if k[0] == vote.voter]:
                    del poll.ballots[k]
                self.ctx.count("double_votes_detected")
                self.ctx.record("double_vote", qid=vote.qid, voter=vote.voter)
                self.ctx.persist()  # who cheated is kept with the poll's ballots
                return
        elif self.config.authenticated:
            self.ctx.count("unsigned_votes_rejected")
            return
        poll.ballots[key] = vote.answer
        # Decide early only when no ballot still unseen can change the result (the uncast, and
        # a second ballot of a double voter still on its way); otherwise wait for the timeout.
        self._evaluate(vote.qid, final=False)
        if vote.qid in self.polls:
            self.ctx.persist()  # the ballot is durable with its poll (a decision wrote the outcome instead)

    def _uncast(self, poll: Poll) -> float:
        """Weight of the voters with no ballot counted and not caught cheating."""
        heard = {voter for voter, _ in poll.ballots} | poll.cheaters
        return sum(w for v, w in self.weights.items() if v not in heard)

    def _unseen(self, poll: Poll) -> Unseen:
        """What faulty voters not yet caught can still do to this poll (see `Unseen`)."""
        budget = max(0.0, self.faulty - sum(self.weights[v] for v in poll.cheaters))
        if self.config.authenticated:
            return Unseen(voidable=budget)
        return Unseen(extra=budget)

    def _evaluate(self, qid: str, final: bool) -> None:
        poll = self.polls.get(qid)
        if poll is None:
            return
        tally: dict[str, float] = {}
        for (voter, _), answer in sorted(poll.ballots.items()):
            tally[answer] = tally.get(answer, 0.0) + self.weights[voter]
        answer, reason = self.rule.outcome(tally, self.eligible, final, uncast=self._uncast(poll), unseen=self._unseen(poll))
        if reason == "open":
            return
        del self.polls[qid]
        self.closed[qid] = answer
        self.ctx.persist()  # the outcome is on disk before the reply that announces it leaves
        self.ctx.cancel_timer(f"close:{qid}")
        cast = round(sum(tally.values()), 6)
        top = round(max(tally.values(), default=0.0), 6)  # the leading answer's weight, for the plots' share against the threshold
        if answer is None:
            self.ctx.record("no_decision", qid=qid, reason=reason, cast_weight=cast, top_weight=top)
        else:
            self.ctx.decide(qid, answer, cast_weight=cast, ballots=len(poll.ballots), top_weight=top, early=not final)
        if poll.client is not None:
            self.ctx.send(poll.client, ClientReply(qid, answer is not None, None, answer or reason))


__all__ = ["Question", "Repoll", "Vote", "Voting", "VotingConfig"]

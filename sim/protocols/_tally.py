"""Vote-tallying rules of the voting mechanism (kept private to avoid clashing with quorum.py).

A tally holds, per answer, the weight of the valid votes cast for it. `outcome` applies one
rule to it: final (against the weight actually cast, after the participation quorum), or early,
when no completion of the poll can end in another answer, a tie, a failed threshold or a failed
quorum: every uncast voter may still vote for anything or abstain, and faulty voters (up to the
weight the rule tolerates) may still void their signed ballots by double voting, or add a
second ballot when ballots are unsigned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

RuleName = Literal["majority", "supermajority", "unanimous", "weighted"]
EPS = 1e-9


def parse_fraction(value: object) -> object:
    """'2/3' -> 0.666..., '0.5' -> 0.5; other values pass through for pydantic to judge.

    Raises:
        ValueError: when a string is neither a fraction nor a number.

    """
    if isinstance(value, str):
        try:
            return float(Fraction(value.strip()))
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"expected a fraction such as '2/3' or 0.5, got {value!r}") from None
    return value


@dataclass(frozen=True)
class Rule:
    """A decision rule: `kind`, its `threshold`, and the participation `quorum` (fractions of weight)."""

    kind: RuleName
    threshold: float
    quorum: float = 0.0

    def passes(self, weight: float, base: float) -> bool:
        """Whether an answer with `weight` wins against `base` under this rule."""
        if base <= 0:
            return False
        if self.kind == "unanimous":
            return weight >= base - EPS
        if self.kind == "supermajority":
            return weight >= self.threshold * base - EPS
        return weight > self.threshold * base + EPS  # majority, weighted: strictly more than the threshold

    def outcome(
        self, tally: dict[str, float], eligible: float, final: bool, *, uncast: float | None = None, unseen: Unseen | None = None
    ) -> tuple[str | None, str]:
        """(winning answer, "") or (None, reason): "open" before the end, else "quorum", "tie" or "threshold".

        Final: judged against the weight cast. Early (`final=False`): an answer wins only if it
        wins every completion of the poll: the `uncast` weight (default: eligible - cast) voting
        for anything or abstaining, plus what `unseen` faulty ballots can still do.
        """
        cast = sum(tally.values())
        ranked = sorted(tally.items(), key=lambda item: (-item[1], item[0]))
        if final:
            if cast < self.quorum * eligible - EPS:
                return None, "quorum"
            if len(ranked) > 1 and ranked[1][1] >= ranked[0][1] - EPS:
                return None, "tie"
            if not ranked or not self.passes(ranked[0][1], cast):
                return None, "threshold"
            return ranked[0][0], ""
        if not ranked:
            return None, "open"
        unseen = unseen or Unseen()
        free = max(0.0, eligible - cast if uncast is None else uncast) + unseen.extra
        # Participation: the uncast may all abstain, and detected double votes void ballots.
        if cast - min(unseen.voidable, cast) < self.quorum * eligible - EPS:
            return None, "open"
        answer, top = ranked[0]
        # The worst completion for `answer`: its own ballots voided as far as faulty voters can,
        # every free ballot for its strongest rival (more cast weight also raises the bar).
        worst = top - min(unseen.voidable, top)
        rival = (ranked[1][1] if len(ranked) > 1 else 0.0) + free
        if worst <= rival + EPS or not self.passes(worst, cast - (top - worst) + free):
            return None, "open"
        return answer, ""


@dataclass(frozen=True)
class Unseen:
    """What ballots not yet seen may still do, beyond the uncast weight voting freely.

    `voidable`: weight of counted ballots whose voters may yet be caught double voting (signed
    ballots: both are then discarded). `extra`: weight of second ballots that would count
    (unsigned ballots: a double vote cannot be told from two voters).
    """

    voidable: float = 0.0
    extra: float = 0.0


def tolerated_faulty(weights: list[float], rule: Rule) -> float:
    """The most faulty weight the rule can absorb: strictly below min(1 - threshold, 1/2) of the total.

    Honest voters agreeing on the truth must both beat the faulty weight and pass the
    threshold; faulty weight equal to that limit already ties them (1 + 3 + 1 + 1 with the
    weight-3 voter faulty decides nothing). Callers count faulty weight w as within the budget
    when w <= budget + EPS. With equal weights the budget is a whole number of voters below the
    limit; with unequal weights it is just below the limit itself (which only makes early
    decisions rarer than the heaviest faulty set that fits would).
    """
    total = sum(weights)
    bound = min(1.0 - rule.threshold, 0.5) * total
    if not weights or bound <= EPS:
        return 0.0
    unit = weights[0]
    if all(abs(w - unit) <= EPS for w in weights):
        return unit * max(0, math.ceil(bound / unit - EPS) - 1)
    # More than EPS below the limit, so that a faulty weight equal to it is not within the budget.
    return bound - 2 * EPS


def default_threshold(kind: RuleName) -> float:
    """1/2 for majority and weighted, 2/3 for supermajority, 1 for unanimous."""
    return {"majority": 0.5, "weighted": 0.5, "supermajority": 2 / 3, "unanimous": 1.0}[kind]

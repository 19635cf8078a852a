"""Vote-tallying rules of the voting mechanism (kept private to avoid clashing with quorum.py).

A tally holds, per answer, the weight of the valid votes cast for it. `outcome` applies one
rule to it: early (against the weight of every eligible voter, so later votes cannot change
the result) or final (against the weight actually cast, after the participation quorum).
"""

from __future__ import annotations

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

    def outcome(self, tally: dict[str, float], eligible: float, final: bool) -> tuple[str | None, str]:
        """(winning answer, "") or (None, reason): "open" before the end, else "quorum", "tie" or "threshold"."""
        cast = sum(tally.values())
        if cast < self.quorum * eligible - EPS:
            return None, "quorum" if final else "open"
        if not final and self.kind == "unanimous" and cast < eligible - EPS:
            return None, "open"
        base = cast if final else eligible
        ranked = sorted(tally.items(), key=lambda item: (-item[1], item[0]))
        if len(ranked) > 1 and ranked[1][1] >= ranked[0][1] - EPS:
            return None, "tie" if final else "open"
        if not self.passes(ranked[0][1], base):
            return None, "threshold" if final else "open"
        return ranked[0][0], ""


def default_threshold(kind: RuleName) -> float:
    """1/2 for majority and weighted, 2/3 for supermajority, 1 for unanimous."""
    return {"majority": 0.5, "weighted": 0.5, "supermajority": 2 / 3, "unanimous": 1.0}[kind]

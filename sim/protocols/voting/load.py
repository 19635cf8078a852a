"""The `load` workload: questions whose true answer comes from a load signal the workload generates.

The load follows a curve (points `[time, level]`, linear between them, flat beyond the ends).
Each question asks "is the load above `threshold`?": its true answer is `above` (default the
first answer, e.g. `up`) when the load at the moment of asking is above the threshold, `below`
(default the second, e.g. `hold`) otherwise. The question carries the load reading (a `Signal`);
each voter observes it with Gaussian noise of standard deviation `noise_sd` (from its own
stream) and votes `above` when what it observed is above the threshold, so a reading near the
threshold, or a noisy sensor, makes voters err. `noise_sd: 0` observes exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, model_validator

from sim.protocols.voting.support import QuestionsWorkload
from sim.scenario import Ms, PerSecond, PositiveMs
from sim.workload import WorkloadConfig

if TYPE_CHECKING:
    from sim.kernel import Simulation
    from sim.scenario import Scenario


@dataclass(frozen=True, slots=True)
class Signal:
    """A load reading a question carries: the level, the threshold, the observation noise and the two answers."""

    load: float
    threshold: float
    sd: float
    above: str
    below: str

    def observe(self, draw: float) -> str:
        """The answer of a voter whose standard-normal draw is `draw`."""
        return self.above if self.load + self.sd * draw > self.threshold else self.below

    @property
    def truth(self) -> str:
        """The answer an exact observation gives."""
        return self.above if self.load > self.threshold else self.below

    def encode(self) -> str:
        """As `key=value` pairs for a question's `op` (see `decode`)."""
        return f"load={self.load!r};threshold={self.threshold!r};sd={self.sd!r};above={self.above};below={self.below}"

    @classmethod
    def decode(cls, fields: dict[str, str]) -> Signal | None:
        """From an op's pairs; None when the op carries no load."""
        if "load" not in fields:
            return None
        return cls(float(fields["load"]), float(fields["threshold"]), float(fields["sd"]), fields["above"], fields["below"])

    @property
    def size_bytes(self) -> int:
        """Three doubles and the two answers."""
        return 24 + len(self.above) + len(self.below)


class LoadConfig(WorkloadConfig):
    """Questions at a `rate` or `every` interval about a load `curve` against a `threshold`, observed with `noise_sd`."""

    kind: Literal["load"] = "load"
    rate: PerSecond | None = None
    every: PositiveMs | None = None
    count: Annotated[int, Field(ge=1)] | None = None
    curve: list[tuple[Ms, float]] = Field(min_length=1)
    """Points [time, level] of the load, e.g. [[0s, 300], [4s, 900], [12s, 900], [14s, 300]]."""
    threshold: float
    noise_sd: Annotated[float, Field(ge=0)] = 0.0
    above: str | None = None
    below: str | None = None
    to: str | None = None

    @model_validator(mode="after")
    def _pace(self) -> LoadConfig:
        if (self.rate is None) == (self.every is None):
            raise ValueError("a load workload needs exactly one of 'rate' or 'every'")
        times = [t for t, _ in self.curve]
        if any(b <= a for a, b in zip(times, times[1:], strict=False)):
            raise ValueError("curve times must increase")
        return self


def level(curve: list[tuple[float, float]], now: float) -> float:
    """The curve's load at `now` (ms): linear between points, flat before the first and after the last."""
    if now <= curve[0][0]:
        return float(curve[0][1])
    for (t0, v0), (t1, v1) in zip(curve, curve[1:], strict=False):
        if now <= t1:
            return float(v0 + (v1 - v0) * (now - t0) / (t1 - t0))
    return float(curve[-1][1])


class LoadWorkload(QuestionsWorkload):
    """Asks the coordinator, at each tick, whether the load is above the threshold (the reading goes with the question)."""

    kind = "load"
    Config = LoadConfig  # type: ignore[assignment]
    config: LoadConfig  # type: ignore[assignment]

    def __init__(self, sim: Simulation, config: LoadConfig) -> None:  # type: ignore[override]
        super().__init__(sim, config)  # type: ignore[arg-type]
        self.above = config.above or self.answers[0]
        self.below = config.below or self.answers[1]

    def question(self, now: float) -> str:
        """The op of the question asked at `now` (ms): the truth of the load's reading, and the reading."""
        cfg = self.config
        signal = Signal(round(level(cfg.curve, now), 6), cfg.threshold, cfg.noise_sd, self.above, self.below)
        return f"truth={signal.truth};{signal.encode()}"


def check_load_workload(scenario: Scenario, answers: list[str]) -> list[tuple[str, str]]:
    """`above` and `below` must be two different answers; `to` must name a node."""
    if scenario.workload is None or scenario.workload.kind != "load":
        return []
    data = scenario.workload.model_dump()
    chosen = {"above": data.get("above") or answers[0], "below": data.get("below") or answers[1]}
    for key, value in chosen.items():
        if value not in answers:
            return [(f"workload.{key}", f"{value!r} is not one of the answers {answers}")]
    if chosen["above"] == chosen["below"]:
        return [("workload.below", "must differ from 'above'")]
    to = data.get("to")
    if to is not None and to not in scenario.node_names:
        return [("workload.to", f"no node named {to!r}")]
    return []

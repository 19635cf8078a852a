"""Requirements on a mechanism, and the recommendation: the cheapest candidate that meets them.

A compare spec (see `load_compare_spec`) names a scenario, candidate mechanisms and what the
engineer requires of them. `recommend` reads the comparison table (one row per mechanism, the
means over seeds that `sim.compare` writes) and gives every candidate a verdict: the reasons it
was rejected, or that it meets the requirements. Of those that meet them the cheapest wins.

Cheapest means the lowest mean cost per decision over the seeds: messages sent per decided slot
(`messages_per_decision`, the default) or bytes sent per decided slot (`bytes_per_decision`),
counting every message of the run (client traffic included, as the summary does). A tie goes to
the lower p99 latency, then to the name.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from sim.errors import ScenarioError, first_error
from sim.scenario import read_yaml
from sim.units import format_ms, parse_duration, parse_rate

FaultKind = Literal["none", "crash", "byzantine"]
COST_COLUMNS = {"messages": "messages_per_decision", "bytes": "bytes_per_decision"}
"""What `cheapest_by` ranks on: the comparison table's column."""
_STRENGTH = {"none": 0, "crash": 1, "byzantine": 2}


class Requirements(BaseModel):
    """What a mechanism must deliver under the scenario's faults; every field is optional."""

    model_config = ConfigDict(extra="forbid")

    safety: FaultKind = Field("none", description="The fault kind the mechanism must declare it tolerates.")
    latency_p99: float | None = Field(None, description="Highest acceptable p99 client latency (a duration, e.g. 200ms).")
    latency_p50: float | None = Field(None, description="Highest acceptable median client latency.")
    liveness: float | None = Field(None, ge=0, le=1, description="Lowest acceptable fraction of commands decided.")
    throughput: float | None = Field(None, description="Lowest acceptable throughput (a rate, e.g. 100/s).")
    max_messages_per_decision: float | None = Field(None, gt=0, description="Dearest acceptable message cost.")
    max_bytes_per_decision: float | None = Field(None, gt=0, description="Dearest acceptable byte cost.")
    staleness_p99: float | None = Field(None, description="Gossip: longest acceptable p99 time a node works on an old value.")

    @field_validator("latency_p99", "latency_p50", "staleness_p99", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)

    @field_validator("throughput", mode="before")
    @classmethod
    def _rate(cls, value: Any) -> Any:
        return None if value is None else parse_rate(value)


def _each_once(names: list[str]) -> list[str]:
    """At least one candidate, each named once: a repeated one would run the same seeds again and count as more replicates.

    An empty list is refused as `--mechanisms ''` is: it compares nothing (it used to run the default mechanisms).
    """
    if not names:
        raise ValueError("name at least one mechanism, e.g. [raft, multipaxos, pbft]")
    for i, name in enumerate(names):
        if name in names[:i]:
            # A ValidationError, not a ValueError: the line then names the repeat (`candidates[2]`), not the list.
            detail = InitErrorDetails(type=PydanticCustomError("value_error", f"{name!r} is listed twice"), loc=(i,), input=name)
            raise ValidationError.from_exception_data("candidates", [detail])
    return names


class PlaneCandidates(BaseModel):
    """One plane of a compare spec on a scenario with planes: its candidate mechanisms and what it requires."""

    model_config = ConfigDict(extra="forbid")

    candidates: list[str]
    requires: Requirements | None = None
    """Default: the plane's own `requires:` in the scenario, else nothing."""

    _once = field_validator("candidates")(_each_once)


class CompareSpec(BaseModel):
    """A compare spec file: the scenario, the candidates, the requirements and how to rank cost.

    On a scenario with planes, `planes:` gives each compared plane its candidates and requirements
    (the others keep their mechanism); top-level `candidates` and `requires` would not be used
    there, and `consim compare` and `validate` refuse them.
    """

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    description: str | None = None
    scenario: str | dict[str, Any]
    candidates: list[str] = Field(default_factory=list)
    requires: Requirements = Field(default_factory=Requirements)
    planes: dict[str, PlaneCandidates] | None = None
    cheapest_by: Literal["messages", "bytes"] = "messages"
    replicates: int | None = Field(None, ge=1)

    _once = field_validator("candidates")(_each_once)


def parse_requirements(data: Any, source: str = "<requires>", where: str = "requires") -> Requirements:
    """Validate a `requires:` mapping.

    Raises:
        ScenarioError: one line naming the field and the problem.

    """
    try:
        return Requirements.model_validate(data if data is not None else {})
    except ValidationError as err:
        raise first_error(source, err, where) from None


def is_compare_spec(path: str | Path) -> bool:
    """Whether a YAML file is a compare spec (a top-level `scenario:` with `candidates:`, `requires:` or `planes:`)."""
    from sim.yaml_kind import is_compare_data, read_or_none

    return is_compare_data(read_or_none(path))


def load_compare_spec(path: str | Path) -> tuple[CompareSpec, dict[str, Any] | Path]:
    """Read a compare spec; returns it and its scenario (inline data, or the path resolved beside the spec).

    Raises:
        ScenarioError: unreadable file, unknown field, bad requirement, missing scenario file.

    """
    source = str(path)
    data = read_yaml(path)  # read as a scenario file is, with the same one-line errors
    try:
        spec = CompareSpec.model_validate(data)
    except ValidationError as err:
        raise first_error(source, err) from None
    if isinstance(spec.scenario, dict):
        return spec, spec.scenario
    scenario = (Path(path).parent / spec.scenario).resolve()
    if not scenario.is_file():
        raise ScenarioError(source, "scenario", f"no such scenario file: {spec.scenario}")
    return spec, scenario


def tolerated_kind(tolerates: str) -> FaultKind:
    """The strongest fault kind a declared `tolerates` text covers ("byzantine f<n/3" -> byzantine).

    Liars (attestation) are byzantine faults; a byzantine-tolerant mechanism tolerates crashes too.
    """
    text = tolerates.lower()
    if "byzantine" in text or "liar" in text:
        return "byzantine"
    if "crash" in text:
        return "crash"
    return "none"


@dataclass
class Verdict:
    """One candidate's fate: the reasons it was rejected (empty: it meets the requirements)."""

    mechanism: str
    plane: str | None
    cost: float | None
    reasons: list[str] = field(default_factory=list)
    meets: bool = False
    """Whether it meets every requirement (a costlier one that does is still rejected, as too costly)."""
    recommended: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _fmt(value: float) -> str:
    return f"{value:,.1f}" if abs(value) < 1000 else f"{value:,.0f}"


def rejections(row: dict[str, Any], requires: Requirements, cheapest_by: str = "messages") -> list[str]:
    """Why one comparison-table row fails the requirements, in the order an engineer would ask; empty when it passes."""
    runs = int(_number(row.get("runs")) or 0)
    failed = int(_number(row.get("failed")) or 0)
    if runs == 0 or failed >= runs:
        notes = str(row.get("notes") or "").strip()
        return [f"could not run under this scenario{': ' + notes if notes else ''}"]
    reasons: list[str] = []
    declared = str(row.get("tolerates") or "")
    kind = tolerated_kind(declared)
    if _STRENGTH[kind] < _STRENGTH[requires.safety]:
        reasons.append(f"does not tolerate {requires.safety} faults (declares: {declared or 'nothing'})")
    unsafe = int(_number(row.get("unsafe_runs")) or 0)
    if unsafe:
        total = int(_number(row.get("violations_total")) or 0)
        reasons.append(f"unsafe under this fault plan: a checker fired in {unsafe}/{runs} runs ({total} violations)")
    liveness = _number(row.get("liveness"))
    if requires.liveness is not None and (liveness is None or liveness < requires.liveness):
        shown = "none measured" if liveness is None else f"{liveness:.3f}"
        reasons.append(f"not live enough: liveness {shown} < {requires.liveness:g} required")
    for key, limit, label in (("latency_ms_p99", requires.latency_p99, "p99"), ("latency_ms_p50", requires.latency_p50, "p50")):
        value = _number(row.get(key))
        if limit is not None and (value is None or value > limit):
            shown = "no latency measured" if value is None else f"{label} {format_ms(round(value, 1))}"
            reasons.append(f"too slow: {shown} > {format_ms(limit)} required")
    stale = _number(row.get("staleness_ms_p99"))
    if requires.staleness_p99 is not None and (stale is None or stale > requires.staleness_p99):
        shown = "none measured" if stale is None else f"p99 {format_ms(round(stale, 1))}"
        reasons.append(f"too stale: {shown} > {format_ms(requires.staleness_p99)} allowed")
    throughput = _number(row.get("throughput_per_s"))
    if requires.throughput is not None and (throughput is None or throughput < requires.throughput):
        shown = "none measured" if throughput is None else f"{_fmt(throughput)}/s"
        reasons.append(f"too little throughput: {shown} < {requires.throughput:g}/s required")
    for column, limit, unit in (
        ("messages_per_decision", requires.max_messages_per_decision, "messages"),
        ("bytes_per_decision", requires.max_bytes_per_decision, "bytes"),
    ):
        value = _number(row.get(column))
        if limit is not None and (value is None or value > limit):
            shown = "unknown" if value is None else _fmt(value)
            reasons.append(f"too costly: {shown} {unit}/decision > {_fmt(limit)} allowed")
    if not reasons and _number(row.get(COST_COLUMNS[cheapest_by])) is None:
        reasons.append(f"no {cheapest_by} per decision to rank it by (nothing decided)")
    return reasons


def recommend(rows: list[dict[str, Any]], requires: Requirements | dict[str, Requirements], cheapest_by: str = "messages") -> list[Verdict]:
    """A verdict for every row, the cheapest passing row of each plane marked recommended.

    Rows are comparison-table records (mechanism, tolerates, runs, failed, unsafe_runs,
    violations_total, liveness, latency_ms_p50/p99, throughput_per_s, messages_per_decision,
    bytes_per_decision, notes; optionally plane). `requires` is one set of requirements for
    every plane, or one per plane name. The others that pass are told what they cost more.
    """
    if cheapest_by not in COST_COLUMNS:
        raise ValueError(f"cheapest_by must be one of {', '.join(COST_COLUMNS)}")
    column = COST_COLUMNS[cheapest_by]
    planes: dict[str | None, list[dict[str, Any]]] = {}
    for row in rows:
        plane = row.get("plane")
        planes.setdefault(None if plane is None or plane != plane else str(plane), []).append(row)
    verdicts: list[Verdict] = []
    for plane, group in planes.items():
        wanted = requires if isinstance(requires, Requirements) else requires.get(plane or "", Requirements())
        mine = [Verdict(str(r["mechanism"]), plane, _number(r.get(column)), rejections(r, wanted, cheapest_by)) for r in group]
        for verdict in mine:
            verdict.meets = not verdict.reasons
        latency = {id(v): _number(r.get("latency_ms_p99")) for v, r in zip(mine, group, strict=True)}
        passing = sorted(
            (v for v in mine if v.meets), key=lambda v: (v.cost, latency[id(v)] if latency[id(v)] is not None else math.inf, v.mechanism)
        )
        if passing:
            best = passing[0]
            best.recommended = True
            for other in passing[1:]:
                other.reasons.append(
                    f"meets the requirements but costs more: {_fmt(other.cost)} vs {_fmt(best.cost)} {cheapest_by}/decision"
                )
        verdicts.extend(mine)
    return verdicts


def recommendation_lines(verdicts: list[Verdict], cheapest_by: str = "messages") -> list[str]:
    """The recommendation as plain lines: the winner per plane, then why each other candidate lost."""
    lines: list[str] = []
    by_plane: dict[str | None, list[Verdict]] = {}
    for verdict in verdicts:
        by_plane.setdefault(verdict.plane, []).append(verdict)
    for plane, group in by_plane.items():
        where = f"plane {plane}: " if plane is not None else ""
        best = next((v for v in group if v.recommended), None)
        if best is None:
            lines.append(f"{where}no candidate meets the requirements")
        else:
            lines.append(
                f"{where}recommended: {best.mechanism} ({_fmt(best.cost or 0.0)} {cheapest_by}/decision, the cheapest that meets them)"
            )
        for verdict in group:
            if not verdict.recommended:
                how = "not chosen" if verdict.meets else "rejected"
                lines.append(f"  {verdict.mechanism} {how}: {'; '.join(verdict.reasons)}")
    return lines

"""The report of one run directory, per mechanism or per plane.

Per mechanism (per plane, when the tables carry a `plane` column): the guarantee it provides,
what was measured, under which faults, and its figures.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sim.compare import tolerates
from sim.report.document import Block, Bullets, Figure, Heading, Paragraph, Table
from sim.report.facts import describe_network, fault_lines, guarantee, observed_faults, staleness
from sim.report.fleet import needs_blocks, pipeline_blocks, plane_fault_blocks
from sim.results import RunResult

CAPTIONS = {
    "performance": "Latency and throughput over time; faults shaded, safety violations marked.",
    "timeline": "Who led, who was down or cut off, and when decisions happened.",
    "latency_cdf": "Distribution of client latency over the measurement window (the commands the summary measures).",
    "messages_by_type": "Messages sent by type.",
    "message_load": "Messages sent and received per node.",
    "spacetime": "Space-time diagram of the messages around the first fault.",
    "infection": "How many nodes knew each write over time.",
}
FLEET_CAPTION = (
    "Every plane on one time axis, faults shaded: who led, who was down or cut off, when each plane decided, "
    "and (last row) each chain of the pipeline stage by stage"
)
MEASURES = (
    ("decisions", "decisions (slots decided by honest nodes)"),
    ("commands_committed", "client commands committed"),
    ("latency_ms_p50", "latency p50 (ms)"),
    ("latency_ms_p99", "latency p99 (ms)"),
    ("throughput_per_s", "throughput (commands/s)"),
    ("liveness", "liveness (fraction of commands decided)"),
    ("messages_sent", "messages sent"),
    ("bytes_sent", "bytes sent"),
    ("messages_per_decision", "messages per decision"),
    ("bytes_per_decision", "bytes per decision"),
    ("failover_ms_max", "failover, longest (ms)"),
    ("time_to_all_ms_mean", "gossip: time until every node knew a write, mean (ms)"),
    # Gossip's keys and a log's entries alike (see `staleness`): no mechanism's name in the label.
    ("staleness_ms_mean", "staleness: time a node works on an old value, mean (ms)"),
    ("staleness_ms_p99", "staleness p99 (ms)"),
    ("staleness_ms_max", "staleness, longest (ms)"),
    ("never_informed", "gossip: (write, node) pairs never informed by the end"),
    ("safety_violations", "safety violations found by the checkers"),
)


@dataclass(frozen=True)
class Plane:
    """One mechanism of a run: its name (None for a one-mechanism run), mechanism, nodes and tables.

    `tolerated` is how many faulty nodes it tolerates as configured (its mechanism's `fault_bound`,
    e.g. PBFT's `protocol.f`); None when the recorded scenario no longer loads.
    """

    name: str | None
    mechanism: str
    nodes: int | None
    summary: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    requires: dict[str, Any] | None = None
    tolerated: int | None = None

    @property
    def tolerates_text(self) -> str:
        """Its declared `tolerates`, with the f of this cluster as configured, e.g. "byzantine f<n/3 (f≤1 of 10)"."""
        return tolerates(self.mechanism, self.nodes, self.tolerated)


def _tables(result: RunResult) -> dict[str, pd.DataFrame]:
    return {
        "decisions": result.decisions,
        "requests": result.requests,
        "messages": result.messages,
        "events": result.events,
        "violations": result.violations,
    }


def _plane_summary(summary: dict[str, Any], name: str) -> dict[str, Any]:
    nested = summary.get("planes")
    if isinstance(nested, dict) and isinstance(nested.get(name), dict):
        return dict(nested[name])
    if isinstance(summary.get(name), dict):
        return dict(summary[name])
    # Flat keys prefixed with the plane's name ("model.latency_ms_p99"); not "model_...", which a
    # plane named like a key's first word ("messages") would mistake for its own.
    found = {}
    for sep in (".", "/"):
        prefix = f"{name}{sep}"
        found.update({k[len(prefix) :]: v for k, v in summary.items() if k.startswith(prefix)})
    return found


def _from_tables(tables: dict[str, pd.DataFrame], duration_ms: float) -> dict[str, Any]:
    """Headline numbers computed from one plane's tables (used when its summary lacks them)."""
    decisions, requests, messages = tables["decisions"], tables["requests"], tables["messages"]
    out: dict[str, Any] = {"decisions": int(decisions["slot"].nunique()) if "slot" in decisions and len(decisions) else 0}
    if len(requests) and "latency_ms" in requests:
        done = requests[requests["done_ms"].notna()]
        if len(done):
            out["latency_ms_p50"] = float(done["latency_ms"].quantile(0.5))
            out["latency_ms_p99"] = float(done["latency_ms"].quantile(0.99))
        out["throughput_per_s"] = len(done) / (duration_ms / 1000.0) if duration_ms else None
        if "value" in decisions:
            out["liveness"] = float(requests["cmd_id"].isin(set(decisions["value"])).mean())
    if len(messages):
        out["messages_sent"] = int(messages["sent"].sum())
        out["bytes_sent"] = int(messages["bytes_sent"].sum())
        if out["decisions"]:
            out["messages_per_decision"] = out["messages_sent"] / out["decisions"]
    out["safety_violations"] = len(tables["violations"])
    return out


def _tolerated(scenario: dict[str, Any], plane: str | None) -> int | None:
    """The faulty nodes the run's mechanism (or `plane`'s) tolerates as configured; None when the scenario no longer loads."""
    from sim.protocols.registry import MechanismError, get_mechanism
    from sim.scenario import ScenarioError, scenario_from_dict

    try:
        loaded = scenario_from_dict(scenario, "<report>")
        if plane is not None:
            loaded = loaded.plane_scenarios[plane]
        return get_mechanism(loaded.mechanism or "").fault_bound(loaded)[1]
    except (ScenarioError, MechanismError, KeyError):
        return None


def planes(result: RunResult) -> list[Plane]:
    """The run's planes: one per value of the tables' `plane` column, or the run's one mechanism."""
    scenario, summary = result.scenario, result.summary
    tables = _tables(result)
    names: list[str] = []
    for spec in scenario.get("planes") or []:
        if isinstance(spec, dict) and spec.get("name"):
            names.append(str(spec["name"]))
    for frame in tables.values():
        if "plane" in frame.columns:
            names += [str(v) for v in frame["plane"].dropna().unique() if str(v) not in names]
    if not names:
        mechanism = str(summary.get("mechanism", scenario.get("mechanism", "?")))
        return [Plane(None, mechanism, summary.get("nodes"), dict(summary), tables, tolerated=_tolerated(scenario, None))]
    specs = {str(s.get("name")): s for s in scenario.get("planes") or [] if isinstance(s, dict)}
    out = []
    for name in names:
        mine = {k: (f[f["plane"].astype(str) == name] if "plane" in f.columns else f.iloc[0:0]) for k, f in tables.items()}
        own = _plane_summary(summary, name)
        spec = specs.get(name, {})
        nodes = spec.get("nodes")
        if isinstance(nodes, list):
            nodes = len(nodes)
        if not isinstance(nodes, int):
            nodes = own.get("nodes", summary.get("nodes"))
        mechanism = str(spec.get("mechanism") or own.get("mechanism") or scenario.get("mechanism", "?"))
        requires = spec.get("requires") if isinstance(spec.get("requires"), dict) else None
        out.append(Plane(name, mechanism, nodes, own, mine, requires, _tolerated(scenario, name)))
    return out


def measured(plane: Plane, duration_ms: float) -> dict[str, Any]:
    """The plane's headline numbers: its summary's, filled in from its tables, plus bytes per decision and staleness."""
    values = _from_tables(plane.tables, duration_ms)
    values.update({k: v for k, v in plane.summary.items() if v is not None})
    if values.get("decisions") and values.get("bytes_sent") is not None:
        values["bytes_per_decision"] = values["bytes_sent"] / values["decisions"]
    stale = staleness(plane.tables["decisions"], duration_ms)
    if stale:
        values.update(stale)
    return values


def _verdict(plane: Plane, values: dict[str, Any]) -> str:
    violations = plane.tables["violations"]
    liveness = values.get("liveness")
    live = f"liveness {liveness:.3f}" if isinstance(liveness, int | float) else "liveness not measured"
    if len(violations) == 0:
        return f"Held: no safety checker fired under this fault plan; {live}."
    rules = violations["rule"].astype(str).value_counts().sort_index()
    first = float(violations["time_ms"].min()) if "time_ms" in violations else float("nan")
    listed = ", ".join(f"{rule} x{count}" for rule, count in rules.items())
    return f"UNSAFE: the checkers found {len(violations)} violation(s) ({listed}), the first at {first:.0f} ms; {live}."


def figures_in(folder: Path) -> list[Path]:
    """The PNGs of a plots folder, subfolders included: per folder the fault-shaded overviews first, then by name."""
    order = {stem: i for i, stem in enumerate(CAPTIONS)}
    found = folder.rglob("*.png") if folder.is_dir() else []
    return sorted(found, key=lambda p: (p.parent.as_posix(), order.get(p.stem, len(order)), p.name))


def _belongs(path: Path, root: Path, plane: str) -> bool:
    rel = path.relative_to(root)
    return plane in rel.parts[:-1] or path.stem.startswith((f"{plane}_", f"{plane}-", f"{plane}."))


def caption(path: Path, root: Path) -> str:
    """A figure's caption from its file name (known figures get a sentence)."""
    stem = path.stem
    rel = path.relative_to(root)
    where = f"{'/'.join(rel.parts[:-1])}: " if len(rel.parts) > 1 else ""
    return f"{where}{CAPTIONS.get(stem, stem.replace('_', ' '))} ({rel.as_posix()})"


def _drawn(result: RunResult) -> list[tuple[str, bytes]]:
    """The run's figures drawn afresh (for a run saved without plots)."""
    import matplotlib.pyplot as plt

    from sim.plots import run_figures

    out = []
    for stem, fig in run_figures(result).items():
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
        plt.close(fig)
        out.append((f"{CAPTIONS.get(stem, stem)} ({stem}, drawn for this report)", buffer.getvalue()))
    return out


def run_blocks(run_dir: Path) -> list[Block]:
    """Every block of a run directory's report."""
    result = RunResult.load(run_dir)
    scenario, summary = result.scenario, result.summary
    name = str(summary.get("name", scenario.get("name", run_dir.name)))
    duration = float(summary.get("duration_ms") or 0.0)
    found = planes(result)
    blocks: list[Block] = [Heading(f"consim report: {name}", 1)]
    if scenario.get("description"):
        blocks.append(Paragraph(str(scenario["description"]).strip()))
    mechanisms = ", ".join(f"{p.name}: {p.mechanism}" if p.name else p.mechanism for p in found)
    blocks.append(
        Paragraph(
            f"One run of {summary.get('nodes', '?')} nodes for {duration / 1000:g} s simulated, seed {summary.get('seed', '?')}; "
            f"mechanism{'s' if len(found) > 1 else ''}: {mechanisms}. Run directory: {run_dir}."
        )
    )
    blocks += [Heading("Under which faults"), Paragraph(describe_network(scenario)), Bullets(tuple(fault_lines(scenario)))]
    struck = observed_faults(result.events)
    if struck:
        blocks += [Paragraph("As they struck in this run (from the events table):"), Bullets(tuple(struck))]
    root = run_dir / "plots"
    pngs = figures_in(root)
    used: set[Path] = set()
    timeline = [p for p in pngs if p.stem == "fleet_timeline"]
    if timeline:
        used.update(timeline)
        blocks += [Heading("The fleet timeline")]
        blocks += [Figure(p.read_bytes(), f"{FLEET_CAPTION} ({p.relative_to(root).as_posix()})") for p in timeline]
    blocks += pipeline_blocks(result.pipeline, [dict(link) for link in scenario.get("links") or []])
    for plane in found:
        title = f"Plane {plane.name}: {plane.mechanism}" if plane.name else f"Mechanism: {plane.mechanism}"
        values = measured(plane, duration)
        rows = tuple((label, values[key]) for key, label in MEASURES if values.get(key) is not None)
        blocks += [
            Heading(title),
            Heading("The guarantee it provides", 3),
            Bullets(tuple(guarantee(plane.mechanism, plane.nodes, plane.tolerates_text))),
        ]
        if plane.name is not None:
            blocks += needs_blocks(plane.requires, plane.tolerates_text, values, len(plane.tables["violations"]))
            blocks += plane_fault_blocks(plane.tables["events"])
        blocks += [
            Heading("What was measured", 3),
            Table(("measure", "value"), rows),
            Paragraph(_verdict(plane, values)),
        ]
        mine = [p for p in pngs if plane.name is None or _belongs(p, root, plane.name)]
        used.update(mine)
        if mine:
            blocks.append(Heading("Figures", 3))
            blocks += [Figure(p.read_bytes(), caption(p, root)) for p in mine]
    rest = [p for p in pngs if p not in used]
    if rest:
        blocks.append(Heading("Shared figures"))
        blocks += [Figure(p.read_bytes(), caption(p, root)) for p in rest]
    if not pngs and len(found) == 1:
        drawn = _drawn(result)
        if drawn:
            blocks.append(Heading("Figures", 3))
            blocks += [Figure(png, text) for text, png in drawn]
    return blocks

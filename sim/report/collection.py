"""The report of a sweep directory and of a compare directory (with its recommendation)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from sim.report.document import Block, Bullets, Figure, Heading, Paragraph, Table
from sim.report.facts import describe_network, fault_lines, guarantee
from sim.report.requirements import Requirements, Verdict, recommend
from sim.report.run import caption, figures_in
from sim.scenario import set_path

COMPARE_META = "compare.json"
"""What `consim compare` ran and required: scenario name, candidates, replicates, requires, cheapest_by."""
COMPARE_COLUMNS = (
    "mechanism",
    "tolerates",
    "runs",
    "failed",
    "latency_ms_p50",
    "latency_ms_p99",
    "throughput_per_s",
    "liveness",
    "messages_per_decision",
    "bytes_per_decision",
    "unsafe_runs",
    "violations_total",
)

PLANE_EXTRA = ("staleness_ms_p99", "e2e_ms_p50", "e2e_ms_p99")
"""A plane compare's extra columns: the plane's staleness and the run's end-to-end time through the links."""


def is_compare_dir(path: Path) -> bool:
    """Whether a directory holds `consim compare` output."""
    return (path / "table.parquet").is_file() and (path / "runs.parquet").is_file()


def _scenario_section(scenario: dict[str, Any]) -> list[Block]:
    return [Heading("Under which faults"), Paragraph(describe_network(scenario)), Bullets(tuple(fault_lines(scenario)))]


def _guarantees(names: list[str], nodes: int | None, declared: dict[str, str] | None = None) -> list[Block]:
    """Each mechanism's guarantee; `declared`: its `tolerates` label where known for the cluster as configured."""
    blocks: list[Block] = [Heading("The guarantee each mechanism provides")]
    for name in names:
        blocks += [Heading(name, 3), Bullets(tuple(guarantee(name, nodes, (declared or {}).get(name))))]
    return blocks


def sweep_labels(meta: dict[str, Any], names: list[str]) -> dict[str, str]:
    """Each mechanism's `tolerates` label for the clusters a sweep ran: its `fault_bound` at every grid point.

    Read from each point's scenario, not from n alone: `protocol.f` (PBFT, HotStuff, Tendermint) and
    Multi-Paxos's flexible or weighted quorums set the bound, and a grid may sweep them or `nodes`.
    A mechanism whose points do not all load again gets its label without a count, not a guessed one.
    """
    from sim.compare import tolerates
    from sim.protocols.registry import MechanismError, get_mechanism
    from sim.scenario import ScenarioError, scenario_from_dict

    base = meta.get("base") or {}
    found: dict[str, set[tuple[int, int]]] = {}
    for point in meta.get("points") or [{}]:
        try:
            loaded = scenario_from_dict(base, "<report>", {**(meta.get("set") or {}), **point})
            mechanism = loaded.mechanism or ""
            found.setdefault(mechanism, set()).add((loaded.n, get_mechanism(mechanism).fault_bound(loaded)[1]))
        except (ScenarioError, MechanismError):
            return {name: tolerates(name) for name in names}  # which mechanism it was is unknown: no count for any
    labels = {}
    for name in names:
        pairs = sorted(found.get(name, ()))
        if len(pairs) == 1:
            labels[name] = tolerates(name, *pairs[0])
        elif pairs and tolerates(name, *pairs[0]) != tolerates(name):  # a bound of the form f<n/K: one count per cluster
            labels[name] = f"{tolerates(name)} ({', '.join(f'f≤{f} of {n}' for n, f in pairs)} across the grid)"
        else:
            labels[name] = tolerates(name)
    return labels


def sweep_blocks(sweep_dir: Path) -> list[Block]:
    """Every block of a sweep directory's report: what was swept, the table, the figures."""
    from sim.cli_sweep import sweep_overview
    from sim.sweep import SweepResult

    meta = json.loads((sweep_dir / "sweep.json").read_text(encoding="utf-8"))
    result = SweepResult.load(sweep_dir)
    base = copy.deepcopy(meta.get("base") or {})
    for path, value in (meta.get("set") or {}).items():
        set_path(base, path, value)
    blocks: list[Block] = [Heading(f"consim report: sweep {meta.get('name', sweep_dir.name)}", 1)]
    if meta.get("description"):
        blocks.append(Paragraph(str(meta["description"]).strip()))
    grid = ", ".join(f"{p} ({result.runs[p].nunique() if p in result.runs else '?'} values)" for p in result.params) or "nothing"
    blocks.append(
        Paragraph(
            f"{len(result.runs)} runs: {len(meta.get('points') or [])} grid points x {len(meta.get('seeds') or [])} seeds; "
            f"swept: {grid}; {result.failed} failed. Sweep directory: {sweep_dir}."
        )
    )
    blocks += _scenario_section(base)
    if "set" not in meta:
        blocks.append(Paragraph("These are the base scenario's faults: this sweep directory does not record its `set:` overrides."))
    if any(p == "faults" or p.startswith("faults[") for p in result.params):
        blocks.append(Paragraph("The fault plan is one of the swept parameters: each grid point has its own."))
    if "mechanism" in result.runs:
        names = [str(m) for m in result.runs["mechanism"].dropna().unique()]
        nodes = int(result.runs["nodes"].iloc[0]) if "nodes" in result.runs and result.runs["nodes"].nunique() == 1 else None
        blocks += _guarantees(sorted(names), nodes, sweep_labels(meta, names))
    overview = sweep_overview(result.summary, result.params)
    blocks += [Heading("Mean per grid point [95% CI]"), Table.of(overview)]
    root = sweep_dir / "plots"
    pngs = figures_in(root)
    if pngs:
        blocks.append(Heading("Figures"))
        blocks += [Figure(p.read_bytes(), caption(p, root)) for p in pngs]
    elif result.params and len(result.runs):
        blocks.append(Heading("Figures"))
        blocks += _drawn_sweep(result.runs, result.params)
    return blocks


def _drawn_sweep(runs: pd.DataFrame, params: list[str]) -> list[Block]:
    """A sweep's default figures drawn for the report (for a sweep saved without plots)."""
    import tempfile

    from sim.sweep_plots import save_sweep_plots

    with tempfile.TemporaryDirectory() as scratch:
        paths = save_sweep_plots(runs, params, Path(scratch))
        return [Figure(p.read_bytes(), f"{p.stem.replace('_', ' ')} (drawn for this report)") for p in paths]


def compare_meta(compare_dir: Path) -> dict[str, Any]:
    """The compare directory's compare.json ({} when it was written before requirements existed)."""
    path = compare_dir / COMPARE_META
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def compare_verdicts(compare_dir: Path) -> list[Verdict] | None:
    """The recommendation for a compare directory whose spec declared requirements (None otherwise)."""
    meta = compare_meta(compare_dir)
    table = pd.read_parquet(compare_dir / "table.parquet")
    if isinstance(meta.get("planes"), dict):
        per_plane = {plane: Requirements.model_validate(wanted.get("requires") or {}) for plane, wanted in meta["planes"].items()}
        return recommend(table.to_dict("records"), per_plane, meta.get("cheapest_by", "messages"))
    if meta.get("requires") is None:
        return None
    requires = Requirements.model_validate(meta["requires"])
    return recommend(table.to_dict("records"), requires, meta.get("cheapest_by", "messages"))


def _requirement_lines(meta: dict[str, Any]) -> list[str]:
    from sim.units import format_ms

    req = meta.get("requires") or {}
    shown = {
        "safety": lambda v: f"tolerates {v} faults" if v != "none" else None,
        "latency_p99": lambda v: f"latency p99 at most {format_ms(v)}",
        "latency_p50": lambda v: f"latency p50 at most {format_ms(v)}",
        "liveness": lambda v: f"liveness at least {v:g}",
        "throughput": lambda v: f"throughput at least {v:g}/s",
        "max_messages_per_decision": lambda v: f"at most {v:g} messages per decision",
        "max_bytes_per_decision": lambda v: f"at most {v:g} bytes per decision",
        "staleness_p99": lambda v: f"staleness p99 at most {format_ms(v)}",
    }
    if isinstance(meta.get("planes"), dict):
        lines = []
        for plane, wanted in meta["planes"].items():
            own = [
                text
                for key, say in shown.items()
                if (wanted.get("requires") or {}).get(key) is not None and (text := say(wanted["requires"][key]))
            ]
            lines.append(
                f"plane {plane} (candidates {', '.join(wanted.get('candidates') or [])}): {'; '.join(own) or 'nothing beyond safety'}"
            )
    else:
        lines = [text for key, say in shown.items() if req.get(key) is not None and (text := say(req[key])) is not None]
    lines.append("no checker may fire in any run (a safety violation under this fault plan rejects the mechanism)")
    lines.append(f"of the candidates that meet these, the cheapest wins: lowest mean {meta.get('cheapest_by', 'messages')} per decision")
    return lines


def compare_blocks(compare_dir: Path) -> list[Block]:
    """Every block of a compare directory's report: the candidates, the recommendation, the trade-off chart."""
    table = pd.read_parquet(compare_dir / "table.parquet")
    meta = compare_meta(compare_dir)
    scenario_path = compare_dir / "scenario.yaml"
    scenario = yaml.safe_load(scenario_path.read_text(encoding="utf-8")) if scenario_path.is_file() else {}
    name = meta.get("name") or scenario.get("name") or compare_dir.name
    by_plane = "plane" in table.columns
    names = (
        [f"{p}: {m}" for p, m in zip(table["plane"], table["mechanism"], strict=True)] if by_plane else [str(m) for m in table["mechanism"]]
    )
    blocks: list[Block] = [Heading(f"consim report: compare {name}", 1)]
    if scenario.get("description"):
        blocks.append(Paragraph(str(scenario["description"]).strip()))
    replicates = meta.get("replicates", int(table["runs"].max()) if "runs" in table and len(table) else "?")
    if by_plane:
        what = "Each plane's candidates in turn, the other planes kept as the scenario has them"
        blocks.append(Paragraph(f"{what}: {', '.join(names)}; {replicates} seeds each, same faults. Compare directory: {compare_dir}."))
    else:
        listed = f"{len(names)} mechanisms ({', '.join(names)})"
        blocks.append(Paragraph(f"The same scenario on {listed}, {replicates} seeds each. Compare directory: {compare_dir}."))
    if scenario:
        blocks += _scenario_section(scenario)
    else:
        blocks.append(Paragraph("The fault plan is not recorded in this compare directory (it predates scenario.yaml)."))
    nodes = scenario.get("nodes") if isinstance(scenario.get("nodes"), int) else None
    if by_plane:
        blocks.append(Heading("The guarantee each candidate provides"))
        for row in table.to_dict("records"):
            found = guarantee(str(row["mechanism"]), None)
            found = [f"Tolerates on this plane's nodes: {row['tolerates']}." if line.startswith("Tolerates:") else line for line in found]
            blocks += [Heading(f"{row['plane']}: {row['mechanism']}", 3), Bullets(tuple(found))]
    else:
        # The table's label has the f of each mechanism's cluster as configured (its `protocol.f`).
        labels = {str(r["mechanism"]): str(r["tolerates"]) for r in table.to_dict("records") if r.get("tolerates")}
        blocks += _guarantees(names, nodes, labels)
    verdicts = compare_verdicts(compare_dir)
    if verdicts is not None:
        best = [v for v in verdicts if v.recommended]
        cheapest_by = meta.get("cheapest_by", "messages")
        blocks += [Heading("Recommendation"), Paragraph("Requirements:"), Bullets(tuple(_requirement_lines(meta)))]
        if best:
            blocks += [
                Paragraph(
                    f"Recommended: {v.mechanism}"
                    + (f" for plane {v.plane}" if v.plane else "")
                    + f", {v.cost:,.1f} {cheapest_by} per decision."
                )
                for v in best
            ]
        else:
            blocks.append(Paragraph("No candidate meets the requirements."))
        rows = tuple(
            ((v.plane,) if by_plane else ())
            + (
                v.mechanism,
                "recommended" if v.recommended else ("meets, costlier" if v.meets else "rejected"),
                v.cost,
                "; ".join(v.reasons) or "-",
            )
            for v in verdicts
        )
        blocks.append(Table((("plane",) if by_plane else ()) + ("mechanism", "verdict", f"{cheapest_by} per decision", "why"), rows))
    columns = (("plane",) if by_plane else ()) + COMPARE_COLUMNS + (PLANE_EXTRA if by_plane else ())
    shown = table[[c for c in columns if c in table.columns]]
    blocks += [Heading("What was measured (means over seeds)"), Table.of(shown)]
    notes = [f"{r['plane'] + ': ' if by_plane else ''}{r['mechanism']}: {r['notes']}" for r in table.to_dict("records") if r.get("notes")]
    if notes:
        blocks += [Paragraph("Adapting the scenario to each mechanism:"), Bullets(tuple(notes))]
    chart = compare_dir / "tradeoff.png"
    if chart.is_file():
        blocks += [Heading("Figures"), Figure(chart.read_bytes(), "Latency against message cost per mechanism; a red cross is unsafe.")]
    return blocks

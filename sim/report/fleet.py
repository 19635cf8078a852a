"""The parts of a report only a run with planes has: each plane's needs, its faults, the pipeline.

The pipeline section reads the `pipeline` table (sim/planes/links.py): per link (stage) how long
it took from the decision that triggered it to the next plane deciding the command it submitted
(`stage_ms`, the `after:` apply time included) and to every node of that plane knowing it
(`spread_ms`); in all, per chain, from the first trigger to the last node of the final stage.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sim.report.document import Block, Bullets, Heading, Paragraph, Table
from sim.report.facts import observed_faults
from sim.report.requirements import parse_requirements, rejections, tolerated_kind


def _describe(requires: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in requires.items())


def unmet(requires: dict[str, Any], mechanism_tolerates: str, values: dict[str, Any], violations: int) -> list[str]:
    """Why one run of a plane misses its `requires:` (empty: it meets them), from its measured values."""
    row = dict(values)
    row.update(runs=1, failed=0, tolerates=mechanism_tolerates, unsafe_runs=1 if violations else 0, violations_total=violations)
    return [r for r in rejections(row, parse_requirements(requires)) if not r.startswith("no messages per decision")]


def needs_blocks(requires: dict[str, Any] | None, mechanism_tolerates: str, values: dict[str, Any], violations: int) -> list[Block]:
    """What the plane needs (its scenario's `requires:`) and whether this run met it, with the reasons when not."""
    if not requires:
        return []
    reasons = unmet(requires, mechanism_tolerates, values, violations)
    verdict = "Met in this run." if not reasons else "NOT met in this run: " + "; ".join(reasons) + "."
    kind = tolerated_kind(mechanism_tolerates)
    return [
        Heading("The guarantee it needs", 3),
        Paragraph(
            f"Declared by the scenario: {_describe(requires)}. The mechanism declares {mechanism_tolerates} ({kind} faults). {verdict}"
        ),
    ]


def plane_fault_blocks(events: pd.DataFrame) -> list[Block]:
    """The faults that struck this plane, from its rows of the events table."""
    struck = observed_faults(events)
    return [Heading("Under which faults", 3), Bullets(tuple(struck or ["no fault struck this plane (only what the network does)"]))]


def _ms(value: float) -> str:
    return "never" if value is None or not np.isfinite(value) else f"{value:,.0f} ms"


def chain_totals(pipeline: pd.DataFrame) -> pd.DataFrame:
    """One row per chain: its trigger time and end-to-end time (NaN when it never reached every node of its final plane)."""
    rows = []
    for chain, group in pipeline.groupby("chain", sort=True):
        start = float(group["trigger_ms"].min())
        finals = group[group["final"]]
        complete = not finals.empty and bool((finals["nodes_decided"] == finals["plane_nodes"]).all())
        end = float(finals["done_ms"].max()) if complete else float("nan")
        rows.append({"chain": int(chain), "trigger_ms": start, "e2e_ms": end - start})
    return pd.DataFrame(rows, columns=["chain", "trigger_ms", "e2e_ms"])


def pipeline_blocks(pipeline: pd.DataFrame | None, links: list[dict[str, Any]]) -> list[Block]:
    """The end-to-end section: per stage (link) and in all, p50 and longest, then chain by chain."""
    if pipeline is None or pipeline.empty:
        if links:
            return [Heading("The pipeline: end-to-end time"), Paragraph("The links never fired in this run: no chain started.")]
        return []
    totals = chain_totals(pipeline)
    done = totals["e2e_ms"].dropna()
    blocks: list[Block] = [
        Heading("The pipeline: end-to-end time"),
        Paragraph(
            "Each chain starts at a decision that fires a link and ends when every node of the last plane knows the result. "
            "Per stage: to decided is from the trigger to the next plane deciding the submitted command (an `after:` apply time included); "
            "to every node adds the spread to all of that plane's nodes."
        ),
    ]
    rows = []
    for i, link in enumerate(links):
        mine = pipeline[pipeline["link"] == i]
        action = f"submit {link['submit']!r}" if link.get("submit") else f"write {link.get('write')!r}"
        spread = (mine["done_ms"] - mine["trigger_ms"]).to_numpy(float)
        decided = mine["stage_ms"].to_numpy(float)
        rows.append(
            (
                f"{i}: {link.get('from')} -> {link.get('to')} ({action})",
                len(mine),
                _ms(float(np.nanmedian(decided))) if np.isfinite(decided).any() else "never",
                _ms(float(np.nanmax(decided))) if np.isfinite(decided).any() else "never",
                _ms(float(np.nanmedian(spread))) if np.isfinite(spread).any() else "never",
                _ms(float(np.nanmax(spread))) if np.isfinite(spread).any() else "never",
            )
        )
    rows.append(
        (
            "in all (trigger -> every node of the last plane)",
            f"{len(done)}/{len(totals)} complete",
            "",
            "",
            _ms(float(done.median())) if len(done) else "never",
            _ms(float(done.max())) if len(done) else "never",
        )
    )
    blocks.append(Table(("stage", "fired", "to decided p50", "to decided max", "to every node p50", "to every node max"), tuple(rows)))
    blocks.append(Heading("Chain by chain", 3))
    blocks.append(
        Table(
            ("chain", "triggered at", "end to end"),
            tuple((int(r.chain), _ms(r.trigger_ms), _ms(r.e2e_ms)) for r in totals.itertuples(index=False)),
        )
    )
    return blocks

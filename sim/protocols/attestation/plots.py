"""Figures of the attestation mechanism: how honest nodes come to accept or reject each claim."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np

from sim.plots.common import empty_note, fault_periods, mark_violations, node_names, shade_faults

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sim.results import RunResult

TRUE_COLOUR = "#2874a6"
FALSE_COLOUR = "#c0392b"


def acceptance(result: RunResult) -> Figure:
    """Acceptance of each claim over time, the verdicts of honest nodes, and forgeries rejected.

    Left: per claim, the fraction of honest nodes that accepted it (true claims blue, false
    claims red: a red curve above zero is a false accept). Right: the verdicts of honest nodes,
    and the forged attestations they rejected.
    """
    from sim.checkers.agreement import faulty_nodes, honest_decisions

    name = result.summary.get("name", result.scenario.get("name", ""))
    duration = float(result.summary.get("duration_ms") or result.scenario.get("duration") or 1.0)
    events = result.events
    claims = events[events["kind"] == "claim"] if not events.empty and "kind" in events else events.iloc[0:0]
    honest = sorted(set(node_names(result.scenario)) - faulty_nodes(result.tables))
    decisions = honest_decisions(result.tables)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4), gridspec_kw={"width_ratios": [1.6, 1]})
    left.set_xlim(0, duration / 1000.0)
    counts = {"true claim accepted": 0, "false claim rejected": 0, "false accept": 0, "false reject": 0}
    if claims.empty or not honest:
        empty_note(left, "no claims")
    else:
        for claim in claims.drop_duplicates("claim_id").itertuples():
            mine = decisions[decisions["slot"] == claim.claim_id]
            accepts = np.sort(mine.loc[mine["value"] == "accept", "time_ms"].to_numpy(dtype=float))
            truth = bool(claim.truth)
            rejects = int((mine["value"] == "reject").sum())
            counts["true claim accepted" if truth else "false accept"] += len(accepts)
            counts["false reject" if truth else "false claim rejected"] += rejects
            xs = np.concatenate([[claim.time_ms], accepts, [duration]]) / 1000.0
            ys = np.concatenate([[0.0], np.arange(1, len(accepts) + 1), [len(accepts)]]) / len(honest)
            left.step(xs, ys, where="post", color=TRUE_COLOUR if truth else FALSE_COLOUR, linewidth=1.2, alpha=0.8)
        handles = [
            plt.Line2D([], [], color=TRUE_COLOUR, label=f"true claim ({int(claims['truth'].astype(bool).sum())})"),
            plt.Line2D([], [], color=FALSE_COLOUR, label=f"false claim ({int((~claims['truth'].astype(bool)).sum())})"),
        ]
        handles += shade_faults([left], fault_periods(events, duration), label_on=left)
        handles += mark_violations([left], result.violations)
        left.legend(handles=handles, fontsize=8, loc="center right")
    left.set_ylim(0, 1.03)
    left.set_xlabel("simulated time (s)")
    left.set_ylabel("fraction of honest nodes that accepted")
    left.set_title(f"Acceptance of each claim — {name}", fontsize=10)
    left.grid(alpha=0.3)
    forged = int(result.summary.get("forged_rejected") or 0)
    labels = [*counts, "forged attestations\nrejected"]
    values = [*counts.values(), forged]
    colours = [TRUE_COLOUR, TRUE_COLOUR, FALSE_COLOUR, FALSE_COLOUR, "#7d3c98"]
    pos = np.arange(len(labels))
    right.barh(pos, values, color=colours)
    for p, v in zip(pos, values, strict=True):
        right.text(v, p, f" {v:,}", va="center", fontsize=8)
    right.set_yticks(pos, labels, fontsize=8)
    right.invert_yaxis()
    if max(values) > 0:
        right.set_xlim(0, max(values) * 1.25)
    right.set_xlabel("count (verdicts of honest nodes; forged attestations)")
    right.set_title("Verdicts and forgeries", fontsize=10)
    right.grid(axis="x", alpha=0.3)
    fig.set_layout_engine("tight")  # laid out when drawn: building a figure stays cheap
    return fig


def attestation_figures() -> dict[str, Any]:
    """Attestation's own figure."""
    return {"acceptance": acceptance}

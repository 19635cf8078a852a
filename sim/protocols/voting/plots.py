"""Figures of the voting mechanism: each question right, wrong or undecided, against the rule's threshold."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sim.plots.common import empty_note, fault_periods, mark_violations, shade_faults

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sim.results import RunResult

OUTCOME_COLOURS = {"right": "#27ae60", "wrong": "#c0392b", "undecided": "#95a5a6"}


def question_outcomes(result: RunResult) -> pd.DataFrame:
    """One row per question: qid, asked_ms, decided_ms, outcome (right, wrong, undecided) and share.

    The outcome is the first honest decision on the question; `share` is the leading answer's
    fraction of the weight cast when the poll closed (NaN when the run does not record it).
    """
    from sim.checkers.agreement import honest_decisions

    events = result.events
    columns = ["qid", "asked_ms", "decided_ms", "outcome", "share"]
    questions = events[events["kind"] == "question"] if not events.empty and "kind" in events else pd.DataFrame()
    if questions.empty:
        return pd.DataFrame(columns=columns)
    decisions = honest_decisions(result.tables).sort_values("time_ms", kind="stable").drop_duplicates("slot")
    decided = decisions.set_index("slot")
    closed = events[events["kind"] == "no_decision"].drop_duplicates("qid").set_index("qid")
    rows = []
    for q in questions.drop_duplicates("qid").itertuples():
        share = float("nan")
        if q.qid in decided.index:
            d = decided.loc[q.qid]
            outcome = "right" if d["value"] == q.truth else "wrong"
            when = float(d["time_ms"])
            if "top_weight" in d and pd.notna(d.get("top_weight")) and d.get("cast_weight"):
                share = float(d["top_weight"]) / float(d["cast_weight"])
        else:
            outcome, when = "undecided", float("nan")
            if q.qid in closed.index and "top_weight" in closed.columns and closed.loc[q.qid, "cast_weight"]:
                share = float(closed.loc[q.qid, "top_weight"]) / float(closed.loc[q.qid, "cast_weight"])
        rows.append((q.qid, float(q.time_ms), when, outcome, share))
    return pd.DataFrame(rows, columns=columns)


def _rule(result: RunResult) -> tuple[str, float]:
    from sim.protocols.voting import VotingConfig

    rule = VotingConfig.model_validate(result.scenario.get("protocol") or {}).make_rule()
    return rule.kind, rule.threshold


def votes(result: RunResult) -> Figure:
    """Each question right, wrong or undecided over time, against the rule's threshold.

    Top: per question, the leading answer's share of the weight cast (green right, red wrong,
    grey undecided). Bottom: how many questions so far were decided right, wrong or not at all.
    """
    name = result.summary.get("name", result.scenario.get("name", ""))
    duration = float(result.summary.get("duration_ms") or result.scenario.get("duration") or 1.0)
    outcomes = question_outcomes(result)
    kind, threshold = _rule(result)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": [1.6, 1]})
    end_s = duration / 1000.0
    top.set_xlim(0, end_s)
    handles: list[Any] = []
    if outcomes.empty:
        for ax in (top, bottom):
            empty_note(ax, "no questions asked")
    else:
        x = outcomes["asked_ms"].to_numpy(dtype=float) / 1000.0
        has_share = outcomes["share"].notna().any()
        for outcome, colour in OUTCOME_COLOURS.items():
            mine = outcomes["outcome"] == outcome
            count = int(mine.sum())
            y = outcomes.loc[mine, "share"] if has_share else pd.Series(1.0, index=outcomes.index[mine])
            y = y.fillna(0.0)
            top.scatter(x[mine.to_numpy()], y, s=16, color=colour, label=f"{outcome} ({count})", zorder=3)
        top.axhline(threshold, color="black", linestyle="--", linewidth=1, label=f"{kind} threshold {threshold:.3g}")
        top.set_ylim(0, 1.05)
        top.set_ylabel("leading answer's share\nof the weight cast" if has_share else "question")
        handles = top.get_legend_handles_labels()[0]
        order = np.argsort(x, kind="stable")
        counts = {o: np.cumsum((outcomes["outcome"].to_numpy()[order] == o).astype(int)) for o in OUTCOME_COLOURS}
        # With step="post" the last question's step has no width: it would stop at that question
        # (6 of 7 drawn, nothing after it). Carry the final counts on to the end of the run.
        steps = np.append(x[order], max(end_s, float(x.max())))
        counts = {o: np.append(c, c[-1]) for o, c in counts.items()}
        bottom.stackplot(steps, *(counts[o] for o in OUTCOME_COLOURS), colors=list(OUTCOME_COLOURS.values()), alpha=0.8,
                         labels=list(OUTCOME_COLOURS), step="post")  # fmt: skip
        bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    handles += shade_faults([top, bottom], fault_periods(result.events, duration), label_on=top)
    handles += mark_violations([top, bottom], result.violations)
    if handles:
        top.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    top.set_title(f"Questions: right, wrong or undecided — {name}", fontsize=10)
    top.grid(alpha=0.3)
    bottom.set_ylabel("questions so far")
    bottom.set_xlabel("simulated time the question was asked (s)")
    bottom.set_ylim(bottom=0)
    bottom.grid(alpha=0.3)
    fig.set_layout_engine("tight")  # laid out when drawn: building a figure stays cheap
    return fig


def voting_figures() -> dict[str, Any]:
    """Voting's own figure; its questions have no leader, so no timeline of leaders either."""
    return {"votes": votes}

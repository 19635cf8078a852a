"""The numbers a run's figures print are the summary's numbers, and their axes stay readable."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from sim.plots import run_figures

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


@pytest.fixture(scope="module")
def quickstart():  # noqa: ANN201 - a RunResult, imported late like the other shipped-scenario tests
    """The quickstart run: 25 of its 1,028 commands are submitted before the window opens."""
    from sim import load_scenario, run

    return run(load_scenario(SCENARIOS / "quickstart.yaml"))


def test_latency_cdf_prints_the_summarys_p50_and_p99(quickstart) -> None:  # noqa: ANN001
    """The CDF draws the commands the summary measures (its window), so its p50 and p99 are summary.json's."""
    summary = quickstart.summary
    assert summary["commands_before_window"] > 0  # else the test could not tell the windows apart
    fig = run_figures(quickstart)["latency_cdf"]
    try:
        ax = fig.axes[0]
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        printed = {m["q"]: float(m["v"]) for t in labels if (m := re.fullmatch(r"p(?P<q>\d+) = (?P<v>[\d.]+) ms", t))}
        assert printed == {"50": round(summary["latency_ms_p50"], 3), "99": round(summary["latency_ms_p99"], 3)}
        measured_done = int(
            (
                quickstart.requests["done_ms"].notna()
                & quickstart.requests["submit_ms"].between(summary["measure_from_ms"], summary["measure_until_ms"], inclusive="left")
            ).sum()
        )
        assert f"{measured_done} completed commands" in labels
        assert "the summary's window" in ax.get_title()
    finally:
        plt.close(fig)


def test_log_latency_axis_has_no_overlapping_minor_labels(quickstart) -> None:  # noqa: ANN001
    """The log x axis labels plain numbers at its major ticks (10, 20, 50...) and nothing at the minor ones."""
    fig = run_figures(quickstart)["latency_cdf"]
    try:
        ax = fig.axes[0]
        assert ax.get_xscale() == "log"
        fig.canvas.draw()
        minor = [t.get_text() for t in ax.get_xticklabels(minor=True) if t.get_text()]
        major = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        assert minor == []
        assert major and all(re.fullmatch(r"[\d.]+", t) for t in major), major
    finally:
        plt.close(fig)

"""Plots: pure functions from DataFrames to matplotlib Figures, and saving a run's plots."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

if TYPE_CHECKING:
    from sim.results import RunResult


def latency_cdf(requests: pd.DataFrame, title: str = "Client latency") -> Figure:
    """Empirical CDF of client-observed latency."""
    fig, ax = plt.subplots(figsize=(6, 4))
    lat = np.sort(requests["latency_ms"].dropna().to_numpy())
    if lat.size:
        ax.step(lat, np.arange(1, lat.size + 1) / lat.size, where="post", label=f"{lat.size} commands")
        ax.legend(loc="lower right")
    else:
        ax.text(0.5, 0.5, "no completed commands", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("fraction of commands")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def messages_by_type(messages: pd.DataFrame, title: str = "Messages by type") -> Figure:
    """Sent, delivered and dropped messages per message type."""
    fig, ax = plt.subplots(figsize=(6, 4))
    by_type = messages.groupby("type")[["sent", "delivered", "dropped"]].sum().sort_values("sent")
    if by_type.empty:
        ax.text(0.5, 0.5, "no messages", ha="center", va="center", transform=ax.transAxes)
    else:
        by_type.plot.barh(ax=ax)
        ax.legend(title="")
    ax.set_xlabel("messages")
    ax.set_ylabel("message type")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def save_run_plots(result: RunResult, folder: Path) -> list[Path]:
    """Write every plot of a run as PNG files into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    figures = {
        "latency_cdf": latency_cdf(result.requests, f"Client latency — {result.summary.get('name', '')}"),
        "messages_by_type": messages_by_type(result.messages, f"Messages by type — {result.summary.get('name', '')}"),
    }
    paths = []
    for name, fig in figures.items():
        path = folder / f"{name}.png"
        fig.savefig(path, dpi=100, metadata={"Software": None})
        plt.close(fig)
        paths.append(path)
    return paths

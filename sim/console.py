"""What `consim run` prints: the summary table, and a progress bar for long runs."""

from __future__ import annotations

import time
from typing import Any

PROGRESS_AFTER_S = 2.0
"""A run shows its progress bar only after this many seconds of wall time."""


HEADLINE = (
    "mechanism",
    "nodes",
    "seed",
    "duration_ms",
    "decisions",
    "commands_submitted",
    "commands_completed",
    "commands_committed",
    "in_flight_at_end",
    "liveness",
    "measure_from",
    "measure_from_ms",
    "measure_until_ms",
    "commands_measured",
    "throughput_per_s",
    "latency_ms_p50",
    "latency_ms_p95",
    "latency_ms_p99",
    "latency_ms_mean",
    "latency_first_attempt_ms_p50",
    "latency_first_attempt_ms_p99",
    "retries",
    "messages_sent",
    "messages_delivered",
    "messages_dropped",
    "messages_per_command",
    "messages_per_decision",
    "bytes_sent",
    "safety_violations",
)
HIDDEN = ("name", "journal_sha256")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def format_summary(summary: dict[str, Any]) -> str:
    """A compact two-column text table: headline keys first, then the mechanism's own."""
    keys = [k for k in HEADLINE if k in summary]
    keys += [k for k in summary if k not in HEADLINE and k not in HIDDEN]
    cells = [(k, _fmt(summary[k])) for k in keys]
    half = (len(cells) + 1) // 2
    left, right = cells[:half], cells[half:]
    lw = max(len(k) for k, _ in left) if left else 0
    lv = max(len(v) for _, v in left) if left else 0
    rw = max((len(k) for k, _ in right), default=0)
    lines = [f"run {summary.get('name', '')}"]
    for i, (key, value) in enumerate(left):
        line = f"  {key:<{lw}}  {value:>{lv}}"
        if i < len(right):
            rkey, rvalue = right[i]
            line += f"    {rkey:<{rw}}  {rvalue}"
        lines.append(line.rstrip())
    return "\n".join(lines)


class RunProgress:
    """A progress bar on stderr that appears only once a run has taken a couple of seconds."""

    def __init__(self, duration_ms: float, enabled: bool) -> None:
        self.duration = duration_ms
        self.enabled = enabled
        self.started = time.monotonic()  # wall clock of the CLI only; the simulation never sees it
        self.bar: Any = None
        self.task: Any = None

    def __call__(self, now_ms: float) -> None:
        """Advance to simulated time `now_ms`."""
        if not self.enabled:
            return
        if self.bar is None:
            if time.monotonic() - self.started < PROGRESS_AFTER_S:
                return
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("simulating"),
                BarColumn(),
                TextColumn("{task.completed:,.0f}/{task.total:,.0f} ms simulated"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("run", total=self.duration, completed=now_ms)
        self.bar.update(self.task, completed=now_ms)

    def close(self) -> None:
        """Remove the bar."""
        if self.bar is not None:
            self.bar.stop()

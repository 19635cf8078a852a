"""The runs behind the README's generated regions, each made once per `make docs` or test module.

A `Session` runs shipped scenarios through the Python API and commands through the real
`consim` command line (in-process, in a scratch folder where `scenarios/` points at this
checkout, so the printed paths are the ones a user sees), and caches both: several regions
quoting the same run share it. `Facts` wraps a summary so that a key renamed by a later change
fails with a message naming the key and the run, not a bare KeyError.
"""

from __future__ import annotations

import os
import re
import shlex
import tempfile
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import common  # noqa: F401  (puts the repository first on the import path)
import pandas as pd

from sim import load_scenario, run
from sim.results import RunResult

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"


class RegionError(Exception):
    """A region cannot be rendered from what the code produces now (say, a summary key was renamed)."""


class Facts:
    """A run's summary whose missing keys are reported with the run they were expected in."""

    def __init__(self, summary: dict[str, Any], where: str) -> None:
        self.summary = summary
        self.where = where

    def __getitem__(self, key: str) -> Any:
        if key not in self.summary:
            raise RegionError(f"summary key {key!r} missing from {self.where} (keys: {', '.join(sorted(self.summary))})")
        value = self.summary[key]
        if value is None:
            raise RegionError(f"summary key {key!r} is empty in {self.where}")
        return value

    def get(self, key: str, default: Any = None) -> Any:
        """The value, or `default` when the key is absent or empty."""
        value = self.summary.get(key)
        return default if value is None else value


def column(frame: pd.DataFrame, name: str, where: str) -> pd.Series:
    """A column of a table, or a RegionError naming the table."""
    if name not in frame.columns:
        raise RegionError(f"column {name!r} missing from {where} (columns: {', '.join(map(str, frame.columns))})")
    return frame[name]


class Session:
    """Runs and command outputs shared by the regions rendered together; `close()` removes the scratch folder."""

    def __init__(self, quick: bool = False) -> None:
        self.quick = quick
        """Benchmarks with small arguments (`docs.py --quick`): checks the generator, never numbers for the README."""
        self._scratch = tempfile.TemporaryDirectory(prefix="consim-docs-")
        self.scratch = Path(self._scratch.name)
        (self.scratch / "scenarios").symlink_to(SCENARIOS, target_is_directory=True)
        self._runs: dict[tuple[str, ...], RunResult] = {}
        self._outputs: dict[tuple[str, ...], str] = {}

    def close(self) -> None:
        """Delete the scratch folder and everything the commands wrote there."""
        self._scratch.cleanup()

    def result(self, name: str, *sets: str) -> RunResult:
        """Run `scenarios/<name>.yaml` with `--set` overrides, once per session."""
        key = (name, *sets)
        if key not in self._runs:
            self._runs[key] = run(load_scenario(SCENARIOS / f"{name}.yaml", list(sets)))
        return self._runs[key]

    def facts(self, name: str, *sets: str) -> Facts:
        """The summary of `result(name, *sets)`."""
        where = " ".join([f"scenarios/{name}.yaml", *(f"--set {s}" for s in sets)])
        return Facts(self.result(name, *sets).summary, where)

    def consim(self, *args: str) -> str:
        """Run `consim ARGS` in the scratch folder once per session; returns its stdout.

        Raises:
            RegionError: when the command exits with a status other than 0.

        """
        if args not in self._outputs:
            from typer.testing import CliRunner

            from sim.cli import app

            here = Path.cwd()
            os.chdir(self.scratch)  # the commands print paths relative to where they run
            try:
                outcome = CliRunner().invoke(app, list(args))
            finally:
                os.chdir(here)
            if outcome.exit_code != 0:
                raise RegionError(f"`consim {shlex.join(args)}` exited {outcome.exit_code}: {outcome.output.strip()[-500:]}")
            self._outputs[args] = outcome.stdout.rstrip("\n")
        return self._outputs[args]

    def path(self, relative: str) -> Path:
        """A file the commands wrote, by its path relative to where they ran."""
        return self.scratch / relative


def transcript(*commands: tuple[str, ...], session: Session) -> str:
    """A ```text block showing each command after `$ consim` and what it printed."""
    lines = ["```text"]
    for args in commands:
        lines.append(f"$ consim {shlex.join(args)}")
        lines.append(session.consim(*args))
    lines.append("```")
    return "\n".join(lines)


def without_wall_time(text: str) -> str:
    """The summary table with its one varying figure, `wall_time_s`, replaced by an ellipsis."""
    return re.sub(r"(wall_time_s\s+)\d[\d,.]*", r"\1…", text)


def shell(rows: Iterable[tuple[str, str]]) -> str:
    """A ```sh block of commands with their comments aligned."""
    rows = list(rows)
    width = max(len(cmd) for cmd, _ in rows) + 2
    body = [f"{cmd:<{width}}# {note}" if note else cmd for cmd, note in rows]
    return "\n".join(["```sh", *body, "```"])


def table(header: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def num(value: float, digits: int = 0) -> str:
    """A number with thousands separators and `digits` decimals."""
    return f"{value:,.{digits}f}"


def sig(value: float, digits: int = 3) -> str:
    """A number to `digits` significant figures (1.0, 0.996, 13.7, 8,331)."""
    if value == 0:
        return "0"
    if abs(value) >= 10 ** (digits - 1):
        return f"{value:,.0f}"
    text = f"{value:.{digits}g}"
    return text if "." in text or "e" in text else f"{text}.0"


def count(value: float) -> str:
    """A mean that is often whole (rounds, elections): 10, 14.5."""
    return sig(value).removesuffix(".0")


def prose(text: str) -> str:
    """A paragraph wrapped at 100 columns, as the README's hand-written paragraphs are."""
    return textwrap.fill(text, 100, break_long_words=False, break_on_hyphens=False)


def pct(value: float) -> str:
    """A fraction as a percentage with one decimal."""
    return f"{100 * value:.1f}%"


def safety(result: RunResult) -> str:
    """`safe`, or how many violations of which rules."""
    violations = result.violations
    if not len(violations):
        return "safe"
    rules = ", ".join(f"`{r}`" for r in sorted(set(violations["rule"].astype(str))))
    return f"{len(violations):,} violations: {rules}"

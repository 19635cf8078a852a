"""The README tutorial's mechanism (Ben-Or), extracted from the README, runs from outside the package."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SCENARIO = ROOT / "scenarios" / "tutorial" / "benor.yaml"


def blocks(info: str) -> list[str]:
    """The README's fenced code blocks whose info string is exactly `info`, in order."""
    return re.findall(rf"^```{re.escape(info)}\n(.*?)^```$", README, flags=re.M | re.S)


def consim(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The CLI in a fresh process, with only consim itself on the path."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "sim", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def tutorial(tmp_path: Path) -> Path:
    """A folder outside the package holding benor.py (the README's three parts) and the shipped scenario."""
    parts = blocks("python benor.py")
    assert len(parts) == 3, "the tutorial's code is three `python benor.py` blocks"
    folder = tmp_path / "experiment"
    folder.mkdir()
    (folder / "benor.py").write_text("\n\n".join(part.rstrip("\n") for part in parts) + "\n", encoding="utf-8")
    (folder / "benor.yaml").write_text(SCENARIO.read_text(encoding="utf-8"), encoding="utf-8")
    return folder


def test_the_readme_scenario_is_the_shipped_one() -> None:
    """The YAML shown in the tutorial is scenarios/tutorial/benor.yaml, byte for byte."""
    shown = blocks("yaml benor.yaml")
    assert shown == [SCENARIO.read_text(encoding="utf-8")]


def test_the_tutorial_runs_from_outside_the_package(tutorial: Path) -> None:
    """`consim run benor.yaml --strict`: 20 instances decided on every node, no violation, its own summary keys."""
    result = consim("run", "benor.yaml", "--out", "run", "--no-plots", "--strict", cwd=tutorial)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tutorial / "run" / "summary.json").read_text())
    assert summary["mechanism"] == f"{(tutorial / 'benor.py').resolve().as_posix()}:BenOr"
    assert summary["decisions"] == 20 and summary["safety_violations"] == 0
    assert summary["rounds_max"] >= 1 and summary["rounds_mean"] >= 1 and summary["coin_flips"] > 0
    decisions = pd.read_parquet(tutorial / "run" / "decisions.parquet")
    assert decisions.groupby("node")["slot"].nunique().to_dict() == {f"n{i}": 20 for i in range(5)}
    assert set(decisions["value"]) <= {"0", "1"}


def test_explore_finds_nothing_within_the_bound(tutorial: Path) -> None:
    """`consim explore` draws schedules with up to two crashed nodes and network faults: no failure."""
    result = consim("explore", "benor.yaml", "--schedules", "4", "--seed", "1", "-q", "--out", "explored", cwd=tutorial)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "at most 2 crashed nodes at once" in result.stdout and "no failures found" in result.stdout
    runs = pd.read_parquet(tutorial / "explored" / "runs.parquet")
    assert len(runs) == 4 and (runs["outcome"] == "ok").all()


def test_the_broken_variant_is_caught(tutorial: Path) -> None:
    """The README's broken thresholds (decide on one proposal, propose on one report) break agreement."""
    source = (tutorial / "benor.py").read_text()
    for honest in ("values.count(v) >= self.f + 1", "heard.count(v) >= majority(self.n)"):
        assert source.count(honest) == 1, honest
        source = source.replace(honest, honest.split(">=")[0] + ">= 1")
    (tutorial / "benor.py").write_text(source)
    result = consim("run", "benor.yaml", "--seed", "5", "--out", "broken", "--no-plots", "--strict", "-q", cwd=tutorial)
    assert result.returncode == 3, result.stderr
    assert "agreement" in set(pd.read_parquet(tutorial / "broken" / "violations.parquet")["rule"])

"""The supported Pythons: pyproject declares them, and each one's environment gives the recorded journals."""

from __future__ import annotations

import stat
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))  # a repository tool, not part of the package

import pythons  # noqa: E402


def test_supported_versions_are_what_pyproject_declares() -> None:
    """The classifiers name exactly the versions benchmarks/pythons.py tests, and requires-python starts at the oldest."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    prefix = "Programming Language :: Python :: "
    declared = [c.removeprefix(prefix) for c in project["classifiers"] if c.startswith(prefix) and c.removeprefix(prefix)[:1].isdigit()]
    assert tuple(v for v in declared if "." in v) == pythons.SUPPORTED
    assert project["requires-python"] == f">={pythons.SUPPORTED[0]}"
    assert f"{sys.version_info[0]}.{sys.version_info[1]}" in pythons.SUPPORTED


def _fake_python(path: Path, version: str) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_interpreter_is_pyenvs_newest_patch_that_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without python3.12 on the PATH, pyenv's newest 3.12.x that reports 3.12 is chosen (3.12.10 over 3.12.9)."""
    for patch in ("9", "10"):
        _fake_python(tmp_path / "versions" / f"3.12.{patch}" / "bin" / "python3.12", "3.12")
    _fake_python(tmp_path / "versions" / "3.12.11" / "bin" / "python3.12", "3.11")  # a broken install: reports another version
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert pythons.interpreter("3.12") == str(tmp_path / "versions" / "3.12.10" / "bin" / "python3.12")
    assert pythons.interpreter("3.13") is None


@pytest.mark.parametrize("version", pythons.others())
def test_sample_journals_match_under_each_python(version: str) -> None:
    """A sample of shipped scenarios (each mechanism, a fleet) gives the recorded journal hashes under this Python.

    `make test` makes the environment first (`pythons.py --setup`) when the interpreter is there;
    `make test-pythons` checks every shipped scenario under it.
    """
    if not pythons.ready(version):
        name = pythons.venv_dir(version).name
        if pythons.interpreter(version) is None:
            pytest.skip(f"no python{version} on the PATH or under pyenv, so no {name} to test under")
        why = "absent" if not pythons.venv_dir(version).exists() else "older than pyproject.toml"
        pytest.skip(f"{name} is {why}: `make test` (or `python benchmarks/pythons.py --setup`) makes it")
    same, output = pythons.check_hashes(pythons.venv_python(version), list(pythons.SAMPLE))
    assert same, output
    assert output.count("same ") == len(pythons.SAMPLE), output


def _row(python: str, us: float, spread: float) -> dict[str, object]:
    return {"python": python, "raft_us": us, "echo_us": us, "pbft": [{"us_per_message": us}], "spread": spread}


def test_verdict_names_the_fastest_only_when_its_lead_beats_the_noise() -> None:
    """A lead larger than both interpreters' spread between rounds names a winner; a smaller one says there is none."""
    rows = [_row("CPython 3.11.7", 22.0, 0.03), _row("CPython 3.13.0", 20.0, 0.02), _row("CPython 3.12.1", 25.0, 0.01)]
    best, said = pythons.verdict(rows)
    assert best == "CPython 3.13.0"
    assert said == "CPython 3.13.0, 10.0% less CPU per message than CPython 3.11.7 (more than the 3.0% between rounds)"
    rows[0]["spread"] = 0.15  # the runner-up's own rounds differ by more than the lead
    best, said = pythons.verdict(rows)
    assert best is None  # no row is labelled fastest
    assert said.startswith("CPython 3.13.0 by 10.0% over CPython 3.11.7")
    assert said.endswith("less than the 15.0% between an interpreter's own rounds: no clear fastest")


def test_best_of_keeps_each_measurements_least_cost_and_the_spread() -> None:
    """Folding rounds keeps the least µs of each measurement (with its own ratio) and how far the rounds differ."""
    one = {"python": "CPython 3.12.1", "raft_us": 24.0, "raft_ratio": 0.05, "echo_us": 5.0, "echo_ratio": 0.2}
    one.update(cpu_s=1.0, peak_rss_mb=90)
    two = {**one, "raft_us": 21.0, "raft_ratio": 0.06, "echo_us": 6.0, "echo_ratio": 0.1, "peak_rss_mb": 95}
    one["pbft"] = [{"nodes": 4, "ratio": 0.04, "us_per_message": 25.0}]
    two["pbft"] = [{"nodes": 4, "ratio": 0.05, "us_per_message": 20.0}]
    row = pythons.best_of([one, two])
    assert (row["raft_us"], row["raft_ratio"], row["echo_us"], row["echo_ratio"]) == (21.0, 0.06, 5.0, 0.2)
    assert row["pbft"] == [{"nodes": 4, "ratio": 0.05, "us_per_message": 20.0}]
    assert (row["cpu_s"], row["peak_rss_mb"]) == (2.0, 95)
    assert row["spread"] == round(pythons.cost(one) / pythons.cost(two) - 1, 3)

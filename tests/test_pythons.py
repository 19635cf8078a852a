"""The supported Pythons: pyproject declares them, and each one's environment gives the recorded journals."""

from __future__ import annotations

import random
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


def _rounds(python: str, *us: float) -> list[dict[str, object]]:
    """One interpreter's rounds, each costing `us` µs per message in every measurement."""
    return [{"python": python, "raft_us": u, "echo_us": u, "pbft": [{"us_per_message": u}]} for u in us]


def test_streak_chance_allows_for_every_interpreter_that_could_have_won() -> None:
    """Two equal interpreters: one wins all 5 rounds with chance 2/32; three: 3/3^5; and 4 of 5 among three is 3 * 11/243."""
    assert pythons.binomial_tail(5, 5, 0.5) == 1 / 32
    assert pythons.streak_chance(5, 5, 2) == 2 / 32  # above 5%: 5 rounds cannot separate two interpreters
    assert pythons.streak_chance(5, 5, 3) == pytest.approx(3 / 243)
    assert pythons.streak_chance(4, 5, 3) == pytest.approx(3 * (5 * 2 / 243 + 1 / 243))
    assert pythons.streak_chance(0, 3, 2) == 1.0
    assert pythons.median([3.0, 1.0, 2.0]) == 2.0 and pythons.median([4.0, 1.0, 2.0, 3.0]) == 2.5


def test_equal_interpreters_are_named_fastest_less_than_five_percent_of_the_time() -> None:
    """Drawn from one distribution, 2 or 3 interpreters over 7 rounds get a named winner in under 5% of 4,000 trials."""
    rng = random.Random(7)
    for k in (2, 3):
        named = 0
        for _ in range(4000):
            measured = {f"3.{i}": _rounds(f"CPython 3.{i}.0", *(rng.gauss(10.0, 1.0) for _ in range(7))) for i in range(k)}
            named += pythons.verdict(measured)[0] is not None
        assert named / 4000 < 0.05


def test_verdict_names_the_fastest_only_when_it_wins_enough_rounds() -> None:
    """Six of seven round wins among three interpreters names a winner; five of seven, or one round in all, does not."""
    measured = {
        "3.11": _rounds("CPython 3.11.7", 22.0, 30.0, 21.0, 26.0, 23.0, 22.0, 24.0),
        # Fastest in every round but the last, though its worst round is slower than 3.11's best.
        "3.13": _rounds("CPython 3.13.0", 20.0, 27.0, 20.0, 25.0, 21.0, 21.0, 25.0),
        "3.12": _rounds("CPython 3.12.1", 25.0, 33.0, 24.0, 28.0, 26.0, 27.0, 27.0),
    }
    best, said = pythons.verdict(measured)
    assert best == "CPython 3.13.0"
    facts = "the least CPU per message in 6 of 7 rounds (by 5.0% over CPython 3.11.7 in the median round)"
    assert said == f"CPython 3.13.0: {facts}; 3 equally fast interpreters would give that with p = 0.021"
    measured["3.11"][3] = {**measured["3.11"][3], "raft_us": 24.0, "echo_us": 24.0, "pbft": [{"us_per_message": 24.0}]}  # 3.11 wins round 4
    best, said = pythons.verdict(measured)
    assert best is None
    assert said.startswith("no clear fastest: CPython 3.13.0 used the least CPU per message in 5 of 7 rounds")
    assert said.endswith("; a test at 5% needs 6 of 7")
    best, said = pythons.verdict({k: v[:1] for k, v in measured.items()})
    assert best is None and said.endswith("1 rounds are too few for a test at 5%")
    assert pythons.verdict({"3.11": measured["3.11"]}) == (None, "CPython 3.11.7 (the only one measured)")


def test_best_of_keeps_each_measurements_least_cost() -> None:
    """Folding rounds keeps the least µs of each measurement (with its own ratio), the CPU in all and the largest memory."""
    one = {"python": "CPython 3.12.1", "raft_us": 24.0, "raft_ratio": 0.05, "echo_us": 5.0, "echo_ratio": 0.2}
    one.update(cpu_s=1.0, peak_rss_mb=90)
    two = {**one, "raft_us": 21.0, "raft_ratio": 0.06, "echo_us": 6.0, "echo_ratio": 0.1, "peak_rss_mb": 95}
    one["pbft"] = [{"nodes": 4, "ratio": 0.04, "us_per_message": 25.0}]
    two["pbft"] = [{"nodes": 4, "ratio": 0.05, "us_per_message": 20.0}]
    row = pythons.best_of([one, two])
    assert (row["raft_us"], row["raft_ratio"], row["echo_us"], row["echo_ratio"]) == (21.0, 0.06, 5.0, 0.2)
    assert row["pbft"] == [{"nodes": 4, "ratio": 0.05, "us_per_message": 20.0}]
    assert (row["cpu_s"], row["peak_rss_mb"]) == (2.0, 95)

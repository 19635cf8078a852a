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

    `make test-pythons` makes the environment and checks all the scenarios; this test uses the
    environment when it is there and does not make it (about 100 s each: past make test's CI budget).
    """
    if not pythons.ready(version):
        why = "absent" if not pythons.venv_dir(version).exists() else "older than pyproject.toml"
        name = pythons.venv_dir(version).name
        pytest.skip(f"{name} is {why}: `make test-pythons` makes it (about 100 s, too long for make test's CI budget)")
    same, output = pythons.check_hashes(pythons.venv_python(version), list(pythons.SAMPLE))
    assert same, output
    assert output.count("same ") == len(pythons.SAMPLE), output

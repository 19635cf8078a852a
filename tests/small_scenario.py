"""A small Raft scenario as a dict, written to a file, and the one-line check of a refusal: shared by the bad-input tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

RAFT: dict[str, Any] = {
    "name": "raft-small",
    "mechanism": "raft",
    "nodes": 3,
    "seed": 1,
    "duration": "300ms",
    "workload": {"kind": "poisson", "rate": "20/s"},
}


def write(tmp_path: Path, data: dict[str, Any], name: str = "scenario.yaml") -> Path:
    """`data` as a YAML file in `tmp_path`."""
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def one_line(text: str) -> str:
    """The text's only line (fails when there are more)."""
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def run_refused(tmp_path: Path, path: Path, *options: str) -> str:
    """`consim run` of a bad scenario: exit 2, nothing written; its one stderr line."""
    from typer.testing import CliRunner

    from sim.cli import app

    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(path), "--quiet", "--no-plots", "--out", str(out), *options])
    assert result.exit_code == 2, result.output
    assert not out.exists()
    return one_line(result.stderr)

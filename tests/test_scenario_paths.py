"""File paths a scenario names are found from the folder of the file that writes them, not the working folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from sim import load_scenario
from sim.cli import app
from sim.scenario import ScenarioError
from tests.small_scenario import write

LINE = "# a line\n" + "\n".join(f"n{i} n{i + 1}" for i in range(5)) + "\n"


def _gossip(topology: dict[str, str], **fields: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "line",
        "mechanism": "gossip",
        "nodes": 6,
        "duration": "1s",
        "network": {"delay": "1ms"},
        "protocol": {"interval": "10ms", "settle": "200ms", "topology": topology},
        "workload": {"kind": "updates", "updates": [{"at": "5ms", "node": "n0", "key": "a", "value": "x"}]},
    }
    data.update(fields)
    return data


def _write(path: Path, data: dict[str, Any]) -> Path:
    """`data` as the YAML file `path`, its folder made first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write(path.parent, data, path.name)


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder that holds none of the scenario's files."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def test_a_topology_file_is_found_from_the_scenario_folder_when_run_from_another(tmp_path: Path, elsewhere: Path) -> None:
    """`consim run exp/line.yaml` from another folder: `path: edges.txt` is exp/edges.txt (it was looked for in the working folder)."""
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "edges.txt").write_text(LINE, encoding="utf-8")
    scenario = _write(tmp_path / "exp" / "line.yaml", _gossip({"kind": "file", "path": "edges.txt"}))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", "../exp/line.yaml", "--out", str(out), "-q", "--no-plots"])
    assert result.exit_code == 0, result.stderr
    messages = pd.read_parquet(out / "messages.parquet")
    digests = messages[messages["type"] == "digest"]
    assert not digests.empty
    assert all(abs(int(s[1:]) - int(d[1:])) == 1 for s, d in digests[["src", "dst"]].itertuples(index=False))
    # The resolved scenario keeps the file's absolute path: a rerun of the run directory finds it from anywhere.
    saved = yaml.safe_load((out / "scenario.yaml").read_text(encoding="utf-8"))
    assert saved["protocol"]["topology"]["path"] == (tmp_path / "exp" / "edges.txt").resolve().as_posix()
    assert load_scenario(scenario).protocol["topology"]["path"] == saved["protocol"]["topology"]["path"]


def test_an_absolute_topology_path_stays_as_written(tmp_path: Path, elsewhere: Path) -> None:
    edges = tmp_path / "graphs" / "edges.txt"
    edges.parent.mkdir()
    edges.write_text(LINE, encoding="utf-8")
    scenario = _write(tmp_path / "exp" / "line.yaml", _gossip({"kind": "file", "path": edges.as_posix()}))
    assert load_scenario(scenario).protocol["topology"]["path"] == edges.as_posix()


def test_a_missing_topology_file_is_named_by_the_path_it_was_looked_for_at(tmp_path: Path, elsewhere: Path) -> None:
    """The one line names the resolved path (the scenario's folder), not the text nor the working folder."""
    scenario = _write(tmp_path / "exp" / "line.yaml", _gossip({"kind": "file", "path": "missing.txt"}))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(scenario)
    wanted = (tmp_path / "exp" / "missing.txt").resolve().as_posix()
    assert str(caught.value) == (
        f"{scenario}: protocol.topology.path: no such file {wanted!r} (a relative path is found from the scenario file's folder)"
    )
    result = CliRunner().invoke(app, ["validate", str(scenario)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [str(caught.value)]


def test_paths_in_an_extended_base_are_the_bases(tmp_path: Path, elsewhere: Path) -> None:
    """A base in another folder names its topology file and its mechanism file from its own folder; the child's from the child's."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "edges.txt").write_text(LINE, encoding="utf-8")
    (tmp_path / "lib" / "my_gossip.py").write_text(
        "from sim.protocols.gossip import Gossip\n\n\nclass MyGossip(Gossip):\n    pass\n", encoding="utf-8"
    )
    _write(tmp_path / "lib" / "base.yaml", _gossip({"kind": "file", "path": "edges.txt"}, mechanism="my_gossip.py:MyGossip"))
    child = _write(tmp_path / "exp" / "child.yaml", {"extends": "../lib/base.yaml", "name": "child"})
    scenario = load_scenario(child)
    assert scenario.protocol["topology"]["path"] == (tmp_path / "lib" / "edges.txt").resolve().as_posix()
    assert scenario.mechanism == f"{(tmp_path / 'lib' / 'my_gossip.py').resolve().as_posix()}:MyGossip"

    # A path the child writes itself is the child's.
    (tmp_path / "exp" / "ring.txt").write_text("n0 n1\nn1 n2\nn2 n3\nn3 n4\nn4 n5\nn5 n0\n", encoding="utf-8")
    override = _write(tmp_path / "exp" / "ring.yaml", {"extends": "../lib/base.yaml", "protocol": {"topology": {"path": "ring.txt"}}})
    assert load_scenario(override).protocol["topology"]["path"] == (tmp_path / "exp" / "ring.txt").resolve().as_posix()

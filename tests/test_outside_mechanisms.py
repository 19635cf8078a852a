"""Mechanisms from outside the package: `consim new mechanism`, file and module references, entry points."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from sim.cli import app
from sim.protocols import registry
from sim.protocols.registry import get_mechanism, mechanisms
from sim.scaffold import new_mechanism

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def consim(*args: str, cwd: Path, extra_path: Path | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a fresh process (nothing loaded or registered beforehand)."""
    paths = [str(ROOT)] + ([str(extra_path)] if extra_path else [])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    return subprocess.run([sys.executable, "-m", "sim", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """A fresh skeleton: tmp/work/demo/{demo.py, demo.yaml, test_demo.py}; returns its folder."""
    new_mechanism("demo", tmp_path / "work")
    return tmp_path / "work" / "demo"


# --- consim new mechanism ----------------------------------------------------------------------


def test_new_mechanism_runs_with_the_cli_and_its_own_test_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The skeleton's scenario runs before a line is changed, from another folder; its pytest test passes."""
    monkeypatch.chdir(tmp_path)
    made = runner.invoke(app, ["new", "mechanism", "sequencer", "--dir", "mine"])
    assert made.exit_code == 0, made.output
    folder = tmp_path / "mine" / "sequencer"
    assert sorted(p.name for p in folder.iterdir()) == ["sequencer.py", "sequencer.yaml", "test_sequencer.py"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    ran = runner.invoke(app, ["run", str(folder / "sequencer.yaml"), "--out", "run", "--no-plots", "--strict"])
    assert ran.exit_code == 0, ran.output
    summary = json.loads((elsewhere / "run" / "summary.json").read_text())
    assert summary["mechanism"] == f"{(folder / 'sequencer.py').resolve().as_posix()}:Sequencer"
    assert summary["decisions"] > 10 and summary["safety_violations"] == 0 and summary["liveness"] == 1.0
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder / "test_sequencer.py")],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "1 passed" in tested.stdout


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("Two-Phase", "NAME: 'Two-Phase' is not a mechanism name"),
        ("raft", "NAME: 'raft' is a registered mechanism already"),
    ],
)
def test_new_mechanism_refuses_bad_names(tmp_path: Path, name: str, words: str) -> None:
    """A name that is no identifier, or a shipped mechanism's: one line, exit 2, nothing written."""
    result = runner.invoke(app, ["new", "mechanism", name, "--dir", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith(words) and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_new_mechanism_never_overwrites(demo: Path) -> None:
    """A second `new` into the same folder refuses and leaves the edited module alone."""
    (demo / "demo.py").write_text("# mine now\n")
    result = runner.invoke(app, ["new", "mechanism", "demo", "--dir", str(demo.parent)])
    assert result.exit_code == 2 and "refusing to overwrite" in result.stderr
    assert (demo / "demo.py").read_text() == "# mine now\n"


# --- references to files and modules ------------------------------------------------------------


def test_a_file_mechanism_gets_the_generic_checkers(demo: Path, tmp_path: Path) -> None:
    """A broken outside mechanism is caught by agreement and validity without declaring any checker."""
    source = (demo / "demo.py").read_text()
    honest = "            self.ctx.decide(msg.slot, msg.cmd_id)\n"
    assert source.count(honest) == 1
    (demo / "broken.py").write_text(source.replace(honest, "            self.ctx.decide(msg.slot, msg.cmd_id + '-x')\n"))
    scenario = yaml.safe_load((demo / "demo.yaml").read_text())
    (demo / "broken.yaml").write_text(yaml.safe_dump({**scenario, "mechanism": "broken.py:Demo"}))
    result = runner.invoke(app, ["run", str(demo / "broken.yaml"), "--out", str(tmp_path / "b"), "--no-plots", "--strict", "-q"])
    assert result.exit_code == 3, result.output
    rules = set(pd.read_parquet(tmp_path / "b" / "violations.parquet")["rule"])
    assert {"agreement", "validity"} <= rules


def test_a_module_on_the_path(demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`mechanism: module:Class` imports from sys.path, and the resolved scenario keeps the reference as written."""
    monkeypatch.syspath_prepend(str(demo))
    scenario = yaml.safe_load((demo / "demo.yaml").read_text())
    path = tmp_path / "by-module.yaml"
    path.write_text(yaml.safe_dump({**scenario, "mechanism": "demo:Demo"}))
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "m"), "--no-plots", "-q"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "m" / "summary.json").read_text())["mechanism"] == "demo:Demo"
    assert get_mechanism("demo:Demo").name == "demo" and get_mechanism("demo:Demo").origin == "demo"


BAD_IMPORT = "x = 1\ny = 1 / 0\n"
MISSING_IMPORT = "import nothere_abc_consim\n"


@pytest.mark.parametrize(
    ("reference", "problem"),
    [
        ("nowhere.py:Demo", "no file {dir}/nowhere.py"),
        ("no_such_module_consim:Demo", "no module named 'no_such_module_consim' on the Python path"),
        ("demo.py:Missing", "{dir}/demo.py has no attribute 'Missing'"),
        ("demo.py:Store", "demo.py:Store is not a Protocol subclass (sim.protocols.base.Protocol): got the class Store"),
        ("demo.py:majority", "is not a Protocol subclass (sim.protocols.base.Protocol): got a function"),
        ("bad.py:Demo", "importing {dir}/bad.py failed: ZeroDivisionError: division by zero (bad.py, line 2)"),
        ("missing.py:Demo", "missing.py failed: ModuleNotFoundError: No module named 'nothere_abc_consim' (missing.py, line 1)"),
        ("demo.py:", "'demo.py:' is not a reference: write module:Class or path/to/file.py:Class"),
        ("nope", "unknown mechanism 'nope' (known: attestation, gossip,"),
    ],
)
def test_load_errors_are_one_line_naming_the_file_and_field(demo: Path, reference: str, problem: str) -> None:
    """Each way an outside mechanism fails to load: one line, `<file>: mechanism: <problem>`, exit 2, no traceback."""
    (demo / "bad.py").write_text(BAD_IMPORT)
    (demo / "missing.py").write_text(MISSING_IMPORT)
    scenario = yaml.safe_load((demo / "demo.yaml").read_text())
    path = demo / "case.yaml"
    path.write_text(yaml.safe_dump({**scenario, "mechanism": reference}))
    result = runner.invoke(app, ["run", str(path), "--out", str(demo / "never")])
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert line.startswith(f"{path}: mechanism: ")
    assert problem.format(dir=demo.resolve().as_posix()) in line
    assert not (demo / "never").exists()


def test_list_shows_a_referenced_mechanism(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`consim list -m file.py:Class` lists it beside the shipped ones; a bad reference is one line, exit 2."""
    monkeypatch.chdir(demo)
    result = runner.invoke(app, ["list", "-m", "demo.py:Demo"])
    assert result.exit_code == 0, result.output
    assert "  demo.py:Demo " in result.output and "Fixed-sequencer replication" in result.output
    bad = runner.invoke(app, ["list", "-m", "demo.py:Nope"])
    assert bad.exit_code == 2 and bad.stderr.strip().startswith("--mechanism: demo.py:Nope: ")


def test_compare_and_plots_with_a_file_mechanism(demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`compare` takes a reference beside shipped names; a file mechanism's own figure is drawn, and redrawn by `plot`."""
    source = (demo / "demo.py").read_text()
    figure = '''
    @classmethod
    def figures(cls) -> dict:
        """One figure of its own."""
        return {"slots": slots_figure}


def slots_figure(result):
    """Decisions per node."""
    from matplotlib.figure import Figure

    fig = Figure()
    counts = result.decisions.groupby("node").size()
    fig.subplots().bar(list(counts.index), list(counts.values))
    return fig
'''
    (demo / "demo.py").write_text(source + figure)
    monkeypatch.chdir(demo)
    ran = runner.invoke(app, ["run", "demo.yaml", "--out", str(tmp_path / "r"), "-q"])
    assert ran.exit_code == 0, ran.output
    assert (tmp_path / "r" / "plots" / "slots.png").is_file()
    (tmp_path / "r" / "plots" / "slots.png").unlink()
    monkeypatch.chdir(tmp_path)
    replot = runner.invoke(app, ["plot", str(tmp_path / "r")])
    assert replot.exit_code == 0, replot.output
    assert (tmp_path / "r" / "plots" / "slots.png").is_file()
    monkeypatch.chdir(demo)
    compared = runner.invoke(app, ["compare", "demo.yaml", "-m", "raft,demo.py:Demo", "-r", "1", "--out", str(tmp_path / "c")])
    assert compared.exit_code == 0, compared.output
    assert "demo.py:Demo" in compared.output and "raft" in compared.output


def test_sweep_with_forked_workers_runs_a_file_mechanism(demo: Path, tmp_path: Path) -> None:
    """`consim sweep -j 2` in a fresh process: the workers run the scenario's file mechanism."""
    sweep = {"name": "demo-sweep", "base": "demo.yaml", "grid": {"network.loss": [0.0, 0.05]}, "replicates": 2}
    (demo / "sweep.yaml").write_text(yaml.safe_dump(sweep, sort_keys=False))
    out = tmp_path / "sweep-out"
    result = consim("sweep", str(demo / "sweep.yaml"), "--jobs", "2", "--out", str(out), "-q", "--no-plots", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "4 computed now, 0 reused, 0 failed" in result.stdout
    runs = pd.read_parquet(out / "runs.parquet")
    assert runs["error"].isna().all() and (runs["decisions"] > 0).all()


def decisions_of(scenario: object) -> int:
    """Run a scenario in whatever process this is called in (a spawned one, below)."""
    from sim.runner import run

    return int(run(scenario).summary["decisions"])  # type: ignore[arg-type]


def test_a_fresh_worker_process_loads_the_file_itself(demo: Path) -> None:
    """Where workers are not forked (a fork server, Dask), the resolved scenario is enough to find the file."""
    from sim.scenario import load_scenario

    scenario = load_scenario(demo / "demo.yaml")
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert pool.submit(decisions_of, scenario).result(timeout=240) > 0


# --- installed packages: the consim.mechanisms entry-point group --------------------------------


def test_entry_points_register_installed_mechanisms(demo: Path, tmp_path: Path) -> None:
    """An installed distribution's entry points appear in `consim list` and run; a broken one is listed and fails in one line."""
    site = tmp_path / "site"
    (site / "mymechs").mkdir(parents=True)
    (site / "mymechs" / "__init__.py").write_text((demo / "demo.py").read_text())
    info = site / "mymechs-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mymechs\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[consim.mechanisms]\nsequenced = mymechs:Demo\nbroken = mymechs:Nope\n")
    listed = consim("list", cwd=tmp_path, extra_path=site)
    assert listed.returncode == 0, listed.stderr
    assert "  sequenced " in listed.stdout and "Fixed-sequencer replication" in listed.stdout
    assert "(does not load: entry point broken = mymechs:Nope: mymechs has no attribute 'Nope')" in listed.stdout
    scenario = yaml.safe_load((demo / "demo.yaml").read_text())
    (tmp_path / "ep.yaml").write_text(yaml.safe_dump({**scenario, "mechanism": "sequenced"}))
    ran = consim("run", "ep.yaml", "--out", "r", "--no-plots", "-q", cwd=tmp_path, extra_path=site)
    assert ran.returncode == 0, ran.stderr
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["decisions"] > 0
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({**scenario, "mechanism": "broken"}))
    bad = consim("run", "bad.yaml", cwd=tmp_path, extra_path=site)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "bad.yaml: mechanism: entry point broken = mymechs:Nope: mymechs has no attribute 'Nope'"


# --- the registry itself ------------------------------------------------------------------------


def test_discovery_happens_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lookups after the first never import or scan again: the table is a cached function's answer."""
    mechanisms()
    get_mechanism("raft")  # the first lookup by name imports that package alone (this once relied on an earlier test)
    calls: list[str] = []
    real = registry.importlib.import_module
    monkeypatch.setattr(registry.importlib, "import_module", lambda name, *a: calls.append(name) or real(name, *a))
    monkeypatch.setattr(registry.pkgutil, "iter_modules", lambda *a: calls.append("scan") or [])
    for _ in range(3):
        assert get_mechanism("raft").name == "raft"
        assert "pbft" in mechanisms()
    assert calls == []


def test_a_record_is_read_only() -> None:
    """A Mechanism record cannot be changed by a consumer: frozen fields, read-only tables."""
    raft = get_mechanism("raft")
    with pytest.raises(dataclasses.FrozenInstanceError):
        raft.tolerates = "anything"  # type: ignore[misc]
    with pytest.raises(TypeError):
        raft.workloads["mine"] = object  # type: ignore[index]
    assert get_mechanism("raft") is raft and raft.checkers and raft.config is raft.protocol.Config

"""Speed work that must not change results: the paused garbage collector, lazy CLI imports, sweep workers."""

from __future__ import annotations

import contextlib
import gc
import subprocess
import sys
from pathlib import Path

import pytest

import sim.runner as runner
from sim import load_scenario, run

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


@pytest.mark.parametrize("name", ["quickstart", "pbft-equivocating-primary", "gossip-partition-heal"])
def test_pausing_the_collector_changes_no_output(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run with the collector paused has the same journal hash and summary as one with it running throughout."""
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    paused = run(scenario)
    monkeypatch.setattr(runner, "collector_paused", contextlib.nullcontext)
    running = run(scenario)
    assert paused.summary["journal_sha256"] == running.summary["journal_sha256"]
    assert {k: v for k, v in paused.summary.items() if k != "wall_time_s"} == {
        k: v for k, v in running.summary.items() if k != "wall_time_s"
    }


def test_collector_is_restored_after_a_run_even_one_that_raises() -> None:
    """The collector is enabled again and nothing stays frozen after run(), also when the run raises."""
    assert gc.isenabled()
    run(load_scenario(SCENARIOS / "raft-steady.yaml", ["duration=300ms"]))
    assert gc.isenabled() and gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), runner.collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("boom")
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_collector_left_disabled_by_the_caller_stays_disabled() -> None:
    """A caller who disabled the collector (a benchmark, say) finds it still disabled afterwards."""
    gc.disable()
    try:
        with runner.collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def _imported_by(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"import sys; {code}; print('\\n'.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    return set(out.stdout.split())


HEAVY = {"pandas", "numpy", "matplotlib", "pydantic", "simpy", "networkx", "pyarrow"}


def test_help_imports_none_of_the_heavy_libraries() -> None:
    """`consim --help` (and `import sim`) load no pandas, numpy, matplotlib or pydantic: they start in a fraction of a second."""
    assert not HEAVY & _imported_by("import sim")
    assert not HEAVY & _imported_by("from sim.cli import app; app(['--help'], standalone_mode=False)")


def test_the_cli_draws_headless_even_when_the_environment_asks_for_a_gui_backend(tmp_path: Path) -> None:
    """Plots are drawn with Agg although matplotlib is imported only once a command draws."""
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "sim", "run", "scenarios/raft-steady.yaml", "--set", "duration=300ms", "--out", str(out), "-q"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "MPLBACKEND": "TkAgg", "DISPLAY": ""},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert {p.name for p in (out / "plots").glob("*.png")} >= {"latency_cdf.png", "timeline.png"}

"""Speed work that must not change results: the paused garbage collector, lazy CLI imports, sweep workers."""

from __future__ import annotations

import contextlib
import gc
import subprocess
import sys
from pathlib import Path

import pandas as pd
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


VALIDATED = ("quickstart", "gossip-small-world-loss", "voting-weighted", "attestation-forgers", "pbft-n64", "sweeps/pbft-cluster-size")


def test_validate_imports_no_tables_plots_or_graphs() -> None:
    """`consim validate` on scenarios of several mechanisms and a sweep loads no pandas, pyarrow, matplotlib or networkx.

    Validation needs pydantic and numpy (the rtt estimate draws from numpy's generator); the
    tables, the plots and the overlay graphs belong to a run.
    """
    files = [f"scenarios/{name}.yaml" for name in VALIDATED]
    loaded = _imported_by(f"from sim.cli import app; app(['validate', *{files!r}], standalone_mode=False)")
    assert {"pydantic", "numpy", "sim.validate"} <= loaded  # it did validate
    assert not {"pandas", "pyarrow", "matplotlib", "networkx"} & loaded


def test_validate_imports_only_the_mechanism_it_checks() -> None:
    """Validating a Raft scenario imports Raft's package and no other mechanism's."""
    loaded = _imported_by("from sim.cli import app; app(['validate', 'scenarios/quickstart.yaml'], standalone_mode=False)")
    modules = {m.split(".")[2] for m in loaded if m.startswith("sim.protocols.")}
    assert modules - {"base", "dispatch", "quorum", "registry"} - {m for m in modules if m.startswith("_")} == {"raft"}


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
    assert {p.name for p in (out / "plots").glob("*.png")} >= {"messages_by_type.png", "message_load.png"}


def test_batches_cover_every_task_with_a_few_runs_each() -> None:
    """A worker call runs 1 to 4 tasks, about four calls per worker."""
    from sim.sweep.execute import batch_size

    assert batch_size(1, 2) == 1 and batch_size(15, 2) == 2 and batch_size(80, 2) == 4 and batch_size(1000, 8) == 4
    assert all(1 <= batch_size(n, j) <= 4 for n in range(1, 200) for j in range(1, 9))


def test_workers_are_forked_only_while_the_parent_has_no_other_thread() -> None:
    """On Linux a single-threaded parent forks its workers (they inherit the imports); with a thread alive it does not."""
    import threading

    from sim.sweep.execute import _pool_context

    if sys.platform != "linux" or threading.active_count() > 1:
        pytest.skip("fork is chosen only on Linux with no other thread running")
    assert _pool_context().get_start_method() == "fork"
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait)
    helper.start()
    try:
        assert _pool_context().get_start_method() != "fork"
    finally:
        stop.set()
        helper.join()


def test_batched_workers_give_the_rows_of_an_inline_sweep(tmp_path: Path) -> None:
    """A sweep on two workers, several runs per call, gives exactly the rows of the same sweep run in this process."""
    from sim.sweep import build_sweep, run_sweep

    data = {
        "name": "batched",
        "base": str(SCENARIOS / "raft-steady.yaml"),
        "set": {"duration": "400ms", "workload.until": "300ms"},
        "grid": {"network.loss": [0.0, 0.1]},
        "replicates": 6,
    }
    inline = run_sweep(build_sweep(data, "batched", tmp_path), out=tmp_path / "one", jobs=1, quiet=True)
    pooled = run_sweep(build_sweep(data, "batched", tmp_path), out=tmp_path / "two", jobs=2, quiet=True)
    assert inline.executed == pooled.executed == 12 and pooled.failed == 0
    pd.testing.assert_frame_equal(inline.runs.drop(columns="wall_time_s"), pooled.runs.drop(columns="wall_time_s"))

"""Speed work that must not change results: the paused garbage collector, lazy CLI imports, sweep workers."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import sim.runner as runner
from sim import load_scenario, run
from sim.protocols.registry import INFRASTRUCTURE

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
    run(load_scenario(SCENARIOS / "raft-steady.yaml", ["duration=300ms", "workload.start=0"]))
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


def _left_for_the_collector(nodes: int, released: bool) -> int:
    """How many objects a collection finds after a gossip run on `nodes` nodes is dropped (released first or not)."""
    from sim.kernel import Simulation

    scenario = load_scenario(SCENARIOS / "gossip-partition-heal.yaml", [f"nodes={nodes}", "duration=600ms", "faults=[]"])
    with runner.collector_paused():
        gc.collect()
        sim = Simulation(scenario)
        sim.run()
        recorder = sim.recorder  # kept, as the runner keeps it for the tables
        if released:
            sim.release()
        del sim
        left = gc.collect()
        assert recorder.decisions
        return left


def test_a_released_run_is_freed_without_the_collector() -> None:
    """After `Simulation.release`, the nodes and protocols go by reference counting: what is left does not grow with n."""
    assert _left_for_the_collector(40, released=False) > 40 * 5  # each node and its protocol sit in cycles
    assert _left_for_the_collector(40, released=True) == _left_for_the_collector(160, released=True)


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


# Runs `consim ARGS` in a fresh interpreter, then prints its exit status, the modules it left in
# sys.modules, the modules that define the pydantic models it created (none without pydantic), the
# models it built (a model with `defer_build` is built on first use), and whether pydantic looked
# for plugins (its loader caches what it found).
PROBE = """
import json, sys
from sim.cli import app
status = app(sys.argv[1:], standalone_mode=False)
models, built = [], []
if "pydantic" in sys.modules:
    from pydantic import BaseModel
    todo = [BaseModel]
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        models.append(cls.__module__)
        if cls.__pydantic_complete__ and cls.__module__.startswith("sim."):
            built.append(f"{cls.__module__}.{cls.__qualname__}")
loader = sys.modules.get("pydantic.plugin._loader")
scanned = loader is not None and loader._plugins is not None
found = {"status": status or 0, "modules": sorted(sys.modules), "models": sorted(set(models) - {"pydantic.main"}), "built": built,
         "plugins_scanned": scanned}
print("PROBE", json.dumps(found))
"""


def _probe(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """What `consim ARGS` imports, run in a fresh process: {status, modules, models, built, plugins_scanned} (see PROBE)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", **(env or {})},
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("PROBE "))
    return dict(json.loads(line.removeprefix("PROBE ")))


HEAVY = {"pandas", "numpy", "matplotlib", "pydantic", "simpy", "networkx", "pyarrow"}
KERNEL = {"simpy", "sim.kernel", "sim.network", "sim.fastpath", "sim.node", "sim.records", "sim.runner"}
"""What a run needs and validation must not import: the event loop, the network, the journal."""


def test_help_imports_none_of_the_heavy_libraries() -> None:
    """`consim --help` (and `import sim`) load no pandas, numpy, matplotlib or pydantic: they start in a fraction of a second."""
    assert not HEAVY & _imported_by("import sim")
    helped = _probe("--help")
    assert helped["status"] == 0 and "sim.cli" in helped["modules"]
    assert not HEAVY & set(helped["modules"])
    # Nor what only some commands need: YAML, the scenario models, the plain functions behind run and validate.
    assert not {"yaml", "sim.scenario", "sim.cli_run", "sim.cli_validate", "sim.cli_sweep"} & set(helped["modules"])


VALIDATED = ("quickstart", "gossip-small-world-loss", "voting-weighted", "attestation-forgers", "pbft-n64", "sweeps/pbft-cluster-size")


def test_validate_imports_no_tables_plots_graphs_or_kernel() -> None:
    """`consim validate` on scenarios of several mechanisms and a sweep loads no tables, plots, graphs, kernel or reports.

    The tables, the plots, the overlay graphs, the event loop and the network belong to a run;
    the reports and the compare machinery to their own commands.
    """
    checked = _probe("validate", *(f"scenarios/{name}.yaml" for name in VALIDATED))
    loaded = set(checked["modules"])
    assert checked["status"] == 0 and {"pydantic", "sim.validate", "sim.sweep.spec"} <= loaded  # it did validate
    assert not {"pandas", "pyarrow", "matplotlib", "networkx", "sim.report", "sim.compare", "numpy.ma"} & loaded
    assert not KERNEL & loaded


def test_validate_imports_only_the_mechanism_it_checks() -> None:
    """Validating a Raft scenario imports Raft's package and no other mechanism's."""
    loaded = _imported_by("from sim.cli import app; app(['validate', 'scenarios/quickstart.yaml'], standalone_mode=False)")
    modules = {m.split(".")[2] for m in loaded if m.startswith("sim.protocols.")}
    assert modules - INFRASTRUCTURE - {m for m in modules if m.startswith("_")} == {"raft"}


def test_validate_builds_only_the_models_its_scenario_uses() -> None:
    """Validating a Raft scenario creates the scenario's models, the workloads' and Raft's config: no other mechanism's,
    no sweep's, compare spec's or report's, and it loads no kernel and no numpy (its rtt is computed in pure Python).
    """
    checked = _probe("validate", "scenarios/quickstart.yaml")
    assert checked["status"] == 0
    models = set(checked["models"])
    assert "sim.protocols.raft.config" in models and "sim.scenario" in models  # RaftConfig and Scenario: it did validate
    others = {m for m in models if not m.startswith("sim.protocols.raft.")}
    assert others == {"sim.scenario", "sim.scenario_parts", "sim.fault_specs", "sim.workload", "sim.protocols.base", "sim.exact_types"}
    # Of the workload kinds defined, only the scenario's (poisson) is built; the config bases are never validated.
    built = set(checked["built"])
    assert {"sim.scenario.Scenario", "sim.workload.PoissonConfig", "sim.protocols.raft.config.RaftConfig"} <= built
    assert (
        not {"sim.workload.ClosedConfig", "sim.workload.ScriptConfig", "sim.protocols.base.ProtocolConfig", "sim.exact_types.ExactScalars"}
        & built
    )
    loaded = set(checked["modules"])
    assert not ({"numpy", "sim.sweep", "sim.report"} | KERNEL) & loaded


def test_validate_reads_no_distribution_metadata_for_pydantic_plugins() -> None:
    """A command builds its models with pydantic's plugins off (no scan of every installed distribution), unless the user chose."""
    checked = _probe("validate", "scenarios/quickstart.yaml")
    assert checked["status"] == 0 and "sim.scenario.Scenario" in checked["built"]
    assert not checked["plugins_scanned"]
    # The user's own setting wins: an empty name list disables nothing, so pydantic scans for plugins.
    chosen = _probe("validate", "scenarios/quickstart.yaml", env={"PYDANTIC_DISABLE_PLUGINS": ""})
    assert chosen["status"] == 0 and chosen["plugins_scanned"]


def test_the_plugin_switch_is_scoped_to_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """The switch is set while a command runs and removed after it, also when the command fails; a user's value is kept."""
    from sim.cli import PLUGINS_SWITCH, pydantic_plugins_off

    monkeypatch.delenv(PLUGINS_SWITCH, raising=False)
    with pytest.raises(RuntimeError), pydantic_plugins_off():
        assert os.environ[PLUGINS_SWITCH] == "__all__"
        raise RuntimeError("boom")
    assert PLUGINS_SWITCH not in os.environ
    monkeypatch.setenv(PLUGINS_SWITCH, "logfire")
    with pydantic_plugins_off():
        assert os.environ[PLUGINS_SWITCH] == "logfire"
    assert os.environ[PLUGINS_SWITCH] == "logfire"


def test_validate_of_every_shipped_scenario_sweep_and_compare_spec_imports_no_numpy() -> None:
    """`rtt` is exact in pure Python (sim/delays.py) and no mechanism's config needs numpy: validating everything shipped imports none."""
    shipped = sorted(str(p.relative_to(ROOT)) for folder in ("", "sweeps", "compare") for p in (SCENARIOS / folder).glob("*.yaml"))
    checked = _probe("validate", *shipped)
    assert checked["status"] == 0 and len(shipped) > 50
    assert {"sim.timing", "sim.sweep.spec", "sim.protocols.attestation", "sim.protocols.voting"} <= set(checked["modules"])
    assert "numpy" not in checked["modules"]


def test_validate_reads_a_scenario_file_once_and_loads_what_load_scenario_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """`check_file` parses a scenario's YAML once (not once to sort it and again to load it), with the same result."""
    import yaml

    from sim.cli_validate import check_file

    real = yaml.load
    calls: list[int] = []
    monkeypatch.setattr(yaml, "load", lambda text, Loader: calls.append(1) or real(text, Loader=Loader))  # noqa: N803
    _, problems, _, loaded = check_file(SCENARIOS / "quickstart.yaml")
    assert not problems and loaded is not None and len(calls) == 1
    monkeypatch.setattr(yaml, "load", real)
    shipped = [p for p in sorted(SCENARIOS.glob("**/*.yaml")) if check_file(p)[3] is not None]
    assert len(shipped) > 30 and any("extends" in p.read_text() for p in shipped)
    for path in shipped:
        _, _, warnings, checked = check_file(path)
        expected = load_scenario(path)
        assert checked is not None and checked.resolved() == expected.resolved(), path
        assert [str(w) for w in checked.timing_warnings] == [str(w) for w in expected.timing_warnings], path


def test_the_fast_yaml_parser_reads_every_shipped_file_as_the_pure_python_one_does() -> None:
    """libyaml's parser (when PyYAML has it) gives exactly the data of PyYAML's own for every shipped YAML file, and the same errors."""
    import yaml

    from sim.yaml_kind import safe_load

    files = sorted(SCENARIOS.glob("**/*.yaml"))
    assert len(files) > 50
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert safe_load(text) == yaml.safe_load(text), path
    for bad in ("name: x\nnodes: [1, 2\n", "a: b: c\n", "- a\nb: c\n"):
        with pytest.raises(yaml.YAMLError) as fast:
            safe_load(bad)
        with pytest.raises(yaml.YAMLError) as pure:
            yaml.safe_load(bad)
        assert (fast.value.problem, fast.value.problem_mark.line, fast.value.problem_mark.column) == (  # type: ignore[attr-defined]
            pure.value.problem,  # type: ignore[attr-defined]
            pure.value.problem_mark.line,  # type: ignore[attr-defined]
            pure.value.problem_mark.column,  # type: ignore[attr-defined]
        )


def test_the_cli_draws_headless_even_when_the_environment_asks_for_a_gui_backend(tmp_path: Path) -> None:
    """Plots are drawn with Agg although matplotlib is imported only once a command draws."""
    out = tmp_path / "run"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sim",
            "run",
            "scenarios/raft-steady.yaml",
            "--set",
            "duration=300ms",
            "--set",
            "workload.start=0",
            "--out",
            str(out),
            "-q",
        ],
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


def _fake_task(key: str, nodes: int, duration: float) -> Any:
    from types import SimpleNamespace

    return SimpleNamespace(key=key, scenario=SimpleNamespace(n=nodes, duration=duration, workload=None))


def test_plan_hands_out_the_longest_runs_first_and_single_runs_at_the_tail() -> None:
    """Every task once; expected costs never rise from one call to the next; the last calls are single runs; a call holds 1 to 4."""
    from sim.sweep.execute import batch_size, expected_cost, plan_batches

    tasks = [_fake_task(f"t{i}", nodes, 1000.0) for i, nodes in enumerate([4, 7, 10, 13, 16] * 12)]
    for jobs in (1, 2, 3, 8):
        batches = plan_batches(tasks, jobs)
        assert sorted(task.key for batch in batches for task in batch) == sorted(task.key for task in tasks)
        assert all(1 <= len(batch) <= batch_size(len(tasks), jobs) for batch in batches)
        flat = [expected_cost(task) for batch in batches for task in batch]
        assert flat == sorted(flat, reverse=True) and flat[0] == 1000.0 * 16**2
        assert all(len(batch) == 1 for batch in batches[-2 * jobs :])
    assert any(len(batch) > 1 for batch in plan_batches(tasks, 2))  # cheap runs still share a call
    # Equal guesses keep the grid order; a task without a scenario counts 1.
    same = [_fake_task(f"s{i}", 5, 100.0) for i in range(9)]
    assert [task.key for batch in plan_batches(same, 2) for task in batch] == [task.key for task in same]
    assert expected_cost(object()) == 1.0


def test_dask_workers_start_from_a_fork_server_that_imported_consim() -> None:
    """A local dask cluster's workers come from a fork server preloaded with consim; dask's own setting is restored after."""
    pytest.importorskip("distributed", reason="the dask backend is an optional extra")
    import dask

    from sim.sweep.workers import preloaded_worker_start as _preloaded_worker_start

    if sys.platform == "win32":
        pytest.skip("no fork server on Windows: dask spawns its workers there")
    before = dask.config.get("distributed.worker.multiprocessing-method")
    with _preloaded_worker_start():
        assert dask.config.get("distributed.worker.multiprocessing-method") == "forkserver"
        from multiprocessing import forkserver

        assert "sim.runner" in forkserver._forkserver._preload_modules  # noqa: SLF001  (no public getter)
    assert dask.config.get("distributed.worker.multiprocessing-method") == before


EARLY_PROBE = """
import sys
import threading
import time
from multiprocessing import forkserver
from sim.sweep.workers import start_fork_server
if THREAD:  # as in a notebook kernel: this process may no longer fork
    threading.Thread(target=time.sleep, args=(5,), daemon=True).start()
start_fork_server()
print(forkserver._forkserver._forkserver_pid is not None, "sim.runner" in (forkserver._forkserver._preload_modules or []))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="consim forks its dask workers only on Linux")
@pytest.mark.parametrize(("thread", "expected"), [(True, ["True", "True"]), (False, ["False", "False"])])
def test_a_dask_sweep_starts_a_fork_server_early_only_where_it_cannot_fork_its_workers(thread: bool, expected: list[str]) -> None:
    """With another thread alive, `start_fork_server` starts the preloaded fork server at once (sweep_command calls it first).

    Without one, the workers will be forked from the sweep's own process, and no server starts.
    """
    pytest.importorskip("distributed", reason="the dask backend is an optional extra")
    code = EARLY_PROBE.replace("THREAD", str(thread))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.split() == expected


def test_a_sweep_of_uneven_runs_gives_the_same_rows_on_two_workers_as_inline(tmp_path: Path) -> None:
    """Cluster sizes 3 and 7: the pool runs the 7-node runs first, and the rows (in grid order) are those of the inline sweep."""
    from sim.sweep import build_sweep
    from sim.sweep.execute import plan_batches

    data = {
        "name": "uneven",
        "base": str(SCENARIOS / "raft-steady.yaml"),
        "set": {"duration": "400ms", "workload.start": "0", "workload.until": "300ms"},
        "grid": {"nodes": [3, 7]},
        "replicates": 4,
    }
    sweep = build_sweep(data, "uneven", tmp_path)
    assert plan_batches(sweep.tasks, 2)[0][0].scenario.n == 7 and sweep.tasks[0].scenario.n == 3
    _assert_two_workers_give_the_inline_rows(data, tmp_path, runs=8)


def _assert_two_workers_give_the_inline_rows(data: dict[str, Any], tmp_path: Path, runs: int) -> None:
    """The sweep `data` run inline and on two workers: every run done, the same rows (wall time aside)."""
    from sim.sweep import build_sweep, run_sweep

    inline = run_sweep(build_sweep(data, data["name"], tmp_path), out=tmp_path / "one", jobs=1, quiet=True)
    pooled = run_sweep(build_sweep(data, data["name"], tmp_path), out=tmp_path / "two", jobs=2, quiet=True)
    assert inline.executed == pooled.executed == runs and pooled.failed == 0
    pd.testing.assert_frame_equal(inline.runs.drop(columns="wall_time_s"), pooled.runs.drop(columns="wall_time_s"))


FORK_PROBE = """
import threading
from sim.sweep.execute import _pool_context
print(_pool_context().get_start_method())
stop = threading.Event()
helper = threading.Thread(target=stop.wait)
helper.start()
print(_pool_context().get_start_method())
stop.set()
helper.join()
"""


@pytest.mark.skipif(sys.platform != "linux", reason="fork is chosen only on Linux")
def test_workers_are_forked_only_while_the_parent_has_no_other_thread() -> None:
    """On Linux a single-threaded parent forks its workers (they inherit the imports); with a thread alive it does not.

    In a fresh process: threads that other tests leave behind (a dask client's) would otherwise
    make the first half untestable here.
    """
    done = subprocess.run([sys.executable, "-c", FORK_PROBE], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.split() == ["fork", "forkserver"]


def test_batched_workers_give_the_rows_of_an_inline_sweep(tmp_path: Path) -> None:
    """A sweep on two workers, several runs per call, gives exactly the rows of the same sweep run in this process."""
    data = {
        "name": "batched",
        "base": str(SCENARIOS / "raft-steady.yaml"),
        "set": {"duration": "400ms", "workload.start": "0", "workload.until": "300ms"},
        "grid": {"network.loss": [0.0, 0.1]},
        "replicates": 6,
    }
    _assert_two_workers_give_the_inline_rows(data, tmp_path, runs=12)


def test_validate_of_a_compare_spec_imports_no_tables_plots_or_kernel() -> None:
    """`consim validate` of compare specs reads their requirements (sim.report) but loads no pandas, plots or kernel."""
    checked = _probe("validate", "scenarios/compare/fleet-mechanisms.yaml", "scenarios/bft-byzantine-compare.yaml")
    loaded = set(checked["modules"])
    assert checked["status"] == 0 and "sim.report.requirements" in loaded  # it did read them as compare specs
    assert not ({"pandas", "pyarrow", "matplotlib", "networkx"} | KERNEL) & loaded


def test_the_startup_benchmark_times_commands_that_keep_their_bytecode(monkeypatch: pytest.MonkeyPatch) -> None:
    """benchmarks/startup.py runs each command as on a user's machine (bytecode written, then reused) even where the
    environment says PYTHONDONTWRITEBYTECODE: otherwise consim's modules were compiled on every timed start."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import startup

    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    env = startup.child_env()
    assert "PYTHONDONTWRITEBYTECODE" not in env and env["PYTHONPATH"] == str(ROOT)
    seen: list[dict[str, str]] = []
    monkeypatch.setattr(startup.subprocess, "run", lambda *a, **k: seen.append(k["env"]))
    startup.timed(["--help"], 1)
    assert len(seen) == 2 and all("PYTHONDONTWRITEBYTECODE" not in e for e in seen)


def test_the_startup_benchmark_times_the_two_job_counts_in_turns(monkeypatch: pytest.MonkeyPatch) -> None:
    """With --repeat 3 the sweeps run --jobs 1, 2, 1, 2, 1, 2 (a drift in the machine's speed reaches both), best of each kept."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import startup

    order: list[int] = []
    times = iter([(9.0, 8.0), (5.0, 4.0), (7.0, 9.0), (6.0, 3.0), (8.0, 7.5), (4.5, 5.0)])

    def fake(sweep: str, backend: str, jobs: int, repeat: int) -> tuple[float, float]:
        assert repeat == 1
        order.append(jobs)
        return next(times)

    monkeypatch.setattr(startup, "sweep_times", fake)
    best = startup.alternated("x.yaml", "local", 3)
    assert order == [1, 2, 1, 2, 1, 2]
    assert best == {1: (7.0, 7.5), 2: (4.5, 3.0)}


def test_the_startup_benchmark_reports_what_two_cores_give_beside_the_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    """pair_speedup is 2 x (one run alone) / (two at once): 1.6 when two runs at once take 1.25 s against 1.0 s alone."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import startup

    seen: list[list[str]] = []

    def fake(command: list[str], **_: Any) -> Any:
        seen.append(command)
        return subprocess.CompletedProcess(command, 0, stdout="1.0 1.25\n")

    monkeypatch.setattr(startup.subprocess, "run", fake)
    assert startup.pair_speedup("scenarios/sweeps/pbft-cluster-size.yaml") == (1.6, 1.0, 1.25)
    assert seen[0][-1] == "scenarios/sweeps/pbft-cluster-size.yaml" and "os.fork()" in seen[0][2]

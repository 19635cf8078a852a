"""A sweep's local Dask cluster: workers forked from the sweep's own process, else started by dask from a fork server.

Each check runs in a fresh process: the workers are forked only from a process without other
threads, and a test session has some (xdist's, a dask client's from an earlier test).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.skipif(sys.platform != "linux", reason="consim forks its dask workers only on Linux"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


def worker_facts(task: Any) -> dict[str, Any]:
    """A sweep 'run' that reports where it ran and the dask settings it saw (module level: pickled by name)."""
    import dask
    from distributed import get_worker

    from sim.sweep.workers import QUIET_CLUSTER

    worker = get_worker()  # raises outside a dask worker: every call here must reach the cluster
    return {
        "key": task.key,
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "worker": worker.address,
        "settings": {key: dask.config.get(key) for key in QUIET_CLUSTER},
    }


def dies_on_the_cluster(task: Any) -> dict[str, Any]:
    """A 'run' that kills the worker process that runs it (as the kernel's out-of-memory killer would)."""
    os._exit(3)


PROBE = """
import json, os, sys, threading, time
from types import SimpleNamespace
import sim.sweep.execute as execute_module
import sim.sweep.workers as workers_module

def main():
    if THREAD:  # as in a notebook kernel: this process may no longer fork, and dask starts the workers
        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
    execute_module.HeadStart.begin = lambda *args, **kwargs: None  # no helpers: the cluster runs every call
    SETUP
    from tests.test_sweep_forked_workers import FN
    import dask
    import distributed  # registers its defaults, which are compared after
    from sim.sweep.workers import QUIET_CLUSTER
    before = {key: dask.config.get(key) for key in QUIET_CLUSTER}
    tasks = [SimpleNamespace(key=f"t{i:02d}") for i in range(6)]
    try:
        rows = list(execute_module.execute(tasks, jobs=2, backend="dask", fn=FN))
        error = None
    except RuntimeError as exc:
        rows, error = [], str(exc)
    after = {key: dask.config.get(key) for key in QUIET_CLUSTER}
    print(json.dumps({"parent": os.getpid(), "rows": rows, "error": error, "defaults_kept": before == after != QUIET_CLUSTER}))

if __name__ == "__main__":
    main()
"""


def _probe(fn: str, thread: bool = False, setup: str = "pass") -> dict[str, Any]:
    code = PROBE.replace("THREAD", str(thread)).replace("SETUP", setup).replace("FN", fn)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("thread", [False, True], ids=["forked", "fork-server"])
def test_the_workers_are_forked_from_the_sweep_where_it_may_fork_and_run_quietly_either_way(thread: bool) -> None:
    """Without another thread, both workers are children of the sweep's process; with one, of dask's fork server.

    Either way every call runs once on one of two worker processes, with the cluster's quiet
    housekeeping settings in force there and dask's own defaults untouched in the sweep's process.
    """
    pytest.importorskip("distributed", reason="the dask backend is an optional extra")
    from sim.sweep.workers import QUIET_CLUSTER

    seen = _probe("worker_facts", thread=thread)
    rows = seen["rows"]
    assert seen["error"] is None
    assert sorted(row["key"] for row in rows) == [f"t{i:02d}" for i in range(6)]
    pids = {row["pid"] for row in rows}
    assert len({row["worker"] for row in rows}) <= 2 and seen["parent"] not in pids
    forked = {row["ppid"] == seen["parent"] for row in rows}
    assert forked == {not thread}
    assert all(row["settings"] == QUIET_CLUSTER for row in rows)
    assert seen["defaults_kept"]


def test_when_every_forked_worker_dies_the_sweep_stops_with_a_message_instead_of_waiting() -> None:
    """No nanny restarts a forked worker: once both have died the sweep says so (rows finished so far are kept by run_sweep)."""
    pytest.importorskip("distributed", reason="the dask backend is an optional extra")
    seen = _probe("dies_on_the_cluster")
    assert seen["rows"] == []
    assert seen["error"].startswith("every dask worker process died")


def test_a_forked_worker_that_exits_before_joining_the_scheduler_is_reported() -> None:
    """A worker process that ends before it joins (here: at once) is an error naming that, not a wait for a worker that never comes."""
    pytest.importorskip("distributed", reason="the dask backend is an optional extra")
    seen = _probe("worker_facts", setup="workers_module._serve = lambda receive: None")
    assert seen["error"] == "a dask worker process exited before it joined the scheduler (see its message above)"

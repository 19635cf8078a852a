"""A sweep's local Dask cluster: workers forked from the sweep's own process, else started by dask from a fork server.

Each check runs in a fresh process: the workers are forked only from a process without other
threads, and a test session has some (xdist's, a dask client's from an earlier test).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
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
        "listens": sorted(str(listener.listen_address) for listener in worker.listeners),
        "settings": {key: dask.config.get(key) for key in QUIET_CLUSTER},
    }


def dies_on_the_cluster(task: Any) -> dict[str, Any]:
    """A 'run' that kills the worker process that runs it (as the kernel's out-of-memory killer would)."""
    os._exit(3)


def first_one_dies(task: Any) -> dict[str, Any]:
    """The first call kills its worker; the others take a moment each."""
    if task.key == "t00":
        os._exit(3)
    time.sleep(0.1)
    return {"key": task.key, "pid": os.getpid()}


def dies_after_two(task: Any) -> dict[str, Any]:
    """The first two calls return at once; every later one kills its worker, before the first two's rows may be fetched."""
    if task.key >= "t02":
        os._exit(3)
    return {"key": task.key, "pid": os.getpid()}


def lingers(task: Any) -> dict[str, Any]:
    """Write this worker's pid to `task.pids` (a folder), then take a minute."""
    Path(task.pids, str(os.getpid())).touch()
    time.sleep(60)
    return {"key": task.key}


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
    pids = sys.argv[1] if len(sys.argv) > 1 else ""
    tasks = [SimpleNamespace(key=f"t{i:02d}", point=i, seed=1, params={}, pids=pids) for i in range(COUNT)]
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


def _probe(fn: str, thread: bool = False, setup: str = "pass", count: int = 6) -> dict[str, Any]:
    code = PROBE.replace("THREAD", str(thread)).replace("SETUP", setup).replace("FN", fn).replace("COUNT", str(count))
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
    # A worker runs whatever code reaches it: it listens on loopback only.
    assert all(address.startswith("tcp://127.0.0.1:") for row in rows for address in row["listens"])


def test_a_run_that_kills_its_forked_worker_fails_alone_and_the_other_worker_finishes_the_sweep() -> None:
    """No nanny restarts the worker: its call is a transient failure at once (not handed on to kill the other), the rest runs."""
    pytest.importorskip("distributed", reason="the dask backend is an optional extra")
    seen = _probe("first_one_dies", count=8)
    assert seen["error"] is None
    rows = {row["key"]: row for row in seen["rows"]}
    assert sorted(rows) == [f"t{i:02d}" for i in range(8)]
    assert rows["t00"]["_transient"] and "KilledWorker" in rows["t00"]["error"]
    assert len({rows[key]["pid"] for key in rows if key != "t00"}) == 1  # the survivor ran every other call


def test_when_every_forked_worker_dies_the_sweep_stops_with_a_message_instead_of_waiting() -> None:
    """No nanny restarts a forked worker: once both have died the sweep says so (rows finished so far are kept by run_sweep)."""
    pytest.importorskip("distributed", reason="the dask backend is an optional extra")
    seen = _probe("dies_on_the_cluster")
    assert all(row["_transient"] for row in seen["rows"])  # a call whose death was noticed before the last one's, if any
    assert seen["error"].startswith("every dask worker process died")


def test_rows_lost_with_the_last_forked_worker_stop_the_sweep_instead_of_waiting_for_a_worker_for_ever() -> None:
    """Two calls finish, then their workers die before the rows are fetched: the calls wait to run again, on no worker.

    Before the fix the sweep waited in `future.result()` for ever (2 runs in 3 hung).
    """
    pytest.importorskip("distributed", reason="the dask backend is an optional extra")
    for _ in range(3):
        seen = _probe("dies_after_two")
        assert seen["error"] is not None and seen["error"].startswith("every dask worker process died")


def test_forked_workers_and_helpers_end_with_a_killed_sweep(tmp_path: Path) -> None:
    """A sweep killed with SIGKILL (or SIGTERM) leaves no worker running its minute-long run."""
    pytest.importorskip("distributed", reason="the dask backend is an optional extra")
    code = PROBE.replace("THREAD", "False").replace("SETUP", "pass").replace("FN", "lingers").replace("COUNT", "4")
    sweep = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(list(tmp_path.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = [int(path.name) for path in tmp_path.iterdir()]
    assert len(pids) == 2  # both workers are running a call
    sweep.send_signal(signal.SIGKILL)
    sweep.wait()
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_running(pid) for pid in pids)


def _running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie, dead but not yet reaped, does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_forked_worker_that_exits_before_joining_the_scheduler_is_reported() -> None:
    """A worker process that ends before it joins (here: at once) is an error naming that, not a wait for a worker that never comes."""
    pytest.importorskip("distributed", reason="the dask backend is an optional extra")
    seen = _probe("worker_facts", setup="workers_module._serve = lambda receive: None")
    assert seen["error"] == "a dask worker process exited before it joined the scheduler (see its message above)"

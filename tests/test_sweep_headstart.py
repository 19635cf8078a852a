"""The head start of a sweep on a local Dask cluster: a forked helper runs the first calls while the cluster starts.

Each check runs in a fresh process: the helper is forked only from a process without other
threads, and a test session has some (a dask client's from an earlier test).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the helper is forked, which consim does only on Linux")


def _probe(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True, timeout=120)
    return json.loads(done.stdout.strip().splitlines()[-1])


MECHANICS = """
import json, os, time
from sim.sweep.headstart import HeadStart

def run(task):
    if task == "boom":
        raise ValueError("left to the cluster")
    time.sleep(0.05)
    return {"key": task, "pid": os.getpid()}

batches = [[f"t{i}", f"u{i}"] for i in range(40)]
batches[BOOM] = ["boom"]
head = HeadStart.begin(batches, run, helpers=HELPERS)
while head._cursor.value < 8 and any(p.is_alive() for p in head._processes):  # noqa: SLF001  (until eight calls are taken)
    time.sleep(0.001)
taken = head.stop()
got = []
while head.running:
    got += [(index, [row["key"] for row in rows], {row["pid"] for row in rows}) for index, rows in head.collect(1.0)]
unfinished = head.unfinished()
head.close()
pids = sorted(set().union(*(g[2] for g in got)))
print(json.dumps({"parent": os.getpid(), "taken": taken, "total": len(batches), "unfinished": unfinished,
                  "indices": [g[0] for g in got], "keys": [g[1] for g in got], "pids": pids}))
"""


def test_the_helper_runs_calls_from_the_front_until_stopped_and_returns_each_once() -> None:
    """It takes calls in plan order while the cursor allows, finishes what it took, and runs in a process of its own."""
    seen = _probe(MECHANICS.replace("BOOM", "39").replace("HELPERS", "1"))
    assert 8 <= seen["taken"] < seen["total"]  # it had taken eight; it stopped long before the 40th
    assert seen["indices"] == list(range(seen["taken"])) and seen["unfinished"] == []  # every call it took, once, in order
    assert seen["keys"][0] == ["t0", "u0"]
    assert len(seen["pids"]) == 1 and seen["pids"][0] != seen["parent"]


def test_a_call_that_fails_in_the_helper_is_not_reported_and_the_helper_takes_no_more() -> None:
    """An exception in the helper ends it; the failed call is missing from its results (the cluster runs it again)."""
    seen = _probe(MECHANICS.replace("BOOM", "1").replace("HELPERS", "1"))
    assert seen["indices"] == [0]  # call 1 failed, and nothing after it was run
    assert seen["taken"] == 2 and seen["unfinished"] == [1]


def test_two_helpers_share_the_calls_and_each_is_run_once() -> None:
    """With a helper per job, the calls taken are each run by one of them; together they did every one taken."""
    seen = _probe(MECHANICS.replace("BOOM", "39").replace("HELPERS", "2"))
    assert 8 <= seen["taken"] < seen["total"]
    assert sorted(seen["indices"]) == list(range(seen["taken"]))
    assert len(seen["pids"]) == 2 and seen["parent"] not in seen["pids"]


DASK = """
import json, os, sys, tempfile, time
from types import SimpleNamespace

def where(task):
    start = time.time()
    worker = False
    if "distributed" in sys.modules:  # the helpers never import it: they were forked before the parent did
        from distributed import get_worker
        try:
            get_worker()
            worker = True
        except ValueError:
            pass
    if worker:
        open(task.marker, "w").close()
        time.sleep(0.1)  # long enough to overlap with whatever else runs meanwhile
    elif MODE == "die" and task.key == "t00":
        os._exit(1)  # a helper killed in its first call: the call goes to the cluster
    elif MODE == "fast":
        pass
    else:  # a helper holds its first call until the cluster has run one: the cluster surely gets the rest
        deadline = time.monotonic() + 60
        while not os.path.exists(task.marker) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # and still runs while the cluster works
    return {"key": task.key, "pid": os.getpid(), "worker": worker, "start": start, "end": time.time()}

if __name__ == "__main__":
    from sim.sweep.execute import execute
    with tempfile.TemporaryDirectory() as tmp:
        tasks = [SimpleNamespace(key=f"t{i:02d}", marker=f"{tmp}/ran") for i in range(COUNT)]
        rows = list(execute(tasks, jobs=2, backend="dask", fn=where))
    print(json.dumps({"parent": os.getpid(), "rows": rows}))
"""


def test_a_local_dask_sweep_runs_its_first_calls_in_helpers_and_the_rest_on_the_cluster() -> None:
    """Every run is done exactly once: some in a forked helper while the cluster started, the rest on its workers.

    One helper is killed in its first call (out of memory, say): that call is run on the cluster.
    """
    pytest.importorskip("distributed", reason="the dask backend is an optional extra")
    seen = _probe(DASK.replace("MODE", '"die"').replace("COUNT", "16"))
    rows = seen["rows"]
    assert sorted(row["key"] for row in rows) == [f"t{i:02d}" for i in range(16)]
    assert next(row for row in rows if row["key"] == "t00")["worker"]
    helper = [row for row in rows if not row["worker"]]
    on_cluster = [row for row in rows if row["worker"]]
    assert helper and on_cluster
    assert seen["parent"] not in {row["pid"] for row in helper}
    assert not {row["pid"] for row in helper} & {row["pid"] for row in on_cluster}
    # Never more runs at once than jobs (2): the held helper call leaves the cluster one slot.
    edges = sorted([(row["start"], 1) for row in rows] + [(row["end"], -1) for row in rows])
    at_once = [sum(step for _, step in edges[: i + 1]) for i in range(len(edges))]
    assert max(at_once) <= 2


def test_a_sweep_the_helpers_finish_before_the_cluster_is_up_is_complete() -> None:
    """Two quick calls, both taken by the helpers at once: the cluster gets none, and every row is there once."""
    pytest.importorskip("distributed", reason="the dask backend is an optional extra")
    seen = _probe(DASK.replace("MODE", '"fast"').replace("COUNT", "2"))
    assert sorted(row["key"] for row in seen["rows"]) == ["t00", "t01"]
    assert not any(row["worker"] for row in seen["rows"]) and seen["parent"] not in {row["pid"] for row in seen["rows"]}

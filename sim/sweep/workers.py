"""How a local Dask cluster's worker processes start: forked from a preloaded fork server, started early.

Kept apart from execute.py and free of consim's own imports, so that a command can start the
fork server before it loads anything itself (`start_fork_server`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from typing import Any

WORKER_PRELOAD = ["distributed", "sim.runner", "sim.sweep.execute"]
"""What the fork server imports once; every worker forked from it starts with these loaded."""

QUIET_CLUSTER = {
    # A local cluster's housekeeping runs on the same cores as the runs, in the parent (scheduler,
    # nannies) and beside each run in its worker: 7-9% of a core in the parent of a 2-worker
    # pbft-cluster-size sweep, 2% with these (issue 13).
    "distributed.admin.tick.interval": "1s",  # the event-loop watchdog: 50 wake-ups a second by default
    "distributed.admin.system-monitor.interval": "2s",  # CPU and memory samples, for a dashboard that is not started
    "distributed.worker.memory.monitor-interval": "1s",  # memory limits are still enforced, checked once a second
    # The statistical profiler samples the running task's stack every 10 ms for the dashboard's
    # profile page (no dashboard is started): it took the GIL from the run 100 times a second, and
    # three pbft-cluster-size runs in a worker thread used 2.7-3.0 s of CPU with it and 2.0-2.4 s
    # without (the same runs inline: 2.0-2.5 s).
    "distributed.worker.profile.enabled": False,
}
"""dask settings for the clusters a sweep starts itself (never for one at a `--scheduler` address)."""


def default_jobs() -> int:
    """All the cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _fork_server_wanted() -> bool:
    """Whether distributed is installed and would spawn its workers (its default) on a platform that has a fork server."""
    import importlib.util

    import dask

    if sys.platform == "win32" or importlib.util.find_spec("distributed") is None:
        return False
    # Read before distributed is imported (it registers its defaults then): a user's dask config is loaded already.
    return dask.config.get("distributed.worker.multiprocessing-method", "spawn") == "spawn"


def start_fork_server() -> None:
    """Start now the fork server that a local Dask cluster's workers will be forked from.

    Its imports (distributed, numpy, pandas, consim: about a second) then overlap what the command
    does meanwhile: loading the sweep, importing distributed, starting the scheduler. Nothing
    happens when dask is not installed, when its workers are not spawned by default, or when the
    server runs already.
    """
    try:
        if not _fork_server_wanted():
            return
    except ImportError:
        return
    _run_fork_server(multiprocessing.get_context("forkserver"))


def _run_fork_server(context: Any) -> None:
    # The preload list counts only when the server starts; once it runs, ensure_running does nothing.
    context.set_forkserver_preload(WORKER_PRELOAD)
    from multiprocessing import forkserver

    forkserver.ensure_running()


def preloaded_worker_start() -> contextlib.AbstractContextManager[Any]:
    """Start a local Dask cluster's worker processes from a fork server that imported consim once.

    Dask spawns its workers by default, and each spawned worker imports distributed, numpy,
    pandas and consim before its first run (seconds each on a small machine: `--jobs 2` on dask
    was slower than `--jobs 1`, issue 13). A fork server imports them once and forks every worker
    from that state; it is started here unless `start_fork_server` started it earlier. Only when
    dask's method is its default (spawn) and the platform has a fork server.
    """
    import dask

    if not _fork_server_wanted():
        return contextlib.nullcontext()
    try:
        from distributed.utils import get_mp_context
    except ImportError:  # a distributed without it: spawned workers, as before
        return contextlib.nullcontext()
    chosen = dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"})
    _run_fork_server(get_mp_context())  # get_mp_context sets dask's own preload list once; ours replaces it
    return chosen

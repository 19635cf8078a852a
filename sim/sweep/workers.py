"""How a local Dask cluster's worker processes start: forked from the sweep's own process, else from a preloaded fork server.

Where this process may fork (Linux, no thread yet), the workers are forked from it
(`ForkedWorkers`): they start with everything it imported, and the cluster is up in a fraction
of a second. Elsewhere (a notebook kernel has threads; macOS) they come from a fork server that
imported consim once. Kept apart from execute.py and free of consim's own imports (but the
light `headstart`), so that a command can start the fork server before it loads anything itself
(`start_fork_server`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from typing import Any

from sim.sweep.headstart import can_fork, forked_child

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


FORKED_CLUSTER = {
    # No nanny restarts a forked worker that dies. A call whose worker died is failed at once (a
    # row marked transient: reported, not stored, run again next time) instead of being handed
    # to the next worker, which it might kill as well. (The sweep gives each worker one call at
    # a time, so a death takes no queued call with it.)
    "distributed.scheduler.allowed-failures": 0,
}
"""dask settings for a cluster whose workers are forked from the sweep (`ForkedWorkers`), beside QUIET_CLUSTER."""


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
        if can_fork() or not _fork_server_wanted():
            return  # where this process may fork, the workers are forked from it (ForkedWorkers): no server
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


def _serve(receive: Any, parent: int) -> None:
    """A forked worker process: wait for the scheduler's address, then serve as a one-thread dask Worker until ended."""
    forked_child(parent)
    try:
        address = receive.recv()
    except (EOFError, OSError):
        return  # the parent gave up before its scheduler started
    import asyncio
    import logging

    import dask
    from distributed import Worker

    logging.getLogger("distributed").setLevel(logging.ERROR)  # as LocalCluster's silence_logs does for its workers

    async def serve() -> None:
        # Listening on loopback only, as a LocalCluster's own workers do: a worker runs whatever code it is sent.
        async with Worker(address, nthreads=1, host="127.0.0.1", dashboard=False, dashboard_address="127.0.0.1:0") as worker:
            await worker.finished()

    with dask.config.set(QUIET_CLUSTER):  # FORKED_CLUSTER is the scheduler's, in the sweep's process
        asyncio.run(serve())


class ForkedWorkers:
    """Local dask workers forked from this process: they start with its imports (consim, distributed) in memory.

    A worker spawned by dask imports distributed, numpy, pandas and consim before its first run,
    and one from a fork server still costs that server's imports and a nanny per worker: a local
    cluster took 1.5 s and 2.6 s of CPU to start on this 2-core machine, against 0.15 s and no
    imports forked (issue 13). Fork before any thread starts (the scheduler's event loop is one;
    `can_fork`), then `connect` them to the scheduler. There is no nanny: a worker that dies is
    not restarted, and `alive` tells when none is left.
    """

    def __init__(self, count: int) -> None:
        context = multiprocessing.get_context("fork")
        self._processes: list[Any] = []
        self._senders: list[Any] = []
        for _ in range(count):
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_serve, args=(receive, os.getpid()), daemon=True)
            process.start()
            receive.close()
            self._processes.append(process)
            self._senders.append(send)

    def connect(self, address: str) -> None:
        """Tell every worker the scheduler's address; each then starts and joins it."""
        for send in self._senders:
            with contextlib.suppress(OSError):  # a worker that has exited already: `alive` tells
                send.send(address)
            send.close()
        self._senders = []

    @property
    def alive(self) -> int:
        """How many of the worker processes are still running."""
        return sum(process.is_alive() for process in self._processes)

    def close(self) -> None:
        """End the worker processes (their runs are collected or given up by then)."""
        for send in self._senders:
            send.close()
        for process in self._processes:
            if process.is_alive():
                process.terminate()
        for process in self._processes:
            process.join()

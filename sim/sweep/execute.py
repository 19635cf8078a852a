"""Running a sweep's tasks: in this process, on a local process pool, or on a Dask cluster."""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import IO, Any

from sim.errors import WorkersLost
from sim.sweep.headstart import HeadStart, can_fork
from sim.sweep.spec import Task, label
from sim.sweep.workers import FORKED_CLUSTER, QUIET_CLUSTER, ForkedWorkers
from sim.sweep.workers import preloaded_worker_start as _preloaded_worker_start

BACKENDS = ("local", "dask")
TRANSIENT = "_transient"
"""Marks a row whose failure was the infrastructure's, not the run's: reported, never stored."""


def _cell(value: Any) -> Any:
    # Summary values are flat already; anything nested becomes text so a row stays one line.
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return label(value)


def run_task(task: Task) -> dict[str, Any]:
    """Run one task and return its flat row; an exception in the run becomes an `error` cell.

    The row holds the key, the grid point, one column per swept path, the seed, the whole
    summary, and `error` (None when the run succeeded).
    """
    from sim.runner import run  # late: keeps worker start-up light

    row: dict[str, Any] = {"key": task.key, "point": task.point}
    row.update({path: label(value) for path, value in task.params.items()})
    row["seed"] = task.seed
    try:
        result = run(task.scenario, protocol_cls=task.protocol_cls)
        if task.keep_dir:
            result.save(task.keep_dir, plots=False)
    except Exception as exc:  # a failed run must not stop the sweep
        last = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f" ({os.path.basename(last.filename)}:{last.lineno})" if last else ""
        row["error"] = f"{type(exc).__name__}: {exc}{where}"
        return row
    for name, value in result.summary.items():
        if name not in row:
            row[name] = _cell(value)
    row["error"] = None
    return row


def _ignore_sigint() -> None:
    # Workers leave Ctrl-C to the parent, which stops them; no traceback from every worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


Runner = Callable[[Any], dict[str, Any]]
"""What runs one task in a worker: a picklable module-level function returning the task's row."""


def run_tasks(tasks: Sequence[Any], fn: Runner = run_task) -> list[dict[str, Any]]:
    """Run several tasks in one worker call and return their rows (one round trip for the batch)."""
    return [fn(task) for task in tasks]


def _inline(tasks: Sequence[Any], fn: Runner) -> Iterator[dict[str, Any]]:
    for task in tasks:
        yield fn(task)


def batch_size(tasks: int, jobs: int) -> int:
    """Runs per worker call: about four calls per worker, at most four runs each.

    Batches save a round trip per run; small ones keep the workers evenly loaded at the end
    and lose little work to an interrupt.
    """
    return max(1, min(4, math.ceil(tasks / (4 * jobs))))


def expected_cost(task: Any) -> float:
    """A cheap guess at what a run costs, only to order the runs: simulated time x nodes squared x offered load.

    Messages grow with the nodes (all-to-all phases with their square) and with the commands
    offered; a task without a scenario (or with a field missing) counts 1.
    """
    scenario = getattr(task, "scenario", None)
    try:
        rate = getattr(scenario.workload, "rate", None) if scenario.workload is not None else None
        return float(scenario.duration) * float(scenario.n) ** 2 * (float(rate) if rate else 1.0)
    except (AttributeError, TypeError, ValueError):
        return 1.0


def plan_batches(tasks: Sequence[Any], jobs: int) -> list[list[Any]]:
    """The worker calls for `tasks`: the longest expected runs first, smaller calls towards the end.

    Handing out the long runs first keeps the workers busy until the end (a long run last would
    leave the others idle); each call takes at most `batch_size` runs and, past its first run,
    only as much expected work as half a worker's share of what is left, so the calls
    shrink to single runs at the tail. The order of execution does not change any row.
    """
    order = sorted(tasks, key=expected_cost, reverse=True)  # stable: equal guesses keep grid order
    costs = [expected_cost(task) for task in order]
    cap = batch_size(len(tasks), jobs)
    left = sum(costs)
    batches: list[list[Any]] = []
    start = 0
    while start < len(order):
        budget = left / (2 * jobs)
        end, spent = start + 1, costs[start]
        while end < len(order) and end - start < cap and spent + costs[end] <= budget:
            spent += costs[end]
            end += 1
        batches.append(list(order[start:end]))
        left -= spent
        start = end
    return batches


def _pool_context() -> multiprocessing.context.BaseContext:
    """Fork where that is safe, so workers start with consim imported; else a preloaded fork server.

    A spawned worker pays the whole import of consim (seconds) before its first run, which made
    `--jobs 2` slower than `--jobs 1` on short sweeps (issue 13). Forking copies the parent,
    imports included, but is unsafe once the parent has threads (a notebook kernel, a Dask
    client) and on macOS; there a fork server that imported the runner once forks the workers.
    """
    from sim import runner  # noqa: F401  (imported here so that forked workers inherit it)

    if can_fork():
        return multiprocessing.get_context("fork")
    ctx = multiprocessing.get_context("forkserver" if sys.platform != "win32" else "spawn")
    if ctx.get_start_method() == "forkserver":
        ctx.set_forkserver_preload(["sim.runner", "sim.sweep.execute"])
    return ctx


def _local(tasks: Sequence[Any], jobs: int, fn: Runner) -> Iterator[dict[str, Any]]:
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=_pool_context(), initializer=_ignore_sigint)
    batches = plan_batches(tasks, jobs)
    pending: set[Future[list[dict[str, Any]]]] = set()
    by_future: dict[Future[list[dict[str, Any]]], list[Any]] = {}
    batches.reverse()
    try:
        # Keep only a few batches in flight so an interrupt loses little and memory stays flat.
        while batches or pending:
            while batches and len(pending) < 2 * jobs:
                batch = batches.pop()
                future = pool.submit(run_tasks, batch, fn)
                pending.add(future)
                by_future[future] = batch
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: by_future[f][0].point):
                batch = by_future.pop(future)
                try:
                    rows = future.result()
                except Exception as exc:  # a worker process died (out of memory, killed, bad __main__)
                    first = batch[0]
                    raise WorkersLost(
                        f"a worker process died while running seed {first.seed} of grid point {first.point} "
                        f"(in a batch of {len(batch)}; {type(exc).__name__}); finished rows are kept, run again to resume"
                    ) from exc
                yield from rows
    except BaseException:
        for process in list(getattr(pool, "_processes", {}).values()):
            with contextlib.suppress(Exception):
                process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _failed_row(task: Task) -> dict[str, Any]:
    row: dict[str, Any] = {"key": task.key, "point": task.point}
    row.update({path: label(value) for path, value in task.params.items()})
    row["seed"] = task.seed
    return row


def _join(client: Any, forked: ForkedWorkers, count: int, timeout: float = 60.0) -> None:
    """Wait until the `count` forked workers have joined the scheduler; a clear error if one exits first or none comes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.wait_for_workers(count, timeout=0.25)
            return
        except TimeoutError:
            if forked.alive < count:
                raise WorkersLost("a dask worker process exited before it joined the scheduler (see its message above)") from None
            if time.monotonic() > deadline:
                raise WorkersLost(f"the dask workers did not join the scheduler at 127.0.0.1 within {timeout:.0f} s") from None


def _local_cluster(jobs: int) -> tuple[Any, ForkedWorkers | None]:
    """A local Dask cluster of `jobs` one-thread workers, and the worker processes when they were forked from here.

    One worker process per job: threads of one process would share the interpreter lock and run
    no faster than one job; a single job stays in this process (starts in a moment). Where this
    process may still fork, the workers are forked from it and only the scheduler runs here (on
    TCP over loopback); else dask starts them, from a fork server preloaded with consim.
    """
    import dask
    from distributed import LocalCluster

    forked = ForkedWorkers(jobs) if jobs > 1 and can_fork() else None  # before the scheduler's thread starts
    quiet = {
        "dashboard_address": None,  # no dashboard; the scheduler's small HTTP server still runs: on any free port, so
        "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"},  # two sweeps at once do not warn about port 8787
        "silence_logs": logging.ERROR,
    }
    try:
        with dask.config.set(QUIET_CLUSTER):
            if forked is not None:
                with dask.config.set(FORKED_CLUSTER):  # read by the scheduler as it starts
                    return LocalCluster(n_workers=0, processes=False, protocol="tcp://", host="127.0.0.1", **quiet), forked
            with _preloaded_worker_start() if jobs > 1 else contextlib.nullcontext():
                return LocalCluster(n_workers=max(1, jobs), threads_per_worker=1, processes=jobs > 1, **quiet), None
    except BaseException:
        if forked is not None:
            forked.close()
        raise


def _dask(tasks: Sequence[Any], jobs: int, scheduler: str | None, fn: Runner) -> Iterator[dict[str, Any]]:
    head: HeadStart | None = None
    cluster = client = forked = None
    batches: list[list[Any]] | None = None
    try:
        if not scheduler and jobs > 1:
            # The plan is known before the cluster: forked helpers, one per job, run its first calls
            # while distributed is imported and the cluster starts.
            batches = plan_batches(tasks, jobs)
            head = HeadStart.begin(batches, fn, helpers=jobs)
        try:
            from distributed import Client, as_completed
        except ImportError:
            raise RuntimeError("the dask backend needs the 'dask' extra: pip install 'consim[dask]'") from None
        if scheduler:
            client = Client(scheduler)
            workers = max(1, len(client.scheduler_info().get("workers", {})))
        else:
            cluster, forked = _local_cluster(jobs)
            client = Client(cluster)
            if forked is not None:
                forked.connect(cluster.scheduler_address)
                _join(client, forked, jobs)
            workers = max(1, jobs)
        # Several runs per task, as on the local pool: a round trip per run costs more than a short run.
        if batches is None:
            batches = plan_batches(tasks, workers)
        taken = head.stop() if head is not None else 0
        by_key: dict[str, list[Any]] = {}
        completed = as_completed(loop=client.loop)
        pending = list(batches[taken:])

        def submit(count: int) -> None:
            for _ in range(min(count, len(pending))):
                batch = pending.pop(0)
                future = client.submit(run_tasks, batch, fn, key=f"consim-runs-{batch[0].key}-{len(batch)}", pure=False)
                by_key[future.key] = batch
                completed.add(future)

        def check_alive() -> None:
            # Forked workers have no nanny to restart them: once none is left, nothing would finish.
            if forked is not None and (by_key or pending) and not forked.alive:
                left = sum(len(batch) for batch in [*by_key.values(), *pending])
                raise WorkersLost(
                    f"every dask worker process died (killed by a run, out of memory perhaps) with {left} runs unfinished; "
                    "finished rows are kept, run again to resume"
                )

        def rows_of(future: Any) -> list[dict[str, Any]]:
            try:
                while True:
                    try:
                        # A finished call's rows can still be lost with the worker that holds them, and
                        # then wait for a worker to run it again: with forked workers, none may be left.
                        rows = future.result(timeout=None if forked is None else 0.25)
                        break
                    except TimeoutError:
                        if future.status in ("error", "cancelled"):
                            raise  # the call's own error, not the wait's
                        check_alive()  # pending, or its rows were lost with a worker and it waits to run again
            except WorkersLost:
                raise
            except Exception as exc:  # a worker died or the task could not be shipped: not the runs' fault
                rows = [
                    {**_failed_row(task), "error": f"worker failed: {type(exc).__name__}: {exc}", TRANSIENT: True}
                    for task in by_key[future.key]
                ]
            del by_key[future.key]
            future.release()
            return rows

        def finished(wait: float) -> list[Any]:
            check_alive()
            done = completed.next_batch(block=False)
            if not done and wait:
                time.sleep(wait)
            return done

        if head is not None:
            # While the helpers finish the calls they took (they take no new one), the cluster gets
            # only the cores they leave free: never more runs at once than jobs (memory stays as
            # with `jobs` workers). A call a helper did not finish (it died) goes to the cluster.
            while head.running:
                for _index, rows in head.collect(timeout=0.05):
                    yield from rows
                submit(jobs - head.running - len(by_key))
                for future in finished(0):
                    yield from rows_of(future)
            pending[:0] = [batches[index] for index in head.unfinished()]  # the longest first, as planned
        if forked is None:
            submit(len(pending))
            for future in completed:
                yield from rows_of(future)
        else:
            # One call per live forked worker at a time: the scheduler would otherwise queue more
            # calls on each, and a worker's death would fail them with the one that killed it.
            while pending or by_key:
                submit(forked.alive - len(by_key))
                for future in finished(0.01):
                    yield from rows_of(future)
    finally:
        if head is not None:
            head.close()
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
        if forked is not None:
            forked.close()


def execute(
    tasks: Sequence[Any], jobs: int = 1, backend: str = "local", scheduler: str | None = None, fn: Runner = run_task
) -> Iterator[dict[str, Any]]:
    """Run `tasks` and yield each row as its run finishes (in completion order).

    Args:
        tasks: the runs to do.
        jobs: worker processes, on the local pool or a local Dask cluster (1 runs in this process).
        backend: "local" (process pool) or "dask" (a dask.distributed cluster).
        scheduler: the Dask scheduler address; without one a local cluster starts (one worker process per job).
        fn: what runs one task (default: one sweep run; `consim explore` passes its own).

    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
    if not tasks:
        return iter(())
    if backend == "dask":
        return _dask(tasks, jobs, scheduler, fn)
    if jobs <= 1 or len(tasks) == 1:
        return _inline(tasks, fn)
    return _local(tasks, min(jobs, len(tasks)), fn)


class Progress:
    """A one-line progress bar on stderr: done/total, percentage, elapsed and time left.

    Draws nothing unless enabled and the stream is a terminal; redraws at most ten times a second.
    """

    def __init__(self, total: int, enabled: bool = True, stream: IO[str] | None = None, label: str = "sweep") -> None:
        self.stream = stream or sys.stderr
        self.total = total
        self.done = 0
        self.failed = 0
        self.label = label
        self.enabled = enabled and total > 0 and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.started = time.monotonic()
        self._drawn = 0.0

    def advance(self, failed: bool = False) -> None:
        """One more run finished."""
        self.done += 1
        self.failed += int(failed)
        now = time.monotonic()
        if self.enabled and (now - self._drawn > 0.1 or self.done == self.total):
            self._drawn = now
            self.stream.write("\r" + self.line(now - self.started))
            self.stream.flush()

    def line(self, elapsed: float) -> str:
        """The text of the bar after `elapsed` seconds."""
        width = 28
        frac = self.done / self.total if self.total else 1.0
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        left = elapsed / self.done * (self.total - self.done) if self.done else math.nan
        failed = f"  {self.failed} failed" if self.failed else ""
        return f"{self.label} [{bar}] {self.done}/{self.total} {frac:4.0%}  {_clock(elapsed)} elapsed, {_clock(left)} left{failed}  "

    def note(self, text: str) -> None:
        """Print a line above the bar (e.g. a failed run) without garbling it."""
        prefix = "\r\x1b[2K" if self.enabled else ""
        self.stream.write(prefix + text + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line."""
        if self.enabled and self.done:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "--:--"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"

"""A head start for a sweep on a local Dask cluster: the first worker calls run while the cluster starts.

Starting a local cluster (importing distributed, the scheduler, the worker processes) takes
seconds in which the cores mostly wait (issue 13). Processes forked from the sweep's own
process, which has consim imported already, run the plan's first calls meanwhile, one per job;
once the cluster is up they take no new call, and the cluster gets the rest. A row does not
depend on where its run ran, and the tables are written in grid order, so the output is the
same bytes either way.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

Runner = Callable[[Any], dict[str, Any]]


def can_fork() -> bool:
    """Whether this process may fork a helper: Linux (fork is the default there) and no other thread alive.

    A thread (a notebook kernel's, a Dask client's) may hold a lock at the moment of the fork,
    which the child would then wait on forever.
    """
    return sys.platform == "linux" and threading.active_count() == 1


def forked_child(parent: int) -> None:
    """Set up a helper or worker process forked from `parent` (Linux): it ends with the parent and leaves Ctrl-C to it.

    A child that outlived a parent killed by SIGKILL or SIGTERM (a cancelled CI job, `timeout`)
    would finish its run first, holding a core and its memory for nothing: it is killed when the
    parent ends, however it ends. The signal is tied to the thread that forked, which is the
    parent's only thread (`can_fork`). Ctrl-C reaches the whole process group; the parent handles
    it and ends its children, which print no traceback of their own.
    """
    import ctypes

    pr_set_pdeathsig = 1  # from <linux/prctl.h>
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent ended before the line above took effect
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _take(batches: Sequence[Sequence[Any]], fn: Runner, cursor: Any, lock: Any, send: Any, parent: int) -> None:
    """The helper process: take the next call from the shared cursor, run it, send its rows; until none is left."""
    forked_child(parent)
    while True:
        with lock:
            index = cursor.value
            if index >= len(batches):
                break
            cursor.value = index + 1
        try:
            send.send((index, [fn(task) for task in batches[index]]))
        except BaseException:  # noqa: BLE001  (whatever it was, the call is left to the cluster, which reports it)
            break
    send.close()


class HeadStart:
    """Forked helper processes that run worker calls from the front of `batches` until `stop` is called.

    The calls are shared through a cursor in shared memory: a helper takes the next one while the
    cursor is below the end; `stop` moves it to the end and returns how many were taken. Each
    helper sends its rows back on a pipe of its own.
    """

    def __init__(self, batches: Sequence[Sequence[Any]], fn: Runner, helpers: int = 1) -> None:
        context = multiprocessing.get_context("fork")
        self.batches = batches
        self.taken: int | None = None
        self._cursor = context.RawValue("q", 0)
        self._lock = context.Lock()
        self.finished: set[int] = set()
        self._processes: list[Any] = []
        self._receivers: list[Any] = []
        for _ in range(max(1, helpers)):
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_take, args=(batches, fn, self._cursor, self._lock, send, os.getpid()), daemon=True)
            process.start()
            send.close()  # the helper's copy is the only writer left: its exit ends the helper's `running`
            self._processes.append(process)
            self._receivers.append(receive)
        self._open = list(self._receivers)

    @classmethod
    def begin(cls, batches: Sequence[Sequence[Any]], fn: Runner, helpers: int = 1) -> HeadStart | None:
        """Start helpers on `batches` when forking is safe here and there are calls to share; else None."""
        if len(batches) < 2 or not can_fork():
            return None
        return cls(batches, fn, min(helpers, len(batches)))

    def stop(self) -> int:
        """Let the helpers take no further call; returns how many they took (those are theirs to finish)."""
        with self._lock:
            self.taken = self._cursor.value
            self._cursor.value = len(self.batches)
        return self.taken

    @property
    def running(self) -> int:
        """How many helpers may still be busy (those whose pipe is still open)."""
        return len(self._open)

    def collect(self, timeout: float) -> list[tuple[int, list[dict[str, Any]]]]:
        """The calls finished since the last look, as (index in `batches`, rows); waits up to `timeout` s for one.

        A helper that has exited is no longer `running`; once none is, the helpers are joined.
        """
        from multiprocessing.connection import wait

        got: list[tuple[int, list[dict[str, Any]]]] = []
        for receive in wait(self._open, timeout) if self._open else ():
            try:
                while True:  # everything this pipe has ready, without waiting
                    got.append(receive.recv())
                    if not receive.poll():
                        break
            except (EOFError, OSError):
                self._open.remove(receive)
        self.finished.update(index for index, _ in got)
        if not self._open:
            for process in self._processes:
                process.join()
        return got

    def unfinished(self) -> list[int]:
        """The calls the helpers took but did not report (one died, or its run raised); call when none is `running`."""
        return [index for index in range(self.taken or 0) if index not in self.finished]

    def close(self) -> None:
        """End the helpers at once (an interrupt, a failed cluster start); nothing they had not sent is kept."""
        for process in self._processes:
            if process.is_alive():
                process.terminate()
        for process in self._processes:
            process.join()
        for receive in self._receivers:
            receive.close()

"""The journal: counters that are always on, flat typed rows, and their DataFrames."""

from __future__ import annotations

import ctypes
import hashlib
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

# pandas is imported where the tables are built: the journal (Recorder) is also used by the
# network that `consim validate` builds to estimate rtt, which must not pay for pandas.

MESSAGE_COLUMNS = ("type", "src", "dst", "sent", "delivered", "dropped", "bytes_sent")
TRACE_COLUMNS = ("send_ms", "deliver_ms", "src", "dst", "type", "size_bytes", "fate")
DECISION_COLUMNS = ("time_ms", "node", "slot", "value", "incarnation")
EVENT_COLUMNS = ("time_ms", "node", "kind")
VIOLATION_COLUMNS = ("time_ms", "nodes", "rule", "detail")
REQUEST_COLUMNS = ("cmd_id", "client", "submit_ms", "done_ms", "latency_ms", "retries")


SENT, DELIVERED, DROPPED, BYTES_SENT = 0, 1, 2, 3
"""Positions in a count row: the message counts of one (type, src, dst), bumped on the network's hot path."""


def count_row(counts: dict[Any, list[int]], key: Any) -> list[int]:
    """The count row of `key` in `counts`, created (all zeros) on first use."""
    row = counts.get(key)
    if row is None:
        row = counts[key] = [0, 0, 0, 0]
    return row


_first, _second = itemgetter(0), itemgetter(1)
"""A buffered row's fixed values and its extra fields (C callables: no Python call per row)."""

CATEGORIZE_ROWS = 500_000
"""From this many rows on, the journal hash reads a text column through a categorical (the same hash, less memory)."""

PAIR_COUNT_LIMIT = 1000
"""Above this many nodes the message counts aggregate destinations (dst '*'): n^2 pairs would not fit."""


class Columns:
    """Rows kept column by column: numbers in typed arrays (8 bytes a value), the rest in lists.

    A long run records millions of decisions; a tuple and a dict per row cost ~350 bytes, this
    ~64. A column stays a typed array while every value is exactly an int (or exactly a float)
    and becomes a list of the same Python values otherwise, so the frame built from it is the
    one the rows would give.

    Rows wait in a short buffer and move into the columns a chunk at a time (transposed and
    type-checked in C), which costs far less per row than sorting each value into its column.
    """

    CHUNK = 2048

    def __init__(self, names: tuple[str, ...], missing: Any = None) -> None:
        self.count = 0
        self.fixed = names
        self.missing = missing
        """What a row lacking an extra field holds there (None; the events table has NaN, as a frame of dicts does)."""
        self.columns: dict[str, array[Any] | list[Any]] = {name: [] for name in names}
        self._rows: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def __len__(self) -> int:
        """Rows so far."""
        return self.count + len(self._rows)

    def append(self, values: tuple[Any, ...], extra: dict[str, Any]) -> None:
        """Add one row: the fixed columns in order, then any named extra fields."""
        rows = self._rows
        rows.append((values, extra))
        if len(rows) >= self.CHUNK:
            self._flush()

    def _flush(self) -> None:
        rows, self._rows = self._rows, []
        if not rows:
            return
        start, missing = self.count, self.missing
        # Split and looked through with C maps (a generator would run a Python frame per row).
        extras_of = list(map(_second, rows))
        # The extra fields of the chunk, in order of first appearance; rows mostly share one set.
        keysets = dict.fromkeys(map(tuple, extras_of))
        extras: dict[str, None] = {}
        for keys in keysets:
            extras.update(dict.fromkeys(keys))
        fixed = self.fixed
        clashes = [name for name in extras if name in fixed]
        for name, values in zip(fixed, zip(*map(_first, rows), strict=True), strict=False):
            if name in clashes:  # an extra field named as a fixed column replaces it, as in a row dict
                values = [extra.get(name, value) for value, extra in zip(values, extras_of, strict=True)]
            self._extend(name, values, start)
        if len(keysets) == 1 and not clashes:
            # Every row has the same fields in the same order (a protocol's decisions, say): their
            # values line up, so the chunk's extra columns are one transposition, as the fixed ones.
            for name, values in zip(extras, zip(*map(dict.values, extras_of), strict=True), strict=True):
                self._extend(name, values, start)
        else:
            for name in extras:
                if name not in clashes:
                    self._extend(name, [extra.get(name, missing) for extra in extras_of], start)
        self.count = start + len(rows)
        for name, column in self.columns.items():
            if len(column) < self.count:  # an extra field absent from this whole chunk
                self._extend(name, [missing] * (self.count - len(column)), len(column))

    def _extend(self, name: str, values: Any, start: int) -> None:
        """Add `values` (rows `start` on) to a column, keeping it typed only while every value is exactly one number type."""
        column = self.columns.get(name)
        if column is None:
            column = self.columns[name] = [self.missing] * start  # absent from earlier rows
        kinds = set(map(type, values))
        kind = next(iter(kinds)) if len(kinds) == 1 else None
        if isinstance(column, array):
            if (kind is int and column.typecode == "q") or (kind is float and column.typecode == "d"):
                size = len(column)
                try:
                    column.extend(values)
                    return
                except OverflowError:  # an int beyond 64 bits: the column holds Python ints from now on
                    del column[size:]  # what went in before the big one
            column = self.columns[name] = list(column)
        elif not column and start == 0 and (kind is int or kind is float):
            try:
                self.columns[name] = array("q" if kind is int else "d", values)
                return
            except OverflowError:
                pass
        column.extend(values)

    def records_frame(self, fixed: tuple[str, ...]) -> pd.DataFrame:
        """The rows as the DataFrame pandas makes of one record per row (the events table's contract).

        A frame of records infers each column's type as a whole, where `frame` infers a Series per
        column: the two differ for None beside numbers (object there, float here). The rows go to
        pandas as tuples, zipped from the columns in C, which costs about half of a dict per row.
        """
        import pandas as pd

        self._flush()
        names = [*fixed, *sorted(set(self.columns) - set(fixed))]
        columns = [self.columns.pop(name) for name in names]
        self.count = 0
        return pd.DataFrame.from_records(list(zip(*columns, strict=True)), columns=names)

    def frame(self, fixed: tuple[str, ...]) -> pd.DataFrame:
        """The rows as a DataFrame: the fixed columns, then the extra ones sorted by name.

        The rows are handed over, not copied: a number column becomes the frame's own (a view of
        the typed array, which the frame keeps alive), a text column is converted and its list
        dropped at once. Afterwards these Columns are empty, so the journal is never held twice.
        """
        import pandas as pd

        self._flush()
        names = [*fixed, *sorted(set(self.columns) - set(fixed))]
        data: dict[str, Any] = {}
        for name in names:
            column = self.columns.pop(name)
            if isinstance(column, array):
                data[name] = np.frombuffer(column, dtype=np.int64 if column.typecode == "q" else np.float64)
            else:
                # The frame's own array; the list goes now. An empty one is left to the frame, whose
                # inference for no values differs from a Series'.
                data[name] = pd.Series(column) if column else column
            del column
        self.count = 0
        # copy=False: each column stays its own block instead of being consolidated (copied) into one.
        return pd.DataFrame(data, columns=names, copy=False)


class Recorder:
    """Collects what happens during a run; protocols reach it only through their Context.

    Args:
        trace: keep the full message journal.
        pairs: count messages per (type, src, dst); when False, per (type, src) with dst '*'.

    """

    def __init__(self, trace: bool = False, pairs: bool = True) -> None:
        self.trace_on = trace
        self.pairs = pairs
        self.counts: dict[tuple[str, str, str], list[int]] = {}  # count rows, by (type, src, dst)
        self.trace: list[tuple[float, float, str, str, str, int, str]] = []
        self.decisions = Columns(DECISION_COLUMNS)
        self.events = Columns(EVENT_COLUMNS, missing=float("nan"))
        self.requests: dict[str, list[Any]] = {}
        self.counters: dict[str, int] = {}

    # Sent and delivered messages are counted in `counts` by the network itself, inline on its
    # hot path; drops are rarer and come through here. A message counts as delivered from the
    # moment it is sent until it is lost, so `delivered` is final only once the run has stopped
    # (`Simulation.stop`); read mid-run (a progress callback), it includes what is in flight.
    def dropped(self, kind: str, src: str, dst: str, reason: str, sent_at: float) -> None:
        """A message was lost (loss, partition, or its receiver crashed)."""
        key = (kind, src, dst if self.pairs else "*")
        row = self.counts.get(key)
        if row is None:  # the network counts a message as sent before it can drop it; keep the row whole anyway
            row = count_row(self.counts, key)
            row[SENT] = 1
        row[DROPPED] += 1
        if self.trace_on:
            self.trace.append((sent_at, float("nan"), src, dst, kind, 0, reason))

    def count(self, counter: str, amount: int = 1) -> None:
        """Bump a named counter (e.g. forged_rejected)."""
        self.counters[counter] = self.counters.get(counter, 0) + amount

    def decision(self, time_ms: float, node: str, slot: int | str, value: str, incarnation: int, fields: dict[str, Any]) -> None:
        """A node decided `value` for `slot`."""
        self.decisions.append((time_ms, node, slot, value, incarnation), fields)

    def event(self, time_ms: float, node: str, kind: str, fields: dict[str, Any]) -> None:
        """Something worth a row: an election, a crash, a view change..."""
        self.events.append((time_ms, node, kind), fields)

    def request_submitted(self, cmd_id: str, client: str, time_ms: float) -> None:
        """A client issued a command."""
        self.requests[cmd_id] = [cmd_id, client, time_ms, float("nan"), 0]

    def request_done(self, cmd_id: str, time_ms: float) -> None:
        """A client got its answer (the first time only)."""
        row = self.requests.get(cmd_id)
        if row is not None and row[3] != row[3]:  # NaN: not done yet
            row[3] = time_ms

    def request_retry(self, cmd_id: str) -> None:
        """A client timed out waiting for `cmd_id` and sent it again."""
        row = self.requests.get(cmd_id)
        if row is not None:
            row[4] += 1


def _frame(rows: list[dict[str, Any]], fixed: tuple[str, ...]) -> pd.DataFrame:
    import pandas as pd

    extra = sorted({key for row in rows for key in row} - set(fixed))
    frame = pd.DataFrame(rows, columns=[*fixed, *extra])
    return frame


@dataclass
class RunTables:
    """The tables of one run, as DataFrames with snake_case columns and units in the names."""

    decisions: pd.DataFrame
    messages: pd.DataFrame
    events: pd.DataFrame
    requests: pd.DataFrame
    trace: pd.DataFrame | None = None
    counters: dict[str, int] = field(default_factory=dict)
    violations: pd.DataFrame = field(default_factory=lambda: _frame([], VIOLATION_COLUMNS))
    derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """Results derived from the tables that several checkers and summary steps need, each made once (see gossip's `reachable_groups`)."""

    @classmethod
    def from_recorder(cls, rec: Recorder) -> RunTables:
        """Freeze a recorder into tables, sorted so that output order never depends on hashing."""
        import pandas as pd

        decisions = rec.decisions.frame(DECISION_COLUMNS)
        slot = decisions["slot"]
        # Slots of mixed types (ints beside names) become text; only an object column can mix them.
        if slot.dtype == object and slot.map(type).nunique() > 1:
            decisions["slot"] = slot.astype(str)
        messages = messages_frame(rec.counts)
        events = rec.events.records_frame(EVENT_COLUMNS)
        rows = list(rec.requests.values())
        if rows:
            # Column by column (each inferred as the rows would be), never a second list per row.
            requests = pd.DataFrame({name: pd.Series([row[i] for row in rows]) for i, name in enumerate(REQUEST_COLUMNS[:4])}, copy=False)
        else:
            requests = pd.DataFrame([], columns=list(REQUEST_COLUMNS[:4]))
        requests["latency_ms"] = requests["done_ms"] - requests["submit_ms"]
        requests["retries"] = pd.Series([row[4] for row in rows], dtype="int64")
        trace = pd.DataFrame(rec.trace, columns=TRACE_COLUMNS) if rec.trace_on else None
        return cls(decisions, messages, events, requests, trace, dict(sorted(rec.counters.items())))

    def digest(self) -> str:
        """A hash of every table: equal for equal runs (the journal hash of the design)."""
        import pandas as pd

        h = hashlib.sha256()
        for frame in (self.decisions, self.messages, self.events, self.requests, self.violations, self.trace):
            if frame is not None:
                h.update(repr(list(frame.columns)).encode())
                # Mixed-type object columns (None beside numbers) hash as their text form. A text
                # column of a long table is hashed as a categorical, which gives each row the same
                # hash as its text but makes a Python string only per distinct value, not per row (a
                # million rows); below that, the cast costs more than it saves (x2 on a short run).
                # The other columns are hashed where they are, not copied.
                categorize = len(frame) >= CATEGORIZE_ROWS
                texts = {
                    name: frame[name].astype(str) if frame[name].dtype == object else frame[name].astype("category")
                    for name in frame.columns
                    if frame[name].dtype == object or (categorize and isinstance(frame[name].dtype, pd.StringDtype))
                }
                hashable = frame.assign(**texts) if texts else frame
                h.update(pd.util.hash_pandas_object(hashable, index=False).to_numpy().tobytes())
        h.update(repr(self.counters).encode())
        return h.hexdigest()


def messages_frame(counts: dict[tuple[str, str, str], list[int]]) -> pd.DataFrame:
    """The messages table: one row per count row, sorted by (type, src, dst).

    Sorted as keys and built column by column: at 100 nodes there are ~20,000 pair rows, and a
    frame of row tuples sorted on three text columns took three times as long.
    """
    import pandas as pd

    keys = sorted(counts)
    names = list(zip(*keys, strict=True)) if keys else [(), (), ()]
    values = np.array([counts[key] for key in keys], dtype=np.int64).reshape(len(keys), 4)
    columns: dict[str, Any] = {name: pd.Series(names[i]) for i, name in enumerate(MESSAGE_COLUMNS[:3])}
    columns.update({name: values[:, i] for i, name in enumerate(MESSAGE_COLUMNS[3:])})
    return pd.DataFrame(columns)


@contextmanager
def system_allocator_for_arrow() -> Iterator[None]:
    """Let pyarrow allocate from the C heap (malloc) inside the block, then restore its pool.

    Text columns are Arrow arrays, and the tables, checkers and summary make many short-lived ones.
    Arrow's default pool (mimalloc) keeps each thread's freed segments for reuse, which on a 1200 s
    Raft run held 25-60 MB more at the peak than malloc does (benchmarks/raft_recovery.py). Buffers
    remember the pool they came from, so switching back afterwards is safe; results are unchanged.
    """
    import pyarrow  # pandas has loaded it already

    previous = pyarrow.default_memory_pool()
    pyarrow.set_memory_pool(pyarrow.system_memory_pool())
    try:
        yield
    finally:
        pyarrow.set_memory_pool(previous)


def release_memory() -> None:
    """Give pyarrow's freed memory back to the system.

    pandas keeps text columns in Arrow arrays, and the checkers' temporary ones are allocated from
    Arrow's own pool, which keeps freed pages for reuse: after checking a long run that was ~200 MB
    held and never used again. Nothing computed depends on it.
    """
    import pyarrow  # pandas has loaded it already

    pyarrow.default_memory_pool().release_unused()
    # The C heap likewise keeps what the freed tables and simulation used; glibc can hand it back.
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def percentiles(values: pd.Series | np.ndarray, prefix: str, qs: tuple[int, ...] = (50, 95, 99)) -> dict[str, float | None]:
    """`{prefix}_p50`... and `{prefix}_mean` of the values (None when there are none)."""
    arr = np.asarray(values, dtype=float)
    arr = arr[~np.isnan(arr)]
    out: dict[str, float | None] = {}
    for q in qs:
        out[f"{prefix}_p{q}"] = round(float(np.percentile(arr, q)), 6) if arr.size else None
    out[f"{prefix}_mean"] = round(float(arr.mean()), 6) if arr.size else None
    return out

"""The lean tables path: the journal is handed over, not copied; the checkers and the digest give
what they gave when they copied (issue 8: a 1200 s Raft run within 300 MB)."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from sim import records
from sim.checkers.agreement import first_conflicts
from sim.records import DECISION_COLUMNS, Columns, Recorder, RunTables


def test_columns_hand_their_rows_to_the_frame_and_keep_none() -> None:
    """Building the frame empties the journal's columns (they are not held twice), and the frame
    has the rows, numbers as numbers, text as text, extra fields sorted after the fixed ones."""
    columns = Columns(DECISION_COLUMNS)
    columns.append((1.5, "n0", 1, "c:0", 0), {"term": 2})
    columns.append((2.5, "n1", 2, "c:1", 1), {"term": 3})
    frame = columns.frame(DECISION_COLUMNS)
    assert columns.columns == {} and columns.count == 0
    assert list(frame.columns) == [*DECISION_COLUMNS, "term"]
    assert frame["slot"].tolist() == [1, 2] and frame["slot"].dtype == np.int64
    assert frame["value"].tolist() == ["c:0", "c:1"] and frame["term"].tolist() == [2, 3]


def old_digest(tables: RunTables) -> str:
    """The digest as it was computed before (a converted copy of every frame)."""
    h = hashlib.sha256()
    for frame in (tables.decisions, tables.messages, tables.events, tables.requests, tables.violations, tables.trace):
        if frame is not None:
            h.update(repr(list(frame.columns)).encode())
            hashable = frame.apply(lambda col: col.astype(str) if col.dtype == object else col)
            h.update(pd.util.hash_pandas_object(hashable, index=False).to_numpy().tobytes())
    h.update(repr(tables.counters).encode())
    return h.hexdigest()


def test_the_digest_converts_only_mixed_columns_and_is_unchanged() -> None:
    """Recorded journal hashes stay valid: the digest equals the old one, mixed object columns included."""
    rec = Recorder()
    rec.decision(1.0, "n0", 1, "c:0", 0, {"term": 1, "duplicate": None})
    rec.decision(2.0, "n1", 1, "c:0", 0, {"term": 1, "duplicate": True})
    rec.event(0.5, "n0", "leader", {"term": 1, "extra": 3})
    rec.event(0.7, "n1", "crash", {"was_leader": False})
    rec.request_submitted("c:0", "c", 0)
    rec.request_done("c:0", 2.0)
    tables = RunTables.from_recorder(rec)
    assert tables.decisions["duplicate"].dtype == object  # None beside a flag: the converted case
    assert tables.digest() == old_digest(tables)
    assert tables.requests["submit_ms"].dtype == np.int64  # inferred per column, as the rows gave it


def test_the_digest_of_a_long_table_reads_text_through_a_categorical_and_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above CATEGORIZE_ROWS text columns are hashed as categoricals (less memory): the same journal hash."""
    rec = Recorder()
    for i in range(40):
        rec.decision(float(i), f"n{i % 3}", i, f"c:{i % 7}", 0, {"term": 1, "note": None if i % 5 else "x"})
        rec.event(float(i), f"n{i % 2}", "sent", {"msg": "prepare", "seq": i} if i % 4 else {"term": i})
    tables = RunTables.from_recorder(rec)
    plain = tables.digest()
    monkeypatch.setattr(records, "CATEGORIZE_ROWS", 10)
    assert tables.digest() == plain == old_digest(tables)


def test_first_conflicts_where_limits_the_rows_without_copying_them() -> None:
    """`where` ignores rows; missing keys and values count as groupby counts them (not at all)."""
    rows = pd.DataFrame(
        {
            "time_ms": [1.0, 2.0, 3.0, 4.0, 5.0],
            "node": ["a", "b", "a", "b", None],
            "slot": [1, 1, 2, 2, 2],
            "value": ["x", "y", "z", None, "w"],
        }
    )

    def detail(key: tuple[object, ...], a: pd.Series, b: pd.Series) -> str:
        return f"{key[0]}: {a['value']} {b['value']}"

    everything = first_conflicts(rows, ["slot"], "value", "r", detail)
    assert [v["detail"] for v in everything] == ["1: x y", "2: z nan"]  # a missing value still differs from z
    assert first_conflicts(rows, ["slot"], "value", "r", detail, where=np.array([True, False, True, True, True])) == everything[1:]
    # Slot 2 without the row that says w: z and a missing value are one distinct value, no conflict.
    assert first_conflicts(rows, ["slot"], "value", "r", detail, where=np.array([True, True, True, True, False])) == everything[:1]
    assert first_conflicts(rows, ["node"], "slot", "r", detail) == [
        {"time_ms": 3.0, "nodes": "a,a", "rule": "r", "detail": "a: x z"},
        {"time_ms": 4.0, "nodes": "b,b", "rule": "r", "detail": "b: y nan"},
    ]

"""The journal's column store gives the frame the rows themselves would give, whatever the chunk size; so does the messages table."""

from __future__ import annotations

import random
from array import array
from typing import Any

import pandas as pd
import pytest

from sim.records import MESSAGE_COLUMNS, Columns, messages_frame

FIXED = ("a", "b", "c")


def frame_of_rows(rows: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> pd.DataFrame:
    """The reference: one Python list per column (None where a row lacks an extra field)."""
    extras = sorted({name for _, extra in rows for name in extra})
    data = {name: [values[i] for values, _ in rows] for i, name in enumerate(FIXED)}
    data.update({name: [extra.get(name) for _, extra in rows] for name in extras})
    return pd.DataFrame(data, columns=[*FIXED, *extras])


def draw_rows(rng: random.Random) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Rows whose columns are mostly one type, with the odd value of another (None, a bool, a huge int...)."""
    pools = [lambda: rng.randint(-9, 9), rng.random, lambda: f"s{rng.randint(0, 3)}", lambda: None, lambda: True, lambda: 2**70]
    kinds = [rng.choice(pools[:3]) for _ in FIXED]
    extra_kinds = {name: rng.choice(pools) for name in "xyz"}
    rows = []
    for _ in range(rng.randint(0, 60)):
        values = tuple(kind() if rng.random() > 0.03 else rng.choice(pools)() for kind in kinds)
        extra = {name: kind() for name, kind in extra_kinds.items() if rng.random() < 0.8}
        rows.append((values, extra))
    return rows


@pytest.mark.parametrize("chunk", [1, 3, 16, 2048])
def test_columns_frame_equals_the_rows_frame(chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunked or not, typed or not, the frame matches one built from the rows (values and dtypes)."""
    monkeypatch.setattr(Columns, "CHUNK", chunk)
    rng = random.Random(chunk)
    for _ in range(150):
        rows = draw_rows(rng)
        columns = Columns(FIXED)
        for values, extra in rows:
            columns.append(values, dict(extra))
        assert len(columns) == len(rows)  # flushed chunks and the pending one
        pd.testing.assert_frame_equal(columns.frame(FIXED), frame_of_rows(rows), check_exact=True)


def test_numbers_are_stored_in_typed_arrays_until_another_type_appears(monkeypatch: pytest.MonkeyPatch) -> None:
    """Exact ints and floats take 8 bytes each; one value of another type turns that column into a list."""
    monkeypatch.setattr(Columns, "CHUNK", 4)
    columns = Columns(("t", "n"))
    for i in range(10):
        columns.append((float(i), i), {"k": i})
    columns._flush()  # what frame() does first: the pending chunk goes into the columns
    assert all(isinstance(columns.columns[name], array) for name in ("t", "n", "k"))
    columns.append((10.0, 2**70), {})
    columns._flush()
    assert isinstance(columns.columns["t"], array)
    assert columns.columns["n"] == [*range(10), 2**70] and columns.columns["k"] == [*range(10), None]
    frame = columns.frame(("t", "n"))
    assert frame["n"].tolist() == [*range(10), 2**70] and not columns.columns  # handed over, not kept twice


def frame_of_dicts(rows: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> pd.DataFrame:
    """The events table as it was built before: one dict per row (extra fields update it), read by pandas."""
    dicts = []
    for values, extra in rows:
        row = dict(zip(FIXED, values, strict=True))
        row.update(extra)
        dicts.append(row)
    extras = sorted({key for row in dicts for key in row} - set(FIXED))
    return pd.DataFrame(dicts, columns=[*FIXED, *extras])


@pytest.mark.parametrize("chunk", [1, 5, 2048])
def test_columns_with_nan_for_missing_fields_equal_a_frame_of_row_dicts(chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The events table: NaN where a row lacks a field, and an extra field named as a fixed column replaces it."""
    monkeypatch.setattr(Columns, "CHUNK", chunk)
    rng = random.Random(100 + chunk)
    clashed = 0
    for _ in range(150):
        rows = draw_rows(rng)
        for _, extra in rows:
            if rng.random() < 0.05:
                extra["b"] = rng.choice(["over", 7, None])  # clashes with the fixed column "b"
                clashed += 1
        columns = Columns(FIXED, missing=float("nan"))
        for values, extra in rows:
            columns.append(values, dict(extra))
        pd.testing.assert_frame_equal(columns.records_frame(FIXED), frame_of_dicts(rows), check_exact=True)
    assert clashed


@pytest.mark.parametrize("size", [0, 1, 400])
def test_the_messages_table_is_the_count_rows_sorted_by_type_source_and_destination(size: int) -> None:
    """Built column by column, it equals a frame of the rows sorted by pandas, for any names (text order is code-point order)."""
    rng = random.Random(size)
    names = ["a", "B", "é", "Z", "0", "_", "n1", "n10", "n2", "日本", "ß", "\U0001f600", "a b", "*"]
    counts: dict[tuple[str, str, str], list[int]] = {}
    while len(counts) < size:
        counts[rng.choice(names), rng.choice(names) + rng.choice(names), rng.choice(names)] = [rng.randrange(1000) for _ in range(4)]
    rows = [(*key, *row) for key, row in counts.items()]
    expected = pd.DataFrame(rows, columns=MESSAGE_COLUMNS).sort_values(["type", "src", "dst"], kind="stable").reset_index(drop=True)
    for column in MESSAGE_COLUMNS[3:]:
        expected[column] = expected[column].astype("int64")
    frame = messages_frame(counts)
    assert len(frame) == size
    assert frame.equals(expected)

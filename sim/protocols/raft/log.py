"""Compact, deterministic summaries of a Raft log, used as evidence by the checkers."""

from __future__ import annotations

import zlib

from sim.protocols.raft.messages import Entry


def chain_step(previous: int, entry: Entry) -> int:
    """Extend the CRC chain over a log by one entry (deterministic, unlike `hash`)."""
    return zlib.crc32(f"{entry[0]}:{entry[1]}".encode(), previous)


def term_runs(log: list[Entry]) -> str:
    """Where each term starts in a log, as 'index@term;...' (compact: one item per term)."""
    runs: list[str] = []
    last = -1
    for index in range(1, len(log)):
        term = log[index][0]
        if term != last:
            runs.append(f"{index}@{term}")
            last = term
    return ";".join(runs)

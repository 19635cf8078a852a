"""Raft's log after its snapshot, and compact, deterministic summaries of it for the checkers."""

from __future__ import annotations

import zlib

from sim.protocols.base import NOOP
from sim.protocols.raft.messages import Entry


def chain_step(previous: int, entry: Entry) -> int:
    """Extend the CRC chain over a log by one entry (deterministic, unlike `hash`)."""
    return zlib.crc32(f"{entry[0]}:{entry[1]}".encode(), previous)


class RaftLog:
    """The entries after the last snapshot, addressed by Raft index.

    `entries` is the persisted list (mutated in place, so it is on "disk" at once); its item 0
    is a sentinel holding the term of index `offset`, the snapshot's last included index (0 when
    there is no snapshot). The CRC chain and the command index are volatile, rebuilt on start.

    Args:
        entries: the persisted list, sentinel first.
        offset: the Raft index of the sentinel.
        chain: the CRC chain at `offset`.

    """

    __slots__ = ("chain", "cmd_index", "entries", "last_index", "offset")

    def __init__(self, entries: list[Entry], offset: int = 0, chain: int = 0) -> None:
        self.entries = entries
        self.offset = offset
        self.last_index = offset + len(entries) - 1
        """Index of the last entry (the snapshot's index when none follows it); kept as the log
        changes, since the replication handlers read it several times per message."""
        self.chain: list[int] = [chain]
        self.cmd_index: dict[str, int] = {}
        for position in range(1, len(entries)):
            entry = entries[position]
            self.chain.append(chain_step(self.chain[-1], entry))
            if entry[1] != NOOP:
                self.cmd_index[entry[1]] = offset + position

    @property
    def last_term(self) -> int:
        """Term of the last entry."""
        return self.entries[-1][0]

    def term(self, index: int) -> int | None:
        """The term of the entry at `index`; None when compacted away or beyond the end."""
        position = index - self.offset
        if position < 0 or position >= len(self.entries):
            return None
        return self.entries[position][0]

    def entry(self, index: int) -> Entry:
        """The entry at `index` (which must be retained)."""
        return self.entries[index - self.offset]

    def chain_at(self, index: int) -> int:
        """The CRC chain over the whole log up to `index` (which must be retained)."""
        return self.chain[index - self.offset]

    def slice(self, start: int, count: int) -> tuple[Entry, ...]:
        """Up to `count` entries from `start` on (`start` above the offset)."""
        position = start - self.offset
        return tuple(self.entries[position : position + count])

    def append(self, entry: Entry) -> None:
        """Add an entry at the end."""
        self.entries.append(entry)
        self.last_index += 1
        self.chain.append(chain_step(self.chain[-1], entry))
        if entry[1] != NOOP:
            self.cmd_index[entry[1]] = self.last_index

    def truncate(self, index: int) -> None:
        """Delete the entry at `index` and all that follow it (section 5.3)."""
        self._forget(index, self.last_index)
        del self.entries[index - self.offset :]
        del self.chain[index - self.offset :]
        self.last_index = self.offset + len(self.entries) - 1

    def compact(self, index: int) -> None:
        """Drop every entry up to `index`, which becomes the sentinel (section 7)."""
        self._forget(self.offset + 1, index)
        cut = index - self.offset
        self.entries[0] = (self.entries[cut][0], "")
        del self.entries[1 : cut + 1]
        del self.chain[:cut]
        self.offset = index
        self.last_index = self.offset + len(self.entries) - 1

    def reset(self, index: int, term: int, chain: int) -> None:
        """Discard the whole log: it now starts after a snapshot ending at (index, term)."""
        self.cmd_index.clear()
        self.entries[:] = [(term, "")]
        self.chain = [chain]
        self.offset = self.last_index = index

    def _forget(self, first: int, last: int) -> None:
        for index in range(first, last + 1):
            value = self.entries[index - self.offset][1]
            if self.cmd_index.get(value) == index:
                del self.cmd_index[value]

    def term_runs(self) -> str:
        """Where each term starts in the retained log, as 'index@term;...' (one item per term)."""
        runs: list[str] = []
        last = -1
        for position in range(1, len(self.entries)):
            term = self.entries[position][0]
            if term != last:
                runs.append(f"{self.offset + position}@{term}")
                last = term
        return ";".join(runs)

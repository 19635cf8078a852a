"""Gossip's messages: digests, updates, rumors and feedback, with their sizes on the wire."""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.protocols.base import Message

Entry = tuple[str, int, str, str]
"""(key, version, writer, value): one stored write."""
Stamp = tuple[str, int, str]
"""(key, version, writer): one digest item."""


def newer(version: int, writer: str, than: tuple[int, str] | None) -> bool:
    """Last writer wins: whether (version, writer) beats `than` (a higher version, or the same one by a later writer name).

    The writer breaks ties between concurrent writes of one version; without it two nodes that
    took different writes of one version would each keep their own forever.
    """
    return than is None or (version, writer) > than


def entries_bytes(entries: tuple[Entry, ...]) -> int:
    """Bytes of stored writes on the wire: each key, an 8-byte version, the writer and the value."""
    return sum(len(k) + 8 + len(w) + len(v) for k, _, w, v in entries)


def digest_bytes(stamps: tuple[Stamp, ...] | None) -> int:
    """Bytes of a digest on the wire: each key, an 8-byte version and the writer."""
    return sum(len(k) + 8 + len(w) for k, _, w in stamps) if stamps else 0


@dataclass(frozen=True, slots=True)
class Digest(Message):
    """Anti-entropy: the sender's version of every key it holds."""

    stamps: tuple[Stamp, ...]
    size_bytes: int = field()  # a field with no default (a bare annotation would take Message's property as its default)
    """Header plus the digest, stored: a node sends the same digest every round, and the network
    reads the size on every send (a property would recompute it each time). Make one with `of`."""

    @classmethod
    def of(cls, stamps: tuple[Stamp, ...]) -> Digest:
        """The digest of `stamps`, with its size."""
        return cls(stamps, cls.header_bytes + digest_bytes(stamps))


@dataclass(frozen=True, slots=True)
class Updates(Message):
    """Anti-entropy: values the receiver lacks, and keys the sender wants back."""

    entries: tuple[Entry, ...]
    wants: tuple[str, ...] = ()

    @property
    def size_bytes(self) -> int:
        """Header, values and wanted keys."""
        return self.header_bytes + entries_bytes(self.entries) + sum(len(k) for k in self.wants)


@dataclass(frozen=True, slots=True)
class Rumor(Message):
    """Rumor mongering: hot values; `stamps` asks for the receiver's hot rumors the sender lacks.

    On a reply, `needless` lists the keys of the receiver's rumors the sender already knew.
    """

    entries: tuple[Entry, ...]
    stamps: tuple[Stamp, ...] | None = None
    needless: tuple[str, ...] = ()

    @property
    def size_bytes(self) -> int:
        """Header, values, digest and feedback."""
        return self.header_bytes + entries_bytes(self.entries) + digest_bytes(self.stamps) + sum(len(k) for k in self.needless)


@dataclass(frozen=True, slots=True)
class RumorPoll(Rumor):
    """Pull rumor mongering: a round's request for the receiver's hot rumors, carrying none.

    Its own kind, so that a round's background polling is not counted as spreading a write.
    """


@dataclass(frozen=True, slots=True)
class RumorFeedback(Message):
    """Push rumor mongering with feedback: the pushed keys the receiver already knew."""

    needless: tuple[str, ...]

    @property
    def size_bytes(self) -> int:
        """Header plus keys."""
        return self.header_bytes + sum(len(k) for k in self.needless)

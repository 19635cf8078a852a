"""The handler tables: one dispatch style for every replica (sim/protocols/dispatch.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from sim.protocols.attestation import AttestationProtocol
from sim.protocols.base import Message, Protocol
from sim.protocols.dispatch import Dispatch, handler_table, handles
from sim.protocols.gossip import Gossip
from sim.protocols.hotstuff import HotStuff
from sim.protocols.multipaxos import MultiPaxos
from sim.protocols.pbft import Pbft
from sim.protocols.raft import Raft
from sim.protocols.tendermint import Tendermint
from sim.protocols.voting import Voting

SHIPPED = (AttestationProtocol, Gossip, HotStuff, MultiPaxos, Pbft, Raft, Tendermint, Voting)


@dataclass(frozen=True, slots=True)
class Ping(Message):
    """A test message."""


@dataclass(frozen=True, slots=True)
class Pong(Message):
    """Another."""


@dataclass(frozen=True, slots=True)
class Other(Message):
    """One nobody handles."""


class Base(Dispatch, Protocol):
    """Handles Ping and Pong; logs what it saw."""

    roles = ("a", "b")

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, Any]] = []

    @handles(Ping)
    def on_ping(self, src: str, msg: Ping) -> None:
        self.seen.append(("ping", src, msg))

    @handles(Pong, role="a")
    def on_pong_a(self, src: str, msg: Pong) -> None:
        self.seen.append(("pong-a", src, msg))

    @handles(Pong, Ping, role="b")
    def on_b(self, src: str, msg: Message) -> None:
        self.seen.append(("b", src, msg))


class Override(Base):
    """Overrides a handler without marking it again."""

    def on_ping(self, src: str, msg: Ping) -> None:
        self.seen.append(("override", src, msg))


class Remark(Base):
    """Marks another method for Ping: the more derived mark wins."""

    @handles(Ping)
    def on_ping_again(self, src: str, msg: Ping) -> None:
        self.seen.append(("again", src, msg))


def test_on_message_calls_the_handler_of_the_type_and_ignores_others() -> None:
    """Ping goes to its handler with src and message; a type without a handler does nothing."""
    node = Base()
    node.on_message("n1", Ping())
    node.on_message("n2", Other())
    node.on_message("n3", Pong())  # only role tables handle Pong
    assert node.seen == [("ping", "n1", Ping())]


def test_a_subclass_override_is_dispatched_to_without_a_new_mark() -> None:
    """A broken variant in a test overrides a handler by name; the table of the subclass calls the override."""
    node = Override()
    node.on_message("n1", Ping())
    assert node.seen == [("override", "n1", Ping())]
    assert Base.handlers[Ping] is Base.on_ping and Override.handlers[Ping] is Override.on_ping


def test_the_most_derived_mark_wins() -> None:
    """A subclass marking a new method for a type replaces the inherited handler in its own table only."""
    assert Remark.handlers[Ping] is Remark.on_ping_again
    assert Base.handlers[Ping] is Base.on_ping


def test_role_tables_hold_the_role_marks_over_the_shared_ones() -> None:
    """Role 'a' sees Ping (every role) and its own Pong; role 'b' overrides Ping with its own handler."""
    tables = Base.role_handlers
    assert dict(tables["a"]) == {Ping: Base.on_ping, Pong: Base.on_pong_a}
    assert dict(tables["b"]) == {Ping: Base.on_b, Pong: Base.on_b}
    assert handler_table(Base, "a") == tables["a"]


def test_tables_are_read_only_and_handles_needs_a_type() -> None:
    """No code can patch a class's table at run time; @handles() with no type is a mistake caught at import."""
    with pytest.raises(TypeError):
        Base.handlers[Other] = Base.on_ping  # type: ignore[index]
    with pytest.raises(TypeError):
        handles()


def test_every_shipped_mechanism_dispatches_through_a_table() -> None:
    """One shape for all: each shipped replica is a Dispatch with a handler for some message type."""
    for cls in SHIPPED:
        assert issubclass(cls, Dispatch), cls.__name__
        tables = [cls.handlers, *cls.role_handlers.values()]
        assert any(tables), cls.__name__
        # Only Raft (its term check) and PBFT (retransmission after every handler) wrap the lookup.
        assert "on_message" not in vars(cls) or cls in (Raft, Pbft), cls.__name__

"""Messages are built by a faster `__init__` (sim.protocols.message._slot_init) that behaves as the dataclass's own."""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass, field
from typing import ClassVar

import pytest

from sim.protocols.base import ClientRequest, Message
from sim.protocols.pbft.messages import Commit, Prepare


@dataclass(frozen=True, slots=True)
class Plain(Message):
    """Fields with and without defaults."""

    a: int
    b: str = "x"
    c: tuple[int, ...] = ()

    tag: ClassVar[str] = "plain"


@dataclass(frozen=True, slots=True)
class Factory(Message):
    """A default factory: the dataclass's own `__init__` is kept."""

    items: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Checked(Message):
    """A `__post_init__`: the dataclass's own `__init__` is kept, so it still runs."""

    n: int

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ValueError("negative")


def test_the_fast_init_replaces_the_dataclass_one_where_it_can() -> None:
    """Plain messages (ours and a mechanism's) get it; one with a factory or a __post_init__ keeps the dataclass's."""
    for cls in (Plain, Prepare, Commit, ClientRequest):
        assert cls.__init__.__code__.co_names[0] == "_set0", cls  # each field through its slot's setter
    for cls in (Factory, Checked):  # the frozen dataclass's: object.__setattr__ per field
        assert "_set0" not in cls.__init__.__code__.co_names, cls
    assert Factory().items == [] and Factory().items is not Factory().items
    with pytest.raises(ValueError, match="negative"):
        Checked(-1)


def test_a_fast_built_message_is_the_dataclass_it_was() -> None:
    """Positional, keyword and default arguments; equality, hash, repr, replace, pickle; still frozen."""
    built = Plain(1)
    assert built == Plain(a=1, b="x", c=()) and hash(built) == hash(Plain(1, "x"))
    assert repr(Plain(2, "y", (3,))) == "Plain(a=2, b='y', c=(3,))"
    assert dataclasses.replace(built, b="z") == Plain(1, "z")
    assert pickle.loads(pickle.dumps(built)) == built
    assert Prepare(1, 2, "d") != Commit(1, 2, "d")
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.a = 5  # type: ignore[misc]
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'a'"):
        Plain()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'd'"):
        Plain(1, d=2)  # type: ignore[call-arg]

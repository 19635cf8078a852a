"""One dispatch style for every replica: a handler table per class, from message type to method.

A replica marks each handler with `@handles(MessageType, ...)` and mixes in `Dispatch`; when the
class is created, the marks of every class on its MRO are gathered into `handlers`, a read-only
table {message type: function}, so `on_message` is one dictionary lookup and one call:

    class Echo(Dispatch, Protocol):
        @handles(Ping)
        def on_ping(self, src: str, msg: Ping) -> None: ...

The table holds each handler by its name and looks the name up on the class being built, so a
subclass that overrides a handler (a deliberately broken variant in a test, say) is dispatched
to without marking it again. A message type with no handler is ignored.

A replica whose behaviour depends on its role (Raft's follower, candidate and leader) marks
handlers with `role=`; `role_handlers[role]` is then that role's table: the handlers marked for
the role plus those marked for every role (no `role=`). Those role tables are its step functions,
as `stepLeader`, `stepCandidate` and `stepFollower` are in etcd's raft.go.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

from sim.protocols.base import Message

F = TypeVar("F", bound=Callable[..., Any])

ANY_ROLE = ""
"""The role of a handler marked without `role=`: it is in every role's table."""

_MARK = "__handles__"


def handles(*types: type[Message], role: str | tuple[str, ...] = ANY_ROLE) -> Callable[[F], F]:
    """Mark a method `(self, src, msg)` as the handler of `types` (in `role`, or in every role).

    Raises:
        TypeError: when no message type is given.

    """
    if not types:
        raise TypeError("handles() needs at least one message type")
    roles = (role,) if isinstance(role, str) else role

    def mark(func: F) -> F:
        marks: list[tuple[type[Message], str]] = list(getattr(func, _MARK, ()))
        marks.extend((kind, r) for kind in types for r in roles)
        setattr(func, _MARK, tuple(marks))
        return func

    return mark


def _marks(cls: type) -> dict[tuple[type[Message], str], str]:
    """(message type, role) -> handler name, from every class on the MRO (the most derived mark wins)."""
    names: dict[tuple[type[Message], str], str] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            for key in getattr(value, _MARK, ()):
                names[key] = name
    return names


def handler_table(cls: type, role: str = ANY_ROLE) -> Mapping[type[Message], Callable[..., None]]:
    """The table of `cls` for `role`: handlers marked for every role, then those of `role` over them."""
    table: dict[type[Message], Callable[..., None]] = {}
    marks = _marks(cls)
    for wanted in dict.fromkeys((ANY_ROLE, role)):
        for (kind, marked), name in marks.items():
            if marked == wanted:
                table[kind] = getattr(cls, name)
    return MappingProxyType(table)


class Dispatch:
    """Mixin: `on_message` routes each message through the class's handler table.

    Set `roles` to the names of the protocol's roles to get `role_handlers` as well; a protocol
    with roles writes its own `on_message` (the role check first, then the role's table).
    """

    roles: ClassVar[tuple[str, ...]] = ()
    handlers: ClassVar[Mapping[type[Message], Callable[..., None]]] = MappingProxyType({})
    role_handlers: ClassVar[Mapping[str, Mapping[type[Message], Callable[..., None]]]] = MappingProxyType({})

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.handlers = handler_table(cls)
        cls.role_handlers = MappingProxyType({role: handler_table(cls, role) for role in cls.roles})

    def on_message(self, src: str, msg: Message) -> None:
        """Call the handler of this message's type; ignore a type without one."""
        handler = self.handlers.get(type(msg))
        if handler is not None:
            handler(self, src, msg)

"""Protocol messages: the frozen `Message` base every mechanism's messages extend, and the client's two.

Part of the mechanism API (`sim.protocols.base` exports these names too). A message is built for
almost every send, so its construction and its size are kept cheap here (`_slot_init`,
`size_bytes` as a class constant when it is the header alone).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar


class Command(str):
    """A command id whose command carries a payload of `payload` bytes (e.g. a model manifest).

    It compares, hashes and prints as its id, so it goes wherever an id goes (a log entry, a
    decision, a request table); a message that carries the command itself (Raft's AppendEntries,
    Multi-Paxos's Accept, PBFT's request in a PrePrepare, a ClientRequest) adds `payload_bytes`.
    """

    payload: int

    def __new__(cls, value: str, payload: int) -> Command:  # noqa: D102 - the id and the payload's size
        self = super().__new__(cls, value)
        self.payload = payload
        return self

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        """Pickles (a sweep's workers, a deep copy) keep the payload."""
        return (Command, (str(self), self.payload))


def payload_bytes(value: str) -> int:
    """The payload a command id carries (a `Command`'s), 0 for a plain id or value."""
    return value.payload if type(value) is Command else 0


def snake_case(name: str) -> str:
    """`AppendEntries` -> `append_entries`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _slot_init(cls: type) -> Any:
    """A faster `__init__` for a frozen slots dataclass: the same parameters, each stored straight into its slot.

    A frozen dataclass's own `__init__` stores each field with `object.__setattr__`, looked up
    afresh per field, to get past the `__setattr__` that makes it frozen; a message is built for
    almost every send, and that cost twice a plain class's. This one calls each slot's setter
    directly, so the instance is as frozen as before (assignment still raises). None (keep the
    dataclass's) for anything beyond plain fields with plain defaults: a `__post_init__`,
    default factories, keyword-only or init=False fields, InitVars.
    """
    import inspect
    from dataclasses import MISSING, fields
    from types import MemberDescriptorType

    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    if not params.frozen or hasattr(cls, "__post_init__"):
        return None
    own = fields(cls)
    expected = [name for name in inspect.signature(cls.__init__).parameters][1:]  # type: ignore[misc]
    if expected != [f.name for f in own]:
        return None  # InitVars or init=False fields
    names: dict[str, Any] = {}
    args, body = [], []
    for i, f in enumerate(own):
        if f.kw_only or f.default_factory is not MISSING:
            return None
        slot = next((klass.__dict__[f.name] for klass in cls.__mro__ if f.name in klass.__dict__), None)
        if type(slot) is not MemberDescriptorType:
            return None
        names[f"_set{i}"] = slot.__set__
        if f.default is MISSING:
            args.append(f.name)
        else:
            names[f"_default{i}"] = f.default
            args.append(f"{f.name}=_default{i}")
        body.append(f"    _set{i}(self, {f.name})")
    source = f"def __init__(self, {', '.join(args)}):\n" + ("\n".join(body) or "    pass") + "\n"
    exec(source, names)  # noqa: S102 - code built from the field names alone, as dataclasses does
    init = names["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


SIGNATURE_BYTES = 64
"""Bytes of one signature (Ed25519) on a message that carries one (a signed ballot, an attestation)."""


@dataclass(frozen=True, slots=True)
class Message:
    """Base of every protocol message: small, frozen, with a snake_case `kind` and a size."""

    kind: ClassVar[str] = "message"
    header_bytes: ClassVar[int] = 48
    signatures: ClassVar[int] = 1
    """Signatures the receiver checks: `crypto.verify` is charged this many times.

    One, the sender's, unless the message carries others' signed messages, which the receiver
    checks too: a class whose messages do reports them all with a property (a Tendermint relay or
    sync reply, a PBFT view-change or new-view with their certificates). A threshold or aggregate
    signature (HotStuff's QC) is one signature, however many signers it stands for.
    """
    _header_sized: ClassVar[bool] = True
    """Whether this class's size is its header alone (then `size_bytes` is a class constant)."""

    def __init_subclass__(cls) -> None:
        # No super() call: dataclass(slots=True) rebuilds the class, which breaks the zero-arg form.
        if "kind" not in cls.__dict__:
            cls.kind = snake_case(cls.__name__)
        # A message whose size does not depend on its fields has it as a class constant: the
        # network reads `size_bytes` on every send, and a property costs a call each time.
        # A class that defines its own `size_bytes` (a property or a constant) keeps it.
        if "_header_sized" not in cls.__dict__:
            cls._header_sized = "size_bytes" not in cls.__dict__ and cls._header_sized
            if cls._header_sized:
                cls.size_bytes = cls.header_bytes  # type: ignore[assignment,misc]
        if "__slots__" in cls.__dict__ and "__dataclass_fields__" in cls.__dict__:  # dataclass(slots=True) rebuilding it
            init = _slot_init(cls)
            if init is not None:
                cls.__init__ = init  # type: ignore[method-assign]

    @property
    def size_bytes(self) -> int:
        """Bytes on the wire; subclasses with payloads add to the header (a constant when it is the header alone)."""
        return self.header_bytes


@dataclass(frozen=True, slots=True)
class ClientRequest(Message):
    """A client's command; `cmd_id` is unique so a replica never applies it twice."""

    client: str
    cmd_id: str
    op: str = ""
    floor: int = -1
    """The lowest sequence number of this client's commands still unanswered (Raft's client
    sessions, thesis section 6.3); -1 when the client does not say (then it costs no bytes)."""

    kind: ClassVar[str] = "client_request"

    @property
    def size_bytes(self) -> int:
        """Header plus the command (and its payload, and the floor when sent)."""
        return self.header_bytes + len(self.cmd_id) + len(self.op) + payload_bytes(self.cmd_id) + (8 if self.floor >= 0 else 0)


@dataclass(frozen=True, slots=True)
class ClientReply(Message):
    """A replica's answer: done, or not the leader (with a hint where to go)."""

    cmd_id: str
    ok: bool
    leader: str | None = None
    result: str = ""

    kind: ClassVar[str] = "client_reply"

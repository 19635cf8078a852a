"""Client sessions (Raft thesis section 6.3): how the state machine knows a command was applied.

Every command id is `client:seq` (sim/workload.py numbers commands with one counter, so a
client's sequence numbers increase but skip). A client may have many commands outstanding (an
open loop), so as the thesis describes for concurrent requests a session is not only the
highest number applied: it is the set of numbers applied at or above the client's *floor*, the
lowest number the client has not yet had an answer for. The client puts its floor in each
request (`ClientRequest.floor`); the leader puts it in the log entry beside the command, so every
server's state machine learns it in the same order and forgets the same numbers. A number below
the floor was answered, hence applied: a late copy of it is a duplicate. So the state, and the
snapshot, is O(clients + commands outstanding), not O(commands applied).

The thesis's session also keeps each command's reply, to answer a duplicate with it; a reply
here carries no result (`ClientReply.result` is empty), so there is nothing to keep. Sessions
never expire: the simulated clients live as long as the run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.protocols.base import NOOP, ClientRequest
from sim.protocols.raft.messages import Entry

if TYPE_CHECKING:
    from collections.abc import Iterable

SessionRow = tuple[str, int, tuple[int, ...]]
"""A session as a snapshot holds it: (client, floor, applied numbers at or above the floor, ascending)."""


def split_id(cmd: str) -> tuple[str, int] | None:
    """(client, seq) of a command id `client:seq`; None for an id of another form."""
    client, sep, seq = cmd.rpartition(":")
    if not sep or not seq.isdigit():
        return None
    return client, int(seq)


class Session:
    """One client's session: its floor and the numbers applied at or above it."""

    __slots__ = ("done", "floor", "limit")

    def __init__(self, floor: int = 0, done: Iterable[int] = ()) -> None:
        self.floor = floor
        self.done: set[int] = set(done)
        self.limit = 2 * len(self.done) + 32  # prune when `done` outgrows this (amortised O(1))

    def prune(self) -> None:
        """Forget the numbers below the floor (a request for one of them is a duplicate anyway)."""
        floor = self.floor
        self.done = {seq for seq in self.done if seq >= floor}
        self.limit = 2 * len(self.done) + 32


class Sessions:
    """Every client's session, plus command ids not of the form `client:seq` (remembered whole).

    Args:
        rows: sessions as a snapshot holds them.
        loose: applied ids of another form (only hand-built tests send such ids).

    """

    __slots__ = ("clients", "loose")

    def __init__(self, rows: Iterable[SessionRow] = (), loose: Iterable[str] = ()) -> None:
        self.clients: dict[str, Session] = {client: Session(floor, done) for client, floor, done in rows}
        self.loose: set[str] = set(loose)

    def applied(self, cmd: str) -> bool:
        """Whether `cmd` was applied (exactly: below a floor means answered, hence applied)."""
        key = split_id(cmd)
        if key is None:
            return cmd in self.loose
        session = self.clients.get(key[0])
        return session is not None and (key[1] < session.floor or key[1] in session.done)

    def apply(self, entry: Entry) -> None:
        """Apply a committed entry: record its command, and the client's floor if it carries one."""
        cmd = entry[1]
        if cmd == NOOP:
            return
        key = split_id(cmd)
        if key is None:
            self.loose.add(cmd)
            return
        client, seq = key
        session = self.clients.get(client)
        if session is None:
            session = self.clients[client] = Session()
        session.done.add(seq)
        if len(entry) > 2 and entry[2] > session.floor:  # type: ignore[misc]
            session.floor = entry[2]  # type: ignore[misc]
            if len(session.done) > session.limit:
                session.prune()

    def rows(self) -> tuple[SessionRow, ...]:
        """The sessions for a snapshot: immutable, sorted by client, nothing below a floor."""
        out: list[SessionRow] = []
        for client in sorted(self.clients):
            session = self.clients[client]
            session.prune()
            out.append((client, session.floor, tuple(sorted(session.done))))
        return tuple(out)


def request_entry(term: int, request: ClientRequest) -> Entry:
    """The log entry for a client's command: with the client's floor when it sent one for its own id."""
    key = split_id(request.cmd_id)
    if request.floor < 0 or key is None or key[0] != request.client:
        return (term, request.cmd_id)
    return (term, request.cmd_id, request.floor)  # type: ignore[return-value]

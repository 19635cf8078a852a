"""Raft's client: the leader-following client, telling the cluster its session floor with every request."""

from __future__ import annotations

from sim.protocols.base import ClientRequest
from sim.protocols.raft.session import split_id
from sim.workload import LeaderClient


class SessionClient(LeaderClient):
    """A `LeaderClient` whose requests carry its floor: the lowest of its commands still unanswered."""

    def _send(self, cmd_id: str, op: str, target: str, silences: int = 0) -> None:
        self.pending[cmd_id] = (op, target, silences)
        # `pending` keeps submission order (a re-send reassigns its key in place) and numbers grow
        # with submission, so its first key is the lowest command still unanswered.
        first = split_id(next(iter(self.pending)))
        floor = first[1] if first is not None else -1
        self.ctx.send(target, ClientRequest(self.ctx.name, cmd_id, op, floor))
        self.arm(cmd_id)

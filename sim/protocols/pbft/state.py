"""A PBFT replica's state, and the part of it a replica finds on stable storage after a crash.

The whole `ReplicaState` lives in `ctx.storage` while the replica runs (memory and disk, written
through); a crash keeps only what `ReplicaState.after_crash` reads back, which is what Castro's
replicas keep on stable storage:

- the view, and whether it was waiting for a new view; the view-changes it sent and the new-view
  it issued as primary;
- the messages it sent in the normal case: the pre-prepares it issued or accepted (each with its
  request) and its own prepares and commits, so that it never contradicts itself after a reboot;
  its prepared certificates (the P of its next view-change), and at the primary the sequence
  numbers it assigned;
- its last stable checkpoint with the proof C, and the service state (with the reply cache) as
  of the last checkpoint it took itself.

Everything received and not yet stable is volatile: other replicas' prepares, commits,
checkpoints and view-changes, the committed-local queue, execution past its last checkpoint,
the requests it waits for, early messages of future views, the timers and their backoff. A
recovered replica gets them back as any lagging one does: its status makes peers re-send what it
lacks, and state transfer fetches what was truncated everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.protocols.base import NOOP
from sim.protocols.pbft.messages import Checkpoint, NewView, PreparedCert, Request, ViewChange, next_state_digest

GENESIS = "genesis"
"""The state digest before any request is executed."""


@dataclass
class Slot:
    """What a replica logged for one (view, sequence number)."""

    digest: str | None = None
    """The digest of the accepted pre-prepare (None until one is accepted)."""
    request: Request | None = None
    prepares: dict[str, str] = field(default_factory=dict)
    """Sender -> digest of its prepare (the replica's own included when it is a backup)."""
    prepare_votes: dict[str, int] = field(default_factory=dict)
    commits: dict[str, str] = field(default_factory=dict)
    commit_votes: dict[str, int] = field(default_factory=dict)
    prepared: bool = False
    committed: bool = False

    def own_part(self, me: str) -> Slot | None:
        """What of this slot is on `me`'s disk: the accepted pre-prepare and its own votes (None: nothing)."""
        prepares = {me: self.prepares[me]} if me in self.prepares else {}
        commits = {me: self.commits[me]} if me in self.commits else {}
        if self.digest is None and not prepares and not commits:
            return None
        return Slot(
            self.digest,
            self.request,
            prepares,
            {d: 1 for d in prepares.values()},
            commits,
            {d: 1 for d in commits.values()},
        )


@dataclass
class ReplicaState:
    """Everything a replica knows; the protocol object is only a view of this."""

    view: int = 0
    active: bool = True
    """False between sending a view-change for `view` and accepting its new-view."""
    log: dict[tuple[int, int], Slot] = field(default_factory=dict)
    next_seq: int = 1
    assigned: dict[str, int] = field(default_factory=dict)
    """At the primary: cmd_id -> sequence number assigned in the current view."""
    last_exec: int = 0
    state: str = GENESIS
    h: int = 0
    """Low watermark: the sequence number of the last stable checkpoint."""
    stable_state: str = GENESIS
    stable_proof: tuple[tuple[str, Checkpoint], ...] = ()
    checkpoints: dict[int, dict[str, str]] = field(default_factory=dict)
    certs: dict[int, PreparedCert] = field(default_factory=dict)
    """Sequence number -> the prepared certificate of the highest view (for view changes)."""
    committed: dict[int, tuple[str, Request | None, int]] = field(default_factory=dict)
    """Committed-local but not yet executed: seq -> (digest, request, view)."""
    history: dict[int, tuple[Request | None, int]] = field(default_factory=dict)
    """Executed seq -> (request, view): answers the fetches of lagging replicas."""
    executed: dict[str, str] = field(default_factory=dict)
    """cmd_id -> result: the last reply of each executed request (answers retransmissions)."""
    waiting: dict[str, Request] = field(default_factory=dict)
    """Requests known to this replica and not yet executed, in arrival order."""
    view_changes: dict[int, dict[str, ViewChange]] = field(default_factory=dict)
    own_view_changes: dict[int, ViewChange] = field(default_factory=dict)
    """The view-changes this replica sent for views it has not entered yet, the older ones too: a
    peer still collecting a quorum for a view we passed through gets ours again when it asks."""
    new_view: NewView | None = None
    backoff: int = 1
    future: list[tuple[str, object]] = field(default_factory=list)
    """Normal-case messages of a view this replica has not entered yet (replayed on entry)."""

    def after_crash(self, me: str, interval: int) -> ReplicaState:
        """What replica `me` reads back from stable storage after a crash (see the module docstring)."""
        # The service state as of the replica's own last checkpoint, rebuilt as `Pbft.apply` built it.
        upto = self.last_exec - self.last_exec % interval
        state, executed = GENESIS, {}
        for seq in range(1, upto + 1):
            req, _ = self.history[seq]
            state = next_state_digest(state, seq, NOOP if req is None else req.cmd_id)
            if req is not None and req.cmd_id not in executed:
                executed[req.cmd_id] = state
        log = {key: part for key, slot in self.log.items() if (part := slot.own_part(me)) is not None}
        checkpoints = {seq: {me: votes[me]} for seq, votes in self.checkpoints.items() if me in votes and seq <= upto}
        return ReplicaState(
            view=self.view,
            active=self.active,
            log=log,
            next_seq=self.next_seq,
            assigned=dict(self.assigned),
            last_exec=upto,
            state=state,
            h=self.h,
            stable_state=self.stable_state,
            stable_proof=self.stable_proof,
            checkpoints=checkpoints,
            certs=dict(self.certs),
            history={seq: self.history[seq] for seq in range(1, upto + 1)},
            executed=executed,
            view_changes={v: {me: vc} for v, vc in self.own_view_changes.items() if v >= self.view},
            own_view_changes=dict(self.own_view_changes),
            new_view=self.new_view,
        )

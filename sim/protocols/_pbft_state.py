"""A PBFT replica's state, kept in `ctx.storage` so that a recovered replica resumes from it."""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.protocols._pbft_messages import Checkpoint, NewView, PreparedCert, Request, ViewChange

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

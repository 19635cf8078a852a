"""The leader's flow control toward one follower, as etcd/raft's `tracker.Progress`.

A follower is in one of three states:

- probe: the leader does not know where the follower's log ends; it sends one AppendEntries and
  waits for the answer (or the next heartbeat) before sending another, backing `next` up on
  each rejection.
- replicate: the follower is known to match up to `match`; the leader streams entries
  optimistically, advancing `next` as it sends, with at most `max_inflight` AppendEntries
  carrying entries unacknowledged. A loss drops it back to probe at `match + 1`, so one loss
  costs a round trip or two, not the rest of the run.
- snapshot: the entries the follower needs are compacted away; an InstallSnapshot is on its way
  and nothing else is sent until it is acknowledged (or deemed lost).

A rejection in the replicate state (a lost message, or one overtaken on a reordering network)
drops back to probe. A loss at the tail, with nothing sent after it to be rejected, is caught
at a heartbeat: `match` has not moved for a whole heartbeat interval while messages are in
flight. (etcd instead answers each heartbeat response with an append at `next`, which on this
network, unlike etcd's TCP, would often overtake the messages in flight and be rejected.)
"""

from __future__ import annotations

from collections import deque

PROBE, REPLICATE, SNAPSHOT = "probe", "replicate", "snapshot"


class Progress:
    """What the leader knows of one follower's log, and how much it may send it now.

    Args:
        next_index: the first index to send.
        max_inflight: the window of AppendEntries in flight in the replicate state.

    """

    __slots__ = ("inflight", "match", "max_inflight", "next", "paused", "pending_snapshot", "snapshot_sent_at", "state", "tick_match")

    def __init__(self, next_index: int, max_inflight: int) -> None:
        self.match = 0
        self.next = next_index
        self.state = PROBE
        self.paused = False
        self.max_inflight = max_inflight
        self.inflight: deque[int] = deque()  # last index of each AppendEntries in flight, oldest first
        self.pending_snapshot = 0
        self.snapshot_sent_at = 0.0
        self.tick_match = -1  # `match` at the previous heartbeat

    def become_probe(self) -> None:
        """Back to probing, from just after what is known to match (or the snapshot sent)."""
        if self.state == SNAPSHOT:
            self.next = max(self.match + 1, self.pending_snapshot + 1)
        else:
            self.next = self.match + 1
        self.state = PROBE
        self.paused = False
        self.pending_snapshot = 0
        self.inflight.clear()

    def become_replicate(self) -> None:
        """Stream from just after `match`."""
        self.state = REPLICATE
        self.next = self.match + 1
        self.paused = False
        self.inflight.clear()

    def become_snapshot(self, index: int, now: float) -> None:
        """A snapshot up to `index` was sent at `now`; wait for it."""
        self.state = SNAPSHOT
        self.pending_snapshot = index
        self.snapshot_sent_at = now
        self.inflight.clear()

    def is_paused(self) -> bool:
        """Whether the leader must not send this follower more entries now."""
        if self.state == REPLICATE:
            return len(self.inflight) >= self.max_inflight
        return self.paused if self.state == PROBE else True

    def sent_entries(self, last: int) -> None:
        """An AppendEntries carrying entries up to `last` left."""
        if self.state == REPLICATE:
            self.next = last + 1
            self.inflight.append(last)
        elif self.state == PROBE:
            self.paused = True

    def maybe_update(self, index: int) -> bool:
        """The follower matches up to `index`; True when that is news."""
        updated = index > self.match
        if updated:
            self.match = index
            self.paused = False
        self.next = max(self.next, index + 1)
        return updated

    def acknowledged(self, index: int) -> None:
        """Free the window slots of every AppendEntries up to `index`."""
        inflight = self.inflight
        while inflight and inflight[0] <= index:
            inflight.popleft()

    def maybe_decrease(self, rejected: int, hint: int) -> bool:
        """The follower rejected prev_log_index `rejected`; back up unless the rejection is stale."""
        if self.state == REPLICATE:
            if rejected <= self.match:
                return False  # an old message: the follower has since matched beyond it
            self.next = self.match + 1
            return True
        if self.state == SNAPSHOT or self.next - 1 != rejected:
            return False  # not the answer to the probe now outstanding
        self.next = max(min(rejected, hint), self.match + 1, 1)
        self.paused = False
        return True

    def stalled(self) -> bool:
        """At a heartbeat: in replicate, nothing acknowledged for an interval with messages in flight.

        That means one was lost. Remembers `match` for the next heartbeat.
        """
        stalled = self.state == REPLICATE and bool(self.inflight) and self.match == self.tick_match
        self.tick_match = self.match
        return stalled

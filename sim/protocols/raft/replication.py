"""Raft's log replication (section 5.3), the commit rule (5.4.2), and snapshots (section 7).

The leader paces each follower with a `Progress` (probe / replicate / snapshot, as etcd/raft).
The state machine is the client sessions table (session.py, thesis section 6.3): per client
the commands applied at or above its floor, so duplicate detection is exact and the state is
O(clients), not O(commands). Every `snapshot_interval` applied entries it is written to storage
with the index, term and CRC chain it covers, and the log before it is dropped. A recovering
server starts from its snapshot and replays only the entries after it, and never records an
index as a new decision twice (storage remembers the highest recorded).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.protocols.base import NOOP, STATE_INSTALLED, ClientReply, ClientRequest
from sim.protocols.dispatch import handles
from sim.protocols.raft.election import FOLLOWER, HEARTBEAT, LEADER
from sim.protocols.raft.messages import AppendEntries, AppendEntriesResponse, Entry, InstallSnapshot, Snapshot
from sim.protocols.raft.progress import PROBE, REPLICATE, SNAPSHOT, Progress
from sim.protocols.raft.session import Sessions, request_entry

if TYPE_CHECKING:
    from sim.protocols.base import Context
    from sim.protocols.raft.config import RaftConfig
    from sim.protocols.raft.log import RaftLog


class Replication:
    """The replication half of a Raft server (mixed into `Raft`)."""

    ctx: Context
    config: RaftConfig
    term: int
    role: str
    leader_id: str | None
    majority: int
    log: RaftLog
    progress: dict[str, Progress]
    pending: dict[str, str]
    sessions: Sessions
    commit_index: int
    last_applied: int
    recorded: int
    followed_term: int
    leader_contact: float
    reset_at: float

    # --- the leader --------------------------------------------------------------------------

    def on_request(self, request: ClientRequest) -> None:
        """Leader: append the command once (the sessions and the log dedupe retries); others redirect."""
        if self.role != LEADER:
            self.ctx.send(request.client, ClientReply(request.cmd_id, False, self.leader_id))
            return
        cmd = request.cmd_id
        if self.sessions.applied(cmd):
            self.ctx.send(request.client, ClientReply(cmd, True, self.ctx.name))
            return
        self.pending[cmd] = request.client
        if cmd in self.log.cmd_index:
            if self.log.last_term != self.term:
                # The retried command sits in an older term's entry, which section 5.4.2 lets
                # commit only under an entry of this term: append a no-op of our own (the
                # thesis's section 6.4 no-op, appended on demand when noop_on_elect is off).
                self._leader_append((self.term, NOOP))
            return
        self._leader_append(request_entry(self.term, request))

    def _leader_append(self, entry: Entry) -> None:
        """Append an entry of the leader's term and ship it to every follower with room for it."""
        self.log.append(entry)
        self.ctx.persist()
        self._send_appends()
        self._advance_commit()

    def _send_appends(self) -> None:
        """What `_send_append` peer by peer sends, with equal messages to followers next in line sent as one multicast.

        A follower's AppendEntries is decided by its `next` alone (term and commit index are the
        leader's), so followers waiting for the same entries get equal messages. The sends keep
        peer order: a run of followers with the same `next` is one multicast, a paused follower
        or one with everything gets nothing, and any other follower ends the run and is served
        on its own (a snapshot, say).
        """
        log, progress = self.log, self.progress
        last = log.last_index
        run: list[str] = []
        start = 0
        for peer in self.ctx.peers:
            follower = progress[peer]
            after = follower.next
            if after == last + 1 or follower.is_paused():
                continue  # `_send_append` sends nothing
            if after != start or not log.offset < after <= last:
                self._send_run(run, start)
                run = []
                if not log.offset < after <= last:  # below the log (a snapshot) or past its end: the general path
                    self._send_append(peer)
                    start = 0
                    continue
                start = after
            run.append(peer)
        self._send_run(run, start)

    def _send_run(self, peers: list[str], start: int) -> None:
        """Send `peers` the entries from `start` on, one equal AppendEntries each (see `_send_appends`)."""
        if not peers:
            return
        log, prev = self.log, start - 1
        entries = log.slice(start, self.config.max_batch)
        msg = AppendEntries(self.term, self.ctx.name, prev, log.term(prev), entries, self.commit_index)  # type: ignore[arg-type]
        if len(peers) == 1:
            self.ctx.send(peers[0], msg)
        else:
            self.ctx.multicast(peers, msg)
        last = prev + len(entries)
        for peer in peers:
            self.progress[peer].sent_entries(last)

    def _send_append(self, peer: str, empty_ok: bool = False) -> bool:
        """Send `peer` the entries from its `next` on if its progress allows; True if something left.

        Without entries to send, only an `empty_ok` call sends (a heartbeat or a probe).
        """
        progress = self.progress[peer]
        log = self.log
        last = log.last_index
        if progress.next == last + 1 and not empty_ok:
            return False  # the follower has everything sent (the usual case once it acknowledged)
        if progress.is_paused():
            return False
        prev = progress.next - 1
        prev_term = log.term(prev)
        if prev_term is None:  # compacted away: only the snapshot can bring this follower up
            self._send_snapshot(peer, progress)
            return True
        entries = log.slice(progress.next, self.config.max_batch) if progress.next <= last else ()
        if not entries and not empty_ok:
            return False
        self.ctx.send(peer, AppendEntries(self.term, self.ctx.name, prev, prev_term, entries, self.commit_index))
        if entries:
            progress.sent_entries(prev + len(entries))
        return True

    def _send_snapshot(self, peer: str, progress: Progress) -> None:
        snapshot: Snapshot = self.ctx.storage["snapshot"]
        self.ctx.send(peer, InstallSnapshot(self.term, self.ctx.name, snapshot))
        progress.become_snapshot(snapshot.index, self.ctx.now)

    def _heartbeat(self) -> None:
        """Every follower hears from the leader; a lost probe is sent again, a stalled stream probed."""
        if self.role != LEADER:
            return
        now, log = self.ctx.now, self.log
        for peer in self.ctx.peers:
            progress = self.progress[peer]
            if progress.state == SNAPSHOT and now - progress.snapshot_sent_at >= self.config.election_timeout[1]:
                progress.become_probe()  # no answer: take the snapshot as lost (etcd's ReportSnapshot)
            if progress.stalled():
                progress.become_probe()
            if progress.state == PROBE:
                progress.paused = False
                self._send_append(peer, empty_ok=True)
                continue
            # Replicate or snapshot: a heartbeat checked against a point the follower surely has,
            # carrying the commit index only that far (etcd's min(match, committed)).
            prev = progress.match if progress.match >= log.offset else log.offset
            prev_term = log.term(prev)
            assert prev_term is not None
            self.ctx.send(peer, AppendEntries(self.term, self.ctx.name, prev, prev_term, (), min(self.commit_index, prev)))
        self.ctx.set_timer(HEARTBEAT, self.config.heartbeat_interval)

    @handles(AppendEntriesResponse, role=LEADER)
    def _on_append_response(self, src: str, msg: AppendEntriesResponse) -> None:
        """The leader moves the follower's progress on, or back after a mismatch, and sends what fits."""
        if src not in self.progress:
            return
        progress = self.progress[src]
        if not msg.success:
            if progress.maybe_decrease(msg.index, msg.hint):
                if progress.state == REPLICATE:
                    progress.become_probe()
                self._send_append(src, empty_ok=True)
            return
        if progress.maybe_update(msg.index) or (progress.state == PROBE and msg.index == progress.match):
            if progress.state == PROBE:
                progress.become_replicate()
            elif progress.state == SNAPSHOT and progress.match >= self.log.offset:
                progress.become_probe()
                progress.become_replicate()
            if progress.match > self.commit_index:
                self._advance_commit()
        if progress.state == REPLICATE:
            progress.acknowledged(msg.index)
        # The window may have room again: fill it.
        while self.role == LEADER and self._send_append(src):
            pass

    def _advance_commit(self) -> None:
        """Commit the highest index stored on a majority, if it is of the current term (5.4.2)."""
        matches = sorted([self.log.last_index, *(p.match for p in self.progress.values())], reverse=True)
        candidate = matches[self.majority - 1]
        if candidate > self.commit_index and self._may_commit(candidate):
            self.commit_index = candidate
            self._apply()

    def _may_commit(self, index: int) -> bool:
        """Only entries of the leader's own term are committed by counting replicas."""
        return self.log.term(index) == self.term

    # --- a follower --------------------------------------------------------------------------

    def _heard_leader(self, leader: str, term: int) -> None:
        """A follower heard from the leader of its term (the term check has run): note it, reset the election timer."""
        self.leader_id = leader
        self.leader_contact = self.reset_at = self.ctx.now
        if self.followed_term != term:
            self.followed_term = term
            self.ctx.record("follow", term=term, leader=leader)

    @handles(AppendEntries, role=FOLLOWER)
    def _on_append_entries(self, src: str, msg: AppendEntries) -> None:
        """Section 5.3: append after a matching entry (truncating a conflict), then commit up to the leader's index."""
        self._heard_leader(msg.leader, msg.term)
        log = self.log
        prev, entries = msg.prev_log_index, msg.entries
        if prev < log.offset:
            # Below our snapshot everything is committed, hence the leader's too: skip that part.
            entries = entries[log.offset - prev :]
            prev = log.offset
        elif prev > log.last_index:
            self.ctx.send(src, AppendEntriesResponse(self.term, False, msg.prev_log_index, log.last_index + 1))
            return
        elif log.term(prev) != msg.prev_log_term:
            # Hint: the first index of the conflicting term, so the leader skips it in one step.
            conflict = log.term(prev)
            hint = prev
            while hint - 1 > log.offset and log.term(hint - 1) == conflict:
                hint -= 1
            self.ctx.send(src, AppendEntriesResponse(self.term, False, prev, hint))
            return
        index = prev
        changed = False
        for entry in entries:
            index += 1
            if index <= log.last_index:
                if log.term(index) == entry[0]:
                    continue  # already have it; a stale or duplicate message must not truncate
                log.truncate(index)
            log.append(entry)
            changed = True
        if changed:
            self.ctx.persist()
        last_new = prev + len(entries)
        if msg.leader_commit > self.commit_index:
            commit = min(msg.leader_commit, last_new)
            if commit > self.commit_index:
                self.commit_index = commit
                self._apply()
        self.ctx.send(src, AppendEntriesResponse(self.term, True, last_new))

    @handles(InstallSnapshot, role=FOLLOWER)
    def _on_install_snapshot(self, src: str, msg: InstallSnapshot) -> None:
        """Figure 13: keep the log after the snapshot if it agrees at its last entry, else discard it."""
        self._heard_leader(msg.leader, msg.term)
        snapshot = msg.snapshot
        if snapshot.index > self.commit_index:
            log = self.log
            if log.term(snapshot.index) == snapshot.term:
                log.compact(snapshot.index)
            else:
                log.reset(snapshot.index, snapshot.term, snapshot.chain)
            self.ctx.storage["snapshot"] = snapshot
            self.ctx.persist()
            self.sessions = Sessions(snapshot.sessions, snapshot.loose)
            self.commit_index = self.last_applied = snapshot.index
            # The indexes inside were decided elsewhere; this server never decided them one by one.
            self.recorded = self.ctx.storage["recorded"] = max(self.recorded, snapshot.index)
            # The execution checkers' contract: a node that installs state goes on from `slot` + 1.
            self.ctx.record(STATE_INSTALLED, slot=snapshot.index, term=snapshot.term)
        self.ctx.send(src, AppendEntriesResponse(self.term, True, max(snapshot.index, self.commit_index)))

    # --- the state machine -------------------------------------------------------------------

    def _apply(self) -> None:
        log, ctx, sessions = self.log, self.ctx, self.sessions
        leading = self.role == LEADER
        recorded = self.recorded
        while self.last_applied < self.commit_index:
            self.last_applied += 1
            index = self.last_applied
            entry = log.entry(index)
            term, value = entry[0], entry[1]
            sessions.apply(entry)
            if index > recorded:
                # commit_term: the term whose leader committed it (for a follower, an upper bound).
                ctx.decide(index, value, term=term, commit_term=self.term, chain=log.chain_at(index))
                recorded = index
            if leading and value in self.pending:
                ctx.send(self.pending.pop(value), ClientReply(value, True, ctx.name))
        if recorded != self.recorded:
            self.recorded = ctx.storage["recorded"] = recorded
        if self.last_applied - log.offset >= self.config.snapshot_interval:
            self._take_snapshot()

    def _take_snapshot(self) -> None:
        """Write the state machine as of the last applied index, then drop the log up to it."""
        log, index = self.log, self.last_applied
        term = log.term(index)
        assert term is not None
        snapshot = Snapshot(index, term, log.chain_at(index), self.sessions.rows(), frozenset(self.sessions.loose))
        self.ctx.storage["snapshot"] = snapshot
        log.compact(index)
        self.ctx.persist()

"""PBFT: the paper's predicates by hand, exact normal-case message counts, checkpoints, view changes."""

from __future__ import annotations

from typing import Any

import pytest

from sim import run, scenario_from_dict
from sim.protocols.pbft import Pbft
from sim.protocols.pbft.messages import (
    NULL_DIGEST,
    Checkpoint,
    Commit,
    NewView,
    Prepare,
    PreparedCert,
    PrePrepare,
    Reply,
    Request,
    ViewChange,
)
from sim.scenario import ScenarioError
from sim.testing import make_node

NODES = ["n0", "n1", "n2", "n3"]
REQ = Request("client0", "client0:0", "op")


def scenario(**fields: Any) -> Any:
    data: dict[str, Any] = {"name": "pbft-test", "mechanism": "pbft", "nodes": 4, "duration": "2s"}
    data.update(fields)
    return scenario_from_dict(data)


def cert(seq: int, view: int, req: Request | None, signers: tuple[str, ...], digest: str | None = None) -> PreparedCert:
    """A prepared certificate for `req` at (view, seq) holding prepares signed by `signers`."""
    d = digest if digest is not None else (req.digest if req is not None else NULL_DIGEST)
    return PreparedCert(PrePrepare(view, seq, d, req), tuple((s, Prepare(view, seq, d)) for s in signers))


def sequential(k: int, gap_ms: int = 100) -> dict[str, Any]:
    """A script of k requests far enough apart that each finishes before the next starts."""
    return {"kind": "script", "commands": [{"at": f"{10 + i * gap_ms}ms"} for i in range(k)]}


# --- predicates by hand ----------------------------------------------------------------------


def test_backup_accepts_a_pre_prepare_only_with_the_right_digest_and_only_once() -> None:
    """A wrong digest is refused; the first pre-prepare for (v, n) is kept, a conflicting one ignored."""
    node, ctx = make_node(Pbft, "n1", NODES)
    node.on_message("n0", PrePrepare(0, 1, "bogus", REQ))
    assert not ctx.take(Prepare)
    node.on_message("n0", PrePrepare(0, 1, REQ.digest, REQ))
    prepares = ctx.take(Prepare)
    assert sorted(d for d, _ in prepares) == ["n0", "n2", "n3"]  # to everyone, primary included, not itself
    other = Request("client0", "client0:9", "x")
    node.on_message("n0", PrePrepare(0, 1, other.digest, other))
    assert not ctx.take(Prepare)
    node.on_message("n2", PrePrepare(0, 2, REQ.digest, REQ))  # not from the primary
    node.on_message("n0", PrePrepare(0, 1000, REQ.digest, REQ))  # beyond the high watermark
    assert not ctx.take(Prepare)


def test_prepared_needs_2f_matching_prepares_from_backups() -> None:
    """prepared(m, v, n, i): own prepare plus one more matching (f=1); the primary's prepare does not count."""
    node, ctx = make_node(Pbft, "n1", NODES)
    node.on_message("n0", PrePrepare(0, 1, REQ.digest, REQ))
    ctx.take()
    node.on_message("n0", Prepare(0, 1, REQ.digest))  # primaries send no prepare: ignored
    node.on_message("n2", Prepare(0, 1, "other"))  # does not match
    assert not ctx.take(Commit)
    node.on_message("n2", Prepare(0, 1, REQ.digest))  # a second vote from n2 is not counted
    node.on_message("n3", Prepare(0, 1, REQ.digest))
    commits = ctx.take(Commit)
    assert sorted(d for d, _ in commits) == ["n0", "n2", "n3"]
    assert node.st.certs[1].prepares == (("n1", Prepare(0, 1, REQ.digest)), ("n3", Prepare(0, 1, REQ.digest)))


def test_committed_local_needs_2f_plus_1_commits_then_executes_and_replies() -> None:
    """Execution waits for 2f+1 matching commits (own included), then decides and replies."""
    node, ctx = make_node(Pbft, "n1", NODES)
    node.on_message("n0", PrePrepare(0, 1, REQ.digest, REQ))
    node.on_message("n3", Commit(0, 1, REQ.digest))  # a commit before we are prepared is kept
    node.on_message("n2", Prepare(0, 1, REQ.digest))
    assert not ctx.decided
    node.on_message("n2", Commit(0, 1, REQ.digest))
    assert ctx.decided == [(1, "client0:0", {"view": 0})]
    replies = [m for d, m in ctx.sent if d == "client0"]
    assert len(replies) == 1 and isinstance(replies[0], Reply) and replies[0].cmd_id == "client0:0"


def test_execution_follows_sequence_order() -> None:
    """A committed seq 2 waits until seq 1 is committed."""
    node, ctx = make_node(Pbft, "n1", NODES)
    second = Request("client0", "client0:1", "op")
    for seq, req in ((2, second), (1, REQ)):
        node.on_message("n0", PrePrepare(0, seq, req.digest, req))
        node.on_message("n2", Prepare(0, seq, req.digest))
        node.on_message("n2", Commit(0, seq, req.digest))
        node.on_message("n3", Commit(0, seq, req.digest))
        if seq == 2:
            assert not ctx.decided
    assert [slot for slot, _, _ in ctx.decided] == [1, 2]


def test_stable_checkpoint_truncates_the_log_and_moves_the_watermarks() -> None:
    """2f+1 matching checkpoints make seq 4 stable: h = 4, older log entries dropped, the window moves."""
    node, ctx = make_node(Pbft, "n0", NODES, checkpoint_interval=4, log_size=4)
    for i in range(6):
        node.on_message("client0", Request("client0", f"client0:{i}", "op"))
    assigned = sorted({m.seq for _, m in ctx.take(PrePrepare)})
    assert assigned == [1, 2, 3, 4]  # 5 and 6 wait for the window to move
    for seq in range(1, 5):
        digest = node.st.log[(0, seq)].digest
        for peer in ("n1", "n2"):
            node.on_message(peer, Prepare(0, seq, digest))
            node.on_message(peer, Commit(0, seq, digest))
    assert [s for s, _, _ in ctx.decided] == [1, 2, 3, 4]
    assert len(ctx.take(Checkpoint)) == 3
    state = node.st.state
    node.on_message("n1", Checkpoint(4, state))
    assert node.st.h == 0
    node.on_message("n2", Checkpoint(4, state))
    assert node.st.h == 4 and node.st.stable_proof == tuple((s, Checkpoint(4, state)) for s in ("n0", "n1", "n2"))
    assert all(seq > 4 for _, seq in node.st.log)
    assert sorted({m.seq for _, m in ctx.take(PrePrepare)}) == [5, 6]


def test_new_view_reissues_the_highest_view_certificate_and_nulls_the_gaps() -> None:
    """O: for each seq in (min-s, max-s], the request prepared in the highest view, else a null request."""
    node, _ = make_node(Pbft, "n1", NODES)
    other = Request("client0", "client0:5", "op")
    old = cert(3, 0, other, ("n2", "n3"))
    newer = cert(3, 1, REQ, ("n0", "n3"))
    vcs = (
        ("n1", ViewChange(2, 0, "genesis", (), (old,))),
        ("n2", ViewChange(2, 0, "genesis", (), (newer,))),
        ("n3", ViewChange(2, 0, "genesis", (), ())),
    )
    min_s, pre_prepares = node.compute_new_view(2, vcs)
    assert min_s == 0
    assert [(p.seq, p.digest) for p in pre_prepares] == [(1, NULL_DIGEST), (2, NULL_DIGEST), (3, REQ.digest)]


def test_backup_rejects_a_new_view_whose_o_set_does_not_follow_from_v() -> None:
    """A new primary that drops a prepared request from O is not followed."""
    node, ctx = make_node(Pbft, "n2", NODES)
    prepared = cert(1, 0, REQ, ("n2", "n3"))
    vcs = tuple((s, ViewChange(1, 0, "genesis", (), (prepared,) if s != "n1" else ())) for s in ("n1", "n2", "n3"))
    node.on_message("n1", NewView(1, vcs, (PrePrepare(1, 1, NULL_DIGEST, None),)))
    assert node.st.view == 0 and node.st.active
    node.on_message("n1", NewView(1, vcs, (PrePrepare(1, 1, REQ.digest, REQ),)))
    assert node.st.view == 1 and node.st.active
    assert ("n1", Prepare(1, 1, REQ.digest)) in ctx.sent


def test_view_change_certificates_must_be_quorum_sized() -> None:
    """A view-change whose certificate has fewer than 2f prepares, or one from the primary, is invalid."""
    node, _ = make_node(Pbft, "n2", NODES)
    assert node.valid_view_change(ViewChange(1, 0, "genesis", (), (cert(1, 0, REQ, ("n2", "n3")),)))
    assert not node.valid_view_change(ViewChange(1, 0, "genesis", (), (cert(1, 0, REQ, ("n3",)),)))
    assert not node.valid_view_change(ViewChange(1, 0, "genesis", (), (cert(1, 0, REQ, ("n0", "n3")),)))
    assert not node.valid_view_change(ViewChange(1, 0, "genesis", (), (cert(1, 0, REQ, ("n2", "n3"), digest="forged"),)))


# --- whole runs ------------------------------------------------------------------------------


def test_n_below_3f_plus_1_refused_at_load_time() -> None:
    """f=2 needs 7 nodes: 6 are refused with the field and the reason."""
    with pytest.raises(ScenarioError) as err:
        scenario(nodes=6, protocol={"f": 2})
    assert err.value.field == "protocol.f" and "3f + 1" in err.value.problem


@pytest.mark.parametrize("n", [4, 7, 10])
def test_normal_case_message_counts_are_exact(n: int) -> None:
    """Per request: 1 request, n-1 pre-prepares, (n-1)^2 prepares, n(n-1) commits, n replies."""
    k = 5
    result = run(scenario(nodes=n, duration="1s", protocol={"checkpoint_interval": 1000}, workload=sequential(k)))
    sent = result.messages.groupby("type")["sent"].sum().to_dict()
    assert sent == {
        "request": k,
        "pre_prepare": k * (n - 1),
        "prepare": k * (n - 1) ** 2,
        "commit": k * n * (n - 1),
        "reply": k * n,
    }
    assert result.summary["commands_completed"] == k and result.summary["decisions"] == k


def test_checkpoints_are_counted_separately() -> None:
    """With checkpoint_interval 2 and 5 requests, two checkpoints each cost n(n-1) messages."""
    result = run(scenario(duration="1s", protocol={"checkpoint_interval": 2}, workload=sequential(5)))
    sent = result.messages.groupby("type")["sent"].sum().to_dict()
    assert sent["checkpoint"] == 2 * 4 * 3
    assert sent["commit"] == 5 * 4 * 3


def test_silent_primary_causes_a_view_change_and_the_requests_complete() -> None:
    """The client retransmits to all, backups forward and time out, view 1 is installed, all done."""
    result = run(scenario(faults=[{"byzantine": ["n0"], "behaviour": "silent"}], workload=sequential(5)))
    assert result.violations.empty
    assert result.summary["view_changes"] == 1 and result.summary["liveness"] == 1.0
    leaders = result.events[result.events["kind"] == "leader"]
    assert list(zip(leaders["node"], leaders["term"], strict=True)) == [("n0", 0), ("n1", 1)]
    assert (result.events["kind"] == "view_change").sum() >= 3


def test_crashed_primary_is_replaced_and_checkpoints_keep_going() -> None:
    """A crash of the primary mid-run: the backups change view and keep checkpointing (log stays bounded)."""
    result = run(
        scenario(
            duration="3s",
            protocol={"checkpoint_interval": 8, "view_change_timeout": "200ms"},
            faults=[{"at": "1s", "crash": "n0"}],
            workload={"kind": "poisson", "rate": "40/s", "until": "2.5s"},
        )
    )
    assert result.violations.empty
    assert result.summary["view_changes"] >= 1
    assert result.summary["liveness"] > 0.95
    assert result.messages.loc[result.messages["type"] == "checkpoint", "sent"].sum() > 0


class CrashQuorumPbft(Pbft):
    """Broken: crash-fault-sized quorums (f prepares, f+1 commits) instead of 2f and 2f+1."""

    def on_start(self) -> None:
        super().on_start()
        self.prepare_quorum, self.commit_quorum = self.f, self.f + 1


def test_agreement_checker_catches_small_quorums_under_an_equivocating_primary() -> None:
    """With f+1 commits an equivocating primary makes honest replicas commit different requests."""
    faults = [{"byzantine": ["n0"], "behaviour": "equivocate"}]
    broken = run(scenario(duration="1s", faults=faults, workload=sequential(3)), protocol_cls=CrashQuorumPbft)
    assert "agreement" in set(broken.violations["rule"])
    real = run(scenario(duration="2s", faults=faults, workload=sequential(3)))
    assert real.violations.empty


def test_view_change_contents_are_verified_message_by_message() -> None:
    """Prepares must match the pre-prepare and come from distinct replicas; C needs q matching checkpoints;
    certificates lie within the sender's watermarks, one per sequence number."""
    node, _ = make_node(Pbft, "n2", NODES, checkpoint_interval=4, log_size=8)
    good = cert(1, 0, REQ, ("n2", "n3"))
    assert node.valid_view_change(ViewChange(1, 0, "genesis", (), (good,)))
    wrong_seq = PreparedCert(good.pre_prepare, (("n2", Prepare(0, 1, REQ.digest)), ("n3", Prepare(0, 2, REQ.digest))))
    wrong_digest = PreparedCert(good.pre_prepare, (("n2", Prepare(0, 1, REQ.digest)), ("n3", Prepare(0, 1, "other"))))
    twice = PreparedCert(good.pre_prepare, (("n2", Prepare(0, 1, REQ.digest)), ("n2", Prepare(0, 1, REQ.digest))))
    stranger = cert(1, 0, REQ, ("n2", "mallory"))
    for bad in (wrong_seq, wrong_digest, twice, stranger):
        assert not node.valid_view_change(ViewChange(1, 0, "genesis", (), (bad,)))
    assert not node.valid_view_change(ViewChange(1, 0, "genesis", (), (good, cert(1, 0, None, ("n2", "n3")))))
    assert not node.valid_view_change(ViewChange(1, 0, "genesis", (), (cert(9, 0, REQ, ("n2", "n3")),)))  # beyond h + L
    proof = tuple((s, Checkpoint(4, "s4")) for s in ("n0", "n1", "n3"))
    assert node.valid_view_change(ViewChange(1, 4, "s4", proof, (cert(12, 0, REQ, ("n2", "n3")),)))
    assert not node.valid_view_change(ViewChange(1, 4, "s4", proof, (cert(4, 0, REQ, ("n2", "n3")),)))  # at or below h
    assert not node.valid_view_change(ViewChange(1, 4, "s4", proof[:2], ()))  # too few checkpoint messages
    assert not node.valid_view_change(ViewChange(1, 4, "s4", (*proof[:2], ("n0", Checkpoint(4, "s4"))), ()))
    assert not node.valid_view_change(ViewChange(1, 4, "s4", (*proof[:2], ("n3", Checkpoint(4, "other"))), ()))
    assert not node.valid_view_change(ViewChange(1, 4, "s4", tuple((s, Checkpoint(8, "s4")) for s in ("n0", "n1", "n3")), ()))


def test_new_view_with_an_unproven_stable_checkpoint_is_not_followed() -> None:
    """A new-view whose V claims a stable checkpoint on one replica's word (no q checkpoint messages) is ignored."""
    node, _ = make_node(Pbft, "n2", NODES, checkpoint_interval=4)
    lone = ViewChange(1, 4, "bogus", (("n1", Checkpoint(4, "bogus")),), ())
    vcs = (("n1", lone), ("n2", ViewChange(1, 0, "genesis", (), ())), ("n3", ViewChange(1, 0, "genesis", (), ())))
    node.on_message("n1", NewView(1, vcs, ()))
    assert node.st.view == 0 and node.st.h == 0

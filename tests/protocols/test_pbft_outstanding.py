"""PBFT's incremental retransmission check answers exactly what a scan of the whole log answers."""

from __future__ import annotations

from typing import Any

import pytest

from sim import run
from sim.protocols.pbft import Pbft
from sim.protocols.pbft.messages import Prepare
from sim.protocols.pbft.retransmit import RetransmitMixin
from sim.testing import make_node
from tests.protocols.test_pbft_loss import NODES, REQ, lossy


def scanned(replica: Pbft) -> bool:
    """`outstanding` as it was first written: the quick checks, then every log entry, every time."""
    st = replica.st
    if not st.active or st.waiting or st.committed or st.future or st.last_exec < st.h or st.checkpoints:
        return True
    return any(
        view == st.view and seq > st.last_exec and (slot.digest is not None or len(slot.prepares.keys() | slot.commits.keys()) > replica.f)
        for (view, seq), slot in st.log.items()
    )


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Compare every call of `outstanding` during the test with the full scan; returns [calls, True answers, cached False answers]."""
    real = RetransmitMixin.outstanding
    counts = [0, 0, 0]

    def outstanding(self: Any) -> bool:
        cached = self.rt_quiet is not None
        expected = scanned(self)
        answer = real(self)
        assert answer == expected, f"{self.me} at {self.ctx.now:.3f} ms: incremental {answer}, full scan {expected}"
        counts[0] += 1
        counts[1] += answer
        counts[2] += cached and not answer
        return answer

    monkeypatch.setattr(RetransmitMixin, "outstanding", outstanding)
    return counts


@pytest.mark.parametrize(
    ("loss", "faults"),
    [
        (0.2, []),
        (0.1, [{"at": "300ms", "crash": "n0", "for": "600ms"}]),  # the primary: a view change, then it recovers
        (0.05, [{"at": "200ms", "partition": [["n0", "n1", "n2"], ["n3", "n4", "n5", "n6"]], "until": "900ms"}]),
    ],
)
def test_incremental_check_agrees_with_a_full_scan(checked: list[int], loss: float, faults: list[dict[str, Any]]) -> None:
    """Through loss, a primary crash with its view change, and a partition, every answer matches the scan of the whole log."""
    result = run(lossy(7, loss, 3, faults=faults))
    assert result.summary["commands_completed"] > 0
    calls, busy, cached_idle = checked
    # Both answers occur, and the cache answered some idle checks without a scan.
    assert calls > 500 and 0 < busy < calls and cached_idle > 0


def test_a_vote_on_an_entry_above_the_last_execution_ends_the_quiet() -> None:
    """Idle after a scan, a replica sees f + 1 votes for a sequence number it has not executed: work is outstanding again."""
    replica, _ = make_node(Pbft, "n1", NODES)
    assert isinstance(replica, Pbft)
    assert not replica.outstanding() and replica.rt_quiet == 0  # nothing logged yet: quiet in view 0
    digest = REQ.digest
    replica.on_message("n2", Prepare(0, 1, digest))
    assert not replica.outstanding()  # one vote could be a faulty replica's alone
    replica.on_message("n3", Prepare(0, 1, digest))
    assert replica.outstanding()  # f + 1 = 2 voters: it is really in progress
    assert list(replica.rt_touched) == [(0, 1)]  # and stays a candidate for the next check, which needs no scan

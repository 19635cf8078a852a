"""Raft's `protocol:` settings and their load-time checks."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from sim.protocols.base import ProtocolConfig
from sim.scenario import Ms, PositiveMs


class RaftConfig(ProtocolConfig):
    """Raft's settings (`protocol:` in a scenario)."""

    election_timeout: tuple[Ms, Ms] = Field(default=("max(150ms, 5rtt)", "max(300ms, 10rtt)"), validate_default=True)
    """Each election timeout is drawn uniformly from [low, high] ms (equal bounds: a fixed timeout; default: 150-300ms, or
    5-10 rtt on a slower network)."""
    heartbeat_interval: PositiveMs = Field(default="max(50ms, 1rtt)", validate_default=True)
    pre_vote: bool = False
    """Run a PreVote round (which bumps no term) before a real election."""
    max_batch: Annotated[int, Field(ge=1)] = 64
    """At most this many entries per AppendEntries."""
    max_inflight: Annotated[int, Field(ge=1)] = 256
    """At most this many AppendEntries with entries in flight to a follower in the replicate
    state (etcd/raft's MaxInflightMsgs)."""
    snapshot_interval: Annotated[int, Field(ge=1)] = 10_000
    """Snapshot the state machine and compact the log every this many applied entries."""
    noop_on_elect: bool = True
    """A new leader appends a no-op of its term so earlier entries commit promptly (section 8)."""

    @field_validator("election_timeout")
    @classmethod
    def _positive(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] <= 0:
            raise ValueError("election timeouts must be positive")
        return value


def timing_problems(config: RaftConfig) -> list[tuple[str, str]]:
    """Timeouts must make sense: low <= high, heartbeats inside the election timeout's low end."""
    low, high = config.election_timeout
    problems: list[tuple[str, str]] = []
    if low > high:
        problems.append(("protocol.election_timeout", f"low ({low:g}ms) must not be above high ({high:g}ms)"))
    if config.heartbeat_interval >= low:
        problems.append(
            ("protocol.heartbeat_interval", f"{config.heartbeat_interval:g}ms must be below the election timeout's low end ({low:g}ms)")
        )
    return problems

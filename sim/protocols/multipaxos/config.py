"""The `protocol:` settings of Multi-Paxos."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from sim.protocols.base import ProtocolConfig
from sim.scenario import Ms, PositiveMs, Strict


class FlexibleQuorums(Strict):
    """FPaxos quorum sizes: every phase-1 quorum must meet every phase-2 quorum."""

    phase1: Annotated[int, Field(ge=1)]
    phase2: Annotated[int, Field(ge=1)]


class MultiPaxosConfig(ProtocolConfig):
    """Multi-Paxos settings."""

    heartbeat_interval: PositiveMs = Field(default="max(50ms, 1rtt)", validate_default=True)
    election_timeout: tuple[Ms, Ms] = Field(default=("max(150ms, 5rtt)", "max(300ms, 10rtt)"), validate_default=True)
    """A follower that hears no leader for a time drawn from [low, high] starts phase 1 (default: 150-300ms, or 5-10 rtt)."""
    quorums: Literal["majority", "weighted"] | FlexibleQuorums = "majority"
    bootstrap: bool = True
    """The first node starts phase 1 at once (a designated initial leader), instead of waiting."""
    catch_up_batch: Annotated[int, Field(ge=1)] = 64
    """Most `decide` messages a leader sends in answer to one `catch_up`."""

    @field_validator("election_timeout")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[1] < value[0] or value[0] <= 0:
            raise ValueError("election_timeout must be [low, high] with 0 < low <= high")
        return value

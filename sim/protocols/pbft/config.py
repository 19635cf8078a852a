"""PBFT's `protocol:` settings."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from sim.protocols.base import ProtocolConfig
from sim.scenario import PositiveMs


class PbftConfig(ProtocolConfig):
    """PBFT settings."""

    f: Annotated[int, Field(ge=0)] | None = None
    """Faults tolerated; derived as (n-1)//3 when not given."""
    checkpoint_interval: Annotated[int, Field(ge=1)] = 64
    log_size: Annotated[int, Field(ge=1)] | None = None
    """L, the width of the watermark window; 2 x checkpoint_interval when not given."""
    view_change_timeout: PositiveMs = Field(default="max(300ms, 8rtt)", validate_default=True)
    """T: how long a backup waits for a request to execute before suspecting the primary (default: 300ms, or 8 rtt)."""
    max_backoff: Annotated[int, Field(ge=1)] = 64
    """Cap on the exponential backoff factor of the view-change timer."""
    retransmit_timeout: PositiveMs | None = None
    """How long a replica may make no progress before it asks peers to re-send (and re-sends its
    view-change, or fetch); view_change_timeout / 6 when not given. Backs off x2 up to x4."""

"""One plane's view of the fleet's network: shared links, partitions and wires; its own endpoints and counts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.network import Network

if TYPE_CHECKING:
    from sim.node import Endpoint
    from sim.records import Recorder


class PlaneNetwork(Network):
    """Sends as the fleet's network does, delivering to this plane's endpoints and counting in its recorder.

    Everything that is not the plane's own (delays, loss draws, partitions, cuts, link overrides,
    the bandwidth queues of each wire) is read from the fleet's network on each use, so a
    partition or a busy wire affects every plane at once and the planes share bandwidth.
    """

    def __init__(self, fabric: Network, recorder: Recorder) -> None:  # noqa: D107 - no super(): the state is the fabric's
        self.__dict__["fabric"] = fabric
        self.env = fabric.env
        self._queue = fabric._queue
        self._eid = fabric._eid
        self.nodes = fabric.nodes
        self.recorder = recorder
        self._counts = recorder.counts
        self._pairs = recorder.pairs
        self.endpoints: dict[str, Endpoint] = {}

    def __getattr__(self, name: str) -> Any:
        """Anything not set on the view is the fabric's (read live: partitions come and go)."""
        return getattr(self.__dict__["fabric"], name)

"""The fleet's network and each plane's view of it: shared links, partitions and wires; per-plane endpoints and counts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.network import Network

if TYPE_CHECKING:
    from sim.node import Endpoint
    from sim.records import Recorder

SHARED = ("_partitions", "_cuts", "last_block_at")
"""Fabric state that the fabric replaces (rather than changes in place): pushed to every view when it does."""


class FabricNetwork(Network):
    """The network of a run with planes: it keeps its views' copies of the state it replaces up to date."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: D107 - Network's arguments
        self.views: list[PlaneNetwork] = []
        super().__init__(*args, **kwargs)

    def _sync(self) -> None:
        for view in self.views:
            for name in SHARED:
                view.__dict__[name] = self.__dict__[name]

    def remove_partition(self, handle: int) -> bool:
        """Heal one partition, in every plane."""
        removed = super().remove_partition(handle)
        self._sync()
        return removed

    def remove_cut(self, handle: int) -> bool:
        """Undo one cut, in every plane."""
        removed = super().remove_cut(handle)
        self._sync()
        return removed

    def _note_block(self, membership: dict[str, int] | None, pairs: frozenset[tuple[str, str]]) -> None:
        super()._note_block(membership, pairs)
        self._sync()


class PlaneNetwork(Network):
    """Sends as the fleet's network does, delivering to this plane's endpoints and counting in its recorder.

    Everything that is not the plane's own (delays, loss draws, partitions, cuts, link overrides,
    the bandwidth queues of each wire) is the fabric's very objects, so a partition or a busy
    wire affects every plane at once and the planes share bandwidth. The view holds references
    to them (an attribute lookup per message is measurable here); the fabric refreshes the few
    it replaces rather than changes in place.
    """

    def __init__(self, fabric: FabricNetwork, recorder: Recorder) -> None:  # noqa: D107 - no super(): the state is the fabric's
        self.__dict__.update(fabric.__dict__)
        del self.__dict__["views"]
        self.__dict__["fabric"] = fabric
        self.recorder = recorder
        self._counts = recorder.counts
        self._pairs = recorder.pairs
        self._rows = {}  # the plane's own count rows (see Network.send)
        self._plans = {}  # and broadcast plans, which hold them (see Network.broadcast)
        self.endpoints: dict[str, Endpoint] = {}
        fabric.views.append(self)

    def __getattr__(self, name: str) -> Any:
        """Anything not copied from the fabric is read from it."""
        return getattr(self.__dict__["fabric"], name)

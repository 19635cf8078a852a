"""Links between planes: one plane's decisions become another plane's commands, and the pipeline table.

A link `{from: scale, when: up, to: control, submit: "load model-b"}` fires once per slot the
`from` plane decides with the value `when` (any value without it; with `when: linked`, only
commands a link submitted to the `from` plane; no-ops never): after `after`
(the time the decision takes to apply, e.g. loading a model) the `to` plane's first client
submits the command, as any client command (it may be retried, redirected or lost with its
node), carrying a payload of `size` bytes when given (a `Command`, counted by every message that
holds the command). `write: key` submits `key=` instead, so a gossip plane stores the command's id under
`key` (padded to `size` bytes when given). A decision of a command a link submitted carries that command's chain on, so a trigger
followed through the planes is one chain of stages: the `pipeline` table has one row per stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.protocols.base import NOOP
from sim.records import percentiles

if TYPE_CHECKING:
    from sim.planes.kernel import Fleet
    from sim.scenario import PlaneLink

LINKED = "linked"
"""`when: linked`: fire only on decisions of commands a link submitted to the `from` plane."""

SEPARATOR, FILL = "/", "."
"""A sized write's value: `chain<c>.<stage>`, the separator, then filler up to the size."""

PIPELINE_COLUMNS = (
    "chain",
    "stage",
    "link",
    "from_plane",
    "to_plane",
    "trigger_slot",
    "trigger_value",
    "trigger_ms",
    "submit_ms",
    "cmd_id",
    "decided_ms",
    "done_ms",
    "nodes_decided",
    "plane_nodes",
    "stage_ms",
    "final",
)
"""The pipeline table: one row per stage of a chain (times in simulated ms; NaN when it never happened).

decided_ms: the first node of the `to` plane to decide the command (when the next link can fire);
done_ms: the last node to have it (for `write`: this write or a newer one of the key, as a router
that gets the newer table directly never stores this one); nodes_decided of plane_nodes had it by
the end; stage_ms: decided_ms - trigger_ms; final: the `to` plane feeds no further link.
"""


@dataclass
class Stage:
    """A link that fired: what triggered it and the command it submitted."""

    chain: int
    stage: int
    link: int
    trigger_slot: str
    trigger_value: str
    trigger_ms: float
    submit_ms: float = float("nan")
    cmd_id: str = ""
    value: str = ""
    """A sized write's stored value (empty: the store keeps the command's id)."""


class LinkDriver:
    """Watches the planes' decisions and submits the linked commands."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.links: list[PlaneLink] = list(fleet.scenario.links or [])
        self.stages: list[Stage] = []
        self._fired: set[tuple[int, str]] = set()
        self._chain_of: dict[tuple[str, str], tuple[int, int]] = {}  # (plane, cmd_id) -> (chain, stage that submitted it)
        self._chains = 0
        by_plane: dict[str, list[int]] = {}
        for i, link in enumerate(self.links):
            by_plane.setdefault(link.from_, []).append(i)
        for plane, indices in by_plane.items():
            recorder = fleet.planes[plane].recorder
            record = recorder.decision

            def hook(
                time_ms: float,
                node: str,
                slot: int | str,
                value: str,
                incarnation: int,
                fields: dict[str, Any],
                plane: str = plane,
                indices: list[int] = indices,
                record: Any = record,
            ) -> None:
                record(time_ms, node, slot, value, incarnation, fields)
                self.on_decision(plane, indices, time_ms, slot, value)

            recorder.decision = hook  # type: ignore[method-assign]  # only this fleet's recorders

    def on_decision(self, plane: str, indices: list[int], time_ms: float, slot: int | str, value: str) -> None:
        """A node of `plane` decided `value` for `slot`: fire each matching link once per slot."""
        if value == NOOP:
            return
        for i in indices:
            link = self.links[i]
            if link.when == LINKED:
                if (plane, value) not in self._chain_of and (plane, str(slot)) not in self._chain_of:
                    continue
            elif link.when is not None and value != link.when:
                continue
            key = (i, str(slot))
            if key in self._fired:
                continue
            self._fired.add(key)
            origin = self._chain_of.get((plane, value)) or self._chain_of.get((plane, str(slot)))
            if origin is None:
                chain, stage = self._chains, 0
                self._chains += 1
            else:
                chain, stage = origin[0], origin[1] + 1
            record = Stage(chain, stage, i, str(slot), value, time_ms)
            self.stages.append(record)
            event = self.fleet.env.timeout(link.after)
            event.callbacks.append(lambda _e, record=record: self._submit(record))

    def _submit(self, stage: Stage) -> None:
        link = self.links[stage.link]
        sim = self.fleet.planes[link.to]
        stage.submit_ms = self.fleet.env.now
        if link.submit is not None:
            stage.cmd_id = sim.workload.issue(sim.clients[0], link.submit, link.size or 0)
        elif link.size is None:
            stage.cmd_id = sim.workload.issue(sim.clients[0], f"{link.write}=")  # the store keeps the command's id
        else:
            # A value of `size` bytes that names its stage, so its decisions can be found.
            stage.value = f"chain{stage.chain}.{stage.stage}{SEPARATOR}".ljust(link.size, FILL)
            stage.cmd_id = sim.workload.issue(sim.clients[0], f"{link.write}={stage.value}")
        self._chain_of[(link.to, stage.cmd_id)] = (stage.chain, stage.stage)
        if stage.value:
            self._chain_of[(link.to, stage.value)] = (stage.chain, stage.stage)

    def table(self, decisions: dict[str, pd.DataFrame]) -> pd.DataFrame:
        """The pipeline table, from the stages fired and each plane's decisions (see `PIPELINE_COLUMNS`)."""
        feeds = {link.from_ for link in self.links}
        rows: list[tuple[Any, ...]] = []
        for s in self.stages:
            link = self.links[s.link]
            first = last = float("nan")
            count = 0
            frame = decisions[link.to]
            if s.cmd_id and not frame.empty:
                wanted = s.value or s.cmd_id
                mine = frame[(frame["value"] == wanted) | (frame["slot"].astype(str) == s.cmd_id)]
                if not mine.empty:
                    first = float(mine["time_ms"].min())
                    if link.write is not None and {"key", "version"} <= set(frame.columns):
                        # A node that learns a newer write of the key first never stores this one,
                        # but its table is as new: it counts from when it has this version or a later one.
                        version = mine["version"].min()
                        mine = frame[(frame["key"] == link.write) & (frame["version"] >= version)]
                    reached = mine.groupby("node", sort=False)["time_ms"].min()
                    last, count = float(reached.max()), len(reached)
            stage_ms = first - s.trigger_ms
            size = len(self.fleet.planes[link.to].node_names)
            rows.append(
                (s.chain, s.stage, s.link, link.from_, link.to, s.trigger_slot, s.trigger_value, s.trigger_ms)
                + (s.submit_ms, s.cmd_id, first, last, count, size, stage_ms, link.to not in feeds)
            )
        frame = pd.DataFrame(rows, columns=list(PIPELINE_COLUMNS))
        for col in ("chain", "stage", "link", "nodes_decided", "plane_nodes"):
            frame[col] = frame[col].astype("int64")
        frame["final"] = frame["final"].astype(bool)
        return frame.sort_values(["chain", "stage"], kind="stable").reset_index(drop=True)


def pipeline_summary(pipeline: pd.DataFrame, links: list[PlaneLink]) -> dict[str, Any]:
    """`links.*` summary keys: chains started and completed, end-to-end and per-link times (ms).

    A chain is complete when a final stage's command reached every node of its plane; its
    end-to-end time runs from the first trigger to the last of those nodes (done_ms).
    """
    out: dict[str, Any] = {"links.chains": int(pipeline["chain"].nunique()) if not pipeline.empty else 0}
    totals: list[float] = []
    for _, rows in pipeline.groupby("chain", sort=True):
        start = float(rows["trigger_ms"].min())
        finals = rows[rows["final"]]
        ends = finals["done_ms"].dropna()
        if not finals.empty and (finals["nodes_decided"] == finals["plane_nodes"]).all():
            totals.append(float(ends.max()) - start)
    out["links.chains_completed"] = len(totals)
    out.update(percentiles(np.asarray(totals, dtype=float), "links.e2e_ms"))
    for i, link in enumerate(links):
        mine = pipeline[pipeline["link"] == i]
        stem = f"links.{i}_{link.from_}_to_{link.to}"
        out[f"{stem}.fired"] = len(mine)
        out.update(percentiles(mine["stage_ms"], f"{stem}.stage_ms"))
        out.update(percentiles(mine["done_ms"] - mine["decided_ms"], f"{stem}.spread_ms"))
    return out

"""The fault schedule: crashes, recoveries, partitions, cuts, link changes, churn, byzantine nodes."""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sim.byzantine import make_behaviour

if TYPE_CHECKING:
    from sim.kernel import Simulation
    from sim.node import Node
    from sim.scenario import FaultSpec

FAULT_KINDS = MappingProxyType(
    {
        "crash": "stop nodes (a name, a list, leader, random, all); volatile state and timers are lost",
        "recover": "restart crashed nodes from their persistent storage",
        "partition": "split nodes into groups that cannot reach each other",
        "cut": "drop messages one way, from some nodes to others",
        "heal": "remove every partition and cut",
        "set_link": "change delay, loss, duplication or bandwidth of some links",
        "churn": "random crashes and recoveries (mtbf, mttr, max_down)",
        "byzantine": "nodes that lie: silent, omit, delay, replay, forge, equivocate, corrupt, double_vote",
    }
)


class FaultInjector:
    """Runs each fault entry as a SimPy process; draws only from the fault stream."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.env = sim.env
        self.rng = sim.py_rng("faults")
        self._cut_seq = 0

    def start(self) -> None:
        """Install byzantine behaviours and start one process per timed entry."""
        for spec in self.sim.scenario.faults:
            if spec.byzantine is not None:
                self._install_byzantine(spec)
        # Faulty nodes may know each other (colluders lie consistently); honest ones never see this.
        faulty = frozenset(name for name, node in self.sim.nodes.items() if node.behaviours)
        for name in faulty:
            self.sim.nodes[name].colluders = faulty
        for spec in self.sim.scenario.faults:
            if spec.byzantine is not None:
                continue
            if spec.churn is not None:
                for name in self._resolve(spec.churn.nodes, "crash", every=True):
                    self.env.process(self._churn(self.sim.nodes[name], spec))
            else:
                self.env.process(self._entry(spec))

    # --- targets -------------------------------------------------------------------------

    def _resolve(self, targets: str | list[str], action: str, every: bool = False) -> list[str]:
        nodes = self.sim.nodes
        items = [targets] if isinstance(targets, str) else list(targets)
        chosen: list[str] = []
        for item in items:
            if item == "all":
                chosen.extend(nodes)
            elif item == "leader":
                leaders = [n for n in nodes if nodes[n].is_leader()]
                chosen.extend(leaders[:1])
            elif item == "random":
                pool = [n for n in nodes if nodes[n].up == (action != "recover")] if not every else list(nodes)
                if pool:
                    chosen.append(pool[self.rng.randrange(len(pool))])
            else:
                chosen.append(item)
        return list(dict.fromkeys(chosen))

    # --- timed entries -------------------------------------------------------------------

    def _times(self, spec: FaultSpec) -> Generator[float, None, None]:
        if spec.at is not None:
            yield spec.at
            return
        assert spec.every is not None
        t = spec.start if spec.start is not None else spec.every
        end = spec.until if spec.until is not None else self.sim.scenario.duration
        while t < end:
            yield t
            t += spec.every

    def _entry(self, spec: FaultSpec) -> Generator[Any, Any, None]:
        for t in self._times(spec):
            jitter = self.rng.uniform(0.0, spec.jitter) if spec.jitter else 0.0
            when = t + jitter
            if when > self.env.now:
                yield self.env.timeout(when - self.env.now)
            undo = self._apply(spec)
            hold = spec.for_
            if hold is None and spec.at is not None and spec.until is not None:
                hold = spec.until - when
            if undo is not None and hold is not None:
                event = self.env.timeout(max(hold, 0.0))
                event.callbacks.append(lambda _e, undo=undo: undo())

    def _apply(self, spec: FaultSpec) -> Callable[[], None] | None:
        action = spec.action
        net = self.sim.network
        if action == "crash":
            names = [n for n in self._resolve(spec.crash or [], "crash") if self.sim.nodes[n].up]
            for name in names:
                self.crash(self.sim.nodes[name])

            def undo_crash() -> None:
                for name in names:
                    self.recover(self.sim.nodes[name])

            return undo_crash
        if action == "recover":
            for name in self._resolve(spec.recover or [], "recover"):
                if not self.sim.nodes[name].up:
                    self.recover(self.sim.nodes[name])
            return None
        if action == "partition":
            groups = spec.partition or []
            handle = net.add_partition(groups)
            self._event("partition", groups=" | ".join(",".join(g) for g in groups), handle=handle)

            def undo_partition() -> None:
                net.remove_partition(handle)
                self._event("heal", handle=handle, healed="partition")

            return undo_partition
        if action == "cut":
            assert spec.cut is not None
            pairs = net.add_cut(net.expand(spec.cut.from_), net.expand(spec.cut.to))
            # A handle lets the timeline match this cut to the heal that undoes it.
            self._cut_seq += 1
            cut_handle = self._cut_seq
            self._event(
                "cut", pairs=len(pairs), src=",".join(net.expand(spec.cut.from_)), dst=",".join(net.expand(spec.cut.to)), handle=cut_handle
            )

            def undo_cut() -> None:
                net.remove_cut(pairs)
                self._event("heal", pairs=len(pairs), handle=cut_handle, healed="cut")

            return undo_cut
        if action == "heal":
            net.heal_all()
            self._event("heal")
            return None
        if action == "set_link":
            previous = net.set_link(spec.set_link)
            self._event("set_link", links=len(previous))

            def undo_link() -> None:
                net.restore_links(previous)
                self._event("restore_link", links=len(previous))

            return undo_link
        raise ValueError(f"unknown fault action {action}")

    def _event(self, kind: str, **fields: Any) -> None:
        self.sim.recorder.event(self.env.now, "", kind, fields)

    def crash(self, node: Node) -> None:
        """Crash one node, noting whether it led."""
        was_leader = node.is_leader()
        node.crash()
        self.sim.recorder.event(self.env.now, node.name, "crash", {"was_leader": was_leader})

    def recover(self, node: Node) -> None:
        """Recover one node."""
        if not node.up:
            node.recover()
            self.sim.recorder.event(self.env.now, node.name, "recover", {})

    # --- churn and byzantine -------------------------------------------------------------

    def _churn(self, node: Node, spec: FaultSpec) -> Generator[Any, Any, None]:
        churn = spec.churn
        assert churn is not None
        while True:
            yield self.env.timeout(self.rng.expovariate(1.0 / churn.mtbf))
            down = sum(1 for n in self.sim.nodes.values() if not n.up)
            if not node.up or down >= churn.max_down:
                continue
            self.crash(node)
            yield self.env.timeout(self.rng.expovariate(1.0 / churn.mttr))
            self.recover(node)

    def _install_byzantine(self, spec: FaultSpec) -> None:
        for name in self._resolve(spec.byzantine or [], "crash"):
            node = self.sim.nodes[name]
            node.behaviours.append(make_behaviour(spec, self.sim.protocol_cls, self.sim.py_rng(f"byzantine:{name}")))
            until = spec.until if spec.until is not None else math.inf
            self.sim.recorder.event(0.0, name, "byzantine", {"behaviour": spec.behaviour, "from_ms": spec.from_ or 0.0, "until_ms": until})

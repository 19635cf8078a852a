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
        "partition": "split nodes into groups that cannot reach each other (a group may name leader, rest)",
        "cut": "drop messages one way, from some nodes (or the leader) to others",
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

    def leaders(self) -> list[str]:
        """The nodes that lead in the highest epoch (term, view, ballot) of those that believe they lead.

        A leader cut off in a minority may still believe it leads an older term; it is not the leader.
        """
        nodes = self.sim.nodes
        claimants = [name for name, node in nodes.items() if node.is_leader()]
        if not claimants:
            return []
        top = max(nodes[name].epoch() for name in claimants)
        return [name for name in claimants if nodes[name].epoch() == top]

    def _resolve(self, targets: str | list[str], action: str, every: bool = False) -> list[str]:
        nodes = self.sim.nodes
        items = [targets] if isinstance(targets, str) else list(targets)
        chosen: list[str] = []
        for item in items:
            if item == "all":
                chosen.extend(nodes)
            elif item == "leader":
                chosen.extend(self.leaders()[:1])
            elif item == "random":
                pool = [n for n in nodes if nodes[n].up == (action != "recover")] if not every else list(nodes)
                if pool:
                    chosen.append(pool[self.rng.randrange(len(pool))])
            else:
                chosen.append(item)
        return list(dict.fromkeys(chosen))

    def _link_end(self, targets: str | list[str]) -> list[str]:
        """Names for one end of a cut: names, '*' (every node) or 'leader'."""
        items = [targets] if isinstance(targets, str) else list(targets)
        names: list[str] = []
        for item in items:
            if item == "leader":
                names.extend(self.leaders()[:1])
            else:
                names.extend(self.sim.network.expand(item))
        return list(dict.fromkeys(names))

    def _groups(self, groups: list[list[str]]) -> list[list[str]]:
        """Partition groups with 'leader' and 'rest' (every node named in no other group) resolved."""
        leader = self.leaders()[:1]
        # Where a group says 'leader', the leader belongs there, whatever names the other groups list.
        named_elsewhere = set(leader) if any("leader" in group for group in groups) else set()
        resolved: list[list[str]] = []
        for group in groups:
            members: list[str] = []
            for item in group:
                if item == "leader":
                    members.extend(leader)
                elif item != "rest" and item not in named_elsewhere:
                    members.append(item)
            resolved.append(members)
        placed = {name for group in resolved for name in group}
        rest = [name for name in self.sim.nodes if name not in placed]
        for group, members in zip(groups, resolved, strict=True):
            if "rest" in group:
                members.extend(rest)
        return [list(dict.fromkeys(group)) for group in resolved]

    def _leader_reach(self) -> tuple[str | None, bool]:
        """The current leader, and whether it can still exchange messages with a majority."""
        leader = self.leaders()[:1]
        if not leader:
            return None, False
        net, name = self.sim.network, leader[0]
        reach = sum(1 for other in self.sim.nodes if other == name or not (net.blocked(name, other) or net.blocked(other, name)))
        return name, reach > len(self.sim.nodes) // 2

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

    def _missed_leader(self, spec: FaultSpec) -> None:
        """Record that this entry names the leader when no node leads: that part of it does nothing (the CLI warns)."""
        if spec.crash is not None:
            named = [spec.crash] if isinstance(spec.crash, str) else spec.crash
        elif spec.partition is not None:
            named = [item for group in spec.partition for item in group]
        elif spec.cut is not None:
            named = [end for ends in (spec.cut.from_, spec.cut.to) for end in ([ends] if isinstance(ends, str) else ends)]
        else:
            named = []
        if "leader" in named and not self.leaders():
            self._event("fault_missed", action=spec.action, target="leader")

    def _apply(self, spec: FaultSpec) -> Callable[[], None] | None:
        action = spec.action
        if action == "crash":
            self._missed_leader(spec)
            names = [n for n in self._resolve(spec.crash or [], "crash") if self.sim.nodes[n].up]
            for name in names:
                self.crash(self.sim.nodes[name])
            # Recover only a node still down from this crash: one recovered and crashed again since
            # (by another entry) has a newer incarnation and stays down.
            crashed = {name: self.sim.nodes[name].incarnation for name in names}

            def undo_crash() -> None:
                for name, incarnation in crashed.items():
                    node = self.sim.nodes[name]
                    if not node.up and node.incarnation == incarnation:
                        self.recover(node)

            return undo_crash
        if action == "recover":
            for name in self._resolve(spec.recover or [], "recover"):
                if not self.sim.nodes[name].up:
                    self.recover(self.sim.nodes[name])
            return None
        if action in ("partition", "cut"):
            self._missed_leader(spec)
            return self._separate(spec)
        if action == "heal":
            self.sim.network.heal_all()
            self._event("heal")
            return None
        if action == "set_link":
            assert spec.set_link is not None
            net = self.sim.network
            handle, links = net.set_link(spec.set_link)
            self._event("set_link", links=links, handle=handle)

            def undo_link() -> None:
                self._event("restore_link", links=net.remove_link(handle), handle=handle)

            return undo_link
        raise ValueError(f"unknown fault action {action}")

    def _separate(self, spec: FaultSpec) -> Callable[[], None]:
        """Apply a partition or a cut; the undo removes exactly this one (a `heal: all` since leaves nothing to undo)."""
        net = self.sim.network
        leader, had_majority = self._leader_reach()
        if spec.partition is not None:
            groups = self._groups(spec.partition)
            handle = net.add_partition(groups)
            kind = "partition"
            self._event("partition", groups=" | ".join(",".join(g) for g in groups), handle=handle)
        else:
            assert spec.cut is not None
            sources, targets = self._link_end(spec.cut.from_), self._link_end(spec.cut.to)
            handle, pairs = net.add_cut(sources, targets)
            kind = "cut"
            self._event("cut", pairs=len(pairs), src=",".join(sources), dst=",".join(targets), handle=handle)
        if leader is not None and had_majority and not self._leader_reach()[1]:
            # The failover clock starts here, as it does at a leader's crash.
            self.sim.recorder.event(self.env.now, leader, "leader_isolated", {"was_leader": True})

        def undo() -> None:
            removed = net.remove_partition(handle) if kind == "partition" else net.remove_cut(handle)
            if removed:
                self._event("heal", handle=handle, healed=kind)

        return undo

    def _event(self, kind: str, **fields: Any) -> None:
        self.sim.recorder.event(self.env.now, "", kind, fields)

    def crash(self, node: Node) -> None:
        """Crash one node, noting whether it was the leader (of the highest epoch)."""
        was_leader = node.name in self.leaders()
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
        stop = spec.until if spec.until is not None else math.inf
        if spec.start:
            yield self.env.timeout(spec.start)
        while True:
            yield self.env.timeout(self.rng.expovariate(1.0 / churn.mtbf))
            if self.env.now >= stop:
                return  # churn strikes between `start` and `until`; a node it took down has come back
            down = sum(1 for n in self.sim.nodes.values() if not n.up)
            if not node.up or down >= churn.max_down:
                continue
            self.crash(node)
            incarnation = node.incarnation
            # Back after the repair time, and by `until` at the latest: churn ends with every node up.
            yield self.env.timeout(min(self.rng.expovariate(1.0 / churn.mttr), stop - self.env.now))
            if not node.up and node.incarnation == incarnation:  # not recovered and crashed again meanwhile
                self.recover(node)

    def _install_byzantine(self, spec: FaultSpec) -> None:
        for name in self._resolve(spec.byzantine or [], "crash"):
            node = self.sim.nodes[name]
            node.behaviours.append(make_behaviour(spec, self.sim.mechanism, self.sim.py_rng(f"byzantine:{name}")))
            until = spec.until if spec.until is not None else math.inf
            self.sim.recorder.event(0.0, name, "byzantine", {"behaviour": spec.behaviour, "from_ms": spec.from_ or 0.0, "until_ms": until})

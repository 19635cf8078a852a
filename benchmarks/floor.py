"""The protocols' own floor: what their handlers cost per message with a kernel, network and tables that cost nothing.

Issue 13 asks speed of the kernel, the network, the messages and the tables, and leaves the
protocol code as it is. This measures how far that can go. It runs a scenario once, noting each
call the kernel makes into a node's protocol (start, message, client request, timer) and when;
then it replays those calls, in the same order and at the same simulated times, into fresh
protocols whose context sends, schedules and records nothing (a call that returns at once). The
replay's CPU time per delivered message is what the protocols' own code costs, which no work on
the kernel can remove; the bare heapq loop's rate times that cost bounds the ratio any kernel
could reach with this protocol code ("ceiling"). The replay is checked against the run: it must
make the same decisions, or the benchmark fails.

The clients' logic is left out of the replay (the floor is then lower, so the ceiling higher),
and so is the replay loop's own cost (measured on the same calls with nothing called).

    python benchmarks/floor.py [--mechanism raft] [--repeat 3] [--json]
    python benchmarks/floor.py --mechanism pbft [--nodes 4]   # PBFT at pbft_scaling.py's sizes
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from typing import Any

from common import heapq_rate, report

from sim.kernel import Simulation
from sim.node import Node
from sim.protocols.base import ClientRequest
from sim.records import DELIVERED
from sim.scenario import Scenario

START, MESSAGE, TIMER = 0, 1, 2
Call = tuple[float, Node, int, Any, Any]
"""One call into a protocol: (simulated time, node, START / MESSAGE / TIMER, src or timer name, message)."""


class RecordingNode(Node):
    """A node that notes every call it makes into its protocol in `calls` (a run without faults, crypto or behaviours)."""

    calls: list[Call]
    decisions: list[int]

    def decide(self, slot: int | str, value: str, **fields: Any) -> None:
        """Count the decision, then record it."""
        self.decisions[0] += 1
        super().decide(slot, value, **fields)

    def start(self) -> None:
        """Note the start, then start."""
        self.calls.append((self.env._now, self, START, None, None))
        super().start()

    def receive(self, src: str, msg: Any, true_src: str) -> None:
        """Note the delivery, then deliver."""
        self.calls.append((self.env._now, self, MESSAGE, src, msg))
        super().receive(src, msg, true_src)

    def _fire(self, timer: tuple[str, int]) -> None:
        name, seq = timer
        if self.up and self._timers.get(name) == seq:
            self.calls.append((self.env._now, self, TIMER, name, None))
        super()._fire(timer)


class ReplayNode(Node):
    """A node whose context does nothing: sends, timers and records return at once; decisions are only counted."""

    decisions: list[int]

    def send(self, dst: str, msg: Any) -> None:  # noqa: D102
        pass

    def broadcast(self, msg: Any) -> None:  # noqa: D102
        pass

    def multicast(self, dsts: Any, msg: Any) -> None:  # noqa: D102
        pass

    def set_timer(self, name: str, delay: float) -> None:  # noqa: D102
        pass

    def cancel_timer(self, name: str) -> None:  # noqa: D102
        pass

    def persist(self) -> None:  # noqa: D102
        pass

    def record(self, kind: str, **fields: Any) -> None:  # noqa: D102
        pass

    def count(self, counter: str, amount: int = 1) -> None:  # noqa: D102
        pass

    def decide(self, slot: int | str, value: str, **fields: Any) -> None:  # noqa: D102
        self.decisions[0] += 1


def factory(cls: type[Node], **fields: Any) -> Callable[..., Node]:
    """Build nodes of `cls` with `fields` set on each (the log they share, the decision count)."""

    def make(*args: Any) -> Node:
        node = cls(*args)
        for key, value in fields.items():
            setattr(node, key, value)
        return node

    return make


def record_calls(scenario: Scenario) -> tuple[list[Call], int, int]:
    """Run `scenario` noting its protocol calls; returns them, the messages delivered and the decisions made."""
    calls: list[Call] = []
    decisions = [0]
    sim = Simulation(scenario, node_cls=factory(RecordingNode, calls=calls, decisions=decisions))
    sim.run()
    delivered = sum(row[DELIVERED] for row in sim.recorder.counts.values())
    return calls, delivered, decisions[0]


def replay(scenario: Scenario, calls: list[Call]) -> tuple[float, float, int]:
    """Replay `calls` into fresh protocols; returns the CPU seconds of the replay, of its bare loop, and the decisions made."""
    decisions = [0]
    sim = Simulation(scenario, node_cls=factory(ReplayNode, decisions=decisions))
    env = sim.env
    twins = [(at, sim.nodes[node.name], kind, arg, msg) for at, node, kind, arg, msg in calls]
    gc.collect()
    gc.disable()
    try:
        started = time.process_time()
        for at, node, kind, arg, msg in twins:
            env._now = at
            if kind == MESSAGE:
                protocol = node.protocol
                if type(msg) is ClientRequest:
                    protocol.on_request(msg)
                else:
                    protocol.on_message(arg, msg)
            elif kind == TIMER:
                node.protocol.on_timer(arg)
            else:
                node.start()
        spent = time.process_time() - started
        started = time.process_time()
        for at, _node, kind, _arg, msg in twins:  # the same loop, calling nothing
            env._now = at
            if kind == MESSAGE and type(msg) is ClientRequest:
                pass
        loop = time.process_time() - started
    finally:
        gc.enable()
    return spent, loop, decisions[0]


def scenario_for(mechanism: str, nodes: int | None = None) -> Scenario:
    """The scenario of the benchmark that issue 13 sets the mechanism's target on (for PBFT at another size, pbft_scaling.py's)."""
    if mechanism == "raft":
        if nodes is not None:
            raise SystemExit("floor.py: --nodes is for --mechanism pbft (the Raft target is on throughput.py's 5 nodes)")
        from throughput import raft_scenario

        return raft_scenario(5, "20s", "1000/s", seed=1)
    if mechanism == "pbft":
        from pbft_scaling import requests_for, scenario

        if nodes is None:
            return scenario(64, 100)  # type: ignore[return-value]  # pbft64.py's run
        if nodes < 4:
            raise SystemExit(f"floor.py: --nodes must be at least 4 (PBFT needs 3f + 1 with f >= 1), not {nodes}")
        return scenario(nodes, requests_for(nodes, 80_000))  # type: ignore[return-value]  # pbft_scaling.py's run at that size
    raise SystemExit(f"floor.py: --mechanism must be raft or pbft, not {mechanism!r}")


def main() -> None:
    """Measure the floor and print it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mechanism", default="raft", help="raft (throughput.py's run) or pbft (pbft64.py's run) (default raft)")
    parser.add_argument(
        "--nodes", type=int, default=None, help="PBFT only: pbft_scaling.py's run at this size (about 80,000 messages), not pbft64.py's"
    )
    parser.add_argument("--repeat", type=int, default=3, help="replays; the least CPU is reported (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    scenario = scenario_for(args.mechanism, args.nodes)
    calls, delivered, decided = record_calls(scenario)
    best = float("inf")
    for _ in range(args.repeat):
        spent, loop, replayed = replay(scenario, calls)
        if replayed != decided:
            raise SystemExit(f"floor.py: the replay made {replayed} decisions where the run made {decided}; it is not the same run")
        best = min(best, spent - loop)
    baseline = heapq_rate(delivered, args.repeat)
    floor_us = 1e6 * best / delivered
    ceiling = 1e6 / floor_us / baseline
    record = {
        "benchmark": "floor",
        "mechanism": args.mechanism,
        "nodes": scenario.n,
        "messages": delivered,
        "calls": len(calls),
        "decisions": decided,
        "cpu_s": round(best, 3),
        "floor_us_per_message": round(floor_us, 2),
        "baseline_rate": round(baseline),
        "ceiling": round(ceiling, 3),
    }
    record["text"] = (
        f"{args.mechanism} (n={scenario.n}): its protocols' own code, replayed with a kernel that costs nothing, "
        f"takes {floor_us:.2f} µs per message "
        f"({len(calls):,} calls, {delivered:,} messages); no kernel could take it above ratio {ceiling:.3f}"
    )
    lines = [
        f"run: {delivered:,} messages delivered, {len(calls):,} calls into protocols, {decided:,} decisions (the replay made the same)",
        f"protocol code alone: {best:.3f} s CPU, {floor_us:.2f} µs per message (best of {args.repeat}, the replay loop's cost taken off)",
        f"bare heapq loop: {baseline:,.0f} messages per CPU second; ceiling of the ratio with this protocol code: {ceiling:.3f}",
    ]
    report(record, lines, args.json)


if __name__ == "__main__":
    main()

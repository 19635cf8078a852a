"""PBFT under message loss: liveness, latency p50, view changes and messages per decision.

Runs scenarios/pbft-normal.yaml at n=7 over a grid of loss rates and seeds and prints one row
per loss rate (means over the seeds). The README quotes it (`make docs`). Usage:

    python benchmarks/pbft_loss.py [--nodes 7] [--seeds 3] [--loss 0,0.05,0.1,0.2,0.3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import common  # noqa: F401  (puts the repository on the import path)

from sim import load_scenario, run

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "pbft-normal.yaml"


def measure(nodes: int, seeds: int, losses: Sequence[float]) -> list[dict[str, Any]]:
    """One row per loss rate: means over seeds 1..`seeds` of the headline keys, and the wall time."""
    table = []
    for loss in losses:
        rows = []
        start = time.perf_counter()
        for seed in range(1, seeds + 1):
            scenario = load_scenario(SCENARIO, overrides={"nodes": nodes, "network.loss": loss}, seed=seed)
            rows.append(run(scenario).summary)

        def mean(key: str, rows: list[dict] = rows) -> float:
            values = [r[key] for r in rows if r.get(key) is not None]
            return statistics.mean(values) if values else float("nan")

        table.append(
            {
                "loss": loss,
                "liveness": mean("liveness"),
                "latency_ms_p50": mean("latency_ms_p50"),
                "view_changes": mean("view_changes"),
                "messages_per_decision": mean("messages_per_decision"),
                "safety_violations": sum(r["safety_violations"] for r in rows),
                "wall_s": time.perf_counter() - start,
            }
        )
    return table


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=7)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--loss", default="0,0.05,0.1,0.2,0.3")
    args = parser.parse_args()
    print(f"{'loss':>5} {'liveness':>9} {'p50_ms':>8} {'view_chg':>9} {'msg/dec':>9} {'safety':>7} {'wall_s':>7}")
    for r in measure(args.nodes, args.seeds, [float(x) for x in args.loss.split(",")]):
        print(
            f"{r['loss']:>5.2f} {r['liveness']:>9.3f} {r['latency_ms_p50']:>8.1f} {r['view_changes']:>9.1f} "
            f"{r['messages_per_decision']:>9.1f} {r['safety_violations']:>7d} {r['wall_s']:>7.1f}"
        )


if __name__ == "__main__":
    main()

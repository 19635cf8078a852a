"""PBFT under message loss: liveness, latency p50, view changes and messages per decision.

Runs scenarios/pbft-normal.yaml at n=7 over a grid of loss rates and seeds and prints one row
per loss rate (means over the seeds). Usage:

    python benchmarks/pbft_loss.py [--nodes 7] [--seeds 3] [--loss 0,0.05,0.1,0.2,0.3]

Measured (5 seeds, n = 7): liveness 1.0 / 1.0 / 1.0 / 0.987 / 0.791 at loss 0 / 5 / 10 / 20 / 30%
(before retransmission and fetch: 1.0 / 0.837 / 0.533 / 0.062 / 0.003).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import common  # noqa: F401  (puts the repository on the import path)

from sim import load_scenario, run

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "pbft-normal.yaml"


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=7)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--loss", default="0,0.05,0.1,0.2,0.3")
    args = parser.parse_args()
    print(f"{'loss':>5} {'liveness':>9} {'p50_ms':>8} {'view_chg':>9} {'msg/dec':>9} {'safety':>7} {'wall_s':>7}")
    for loss in (float(x) for x in args.loss.split(",")):
        rows = []
        start = time.perf_counter()
        for seed in range(1, args.seeds + 1):
            scenario = load_scenario(SCENARIO, overrides={"nodes": args.nodes, "network.loss": loss}, seed=seed)
            rows.append(run(scenario).summary)
        wall = time.perf_counter() - start

        def mean(key: str, rows: list[dict] = rows) -> float:
            values = [r[key] for r in rows if r.get(key) is not None]
            return statistics.mean(values) if values else float("nan")

        print(
            f"{loss:>5.2f} {mean('liveness'):>9.3f} {mean('latency_ms_p50'):>8.1f} {mean('view_changes'):>9.1f} "
            f"{mean('messages_per_decision'):>9.1f} {sum(r['safety_violations'] for r in rows):>7d} {wall:>7.1f}"
        )


if __name__ == "__main__":
    main()

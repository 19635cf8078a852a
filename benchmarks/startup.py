"""Command-line start-up and sweep scaling: what a user waits for before and around the runs.

Times `consim --help`, `consim validate` and `consim sweep SWEEP --jobs 1` against `--jobs 2`
(each a fresh process, as a user runs them; wall time, the best of five for the first two and
of `--repeat` for the sweeps). On an idle machine
`--jobs 2` should approach twice as fast; another load on the machine eats that margin first.

    python benchmarks/startup.py [--sweep scenarios/sweeps/pbft-cluster-size.yaml] [--repeat 1] [--json]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import report

ROOT = Path(__file__).resolve().parents[1]


def wall(args: list[str], repeat: int) -> float:
    """Best wall time of `python -m sim ARGS` over `repeat` fresh processes."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sim", *args], cwd=ROOT, env=env, check=True, capture_output=True)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    """Run the timings and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", default="scenarios/sweeps/pbft-cluster-size.yaml")
    parser.add_argument("--repeat", type=int, default=1, help="sweeps per --jobs value; the best is reported (default 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object (what `make docs` reads)")
    args = parser.parse_args()
    help_s = wall(["--help"], 5)
    validate_s = wall(["validate", "scenarios/quickstart.yaml"], 5)
    sweeps: dict[int, float] = {}
    for jobs in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            # A fresh folder each time: a sweep reuses finished rows, and these must all be computed.
            sweeps[jobs] = min(
                wall(["sweep", args.sweep, "--jobs", str(jobs), "--out", f"{tmp}/{i}", "-q", "--no-plots"], 1) for i in range(args.repeat)
            )
    name = Path(args.sweep).stem
    record = {
        "benchmark": "startup",
        "help_s": round(help_s, 3),
        "validate_s": round(validate_s, 3),
        "sweep": name,
        "sweep_jobs1_s": round(sweeps[1], 2),
        "sweep_jobs2_s": round(sweeps[2], 2),
        "sweep_speedup": round(sweeps[1] / sweeps[2], 2),
    }
    record["text"] = (
        f"`consim --help` {help_s:.2f} s, `consim validate` {validate_s:.2f} s; `consim sweep {name}` "
        f"{sweeps[1]:.1f} s with `--jobs 1`, {sweeps[2]:.1f} s with `--jobs 2` (x{record['sweep_speedup']}); "
        "wall time"
    )
    lines = [
        f"consim --help        {help_s:.3f} s",
        f"consim validate      {validate_s:.3f} s",
        f"sweep {name}: --jobs 1 {sweeps[1]:.2f} s, --jobs 2 {sweeps[2]:.2f} s, speedup x{record['sweep_speedup']}",
    ]
    report(record, lines, args.json)


if __name__ == "__main__":
    main()

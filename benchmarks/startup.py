"""Command-line start-up and sweep scaling: what a user waits for before and around the runs.

Times `consim --help`, `consim validate` and `consim sweep SWEEP --jobs 1` against `--jobs 2`
(each a fresh process, as a user runs them; wall time, the best of five for the first two and
of `--repeat` for the sweeps, whose `--jobs 1` and `--jobs 2` runs take turns). On an idle machine
`--jobs 2` should approach twice as fast; another load on the machine eats that margin first.
For `--help` and `validate` it also reports the CPU time of the process (user + system, which
another load on the machine inflates far less than the wall time) and which of the heavy
libraries the command imported. Each command runs once untimed first, which writes its bytecode
as a user's machine does: the commands run without PYTHONDONTWRITEBYTECODE even when this
script's environment sets it (as some sandboxes and CI images do), since otherwise consim's own
modules are compiled again on every start whenever no earlier run left their bytecode (about a
fifth more instructions for `consim validate`, measured with callgrind), and the number would
depend on what ran before. The CPU time of a sweep is what the
process tree this script waits for used: workers forked by a fork server (dask's local cluster
with `--jobs 2`, and the local pool when the parent has threads) are not in it, so compare wall
times across backends, not CPU.

    python benchmarks/startup.py [--sweep scenarios/sweeps/pbft-cluster-size.yaml] [--repeat 3] [--no-sweep] [--dask] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import report

ROOT = Path(__file__).resolve().parents[1]


HEAVY = ("numpy", "pandas", "pyarrow", "matplotlib", "networkx", "pydantic", "simpy")
# Runs a command as `python -m sim` does, then names the heavy libraries it left in sys.modules.
PROBE = (
    "import sys; from sim.cli import app\n"
    "try:\n    app(sys.argv[1:], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
    "print('HEAVY', __import__('json').dumps([m for m in {heavy!r} if m in sys.modules]))"
)
FLOOR = (
    "import pathlib, typer, pydantic, yaml\n"
    "class Scenario(pydantic.BaseModel):\n    name: str\n"
    "def validate(path: pathlib.Path) -> None:\n    Scenario.model_validate(yaml.safe_load(path.read_text()))\n"
    "typer.run(validate)"
)
"""The least a `validate` can do on the same libraries: one typer command reading a YAML file into a one-field model."""
PAIR = """
import os, sys, time
from sim.sweep import load_sweep
from sim.sweep.execute import expected_cost, run_task

tasks = sorted(load_sweep(sys.argv[1]).tasks, key=expected_cost)
task = tasks[len(tasks) // 2]
run_task(task)  # imports the mechanism before any timing


def at_once(count):
    started = time.perf_counter()
    children = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            run_task(task)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    return time.perf_counter() - started


print(min(at_once(1) for _ in range(2)), min(at_once(2) for _ in range(2)))
"""
"""Times one median run of the sweep alone, then two copies of it at once, each in a forked process (best of two)."""


def child_env() -> dict[str, str]:
    """The environment of a timed command: this one's, consim on the path, bytecode written and reused as on a user's machine."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPATH": str(ROOT)}


def wall(args: list[str], repeat: int) -> float:
    """Best wall time of `python -m sim ARGS` over `repeat` fresh processes."""
    return timed(args, repeat)[0]


def timed(args: list[str], repeat: int, warm: bool = True, python_args: tuple[str, ...] = ("-m", "sim")) -> tuple[float, float]:
    """Best wall time and best CPU time (user + system) of `python -m sim ARGS` over `repeat` fresh processes.

    `python_args` replaces `-m sim` (e.g. `-c CODE` for the floor below).

    With `warm`, one untimed run first: it writes the bytecode a user's machine keeps. A sweep
    must not be warmed into its own folder: the timed run would then reuse every finished row and
    compute nothing.
    """
    env = child_env()
    if warm:
        subprocess.run([sys.executable, *python_args, *args], cwd=ROOT, env=env, check=True, capture_output=True)
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run([sys.executable, *python_args, *args], cwd=ROOT, env=env, check=True, capture_output=True)
        best_wall = min(best_wall, time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best_cpu = min(best_cpu, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return best_wall, best_cpu


def heavy_imports(args: list[str]) -> list[str]:
    """The heavy libraries (numpy, pandas, ...) that the command `consim ARGS` imports."""
    env = child_env()
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("HEAVY "))
    return list(json.loads(line.removeprefix("HEAVY ")))


def sweep_times(sweep: str, backend: str, jobs: int, repeat: int) -> tuple[float, float]:
    """Best wall time and best CPU time (the command and its workers) of `consim sweep` over `repeat` fresh runs."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            # A fresh folder each time: a sweep reuses finished rows, and these must all be computed.
            args = ["sweep", sweep, "--backend", backend, "--jobs", str(jobs), "--out", f"{tmp}/out", "-q", "--no-plots"]
            took, cpu = timed(args, 1, warm=False)
        best_wall, best_cpu = min(best_wall, took), min(best_cpu, cpu)
    return best_wall, best_cpu


def alternated(sweep: str, backend: str, repeat: int) -> dict[int, tuple[float, float]]:
    """`sweep_times` for `--jobs 1` and `--jobs 2`, taking turns (1, 2, 1, 2, ...): the best of each.

    Taking turns, a change in the machine's speed during the benchmark (another load starting or
    ending) reaches both counts alike instead of only the one measured second.
    """
    best = {1: (float("inf"), float("inf")), 2: (float("inf"), float("inf"))}
    for _ in range(repeat):
        for jobs in (1, 2):
            took, cpu = sweep_times(sweep, backend, jobs, 1)
            best[jobs] = (min(best[jobs][0], took), min(best[jobs][1], cpu))
    return best


def pair_speedup(sweep: str) -> tuple[float, float, float]:
    """How much more two runs at once get done than one: 2 x (one run alone) / (two at once), and the two times.

    2.0 when the two cores do not slow each other; less when they share a physical core or the
    memory bandwidth, or when another load takes one. It bounds what `--jobs 2` can gain on the
    runs themselves, so it says whether a sweep's speedup was the code's or the machine's.
    """
    done = subprocess.run([sys.executable, "-c", PAIR, sweep], cwd=ROOT, env=child_env(), check=True, capture_output=True, text=True)
    one, two = (float(value) for value in done.stdout.split()[-2:])
    return 2 * one / two, one, two


def main() -> None:
    """Run the timings and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", default="scenarios/sweeps/pbft-cluster-size.yaml")
    parser.add_argument(
        "--repeat", type=int, default=3, help="sweeps per --jobs value (1 and 2 take turns); the best of each is reported (default 3)"
    )
    parser.add_argument("--no-sweep", action="store_true", help="time only --help and validate (seconds instead of minutes)")
    parser.add_argument("--dask", action="store_true", help="time the sweep on the dask backend too (needs consim[dask])")
    parser.add_argument("--json", action="store_true", help="print one JSON object (what `make docs` reads)")
    args = parser.parse_args()
    validate_args = ["validate", "scenarios/quickstart.yaml"]
    help_s, help_cpu = timed(["--help"], 5)
    validate_s, validate_cpu = timed(validate_args, 5)
    validate_heavy = heavy_imports(validate_args)
    # What validate cannot go below on typer, pydantic and yaml; timed beside it, so that the
    # comparison holds when this machine's speed drifts between runs.
    floor_s, floor_cpu = timed(["scenarios/quickstart.yaml"], 5, python_args=("-c", FLOOR))
    record: dict[str, Any] = {
        "benchmark": "startup",
        "help_s": round(help_s, 3),
        "help_cpu_s": round(help_cpu, 3),
        "validate_s": round(validate_s, 3),
        "validate_cpu_s": round(validate_cpu, 3),
        "validate_imports": validate_heavy,
        "floor_s": round(floor_s, 3),
        "floor_cpu_s": round(floor_cpu, 3),
    }
    text = (
        f"`consim --help` {help_s:.2f} s wall ({help_cpu:.2f} s CPU), `consim validate` {validate_s:.2f} s wall "
        f"({validate_cpu:.2f} s CPU; imports {', '.join(validate_heavy) or 'none of the heavy libraries'}); "
        f"the least a validate on these libraries costs (one typer command reading the file into a one-field "
        f"pydantic model) {floor_s:.2f} s wall ({floor_cpu:.2f} s CPU)"
    )
    lines = [
        f"consim --help        {help_s:.3f} s wall, {help_cpu:.3f} s CPU",
        f"consim validate      {validate_s:.3f} s wall, {validate_cpu:.3f} s CPU, imports {', '.join(validate_heavy)}",
        f"floor                {floor_s:.3f} s wall, {floor_cpu:.3f} s CPU (a typer command: YAML file into a one-field model)",
    ]
    record["cpu_s"] = round(help_cpu + validate_cpu, 3)
    if not args.no_sweep:
        name = Path(args.sweep).stem
        for backend in ("local", *(("dask",) if args.dask else ())):
            sweeps = alternated(args.sweep, backend, args.repeat)
            speedup = round(sweeps[1][0] / sweeps[2][0], 2)
            tag = "" if backend == "local" else "dask_"
            record.update(
                {
                    "sweep": name,
                    f"sweep_{tag}jobs1_s": round(sweeps[1][0], 2),
                    f"sweep_{tag}jobs2_s": round(sweeps[2][0], 2),
                    f"sweep_{tag}jobs1_cpu_s": round(sweeps[1][1], 2),
                    f"sweep_{tag}jobs2_cpu_s": round(sweeps[2][1], 2),
                    f"sweep_{tag}speedup": speedup,
                }
            )
            how = "" if backend == "local" else " --backend dask"
            text += (
                f"; `consim sweep {name}{how}` {sweeps[1][0]:.1f} s wall with `--jobs 1`, {sweeps[2][0]:.1f} s with `--jobs 2` (x{speedup})"
            )
            lines.append(
                f"sweep {name}{how}: --jobs 1 {sweeps[1][0]:.2f} s ({sweeps[1][1]:.2f} s CPU), "
                f"--jobs 2 {sweeps[2][0]:.2f} s ({sweeps[2][1]:.2f} s CPU), speedup x{speedup}"
            )
        pair, one, two = pair_speedup(args.sweep)
        record["pair_speedup"] = round(pair, 2)
        text += f"; two runs at once on this machine: x{pair:.2f} the work of one (2.0 for independent cores)"
        lines.append(f"one median run alone {one:.2f} s, two at once {two:.2f} s: two cores give x{pair:.2f} the throughput of one")
        # The ratio of this benchmark: how much faster two workers finish the sweep than one.
        record["ratio"] = record["sweep_speedup"]
    record["text"] = text
    report(record, lines, args.json)


if __name__ == "__main__":
    main()

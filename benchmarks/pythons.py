"""The supported Pythons: same journals under each, and which one is fastest per message.

consim supports CPython 3.11, 3.12 and 3.13 (pyproject.toml). For each minor version other than
the one running this script, an interpreter is looked for (`python3.X` on the PATH, else pyenv's
newest 3.X) and a virtual environment `.venv-3.X` is made beside `.venv` with the runtime
dependencies (once; again when pyproject.toml changes).

    python benchmarks/pythons.py            # per-message speed under each Python (the benchmark)
    python benchmarks/pythons.py --json     # the same as one JSON object (what `make docs` reads)
    python benchmarks/pythons.py --test     # every shipped scenario's journal hash under each (`make test-pythons`)
    python benchmarks/pythons.py --setup    # only make the environments (`make test` does, then tests a sample)

The benchmark runs `throughput.py` (5-node Raft end to end, and the echo kernel) and
`pbft_scaling.py` under each interpreter, each in its own process, and quotes their ratios to
the bare heapq loop measured by the same interpreter, and their CPU time per message: the ratio
says how close each Python's kernel comes to its own ceiling, the µs say which is fastest.
The interpreters take turns over `--rounds` rounds (each round in another order), and the table
keeps each one's best. The verdict treats each round as a race, where the machine's speed is
about the same for all of them: it names the fastest only when one interpreter won so many
rounds that equally fast interpreters would do that less than 5% of the time (with 3
interpreters and 7 rounds: 6 of 7), and otherwise says that there is no clear fastest.
An interpreter that is absent or whose environment cannot be made is left out, with the reason.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import ROOT, python_version, report

SUPPORTED = ("3.11", "3.12", "3.13")
"""The minor versions pyproject.toml declares (its classifiers); tests/test_pythons.py checks they agree."""
SAMPLE = (
    "raft-steady.yaml",
    "multipaxos-leader-crash.yaml",
    "pbft-normal.yaml",
    "hotstuff-normal.yaml",
    "tendermint-normal.yaml",
    "gossip-rumor-k2.yaml",
    "voting-weighted.yaml",
    "attestation-forgers.yaml",
    "fleet/no-faults.yaml",
)
"""Scenarios whose journals tests/test_pythons.py compares under each environment: every mechanism once, and a fleet (about 30 s)."""


def others() -> list[str]:
    """The supported minor versions other than the running one."""
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    return [v for v in SUPPORTED if v != running]


def _reports(command: str, version: str) -> bool:
    try:
        done = subprocess.run([command, "-c", "import sys; print(*sys.version_info[:2], sep='.')"], capture_output=True, text=True)
    except OSError:
        return False
    return done.returncode == 0 and done.stdout.strip() == version


def interpreter(version: str) -> str | None:
    """A CPython `version` (e.g. '3.12'): `python3.12` on the PATH if it runs, else pyenv's newest 3.12.x."""
    found = shutil.which(f"python{version}")
    if found and _reports(found, version):
        return found
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))

    def patch(path: Path) -> int:
        tail = path.name.removeprefix(f"{version}.")
        return int(tail) if tail.isdigit() else -1

    for home in sorted(root.glob(f"versions/{version}.*"), key=patch, reverse=True):
        candidate = home / "bin" / f"python{version}"
        if patch(home) >= 0 and candidate.exists() and _reports(str(candidate), version):
            return str(candidate)
    return None


def venv_dir(version: str) -> Path:
    """Where the environment of `version` lives: `.venv-3.12` beside `.venv`."""
    return ROOT / f".venv-{version}"


def venv_python(version: str) -> Path:
    """The environment's interpreter."""
    return venv_dir(version) / "bin" / "python"


def stamp(version: str) -> Path:
    """Written when the install finished; older than pyproject.toml means install again (as Makefile's stamps)."""
    return venv_dir(version) / ".installed-runtime"


def ready(version: str) -> bool:
    """Whether the environment of `version` is installed and as new as pyproject.toml."""
    mark = stamp(version)
    return mark.exists() and mark.stat().st_mtime >= (ROOT / "pyproject.toml").stat().st_mtime


def make_venv(version: str, log: Any = sys.stderr) -> tuple[Path | None, str]:
    """The environment of `version`, made (runtime dependencies, editable consim) unless ready.

    Returns:
        Its interpreter (None when it cannot be had) and a note: how long the install took, or why not.

    """
    if ready(version):
        return venv_python(version), "ready"
    found = interpreter(version)
    if found is None:
        return None, f"no python{version} on the PATH or under pyenv"
    print(f"pythons: making {venv_dir(version).name} from {found} (about 30 s, once)", file=log, flush=True)
    # --no-compile: byte-compiling every installed module took most of the install (72-112 s against
    # about 30 s without); the interpreter compiles what it imports on first use instead.
    started = time.perf_counter()
    install = [str(venv_python(version)), "-m", "pip", "install", "--quiet", "--no-compile", "-e", str(ROOT)]
    steps = [[found, "-m", "venv", str(venv_dir(version))], install]
    for step in steps:
        done = subprocess.run(step, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            return None, f"could not make {venv_dir(version).name}: {last}"
    stamp(version).touch()
    return venv_python(version), f"made in {time.perf_counter() - started:.0f} s"


def check_hashes(python: Path | str, scenarios: list[str] | None = None) -> tuple[bool, str]:
    """Run journal_hashes.py under `python` (all shipped scenarios, or these); whether every hash matched, and its output."""
    paths = [str(ROOT / "scenarios" / s) for s in scenarios or []]
    done = subprocess.run([str(python), str(ROOT / "benchmarks" / "journal_hashes.py"), *paths], cwd=ROOT, capture_output=True, text=True)
    return done.returncode == 0, done.stdout + done.stderr


def test_all() -> int:
    """`make test-pythons`: every shipped scenario's journal hash under each other supported Python; 1 if one differs."""
    failed = False
    for version in others():
        python, note = make_venv(version)
        if python is None:
            print(f"test-pythons: {version} skipped: {note}")
            continue
        started = time.perf_counter()
        same, output = check_hashes(python)
        took = time.perf_counter() - started
        scenarios = sum(1 for line in output.splitlines() if line.startswith(("same", "CHANGED")))
        if same:
            print(f"test-pythons: {version} ({note}): {scenarios} scenarios, every journal as recorded ({took:.0f} s)")
        else:
            failed = True
            print(f"test-pythons: {version}: journals differ\n{output}")
    return 1 if failed else 0


def setup() -> int:
    """`make test`'s set-up: make the environment of each other supported Python present; a line on each."""
    for version in others():
        python, note = make_venv(version)
        print(f"pythons: {version}: {note}" if python is not None else f"pythons: {version} not tested: {note}")
    return 0


def _bench(python: Path | str, name: str, *args: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(
        [str(python), str(ROOT / "benchmarks" / f"{name}.py"), *args, "--json"], cwd=ROOT, capture_output=True, text=True, env=env
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmarks/{name}.py under {python} failed: {done.stderr.strip()[-300:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(python: Path | str, duration: str, repeat: int, nodes: str, messages: int) -> dict[str, Any]:
    """throughput.py and pbft_scaling.py under one interpreter: ratios and µs per message."""
    raft = _bench(python, "throughput", "--duration", duration, "--repeat", str(repeat))
    pbft = _bench(python, "pbft_scaling", "--nodes", nodes, "--messages", str(messages))
    return {
        "python": raft["python"],
        "raft_ratio": raft["ratio"],
        "raft_us": raft["us_per_message"],
        "echo_ratio": raft["echo_ratio"],
        "echo_us": raft["echo_us_per_message"],
        "pbft": [{k: r[k] for k in ("nodes", "ratio", "us_per_message")} for r in pbft["sizes"]],
        "cpu_s": round(raft["cpu_s"] + sum(r["cpu_s"] for r in pbft["sizes"]), 2),
        "peak_rss_mb": max(raft["peak_rss_mb"], pbft["peak_rss_mb"]),
    }


def cost(row: dict[str, Any]) -> float:
    """One number per measurement: the geometric mean of its µs per message (Raft, echo, PBFT at each n)."""
    values = [row["raft_us"], row["echo_us"], *(r["us_per_message"] for r in row["pbft"])]
    product = 1.0
    for v in values:
        product *= v
    return product ** (1 / len(values))


def best_of(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One interpreter's rounds folded into one row: the least µs (and the ratio of that run) of each measurement."""
    raft = min(rounds, key=lambda r: r["raft_us"])
    echo = min(rounds, key=lambda r: r["echo_us"])
    pbft = [min((r["pbft"][i] for r in rounds), key=lambda p: p["us_per_message"]) for i in range(len(rounds[0]["pbft"]))]
    return {
        "python": rounds[0]["python"],
        "raft_ratio": raft["raft_ratio"],
        "raft_us": raft["raft_us"],
        "echo_ratio": echo["echo_ratio"],
        "echo_us": echo["echo_us"],
        "pbft": pbft,
        "cpu_s": round(sum(r["cpu_s"] for r in rounds), 2),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in rounds),
    }


SIGNIFICANCE = 0.05
"""The verdict's level: the chance that equally fast interpreters would make one look fastest so often."""


def binomial_tail(wins: int, rounds: int, chance: float) -> float:
    """The chance of at least `wins` successes in `rounds` trials that each succeed with `chance`."""
    return sum(math.comb(rounds, k) * chance**k * (1 - chance) ** (rounds - k) for k in range(wins, rounds + 1))


def streak_chance(wins: int, rounds: int, interpreters: int) -> float:
    """If all `interpreters` were equally fast: the chance that one of them is fastest in at least `wins` of `rounds`.

    Each is fastest in a round with chance 1/k, so one given interpreter does it in `wins` rounds
    or more with the binomial tail; any of the k, at most k times that (exactly that when `wins`
    is more than half the rounds, as no two can both do it). The candidate is picked after the
    fact, so the test must allow for every interpreter that could have been picked.
    """
    return min(1.0, interpreters * binomial_tail(wins, rounds, 1 / interpreters))


def median(values: list[float]) -> float:
    """The middle value (the mean of the middle two for an even count)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def verdict(measured: dict[str, list[dict[str, Any]]]) -> tuple[str | None, str]:
    """The fastest Python, or None when the rounds do not show one, and a sentence saying which.

    Round i of every interpreter ran in the same stretch of time, so each round is a race: the
    candidate is the interpreter with the least `cost` in the most rounds (then the least median
    cost), and it is named only when equally fast interpreters would give some interpreter that
    many round wins with a chance under `SIGNIFICANCE` (`streak_chance`, which assumes nothing about
    the noise but that equal interpreters are equally likely to win a round). A lead that another
    run could reverse is not a ranking, and the sentence says so instead.

    Args:
        measured: each interpreter's rounds (`measure` records), round i of each from the same pass.

    """
    costs = {python: [cost(r) for r in rounds] for python, rounds in measured.items()}
    names = {python: rounds[0]["python"] for python, rounds in measured.items()}
    if len(costs) == 1:
        return None, f"{names[next(iter(costs))]} (the only one measured)"
    rounds = len(next(iter(costs.values())))
    fastest = [min(costs, key=lambda python: costs[python][i]) for i in range(rounds)]
    ranked = sorted(costs, key=lambda python: (-fastest.count(python), median(costs[python])))
    best, runner_up = ranked[0], min(ranked[1:], key=lambda python: median(costs[python]))
    wins, k = fastest.count(best), len(costs)
    lead = median([theirs / mine - 1 for mine, theirs in zip(costs[best], costs[runner_up], strict=True)])
    p = streak_chance(wins, rounds, k)
    facts = f"the least CPU per message in {wins} of {rounds} rounds (by {lead:.1%} over {names[runner_up]} in the median round)"
    if p < SIGNIFICANCE:
        return names[best], f"{names[best]}: {facts}; {k} equally fast interpreters would give that with p = {p:.2g}"
    needed = next((w for w in range(rounds + 1) if streak_chance(w, rounds, k) < SIGNIFICANCE), None)
    level = f"a test at {SIGNIFICANCE:.0%}"
    bar = f"{level} needs {needed} of {rounds}" if needed is not None else f"{rounds} rounds are too few for {level}"
    return None, f"no clear fastest: {names[best]} used {facts}; {bar}"


def main() -> None:
    """Measure (or with --test, check the journals) under every supported Python present."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", action="store_true", help="compare every shipped scenario's journal hash under each Python")
    parser.add_argument("--setup", action="store_true", help="only make the environments (what `make test` does first)")
    parser.add_argument("--duration", default="20s", help="throughput.py's simulated time (default 20s)")
    parser.add_argument("--repeat", type=int, default=1, help="throughput.py's runs per round, the best counts (default 1)")
    parser.add_argument("--rounds", type=int, default=7, help="rounds over the interpreters, interleaved, each a race (default 7)")
    parser.add_argument("--nodes", default="4,16,64,100", help="pbft_scaling.py's sizes")
    parser.add_argument("--messages", type=int, default=80_000, help="pbft_scaling.py's messages per size")
    parser.add_argument("--no-make", action="store_true", help="use only the environments already made")
    parser.add_argument("--json", action="store_true", help="print one JSON object (what `make docs` reads)")
    args = parser.parse_args()
    if args.test:
        sys.exit(test_all())
    if args.setup:
        sys.exit(setup())
    pythons: list[tuple[str, Path | str]] = [(python_version(), sys.executable)]
    left_out: list[str] = []
    for version in others():
        if args.no_make and not ready(version):
            python, note = None, f"{venv_dir(version).name} not made (--no-make)"
        else:
            python, note = make_venv(version)
        if python is None:
            left_out.append(f"{version}: {note}")
        else:
            pythons.append((version, python))
    # Rounds interleave the interpreters, so that a change in the machine's load over the run
    # falls on all of them alike, and each round starts with another one, so that none always
    # runs first (after the previous round's last, or on a machine just woken up).
    measured: dict[str, list[dict[str, Any]]] = {version: [] for version, _ in pythons}
    for i in range(args.rounds):
        for version, python in pythons[i % len(pythons) :] + pythons[: i % len(pythons)]:
            measured[version].append(measure(python, args.duration, args.repeat, args.nodes, args.messages))
    rows = [best_of(rounds) for rounds in measured.values()]
    rows.sort(key=lambda r: [int(p) for p in re.findall(r"\d+", r["python"])])
    best, said = verdict(measured)
    record: dict[str, Any] = {
        "benchmark": "pythons",
        "rows": rows,
        "rounds": args.rounds,
        "fastest": best,  # None: the lead was within the noise
        "verdict": said,
        "left_out": left_out,
        "cpu_s": round(sum(r["cpu_s"] for r in rows), 2),
        "load_average": round(os.getloadavg()[0], 2),
    }
    per = "; ".join(
        f"{r['python']}: Raft {r['raft_us']} µs (ratio {r['raft_ratio']}), echo {r['echo_us']} µs (ratio {r['echo_ratio']}), "
        f"PBFT n={r['pbft'][-1]['nodes']} {r['pbft'][-1]['us_per_message']} µs"
        for r in rows
    )
    record["text"] = f"CPU per message by Python: {per}; fastest {said}" + (f" (left out: {'; '.join(left_out)})" if left_out else "")
    lines = [f"{'python':<16} {'raft µs':>8} {'ratio':>6} {'echo µs':>8} {'ratio':>6}  pbft µs per message (ratio) by n"]
    for r in rows:
        pbft = ", ".join(f"{p['nodes']}: {p['us_per_message']} ({p['ratio']})" for p in r["pbft"])
        lines.append(f"{r['python']:<16} {r['raft_us']:>8} {r['raft_ratio']:>6} {r['echo_us']:>8} {r['echo_ratio']:>6}  {pbft}")
    lines.append(f"fastest per message: {said}")
    lines += [f"left out {line}" for line in left_out]
    report(record, lines, args.json)


if __name__ == "__main__":
    main()

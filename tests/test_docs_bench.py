"""The README's `benchmarks` region: every benchmark `make bench` runs, with its ratio, CPU, memory, Python and the load."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))  # the generator is a repository tool, not part of the package

from docs_slow import BENCHMARKS, QUICK, benchmarks_text  # noqa: E402


def _bench_commands() -> list[tuple[str, tuple[str, ...]]]:
    """The (script, arguments) that the Makefile's `bench` target runs, in order."""
    recipe = re.search(r"^bench:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert recipe is not None
    found = []
    for line in recipe[1].splitlines():
        words = line.split()
        script = next(w for w in words if w.startswith("benchmarks/"))
        found.append((Path(script).stem, tuple(words[words.index(script) + 1 :])))
    return found


def test_make_bench_runs_what_the_region_renders() -> None:
    """`make bench` runs exactly the region's benchmarks with the same arguments, then pythons.py; --quick covers each."""
    assert _bench_commands() == [*BENCHMARKS, ("pythons", ())]
    assert {name for name, _ in BENCHMARKS} | {"pythons"} == set(QUICK)
    issue_13 = {"throughput", "pbft64", "pbft_scaling", "gossip10k", "gossip_scale", "startup"}
    assert issue_13 <= {name for name, _ in BENCHMARKS}


def _record(name: str, i: int, args: tuple[str, ...] = ()) -> dict[str, Any]:
    record: dict[str, Any] = {"text": f"result of {name} #{i}", "cpu_s": 1.5 + i, "peak_rss_mb": 100 + i, "python": "CPython 3.11.7"}
    if name == "floor":
        nodes = None if "--nodes" not in args else int(args[args.index("--nodes") + 1])
        mechanism = args[args.index("--mechanism") + 1]
        record.update(mechanism=mechanism, nodes=nodes or (5 if mechanism == "raft" else 64), ceiling=round(0.1 * i, 3))
        record["floor_us_per_message"] = {None: 1.5, 4: 3.6, 100: 1.9}[nodes]
    elif name != "startup":
        record["ratio"] = round(0.01 * (i + 1), 3)
    if name == "throughput":
        record.update(echo_us_per_message=3.3, us_per_message=21.5)
    return record


def test_region_has_a_row_per_benchmark_the_python_table_and_the_load() -> None:
    """Each benchmark's row has its command, ratio, CPU and peak memory; each Python its row; the stamp states the load."""
    runs = [(name, args, _record(name, i, args)) for i, (name, args) in enumerate(BENCHMARKS)]
    pbft = [{"nodes": 4, "ratio": 0.05, "us_per_message": 7.0}, {"nodes": 100, "ratio": 0.03, "us_per_message": 11.0}]
    rows = [
        {"python": f"CPython 3.{minor}.0", "raft_us": 20.0 - minor, "raft_ratio": 0.05, "echo_us": 3.0, "echo_ratio": 0.3, "pbft": pbft}
        for minor in (11, 12, 13)
    ]
    verdict = "CPython 3.13.0: less CPU per message than CPython 3.12.0 in 5 of 5 rounds (by 9.1% in the median round), sign test p = 0.031"
    pythons = {"rows": rows, "rounds": 3, "fastest": "CPython 3.13.0", "verdict": verdict, "left_out": ["3.14: not supported yet"]}
    stamp = {"when": "2026-12-02 00:00", "cores": 2, "machine": "x86_64", "cpu": "AMD EPYC", "load_before": 0.31, "load_after": 1.26}
    text = benchmarks_text(runs, pythons, stamp)
    lines = text.splitlines()
    for i, (name, args) in enumerate(BENCHMARKS):
        command = "`" + " ".join([f"{name}.py", *args]) + "`"
        row = next(line for line in lines if line.startswith(f"| {command} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        record = runs[i][2]
        ratio = "—" if name == "startup" else f"≤ {record['ceiling']}" if name == "floor" else str(record["ratio"])
        assert cells == [command, ratio, f"{1.5 + i:.2f}", str(100 + i), f"result of {name} #{i}"]
    raft_floor = next(record for name, _, record in runs if record.get("mechanism") == "raft")
    ceiling = f"could lift Raft's ratio above {raft_floor['ceiling']}"
    assert f"take 1.5 µs per message: no kernel, network or tables, however fast, {ceiling}" in " ".join(lines)
    assert "PBFT's own handlers take 3.6 µs per message at n = 4 and 1.9 µs at n = 100" in " ".join(lines)
    assert "x86_64 machine (AMD EPYC; load average 0.3 when it started, 1.3 when it ended)" in " ".join(lines)
    assert "CPython 3.11.7" in lines[0] + lines[1]
    fastest = "| CPython 3.13.0 (fastest) | 7.0 (0.05) | 3.0 (0.3) | n=4: 7.0 (0.05), n=100: 11.0 (0.03) |"
    assert fastest in lines
    assert sum(line.startswith("| CPython 3.1") for line in lines) == 3
    assert "Left out: 3.14: not supported yet." in " ".join(lines)
    assert "the best of 3 rounds that interleave them" in " ".join(lines)
    assert f"Fastest per message: {verdict}." in " ".join(lines)
    pythons.update(fastest=None, verdict="CPython 3.13.0 by 1.0% over CPython 3.12.0, less than the 5.0% ...: no clear fastest")
    assert "(fastest)" not in benchmarks_text(runs, pythons, stamp)  # a lead within the noise labels no row


def test_a_benchmark_that_failed_is_a_row_saying_so() -> None:
    """A failed benchmark's row says why and has no numbers; the others keep theirs."""
    runs = [(name, args, _record(name, i, args)) for i, (name, args) in enumerate(BENCHMARKS)]
    runs[-1] = (runs[-1][0], runs[-1][1], {"text": "failed: MemoryError", "python": "CPython 3.11.7"})
    pythons = {"rows": [], "rounds": 1, "fastest": "", "verdict": "", "left_out": []}
    stamp = {"when": "2026-12-02 00:00", "cores": 2, "machine": "x86_64", "cpu": "AMD EPYC", "load_before": 0.3, "load_after": 0.3}
    lines = benchmarks_text(runs, pythons, stamp).splitlines()
    name, args = BENCHMARKS[-1]
    command = "`" + " ".join([f"{name}.py", *args]) + "`"
    assert f"| {command} | — | — | — | failed: MemoryError |" in lines
    assert sum(" | — | — | — | " in line for line in lines) == 1


def test_a_timed_sweep_computes_its_runs(monkeypatch: Any) -> None:
    """startup.py times each sweep into a folder no earlier run wrote: a warm-up into the same folder
    left the timed sweep nothing to compute (it reused every row and took 2 s instead of 22 s)."""
    import startup

    outs: list[str] = []

    def record(command: list[str], **_: Any) -> None:
        if "sweep" in command:
            outs.append(command[command.index("--out") + 1])

    monkeypatch.setattr(startup.subprocess, "run", record)
    startup.sweep_times("scenarios/sweeps/pbft-cluster-size.yaml", "local", jobs=2, repeat=2)
    assert len(outs) == 2
    assert len(set(outs)) == len(outs)

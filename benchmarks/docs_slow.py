"""The README regions that take minutes: whole sweeps (tier `docs`) and benchmarks (tier `bench`)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from common import cpu_model, python_version
from docs_session import ROOT, RegionError, Session, column, num, prose, sig, table, transcript

from sim.sweep import SweepResult

# --- sweeps (tier docs) ------------------------------------------------------------------------

SWEEP_ARGS = ("--jobs", "2")


def _sweep(s: Session, name: str) -> SweepResult:
    s.consim("sweep", f"scenarios/sweeps/{name}.yaml", *SWEEP_ARGS)
    return SweepResult.load(s.path(f"results/{name}"))


def _means(result: SweepResult, metric: str, by: list[str]) -> pd.Series:
    runs = result.runs
    where = f"{result.path.name}/runs.parquet"
    for name in [metric, *by]:
        column(runs, name, where)
    return runs.groupby(by, sort=False)[metric].mean()


def sweep_raft_election_timeout(s: Session) -> str:
    """What `consim sweep` prints for the election-timeout sweep, first and again."""
    args = ("sweep", "scenarios/sweeps/raft-election-timeout.yaml", *SWEEP_ARGS)
    return transcript(args, (*args, "-q"), session=s)


def sweeps_table(s: Session) -> str:
    """The shipped sweeps: the question and what each run of it measured."""
    timeout = _sweep(s, "raft-election-timeout")
    failover = _means(timeout, "failover_ms_p50", ["network.loss", "protocol.election_timeout"])
    calm = failover.xs(failover.index.levels[0].min(), level=0)
    timeout_text = "mean failover at 0% loss: " + ", ".join(f"{num(v)} ms at {k}" for k, v in calm.items())

    fanout = _sweep(s, "gossip-fanout-mode")
    to_all = _means(fanout, "time_to_all_ms_mean", ["protocol.mode", "protocol.fanout"])
    per_node = _means(fanout, "messages_per_node", ["protocol.mode", "protocol.fanout"])
    fanouts = " / ".join(str(v) for v in to_all.xs("push").index)
    fanout_text = (
        f"mean time to all at fanout {fanouts}: "
        + "; ".join(f"{mode} " + " / ".join(num(v) for v in to_all.xs(mode)) + " ms" for mode in ("push", "pull", "pushpull"))
        + "; messages per node (push-pull) "
        + " / ".join(sig(v) for v in per_node.xs("pushpull"))
    )

    size = _sweep(s, "pbft-cluster-size")
    cost = _means(size, "messages_per_decision", ["nodes"])
    p50 = _means(size, "latency_ms_p50", ["nodes"])
    size_text = (
        "messages per decision "
        + ", ".join(sig(v) for v in cost)
        + f" at n = {', '.join(str(n) for n in cost.index)}; latency p50 {sig(p50.iloc[0])} → {sig(p50.iloc[-1])} ms"
    )

    loss = _sweep(s, "raft-vs-multipaxos-loss")
    live = _means(loss, "liveness", ["network.loss", "mechanism"])
    msgs = _means(loss, "messages_per_decision", ["network.loss", "mechanism"])
    worst = live.index.levels[0].max()
    unsafe = int(column(loss.runs, "safety_violations", "raft-vs-multipaxos-loss/runs.parquet").sum())
    loss_text = (
        f"{'both stay safe' if unsafe == 0 else f'{unsafe} violations'}; at {100 * worst:g}% loss liveness "
        f"{sig(live[(worst, 'raft')])} (Raft) vs {sig(live[(worst, 'multipaxos')])} (Multi-Paxos), messages per decision "
        f"{sig(msgs[(worst, 'raft')])} vs {sig(msgs[(worst, 'multipaxos')])}"
    )
    rows = [
        ("`raft-election-timeout.yaml`", "Raft's election timeout range against failover time, at 0% and 5% loss", timeout_text),
        (
            "`gossip-fanout-mode.yaml`",
            "push / pull / push-pull anti-entropy against fanout 1–3 on 1000 nodes: time until a write reaches everyone, and the traffic",
            fanout_text,
        ),
        ("`pbft-cluster-size.yaml`", "PBFT at n = 4, 7, 10, 13, 16 (f = 1..5)", size_text),
        (
            "`raft-vs-multipaxos-loss.yaml`",
            "Raft against Multi-Paxos on the same nodes and workload under 0–30% loss",
            loss_text,
        ),
    ]
    return table(("shipped sweep", "question", "what it shows (means over the seeds)"), rows)


def pbft_loss(s: Session) -> str:
    """PBFT's liveness under loss at n = 7, from benchmarks/pbft_loss.py."""
    from pbft_loss import measure

    rows = measure(nodes=7, seeds=5, losses=(0.05, 0.1, 0.2, 0.3))
    live = ", ".join(sig(r["liveness"]) for r in rows)
    losses = ", ".join(f"{100 * r['loss']:.0f}" for r in rows)
    return prose(f"At n = 7 (`python benchmarks/pbft_loss.py --seeds 5`) liveness is {live} at {losses}% loss.")


# --- benchmarks (tier bench) --------------------------------------------------------------------

BENCHMARKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("throughput", ()),
    ("pbft64", ()),
    ("pbft_scaling", ()),
    ("floor", ("--mechanism", "raft")),
    ("floor", ("--mechanism", "pbft")),
    ("floor", ("--mechanism", "pbft", "--nodes", "4")),
    ("floor", ("--mechanism", "pbft", "--nodes", "100")),
    ("gossip10k", ()),
    ("gossip_scale", ()),
    ("gossip_scale", ("--nodes", "1000000")),
    ("startup", ()),
)
"""Every benchmark `make bench` runs, with its arguments, in the order of the README's table (then pythons.py)."""
QUICK: dict[str, tuple[str, ...]] = {
    "throughput": ("--duration", "1s", "--repeat", "1"),
    "pbft64": ("--nodes", "16", "--requests", "5"),
    "pbft_scaling": ("--nodes", "4,16", "--messages", "3000"),
    "floor": ("--repeat", "1"),
    "gossip10k": ("--nodes", "500"),
    "gossip_scale": ("--nodes", "2000"),
    "startup": ("--no-sweep",),
    "pythons": ("--duration", "1s", "--rounds", "1", "--nodes", "4,16", "--messages", "3000", "--no-make"),
}
"""`docs.py --quick`: small arguments in place of each benchmark's own, to check the generator in seconds (never for the README)."""


def _bench(name: str, *args: str) -> dict[str, object]:
    """Run one benchmark (with `args`) in its own process (its peak memory is its own) and read its JSON line."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), *args, "--json"], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise RegionError(f"benchmarks/{name}.py failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


CAMPAIGN = 2000
"""Schedules per mechanism in the full campaign (benchmarks/explore.py's default)."""


def explore_campaign_text(record: dict[str, Any]) -> str:
    """The explore campaign's table from `benchmarks/explore.py --json`'s record."""
    rows = []
    for name, m in record["mechanisms"].items():
        outcomes = ", ".join(f"{count:,} {outcome}" for outcome, count in m["outcomes"].items())
        found = "; ".join(f"schedule {f['schedule']}: {f['outcome']} {f['rule'] or ''}".rstrip() for f in m["failures"][:3]) or "nothing"
        rows.append((f"`{name}`", str(m["bound"]), f"{m['schedules']:,}", f"{m['per_cpu_minute']:,}", outcomes, found))
    schedules = max(m["schedules"] for m in record["mechanisms"].values())
    stamp = prose(
        f"Measured {record['finished_utc']} UTC by `python benchmarks/explore.py --schedules {schedules} --jobs "
        f"{record['jobs']}` on a {record['cores']}-core machine (load average {record['load_at_start']} when it started), "
        f"{record['python']}: explore seed {record['seed']}, each mechanism's shipped base scenario, within its bound. "
        "Schedules per CPU minute count the workers' CPU time, so they are per core (shrinking a failure included); "
        "other load on the machine changes them."
    )
    header = ("mechanism", "bound", "schedules", "per CPU minute", "outcomes", "found")
    text = f"{stamp}\n\n{table(header, rows)}"
    if schedules < CAMPAIGN:
        rates = [(name, m["per_cpu_minute"]) for name, m in record["mechanisms"].items() if m["per_cpu_minute"]]
        need = ", ".join(f"{CAMPAIGN / rate:.0f} CPU minutes for {name}" for name, rate in rates)
        text += "\n\n" + prose(f"At these rates a campaign of {CAMPAIGN:,} schedules each takes about {need}.")
    return text


def explore_campaign(s: Session) -> str:
    """A long `consim explore` campaign per mechanism (benchmarks/explore.py): speed and what it found."""
    return explore_campaign_text(_bench("explore"))


def _command(name: str, args: tuple[str, ...]) -> str:
    return f"`{' '.join([f'{name}.py', *args])}`"


def _cell(record: dict[str, Any], key: str, fmt: str) -> str:
    value = record.get(key)
    return "—" if value is None else format(value, fmt)


def benchmarks_text(runs: list[tuple[str, tuple[str, ...], dict[str, Any]]], pythons: dict[str, Any], stamp: dict[str, Any]) -> str:
    """The `benchmarks` region from one run of every benchmark: when, where and how loaded, a row each, the Python comparison.

    Args:
        runs: (script name, its arguments, its `--json` record) in `BENCHMARKS` order.
        pythons: `pythons.py --json`'s record.
        stamp: `when` (UTC text), `cores`, `machine`, `cpu` (the processor's name), `load_before` and `load_after`
            (1-minute load averages).

    """
    python = runs[0][2]["python"]
    head = prose(
        f"Measured {stamp['when']} UTC by `make docs` on a {stamp['cores']}-core {stamp['machine']} machine ({stamp['cpu']}; load average "
        f"{stamp['load_before']:.1f} when it started, {stamp['load_after']:.1f} when it ended), {python}, all from one run. "
        "Ratios are messages per CPU second against the bare heapq loop run in the same process (for `startup.py`: how many "
        "times faster `--jobs 2` finishes the sweep than `--jobs 1`, in wall time); CPU is the measured work's own, peak RSS "
        "the benchmark process's (for `startup.py`, the largest command it timed). Other load on the machine changes these "
        "numbers, so rerun `make docs` on an idle machine to refresh them. So does the processor: the bare loop stays in the "
        "caches where a large simulation does not, so a ratio compares code measured on one machine, not machines."
    )
    rows = [
        (
            _command(name, args),
            _cell(record, "ratio", "") if "ceiling" not in record else f"≤ {record['ceiling']}",
            _cell(record, "cpu_s", ",.2f"),
            _cell(record, "peak_rss_mb", ",.0f"),
            str(record["text"]),
        )
        for name, args, record in runs
    ]
    result = table(("benchmark", "ratio", "CPU s", "peak RSS MB", "result"), rows)
    throughput = next(record for name, _, record in runs if name == "throughput")
    if "us_per_message" not in throughput:
        raise RegionError(f"benchmarks/throughput.py, which the region's cost per message quotes, {throughput['text']}")
    floors = {(record["mechanism"], record.get("nodes")): record for name, _, record in runs if name == "floor" and "mechanism" in record}
    ceiling = ""
    raft = next((record for (mechanism, _), record in floors.items() if mechanism == "raft"), None)
    if raft is not None:
        ceiling = (
            f" Raft's own handlers alone, replayed call for call into a context that does nothing (`floor.py`), take "
            f"{raft['floor_us_per_message']} µs per message: no kernel, network or tables, however fast, could lift Raft's "
            f'ratio above {raft["ceiling"]} (a "≤" in the ratio column is such a ceiling).'
        )
    small, large = floors.get(("pbft", 4)), floors.get(("pbft", 100))
    if small is not None and large is not None:
        ceiling += (
            f" PBFT's own handlers take {small['floor_us_per_message']} µs per message at n = 4 and "
            f"{large['floor_us_per_message']} µs at n = 100: the work each request costs a replica (executing it, replying, "
            "a certificate, the journal) is spread over about 2n² messages, so no kernel could make PBFT's cost per message "
            "the same at every size."
        )
    cost = prose(
        f"The kernel (network, journal, event loop) delivers a message in about {throughput['echo_us_per_message']} µs of "
        f"CPU; a Raft message costs about {throughput['us_per_message']} µs in all, end to end.{ceiling}"
    )
    by_python = [
        (
            row["python"] + (" (fastest)" if row["python"] == pythons["fastest"] else ""),
            f"{row['raft_us']} ({row['raft_ratio']})",
            f"{row['echo_us']} ({row['echo_ratio']})",
            ", ".join(f"n={p['nodes']}: {p['us_per_message']} ({p['ratio']})" for p in row["pbft"]),
        )
        for row in pythons["rows"]
    ]
    versions = prose(
        f"Per Python (`pythons.py`, each interpreter in its own environment, same run, the best of {pythons['rounds']} rounds "
        f"that interleave them): µs of CPU per message, with the ratio to that interpreter's own heapq loop in brackets. "
        "The verdict treats each round as a race (see pythons.py). "
        f"Fastest per message: {pythons['verdict']}." + (f" Left out: {'; '.join(pythons['left_out'])}." if pythons["left_out"] else "")
    )
    header = ("Python", "Raft end to end", "echo kernel", "PBFT by cluster size")
    return f"{head}\n\n{result}\n\n{cost}\n\n{versions}\n\n{table(header, by_python)}"


def benchmarks(s: Session) -> str:
    """The benchmark results from one run of `make bench`'s benchmarks, stamped with when, where, the load and the Python."""
    import importlib.util

    load_before = os.getloadavg()[0]
    runs = []
    for name, args in BENCHMARKS:
        if name == "startup" and importlib.util.find_spec("distributed") is not None:
            args = (*args, "--dask")
        used = QUICK.get(name, args) if s.quick else args
        try:
            record = _bench(name, *used)
        except RegionError as exc:
            # One benchmark that cannot finish here (the million-node gossip out of memory, say) is a
            # result to state in its row, not a reason to quote none of the others.
            print(f"region benchmarks: {exc}", file=sys.stderr)
            record = {"text": f"failed: {str(exc).splitlines()[-1]}", "python": python_version()}
        runs.append((name, used, record))
    pythons = _bench("pythons", *(QUICK["pythons"] if s.quick else ()))
    stamp = {
        "when": f"{datetime.now(UTC):%Y-%m-%d %H:%M}",
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }
    return benchmarks_text(runs, pythons, stamp)

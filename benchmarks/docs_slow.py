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

BENCHMARKS = ("throughput", "pbft64", "pbft_scaling", "gossip10k", "gossip_scale", "startup")


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


def benchmarks(s: Session) -> str:
    """The benchmark results table, stamped with when, where and on which Python, and the cost per message."""
    load = os.getloadavg()[0]
    records = {name: _bench(name) for name in BENCHMARKS}
    throughput = records["throughput"]
    stamp = prose(
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `make docs` on a {os.cpu_count()}-core {platform.machine()} "
        f"machine (load average {load:.1f} when it started), {throughput['python']}. Ratios are messages per CPU second "
        "against the bare heapq loop run in the same process; other load on the machine changes these numbers, so "
        "rerun `make docs` on an idle machine to refresh them."
    )
    rows = [(f"`{name}.py`", str(record["text"])) for name, record in records.items()]
    cost = prose(
        f"The kernel (network, journal, event loop) delivers a message in about {throughput['echo_us_per_message']} µs of "
        f"CPU; a Raft message costs about {throughput['us_per_message']} µs in all, end to end."
    )
    return f"{stamp}\n\n{table(('benchmark', 'result'), rows)}\n\n{cost}"

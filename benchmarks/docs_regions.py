"""The README's generated regions: what each says, and from which runs.

Each `Region` renders the text between `<!-- generated: NAME -->` and `<!-- /generated -->`.
Its tier says who checks it:

- `test`: cheap runs of shipped scenarios; `tests/test_readme.py` fails when the README differs.
- `docs`: deterministic but too slow for the test suite (whole sweeps); `make docs` rewrites
  them, `python benchmarks/docs.py --check` checks them, and tests/test_shipped_sweeps.py fails
  when a trimmed run of a sweep no longer gives the fingerprint recorded when they were rendered
  (benchmarks/docs_inputs.py).
- `bench`: measurements of this machine (benchmarks); `make docs` rewrites them with when and
  where they were measured, and nothing checks them.

The prose around the numbers lives here, beside the numbers; edit it here and run `make docs`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from docs_fleet import fleet_answers, fleet_benchmark, fleet_compare
from docs_session import (
    Facts,
    RegionError,
    Session,
    column,
    count,
    num,
    pct,
    prose,
    safety,
    sig,
    table,
    transcript,
    without_wall_time,
)
from docs_slow import benchmarks, explore_campaign, pbft_loss, sweep_raft_election_timeout, sweeps_table

TIERS = ("test", "docs", "bench")


@dataclass(frozen=True)
class Region:
    """One generated region of the README."""

    name: str
    tier: str
    render: Callable[[Session], str]


# --- the command line ----------------------------------------------------------------------


def quickstart_run(s: Session) -> str:
    """What `consim run scenarios/quickstart.yaml` prints (what `make demo` shows)."""
    block = without_wall_time(transcript(("run", "scenarios/quickstart.yaml"), session=s))
    return block + "\n\n(`wall_time_s`, the one figure that differs between equal runs, is shown as `…`.)"


# --- the worked example ----------------------------------------------------------------------


def _compare_table(s: Session, name: str) -> pd.DataFrame:
    return pd.read_parquet(s.path(f"results/{name}-compare/table.parquet")).set_index("mechanism")


def compare_crash_vs_byzantine(s: Session) -> str:
    """`consim compare` on the crash-then-equivocation plan, and what it shows."""
    block = transcript(("compare", "scenarios/crash-vs-byzantine-raft.yaml"), session=s)
    where = "the crash-vs-byzantine-raft comparison table"
    frame = _compare_table(s, "crash-vs-byzantine-raft")
    cost = column(frame, "messages_per_decision", where)
    unsafe = column(frame, "safety_violations", where)
    crash_only = [m for m in ("raft", "multipaxos") if m in frame.index]
    if "pbft" not in frame.index or not crash_only:
        raise RegionError(f"{where} lacks raft, multipaxos or pbft")
    low, high = min(cost[m] for m in crash_only), max(cost[m] for m in crash_only)
    split = " and ".join(f"{sig(unsafe[m])} violations on average for {m}" for m in crash_only)
    pbft_safe = "stays safe" if unsafe["pbft"] == 0 else f"shows {sig(unsafe['pbft'])} violations on average"
    return f"{block}\n\n" + prose(
        f"Raft and Multi-Paxos are cheaper ({sig(low)}–{sig(high)} messages per change against {sig(cost['pbft'])}) "
        f"but a single lying server splits their logs ({split}); PBFT {pbft_safe} and pays for its byzantine tolerance "
        f"in messages and in its tail latency (p99 {sig(column(frame, 'latency_ms_p99', where)['pbft'])} ms). "
        "`pbft-cluster-size` shows the bill growing with the square of the fleet, and `raft-election-timeout` "
        "failover following the election timeout (both in the [shipped sweeps](#sweeps) table)."
    )


# --- the mechanisms' scenario tables ---------------------------------------------------------

HEADER = ("scenario", "what it shows", "measured")


def raft_scenarios(s: Session) -> str:
    """Raft's shipped scenarios."""
    quick, steady, crash = s.facts("quickstart"), s.facts("raft-steady"), s.facts("raft-leader-crash")
    minority, major = s.facts("raft-minority-partition"), s.facts("raft-majority-partition-heal")
    flaky, churn, regions = s.facts("raft-flaky-network"), s.facts("raft-churn"), s.facts("raft-three-regions")
    no_pv, pv = s.facts("raft-rejoin-no-prevote"), s.facts("raft-rejoin-prevote")
    rows = [
        (
            "`quickstart`",
            "5 nodes, 1% loss, the leader crashes at 3 s and returns 2 s later",
            f"{num(quick['decisions'])} decisions, failover {num(quick['failover_ms_p50'])} ms, p50 {sig(quick['latency_ms_p50'])} ms",
        ),
        (
            "`raft-steady`",
            "the baseline: no faults, 200 commands/s",
            f"p50 {sig(steady['latency_ms_p50'])} ms, p99 {sig(steady['latency_ms_p99'])} ms, "
            f"{sig(steady['messages_per_decision'])} messages per decision",
        ),
        (
            "`raft-leader-crash`",
            "two leader crashes under 1% loss",
            f"failover {num(crash['failover_ms_p50'])} ms (median of {crash['failover_ms_count']}, max "
            f"{num(crash['failover_ms_max'])} ms), liveness {sig(crash['liveness'])}",
        ),
        (
            "`raft-minority-partition`",
            "two of five cut off for 3 s: the majority keeps committing",
            f"liveness {sig(minority['liveness'])}, {minority['elections']} elections",
        ),
        (
            "`raft-majority-partition-heal`",
            "a 2/2/1 split: nothing commits for 2 s, then the backlog drains",
            f"{major['elections']} elections over {major['terms']} terms, p99 {num(major['latency_ms_p99'])} ms",
        ),
        (
            "`raft-flaky-network`",
            "10% loss, 5% duplicates, 1–60 ms delays (reordering)",
            f"{safety(s.result('raft-flaky-network'))}; liveness {sig(flaky['liveness'])}, p50 {sig(flaky['latency_ms_p50'])} ms",
        ),
        (
            "`raft-churn`",
            "random crashes (mtbf 2 s, mttr 0.5 s, at most 2 down)",
            f"{safety(s.result('raft-churn'))}; liveness {sig(churn['liveness'])}, {churn['failover_ms_count']} failovers "
            f"(median {num(churn['failover_ms_p50'])} ms, max {num(churn['failover_ms_max'])} ms)",
        ),
        (
            "`raft-three-regions`",
            "40–110 ms links between three regions, timeouts scaled up",
            f"p50 {sig(regions['latency_ms_p50'])} ms, failover {num(regions['failover_ms_p50'])} ms",
        ),
        (
            "`raft-rejoin-no-prevote` / `raft-rejoin-prevote`",
            "a partitioned follower rejoins; without pre-vote it has bumped its term and deposes the leader",
            f"{no_pv['elections']} elections / {no_pv['terms']} terms without pre-vote, {pv['elections']} / {pv['terms']} with it",
        ),
        (
            "`crash-vs-byzantine-raft`",
            "a crash (tolerated), then the leader equivocates (not tolerated)",
            safety(s.result("crash-vs-byzantine-raft")),
        ),
    ]
    return table(HEADER, rows)


def multipaxos_scenarios(s: Session) -> str:
    """Multi-Paxos's shipped scenarios."""
    steady, crash, flexible = s.facts("multipaxos-steady"), s.facts("multipaxos-leader-crash"), s.facts("multipaxos-flexible-quorums")
    rows = [
        (
            "`multipaxos-steady`",
            "one stable leader, 200 commands/s from 4 clients",
            f"p50 {sig(steady['latency_ms_p50'])} ms, p99 {sig(steady['latency_ms_p99'])} ms, "
            f"{sig(steady['messages_per_decision'])} messages per decision",
        ),
        (
            "`multipaxos-leader-crash`",
            "the leader loses 60% of what it sends, then crashes; the next leader adopts accepted values and fills gaps",
            f"{crash['ballots']} ballots, liveness {sig(crash['liveness'])}, {safety(s.result('multipaxos-leader-crash'))}",
        ),
        (
            "`multipaxos-flexible-quorums`",
            "Q1 = 4, Q2 = 2 of 5: phase 2 needs only two nodes, so a crashed follower does not matter",
            f"p50 {sig(flexible['latency_ms_p50'])} ms, {safety(s.result('multipaxos-flexible-quorums'))}",
        ),
        (
            "`multipaxos-equivocation-violation`",
            "one equivocating leader (crash tolerance is not byzantine tolerance)",
            safety(s.result("multipaxos-equivocation-violation")),
        ),
        (
            "`crash-vs-byzantine-multipaxos`",
            "the shared crash-then-equivocation plan",
            safety(s.result("crash-vs-byzantine-multipaxos")),
        ),
    ]
    return table(HEADER, rows)


def _views(facts: Facts) -> str:
    changes = facts["view_changes"]
    return f"{changes} view change{'' if changes == 1 else 's'}"


def pbft_scenarios(s: Session) -> str:
    """PBFT's shipped scenarios."""
    normal, silent, equiv = s.facts("pbft-normal"), s.facts("pbft-silent-backup"), s.facts("pbft-equivocating-primary")
    n16, n64, mixed = s.facts("pbft-n16"), s.facts("pbft-n64"), s.facts("crash-vs-byzantine-pbft")
    rows = [
        (
            "`pbft-normal`",
            "n = 4, checkpoints every 16, crypto costs",
            f"p50 {sig(normal['latency_ms_p50'])} ms, {sig(normal['messages_per_decision'])} messages per decision",
        ),
        (
            "`pbft-silent-backup`",
            "one silent backup: 2f + 1 still prepare and commit, no view change",
            f"{_views(silent)}, {sig(silent['messages_per_decision'])} messages per decision",
        ),
        (
            "`pbft-equivocating-primary`",
            "the primary sends half the backups a different real request; nothing prepares, so they change view",
            f"{_views(equiv)}, {safety(s.result('pbft-equivocating-primary'))}, liveness {sig(equiv['liveness'])}",
        ),
        (
            "`pbft-f-plus-one-byzantine`",
            "two colluding equivocators of 4 exceed f = 1",
            f"{safety(s.result('pbft-f-plus-one-byzantine'))} (expected)",
        ),
        (
            "`pbft-n16`",
            "16 replicas, five silent",
            f"{safety(s.result('pbft-n16'))}, {sig(n16['messages_per_decision'])} messages per decision",
        ),
        ("`pbft-n64`", "64 replicas, a handful of requests", f"{sig(n64['messages_per_decision'])} messages per decision"),
        (
            "`crash-vs-byzantine-pbft`",
            "the shared crash-then-equivocation plan",
            f"{safety(s.result('crash-vs-byzantine-pbft'))}; {_views(mixed)}",
        ),
    ]
    return table(HEADER, rows)


def gossip_scenarios(s: Session) -> str:
    """Gossip's shipped scenarios."""
    modes = [s.facts(f"gossip-{m}-1000") for m in ("push", "pull", "pushpull")]
    rumors = [s.facts(f"gossip-rumor-k{k}") for k in (1, 2, 3)]
    world = s.facts("gossip-small-world-loss")
    rows = [
        (
            "`gossip-push-1000` / `-pull-1000` / `-pushpull-1000`",
            "one write, 1000 nodes, anti-entropy, fanout 1",
            "everyone after " + " / ".join(count(f["time_to_all_rounds_mean"]) for f in modes) + " rounds",
        ),
        (
            "`gossip-rumor-k1` / `-k2` / `-k3`",
            "push rumor mongering with feedback on 1000 nodes",
            "residue "
            + " / ".join(pct(f["residue_mean"]) for f in rumors)
            + " for "
            + " / ".join(sig(f["messages_per_node"], 2) for f in rumors)
            + " messages per node",
        ),
        (
            "`gossip-small-world-loss`",
            "500-node small world, 10% loss, writes to 5 keys",
            f"{world['updates_reached_all']} of {world['updates']} writes reach everyone, in "
            f"{count(world['time_to_all_rounds_mean'])} rounds on average; {safety(s.result('gossip-small-world-loss'))}",
        ),
        (
            "`gossip-partition-heal`",
            "conflicting writes in two halves, then a heal",
            f"{safety(s.result('gossip-partition-heal'))} (the convergence checker compares the stores after the heal)",
        ),
    ]
    return table(HEADER, rows)


def voting_scenarios(s: Session) -> str:
    """Voting's shipped scenarios."""
    major, superm, weighted = (
        s.facts("voting-majority-third-faulty"),
        s.facts("voting-supermajority-third-faulty"),
        s.facts("voting-weighted"),
    )
    undecided = superm["questions"] - superm["decisions"]
    rows = [
        (
            "`voting-majority-third-faulty`",
            "15 voters, 5 vote against the truth, honest ones 90% right; majority rule",
            f"{major['decisions']} of {major['questions']} decided, accuracy {sig(major['decision_accuracy'])}",
        ),
        (
            "`voting-supermajority-third-faulty`",
            "the same under a 2/3 supermajority",
            f"{superm['decisions']} of {superm['questions']} decided ({superm['no_decision_threshold']} of the other "
            f"{undecided} short of the threshold), accuracy {sig(superm['decision_accuracy'])}",
        ),
        (
            "`voting-weighted`",
            "one expert of weight 5 and six light voters, four of them liars",
            f"accuracy {sig(weighted['decision_accuracy'])}: the weight carries the decision where head count would lose",
        ),
    ]
    return table(HEADER, rows)


def attestation_scenarios(s: Session) -> str:
    """Attestation's shipped scenario."""
    f = s.facts("attestation-forgers")
    measured = (
        f"false accepts {sig(f['false_accept_rate'])}, true accepts {sig(f['true_accept_rate'])}, "
        f"{num(f['forged_rejected'])} forgeries rejected, accept p50 {sig(f['accept_ms_p50'], 2)} ms"
    )
    rows = [
        (
            "`attestation-forgers`",
            "60 nodes, 20 attesters (4 false), threshold 7, six forgers of attestations and one forger of senders",
            measured,
        )
    ]
    return table(HEADER, rows)


def compare_raft_steady(s: Session) -> str:
    """`consim compare` on the Raft baseline."""
    return transcript(("compare", "scenarios/raft-steady.yaml", "--replicates", "2"), session=s)


def large_runs(s: Session) -> str:
    """A 2000-node gossip run and its aggregated messages table."""
    result = s.result("gossip-pushpull-1000", "nodes=2000")
    f = s.facts("gossip-pushpull-1000", "nodes=2000")
    rows = len(result.messages)
    starred = int((result.messages["dst"] == "*").sum())
    which = "all" if starred == rows else f"{starred:,}"
    return "```sh\nconsim run scenarios/gossip-pushpull-1000.yaml --set nodes=2000 --no-plots\n```\n\n" + prose(
        f"gives a `messages.parquet` of {rows:,} rows, {which} with `dst` = `*` (one write reaches all "
        f"{f['nodes']:,} nodes in {count(f['time_to_all_rounds_mean'])} rounds, {sig(f['messages_per_node'], 2)} messages per node)."
    )


REGIONS: tuple[Region, ...] = (
    Region("quickstart-run", "test", quickstart_run),
    Region("fleet-answers", "test", fleet_answers),
    Region("fleet-compare", "test", fleet_compare),
    Region("compare-crash-vs-byzantine", "test", compare_crash_vs_byzantine),
    Region("raft-scenarios", "test", raft_scenarios),
    Region("multipaxos-scenarios", "test", multipaxos_scenarios),
    Region("pbft-loss", "test", pbft_loss),
    Region("pbft-scenarios", "test", pbft_scenarios),
    Region("gossip-scenarios", "test", gossip_scenarios),
    Region("voting-scenarios", "test", voting_scenarios),
    Region("attestation-scenarios", "test", attestation_scenarios),
    Region("sweep-raft-election-timeout", "docs", sweep_raft_election_timeout),
    Region("sweeps-table", "docs", sweeps_table),
    Region("compare-raft-steady", "test", compare_raft_steady),
    Region("large-runs", "test", large_runs),
    Region("benchmarks", "bench", benchmarks),
    Region("explore-campaign", "bench", explore_campaign),
    Region("fleet-benchmark", "bench", fleet_benchmark),
)

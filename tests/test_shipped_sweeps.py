import sys
from pathlib import Path

import pytest
import yaml

from sim.sweep import build_sweep, is_sweep_file, load_sweep, run_sweep

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))  # a repository tool, not part of the package
import docs_inputs  # noqa: E402

SWEEPS = Path(__file__).resolve().parent.parent / "scenarios" / "sweeps"
FILES = sorted(SWEEPS.glob("*.yaml"))


def test_every_shipped_sweep_is_under_scenarios_sweeps_and_recognisable():
    """The four sweeps of issue 5 ship, each with a description and a top-level grid (so scenario tests skip them)."""
    names = {p.stem for p in FILES}
    assert {"raft-election-timeout", "gossip-fanout-mode", "pbft-cluster-size", "raft-vs-multipaxos-loss"} <= names
    for path in FILES:
        data = yaml.safe_load(path.read_text())
        assert is_sweep_file(path) and data["description"].strip() and data["name"] == path.stem


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_shipped_sweep_resolves_every_grid_point(path):
    """Every grid point of every shipped sweep is a valid scenario for its base (nothing runs)."""
    sweep = load_sweep(path)
    assert len(sweep.points) >= 2 and len(sweep.tasks) == len(sweep.points) * len(sweep.spec.seeds)
    assert len({t.key for t in sweep.tasks}) == len(sweep.tasks)


def test_raft_election_timeout_sweep_runs_end_to_end_small(tmp_path):
    """A trimmed copy of the Raft timeout sweep runs: rows per run, failover measured, longer timeouts fail over slower."""
    data = yaml.safe_load((SWEEPS / "raft-election-timeout.yaml").read_text())
    data["grid"] = {"protocol.election_timeout": [["150ms", "300ms"], ["600ms", "1200ms"]]}
    data["replicates"] = 2
    data["set"] = {"duration": "5s", "faults": [{"at": "1s", "crash": "leader"}], "workload.rate": "50/s", "workload.until": "4.5s"}
    sweep = build_sweep(data, "raft-election-timeout (trimmed)", SWEEPS)
    result = run_sweep(sweep, out=tmp_path / "out", jobs=1, quiet=True)
    assert result.executed == 4 and result.failed == 0
    runs = result.runs
    assert (runs["failover_ms_count"] == 1).all() and (runs["safety_violations"] == 0).all()
    fast = runs[runs["protocol.election_timeout"] == "[150ms, 300ms]"]["failover_ms_p50"]
    slow = runs[runs["protocol.election_timeout"] == "[600ms, 1200ms]"]["failover_ms_p50"]
    # A follower's timer runs from the last heartbeat it heard, up to one 50ms interval before the crash.
    assert fast.between(100, 400).all() and slow.between(550, 1500).all()
    assert (tmp_path / "out" / "summary.parquet").exists()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_shipped_sweep_runs_trimmed(path, tmp_path):
    """Each shipped sweep runs end to end on the ends of its grid with one seed: no failed run, rows and aggregates written."""
    sweep = build_sweep(docs_inputs.trimmed(path), f"{path.stem} (trimmed)", SWEEPS)
    result = run_sweep(sweep, out=tmp_path / "out", jobs=1, quiet=True)
    assert result.failed == 0 and result.executed == len(sweep.tasks) >= 2
    assert (result.runs["safety_violations"] == 0).all()
    assert (tmp_path / "out" / "runs.parquet").exists() and (tmp_path / "out" / "summary.parquet").exists()
    # The README's sweep regions were rendered from code that gave these same runs (else they are stale).
    recorded = docs_inputs.recorded().get(f"sweep:{path.stem}")
    assert docs_inputs.fingerprint(result.runs) == recorded, (
        f"{path.stem}'s runs changed since the README's sweep regions were rendered: run `make docs` (it records the new fingerprint)"
    )


def test_capacity_sweep_shows_saturation(tmp_path):
    """At the low end of the capacity sweep throughput follows the offered load; at the high end it falls short and latency climbs."""
    data = yaml.safe_load((SWEEPS / "capacity.yaml").read_text())
    rates = data["grid"]["workload.rate"]
    data["grid"] = {**data["grid"], "workload.rate": [rates[0], rates[-1]]}
    data["replicates"] = 1
    runs = run_sweep(build_sweep(data, "capacity (ends)", SWEEPS), out=tmp_path / "out", jobs=1, quiet=True).runs
    runs["offered_per_s"] = runs["commands_measured"] / (runs["measure_until_ms"] - runs["measure_from_ms"]) * 1000
    for mechanism, rows in runs.groupby("mechanism"):
        low, high = rows.sort_values("workload.rate").to_dict("records")
        assert low["throughput_per_s"] == pytest.approx(low["offered_per_s"], rel=0.1), mechanism
        assert high["throughput_per_s"] < 0.9 * high["offered_per_s"], mechanism
        assert high["latency_ms_p99"] > 3 * low["latency_ms_p99"] and high["retries"] > low["retries"], mechanism


def test_bft_message_complexity_sweep_draws_quadratic_and_linear_references(tmp_path):
    """The shipped BFT sweep over n (trimmed to n = 4, 10): PBFT and Tendermint grow faster than HotStuff, and its
    figure carries each mechanism's fitted law, n^2 or n, labelled."""
    from sim.sweep_plots import message_complexity

    path = SWEEPS / "bft-message-complexity.yaml"
    data = yaml.safe_load(path.read_text())
    data["grid"]["nodes"] = [4, 10]
    data.pop("theory")  # two n against three mechanisms: the lines are the n, so laws keyed by mechanism are refused
    data["replicates"] = 1
    result = run_sweep(build_sweep(data, "bft-message-complexity (trimmed)", SWEEPS), out=tmp_path / "out", jobs=1, quiet=True)
    assert result.failed == 0
    per = result.runs.pivot_table(index="nodes", columns="mechanism", values="messages_per_decision")
    growth = per.loc[10] / per.loc[4]
    assert growth["pbft"] > growth["hotstuff"] and growth["tendermint"] > growth["hotstuff"]
    figure = message_complexity(result.runs)
    labels = {line.get_label() for line in figure.axes[0].get_lines()}
    figure.clear()
    assert {"pbft: ∝ n^2 (fitted)", "tendermint: ∝ n^2 (fitted)", "hotstuff: ∝ n (fitted)"} <= labels


def test_the_bft_sweep_draws_its_reference_laws_itself(tmp_path, monkeypatch):
    """`consim sweep` on the shipped BFT sweep (trimmed) draws messages per decision with the spec's per-mechanism laws."""
    import sim.sweep_plots as sweep_plots
    from sim.cli_sweep import sweep_command

    seen: dict[str, object] = {}
    original = sweep_plots.metric_vs_param

    def spy(runs, metric, x, hue=None, **kwargs):
        seen[metric] = kwargs.get("theory")
        return original(runs, metric, x, hue, **kwargs)

    monkeypatch.setattr(sweep_plots, "metric_vs_param", spy)
    data = yaml.safe_load((SWEEPS / "bft-message-complexity.yaml").read_text())
    data["grid"]["nodes"] = [4, 7]
    data["grid"]["mechanism"] = ["pbft", "hotstuff"]
    data["theory"]["messages_per_decision"].pop("tendermint")  # no tendermint line: its law is refused
    data["replicates"] = 1
    trimmed = tmp_path / "bft.yaml"
    data["base"] = str((SWEEPS / data["base"]).resolve())
    trimmed.write_text(yaml.safe_dump(data))
    sweep_command(trimmed, jobs=1, out=tmp_path / "out", quiet=True, plots=True)
    assert seen["messages_per_decision"] == {"pbft": "n^2", "hotstuff": "n"}
    assert (tmp_path / "out" / "plots" / "messages_per_decision_vs_nodes.png").is_file()


def test_a_sweep_naming_an_unknown_law_is_refused_in_one_line(tmp_path):
    """A typo in `theory:` is a load-time error naming the field, not a plot that silently lacks its reference."""
    from sim.errors import ScenarioError
    from sim.sweep.spec import load_sweep

    data = yaml.safe_load((SWEEPS / "bft-message-complexity.yaml").read_text())
    data["base"] = str((SWEEPS / data["base"]).resolve())
    data["theory"] = {"messages_per_decision": {"pbft": "n^3"}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError) as err:
        load_sweep(path)
    assert "theory" in str(err.value) and "n^3" in str(err.value) and "\n" not in str(err.value)

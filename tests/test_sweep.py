import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.scenario import ScenarioError
from sim.sweep import aggregate, describe, load_sweep, run_sweep, t975
from sim.sweep.execute import Progress
from tests.sweep_toy import BASE, ExplodingToy, allow_toy, write_sweep
from tests.toy import Toy

ROOT = Path(__file__).resolve().parent.parent
GRID = {
    "name": "toy",
    "grid": {"network.loss": [0.0, 0.2], "network.delay": ["1ms", "4ms"], "nodes": [3, 5]},
    "zip": [["network.delay", "nodes"]],
    "replicates": 2,
}


def test_grid_is_product_over_groups_with_zips_in_step(tmp_path, monkeypatch):
    """Zipped paths vary together; the product runs over groups; every point gets every seed."""
    allow_toy(monkeypatch)
    sweep = load_sweep(write_sweep(tmp_path, GRID))
    assert sweep.points == [
        {"network.loss": 0.0, "network.delay": "1ms", "nodes": 3},
        {"network.loss": 0.0, "network.delay": "4ms", "nodes": 5},
        {"network.loss": 0.2, "network.delay": "1ms", "nodes": 3},
        {"network.loss": 0.2, "network.delay": "4ms", "nodes": 5},
    ]
    assert [(t.point, t.seed) for t in sweep.tasks][:3] == [(0, 0), (0, 1), (1, 0)]
    assert len({t.key for t in sweep.tasks}) == 8
    assert sweep.tasks[3].scenario.n == 5 and sweep.tasks[3].scenario.network.delay.value == 4.0
    assert sweep.tasks[1].scenario.seed == 1


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"grid": {"network.loss": [0.1, 1.5]}}, "grid.network.loss[1]", "1.5"),
        ({"grid": {"nodes": [3, 0]}}, "grid.nodes[1]", r"(>=|greater than or equal to) 1"),
        ({"grid": {"network.delay": ["1ms", "fast"]}}, "grid.network.delay[1]", "duration"),
        ({"grid": {"protocol.bogus": [1]}}, "grid.protocol.bogus[0]", "unknown field"),
        ({"grid": {"network.loss": []}}, "grid.network.loss", "at least 1"),
        ({"grdi": {}}, "grdi", "unknown field"),
        ({"zip": [["network.loss", "nodes"]], "grid": {"network.loss": [0, 0.1], "nodes": [3]}}, "zip", "same length"),
        ({"zip": [["network.loss", "seed"]], "grid": {"network.loss": [0, 0.1]}}, "zip", "not a grid path"),
        ({"replicates": [1, 1]}, "replicates", "unique"),
        ({"grid": {"seed": [1, 2]}}, "grid", "replicates"),
        ({"base": "missing.yaml"}, "base", "cannot read"),
        ({"set": {"duration": "-1s"}}, "set", "duration"),
        ({"grid": {"network.loss": [0.0, 0.0]}}, "grid", "same scenario"),
    ],
)
def test_bad_sweeps_are_one_line_errors_before_anything_runs(tmp_path, monkeypatch, change, field, words):
    """Every grid value is resolved up front; a bad one names the sweep file, its grid entry and the problem."""
    allow_toy(monkeypatch)
    sweep = {"name": "bad", "grid": {"network.loss": [0.0]}, "replicates": 1, **change}
    path = write_sweep(tmp_path, sweep)
    with pytest.raises(ScenarioError) as info:
        load_sweep(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert info.value.field.startswith(field), message
    assert re.search(words, message), message
    assert "\n" not in message
    assert not (tmp_path / "results").exists()


def test_base_may_be_inline_and_set_applies_before_the_grid(monkeypatch):
    """A sweep built in Python may carry its base scenario inline; `set` overrides reach every run."""
    from sim.sweep import build_sweep

    allow_toy(monkeypatch)
    sweep = build_sweep({"name": "inline", "base": BASE, "set": {"duration": "300ms"}, "grid": {"nodes": [3, 4]}, "replicates": [5, 9]})
    assert [(t.scenario.n, t.seed, t.scenario.duration) for t in sweep.tasks] == [
        (3, 5, 300.0),
        (3, 9, 300.0),
        (4, 5, 300.0),
        (4, 9, 300.0),
    ]


def test_rows_hold_params_seed_and_whole_summary_and_aggregates_have_ci(tmp_path, monkeypatch):
    """runs.parquet: one row per run in grid order with swept columns, seed, summary; summary.parquet: mean/std/CI per point."""
    allow_toy(monkeypatch)
    sweep = {**GRID, "replicates": 3}
    result = run_sweep(write_sweep(tmp_path, sweep), out=tmp_path / "out", jobs=1, protocol_cls=Toy, quiet=True)
    runs = pd.read_parquet(tmp_path / "out" / "runs.parquet")
    assert len(runs) == 12 and result.executed == 12 and result.reused == 0
    assert list(runs.columns[:6]) == ["key", "point", "network.loss", "network.delay", "nodes", "seed"]
    assert list(runs["point"]) == sorted(runs["point"])
    assert {"latency_ms_p50", "messages_per_decision", "liveness", "error"} <= set(runs.columns)
    assert runs["error"].isna().all()
    lossy = runs[runs["network.loss"] == 0.2]
    assert (lossy["messages_dropped"] > 0).all()
    summary = pd.read_parquet(tmp_path / "out" / "summary.parquet")
    row = summary[(summary["point"] == 3) & (summary["metric"] == "latency_ms_mean")].iloc[0]
    values = runs[runs["point"] == 3]["latency_ms_mean"]
    assert row["n"] == 3 and math.isclose(row["mean"], values.mean())
    assert math.isclose(row["std"], values.std(ddof=1))
    half = t975(2) * values.std(ddof=1) / math.sqrt(3)
    assert math.isclose(row["ci_high"] - row["mean"], half) and math.isclose(row["mean"] - row["ci_low"], half)
    assert json.loads((tmp_path / "out" / "sweep.json").read_text())["params"] == ["network.loss", "network.delay", "nodes"]


def test_local_pool_and_dask_give_the_same_rows(tmp_path, monkeypatch):
    """A process pool (spawn) and a local Dask cluster produce identical rows, apart from wall time."""
    allow_toy(monkeypatch)
    path = write_sweep(tmp_path, {**GRID, "grid": {"network.loss": [0.0, 0.2], "nodes": [3, 4]}, "zip": [], "replicates": 1})
    local = run_sweep(path, out=tmp_path / "local", jobs=2, protocol_cls=Toy, quiet=True)
    dask = run_sweep(path, out=tmp_path / "dask", jobs=2, backend="dask", protocol_cls=Toy, quiet=True)
    assert local.executed == dask.executed == 4
    pd.testing.assert_frame_equal(local.runs.drop(columns="wall_time_s"), dask.runs.drop(columns="wall_time_s"))
    pd.testing.assert_frame_equal(local.summary[local.summary.metric != "wall_time_s"], dask.summary[dask.summary.metric != "wall_time_s"])


def test_dask_backend_uses_a_given_scheduler_address(tmp_path, monkeypatch):
    """With --scheduler the runs go to that cluster (here a local one started by the test) and give the same rows."""
    import logging

    from distributed import LocalCluster

    allow_toy(monkeypatch)
    path = write_sweep(tmp_path, {"name": "addr", "grid": {"network.loss": [0.0, 0.2]}, "replicates": 1})
    inline = run_sweep(path, out=tmp_path / "inline", jobs=1, protocol_cls=Toy, quiet=True)
    with LocalCluster(n_workers=1, processes=False, dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        remote = run_sweep(path, out=tmp_path / "remote", backend="dask", scheduler=cluster.scheduler_address, protocol_cls=Toy, quiet=True)
        assert remote.executed == 2
    pd.testing.assert_frame_equal(inline.runs.drop(columns="wall_time_s"), remote.runs.drop(columns="wall_time_s"))


def test_failed_run_is_reported_with_its_parameters_and_others_continue(tmp_path, monkeypatch):
    """An exception in one run becomes an error row and a line naming its parameters; the other runs finish."""
    allow_toy(monkeypatch)
    stream = io.StringIO()
    result = run_sweep(write_sweep(tmp_path, GRID), out=tmp_path / "out", jobs=1, protocol_cls=ExplodingToy, stream=stream)
    bad = result.runs[result.runs["nodes"] == 5]
    good = result.runs[result.runs["nodes"] == 3]
    assert len(bad) == 4 and bad["error"].str.contains("five is too many").all()
    assert good["error"].isna().all() and (good["decisions"] > 0).all()
    assert result.failed == 4
    text = stream.getvalue()
    assert "run failed (network.loss=0.0, network.delay=4ms, nodes=5, seed=0): RuntimeError: five is too many" in text
    failed = result.summary[(result.summary["point"] == 1) & (result.summary["metric"] == "decisions")].iloc[0]
    assert failed["failed"] == 2 and failed["n"] == 0
    # A rerun does not redo failed runs unless asked to.
    again = run_sweep(write_sweep(tmp_path, GRID), out=tmp_path / "out", jobs=1, protocol_cls=Toy, quiet=True)
    assert again.executed == 0 and again.failed == 4
    retried = run_sweep(write_sweep(tmp_path, GRID), out=tmp_path / "out", jobs=1, protocol_cls=Toy, quiet=True, retry_failed=True)
    assert retried.executed == 4 and retried.failed == 0


def test_keep_runs_saves_each_run_directory(tmp_path, monkeypatch):
    """--keep-runs writes results/<sweep>/runs/<key>/ with the run's summary and tables."""
    allow_toy(monkeypatch)
    path = write_sweep(tmp_path, {**GRID, "replicates": 1})
    result = run_sweep(path, out=tmp_path / "out", jobs=1, protocol_cls=Toy, keep_runs=True, quiet=True)
    for key in result.runs["key"]:
        summary = json.loads((tmp_path / "out" / "runs" / key / "summary.json").read_text())
        assert summary["decisions"] == int(result.runs.set_index("key").loc[key, "decisions"])


KILL_SCRIPT = """
import sys
sys.path[:0] = [{root!r}]
import pytest
from tests.toy import Toy
from tests.sweep_toy import allow_toy
from sim.sweep import run_sweep

if __name__ == "__main__":
    allow_toy(pytest.MonkeyPatch())
    run_sweep({sweep!r}, out={out!r}, jobs=1, protocol_cls=Toy, quiet=True)
"""


def test_killed_sweep_keeps_finished_rows_and_rerun_computes_only_the_missing(tmp_path, monkeypatch):
    """SIGKILL part-way: every finished row survives intact; the rerun executes exactly the missing runs."""
    allow_toy(monkeypatch)
    base = {**BASE, "duration": "6s", "workload": {"kind": "poisson", "rate": "400/s"}}
    path = write_sweep(tmp_path, {"name": "slow", "grid": {"network.loss": [0.0, 0.01, 0.02, 0.03]}, "replicates": 3}, base)
    out = tmp_path / "out"
    script = tmp_path / "go.py"
    script.write_text(KILL_SCRIPT.format(root=str(ROOT), sweep=str(path), out=str(out)))
    proc = subprocess.Popen([sys.executable, str(script)], start_new_session=True)
    rows = out / "rows"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and len(list(rows.glob("*.json"))) < 2 and proc.poll() is None:
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    kept = {p.name: p.read_text() for p in rows.glob("*.json")}
    assert 2 <= len(kept) < 12, f"{len(kept)} rows: the sweep was not killed part-way"
    assert not (out / "runs.parquet").exists()
    for text in kept.values():
        assert json.loads(text)["error"] is None  # complete, parseable rows only
    done = []
    result = run_sweep(path, out=out, jobs=1, protocol_cls=Toy, quiet=True, on_row=done.append)
    assert result.executed == len(done) == 12 - len(kept) and result.reused == len(kept)
    assert not {row["key"] + ".json" for row in done} & set(kept)
    assert {p.name: p.read_text() for p in rows.glob("*.json") if p.name in kept} == kept
    assert len(result.runs) == 12 and result.runs["error"].isna().all()


def test_t_quantiles_and_describe_match_the_tables():
    """t_{0.975} matches published values in the table and beyond it; describe gives mean, std and the CI."""
    for df, want in [(1, 12.7062), (4, 2.7764), (9, 2.2622), (31, 2.0395), (40, 2.0211), (120, 1.9799), (10_000, 1.9602)]:
        assert abs(t975(df) - want) < 1e-4, df
    assert math.isnan(t975(0))
    stats = describe([1, 2, 3, 4, 5])
    assert stats["n"] == 5 and stats["mean"] == 3.0 and math.isclose(stats["std"], math.sqrt(2.5))
    assert math.isclose(stats["ci_high"], 3 + 2.776445 * math.sqrt(2.5) / math.sqrt(5), rel_tol=1e-6)
    single = describe([7.0, float("nan")])
    assert single["n"] == 1 and single["mean"] == 7.0 and math.isnan(single["ci_low"])


def test_three_seeds_of_a_percentile_get_the_t_interval_wider_than_their_range():
    """Over 3 seeds a percentile bootstrap of the mean is always [min, max], no 95% interval: the mean gets t.

    The values are a latency p50 of 3 seeds (ms), as a crash-vs-byzantine comparison reported them.
    """
    values = [21.2, 21.538228, 20.853976]
    runs = pd.DataFrame({"x": 1, "seed": [1, 2, 3], "latency_ms_p50": values})
    row = aggregate(runs, ["x"]).iloc[0]
    mean, std = float(np.mean(values)), float(np.std(values, ddof=1))
    half = 4.302653 * std / math.sqrt(3)  # t_{0.975, 2}
    assert row["ci_method"] == "t"
    assert row["ci_low"] < min(values) and row["ci_high"] > max(values)
    assert math.isclose(row["ci_low"], mean - half, rel_tol=1e-9) and math.isclose(row["ci_high"], mean + half, rel_tol=1e-9)
    one = aggregate(runs.iloc[:1], ["x"]).iloc[0]
    assert one["n"] == 1 and math.isnan(one["ci_low"]) and math.isnan(one["ci_high"])  # no interval, not a zero-width one


def test_aggregate_groups_by_parameters_and_skips_failed_rows():
    """aggregate pools replicates per group, keeps group order, counts failures apart from the statistics."""
    runs = pd.DataFrame(
        {
            "x": [2, 2, 1, 1, 1],
            "seed": [0, 1, 0, 1, 2],
            "m": [10.0, 12.0, 1.0, 3.0, 1000.0],
            "error": [None, None, None, None, "boom"],
        }
    )
    out = aggregate(runs, ["x"])
    assert list(out["x"]) == [2, 1] and list(out["metric"]) == ["m", "m"]
    assert list(out["mean"]) == [11.0, 2.0] and list(out["failed"]) == [0, 1] and list(out["n"]) == [2, 2]


def test_progress_bar_shows_count_and_time_left_only_on_a_terminal():
    """The bar reports done/total and an estimate of the time left; it draws nothing when not a TTY."""
    progress = Progress(4, enabled=True, stream=io.StringIO())
    assert not progress.enabled
    progress.done = 1
    line = progress.line(10.0)
    assert "1/4" in line and "00:10 elapsed" in line and "00:30 left" in line
    assert "--:-- left" in Progress(3, stream=io.StringIO()).line(0.0)


def test_sweep_file_is_recognised_by_its_grid(tmp_path, monkeypatch):
    """Sweep files have a top-level grid; scenario files do not."""
    from sim.sweep import is_sweep_file

    allow_toy(monkeypatch)
    path = write_sweep(tmp_path, GRID)
    assert is_sweep_file(path) and not is_sweep_file(tmp_path / "base.yaml")

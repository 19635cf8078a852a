import io
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from sim.cli import app
from sim.cli_sweep import interrupted_text, plot_sweep_command, sweep_command, sweep_overview
from sim.scenario import ScenarioError
from tests.small_scenario import one_line
from tests.sweep_toy import GRID_SMALL, allow_toys, write_sweep


def test_sweep_command_reports_counts_table_and_files_then_plot_draws_them(tmp_path, monkeypatch):
    """sweep_command prints computed/reused counts and a per-point table; a rerun reuses everything; plots land in plots/."""
    allow_toys(monkeypatch)
    path = write_sweep(tmp_path, GRID_SMALL)
    out = tmp_path / "out"
    _, text = sweep_command(path, jobs=1, out=out, quiet=False, stream=io.StringIO())
    assert "4 runs (2 grid points x 2 seeds); 4 computed now, 0 reused, 0 failed" in text
    assert "network.loss" in text.splitlines()[1] and "liveness" in text.splitlines()[1]
    assert str(out / "runs.parquet") in text
    _, again = sweep_command(path, jobs=1, out=out, quiet=True)
    assert "0 computed now, 4 reused" in again
    paths = plot_sweep_command(out, metric="latency_ms_p50")
    assert [p.name for p in paths] == ["latency_ms_p50_vs_network_loss.png"] and paths[0].parent == out / "plots"
    assert "4 of 4 runs are kept" in interrupted_text(path, out)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"backend": "spark"}, "--backend: unknown backend 'spark'"),
        ({"scheduler": "tcp://x:8786"}, "--scheduler: a scheduler address needs --backend dask"),
        ({"jobs": 0}, "--jobs: must be at least 1"),
    ],
)
def test_sweep_command_rejects_bad_options(tmp_path, monkeypatch, kwargs, words):
    """Bad options are one-line input errors naming the option."""
    allow_toys(monkeypatch)
    with pytest.raises(ScenarioError, match=words):
        sweep_command(write_sweep(tmp_path, GRID_SMALL), out=tmp_path / "out", **kwargs)


def test_sweep_command_refuses_a_foreign_out_folder_and_plot_refuses_non_sweeps(tmp_path, monkeypatch):
    """--out never writes into a non-empty folder that is not a sweep; plot asks for known metrics and parameters."""
    allow_toys(monkeypatch)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.tex").write_text("x")
    with pytest.raises(ScenarioError, match="not a sweep directory"):
        sweep_command(write_sweep(tmp_path, GRID_SMALL), out=tmp_path / "busy")
    with pytest.raises(ScenarioError, match="not a finished sweep directory"):
        plot_sweep_command(tmp_path / "busy")
    out = tmp_path / "out"
    sweep_command(write_sweep(tmp_path, GRID_SMALL), jobs=1, out=out, quiet=True)
    with pytest.raises(ScenarioError, match="--x: 'nodes' is not a swept parameter"):
        plot_sweep_command(out, x="nodes")
    with pytest.raises(ScenarioError, match="--metric: no metric 'speed'"):
        plot_sweep_command(out, metric="speed")


def test_a_rerun_into_a_sweep_directory_leaves_only_the_new_sweeps_results(tmp_path, monkeypatch):
    """Another sweep into the same --out: the earlier sweep's figures, consim report, rows and run directories go.

    Before, `report.md` and `report.html` of the first sweep, its plots (against `nodes`) and the
    rows and kept runs of its other points stayed beside the second sweep's tables. A file consim
    did not write stays, and rows the second sweep shares with the first (the same scenario and
    seed) are reused.
    """
    from sim.report import write_report
    from sim.sweep import SweepResult, load_sweep, run_sweep

    allow_toys(monkeypatch)
    out = tmp_path / "out"
    first = write_sweep(tmp_path / "first", {"name": "by-nodes", "grid": {"nodes": [3, 5]}, "replicates": 2})
    sweep_command(first, jobs=1, out=out, quiet=True, keep_runs=True, plots=True)
    write_report(out)
    (out / "notes.md").write_text("mine\n", encoding="utf-8")
    assert (out / "plots" / "messages_per_decision_vs_nodes.png").is_file() and len(list((out / "runs").iterdir())) == 4

    second = write_sweep(tmp_path / "second", GRID_SMALL)
    _, text = sweep_command(second, jobs=1, out=out, quiet=True)
    keys = {task.key for task in load_sweep(second).tasks}
    assert "2 computed now, 2 reused" in text  # nodes 3 is loss 0.0: the same two runs
    assert sorted(p.name for p in out.iterdir()) == ["notes.md", "rows", "runs", "runs.parquet", "summary.parquet", "sweep.json"]
    assert {p.stem for p in (out / "rows").glob("*.json")} == keys
    assert {p.name for p in (out / "runs").iterdir()} < keys  # the kept runs of the two shared runs, no other
    assert (out / "notes.md").read_text(encoding="utf-8") == "mine\n"
    assert SweepResult.load(out).params == ["network.loss"] and "4 of 4 runs are kept" in interrupted_text(second, out)

    # A report.html of the user's stays too; the figures are the new sweep's.
    (out / "report.html").write_text("<p>mine</p>\n", encoding="utf-8")
    sweep_command(second, jobs=1, out=out, quiet=True, plots=True)
    assert (out / "report.html").read_text(encoding="utf-8") == "<p>mine</p>\n"
    assert {p.name.split("_vs_")[1] for p in (out / "plots").glob("*.png")} == {"network_loss.png"}

    # Interrupted, a sweep into the folder reads as unfinished, not as the earlier sweep's tables under its sweep.json.
    def stop(row: dict) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(load_sweep(first), out=out, jobs=1, quiet=True, on_row=stop)
    assert not (out / "runs.parquet").exists() and not (out / "plots").exists()
    with pytest.raises(ScenarioError, match="the sweep has not finished"):
        write_report(out)


def test_a_rerun_never_removes_through_a_link_nor_what_consim_did_not_name(tmp_path, monkeypatch):
    """Reviewer's reproduction: runs/ and rows/ linked to another folder, and that folder's files were deleted.

    Before, a rerun removed every folder in runs/ and every .json in rows/ not named by one of its
    runs, through links too (then ended in a traceback), and every .png in plots/; and `run_sweep`
    into a folder that held no sweep emptied its plots/ and runs/ as well.
    """
    from sim.sweep import load_sweep, run_sweep

    allow_toys(monkeypatch)
    elsewhere = tmp_path / "big-disk"
    (elsewhere / "important").mkdir(parents=True)
    (elsewhere / "important" / "f.txt").write_text("keep\n", encoding="utf-8")
    (elsewhere / "rows").mkdir()
    (elsewhere / "rows" / "settings.json").write_text("{}\n", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "sweep.json").write_text("{}\n", encoding="utf-8")  # an earlier sweep's directory
    (out / "runs").symlink_to(elsewhere)
    (out / "rows").symlink_to(elsewhere / "rows")
    (out / "plots").mkdir()
    (out / "plots" / "diagram.png").write_bytes(b"mine")
    path = write_sweep(tmp_path / "spec", GRID_SMALL)
    _, text = sweep_command(path, jobs=1, out=out, quiet=True)
    assert "4 computed now" in text
    assert (elsewhere / "important" / "f.txt").read_text(encoding="utf-8") == "keep\n"
    assert (elsewhere / "rows" / "settings.json").is_file() and (out / "plots" / "diagram.png").read_bytes() == b"mine"
    # Through the Python API, a folder that is no sweep's is not cleared either.
    other = tmp_path / "other"
    (other / "runs" / "mydata").mkdir(parents=True)
    (other / "runs" / "mydata" / "notes.txt").write_text("mine\n", encoding="utf-8")
    (other / "plots").mkdir()
    (other / "plots" / "latency_vs_nodes.png").write_bytes(b"mine")
    run_sweep(load_sweep(path), out=other, jobs=1, quiet=True)
    assert (other / "runs" / "mydata" / "notes.txt").is_file() and (other / "plots" / "latency_vs_nodes.png").is_file()


# --- the typer commands --------------------------------------------------------------------

runner = CliRunner()

ROOT = Path(__file__).resolve().parent.parent
RAFT_SWEEP = {
    "name": "cli-raft",
    "description": "tiny raft sweep for the CLI tests",
    "base": {
        "name": "cli-raft-base",
        "mechanism": "raft",
        "nodes": 3,
        "duration": "1s",
        "workload": {"kind": "poisson", "rate": "50/s"},
    },
    "grid": {"network.loss": [0.0, 0.1]},
    "replicates": 2,
}


def test_cli_sweep_then_plot_the_sweep_directory(tmp_path):
    """`consim sweep` writes rows and aggregates and says how many ran; `consim plot DIR --metric --x` draws the curve."""
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(RAFT_SWEEP, sort_keys=False))
    out = tmp_path / "out"
    result = runner.invoke(app, ["sweep", str(path), "--jobs", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "4 runs (2 grid points x 2 seeds); 4 computed now, 0 reused, 0 failed" in result.output
    assert len(pd.read_parquet(out / "runs.parquet")) == 4
    assert "_vs_network_loss.png" in result.output  # default plots, x = the swept parameter (flat metrics left out)
    assert (out / "plots" / "liveness_vs_network_loss.png").exists()
    again = runner.invoke(app, ["sweep", str(path), "--out", str(tmp_path / "again"), "-q", "--no-plots"])
    assert again.exit_code == 0 and "plots:" not in again.output and not (tmp_path / "again" / "plots").exists()
    again = runner.invoke(app, ["sweep", str(path), "--out", str(out), "-q"])
    assert again.exit_code == 0 and "0 computed now, 4 reused" in again.output
    plotted = runner.invoke(app, ["plot", str(out), "--metric", "latency_ms_p50", "--x", "network.loss"])
    assert plotted.exit_code == 0, plotted.output
    assert (out / "plots" / "latency_ms_p50_vs_network_loss.png").exists()


def test_a_theory_on_an_unknown_metric_is_refused_before_anything_runs(tmp_path):
    """`theory:` naming no metric a run reports: one line naming the field, exit 2, nothing run or written.

    Before, `consim validate` passed it and `consim sweep` ran every run, drew some plots, then ended in a KeyError.
    """
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({**RAFT_SWEEP, "theory": {"nosuch_metric": "n"}}, sort_keys=False))
    for command in (["validate", str(path)], ["sweep", str(path), "--jobs", "1", "--out", str(tmp_path / "out")]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, result.output
        line = one_line(result.output)
        assert line.startswith(f"{path}: theory.nosuch_metric: no metric 'nosuch_metric' in a raft run's summary (have: ")
        assert "latency_ms_p50" in line and "elections" in line and "unsafe_runs" in line
    assert not (tmp_path / "out").exists()
    # A metric only the mechanism reports, and one the sweep derives, are metrics all the same.
    theory = {"elections": "n", "unsafe_runs": "n"}
    path.write_text(yaml.safe_dump({**RAFT_SWEEP, "grid": {"nodes": [3, 5]}, "theory": theory}, sort_keys=False))
    assert runner.invoke(app, ["validate", str(path)]).exit_code == 0


def test_a_theory_metric_that_loading_could_not_check_is_refused_before_any_plot(tmp_path, monkeypatch):
    """When a mechanism's keys cannot be known before a run, a missing `theory:` metric is still one line, and no plot is drawn."""
    import sim.metrics

    allow_toys(monkeypatch)
    monkeypatch.setattr(sim.metrics, "summary_keys", lambda scenario: None)
    path = write_sweep(tmp_path, {**GRID_SMALL, "grid": {"network.loss": [0.05, 0.1]}, "theory": {"nosuch_metric": "n"}})
    with pytest.raises(ScenarioError, match=r"theory\.nosuch_metric: no metric 'nosuch_metric' in the runs; no plots drawn"):
        sweep_command(path, jobs=1, out=tmp_path / "out", quiet=True, plots=True)
    assert (tmp_path / "out" / "runs.parquet").is_file() and not (tmp_path / "out" / "plots").exists()


def test_a_per_line_law_for_a_line_the_sweep_never_draws_is_refused_before_anything_runs(tmp_path):
    """`theory: {metric: {value: law}}` keyed by no value of the plots' line parameter: one line, exit 2, nothing written.

    Before, such a key (a typo such as `multipaxo`) validated, every run ran, and its law was drawn nowhere.
    """
    path = tmp_path / "sweep.yaml"
    grid = {"mechanism": ["raft", "multipaxos"], "nodes": [3, 5]}  # x: nodes (numeric wins the tie), lines: mechanism
    typo = {"messages_per_decision": {"raft": "n", "multipaxo": "n"}}
    path.write_text(yaml.safe_dump({**RAFT_SWEEP, "grid": grid, "theory": typo}, sort_keys=False))
    for command in (["validate", str(path)], ["sweep", str(path), "--jobs", "1", "--out", str(tmp_path / "out")]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, result.output
        assert one_line(result.output) == (
            f"{path}: theory.messages_per_decision.multipaxo: mechanism has no value 'multipaxo' in the grid, "
            "so no line to draw this law on (lines: raft, multipaxos)"
        )
    assert not (tmp_path / "out").exists()
    # A numeric line parameter's lines are named as the plot labels them: loss 0.0 is the line "0.0", not "0".
    grid = {"nodes": [3, 5, 7], "network.loss": [0.0, 0.1]}
    path.write_text(yaml.safe_dump({**RAFT_SWEEP, "grid": grid, "theory": {"messages_per_decision": {"0.0": "n", "0.1": "n^2"}}}))
    assert runner.invoke(app, ["validate", str(path)]).exit_code == 0
    path.write_text(yaml.safe_dump({**RAFT_SWEEP, "grid": grid, "theory": {"messages_per_decision": {"0": "n"}}}))
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert one_line(result.output).endswith("network.loss has no value '0' in the grid, so no line to draw this law on (lines: 0.0, 0.1)")


def test_a_law_against_an_x_axis_of_names_is_refused_before_anything_runs(tmp_path):
    """A law on a sweep whose plots put names (mechanisms) or a non-positive number on the x axis: one line, exit 2, nothing run.

    Before, `consim validate` passed it and `consim sweep` ran every run, then ended in a ValueError traceback.
    """
    path = tmp_path / "sweep.yaml"
    grid = {"mechanism": ["raft", "multipaxos", "pbft"], "nodes": [4, 7]}  # x: mechanism (three values against two)
    path.write_text(yaml.safe_dump({**RAFT_SWEEP, "grid": grid, "theory": {"messages_per_decision": "n"}}, sort_keys=False))
    for command in (["validate", str(path)], ["sweep", str(path), "--jobs", "1", "--out", str(tmp_path / "out")]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, result.output
        assert one_line(result.output) == (
            f"{path}: theory: a theory overlay needs a positive numeric parameter on the x axis, not mechanism "
            "(the plots put mechanism on the x axis: it has the most values)"
        )
    assert not (tmp_path / "out").exists()
    path.write_text(yaml.safe_dump({**RAFT_SWEEP, "grid": {"network.loss": [0.0, 0.1]}, "theory": {"liveness": "n"}}))
    assert "not network.loss" in one_line(runner.invoke(app, ["validate", str(path)]).output)  # 0 has no log
    path.write_text(yaml.safe_dump({**RAFT_SWEEP, "grid": {"network.loss": [0.05, 0.1]}, "theory": {"liveness": "n"}}))
    assert runner.invoke(app, ["validate", str(path)]).exit_code == 0


def test_a_per_line_law_on_a_sweep_of_one_parameter_is_refused(tmp_path):
    """With one swept parameter the plots draw one line: laws keyed by line would never be drawn, so they are refused."""
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({**RAFT_SWEEP, "grid": {"nodes": [3, 5]}, "theory": {"messages_per_decision": {"raft": "n"}}}))
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert one_line(result.output) == (
        f"{path}: theory.messages_per_decision: a law per line needs a second swept parameter "
        "(the plots draw one line against nodes); give one law, e.g. messages_per_decision: n"
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--backend", "spark"], "--backend: unknown backend 'spark'"),
        (["--jobs", "0"], "--jobs: must be at least 1"),
    ],
)
def test_cli_sweep_bad_input_is_one_line_exit_2(tmp_path, args, words):
    """Bad options and bad sweep files: one line on stderr, exit status 2, nothing run."""
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(RAFT_SWEEP, sort_keys=False))
    result = runner.invoke(app, ["sweep", str(path), "--out", str(tmp_path / "out"), *args])
    assert result.exit_code == 2 and words in result.output and len(result.output.strip().splitlines()) == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**RAFT_SWEEP, "grid": {"network.loss": [0.0, 2.0]}}))
    result = runner.invoke(app, ["sweep", str(bad), "--out", str(tmp_path / "out2")])
    assert result.exit_code == 2 and "grid.network.loss[1]" in result.output
    assert not (tmp_path / "out2").exists()


def test_cli_sweep_whose_workers_all_died_says_so_in_one_line_exit_1(tmp_path, monkeypatch):
    """Worker processes lost (every forked dask worker killed, a pool worker dead): one line, exit 1, no traceback."""
    import sim.sweep
    from sim.errors import WorkersLost

    def lose_workers(*args, **kwargs):
        raise WorkersLost("every dask worker process died (killed by a run, out of memory perhaps) with 3 runs unfinished")

    monkeypatch.setattr(sim.sweep, "run_sweep", lose_workers)
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(RAFT_SWEEP, sort_keys=False))
    result = runner.invoke(app, ["sweep", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.output.strip() == "error: every dask worker process died (killed by a run, out of memory perhaps) with 3 runs unfinished"


def test_cli_plot_options_are_for_sweeps_only(tmp_path):
    """--metric/--x/--hue on a run directory is an input error, not silently ignored."""
    result = runner.invoke(app, ["plot", str(tmp_path), "--metric", "liveness"])
    assert result.exit_code == 2 and "apply to sweep directories only" in result.output


def test_cli_compare_writes_table_and_chart(tmp_path):
    """`consim compare` prints one row per mechanism with its fault model and writes table and trade-off chart."""
    from sim.protocols.base import mechanisms

    names = [m for m in ("raft", "multipaxos", "pbft") if m in mechanisms()]
    scenario = ROOT / "scenarios" / "raft-steady.yaml"
    out = tmp_path / "cmp"
    args = ["compare", str(scenario), "--mechanisms", ",".join(names), "-r", "1", "--out", str(out), "--set", "duration=1500ms"]
    result = runner.invoke(app, [*args, "--set", "workload.start=200ms", "--set", "workload.until=1.2s"])
    assert result.exit_code == 0, result.output
    assert "crash f<n/2 (f≤2 of 5)" in result.output
    assert list(pd.read_csv(out / "table.csv")["mechanism"]) == names and (out / "tradeoff.png").exists()
    unknown = runner.invoke(app, ["compare", str(scenario), "--mechanisms", "raft,nope"])
    assert unknown.exit_code == 2 and "nope" in unknown.output


@pytest.mark.parametrize(
    ("options", "spec", "line"),
    [
        (["--mechanisms", "raft,pbft,raft"], None, "--mechanisms: 'raft' is listed twice"),
        (["--mechanisms", "raft", "--jobs", "-5"], None, "--jobs: must be at least 1"),
        (["--mechanisms", "raft", "--jobs", "0"], None, "--jobs: must be at least 1"),
        ([], {"candidates": ["raft", "pbft", "raft"], "requires": {}}, "SPEC: candidates[2]: 'raft' is listed twice"),
    ],
    ids=["mechanisms", "jobs-negative", "jobs-zero", "spec-candidates"],
)
def test_cli_compare_refuses_a_repeated_mechanism_and_a_job_count_below_one(tmp_path, options, spec, line):
    """Review: `--mechanisms raft,raft` ran every seed twice and counted the copies as replicates (runs=4 and a narrower
    CI from 2 seeds); `--jobs -5` exited 0 where sweep and explore refuse it. One line, exit 2, nothing written."""
    target = ROOT / "scenarios" / "raft-steady.yaml"
    if spec is not None:
        target = tmp_path / "spec.yaml"
        target.write_text(yaml.safe_dump({"scenario": str(ROOT / "scenarios" / "raft-steady.yaml"), **spec}))
    out = tmp_path / "cmp"
    result = runner.invoke(app, ["compare", str(target), *options, "-r", "1", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == line.replace("SPEC", str(target))
    assert not out.exists()


def test_ctrl_c_keeps_finished_rows_and_says_how_to_resume(tmp_path):
    """SIGINT to `consim sweep` part-way: exit 130, a line saying how many rows are kept; the rerun finishes the rest."""
    data = {**RAFT_SWEEP, "name": "slow", "grid": {"network.loss": [0.0, 0.01, 0.02, 0.03, 0.04]}, "replicates": 2}
    data["base"] = {**RAFT_SWEEP["base"], "duration": "8s", "workload": {"kind": "poisson", "rate": "300/s"}}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", "sweep", str(path), "--jobs", "1", "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list((out / "rows").glob("*.json"))) < 1 and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    kept = len(list((out / "rows").glob("*.json")))
    assert proc.returncode == 130, err
    assert f"interrupted: {kept} of 10 runs are kept" in err and "Traceback" not in err
    assert 1 <= kept < 10
    again = runner.invoke(app, ["sweep", str(path), "--jobs", "1", "--out", str(out), "-q"])
    assert again.exit_code == 0 and f"{10 - kept} computed now, {kept} reused" in again.output


def test_overview_prints_each_intervals_two_ends() -> None:
    """A Wilson or clipped interval is not symmetric: the table gives its ends, not mean ± (high - mean), which hid the longer side."""
    rows = [
        {
            "point": 0,
            "loss": 0.0,
            "runs": 10,
            "failed": 0,
            "metric": "latency_ms_p50",
            "n": 10,
            "mean": 22.02,
            "ci_low": 21.741,
            "ci_high": 22.204,
        },
        {"point": 0, "loss": 0.0, "runs": 10, "failed": 0, "metric": "liveness", "n": 10, "mean": 1.0, "ci_low": 0.9977, "ci_high": 1.0},
        {
            "point": 1,
            "loss": 0.1,
            "runs": 1,
            "failed": 0,
            "metric": "latency_ms_p50",
            "n": 1,
            "mean": 30.5,
            "ci_low": float("nan"),
            "ci_high": float("nan"),
        },
        {
            "point": 1,
            "loss": 0.1,
            "runs": 1,
            "failed": 0,
            "metric": "liveness",
            "n": 1,
            "mean": 0.9,
            "ci_low": float("nan"),
            "ci_high": float("nan"),
        },
    ]
    table = sweep_overview(pd.DataFrame(rows), ["loss"])
    assert table["latency_ms_p50"].tolist() == ["22.02 [21.741, 22.204]", "30.5"]  # one run: no interval
    assert table["liveness"].tolist() == ["1 [0.998, 1]", "0.9"]


def test_import_ahead_imports_once_on_a_thread_and_leaves_failures_to_the_real_import(tmp_path, monkeypatch):
    """ImportAhead starts one thread however often it is called; a module it cannot import raises nothing there."""
    from sim.cli_sweep import ImportAhead

    (tmp_path / "consim_ahead_probe.py").write_text("LOADED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "consim_ahead_probe", raising=False)
    ahead = ImportAhead(["consim_no_such_module", "consim_ahead_probe"])
    ahead.start({"key": "a"})
    first = ahead.thread
    ahead.start({"key": "b"})
    assert first is not None and ahead.thread is first
    first.join(timeout=30)
    assert sys.modules["consim_ahead_probe"].LOADED
    monkeypatch.delitem(sys.modules, "consim_ahead_probe")


@pytest.mark.parametrize(
    ("jobs", "plots", "ahead"), [(2, True, ["pyarrow.parquet", "sim.sweep_plots"]), (2, False, ["pyarrow.parquet"]), (1, True, None)]
)
def test_sweep_with_workers_imports_what_it_needs_after_the_runs_while_they_run(tmp_path, monkeypatch, jobs, plots, ahead):
    """With workers the after-run imports begin at the first row, before the last; in-process runs leave them for later."""
    import sim.cli_sweep

    allow_toys(monkeypatch)
    started: list[tuple[list[str], int]] = []
    rows_at_start = []

    def record(self, *_: object) -> None:
        if self.thread is None:
            self.thread = True
            started.append(self.modules)
            rows_at_start.append(len(list((tmp_path / "out").rglob("*.json"))))

    monkeypatch.setattr(sim.cli_sweep.ImportAhead, "start", record)
    sweep_command(write_sweep(tmp_path, GRID_SMALL), jobs=jobs, out=tmp_path / "out", quiet=True, plots=plots)
    assert started == ([ahead] if ahead else [])
    if ahead:
        assert rows_at_start[0] < 1 + 4  # sweep.json and fewer than all 4 rows: the runs were not over

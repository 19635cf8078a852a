import io

import pytest

from sim.cli_sweep import interrupted_text, plot_sweep_command, sweep_command
from sim.scenario import ScenarioError
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

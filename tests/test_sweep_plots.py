import itertools
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import yaml
from matplotlib.collections import PolyCollection

from sim.compare import adapt, compare, tolerates
from sim.scenario import ScenarioError
from sim.sweep.stats import aggregate, ci_method, metric_range, wilson
from sim.sweep_plots import axis_label, metric_vs_param, numeric_axis, save_sweep_plots, tradeoff_chart
from tests.sweep_toy import allow_toys


def _runs() -> pd.DataFrame:
    rows = []
    for timeout in ["[150ms, 300ms]", "[300ms, 600ms]"]:
        for loss in [0.0, 0.1]:
            for seed in range(3):
                base = 100 if timeout.startswith("[150") else 200
                rows.append(
                    {
                        "point": 0,
                        "protocol.election_timeout": timeout,
                        "network.loss": loss,
                        "seed": seed,
                        "failover_ms_p50": base + 50 * loss * 10 + seed,
                        "error": None,
                    }
                )
    return pd.DataFrame(rows)


def test_metric_vs_param_draws_one_line_and_band_per_hue_with_labels():
    """One line with a CI band per hue value; category x values get ticks in grid order; axes say what and in which unit."""
    fig = metric_vs_param(_runs(), "failover_ms_p50", "protocol.election_timeout", hue="network.loss")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["network.loss = 0.0", "network.loss = 0.1"]
    assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 2
    assert [t.get_text() for t in ax.get_xticklabels()] == ["[150ms, 300ms]", "[300ms, 600ms]"]
    assert list(ax.get_xticks()) == [225.0, 450.0] and list(ax.get_lines()[0].get_xdata()) == [225.0, 450.0]
    assert list(ax.get_lines()[0].get_ydata()) == [101.0, 201.0]
    assert ax.get_ylabel() == "failover p50 (ms)" and "95% t CI" in ax.get_title()
    assert ax.get_xlabel() == "protocol election timeout (ms, midpoint of the range)"
    assert ax.get_legend() is not None


def test_metric_vs_param_rejects_unknown_metric():
    """Asking for a metric the runs do not have names the ones they do."""
    with pytest.raises(KeyError, match="failover_ms_p50"):
        metric_vs_param(_runs(), "nope", "network.loss")


def test_numeric_axis_reads_numbers_durations_and_categories():
    """Numbers stay numbers, durations become ms, anything else is placed by first appearance."""
    assert numeric_axis([1, 2.5])[0].tolist() == [1.0, 2.5]
    pos, ticks, unit = numeric_axis(["150ms", "1s"])
    assert pos.tolist() == [150.0, 1000.0] and ticks is None and unit == " (ms)"
    pos, ticks, _ = numeric_axis(["push", "pull", "push"])
    assert pos.tolist() == [0.0, 1.0, 0.0] and ticks == ["push", "pull"]
    pos, ticks, unit = numeric_axis(["[150ms, 300ms]", "[1s, 2s]", ["300ms", "600ms"]])
    assert pos.tolist() == [225.0, 1500.0, 450.0] and ticks == ["[150ms, 300ms]", "[1s, 2s]", "['300ms', '600ms']"]
    assert unit == " (ms, midpoint of the range)"
    assert axis_label("latency_ms_p50") == "latency p50 (ms)" and axis_label("bytes_sent") == "bytes sent"


def test_tradeoff_chart_annotates_fault_model_and_lists_missing():
    """Each mechanism is a point annotated with the faults it tolerates; one that did not run is named with the reason."""
    table = pd.DataFrame(
        [
            {
                "mechanism": "raft",
                "tolerates": "crash f<n/2",
                "messages_per_decision": 8.0,
                "latency_ms_p50": 12.0,
                "messages_per_decision_ci_low": 7.5,
                "messages_per_decision_ci_high": 8.5,
                "latency_ms_p50_ci_low": 11.5,
                "latency_ms_p50_ci_high": 14.0,  # a Wilson or clipped interval: longer above the mean than below
            },
            {
                "mechanism": "pbft",
                "tolerates": "byzantine f<n/3",
                "messages_per_decision": 40.0,
                "latency_ms_p50": 20.0,
                "messages_per_decision_ci_low": np.nan,
                "messages_per_decision_ci_high": np.nan,
                "latency_ms_p50_ci_low": np.nan,
                "latency_ms_p50_ci_high": np.nan,
            },
            {
                "mechanism": "gossip",
                "tolerates": "?",
                "messages_per_decision": np.nan,
                "latency_ms_p50": np.nan,
                "notes": "skipped: workload.kind: unknown workload 'updates'",
            },
        ]
    )
    ax = tradeoff_chart(table).axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert "raft\ncrash f<n/2" in texts and "pbft\nbyzantine f<n/3" in texts
    assert "not run: gossip: workload.kind: unknown workload 'updates'" in ax.get_xlabel()
    assert ax.get_xlabel().startswith("messages per decision") and ax.get_ylabel() == "latency p50 (ms)"
    # Raft's error bars run from the interval's low end to its high end, not mean ± one half-width.
    bars = [c for c in ax.collections if len(c.get_segments()) == 1]
    ends = sorted(tuple(map(tuple, c.get_segments()[0])) for c in bars)
    assert ends == [((7.5, 12.0), (8.5, 12.0)), ((8.0, 11.5), (8.0, 14.0))]


def test_tradeoff_chart_marks_unsafe_mechanisms_starts_at_zero_and_keeps_labels_apart():
    """A mechanism with violations is a red cross with the count; axes start at 0; labels of close points do not overlap."""
    rows = [
        {"mechanism": "raft", "tolerates": "crash f<n/2", "messages_per_decision": 10.0, "latency_ms_p50": 21.0},
        {"mechanism": "multipaxos", "tolerates": "crash f<n/2", "messages_per_decision": 10.5, "latency_ms_p50": 21.3},
        {"mechanism": "pbft", "tolerates": "byzantine f<n/3", "messages_per_decision": 11.0, "latency_ms_p50": 21.1},
    ]
    table = pd.DataFrame(rows).assign(violations_total=[7, 0, 0], unsafe_runs=[2, 0, 0], runs=[3, 3, 3])
    fig = tradeoff_chart(table)
    ax = fig.axes[0]
    assert ax.get_xlim()[0] == 0 and ax.get_ylim()[0] == 0
    markers = [line.get_marker() for line in ax.get_lines() if len(line.get_xdata()) == 1 and line.get_label().startswith("_")]
    assert markers.count("X") == 1 and markers.count("o") == 2
    labels = {t.get_text().split("\n")[0]: t for t in ax.texts}
    assert "UNSAFE: 7 violations in 2/3 runs" in labels["raft"].get_text()
    assert "UNSAFE" not in labels["pbft"].get_text()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in labels.values()]
    frame = ax.get_window_extent(renderer)
    for i, a in enumerate(boxes):
        assert frame.x0 <= a.x0 and a.x1 <= frame.x1, "a label runs off the axes"
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), "two labels overlap"
    plt.close(fig)


def test_compare_fails_when_no_mechanism_can_run_the_scenario():
    """A gossip scenario (updates workload) compared on raft and pbft: nothing can run, so compare says why and fails."""
    scenario = Path(__file__).resolve().parent.parent / "scenarios" / "gossip-partition-heal.yaml"
    with pytest.raises(ScenarioError, match=r"none of the mechanisms can run this scenario \(raft: workload.kind: .*pbft: "):
        compare(scenario, ["raft", "pbft"], 1)


def test_compare_cli_exits_2_when_nothing_could_run(tmp_path):
    """`consim compare` on a scenario no named mechanism can run: one line on stderr, exit 2, nothing written."""
    from typer.testing import CliRunner

    from sim.cli import app

    scenario = Path(__file__).resolve().parent.parent / "scenarios" / "gossip-partition-heal.yaml"
    out = tmp_path / "cmp"
    result = CliRunner().invoke(app, ["compare", str(scenario), "-m", "raft", "-r", "1", "--out", str(out)])
    assert result.exit_code == 2 and "none of the mechanisms can run" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not out.exists()


def test_save_sweep_plots_writes_pngs(tmp_path):
    """Plots of a sweep go to PNG files named after metric and parameter; by default x is the numeric parameter."""
    paths = save_sweep_plots(_runs(), ["protocol.election_timeout", "network.loss"], tmp_path)
    assert [p.name for p in paths] == ["failover_ms_p50_vs_network_loss.png"]
    assert paths[0].stat().st_size > 5000
    chosen = save_sweep_plots(_runs(), ["protocol.election_timeout", "network.loss"], tmp_path, x="protocol.election_timeout")
    assert [p.name for p in chosen] == ["failover_ms_p50_vs_protocol_election_timeout.png"]


def test_adapt_drops_what_a_mechanism_refuses_and_says_so(monkeypatch):
    """Foreign protocol settings and refused byzantine faults are dropped with a note; impossible scenarios are skipped."""
    allow_toys(monkeypatch)
    data = {
        "name": "c",
        "mechanism": "toy",
        "nodes": 4,
        "duration": "1s",
        "protocol": {},
        "faults": [{"byzantine": "n3", "behaviour": "omit"}, {"at": "500ms", "crash": "n1"}],
    }
    scenario, notes = adapt(data, "picky")
    assert scenario is not None and scenario.mechanism == "picky"
    assert [f.action for f in scenario.faults] == ["crash"]
    assert len(notes) == 1 and "dropped fault 'byzantine omit'" in notes[0]
    same, none = adapt(data, "toy")
    assert same is not None and len(same.faults) == 2 and none == []
    skipped, why = adapt({**data, "workload": {"kind": "bogus"}}, "picky")
    assert skipped is None and why[-1].startswith("skipped: workload.kind: unknown workload 'bogus'")


def test_compare_reports_a_bad_scenario_as_such(monkeypatch):
    """A scenario that is wrong for its own mechanism is an input error, not a list of dropped faults."""
    allow_toys(monkeypatch)
    with pytest.raises(ScenarioError, match=r"faults\[0\]\.at"):
        compare({"name": "c", "mechanism": "toy", "duration": "1s", "faults": [{"at": "5s", "crash": "n1"}]}, ["picky"], 1)
    with pytest.raises(ScenarioError, match="unknown mechanism"):
        compare({"name": "c", "mechanism": "toy", "duration": "1s"}, ["nope"], 1)


def test_compare_runs_each_mechanism_on_the_same_scenario(monkeypatch, tmp_path):
    """compare gives one table row per mechanism with means, the fault model and notes, plus every run and a chart."""
    allow_toys(monkeypatch)
    data = {"name": "c", "mechanism": "toy", "nodes": 3, "duration": "1s", "faults": [{"byzantine": "n2", "behaviour": "omit"}]}
    result = compare(data, ["toy", "picky"], replicates=2)
    assert list(result.table["mechanism"]) == ["toy", "picky"] and list(result.table["runs"]) == [2, 2]
    assert len(result.runs) == 4 and sorted(result.runs["seed"].unique().tolist()) == [0, 1]
    picky = result.table.set_index("mechanism").loc["picky"]
    assert picky["tolerates"] == "nothing" and "dropped fault" in picky["notes"]
    assert (result.table["decisions"] > 0).all() and result.table["latency_ms_p50"].notna().all()
    assert tolerates("raft", 5) == "crash f<n/2 (f≤2 of 5)" and tolerates("pbft", 4) == "byzantine f<n/3 (f≤1 of 4)"
    out = result.save(tmp_path / "cmp")
    assert (out / "tradeoff.png").exists() and len(pd.read_csv(out / "table.csv")) == 2


def test_compare_on_a_shipped_scenario_with_the_installed_mechanisms(tmp_path):
    """The Raft steady scenario compared across the installed consensus mechanisms: all live and safe; PBFT pays more messages."""
    from sim.protocols.base import mechanisms

    names = [m for m in ("raft", "multipaxos", "pbft") if m in mechanisms()]
    scenario = Path(__file__).resolve().parent.parent / "scenarios" / "raft-steady.yaml"
    result = compare(scenario, names, replicates=2, overrides={"duration": "2s", "workload.start": "300ms", "workload.until": "1.8s"})
    table = result.table.set_index("mechanism")
    assert list(table.index) == names and (table["runs"] == 2).all() and (table["failed"] == 0).all()
    assert (table["liveness"] > 0.95).all() and (table["safety_violations"] == 0).all()
    assert table.loc["raft", "tolerates"] == "crash f<n/2 (f≤2 of 5)"
    if "pbft" in table.index:
        assert table.loc["pbft", "messages_per_decision"] > table.loc["raft", "messages_per_decision"]
        assert table.loc["pbft", "tolerates"] == "byzantine f<n/3 (f≤1 of 5)"


def test_compare_names_the_f_a_bft_cluster_is_configured_for():
    """10 replicas configured with `protocol.f: 1` tolerate one fault: the table says f≤1 (it said f≤3, the most n allows)."""
    data = {
        "name": "c",
        "mechanism": "pbft",
        "nodes": 10,
        "duration": "300ms",
        "protocol": {"f": 1},
        "workload": {"kind": "poisson", "rate": "20/s", "until": "200ms"},
    }
    table = compare(data, ["pbft", "raft"], replicates=1).table.set_index("mechanism")
    assert table.loc["pbft", "tolerates"] == "byzantine f<n/3 (f≤1 of 10)"
    assert table.loc["raft", "tolerates"] == "crash f<n/2 (f≤4 of 10)"


def test_default_x_is_the_parameter_with_most_values(tmp_path):
    """Without --x the parameter with the most values goes on the x axis (here a category), the other is the hue."""
    runs = pd.concat([_runs(), _runs().assign(**{"protocol.election_timeout": "[600ms, 1200ms]"})], ignore_index=True)
    paths = save_sweep_plots(runs, ["network.loss", "protocol.election_timeout"], tmp_path)
    assert [p.name for p in paths] == ["failover_ms_p50_vs_protocol_election_timeout.png"]


def _proportion_runs(values: dict[float, list[float]], metric: str = "liveness") -> pd.DataFrame:
    rows = [{"network.loss": x, "seed": i, metric: v, "error": None} for x, vs in values.items() for i, v in enumerate(vs)]
    return pd.DataFrame(rows)


def test_wilson_interval_matches_the_textbook_and_stays_in_0_1():
    """Wilson's 95% interval for 5 of 10 is 0.237..0.763; for 10 of 10 it ends at exactly 1."""
    low, high = wilson(0.5, 10)
    assert round(low, 4) == 0.2366 and round(high, 4) == 0.7634
    low, high = wilson(1.0, 10)
    assert round(low, 4) == 0.7225 and high == pytest.approx(1.0) and high <= 1.0


def test_sweep_bands_never_leave_the_metric_range():
    """Liveness 1, 1, 0.9 gets a Wilson band inside [0, 1]; latency p50 of 1, 1, 50 ms a t band clipped at 0."""
    liveness = aggregate(_proportion_runs({0.1: [1.0, 1.0, 0.9]}), ["network.loss"], ["liveness"]).iloc[0]
    assert liveness["ci_method"] == "wilson" and 0.0 <= liveness["ci_low"] < liveness["mean"] < liveness["ci_high"] <= 1.0
    same = _proportion_runs({0.1: [1.0, 1.0, 1.0]}).assign(commands_submitted=1000)
    pooled = aggregate(same, ["network.loss"], ["liveness"]).iloc[0]  # 3000 commands, all decided: Wilson over the commands
    assert 0.998 < pooled["ci_low"] < 0.9995 and pooled["ci_high"] == pytest.approx(1.0)
    unsafe = aggregate(_proportion_runs({0.1: [0.0, 1.0, 0.0, 0.0]}, "unsafe_runs"), ["network.loss"], ["unsafe_runs"]).iloc[0]
    assert (unsafe["ci_low"], unsafe["ci_high"]) == pytest.approx(wilson(0.25, 4))  # 1 of 4 runs unsafe
    latency = aggregate(_proportion_runs({0.1: [1.0, 1.0, 50.0]}, "latency_ms_p50"), ["network.loss"], ["latency_ms_p50"]).iloc[0]
    assert latency["ci_method"] == "t" and latency["ci_low"] == 0.0 < latency["mean"] < latency["ci_high"]
    assert ci_method("messages_per_decision") == "t" and metric_range("messages_per_decision") == (0.0, math.inf)
    assert metric_range("false_accept_rate") == (0.0, 1.0)


def test_bounded_axes_show_their_full_range_or_say_they_are_zoomed():
    """A proportion spread over [0.2, 1] gets the axis 0..1; one between 0.97 and 0.99 is zoomed and its label says so."""
    wide = metric_vs_param(_proportion_runs({0.0: [1.0, 1.0], 0.3: [0.2, 0.3]}), "liveness", "network.loss").axes[0]
    assert wide.get_ylim() == pytest.approx((-0.02, 1.02)) and "zoomed" not in wide.get_ylabel()
    close = _proportion_runs({0.0: [0.99, 0.99, 0.99], 0.3: [0.97, 0.975, 0.98]}).assign(commands_submitted=2000)
    narrow = metric_vs_param(close, "liveness", "network.loss").axes[0]
    low, high = narrow.get_ylim()
    assert 0.9 < low and high <= 1.01 and "zoomed" in narrow.get_ylabel() and "zoomed to" in narrow.get_title()
    plt.close("all")


def test_flat_metrics_are_not_drawn_by_default(tmp_path):
    """Liveness 1.0 and no violation in every run are left out; asked for by name, liveness is drawn all the same."""
    runs = _runs().assign(liveness=1.0, safety_violations=0)
    paths = save_sweep_plots(runs, ["network.loss"], tmp_path)
    assert [p.name for p in paths] == ["failover_ms_p50_vs_network_loss.png"]
    asked = save_sweep_plots(runs, ["network.loss"], tmp_path, metric="liveness")
    assert [p.name for p in asked] == ["liveness_vs_network_loss.png"]
    unsafe = save_sweep_plots(runs.assign(safety_violations=[0, 2] * 6), ["network.loss"], tmp_path)
    assert "unsafe_runs_vs_network_loss.png" in [p.name for p in unsafe]


def test_theory_overlay_fits_the_law_to_the_means():
    """Asked for n^2, the overlay is c*n^2 with c fitted to the means (exact for data that follow the law)."""
    runs = pd.DataFrame([{"nodes": n, "seed": s, "messages_per_decision": 3.0 * n * n, "error": None} for n in (4, 7, 10) for s in (0, 1)])
    ax = metric_vs_param(runs, "messages_per_decision", "nodes", theory="n^2").axes[0]
    overlay = [line for line in ax.get_lines() if line.get_label() == "theory: ∝ n^2 (fitted)"]
    assert len(overlay) == 1
    xs, ys = overlay[0].get_xdata(), overlay[0].get_ydata()
    assert np.allclose(ys, 3.0 * xs**2)
    with pytest.raises(ValueError, match="unknown law"):
        metric_vs_param(runs, "messages_per_decision", "nodes", theory="n^3")
    plt.close("all")


def test_plot_sweep_command_rejects_unknown_laws_and_impossible_overlays(tmp_path, monkeypatch):
    """`consim plot SWEEP --theory`: an unknown law, or a law on an axis with zero (loss 0.0), is a one-line input error."""
    import io

    from sim.cli_sweep import plot_sweep_command, sweep_command
    from tests.sweep_toy import GRID_SMALL, write_sweep

    allow_toys(monkeypatch)
    out = tmp_path / "out"
    sweep_command(write_sweep(tmp_path, GRID_SMALL), jobs=1, out=out, quiet=True, stream=io.StringIO())
    with pytest.raises(ScenarioError, match="--theory: a theory overlay needs a positive numeric parameter"):
        plot_sweep_command(out, metric="messages_sent", theory="log n")
    with pytest.raises(ScenarioError, match="--theory: unknown law 'n\\^3'"):
        plot_sweep_command(out, metric="messages_sent", theory="n^3")


def test_compare_command_prints_unsafe_runs_and_violation_counts(tmp_path):
    """The compare table printed by the CLI says how many runs were unsafe and how many violations they found."""
    from sim.cli_sweep import compare_command

    scenario = Path(__file__).resolve().parent.parent / "scenarios" / "crash-vs-byzantine-raft.yaml"
    result, text = compare_command(scenario, "raft", 1, tmp_path / "cmp", 1, ["duration=2s"])
    header = text.splitlines()[1]
    assert "unsafe_runs" in header and "violations_total" in header
    row = result.table.iloc[0]
    assert row["unsafe_runs"] == 1 and row["violations_total"] > 0
    assert f" {int(row['violations_total'])}" in text.splitlines()[2]


def test_message_complexity_draws_each_mechanisms_own_law_with_a_label():
    """PBFT and Tendermint get a fitted n^2 reference, HotStuff a fitted n, each labelled with its mechanism and law."""
    from sim.sweep_plots import message_complexity

    growth = {"pbft": lambda n: 2.0 * n * n, "tendermint": lambda n: 1.5 * n * n, "hotstuff": lambda n: 3.0 * n}
    runs = pd.DataFrame(
        [
            {"mechanism": m, "nodes": n, "seed": s, "messages_per_decision": law(n), "error": None}
            for m, law in growth.items()
            for n in (4, 7, 10, 13)
            for s in (0, 1)
        ]
    )
    ax = message_complexity(runs).axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    for name, label in (("pbft", "n^2"), ("tendermint", "n^2"), ("hotstuff", "n")):
        reference = lines[f"{name}: ∝ {label} (fitted)"]
        xs, ys = reference.get_xdata(), reference.get_ydata()
        assert np.allclose(ys, growth[name](xs)), name  # exact: the data follow the law
        assert reference.get_linestyle() == "--"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "hotstuff: ∝ n (fitted)" in legend and "pbft: ∝ n^2 (fitted)" in legend
    plt.close("all")


def test_theory_per_line_on_the_command_line(tmp_path, monkeypatch):
    """`--theory 'a=n,b=n^2'` gives each line of --hue its own law; an unknown law in it is a one-line error."""
    import io

    from sim.cli_sweep import plot_sweep_command, sweep_command
    from tests.sweep_toy import GRID_SMALL, write_sweep

    allow_toys(monkeypatch)
    out = tmp_path / "out"
    sweep_command(write_sweep(tmp_path, GRID_SMALL), jobs=1, out=out, quiet=True, stream=io.StringIO())
    with pytest.raises(ScenarioError, match="--theory: unknown law 'n\\^3'"):
        plot_sweep_command(out, metric="messages_sent", theory="a=n,b=n^3")


def test_plot_refuses_one_parameter_as_both_axis_and_hue_and_laws_for_lines_that_do_not_exist(tmp_path, monkeypatch):
    """`consim plot SWEEP --x P --hue P` and `--theory 'foo=n'` with no line `foo`: one line each, never a traceback or a no-op.

    Before, the first ended in "AttributeError: 'DataFrame' object has no attribute 'tolist'" and the
    second drew the plots without any law and exited 0.
    """
    import io

    from sim.cli_sweep import plot_sweep_command, sweep_command
    from tests.sweep_toy import write_sweep

    allow_toys(monkeypatch)
    out = tmp_path / "out"
    grid = {"name": "two", "grid": {"nodes": [3, 4], "mechanism": ["toy", "picky"]}, "replicates": 1}
    sweep_command(write_sweep(tmp_path, grid), jobs=1, out=out, quiet=True, stream=io.StringIO())
    with pytest.raises(ScenarioError, match=r"^--hue: 'nodes' is the x axis already; choose another parameter \(or none\)$"):
        plot_sweep_command(out, metric="messages_sent", x="nodes", hue="nodes")
    with pytest.raises(ScenarioError, match=r"^--hue: 'mechanism' is the x axis already"):
        plot_sweep_command(out, metric="messages_sent", x="mechanism", hue="mechanism")
    with pytest.raises(ScenarioError, match=r"^--theory: foo: no line 'foo' on the plot \(mechanism values: toy, picky\)$"):
        plot_sweep_command(out, metric="messages_sent", theory="toy=n,foo=n")
    with pytest.raises(ScenarioError, match=r"^--theory: 3: no line '3' on the plot \(mechanism values: toy, picky\)$"):
        plot_sweep_command(out, metric="messages_sent", x="nodes", hue="mechanism", theory="3=n")
    drawn = plot_sweep_command(out, metric="messages_sent", x="nodes", theory="toy=n,picky=n^2")
    assert [p.name for p in drawn] == ["messages_sent_vs_nodes.png"]

    # One parameter: it is the x axis, so --hue alone cannot name it, and there is no line to give a law by name.
    single = tmp_path / "single"
    sweep_command(write_sweep(tmp_path / "s", {**grid, "grid": {"nodes": [3, 4]}}), jobs=1, out=single, quiet=True, stream=io.StringIO())
    with pytest.raises(ScenarioError, match=r"^--hue: 'nodes' is the x axis already"):
        plot_sweep_command(single, metric="messages_sent", hue="nodes")
    with pytest.raises(ScenarioError, match=r"^--theory: toy: no line 'toy' on the plot \(it has one line, no --hue\)"):
        plot_sweep_command(single, metric="messages_sent", theory="toy=n")


SHIPPED_SWEEPS = sorted((Path(__file__).resolve().parent.parent / "scenarios" / "sweeps").glob("*.yaml"))


@pytest.mark.parametrize(
    "grid",
    [
        *({**yaml.safe_load(path.read_text(encoding="utf-8"))["grid"]} for path in SHIPPED_SWEEPS),
        {"mechanism": ["pbft", "hotstuff"], "nodes": [4, 7]},  # a tie: the numeric parameter is x
        {"network.loss": [0, 0.05, 0.1], "nodes": [3, 5, 7]},  # 0 beside floats is the line "0.0"
        {"protocol.fanout": [1, "2"], "nodes": [3, 5, 7]},  # a number beside text: both text
        {"flag": [True, False], "nodes": [3, 5, 7], "mechanism": ["raft", "multipaxos"]},
        {"protocol.election_timeout": [["150ms", "300ms"], ["300ms", "600ms"]], "network.loss": [0.0, 0.1]},
    ],
    ids=lambda grid: ",".join(grid),
)
def test_the_grid_gives_the_axes_and_lines_the_plots_draw(grid):
    """What a sweep spec checks its per-line laws against (from the grid) is what the plots draw (from the runs table)."""
    from sim.sweep.axes import grid_axes
    from sim.sweep.core import _arrow_safe
    from sim.sweep.spec import label
    from sim.sweep_plots import plot_axes

    points = [dict(zip(grid, combo, strict=True)) for combo in itertools.product(*grid.values())]
    runs = _arrow_safe(pd.DataFrame([{path: label(value) for path, value in point.items()} for point in points]))
    x, hue, lines = grid_axes({path: [label(v) for v in values] for path, values in grid.items()})
    assert (x, hue) == plot_axes(runs, list(grid))
    drawn = list(dict.fromkeys(str(v) for v in aggregate(runs.assign(m=1.0), [x, hue], ["m"])[hue].tolist())) if hue else []
    assert lines == drawn and (hue is None or len(lines) == runs[hue].nunique())

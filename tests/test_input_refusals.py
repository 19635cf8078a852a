"""Input found by review to crash a run, write outside results/ or give a false verdict: one line each, exit 2."""

from __future__ import annotations

import math
import types
import typing
from pathlib import Path
from typing import Any

import annotated_types
import pytest
import yaml
from pydantic import BaseModel, ValidationError
from typer.testing import CliRunner

from sim.cli import app
from tests.small_scenario import RAFT, one_line, run_refused, write

runner = CliRunner()


@pytest.mark.parametrize(
    ("mechanism", "behaviour", "params", "problem"),
    [
        ("raft", "delay", {"delay": "-5ms"}, "delay: must be >= 0 (got '-5ms')"),
        ("raft", "delay", {"delay": "1e400ms"}, "delay: must be finite (got '1e400ms'); 'silent' sends nothing at all"),
        ("raft", "forge", {"as": "n9"}, "as: no node named 'n9' (nodes: n0, n1, n2)"),
        ("raft", "forge", {"as": "n1"}, "as: 'n1' is the forging node itself: claiming its own name forges nothing"),
        ("raft", "forge", {"as": 3}, "as: must be a node name (got 3)"),
        ("hotstuff", "fork", {"depth": 0}, "depth: must be an integer count of certificates >= 1, written without a decimal point (got 0)"),
        (
            "hotstuff",
            "fork",
            {"depth": "abc"},
            "depth: must be an integer count of certificates >= 1, written without a decimal point (got 'abc')",
        ),
        ("pbft", "censor", {"client": "client7"}, "client: no client named 'client7' (clients: client0)"),
    ],
    ids=[
        "negative-delay",
        "infinite-delay",
        "forge-unknown",
        "forge-itself",
        "forge-number",
        "fork-depth-0",
        "fork-depth-text",
        "censor-nobody",
    ],
)
def test_byzantine_parameters_that_would_lie_or_crash_are_refused(
    tmp_path: Path, mechanism: str, behaviour: str, params: dict[str, Any], problem: str
) -> None:
    """A negative delay gave false 'gapless' violations, `forge as: n9` a KeyError mid-run, `depth: abc` a ValueError."""
    nodes = 3 if mechanism == "raft" else 4
    fault = {"from": "100ms", "byzantine": ["n1"], "behaviour": behaviour, "params": params}
    path = write(tmp_path, {**RAFT, "mechanism": mechanism, "nodes": nodes, "faults": [fault]})
    line = run_refused(tmp_path, path)
    if mechanism != "raft":
        problem = problem.replace("n0, n1, n2)", "n0, n1, n2, n3)")
    assert line == f"{path}: faults[0].params.{problem}"


def test_byzantine_parameters_that_make_sense_still_run(tmp_path: Path) -> None:
    """A zero delay and forging another node's name are legal."""
    faults = [
        {"from": "100ms", "byzantine": ["n1"], "behaviour": "delay", "params": {"delay": 0}},
        {"from": "100ms", "byzantine": ["n2"], "behaviour": "forge", "params": {"as": "n0"}},
    ]
    path = write(tmp_path, {**RAFT, "faults": faults})
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output


def test_a_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    """A Latin-1 'café' or random bytes used to be a UnicodeDecodeError traceback in both run and validate."""
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(b"mechanism: raft\nname: caf\xe9\nnodes: 3\nduration: 1s\n")
    expected = f"{latin1}: not UTF-8 text: byte 0xe9 on line 2; save the file as UTF-8"
    checked = runner.invoke(app, ["validate", str(latin1)])
    assert checked.exit_code == 2
    assert one_line(checked.stderr) == expected
    assert run_refused(tmp_path, latin1) == expected
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(bytes(range(256)))
    checked = runner.invoke(app, ["validate", str(binary)])
    assert checked.exit_code == 2
    assert one_line(checked.stderr) == f"{binary}: not UTF-8 text: byte 0x80 on line 2; save the file as UTF-8"


def test_a_sweep_base_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    """A sweep reads its base scenario file as a scenario file is read: the base's problem after the sweep's field."""
    base = tmp_path / "base.yaml"
    base.write_bytes(b"mechanism: raft\nname: caf\xe9\n")
    sweep = write(tmp_path, {"name": "s", "base": "base.yaml", "grid": {"nodes": [3, 5]}}, "sweep.yaml")
    checked = runner.invoke(app, ["validate", str(sweep)])
    assert checked.exit_code == 2
    assert one_line(checked.stderr) == f"{sweep}: base: {base}: not UTF-8 text: byte 0xe9 on line 2; save the file as UTF-8"


DUPLICATE = "duplicate key on line {line} (first on line {first}); YAML would silently keep only the last"


@pytest.mark.parametrize(
    ("text", "field", "line", "first"),
    [
        ("name: first\nname: second\nmechanism: raft\nnodes: 3\nduration: 1s\n", "name", 2, 1),
        ("name: x\nmechanism: raft\nfaults:\n  - {at: 1s, crash: n1}\n  - at: 2s\n    crash: n2\n    at: 3s\n", "faults[1].at", 7, 5),
        ("name: x\nmechanism: raft\nprotocol: {yes: 1, true: 2}\n", "protocol.true", 3, 3),
    ],
    ids=["top-level", "in-a-list", "same-key-spelt-twice"],
)
def test_a_duplicate_key_is_refused_with_its_lines(tmp_path: Path, text: str, field: str, line: int, first: int) -> None:
    """PyYAML keeps the last of two equal keys without a word, and validate said OK: one line naming the key's path and lines."""
    path = tmp_path / "dup.yaml"
    path.write_text(text, encoding="utf-8")
    checked = runner.invoke(app, ["validate", str(path)])
    assert checked.exit_code == 2
    assert one_line(checked.stderr) == f"{path}: {field}: {DUPLICATE.format(line=line, first=first)}"
    assert run_refused(tmp_path, path) == f"{path}: {field}: {DUPLICATE.format(line=line, first=first)}"


def test_a_duplicate_key_in_a_sweep_or_a_set_value_is_refused(tmp_path: Path) -> None:
    """Sweep files are read by the same reader; a `--set` value repeating a key is refused too."""
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("name: s\nbase: {mechanism: raft, name: b}\ngrid: {nodes: [3, 5]}\ngrid: {nodes: [7]}\n", encoding="utf-8")
    checked = runner.invoke(app, ["validate", str(sweep)])
    assert checked.exit_code == 2
    assert one_line(checked.stderr) == f"{sweep}: grid: {DUPLICATE.format(line=4, first=3)}"
    path = write(tmp_path, RAFT)
    line = run_refused(tmp_path, path, "--set", "workload={kind: poisson, rate: 1/s, rate: 2/s}")
    assert line == "--set: workload.rate: duplicate key: say it once"


def test_a_merged_key_may_still_be_overridden(tmp_path: Path) -> None:
    """`<<: *anchor` then a key of the anchor's mapping is an override, not a duplicate."""
    path = tmp_path / "merge.yaml"
    path.write_text(
        "name: m\nmechanism: raft\nnodes: 3\nduration: 300ms\nworkload:\n  <<: &w {kind: poisson, rate: 10/s}\n  rate: 20/s\n",
        encoding="utf-8",
    )
    checked = runner.invoke(app, ["validate", str(path)])
    assert checked.exit_code == 0, checked.output


NAME_RULE = (
    "must be a plain folder name (it names results/<name>/): up to 100 letters, digits, '.', '_' or '-', starting with a letter or digit"
)


@pytest.mark.parametrize(
    "name", ["../../escaped", "<tmp>/abs", ".hidden", "a b", "x" * 101], ids=["up", "absolute", "hidden", "space", "long"]
)
def test_a_scenario_name_that_would_write_elsewhere_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """`name=../../escaped` wrote two folders above results/, `name=/tmp/x` to /tmp/x: the name is one plain folder name."""
    name = name.replace("<tmp>", str(tmp_path))  # an absolute path that, were it accepted, stays in this test's folder
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    path = write(tmp_path, RAFT)
    result = runner.invoke(app, ["run", str(path), "--quiet", "--no-plots", "--set", f"name={name}"])
    assert result.exit_code == 2, result.output
    assert one_line(result.stderr) == f"{path}: name: {NAME_RULE} (got {name!r})"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b", "scenario.yaml"]


def test_a_sweep_name_follows_the_same_rule(tmp_path: Path) -> None:
    """A sweep's name is its results folder too: a backslash or a leading '-' passed the old check ('/' and '.')."""
    sweep = write(tmp_path, {"name": "-rf", "base": {**RAFT}, "grid": {"nodes": [3, 5]}}, "sweep.yaml")
    checked = runner.invoke(app, ["validate", str(sweep)])
    assert checked.exit_code == 2
    assert one_line(checked.stderr) == f"{sweep}: name: {NAME_RULE} (got '-rf')"


def test_plain_names_with_dots_and_digits_still_run(tmp_path: Path) -> None:
    """A version-like name is a legal folder name."""
    path = write(tmp_path, {**RAFT, "name": "raft-v1.2_b"})
    result = runner.invoke(app, ["run", str(path), "--quiet", "--no-plots", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output


YAML_BOOLEAN = "YAML reads an unquoted yes/no/on/off as a boolean; quote it"


@pytest.mark.parametrize(
    ("fields", "line"),
    [
        (
            {"mechanism": "voting", "nodes": 5, "workload": {"kind": "questions", "every": "100ms", "truth": True}},
            f"workload.truth: must be a string (got True: {YAML_BOOLEAN})",
        ),
        (
            {"mechanism": "voting", "nodes": 5, "protocol": {"answers": [True, False]}},
            f"protocol.answers[0]: must be a string (got True: {YAML_BOOLEAN})",
        ),
        ({"faults": [{"at": "100ms", "crash": True}]}, f"faults[0].crash: must be a string or a list (got True: {YAML_BOOLEAN})"),
        (
            {"faults": [{"from": "100ms", "byzantine": ["n1"], "behaviour": "forge", "params": {"as": False}}]},
            f"faults[0].params.as: must be a node name (got False: {YAML_BOOLEAN})",
        ),
        ({"mechanism": "voting", "nodes": 5, "protocol": {"answers": True}}, "protocol.answers: must be a list (got True)"),
    ],
    ids=["truth", "answers", "crash-on", "forge-as", "not-where-no-text-is-wanted"],
)
def test_a_yaml_boolean_where_text_was_wanted_says_to_quote_it(tmp_path: Path, fields: dict[str, Any], line: str) -> None:
    """`truth: yes` was refused as 'must be a string (got True)': say that YAML made the boolean and how to keep the text."""
    path = write(tmp_path, {**RAFT, **fields})
    checked = runner.invoke(app, ["validate", str(path)])
    assert checked.exit_code == 2
    assert checked.stderr.strip().splitlines()[0] == f"{path}: {line}"


def test_a_derived_timeout_above_max_timeout_names_the_timeout_and_its_rtt(tmp_path: Path) -> None:
    """A heavy-tailed delay made the default timeout exceed max_timeout: 'workload: timeout must not exceed ...' blamed a
    setting the user never wrote. Name workload.timeout, the default's formula, the rtt it came from and what to set.
    """
    path = write(tmp_path, {**RAFT, "network": {"rtt": "3s"}})
    line = run_refused(tmp_path, path)
    assert line == (
        f"{path}: workload.timeout: the default max(500ms, 4rtt) with the network's round-trip time rtt = 3s is 12s,"
        " above max_timeout (10s): set workload.timeout (or raise workload.max_timeout)"
    )
    pareto = write(tmp_path, {**RAFT, "network": {"delay": {"dist": "pareto", "scale": "1ms", "shape": 0.5}}}, "pareto.yaml")
    assert run_refused(tmp_path, pareto).startswith(f"{pareto}: workload.timeout: the default max(500ms, 4rtt) with the network's")
    written = write(tmp_path, {**RAFT, "workload": {**RAFT["workload"], "timeout": "20s"}}, "written.yaml")
    line = run_refused(tmp_path, written)
    assert line == f"{written}: workload.timeout: 20s exceeds max_timeout (10s): lower it or raise max_timeout"


@pytest.mark.parametrize("where", ["network", "link"])
def test_a_bandwidth_without_per_second_is_refused(tmp_path: Path, where: str) -> None:
    """`bandwidth: 10MB` is a size, not a rate: refused with the fix (it was read quietly as 10MB/s)."""
    network: dict[str, Any] = {"bandwidth": "10MB"}
    field = "network.bandwidth"
    if where == "link":
        network = {"links": [{"from": "n0", "to": "n1", "bandwidth": "10MB"}]}
        field = "network.links[0].bandwidth"
    path = write(tmp_path, {**RAFT, "network": network})
    assert run_refused(tmp_path, path) == f"{path}: {field}: '10MB' needs a rate unit such as 10MB/s"


def test_a_bare_bandwidth_is_bytes_per_second_and_a_timeout_it_inflates_names_it(tmp_path: Path) -> None:
    """`bandwidth: 10` is 10 B/s (as saved runs write it); the timeout error it causes names the bandwidth, not only
    workload.timeout (it said 'rtt = 25600ms' and left the user to guess why)."""
    path = write(tmp_path, {**RAFT, "network": {"bandwidth": 10}})
    assert run_refused(tmp_path, path) == (
        f"{path}: workload.timeout: the default max(500ms, 4rtt) with the network's round-trip time rtt = 25600ms"
        " (mostly the 10 B/s bandwidth) is 102400ms, above max_timeout (10s): set workload.timeout (or raise workload.max_timeout)"
    )
    fine = write(tmp_path, {**RAFT, "network": {"bandwidth": 10_000_000}}, "fine.yaml")
    assert runner.invoke(app, ["validate", str(fine)]).exit_code == 0


@pytest.mark.parametrize(("budget", "problem"), [("5", "'5' needs a unit: '5s' or '5m'"), ("soon", "expected a wall-clock budget")])
def test_a_bare_explore_budget_is_refused(tmp_path: Path, budget: str, problem: str) -> None:
    """`--budget 5` meant 5 seconds where a bare duration elsewhere means milliseconds: a unit is required."""
    path = write(tmp_path, RAFT)
    result = runner.invoke(app, ["explore", str(path), "-n", "1", "-q", "--budget", budget, "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert one_line(result.stderr).startswith(f"--budget: {problem}")
    assert not (tmp_path / "x").exists()


def test_an_explore_budget_takes_any_duration_unit() -> None:
    """'90s', '10m', '1min', '1h', '500ms' are all wall-clock budgets, in seconds."""
    from sim.cli_explore import parse_budget

    assert [parse_budget(t) for t in ("90s", "10m", "1min", "1h", "500ms")] == [90.0, 600.0, 60.0, 3600.0, 0.5]


LONG = "9" * 400  # a number past the largest float: Python reads it as infinity


@pytest.mark.parametrize(
    ("fields", "line"),
    [
        ({"duration": "1e400s"}, "duration: must be finite (got '1e400s')"),
        ({"duration": float("inf")}, "duration: must be finite (got inf)"),
        ({"duration": "1e306h"}, "duration: must be finite (got '1e306h')"),
        ({"protocol": {"election_timeout": ["1e400ms", "300ms"]}}, "protocol.election_timeout[0]: must be finite (got '1e400ms')"),
        ({"protocol": {"heartbeat_interval": "max(10ms, 1e400rtt)"}}, "protocol.heartbeat_interval: must be finite (got '1e400rtt')"),
        ({"measure": {"from": "1e400ms"}}, "measure.from: must be finite (got '1e400ms')"),
        ({"workload": {"kind": "poisson", "rate": "1e400/s"}}, "workload.rate: must be finite (got '1e400/s')"),
        ({"workload": {"kind": "poisson", "rate": float("nan")}}, "workload.rate: must be finite (got nan)"),
        (
            {"network": {"bandwidth": f"{LONG}MB/s"}},
            "network.bandwidth: must be finite (got '9999999999999999999...99999MB/s' (406 characters))",
        ),
        ({"network": {"delay": {"dist": "uniform", "low": "1ms", "high": float("inf")}}}, "network.delay.high: must be finite (got inf)"),
    ],
    ids=["duration", "duration-inf", "unit-overflow", "protocol", "rtt-in-max", "measure", "rate", "rate-nan", "bandwidth", "delay"],
)
def test_a_quantity_that_overflows_to_infinity_is_refused(tmp_path: Path, fields: dict[str, Any], line: str) -> None:
    """Review: '1e400ms' parsed to infinity. An infinite `duration` validated and its run never ended; an infinite
    election timeout passed the parse, then its resolved 'infms' failed to parse again: a pydantic traceback, exit 1.
    """
    path = write(tmp_path, {**RAFT, **fields})
    checked = runner.invoke(app, ["validate", str(path)])
    assert checked.exit_code == 2, checked.output
    assert one_line(checked.stderr) == f"{path}: {line}"


OVERFLOW = "lets a delay overflow to infinity (the largest draw is"


@pytest.mark.parametrize(
    ("delay", "line"),
    [
        (
            {"dist": "lognormal", "median": "5ms", "sigma": 300},
            f"network.delay.sigma: 300 {OVERFLOW} median * exp(12.23 * sigma), which must stay below 1.8e308 ms: at most 57.9 here)",
        ),
        (
            {"dist": "lognormal", "median": "5ms", "sigma": 100},
            f"network.delay.sigma: 100 {OVERFLOW} median * exp(12.23 * sigma), which must stay below 1.8e308 ms: at most 57.9 here)",
        ),
        (
            {"dist": "exponential", "mean": "1e307ms"},
            f"network.delay.mean: 1e+307 {OVERFLOW} min + 44.44 * mean, which must stay below 1.8e308 ms: at most 4.05e+306 ms here)",
        ),
        (
            {"dist": "pareto", "scale": "0ms", "shape": 0.01},
            f"network.delay.shape: 0.01 {OVERFLOW} scale * exp(44.44 / shape), which must stay below 1.8e308 ms: at least 0.0626 here)",
        ),
    ],
    ids=["lognormal-overflows-at-load", "lognormal-overflows-mid-run", "exponential", "pareto-nan"],
)
def test_a_delay_law_whose_draws_overflow_is_refused(tmp_path: Path, delay: dict[str, Any], line: str) -> None:
    """Review: sigma 300 was an OverflowError traceback in `validate`, sigma 100 validated and raised one mid-run
    (math.exp of a draw), an exponential's or a pareto's draws became infinite or NaN delivery times."""
    path = write(tmp_path, {**RAFT, "network": {"delay": delay}})
    checked = runner.invoke(app, ["validate", str(path)])
    assert checked.exit_code == 2, checked.output
    assert one_line(checked.stderr) == f"{path}: {line}"


def test_a_delay_law_at_the_edge_of_overflow_loads_and_draws_finite_delays() -> None:
    """Laws whose `rtt` used to be chased without end (sigma 1e308, std 1e308ms) are refused before it; the largest
    accepted sigma still loads, and its draws are finite."""
    import numpy as np

    from sim.delays import draw_delays
    from sim.scenario import LognormalDelay, NormalDelay

    for law, spec in (
        (LognormalDelay, {"dist": "lognormal", "median": "5ms", "sigma": 1e308}),
        (NormalDelay, {"dist": "normal", "mean": "5ms", "std": "1e308ms"}),
    ):
        with pytest.raises(ValidationError, match="lets a delay overflow to infinity"):
            law.model_validate(spec)
    edge = LognormalDelay.model_validate({"dist": "lognormal", "median": "5ms", "sigma": 57.9})
    assert np.isfinite(draw_delays(edge, np.random.default_rng(1), 100_000)).all()


@pytest.mark.parametrize(
    ("fields", "line"),
    [
        (
            {"workload": {"kind": "poisson", "rate": "1e300/s"}},
            "workload.rate: 1e+300/s is too fast for the clock: its mean gap, 1e-297 ms, is below the clock's resolution"
            " at 300ms (5.68e-14 ms), where time would stand still and the run never end",
        ),
        (
            {"mechanism": "voting", "nodes": 5, "workload": {"kind": "questions", "every": "1e-20ms", "until": "100ms"}},
            "workload.every: 1e-20ms is too fast for the clock: its gap, 1e-20 ms, is below the clock's resolution"
            " at 100ms (1.42e-14 ms), where time would stand still and the run never end",
        ),
    ],
    ids=["poisson-rate", "questions-every"],
)
def test_a_workload_too_fast_for_the_clock_is_refused(tmp_path: Path, fields: dict[str, Any], line: str) -> None:
    """Found looking at the review's 1e12/s (slow, but it ends): far faster, a rate loaded and its run never ended, since
    `now + gap == now` once the gap is below the clock's step. 1e12/s itself still loads."""
    path = write(tmp_path, {**RAFT, **fields})
    checked = runner.invoke(app, ["validate", str(path)])
    assert checked.exit_code == 2, checked.output
    assert one_line(checked.stderr) == f"{path}: {line}"
    fast = write(tmp_path, {**RAFT, "workload": {"kind": "poisson", "rate": "1e12/s"}}, "fast.yaml")
    assert runner.invoke(app, ["validate", str(fast)]).exit_code == 0  # a great deal of work, but runs that end are not capped


@pytest.mark.parametrize(
    ("fields", "line"),
    [
        ({"nodes": 100_000_000_000}, "nodes: must be at most 10,000,000 (got 100000000000)"),
        ({"nodes": 10_000_001}, "nodes: must be at most 10,000,000 (got 10000001)"),
        (
            {"workload": {"kind": "poisson", "rate": "20/s", "clients": 100_000_000_000}},
            "workload.clients: must be at most 10,000,000 (got 100000000000)",
        ),
    ],
    ids=["nodes-1e11", "nodes-just-above", "clients-1e11"],
)
def test_a_node_or_client_count_beyond_the_limit_is_refused_before_building_names(
    tmp_path: Path, fields: dict[str, Any], line: str
) -> None:
    """`nodes: 100000000000` built a list of 1e11 names in validate and run until memory ran out (exit 137, or a MemoryError)."""
    path = write(tmp_path, {**RAFT, **fields})
    assert run_refused(tmp_path, path) == f"{path}: {line}"
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2 and one_line(result.stderr) == f"{path}: {line}"


def test_the_largest_node_and_client_counts_are_accepted_by_their_fields() -> None:
    """The limits are inclusive and well above the 1,000,000-node gossip benchmark (checked on the fields alone: names cost memory)."""
    from sim.scenario import MAX_NODES, Scenario
    from sim.workload import MAX_CLIENTS, WorkloadConfig

    assert MAX_NODES >= 1_000_000 and MAX_CLIENTS >= 1_000_000
    assert Scenario.model_validate({"name": "big", "mechanism": "gossip", "nodes": MAX_NODES}).n == MAX_NODES
    assert WorkloadConfig.model_validate({"kind": "none", "clients": MAX_CLIENTS}, context={"rtt": 2.0}).clients == MAX_CLIENTS


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("leader", "'leader' is a word of the fault plan (any node that leads when a fault strikes): name the node otherwise"),
        ("all", "'all' is a word of the fault plan (every node): name the node otherwise"),
        ("random", "'random' is a word of the fault plan (a node drawn when a fault strikes): name the node otherwise"),
        ("rest", "'rest' is a word of the fault plan (every node no other partition group names): name the node otherwise"),
        ("", "must not be empty: the events table leaves the node empty for the network's own events"),
        ("*", "'*' is reserved: the messages table writes it for destinations it aggregates, and links for every node"),
        ("client0", "'client0' is the name of a workload client (client0, client1, ...): name the node otherwise"),
    ],
    ids=["leader", "all", "random", "rest", "empty", "star", "client0"],
)
def test_a_node_name_that_is_a_reserved_word_is_refused(tmp_path: Path, name: str, problem: str) -> None:
    """A node named `leader` was accepted, and `crash: leader` then crashed the real leader; `''` and `*` read as the network's rows."""
    path = write(tmp_path, {**RAFT, "nodes": [{"name": "b"}, {"name": name}, {"name": "c"}]})
    assert run_refused(tmp_path, path) == f"{path}: nodes[1].name: {problem}"


SEPARATOR = (
    "must not contain ',' or '|': the run's tables join node names with ',' (a partition's groups with ' | ')"
    " and a claim names its node before '|'"
)


@pytest.mark.parametrize("name", ["a,b", "a|b", "a | b", ","], ids=["comma", "bar", "spaced-bar", "only-comma"])
def test_a_node_name_holding_a_separator_is_refused(tmp_path: Path, name: str) -> None:
    """Names are joined with ',' and '|' and split again: 'a,b' made a gossip run under a partition report a false
    convergence violation, and 'p|1' crashed an attestation run with KeyError: 'p'."""
    path = write(tmp_path, {**RAFT, "nodes": [{"name": "b"}, {"name": name}, {"name": "c"}]})
    assert run_refused(tmp_path, path) == f"{path}: nodes[1].name: {SEPARATOR} (got {name!r})"


def test_node_names_that_merely_contain_reserved_words_still_load() -> None:
    """Only the exact words are reserved: `leader1`, `all-a`, `clients`, `client-a`, `rester` are names like any other.

    So are spaces, dots and colons: only ',' and '|' are refused inside a name.
    """
    from sim.scenario import scenario_from_dict

    names = ["leader1", "all-a", "clients", "client-a", "rester", "eu west.1:a"]
    scenario = scenario_from_dict({**RAFT, "nodes": [{"name": n} for n in names]})
    assert scenario.node_names == names


STILL_CLOCK = (
    "duration: 3.6e+306ms is too long for the clock: its resolution there is 6.24e+290 ms, coarser than 1 µs,"
    " so timers could not advance time and the run would stand still (it must be below 8796093022208ms, about 278 years)"
)


def test_a_duration_the_clock_cannot_resolve_is_refused_in_a_file_a_set_and_a_sweep(tmp_path: Path) -> None:
    """`duration: 1e300h` loaded and its run never ended: there `now + timer == now`, so no timer moved the clock."""
    # With no workload nothing else is checked against the clock: this one used to load and hang.
    path = write(tmp_path, {**RAFT, "duration": "1e300h", "workload": {"kind": "none"}})
    checked = runner.invoke(app, ["validate", str(path)])
    assert checked.exit_code == 2, checked.output
    assert one_line(checked.stderr) == f"{path}: {STILL_CLOCK}"
    plain = write(tmp_path, RAFT, "plain.yaml")
    assert run_refused(tmp_path, plain, "--set", "duration=1e300h") == f"{plain}: {STILL_CLOCK}"
    sweep = tmp_path / "sweep.yaml"
    grid = {"name": "long", "base": RAFT, "grid": {"duration": ["300ms", "1e300h"]}, "replicates": 1}
    sweep.write_text(yaml.safe_dump(grid, sort_keys=False), encoding="utf-8")
    swept = runner.invoke(app, ["validate", str(sweep)])
    assert swept.exit_code == 2, swept.output
    problem = STILL_CLOCK.removeprefix("duration: ")
    assert one_line(swept.stderr) == f"{sweep}: grid.duration[1]: '1e300h': {problem}"


@pytest.mark.parametrize("duration", ["1000000h", "2443000h", "8796093022207ms"])
def test_a_very_long_duration_the_clock_resolves_still_loads(duration: str) -> None:
    """Just below 2**43 ms (about 278 years) the clock still resolves 1 µs: such runs are long, not stuck."""
    from sim.scenario import Scenario

    scenario = Scenario.model_validate({**RAFT, "duration": duration})
    assert math.ulp(scenario.duration) <= 0.001


# Each duration or rate field that must be above zero, with a scenario where it is read (mechanism, changes, path).
POSITIVE_FIELDS: list[tuple[str, dict[str, Any], str]] = [
    ("raft", {"duration": "-5ms"}, "duration"),
    ("raft", {"network": {"rtt": "-5ms"}}, "network.rtt"),
    ("raft", {"faults": [{"every": "-5ms", "crash": "n1"}]}, "faults[0].every"),
    ("raft", {"faults": [{"churn": {"mtbf": "-5ms", "mttr": "1s"}}]}, "faults[0].churn.mtbf"),
    ("raft", {"faults": [{"churn": {"mtbf": "1s", "mttr": "-5ms"}}]}, "faults[0].churn.mttr"),
    ("raft", {"measure": {"until": "-5ms"}}, "measure.until"),
    ("raft", {"protocol": {"heartbeat_interval": "-5ms"}}, "protocol.heartbeat_interval"),
    ("raft", {"workload": {"kind": "poisson", "rate": "20/s", "timeout": "-5ms"}}, "workload.timeout"),
    ("raft", {"workload": {"kind": "poisson", "rate": "20/s", "min_timeout": "-5ms"}}, "workload.min_timeout"),
    ("raft", {"workload": {"kind": "poisson", "rate": "20/s", "max_timeout": "-5ms"}}, "workload.max_timeout"),
    ("raft", {"workload": {"kind": "poisson", "rate": "-5/s"}}, "workload.rate"),
    ("multipaxos", {"protocol": {"heartbeat_interval": "-5ms"}}, "protocol.heartbeat_interval"),
    ("pbft", {"protocol": {"view_change_timeout": "-5ms"}}, "protocol.view_change_timeout"),
    ("pbft", {"protocol": {"retransmit_timeout": "-5ms"}}, "protocol.retransmit_timeout"),
    ("hotstuff", {"protocol": {"view_timeout": "-5ms"}}, "protocol.view_timeout"),
    ("tendermint", {"protocol": {"timeout_propose": "-5ms"}}, "protocol.timeout_propose"),
    ("tendermint", {"protocol": {"timeout_prevote": "-5ms"}}, "protocol.timeout_prevote"),
    ("tendermint", {"protocol": {"timeout_precommit": "-5ms"}}, "protocol.timeout_precommit"),
    ("tendermint", {"protocol": {"gossip_interval": "-5ms"}}, "protocol.gossip_interval"),
    ("gossip", {"protocol": {"interval": "-5ms"}, "workload": {"kind": "updates"}}, "protocol.interval"),
    ("gossip", {"workload": {"kind": "updates", "timeout": "-5ms"}}, "workload.timeout"),
    ("voting", {"protocol": {"timeout": "-5ms"}, "workload": {"kind": "questions", "every": "50ms"}}, "protocol.timeout"),
    ("voting", {"protocol": {"ask_every": "-5ms"}, "workload": {"kind": "questions", "every": "50ms"}}, "protocol.ask_every"),
    ("voting", {"workload": {"kind": "questions", "every": "-5ms"}}, "workload.every"),
    ("voting", {"workload": {"kind": "load", "every": "-5ms", "curve": [["0s", 300]], "threshold": 500}}, "workload.every"),
    ("attestation", {"workload": {"kind": "claims", "every": "-5ms"}}, "workload.every"),
]


@pytest.mark.parametrize(("mechanism", "changes", "field"), POSITIVE_FIELDS, ids=[f"{m}-{f}" for m, _, f in POSITIVE_FIELDS])
def test_a_field_that_refuses_zero_says_above_zero(tmp_path: Path, mechanism: str, changes: dict[str, Any], field: str) -> None:
    """A negative period or rate was told "must be >= 0", and 0 was then refused too: the message states the real bound."""
    data = {**RAFT, "mechanism": mechanism, "nodes": 4, **changes}
    negative = write(tmp_path, data)
    checked = runner.invoke(app, ["validate", str(negative)])
    assert checked.exit_code == 2, checked.output
    value = "'-5/s'" if field == "workload.rate" else "'-5ms'"
    assert one_line(checked.stderr) == f"{negative}: {field}: must be > 0 (got {value})"
    # And 0, which that message calls fine, is refused with the same words.
    zero = yaml.safe_dump(data, sort_keys=False).replace("-5ms", "0ms").replace("-5/s", "0/s")
    (tmp_path / "zero.yaml").write_text(zero, encoding="utf-8")
    checked = runner.invoke(app, ["validate", str(tmp_path / "zero.yaml")])
    assert checked.exit_code == 2, checked.output
    assert one_line(checked.stderr) == f"{tmp_path / 'zero.yaml'}: {field}: must be > 0 (got {value.replace('-5', '0')})"


def _lower_bounds(annotation: Any) -> list[set[tuple[str, float]]]:
    """The `ge` and `gt` bounds of each branch of a field's type (a union's branches are judged apart)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [bounds for branch in typing.get_args(annotation) for bounds in _lower_bounds(branch)]
    bounds: set[tuple[str, float]] = set()
    # Nested Annotated types are flattened by `typing`: one metadata list holds every layer's constraints.
    for item in getattr(annotation, "__metadata__", ()):
        for bound in [item, *getattr(item, "metadata", [])]:
            if isinstance(bound, annotated_types.Ge):
                bounds.add(("ge", bound.ge))
            elif isinstance(bound, annotated_types.Gt):
                bounds.add(("gt", bound.gt))
    return [bounds]


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models a field's type holds (in a union, a list, an Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _models_in(arg)]


def test_no_duration_or_rate_field_stacks_two_lower_bounds() -> None:
    """`Annotated[Ms, Field(gt=0)]` ran Ms's `>= 0` check first and said so for -5ms: each field has one lower bound."""
    from sim.protocols.registry import mechanisms
    from sim.scenario import Scenario
    from sim.workload import workload_kinds

    todo: list[type[BaseModel]] = [Scenario]
    for mechanism in mechanisms().values():
        todo += [mechanism.config, *(kind.Config for kind in workload_kinds(mechanism).values())]
    seen: set[type[BaseModel]] = set()
    stacked: list[str] = []
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            # A field's own constraints (`x: Ms = Field(gt=0)`) apply to each branch of its type.
            own = {("gt", m.gt) for m in field.metadata if isinstance(m, annotated_types.Gt)}
            own |= {("ge", m.ge) for m in field.metadata if isinstance(m, annotated_types.Ge)}
            if any(len(bounds | own) > 1 for bounds in _lower_bounds(field.rebuild_annotation())):
                stacked.append(f"{model.__name__}.{name}")
            todo += _models_in(field.annotation)
    assert {"Scenario", "ChurnSpec", "RaftConfig", "PoissonConfig", "QuestionsConfig"} <= {model.__name__ for model in seen}
    assert stacked == []

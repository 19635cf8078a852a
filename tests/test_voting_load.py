"""The `load` workload: the scaling vote's truth comes from a load curve each voter observes with noise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from sim import run, scenario_from_dict
from sim.cli import app
from sim.protocols.voting.load import Signal, level


def load_run(noise_sd: float, seed: int = 1, **workload: Any) -> Any:
    """9 voters asked every 100 ms whether a load rising from 600 to 800 over 10 s is above 700."""
    spec = {"kind": "load", "every": "100ms", "curve": [["0s", 600], ["10s", 800]], "threshold": 700, "noise_sd": noise_sd}
    spec.update(workload)
    data = {
        "name": "load",
        "mechanism": "voting",
        "nodes": 9,
        "seed": seed,
        "duration": "10s",
        "protocol": {"answers": ["up", "hold"]},
        "workload": spec,
    }
    return run(scenario_from_dict(data, "<test>"))


def ballot_accuracy(result: Any) -> float:
    """The fraction of ballots naming the question's true answer."""
    events = result.events
    truth = events[events["kind"] == "question"].set_index("qid")["truth"]
    ballots = events[events["kind"] == "ballot"]
    return float((ballots["answer"].to_numpy() == ballots["qid"].map(truth).to_numpy()).mean())


def test_noisier_observation_lowers_accuracy() -> None:
    exact, noisy, noisier = (load_run(sd) for sd in (0.0, 50.0, 1000.0))
    assert ballot_accuracy(exact) == 1.0 and exact.summary["decision_accuracy"] == 1.0
    assert 1.0 > ballot_accuracy(noisy) > ballot_accuracy(noisier)
    assert exact.summary["decision_accuracy"] > noisy.summary["decision_accuracy"] > noisier.summary["decision_accuracy"]
    # sd far above the curve's spread: a coin toss.
    assert 0.4 < ballot_accuracy(noisier) < 0.65


def test_truth_follows_the_curve_against_the_threshold() -> None:
    result = load_run(0.0)
    questions = result.events[result.events["kind"] == "question"]
    assert len(questions) == 99
    for row in questions.itertuples():
        # Read when the question was issued, a network delay (a few ms, 0.02 per ms) before the coordinator got it.
        assert row.load == pytest.approx(level([(0.0, 600.0), (10_000.0, 800.0)], row.time_ms), abs=0.5)
        assert row.truth == ("up" if row.load > 700 else "hold")
    assert set(questions["truth"]) == {"up", "hold"}


def test_above_and_below_can_name_other_answers() -> None:
    result = load_run(0.0, above="hold", below="up")
    questions = result.events[result.events["kind"] == "question"]
    assert (questions["truth"] == questions["load"].map(lambda v: "hold" if v > 700 else "up")).all()


def test_level_is_linear_between_points_and_flat_beyond() -> None:
    curve = [(1000.0, 100.0), (2000.0, 300.0), (4000.0, 300.0)]
    assert level(curve, 0.0) == 100.0 and level(curve, 1500.0) == 200.0 and level(curve, 3000.0) == 300.0 and level(curve, 9e9) == 300.0


def test_signal_observation_and_its_round_trip_through_an_op() -> None:
    signal = Signal(710.0, 700.0, 20.0, "up", "hold")
    assert signal.truth == "up" and signal.observe(0.0) == "up" and signal.observe(-1.0) == "hold"
    pairs = dict(p.partition("=")[::2] for p in signal.encode().split(";"))
    assert Signal.decode(pairs) == signal and Signal.decode({"truth": "up"}) is None


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"above": "down"}, "workload.above"),
        ({"below": "up"}, "workload.below"),
        ({"curve": [["2s", 1], ["1s", 2]]}, "curve times must increase"),
        ({"noise_sd": -1}, "workload.noise_sd"),
    ],
)
def test_bad_load_workload_is_one_line_exit_2(tmp_path: Path, change: dict, words: str) -> None:
    spec = {"kind": "load", "every": "1s", "curve": [["0s", 1]], "threshold": 0, **change}
    data = {"name": "bad", "mechanism": "voting", "nodes": 3, "duration": "2s", "protocol": {"answers": ["up", "hold"]}, "workload": spec}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2 and words in result.output and len(result.output.strip().splitlines()) == 1, result.output

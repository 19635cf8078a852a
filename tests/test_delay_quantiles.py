"""The exact p99 of one delay and of a round trip (sim/delays.py), against what the network draws."""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np
import pytest

from sim.delays import DelayLaw, normal_quantile, sum_cdf, sum_quantile
from sim.scenario import Scenario
from sim.timing import network_timing

DELAYS = {
    "constant": {"dist": "constant", "value": "3ms"},
    "uniform": {"dist": "uniform", "low": "1ms", "high": "9ms"},
    "normal-clipped": {"dist": "normal", "mean": "2ms", "std": "3ms"},
    "normal-wan": {"dist": "normal", "mean": "100ms", "std": "20ms"},
    "lognormal": {"dist": "lognormal", "median": "5ms", "sigma": 0.4},
    "exponential": {"dist": "exponential", "mean": "4ms", "min": "1ms"},
    "pareto": {"dist": "pareto", "scale": "2ms", "shape": 1.5},
    "pareto-heavy": {"dist": "pareto", "scale": "1ms", "shape": 0.8},
}
PAIRS = [(a, b) for i, a in enumerate(DELAYS) for b in list(DELAYS)[i:]]
SAMPLE = 400_000


def spec_of(delay: dict[str, Any]) -> Any:
    """The validated delay spec of a `network.delay` mapping."""
    return Scenario.model_validate({"name": "t", "mechanism": "raft", "nodes": 2, "network": {"delay": delay}}).network.delay


def network_draws(spec: Any, seed: int) -> np.ndarray:
    """What the network itself draws for `spec` (its own sampler), SAMPLE delays."""
    from sim.draws import DelaySampler

    return DelaySampler(spec, np.random.default_rng(seed)).draw(SAMPLE)


def order_statistic_bounds(sample: np.ndarray, q: float, sigmas: float = 5.0) -> tuple[float, float]:
    """An interval that holds the true q-quantile unless the sample is off by more than `sigmas` binomial deviations."""
    ordered = np.sort(sample)
    n = len(ordered)
    width = sigmas * math.sqrt(n * q * (1 - q))
    return float(ordered[max(0, int(n * q - width))]), float(ordered[min(n - 1, int(n * q + width) + 1)])


def test_normal_quantile_is_the_standard_librarys_to_double_precision() -> None:
    """The pure-Python normal quantile matches statistics.NormalDist from 1e-12 to 1 - 1e-12."""
    reference = statistics.NormalDist()
    for p in (1e-12, 1e-6, 0.001, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99, 0.995, 0.999999, 1 - 1e-12):
        assert normal_quantile(p) == pytest.approx(reference.inv_cdf(p), rel=1e-12, abs=1e-14), p


@pytest.mark.parametrize("name", list(DELAYS))
def test_one_way_p99_is_within_a_large_sample_of_the_networks_draws(name: str) -> None:
    """For every delay distribution, the exact p99 of one delay lies in the order-statistic interval of 400,000 network draws."""
    spec = spec_of(DELAYS[name])
    exact = DelayLaw.of(spec).quantile(0.99)
    low, high = order_statistic_bounds(network_draws(spec, 1), 0.99)
    assert low <= exact <= high, (low, exact, high)


@pytest.mark.parametrize(("out", "back"), PAIRS, ids=[f"{a}+{b}" for a, b in PAIRS])
def test_round_trip_p99_is_within_a_large_sample_of_the_networks_draws(out: str, back: str) -> None:
    """For every pair of delay laws (the same or mixed out and back), the exact p99 of out + back lies in the sample's interval."""
    out_spec, back_spec = spec_of(DELAYS[out]), spec_of(DELAYS[back])
    exact = sum_quantile(DelayLaw.of(out_spec), DelayLaw.of(back_spec), 0.99)
    low, high = order_statistic_bounds(network_draws(out_spec, 1) + network_draws(back_spec, 2), 0.99)
    assert low <= exact <= high, (low, exact, high)
    # The interval is tight enough to tell: a few percent of the value (a quarter for pareto tails).
    assert high - low < (0.25 if "pareto" in out + back else 0.05) * exact


def test_round_trips_with_closed_forms_are_exact() -> None:
    """U(0,1)+U(0,1) (a triangle), two Normal(250, 50) (a Normal(500, 70.7)) and two exponentials (a gamma) to 1e-7."""
    uniform = DelayLaw("uniform", 0.0, 1.0)
    assert sum_cdf(uniform, uniform, 0.5) == pytest.approx(0.125, abs=1e-10)
    assert sum_quantile(uniform, uniform, 0.99) == pytest.approx(2 - math.sqrt(0.02), rel=1e-7)
    wan = DelayLaw("normal", 250.0, 50.0)  # the clipped mass below 0 is 1e-7: negligible here
    assert sum_quantile(wan, wan, 0.99) == pytest.approx(500 + 50 * math.sqrt(2) * statistics.NormalDist().inv_cdf(0.99), rel=1e-7)
    exponential = DelayLaw("exponential", 4.0, 0.0)
    s = sum_quantile(exponential, exponential, 0.99)
    assert math.exp(-s / 4.0) * (1 + s / 4.0) == pytest.approx(0.01, rel=1e-6)


def test_a_constant_leg_shifts_the_other_and_degenerate_specs_are_constants() -> None:
    """Constant + X is the constant plus X's quantile; zero spread (std 0, sigma 0, low = high) is a constant."""
    lognormal = DelayLaw("lognormal", 5.0, 0.4)
    assert sum_quantile(DelayLaw("constant", 3.0), lognormal, 0.99) == 3.0 + lognormal.quantile(0.99)
    assert sum_cdf(DelayLaw("constant", 3.0), lognormal, 8.0) == sum_cdf(lognormal, DelayLaw("constant", 3.0), 8.0) == lognormal.cdf(5.0)
    assert DelayLaw.of(spec_of({"dist": "normal", "mean": "5ms", "std": "0ms"})) == DelayLaw("constant", 5.0)
    assert DelayLaw.of(spec_of({"dist": "lognormal", "median": "5ms", "sigma": 0})) == DelayLaw("constant", 5.0)
    assert DelayLaw.of(spec_of({"dist": "uniform", "low": "2ms", "high": "2ms"})) == DelayLaw("constant", 2.0)


def test_network_timing_is_the_exact_p99_rounded() -> None:
    """Lognormal(5ms, 0.4) links: one way 5 e^(0.4 z99) = 12.68 -> 12.7ms; the round trip 20.38 -> 20.4ms (a sample said 20.5)."""
    scenario = Scenario.model_validate({"name": "t", "mechanism": "raft", "nodes": 3, "network": {"delay": DELAYS["lognormal"]}})
    net = network_timing(scenario)
    assert net.one_way == float(f"{5 * math.exp(0.4 * statistics.NormalDist().inv_cdf(0.99)):.3g}") == 12.7
    assert net.rtt == 20.4

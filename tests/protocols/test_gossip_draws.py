"""Gossip's per-node streams (sim/protocols/gossip/draws.py): reproducible, distinct per node and start, uniform."""

from __future__ import annotations

from collections import Counter

import pytest

from sim.protocols.gossip.draws import NodeDraws, mix64


def test_a_stream_is_its_key_index_and_start_and_nothing_else():
    """The same (key, index, start) gives the same numbers; another index, start or key gives others."""
    one, two = NodeDraws(7, 3, 1), NodeDraws(7, 3, 1)
    assert [one.random() for _ in range(5)] == [two.random() for _ in range(5)]
    streams = {args: [NodeDraws(*args).random() for _ in range(3)] for args in [(7, 3, 1), (7, 4, 1), (7, 3, 2), (8, 3, 1)]}
    assert len({tuple(v) for v in streams.values()}) == 4


def test_draws_are_uniform_in_the_unit_interval():
    """20,000 draws: all in [0, 1), each tenth holds its share within 5 sigma, and neighbours are uncorrelated."""
    draws = NodeDraws(12345, 0, 1)
    xs = [draws.random() for _ in range(20_000)]
    assert all(0.0 <= x < 1.0 for x in xs)
    counts = Counter(int(x * 10) for x in xs)
    assert all(abs(counts[b] - 2000) < 5 * 2000**0.5 for b in range(10)), counts
    mean = sum(xs) / len(xs)
    lag1 = sum((a - mean) * (b - mean) for a, b in zip(xs, xs[1:], strict=False)) / sum((a - mean) ** 2 for a in xs)
    assert abs(lag1) < 0.03


def test_nearby_nodes_streams_are_uncorrelated():
    """The first draw of 20,000 consecutive node indexes is as uniform as one stream's draws."""
    firsts = [NodeDraws(99, i, 1).random() for i in range(20_000)]
    counts = Counter(int(x * 10) for x in firsts)
    assert all(abs(counts[b] - 2000) < 5 * 2000**0.5 for b in range(10)), counts


def test_randrange_uniform_and_sample_distinct():
    """`randrange(n)` covers [0, n) evenly; `sample` returns k distinct members, each equally often over many draws."""
    draws = NodeDraws(1, 2, 3)
    hits = Counter(draws.randrange(7) for _ in range(14_000))
    assert set(hits) == set(range(7)) and all(abs(c - 2000) < 5 * 2000**0.5 for c in hits.values())
    population = list("abcdefgh")
    seen: Counter[str] = Counter()
    for _ in range(4000):
        picked = draws.sample(population, 3)
        assert len(set(picked)) == 3 and set(picked) <= set(population)
        seen.update(picked)
    assert all(abs(c - 1500) < 5 * 1500**0.5 for c in seen.values()), seen
    assert sorted(draws.sample(range(5), 5)) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="cannot sample 4 of 3"):
        draws.sample([1, 2, 3], 4)


def test_uniform_is_random_uniforms_formula():
    """`uniform(a, b)` is a + (b - a) * random(), as `random.Random.uniform` computes it."""
    a, b = NodeDraws(5, 5, 5), NodeDraws(5, 5, 5)
    assert a.uniform(90.0, 110.0) == 90.0 + 20.0 * b.random()


def test_mix64_is_a_bijection_on_a_sample_and_scatters_neighbours():
    """Distinct inputs give distinct outputs; consecutive inputs differ in about half their bits."""
    outs = [mix64(i) for i in range(10_000)]
    assert len(set(outs)) == 10_000 and all(0 <= o < 2**64 for o in outs)
    flips = [bin(x ^ y).count("1") for x, y in zip(outs, outs[1:], strict=False)]
    assert 30 < sum(flips) / len(flips) < 34


def test_gossip_nodes_never_make_a_random_random_and_a_late_one_is_the_same_stream():
    """A gossip run leaves every node's `random.Random` unmade; made later, it is the `node:<name>` stream all the same."""
    from sim.kernel import Simulation
    from sim.scenario import scenario_from_dict

    scenario = scenario_from_dict(
        {
            "name": "t",
            "mechanism": "gossip",
            "nodes": 20,
            "duration": "1s",
            "protocol": {"sync_rounds": False},
            "workload": {"kind": "updates", "updates": [{"at": "5ms", "node": "n0", "key": "a", "value": "x"}]},
        }
    )
    sim = Simulation(scenario)
    sim.run()
    assert all(node._rng is None for node in sim.nodes.values())
    assert sim.nodes["n3"].rng.random() == sim.py_rng("node:n3").random()

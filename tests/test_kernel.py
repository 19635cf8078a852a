"""The kernel: network delays, loss, duplication, FIFO, bandwidth, partitions; faults; streams; units.

These tests drive a tiny protocol (Chatter) that sends numbered messages at given times and
records what it receives, so every property is read from the run's own tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import Field

from sim.protocols.base import Message, Protocol, ProtocolConfig
from sim.results import RunResult
from sim.runner import run
from sim.scenario import Ms, Scenario
from sim.units import NotFiniteError, format_ms, parse_bandwidth, parse_duration, parse_rate, parse_size


@dataclass(frozen=True, slots=True)
class Seq(Message):
    """A numbered message."""

    i: int


class ChatterConfig(ProtocolConfig):
    """When to send, how much, from whom to whom."""

    times: list[Ms] = Field(default_factory=lambda: [0.0])
    count: int = 1
    senders: list[str] = Field(default_factory=lambda: ["n0"])
    targets: list[str] = Field(default_factory=list)
    tick: Ms | None = None
    leader: str = ""


class Chatter(Protocol):
    """Sends `count` numbered messages to each target at each time; records boots, ticks and receipts."""

    name = "chatter"
    Config = ChatterConfig

    def on_start(self) -> None:
        """Count boots in storage (persistent) and receipts in memory (volatile); arm timers."""
        storage = self.ctx.storage
        storage["boots"] = storage.get("boots", 0) + 1
        self.received = 0
        self.ctx.record("boot", boots=storage["boots"])
        cfg = self.config
        if cfg.tick is not None:
            self.ctx.set_timer("tick", cfg.tick)
        if self.ctx.name in cfg.senders:
            for k, t in enumerate(cfg.times):
                if t >= self.ctx.now:
                    self.ctx.set_timer(f"send{k}", t - self.ctx.now)

    def is_leader(self) -> bool:
        """The configured node leads."""
        return self.ctx.name == self.config.leader

    def on_timer(self, name: str) -> None:
        """Record ticks; send a burst at each send time."""
        if name == "tick":
            self.ctx.record("tick")
            return
        k = int(name.removeprefix("send"))
        targets = self.config.targets or self.ctx.peers
        for dst in targets:
            if dst != self.ctx.name:
                for j in range(self.config.count):
                    self.ctx.send(dst, Seq(k * self.config.count + j))

    def on_message(self, src: str, msg: Message) -> None:
        """Record the receipt."""
        assert isinstance(msg, Seq)
        self.received += 1
        self.ctx.record("got", src=src, seq=msg.i, received=self.received)


def simulate(trace: bool = True, **fields: Any) -> RunResult:
    """Run Chatter on a scenario built from `fields` (2 nodes, 1 s, no workload by default)."""
    data: dict[str, Any] = {"name": "kernel", "mechanism": "chatter", "nodes": 2, "duration": "1s", "workload": None}
    data.update(fields)
    return run(Scenario.model_validate(data), trace=trace, protocol_cls=Chatter)


def delays(result: RunResult) -> np.ndarray:
    """Delivery delays (ms) of delivered messages."""
    trace = result.trace
    assert trace is not None
    done = trace[trace["fate"] == "delivered"]
    return (done["deliver_ms"] - done["send_ms"]).to_numpy()


def got(result: RunResult) -> pd.DataFrame:
    """The receipt events."""
    events = result.events
    return events[events["kind"] == "got"].reset_index(drop=True)


# --- network ---------------------------------------------------------------------------------

N = 4000


@pytest.mark.parametrize(
    ("spec", "check"),
    [
        ({"dist": "constant", "value": "7ms"}, lambda d: np.all(d == 7.0)),
        ({"dist": "uniform", "low": "2ms", "high": "10ms"}, lambda d: d.min() >= 2 and d.max() <= 10 and abs(d.mean() - 6) < 0.2),
        ({"dist": "normal", "mean": "20ms", "std": "3ms"}, lambda d: abs(d.mean() - 20) < 0.2 and abs(d.std() - 3) < 0.2),
        ({"dist": "normal", "mean": "1ms", "std": "3ms"}, lambda d: d.min() >= 0 and (d == 0).mean() > 0.3),
        ({"dist": "lognormal", "median": "5ms", "sigma": 0.5}, lambda d: abs(np.median(d) - 5) < 0.2),
        ({"dist": "exponential", "mean": "4ms", "min": "1ms"}, lambda d: d.min() >= 1 and abs(d.mean() - 5) < 0.25),
        ({"dist": "pareto", "scale": "2ms", "shape": 3.0}, lambda d: d.min() >= 2 and abs(np.median(d) - 2 * 2 ** (1 / 3)) < 0.1),
    ],
    ids=["constant", "uniform", "normal", "normal-truncated", "lognormal", "exponential", "pareto"],
)
def test_delay_distribution_matches_spec(spec: dict[str, Any], check: Any) -> None:
    """Each delay distribution's sample (bounds, mean or median) matches its parameters."""
    d = delays(simulate(network={"delay": spec}, protocol={"count": N}))
    assert len(d) == N
    assert check(d), (spec, d.mean(), np.median(d), d.min())


def test_loss_rate_matches_configured() -> None:
    """With loss 0.2, about 20% of messages are dropped, and the tables agree with the receipts."""
    result = simulate(network={"loss": 0.2}, protocol={"count": N})
    row = result.messages[result.messages["type"] == "seq"].iloc[0]
    assert row["sent"] == N
    assert abs(row["dropped"] / N - 0.2) < 0.025
    assert row["delivered"] + row["dropped"] == N
    assert len(got(result)) == row["delivered"]


def test_duplicates_are_delivered_twice() -> None:
    """With duplicate 1.0 every message arrives twice; with 0.25 about a quarter arrive twice."""
    always = got(simulate(network={"duplicate": 1.0}, protocol={"count": 200}))
    assert len(always) == 400
    assert (always["seq"].value_counts() == 2).all()
    some = got(simulate(network={"duplicate": 0.25}, protocol={"count": N}))
    assert abs(len(some) / N - 1.25) < 0.03


def test_ordered_links_are_fifo_and_unordered_links_reorder() -> None:
    """With `ordered: true` messages arrive in send order despite random delays; without, they do not."""
    fields = {"network": {"delay": {"dist": "uniform", "low": "1ms", "high": "50ms"}}, "protocol": {"count": 300}}
    unordered = got(simulate(**fields))["seq"].to_numpy()
    assert (np.diff(unordered) < 0).any()
    fields["network"]["ordered"] = True
    ordered = got(simulate(**fields))["seq"].to_numpy()
    assert len(ordered) == 300 and (np.diff(ordered) > 0).all()


def test_bandwidth_adds_serialisation_delay() -> None:
    """At 48,000 B/s a 48-byte message takes 1 ms on the wire, so a burst of 5 arrives 1 ms apart."""
    plain = delays(simulate(network={"delay": "10ms"}, protocol={"count": 5}))
    assert plain.tolist() == [10.0] * 5
    slow = delays(simulate(network={"delay": "10ms", "bandwidth": 48_000}, protocol={"count": 5}))
    assert np.allclose(sorted(slow), [11.0, 12.0, 13.0, 14.0, 15.0])


def test_per_link_override() -> None:
    """A `links:` entry changes only the listed direction."""
    result = simulate(
        network={"delay": "1ms", "links": [{"from": "n0", "to": "n1", "delay": "40ms"}]}, protocol={"count": 3, "senders": ["n0", "n1"]}
    )
    trace = result.trace
    assert trace is not None
    by_link = (trace["deliver_ms"] - trace["send_ms"]).groupby([trace["src"], trace["dst"]]).unique()
    assert by_link[("n0", "n1")].tolist() == [40.0]
    assert by_link[("n1", "n0")].tolist() == [1.0]


def _pairs_delivered(result: RunResult, at: float) -> set[tuple[str, str]]:
    trace = result.trace
    assert trace is not None
    batch = trace[(trace["send_ms"] == at) & (trace["fate"] == "delivered")]
    return set(zip(batch["src"], batch["dst"], strict=True))


EVERYONE = ["n0", "n1", "n2", "n3"]
ALL4 = {(a, b) for a in ("n0", "n1", "n2", "n3") for b in ("n0", "n1", "n2", "n3") if a != b}


def test_partition_drops_exactly_cross_group_pairs_and_heal_restores() -> None:
    """During a partition only pairs inside one group talk; after it heals every pair talks again."""
    result = simulate(
        nodes=4,
        protocol={"times": ["50ms", "150ms"], "senders": EVERYONE},
        faults=[{"at": "10ms", "partition": [["n0", "n1"], ["n2", "n3"]], "until": "100ms"}],
    )
    assert _pairs_delivered(result, 50.0) == {("n0", "n1"), ("n1", "n0"), ("n2", "n3"), ("n3", "n2")}
    assert _pairs_delivered(result, 150.0) == ALL4
    assert result.events["kind"].tolist()[:2] == ["boot", "boot"] and "heal" in set(result.events["kind"])


def test_one_way_cut_drops_one_direction_only() -> None:
    """A cut from n0 to n1,n2 drops exactly those directed pairs; the reverse still flows; heal restores."""
    result = simulate(
        nodes=4,
        protocol={"times": ["50ms", "150ms"], "senders": EVERYONE},
        faults=[{"at": "10ms", "cut": {"from": ["n0"], "to": ["n1", "n2"]}, "for": "90ms"}],
    )
    assert _pairs_delivered(result, 50.0) == ALL4 - {("n0", "n1"), ("n0", "n2")}
    assert _pairs_delivered(result, 150.0) == ALL4


# --- faults ----------------------------------------------------------------------------------


def test_crash_loses_timers_and_inflight_messages_and_recovery_uses_storage() -> None:
    """A crash cancels pending timers and drops messages in flight to the node (even if it is back
    when they arrive); recovery runs on_start again with storage intact and volatile state reset."""
    result = simulate(
        nodes=2,
        network={"delay": "30ms"},
        protocol={"times": ["40ms", "200ms"], "senders": ["n0"], "tick": "100ms"},
        faults=[{"at": "50ms", "crash": "n1"}, {"at": "60ms", "recover": "n1"}],
    )
    events = result.events
    n1 = events[events["node"] == "n1"]
    ticks = n1[n1["kind"] == "tick"]["time_ms"].tolist()
    assert ticks == [160.0]  # the 100 ms timer died with the crash; the reboot armed a new one at 60 + 100
    boots = n1[n1["kind"] == "boot"]["boots"].tolist()
    assert boots == [1, 2]
    trace = result.trace
    assert trace is not None
    sent_40 = trace[(trace["send_ms"] == 40.0) & (trace["dst"] == "n1")]
    assert sent_40["fate"].tolist() == ["crashed"]  # arrived at 70 ms, after the recovery, yet lost
    receipts = got(result)
    assert receipts[receipts["src"] == "n0"]["received"].tolist() == [1]  # counter restarted from 0


def test_crash_leader_hits_the_leader() -> None:
    """`crash: leader` crashes the node whose protocol says it leads."""
    result = simulate(nodes=5, protocol={"leader": "n3"}, faults=[{"at": "100ms", "crash": "leader"}])
    crashes = result.events[result.events["kind"] == "crash"]
    assert crashes["node"].tolist() == ["n3"]
    assert crashes["was_leader"].tolist() == [True]


def test_every_with_jitter_and_for_undo() -> None:
    """`every` repeats from `start` to `until`, each time shifted by a jitter in [0, jitter); `for` undoes each."""
    result = simulate(
        nodes=3, duration="2s", faults=[{"every": "200ms", "start": "200ms", "until": "1s", "jitter": "50ms", "crash": "n1", "for": "20ms"}]
    )
    events = result.events
    crashes = events[events["kind"] == "crash"]["time_ms"].to_numpy()
    recovers = events[events["kind"] == "recover"]["time_ms"].to_numpy()
    assert len(crashes) == 4  # 200, 400, 600, 800 (until is exclusive)
    offsets = crashes - np.array([200.0, 400.0, 600.0, 800.0])
    assert ((offsets >= 0) & (offsets < 50)).all() and len(set(offsets.round(6))) == 4
    assert np.allclose(recovers - crashes, 20.0)


def test_partition_for_undo_heals() -> None:
    """A partition with `for` is healed after that long."""
    result = simulate(nodes=3, faults=[{"at": "100ms", "partition": [["n0"], ["n1", "n2"]], "for": "250ms"}])
    events = result.events.set_index("kind")
    assert events.loc["partition", "time_ms"] == 100.0
    assert events.loc["heal", "time_ms"] == 350.0


def test_churn_respects_max_down() -> None:
    """Random churn crashes and recovers nodes often, but never has more than max_down down at once."""
    result = simulate(nodes=5, duration="20s", faults=[{"churn": {"mtbf": "300ms", "mttr": "400ms", "max_down": 2}}])
    events = result.events[result.events["kind"].isin(["crash", "recover"])]
    down, worst = 0, 0
    for kind in events["kind"]:
        down += 1 if kind == "crash" else -1
        worst = max(worst, down)
    assert (events["kind"] == "crash").sum() > 20
    assert worst == 2


# --- random streams --------------------------------------------------------------------------


def test_adding_a_fault_does_not_change_network_draws() -> None:
    """Faults draw from their own stream: adding a jittered random crash leaves every message delay unchanged."""
    base = {"nodes": 3, "network": {"delay": {"dist": "lognormal", "median": "5ms"}, "loss": 0.1}, "protocol": {"count": 100}}
    plain = delays(simulate(**base))
    with_fault = delays(simulate(**base, faults=[{"at": "900ms", "jitter": "50ms", "crash": "random"}]))
    assert np.array_equal(plain, with_fault)
    other_seed = delays(simulate(**base, seed=1))
    assert not np.array_equal(plain[: len(other_seed)], other_seed[: len(plain)])


# --- units -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ms"),
    [("150ms", 150.0), ("2s", 2000.0), ("1.5m", 90_000.0), ("250us", 0.25), (5, 5.0), ("1h", 3_600_000.0), (" 3 s ", 3000.0)],
)
def test_parse_duration(text: Any, ms: float) -> None:
    """Durations with units become milliseconds; bare numbers are milliseconds."""
    assert parse_duration(text) == ms


@pytest.mark.parametrize("text", ["fast", "5 parsecs", True, None, "ms", [1]])
def test_parse_duration_rejects(text: Any) -> None:
    """Anything that is not a number with a known unit is an error that quotes the input."""
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


def test_parse_rate_bandwidth_and_format() -> None:
    """Rates become per second, bandwidths bytes per second; durations format compactly."""
    assert parse_rate("200/s") == 200.0 and parse_rate("3/ms") == 3000.0 and parse_rate("60/min") == 1.0 and parse_rate(7) == 7.0
    assert parse_bandwidth("10MB/s") == 1e7 and parse_bandwidth("1Gbit/s") == 1.25e8 and parse_bandwidth(500) == 500.0
    for bad in ("fast", "200", True):
        with pytest.raises(ValueError):
            parse_rate(bad)
    with pytest.raises(ValueError):
        parse_bandwidth("quick")
    assert format_ms(2000.0) == "2s" and format_ms(150.0) == "150ms" and format_ms(0.25) == "0.25ms"
    for parse, text in ((parse_duration, "1e400ms"), (parse_rate, "1e400/s"), (parse_bandwidth, "9" * 400), (parse_size, "9" * 400)):
        with pytest.raises(NotFiniteError, match="must be finite"):
            parse(text)
    for parse in (parse_duration, parse_rate, parse_bandwidth, parse_size):
        with pytest.raises(NotFiniteError, match=r"must be finite \(got 10000000000000000000\.\.\.0000000000 \(401 characters\)\)"):
            parse(10**400)  # an integer too large for a float: an OverflowError, not a ValueError, used to escape
    resolved = Scenario.model_validate({"name": "x", "mechanism": "m", "duration": "1.5s"}).resolved()
    assert resolved["duration"] == "1500ms"

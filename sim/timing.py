"""Timeouts relative to the network: what 'rtt' stands for, and load-time checks of timeouts.

`rtt` is the 99th percentile of a round trip over the slowest pair of nodes (and the default
link, which clients use): a message out and one back, each drawn from its link's delay
distribution, plus the serialisation of a typical message on links with a bandwidth and the
CPU cost of signing and verifying both (when `crypto:` is modelled). It is computed exactly
from the delay distributions (sim/delays.py: the quantile of the sum of two independent delays,
by numerical integration of one leg's density against the other's CDF and a root find), in pure
Python, then rounded to three significant figures. It depends on the network only, never on the
run's seed: a sweep over seeds keeps its timeouts. `network.rtt` in a scenario overrides it.

Each mechanism checks its own timeouts against these numbers (`Protocol.timing`); the checks
here are the shared arithmetic and wording.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sim.delays import DelayLaw, sum_quantile
from sim.scenario import TimingWarning

if TYPE_CHECKING:
    from sim.protocols.base import ProtocolConfig
    from sim.protocols.registry import Mechanism
    from sim.scenario import Scenario

TYPICAL_MESSAGE_BYTES = 128
"""The message whose serialisation counts in `rtt` on links with a bandwidth."""
QUANTILE = 0.99


@dataclass(frozen=True)
class NetworkTiming:
    """The network's timing statistics, in ms, as the timeouts of a scenario see them."""

    rtt: float
    """p99 round trip over the slowest pair, serialisation and crypto included (or `network.rtt`)."""
    one_way: float
    """p99 one-way delay over the slowest directed link, serialisation and crypto included."""
    cpu: float
    """CPU time to sign one message plus verify one (0 unless `crypto:` is set)."""
    where: str
    """The pair the round trip was measured on (e.g. 'n2<->n4', 'the default link', 'network.rtt')."""
    cause: str = ""
    """What makes most of `rtt` when it is not the delay: 'mostly the 10 B/s bandwidth' (else empty)."""


def show_ms(ms: float) -> str:
    """A duration for people, to three significant figures: '664ms', '1.66s', '16.4ms'."""
    if ms >= 1000:
        return f"{float(f'{ms / 1000:.3g}'):g}s"
    return f"{float(f'{ms:.3g}'):g}ms"


def _three_figures(ms: float) -> float:
    return float(f"{ms:.3g}")


@dataclass(frozen=True, eq=False)
class _Link:
    """What the estimate needs of one directed link: its delay spec and its bandwidth."""

    delay: Any
    bandwidth: float | None


def _links(scenario: Scenario) -> tuple[_Link, dict[tuple[str, str], _Link]]:
    """The default link and every overridden directed link, resolved as the network resolves `links:`.

    Each entry is laid over the ones before it (sim/network.py, `Network.set_link`); resolved here
    rather than by building a `Network`, so that validation does not import the kernel and simpy.
    """
    network, nodes = scenario.network, scenario.node_names

    def expand(targets: str | list[str]) -> list[str]:
        items = [targets] if isinstance(targets, str) else targets
        return list(nodes) if "*" in items else list(items)

    default = _Link(network.delay, network.bandwidth)
    overrides: dict[tuple[str, str], _Link] = {}
    for spec in network.links:
        for src in expand(spec.from_):
            for dst in expand(spec.to):
                if src != dst:
                    under = overrides.get((src, dst), default)
                    delay = spec.delay if spec.delay is not None else under.delay
                    bandwidth = spec.bandwidth if spec.bandwidth is not None else under.bandwidth
                    overrides[(src, dst)] = _Link(delay, bandwidth)
    return default, overrides


def network_timing(scenario: Scenario) -> NetworkTiming:
    """`rtt` and the one-way delay of a scenario's network at time 0, exactly (see the module doc)."""
    default, overrides = _links(scenario)
    crypto = scenario.crypto
    cpu = (crypto.sign + crypto.verify) if crypto is not None else 0.0
    laws: dict[int, DelayLaw] = {}

    def law(link: _Link) -> DelayLaw:
        if id(link.delay) not in laws:
            laws[id(link.delay)] = DelayLaw.of(link.delay)
        return laws[id(link.delay)]

    def wire(link: _Link) -> float:
        return TYPICAL_MESSAGE_BYTES * 1000.0 / link.bandwidth if link.bandwidth else 0.0

    one_way = max(law(link).quantile(QUANTILE) + wire(link) + cpu for link in [default, *overrides.values()])
    pairs = [("the default link", default, default)]
    pairs += [(f"{src}<->{dst}", link, overrides.get((dst, src), default)) for (src, dst), link in overrides.items()]
    rtt, where, cause = 0.0, "the default link", ""
    seen: dict[tuple[DelayLaw, DelayLaw], float] = {}
    for name, out, back in pairs:
        legs = (law(out), law(back))
        if legs not in seen:
            seen[legs] = sum_quantile(*legs, QUANTILE)
        value = seen[legs] + wire(out) + wire(back) + 2 * cpu
        if value > rtt:
            rtt, where, cause = value, name, ""
            # A tiny bandwidth (a bare `bandwidth: 10` is 10 B/s) makes a huge rtt: errors on the
            # timeouts it inflates must name it, not only the timeout.
            if wire(out) + wire(back) > value / 2:
                slowest = min(link.bandwidth or math.inf for link in (out, back))
                cause = f"mostly the {slowest:,.6g} B/s bandwidth"
    if scenario.network.rtt is not None:
        rtt, where, cause = scenario.network.rtt, "network.rtt", ""
    return NetworkTiming(_three_figures(rtt), _three_figures(one_way), cpu, where, cause)


def shortfall(
    field: str, value: float, need: float, need_text: str, consequence: str, advice: str, basis: str = ""
) -> list[tuple[str, str]]:
    """One warning when a timeout `value` is below what it must wait for (`need`), else none.

    Args:
        field: the setting's dotted path, e.g. 'protocol.view_change_timeout'.
        value: the setting in ms.
        need: what it must at least be, in ms.
        need_text: what `need` is, e.g. 'what one request needs'.
        consequence: what goes wrong, e.g. 'backups suspect every primary'.
        advice: the change to make, e.g. 'raise it, e.g. view_change_timeout: 8rtt'.
        basis: how `need` was reckoned, e.g. '2 x rtt 664ms'.

    """
    if value >= need:
        return []
    reckoned = f" ({basis})" if basis else ""
    return [(field, f"{show_ms(value)} is below {need_text}, {show_ms(need)}{reckoned}: {consequence}; {advice}")]


def leader_timing(config: Any, net: NetworkTiming) -> list[tuple[str, str]]:
    """Warnings for a leader-based protocol's `election_timeout` [low, high] and `heartbeat_interval`.

    An election needs a vote's round trip; a follower must hear the next heartbeat (one
    interval plus a one-way delay) before its lowest timeout, or it deposes a live leader.
    """
    low = config.election_timeout[0]
    heartbeat = config.heartbeat_interval
    problems = shortfall(
        "protocol.election_timeout",
        low,
        net.rtt,
        "one election",
        "candidates give up before any vote can return",
        "raise it, e.g. election_timeout: [5rtt, 10rtt]",
        f"a vote's round trip: rtt over {net.where}",
    )
    if heartbeat < low <= heartbeat + net.one_way:
        problems.append(
            (
                "protocol.heartbeat_interval",
                f"{show_ms(heartbeat)} plus the one-way delay p99 ({show_ms(net.one_way)}) is not below the election timeout's "
                f"low end ({show_ms(low)}): followers time out under a live leader; lower it (e.g. heartbeat_interval: 1rtt) "
                "or raise election_timeout",
            )
        )
    return problems


def check_timing(
    scenario: Scenario, source: str, mechanism: Mechanism, config: ProtocolConfig, workload: Any, net: NetworkTiming
) -> list[TimingWarning]:
    """Every timing warning of a scenario: the mechanism's own, then the clients' retry timeout.

    Args:
        scenario: the scenario being loaded.
        source: its file, for the messages.
        mechanism: its mechanism record.
        config: its validated `protocol:` settings.
        workload: its validated workload config (None when there is none).
        net: the network's timing.

    """
    problems = list(mechanism.timing(scenario, config, net))
    if workload is not None and workload.kind != "none":
        latency = mechanism.expected_latency(scenario, config, net)
        if latency is not None:
            problems += shortfall(
                "workload.timeout",
                workload.timeout,
                latency,
                f"the expected latency of one {scenario.mechanism} command",
                "clients retry commands that are still on their way",
                "raise it, e.g. workload.timeout: 4rtt",
                f"from rtt {show_ms(net.rtt)}",
            )
    return [TimingWarning(source, field, problem) for field, problem in problems]


def _is_duration(annotation: Any) -> bool:
    from typing import get_args

    from sim.scenario import parse_duration_in_context

    for item in getattr(annotation, "__metadata__", ()):
        if getattr(item, "func", None) is parse_duration_in_context:
            return True
    return any(_is_duration(arg) for arg in get_args(annotation))


def duration_fields(model: type[Any]) -> list[str]:
    """Names of a pydantic model's fields that hold durations (`Ms`, or tuples and optionals of it)."""
    from sim.scenario import parse_duration_in_context

    names = []
    for name, info in model.model_fields.items():
        direct = any(getattr(item, "func", None) is parse_duration_in_context for item in info.metadata)
        if direct or _is_duration(info.annotation):
            names.append(name)
    return names


def timing_settings(scenario: Scenario) -> list[tuple[str, Any]]:
    """The resolved timing of a loaded scenario, as written to its resolved YAML.

    `network.rtt`, every duration setting of its protocol, and the clients' retry timeout, as
    (dotted path, value) pairs.
    """
    from sim.protocols.registry import get_mechanism

    if scenario.planes is not None:
        planes = scenario.plane_scenarios.values()
        return [(f"planes[{i}].{path}", value) for i, plane in enumerate(planes) for path, value in timing_settings(plane)]
    mechanism = get_mechanism(scenario.mechanism or "")
    resolved = scenario.resolved()
    rows: list[tuple[str, Any]] = [("network.rtt", resolved["network"].get("rtt"))]
    rows += [(f"protocol.{name}", scenario.protocol[name]) for name in duration_fields(mechanism.config) if name in scenario.protocol]
    workload = resolved.get("workload") or {}
    if workload.get("kind", "none") != "none" and "timeout" in workload:
        rows.append(("workload.timeout", workload["timeout"]))
    return rows

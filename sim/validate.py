"""Cross-field checks of a scenario: names that must exist, the mechanism's own settings and rules."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from sim.byzantine import BEHAVIOURS
from sim.effects import check_fault_effect, check_leader_targets, check_not_only_self, check_weights, check_workload_times
from sim.errors import first_error, got
from sim.protocols.registry import MechanismError, absolute_reference, get_mechanism
from sim.scenario import RTT_CONTEXT, Scenario, ScenarioError
from sim.scenario_parts import FOLDER_CONTEXT, RTT_CAUSE_CONTEXT
from sim.timing import check_timing, network_timing
from sim.units import NotFiniteError, format_ms, parse_scenario_duration
from sim.workload import workload_kinds

if TYPE_CHECKING:
    from sim.scenario import FaultSpec

TARGET_WORDS = frozenset({"all", "leader", "random"})


def _check_names(source: str, field: str, names: list[str], known: set[str], allowed: set[str]) -> None:
    for name in names:
        if name not in known and name not in allowed:
            raise ScenarioError(source, field, f"no node named {name!r} (nodes: {_short(known)})")


def _short(names: set[str]) -> str:
    ordered = sorted(names)
    return ", ".join(ordered) if len(ordered) <= 8 else ", ".join(ordered[:8]) + f", ... ({len(ordered)} in all)"


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _check_params(source: str, where: str, fault: FaultSpec, scenario: Scenario) -> None:
    """Byzantine parameters are read only at run time, so check them now.

    A negative delay would schedule deliveries in the simulated past (and honest nodes would be
    blamed for the gaps); a fraction outside [0, 1], a fork depth below 1 or a name that is
    nobody's would crash the run mid-way or change nothing.
    """
    params = fault.params
    if "delay" in params:
        try:
            delay = parse_scenario_duration(params["delay"])
        except NotFiniteError as exc:  # what an endless delay would mean has its own behaviour
            raise ScenarioError(source, f"{where}.delay", f"{exc}; 'silent' sends nothing at all") from None
        except ValueError as exc:
            raise ScenarioError(source, f"{where}.delay", str(exc)) from None
        if delay < 0:
            raise ScenarioError(source, f"{where}.delay", f"must be >= 0 (got {params['delay']!r})")
    if "fraction" in params:
        value = params["fraction"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ScenarioError(source, f"{where}.fraction", f"must be a number from 0 to 1 (got {value!r})")
    if "depth" in params:
        depth = params["depth"]
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ScenarioError(
                source, f"{where}.depth", f"must be an integer count of certificates >= 1, written without a decimal point (got {depth!r})"
            )
    if "as" in params:
        claimed = params["as"]
        if not isinstance(claimed, str):
            raise ScenarioError(source, f"{where}.as", f"must be a node name ({got(claimed)})")
        _check_names(source, f"{where}.as", [claimed], set(scenario.node_names), set())
        if _as_list(fault.byzantine or []) == [claimed]:
            raise ScenarioError(source, f"{where}.as", f"{claimed!r} is the forging node itself: claiming its own name forges nothing")
    if "client" in params:
        _check_client(source, f"{where}.client", params["client"], scenario)


def _check_client(source: str, field: str, client: object, scenario: Scenario) -> None:
    """`censor` shuts out one client by name: a name no client has would censor nothing."""
    if not isinstance(client, str):
        raise ScenarioError(source, field, f"must be a client name such as 'client0' ({got(client)})")
    if scenario.planes is not None:  # a fleet's clients belong to its planes' workloads: their names are the run's
        return
    count = int(getattr(scenario.workload, "clients", 1)) if scenario.workload is not None else 0
    names = [f"client{i}" for i in range(count)]
    if client not in names:
        known = f"clients: {', '.join(names[:8])}{', ...' if count > 8 else ''}" if names else "the scenario has no workload"
        raise ScenarioError(source, field, f"no client named {client!r} ({known})")


def check_scenario(scenario: Scenario, source: str, plane_of_fleet: bool = False) -> None:
    """Check everything one field alone cannot; fill in the mechanism's and workload's defaults.

    Also resolves 'rtt' (into `network.rtt`, and the timeouts written with it, into ms) and
    collects the timing warnings (`scenario.timing_warnings`).

    Args:
        scenario: the validated fields.
        source: the file, for the error line.
        plane_of_fleet: the scenario is one plane's view of a fleet (built by `check_planes`): its
            faults are the fleet's, whose `leader` may be another plane's (checked by the fleet).

    Raises:
        ScenarioError: the first problem found, as one line.

    """
    if scenario.planes is not None:
        from sim.planes.validate import check_planes  # late: it builds on this module

        check_planes(scenario, source)
        return
    if scenario.links is not None:
        raise ScenarioError(source, "links", "links join planes: declare 'planes' to use them")
    if scenario.mechanism is None:
        raise ScenarioError(source, "mechanism", "missing: name a mechanism (or declare 'planes')")
    for i, fault in enumerate(scenario.faults):
        if fault.plane is not None:
            raise ScenarioError(source, f"faults[{i}].plane", "names a plane, but this scenario has no 'planes'")
    # A file named by the scenario (`mechanism: my_proto.py:MyProtocol`) is found from the scenario's
    # folder, and the resolved scenario keeps its absolute path, so that sweep and explore workers,
    # compare and a later `consim plot` of the run directory find the same file from anywhere.
    folder = Path(source).parent
    try:
        mechanism = get_mechanism(scenario.mechanism, folder)
    except MechanismError as err:
        raise ScenarioError(source, "mechanism", str(err)) from None
    scenario.mechanism = absolute_reference(scenario.mechanism, folder)
    known = set(scenario.node_names)
    for i, link in enumerate(scenario.network.links):
        _check_names(source, f"network.links[{i}].from", _as_list(link.from_), known, {"*"})
        _check_names(source, f"network.links[{i}].to", _as_list(link.to), known, {"*"})

    # Timeouts written as multiples of 'rtt' (and the defaults, which are) resolve to ms here.
    net = network_timing(scenario)
    scenario.network.rtt = net.rtt
    # A file the settings name (a topology's edge list) is found from the scenario's folder, as the mechanism file is.
    context = {RTT_CONTEXT: net.rtt, RTT_CAUSE_CONTEXT: net.cause, FOLDER_CONTEXT: folder}
    try:
        config = mechanism.config.model_validate(scenario.protocol, context=context)
    except ValidationError as err:
        raise first_error(source, err, "protocol") from None
    scenario.protocol = config.model_dump(mode="json", by_alias=True, exclude_none=True)
    check_weights(scenario, source, mechanism)

    wl_config = None
    if scenario.workload is not None:
        kinds = workload_kinds(mechanism)
        if scenario.workload.kind not in kinds:
            raise ScenarioError(
                source, "workload.kind", f"unknown workload {scenario.workload.kind!r} for {scenario.mechanism} (known: {', '.join(kinds)})"
            )
        wl_cls = kinds[scenario.workload.kind]
        try:
            wl_config = wl_cls.Config.model_validate(scenario.workload.model_dump(), context=context)
        except ValidationError as err:
            raise first_error(source, err, "workload") from None
        scenario.workload = type(scenario.workload).model_validate(wl_config.model_dump(mode="json", exclude_none=True))
        check_workload_times(scenario, wl_config, source)

    for name, value in (("from", scenario.measure.from_), ("until", scenario.measure.until)):
        if isinstance(value, float) and value > scenario.duration:
            end = format_ms(scenario.duration)
            raise ScenarioError(source, f"measure.{name}", f"{format_ms(value)} is after the end of the run ({end})")

    check_faults(scenario, source, lambda _fault: [(scenario.mechanism or "", mechanism)], plane_of_fleet)
    if not plane_of_fleet:
        check_leader_targets(scenario, source, mechanism)

    problems = mechanism.validate(scenario, config)
    if problems:
        error = ScenarioError(source, *problems[0])
        error.problems = [str(ScenarioError(source, field, problem)) for field, problem in problems]
        raise error
    scenario._timing_warnings = check_timing(scenario, source, mechanism, config, wl_config, net)


def check_faults(
    scenario: Scenario, source: str, liars: Callable[[FaultSpec], list[tuple[str, Any]]], plane_of_fleet: bool = False
) -> None:
    """Check the network's link names and the fault plan against the nodes.

    `liars(fault)` gives the mechanisms (name, record or class) a byzantine entry lies in: its behaviour
    must make sense for each. `plane_of_fleet`: the scenario is one plane's view of a fleet, whose
    partition groups keep only the plane's nodes: a group may be empty there, and the fleet's own
    groups are checked on the fleet.

    Raises:
        ScenarioError: the first problem found, as one line.

    """
    known = set(scenario.node_names)
    for i, link in enumerate(scenario.network.links):
        _check_names(source, f"network.links[{i}].from", _as_list(link.from_), known, {"*"})
        _check_names(source, f"network.links[{i}].to", _as_list(link.to), known, {"*"})
        if not plane_of_fleet:  # a plane's view keeps only its own nodes: the fleet's whole link is checked on the fleet
            check_not_only_self(source, f"network.links[{i}]", link.from_, link.to, scenario.node_names)

    for i, fault in enumerate(scenario.faults):
        where = f"faults[{i}]"
        action = fault.action
        if action in IGNORED_TIMINGS:
            # Checked first: `at: 5s` on a 2 s run is wrong for this reason, not for striking after the end.
            _check_ignored_timing(source, where, fault)
        for key in ("at", "start", "from_"):
            value = getattr(fault, key)
            # The run processes events strictly before its end: one due at the end never happens.
            if value is not None and value >= scenario.duration:
                name = key.rstrip("_")
                raise ScenarioError(
                    source, f"{where}.{name}", f"{format_ms(value)} is not before the end of the run ({format_ms(scenario.duration)})"
                )
        if fault.at is not None and fault.until is not None and fault.until < fault.at:
            raise ScenarioError(source, f"{where}.until", "must not be before 'at'")
        if action not in ("churn", "byzantine"):  # their own windows: checked by check_fault_effect and below
            _check_strike_timing(scenario, source, where, fault)
        check_fault_effect(scenario, source, i, fault, liars)
        if action in ("crash", "recover", "byzantine"):
            targets = _as_list(getattr(fault, action))
            allowed = TARGET_WORDS if action != "byzantine" else {"random"}
            _check_names(source, f"{where}.{action}", targets, known, allowed)
        elif action == "partition":
            if not plane_of_fleet:
                _check_groups(source, f"{where}.partition", fault.partition or [], known)
            seen: set[str] = set()
            for g, group in enumerate(fault.partition or []):
                _check_names(source, f"{where}.partition[{g}]", group, known, {"leader", "rest"})
                overlap = seen & set(group)
                if overlap:
                    raise ScenarioError(source, f"{where}.partition[{g}]", f"{sorted(overlap)[0]!r} is in two groups")
                seen |= set(group)
        elif action == "cut" and fault.cut is not None:
            _check_names(source, f"{where}.cut.from", _as_list(fault.cut.from_), known, {"*", "leader"})
            _check_names(source, f"{where}.cut.to", _as_list(fault.cut.to), known, {"*", "leader"})
            if not plane_of_fleet:  # as for links: a view may leave a fleet's cut only its self-pair
                check_not_only_self(source, f"{where}.cut", fault.cut.from_, fault.cut.to, scenario.node_names)
        elif action == "set_link" and fault.set_link is not None:
            _check_names(source, f"{where}.set_link.from", _as_list(fault.set_link.from_), known, {"*"})
            _check_names(source, f"{where}.set_link.to", _as_list(fault.set_link.to), known, {"*"})
            if not plane_of_fleet:
                check_not_only_self(source, f"{where}.set_link", fault.set_link.from_, fault.set_link.to, scenario.node_names)
        elif action == "churn" and fault.churn is not None:
            _check_names(source, f"{where}.churn.nodes", _as_list(fault.churn.nodes), known, {"all"})
        if action == "byzantine":
            behaviour = fault.behaviour or ""
            if behaviour not in BEHAVIOURS:
                raise ScenarioError(source, f"{where}.behaviour", f"unknown behaviour {behaviour!r} (known: {', '.join(BEHAVIOURS)})")
            for mechanism, declared in liars(fault):
                if behaviour not in declared.byzantine_behaviours:
                    raise ScenarioError(
                        source,
                        f"{where}.behaviour",
                        f"{behaviour!r} makes no sense for {mechanism} (supported: {', '.join(declared.byzantine_behaviours)})",
                    )
            unknown = set(fault.params) - set(BEHAVIOURS[behaviour].params)
            if unknown:
                raise ScenarioError(source, f"{where}.params.{sorted(unknown)[0]}", f"unknown parameter for {behaviour}")
            _check_params(source, f"{where}.params", fault, scenario)


STRIKE_TIMINGS = ("at", "every", "start", "for_", "jitter")
"""The timing fields of an entry that strikes (crash, partition, ...): a byzantine entry has none of them."""
IGNORED_TIMINGS = MappingProxyType(
    {
        "byzantine": (STRIKE_TIMINGS, "a byzantine entry, which lies from 'from' to 'until' (default: the whole run)"),
        "churn": (("at", "every", "for_", "jitter"), "churn, which strikes at random between 'start' and 'until' (default: the whole run)"),
    }
)
"""The strike timings an action never reads (sim/faults.py), and what times it instead."""


def _check_ignored_timing(source: str, where: str, fault: FaultSpec) -> None:
    """A byzantine or churn entry must give none of the strike timings it never reads.

    A byzantine behaviour is installed at load and acts from `from` (default 0) to `until` (default:
    the end of the run); churn draws its own crash times from `start` (default 0) to `until`. `at`,
    `every`, `start` (byzantine), `for` and `jitter` were accepted and ignored, so `at: 1s` lied
    from 0 ms with exit 0, and churn's `at: 0` or `for: 0` passed a check that tested the value's
    truth (0 ms is false).

    Raises:
        ScenarioError: the first such field, as one line.

    """
    keys, timed_by = IGNORED_TIMINGS[fault.action]
    for key in keys:
        value = getattr(fault, key)
        # `jitter` defaults to 0 (no jitter), which a saved run's scenario.yaml writes back; the others
        # default to None: `at: 0` is given, `jitter: 0` changes nothing.
        if value is not None and (key != "jitter" or value):
            raise ScenarioError(source, f"{where}.{key.rstrip('_')}", f"does not apply to {timed_by}")


UNDOING_NOTHING = ("recover", "heal")
"""Fault actions that leave nothing to undo: a recovered node is not crashed again, a heal is not un-healed."""


def _check_strike_timing(scenario: Scenario, source: str, where: str, fault: FaultSpec) -> None:
    """A timing field of a timed entry (not churn, not byzantine) must change what the entry does.

    The run ignored each of these before, with exit 0 and nothing on stderr: `for` (or `until` after
    `at`) on an action with nothing to undo, `start` next to `at`, and a jitter that can carry a
    strike past the end of the run (it never happens) or past the `until` that undoes it (undone
    the moment it strikes).

    Raises:
        ScenarioError: the first such field, as one line.

    """
    action = fault.action
    if action in UNDOING_NOTHING:
        if fault.for_ is not None:
            raise ScenarioError(source, f"{where}.for", f"does not apply to {action}, which leaves nothing to undo")
        if fault.at is not None and fault.until is not None:
            problem = f"with 'at', 'until' undoes the entry then, and {action} leaves nothing to undo"
            raise ScenarioError(source, f"{where}.until", problem)
    if fault.at is not None and fault.start is not None:
        problem = "belongs to 'every' (its first strike): an entry with 'at' strikes once, at 'at'"
        raise ScenarioError(source, f"{where}.start", problem)
    if not fault.jitter:
        return
    jitter, end = format_ms(fault.jitter), format_ms(scenario.duration)
    if fault.at is not None:
        # A strike is drawn uniformly in [at, at + jitter]; the run processes events strictly before its end.
        if fault.at + fault.jitter >= scenario.duration:
            problem = (
                f"'at' ({format_ms(fault.at)}) + jitter ({jitter}) may fall at or after the end of the run ({end}),"
                " and the strike would not happen: lower the jitter or strike earlier"
            )
            raise ScenarioError(source, f"{where}.jitter", problem)
        if fault.until is not None and fault.at + fault.jitter >= fault.until:
            problem = (
                f"'at' ({format_ms(fault.at)}) + jitter ({jitter}) may fall at or after 'until' ({format_ms(fault.until)}),"
                " and the entry would be undone as soon as it strikes: lower the jitter or give a later 'until'"
            )
            raise ScenarioError(source, f"{where}.jitter", problem)
        return
    assert fault.every is not None
    # The strikes are first, first + every, ... before `until` (or the end); the last one's jitter
    # is what may carry it past the end. Closed form, as `FaultInjector._times` sums (equal up to
    # rounding): a loop would take a step per strike, billions for `every: 1us`.
    first = fault.start if fault.start is not None else fault.every
    stop = min(fault.until, scenario.duration) if fault.until is not None else scenario.duration
    if first >= stop:
        return  # no strike at all: `_check_window` says so
    last = first + (math.ceil((stop - first) / fault.every) - 1) * fault.every
    if last + fault.jitter >= scenario.duration:
        problem = (
            f"the last strike ({format_ms(last)}) + jitter ({jitter}) may fall at or after the end of the run ({end}),"
            " and that strike would not happen: lower the jitter or end the strikes earlier with 'until'"
        )
        raise ScenarioError(source, f"{where}.jitter", problem)


def _check_groups(source: str, where: str, groups: list[list[str]], known: set[str]) -> None:
    """Every group of a partition must hold a node: an empty group separates nobody from the rest.

    `leader` is left to the run (no node may lead when it strikes: a `fault_missed` event says so);
    `rest` is empty when the other groups name every node.
    """
    for g, group in enumerate(groups):
        if not group:
            raise ScenarioError(source, f"{where}[{g}]", "names no node: an empty group separates nobody")
        named_elsewhere = {name for h, other in enumerate(groups) if h != g for name in other}
        if set(group) == {"rest"} and known <= named_elsewhere:
            problem = "'rest' names no node here (the other groups name every node): the group separates nobody"
            raise ScenarioError(source, f"{where}[{g}]", problem)


def scenario_warnings(scenario: Scenario) -> list[str]:
    """Legal settings that are probably not what was meant, one line each (for stderr)."""
    if scenario.planes is not None:
        return [f"planes.{name}: {w}" for name, plane in scenario.plane_scenarios.items() for w in scenario_warnings(plane)]
    assert scenario.mechanism is not None
    mechanism = get_mechanism(scenario.mechanism)
    return mechanism.warnings(scenario, mechanism.config.model_validate(scenario.protocol))


def warning_lines(scenario: Scenario, source: str) -> list[str]:
    """Every warning of a loaded scenario, one line each, shaped like an error line: `warning: FILE: [FIELD: ]PROBLEM`.

    The mechanism's own (`Protocol.warnings`) first, then its timeouts' (`scenario.timing_warnings`),
    so that a user sees one kind of warning line whichever check wrote it.
    """
    lines = [warning_line(source, problem) for problem in scenario_warnings(scenario)]
    return lines + [f"warning: {w}" for w in scenario.timing_warnings]


def warning_line(source: str, problem: str, field: str = "") -> str:
    """One warning in the shape of a `ScenarioError` line, after `warning: `."""
    return f"warning: {ScenarioError(source, field, problem)}"

"""Load-time checks of settings that could never take effect: refused, so that no run silently ignores them.

A workload window that issues nothing, a fault that never fires or targets nothing, a byzantine
entry restricted to message kinds its mechanism does not send: each is one line naming the field.
What a later setting merely cuts short (a fault window past the end of the run, say) still
has an effect and is accepted.
"""

from __future__ import annotations

import functools
import math
import sys
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sim.errors import ScenarioError
from sim.units import format_ms

if TYPE_CHECKING:
    from sim.scenario import FaultSpec, Scenario
    from sim.workload import WorkloadConfig

CLIENT_KINDS = frozenset({"client_request", "client_reply"})
"""The framework's own message kinds (sim/protocols/message.py), which every mechanism's clients send."""
LINK_SETTINGS = ("delay", "loss", "duplicate", "bandwidth", "ordered")
"""The fields of a `set_link` that change a link (the others choose which links)."""


def check_not_only_self(source: str, field: str, sources: str | list[str], targets: str | list[str], nodes: list[str]) -> None:
    """A cut or a link setting must select some pair of two different nodes.

    The network never carries a node's message to itself (`Network.add_cut` and `Network.set_link`
    skip every self-pair), so `cut: {from: n1, to: n1}` dropped nothing and a self-link changed
    nothing, with exit 0. Refused only when both ends select the same one node ('*' is every node,
    `leader` one node, the same at both ends when the entry strikes); a self-pair among others is
    skipped at run time and the rest act.

    Raises:
        ScenarioError: `field` (the cut, or the link entry) and the one node both ends select.

    """

    def chosen(end: str | list[str]) -> set[str]:
        items = [end] if isinstance(end, str) else end
        return set(nodes) if "*" in items else set(items)

    src, dst = chosen(sources), chosen(targets)
    if len(src) == 1 and src == dst:
        change = "the cut drops nothing" if field.endswith(".cut") else "the link setting changes nothing"
        problem = f"'from' and 'to' select only {next(iter(src))!r}: a node never sends itself a message over the network, so {change}"
        raise ScenarioError(source, field, problem)


def check_workload_times(scenario: Scenario, config: WorkloadConfig, source: str) -> None:
    """A workload must be able to issue a command: its window opens before the run ends and before `until`.

    Raises:
        ScenarioError: `workload.start`, `workload.until` or a scripted command's `at` that issues nothing.

    """
    if config.kind == "none":
        return  # issues nothing by design: its window means nothing either way
    end = format_ms(scenario.duration)
    commands = getattr(config, "commands", None)
    if commands is not None:  # a script issues each command at its own `at`, whatever `start` and `until` say
        if config.start > 0:
            problem = "a script issues each command at its own 'at': 'start' does nothing (write the times into the commands)"
            raise ScenarioError(source, "workload.start", problem)
        for i, command in enumerate(commands):
            if command.at >= scenario.duration:
                raise ScenarioError(
                    source, f"workload.commands[{i}].at", f"{format_ms(command.at)} is not before the end of the run ({end})"
                )
        return
    # The run processes events strictly before its end: a command due at the end is never issued.
    if config.start >= scenario.duration:
        raise ScenarioError(source, "workload.start", f"{format_ms(config.start)} is not before the end of the run ({end})")
    if config.until is not None and config.until <= config.start:
        problem = f"{format_ms(config.until)} is not after 'start' ({format_ms(config.start)}): no command would be issued"
        raise ScenarioError(source, "workload.until", problem)
    _check_pace(scenario, config, source)
    every = getattr(config, "every", None)
    if isinstance(every, float) and not getattr(config, "claims", None):
        # A paced workload (questions, load, claims) issues its first at `start + every`.
        first, close = config.start + every, min(scenario.duration, config.until if config.until is not None else scenario.duration)
        if first >= close:
            what = f"'until' ({format_ms(close)})" if close < scenario.duration else f"the end of the run ({end})"
            problem = f"the first would be issued at start + every = {format_ms(first)}, not before {what}: no command would be issued"
            raise ScenarioError(source, "workload.every", problem)


def _check_pace(scenario: Scenario, config: WorkloadConfig, source: str) -> None:
    """A workload's gap must be one the clock can add: below its resolution, `now + gap == now` and time stands still.

    The clock is a double in ms, whose step at the end of the window is `math.ulp(end)`: a mean gap
    below it issues command after command at one instant and the run never ends. No run that can
    end is refused: a fast but finite rate (`1e12/s`) is a great deal of work, not an overflow.
    """
    close = min(scenario.duration, config.until if config.until is not None else scenario.duration)
    step = math.ulp(close)
    rate, every = getattr(config, "rate", None), getattr(config, "every", None)
    paces = [("rate", f"{rate:g}/s", "its mean gap", 1000.0 / rate)] if isinstance(rate, float) and rate > 0 else []
    paces += [("every", format_ms(every), "its gap", every)] if isinstance(every, float) and every > 0 else []
    for field, shown, what, gap in paces:
        if gap < step:
            problem = (
                f"{shown} is too fast for the clock: {what}, {gap:.3g} ms, is below the clock's resolution at {format_ms(close)}"
                f" ({step:.3g} ms), where time would stand still and the run never end"
            )
            raise ScenarioError(source, f"workload.{field}", problem)


def check_fault_effect(
    scenario: Scenario, source: str, index: int, fault: FaultSpec, liars: Callable[[FaultSpec], list[tuple[str, Any]]]
) -> None:
    """One fault entry must be able to act: a window that opens, targets to act on, something to change.

    `liars(fault)` gives the mechanisms a byzantine entry lies in (name, record or Protocol class);
    its `messages` must name a kind at least one of them sends.

    Raises:
        ScenarioError: the first field of the entry that makes it do nothing.

    """
    where = f"faults[{index}]"
    _check_window(scenario, source, where, fault)
    action = fault.action
    for field in ("crash", "recover", "byzantine"):
        if getattr(fault, field) == [] and field == action:
            raise ScenarioError(source, f"{where}.{field}", "names no node: the entry would do nothing")
    ends = {"cut": fault.cut, "set_link": fault.set_link}.get(action)
    for end in ("from_", "to"):
        if ends is not None and getattr(ends, end) == []:
            raise ScenarioError(source, f"{where}.{action}.{end.rstrip('_')}", "names no node: the entry would do nothing")
    if action == "recover" and _says_leader(fault.recover):
        raise ScenarioError(source, f"{where}.recover", "'leader' names a node that is up, and recover acts only on nodes that are down")
    if fault.churn is not None and fault.churn.nodes == []:
        raise ScenarioError(source, f"{where}.churn.nodes", "names no node: the entry would do nothing")
    if fault.set_link is not None and all(getattr(fault.set_link, name) is None for name in LINK_SETTINGS):
        raise ScenarioError(source, f"{where}.set_link", f"changes nothing: give at least one of {', '.join(LINK_SETTINGS)}")
    if fault.messages:
        known: set[str] = set()
        names = []
        for name, declared in liars(fault):
            # A record names its replica and client classes; a bare Protocol class (a test's) declares its client.
            protocol = getattr(declared, "protocol", declared)
            client = getattr(declared, "client", None) or protocol.client_class()
            known |= message_kinds(protocol, client)
            names.append(name)
        # Found none of its own (only the client's two, say): its messages are out of sight, so none is refused.
        for j, kind in enumerate(fault.messages):
            if names and known - CLIENT_KINDS and kind not in known:
                problem = f"{' or '.join(names)} sends no message of kind {kind!r} (its kinds: {', '.join(sorted(known))})"
                raise ScenarioError(source, f"{where}.messages[{j}]", problem)


def _check_window(scenario: Scenario, source: str, where: str, fault: FaultSpec) -> None:
    """A repeated, churning or byzantine entry's window must open before its `until` and before the run ends."""
    if fault.byzantine is not None:
        first, name = (fault.from_ or 0.0), "from"  # a behaviour is active from `from` to before `until`
    elif fault.every is not None:
        first, name = (fault.start, "start") if fault.start is not None else (fault.every, "every")  # the first strike
    elif fault.churn is not None:
        first, name = (fault.start or 0.0), "start"
    else:
        return  # one strike at `at`: checked with the other times
    if fault.until is not None and fault.until <= first:
        what = f"'{name}'" if name != "every" else "the first strike ('every', no 'start')"
        problem = f"{format_ms(fault.until)} is not after {what} ({format_ms(first)}): it would never act"
        raise ScenarioError(source, f"{where}.until", problem)
    # The run processes events strictly before its end: a window opening at the end never acts.
    if first >= scenario.duration:
        problem = f"{format_ms(first)} is not before the end of the run ({format_ms(scenario.duration)}): it would never act"
        raise ScenarioError(source, f"{where}.{name}", problem)


def check_leader_targets(scenario: Scenario, source: str, mechanism: Any) -> None:
    """`leader` in a fault is the node that leads when it strikes: refused where the mechanism never has one.

    A mechanism whose replica never answers `is_leader` (gossip, voting, attestation) has no leader
    at any time, so a `crash: leader`, a partition group or a cut end naming it would act on no node
    at every strike (before, only the run's `fault_missed` warning said so). A leader missing for a
    while only (before the first election) is the run's to report. A fleet's planes are checked
    by `sim.planes.effects.check_fleet_leaders`: there `leader` is a plane's.

    Raises:
        ScenarioError: `faults[i].<field>` of the first entry that names the leader.

    """
    if has_leader(mechanism):
        return
    for i, fault in enumerate(scenario.faults):
        fields = leader_fields(fault)
        if fields:
            raise ScenarioError(source, f"faults[{i}].{fields[0]}", f"{mechanism.name} never has a leader: 'leader' would name no node")


def has_leader(mechanism: Any) -> bool:
    """Whether a mechanism (a registry record or a Protocol class) can ever lead: it answers `is_leader` (the base never does)."""
    from sim.protocols.base import Protocol

    return getattr(mechanism, "protocol", mechanism).is_leader is not Protocol.is_leader


def leader_fields(fault: FaultSpec) -> list[str]:
    """The fields of a fault entry that say `leader` (which resolves to no node where nobody leads)."""
    fields = [name for name in ("crash", "recover") if _says_leader(getattr(fault, name))]
    if fault.cut is not None:
        fields += [f"cut.{end}" for end, targets in (("from", fault.cut.from_), ("to", fault.cut.to)) if _says_leader(targets)]
    fields += [f"partition[{g}]" for g, group in enumerate(fault.partition or []) if "leader" in group]
    return fields


def _says_leader(targets: str | list[str] | None) -> bool:
    return targets == "leader" or (isinstance(targets, list) and "leader" in targets)


@functools.cache
def message_kinds(protocol: type, client: type | None = None) -> frozenset[str]:
    """The kinds of the messages a mechanism's nodes send: what a byzantine entry's `messages` may name.

    A mechanism declares no list of its messages, so they are read from its code: the `Message`
    classes defined in or imported into the modules its replica and client classes come from,
    and every module of their packages (e.g. sim/protocols/raft/messages.py).
    """
    from sim.protocols.message import Message

    names = {cls.__module__ for cls in (*protocol.__mro__, *(client.__mro__ if client is not None else ()))}
    modules = [sys.modules[name] for name in names if name in sys.modules and name != "builtins"]
    for module in list(modules):
        if hasattr(module, "__path__"):  # a package: its submodules hold its messages
            prefix = module.__name__ + "."
            modules += [m for key, m in list(sys.modules.items()) if key.startswith(prefix) and m is not None]
    # And the modules they import whole (`import msgs`, then `msgs.Store(...)`).
    modules += [value for module in list(modules) for value in vars(module).values() if isinstance(value, types.ModuleType)]
    kinds = {
        value.kind
        for module in modules
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, Message) and value is not Message
    }
    return frozenset(kinds)


def check_weights(scenario: Scenario, source: str, mechanism: Any) -> None:
    """Node weights other than 1 must matter: refused on a mechanism that never weighs its nodes (`weighs_nodes`).

    A mechanism that weighs them under some settings only (voting's `rule: weighted`) keeps them under
    every setting: the same weighted nodes compared under two rules is an experiment.

    Raises:
        ScenarioError: `nodes[i].weight` of the first weighted node.

    """
    if isinstance(scenario.nodes, int) or mechanism.weighs_nodes:
        return
    for i, spec in enumerate(scenario.nodes):
        if spec.weight != 1.0:
            problem = f"{mechanism.name} never weighs its nodes: the weight would do nothing; remove it"
            raise ScenarioError(source, f"nodes[{i}].weight", problem)

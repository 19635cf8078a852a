"""Load-time checks of a scenario with planes: each plane as a one-mechanism scenario, then links and faults."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.effects import message_kinds
from sim.errors import ScenarioError
from sim.planes.effects import check_fleet_leaders, check_fleet_links, fleet_weights
from sim.protocols.registry import MechanismError, get_mechanism
from sim.scenario import Scenario, TimingWarning, scenario_from_dict
from sim.timing import network_timing
from sim.validate import check_faults

if TYPE_CHECKING:
    from sim.protocols.registry import Mechanism
    from sim.scenario import FaultSpec, PlaneSpec


def _plane_nodes(scenario: Scenario, plane: PlaneSpec, where: str, source: str) -> list[dict[str, Any]]:
    """The plane's nodes (name and weight), in scenario order."""
    specs = scenario.node_specs
    if plane.nodes == "all":
        chosen = specs
    elif isinstance(plane.nodes, int):
        if plane.nodes > len(specs):
            raise ScenarioError(source, f"{where}.nodes", f"asks for {plane.nodes} nodes; the scenario has {len(specs)}")
        chosen = specs[: plane.nodes]
    else:
        known = {spec.name for spec in specs}
        for i, name in enumerate(plane.nodes):
            if name not in known:
                raise ScenarioError(source, f"{where}.nodes[{i}]", f"no node named {name!r}")
        if len(set(plane.nodes)) != len(plane.nodes):
            dupe = next(n for n in plane.nodes if plane.nodes.count(n) > 1)
            raise ScenarioError(source, f"{where}.nodes", f"{dupe!r} is listed twice")
        if not plane.nodes:
            raise ScenarioError(source, f"{where}.nodes", "needs at least one node")
        wanted = set(plane.nodes)
        chosen = [spec for spec in specs if spec.name in wanted]
    return [spec.model_dump() for spec in chosen]


def _keep(targets: str | list[str], members: set[str], words: set[str]) -> list[str]:
    items = [targets] if isinstance(targets, str) else list(targets)
    return [item for item in items if item in members or item in words]


def plane_faults(faults: list[dict[str, Any]], members: set[str], plane: str, kinds: frozenset[str] | None = None) -> list[dict[str, Any]]:
    """The fault plan as one plane sees it (resolved entries): names outside the plane left out, `plane` dropped.

    The fleet runs the fleet's plan; this view is what the plane's checkers, summary and figures
    read, and it loads as a one-mechanism scenario's faults. An entry meant for another plane,
    or left with no node of this one, is dropped; so is a byzantine entry whose `messages` name
    none of `kinds` (the plane's message kinds, when given), which never lies in this plane.
    """
    out: list[dict[str, Any]] = []
    for entry in faults:
        entry = dict(entry)
        named = entry.pop("plane", None)
        if "byzantine" in entry:
            if named not in (None, plane):
                continue
            if kinds is not None and entry.get("messages"):
                entry["messages"] = [kind for kind in entry["messages"] if kind in kinds]
                if not entry["messages"]:
                    continue
            entry["byzantine"] = _keep(entry["byzantine"], members, {"random"})
            if not entry["byzantine"]:
                continue
        for action, words in (("crash", {"all", "leader", "random"}), ("recover", {"all", "leader", "random"})):
            if action in entry:
                entry[action] = _keep(entry[action], members, words)
                if not entry[action]:
                    entry = {}
        if "partition" in entry:
            entry["partition"] = [_keep(group, members, {"leader", "rest"}) for group in entry["partition"]]
        for action in ("cut", "set_link"):
            if action in entry:
                ends = {end: _keep(entry[action][end], members, {"*", "leader"}) for end in ("from", "to")}
                if not all(ends.values()):
                    entry = {}
                else:
                    entry[action] = {**entry[action], **ends}
        if "churn" in entry:
            entry["churn"] = {**entry["churn"], "nodes": _keep(entry["churn"].get("nodes", "all"), members, {"all"})}
            if not entry["churn"]["nodes"]:
                entry = {}
        if entry:
            out.append(entry)
    return out


def _within(targets: str | list[str], names: set[str]) -> bool:
    items = [targets] if isinstance(targets, str) else targets
    return all(item == "*" or item in names for item in items)


def check_planes(scenario: Scenario, source: str) -> None:
    """Check a scenario with planes, and build each plane's own scenario (`scenario.plane_scenarios`).

    Each plane is validated as a one-mechanism scenario on its nodes (its protocol and workload
    settings, timing included); errors name the plane's field (`planes[1].protocol.fanout`).

    Raises:
        ScenarioError: the first problem found, as one line.

    """
    if scenario.mechanism is not None:
        raise ScenarioError(source, "mechanism", "a scenario with planes names a mechanism in each plane; remove the top-level one")
    if scenario.protocol:
        raise ScenarioError(source, "protocol", "a scenario with planes gives protocol settings in each plane; move them there")
    if "workload" in scenario.model_fields_set and scenario.workload is not None:
        raise ScenarioError(source, "workload", "a scenario with planes gives a workload in each plane; move it there")
    scenario.workload = None
    planes = scenario.planes or []
    if not planes:
        raise ScenarioError(source, "planes", "needs at least one plane")
    seen: set[str] = set()
    for i, plane in enumerate(planes):
        if plane.name in seen:
            raise ScenarioError(source, f"planes[{i}].name", f"duplicate plane name {plane.name!r}")
        seen.add(plane.name)

    chosen: list[list[dict[str, Any]]] = []
    records: list[Mechanism] = []
    for i, plane in enumerate(planes):
        try:
            records.append(get_mechanism(plane.mechanism, Path(source).parent))
        except MechanismError as err:
            raise ScenarioError(source, f"planes[{i}].mechanism", str(err)) from None
        chosen.append(_plane_nodes(scenario, plane, f"planes[{i}]", source))
        if plane.requires is not None:
            from sim.report.requirements import parse_requirements

            parse_requirements(plane.requires, source, f"planes[{i}].requires")
    for i, link in enumerate(scenario.links or []):
        for end, name in (("from", link.from_), ("to", link.to)):
            if name not in seen:
                raise ScenarioError(source, f"links[{i}].{end}", f"no plane named {name!r} (planes: {', '.join(p.name for p in planes)})")
        if link.from_ == link.to:
            raise ScenarioError(source, f"links[{i}].to", "a link joins two different planes")
    _check_fleet_faults(scenario, source)
    check_fleet_leaders(scenario, source, records)
    # 'rtt' of the whole fleet's network, as a one-mechanism scenario's resolved YAML has it.
    scenario.network.rtt = network_timing(scenario).rtt
    weighed = fleet_weights(scenario, source, records, chosen)

    base = scenario.resolved()
    fleet_faults = base.get("faults", [])
    for key in ("planes", "links", "faults", "mechanism", "workload", "protocol"):
        base.pop(key, None)
    built: dict[str, Scenario] = {}
    warnings: list[TimingWarning] = []
    for i, plane in enumerate(planes):
        where = f"planes[{i}]"
        # A plane that does not weigh its nodes gets them unweighted: the weights are another plane's.
        nodes = chosen[i] if weighed[i] else [{"name": node["name"]} for node in chosen[i]]
        names = {node["name"] for node in nodes}
        data = dict(base)
        data["mechanism"] = plane.mechanism
        data["protocol"] = dict(plane.protocol)
        data["workload"] = plane.workload.model_dump() if plane.workload is not None else None
        data["nodes"] = nodes
        network = dict(data.get("network", {}))
        # Per-link settings between this plane's nodes shape its timing; the others are not its concern.
        network["links"] = [link for link in network.get("links", []) if _within(link["from"], names) and _within(link["to"], names)]
        data["network"] = network
        data["faults"] = plane_faults(fleet_faults, names, plane.name, message_kinds(records[i].protocol, records[i].client))
        try:
            built[plane.name] = scenario_from_dict(data, source, plane_of_fleet=True)
        except ScenarioError as err:
            field = f"{where}.{err.field}" if err.field else where
            raise ScenarioError(source, field, err.problem) from None
        done = built[plane.name]
        plane.protocol = dict(done.protocol)
        plane.workload = done.workload
        warnings += [TimingWarning(w.source, f"{where}.{w.field}", w.problem) for w in done.timing_warnings]

    check_fleet_links(scenario, source, built)
    scenario._plane_scenarios = built
    scenario._timing_warnings = warnings


def _members(scenario: Scenario, plane: PlaneSpec) -> set[str]:
    names = scenario.node_names
    if plane.nodes == "all":
        return set(names)
    if isinstance(plane.nodes, int):
        return set(names[: plane.nodes])
    return set(plane.nodes)


def _names_leader(fault: FaultSpec) -> bool:
    """Whether a fault entry names `leader` among its targets (a crash, recover, partition group or cut end)."""
    if fault.partition is not None:
        named = [item for group in fault.partition for item in group]
    elif fault.cut is not None:
        named = [end for ends in (fault.cut.from_, fault.cut.to) for end in ([ends] if isinstance(ends, str) else ends)]
    else:
        targets = fault.crash if fault.crash is not None else fault.recover
        named = [targets] if isinstance(targets, str) else list(targets or [])
    return "leader" in named


def _check_fleet_faults(scenario: Scenario, source: str) -> None:
    """The fault plan against the fleet's nodes, and each byzantine entry against the planes it lies in."""
    planes = {plane.name: plane for plane in scenario.planes or []}
    for i, fault in enumerate(scenario.faults):
        if fault.plane is None:
            continue
        if fault.plane not in planes:
            raise ScenarioError(source, f"faults[{i}].plane", f"no plane named {fault.plane!r} (planes: {', '.join(planes)})")
        if fault.byzantine is None and not _names_leader(fault):
            # A node is the fleet's: crashing or cutting it off stops it in every plane, whatever `plane:` says.
            problem = (
                f"a {fault.action} that names no 'leader' strikes every plane on its nodes: "
                "'plane' only picks whose leader 'leader' means, or the plane a byzantine entry lies in"
            )
            raise ScenarioError(source, f"faults[{i}].plane", problem)
        if fault.byzantine is not None:
            members = _members(scenario, planes[fault.plane])
            targets = [fault.byzantine] if isinstance(fault.byzantine, str) else fault.byzantine
            outside = [t for t in targets if t != "random" and t not in members]
            if outside:
                raise ScenarioError(source, f"faults[{i}].byzantine", f"{outside[0]!r} does not take part in plane {fault.plane!r}")

    def liars(fault: FaultSpec) -> list[tuple[str, Mechanism]]:
        """The planes a byzantine entry lies in: its `plane`, or every plane its nodes take part in."""
        targets = [fault.byzantine] if isinstance(fault.byzantine, str) else list(fault.byzantine or [])
        out: list[tuple[str, Mechanism]] = []
        for name, plane in planes.items():
            if (fault.plane is None or fault.plane == name) and ("random" in targets or _members(scenario, plane) & set(targets)):
                out.append((f"plane {name} ({plane.mechanism})", get_mechanism(plane.mechanism, Path(source).parent)))
        return out

    check_faults(scenario, source, liars)

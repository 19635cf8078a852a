"""Load-time checks of a fleet's settings that could never take effect.

A `leader` of no plane, a link that never fires or cannot submit, a node weight no plane of its node weighs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.effects import has_leader, leader_fields
from sim.errors import ScenarioError
from sim.workload import workload_kinds

LINKED = "linked"
"""`when: linked` (as sim.planes.links names it; not imported from there, which loads pandas: validation should not)."""

if TYPE_CHECKING:
    from sim.protocols.registry import Mechanism
    from sim.scenario import Scenario


def check_fleet_leaders(scenario: Scenario, source: str, mechanisms: list[Mechanism]) -> None:
    """`leader` in a fleet's fault means the leader of the entry's `plane` (or of the first plane with one): it must exist.

    Raises:
        ScenarioError: `faults[i].<field>` names the leader of a plane whose mechanism never has one, or of no plane.

    """
    planes = scenario.planes or []
    by_name = {plane.name: mechanism for plane, mechanism in zip(planes, mechanisms, strict=True)}
    for i, fault in enumerate(scenario.faults):
        fields = leader_fields(fault)
        if not fields:
            continue
        if fault.plane is not None and fault.plane in by_name and not has_leader(by_name[fault.plane]):
            mechanism = by_name[fault.plane].name
            problem = f"plane {fault.plane!r} ({mechanism}) never has a leader: 'leader' would name no node"
            raise ScenarioError(source, f"faults[{i}].{fields[0]}", problem)
        if fault.plane is None and not any(has_leader(m) for m in mechanisms):
            raise ScenarioError(source, f"faults[{i}].{fields[0]}", "no plane ever has a leader: 'leader' would name no node")


def check_fleet_links(scenario: Scenario, source: str, built: dict[str, Scenario]) -> None:
    """Each link must be able to fire and to submit.

    Its `when` must be a value its `from` plane decides, and its command one the `to` plane's client can send.

    Args:
        scenario: the fleet.
        source: the file, for the error line.
        built: each plane as a validated one-mechanism scenario (its resolved settings), by name.

    Raises:
        ScenarioError: `links[i].when`, `links[i].submit` or `links[i].write` that could never take effect.

    """
    from sim.protocols.registry import get_mechanism

    for i, link in enumerate(scenario.links or []):
        # A voting plane decides one of its answers for each question: another value is never decided.
        answers = built[link.from_].protocol.get("answers")
        if link.when not in (None, LINKED) and isinstance(answers, list) and link.when not in answers:
            known = ", ".join(map(str, answers))
            problem = f"{link.when!r} is not one of the answers of plane {link.from_!r} ({known}): the link would never fire"
            raise ScenarioError(source, f"links[{i}].when", problem)
        target = built[link.to]
        mechanism = get_mechanism(target.mechanism or "")
        kind = target.workload.kind if target.workload is not None else "none"
        workload = workload_kinds(mechanism).get(kind)
        client = getattr(workload, "client_class", None) or mechanism.client
        if not client.addressed:
            continue
        # This plane's client sends each command to the node it names first ('n0|...'): anything else has nowhere to go.
        field, op = ("submit", link.submit) if link.submit is not None else ("write", f"{link.write}=")
        node, sep, _ = (op or "").partition("|")
        if not sep or node not in target.node_names:
            example = f"{target.node_names[0]}|{op}"
            problem = (
                f"the {kind} workload of plane {link.to!r} sends each command to the node it names first ('node|...', e.g. {example!r}); "
                f"{op!r} names none of its nodes"
            )
            raise ScenarioError(source, f"links[{i}].{field}", problem)


def fleet_weights(scenario: Scenario, source: str, mechanisms: list[Mechanism], chosen: list[list[dict[str, Any]]]) -> list[bool]:
    """Which planes weigh their nodes; a node's weight other than 1 must matter in at least one plane it takes part in.

    Args:
        scenario: the fleet.
        source: the file, for the error line.
        mechanisms: each plane's mechanism, in plane order.
        chosen: each plane's nodes (name and weight), in plane order.

    Raises:
        ScenarioError: `nodes[i].weight` of a node no plane weighs.

    """
    weighed = [mechanism.weighs_nodes for mechanism in mechanisms]
    if isinstance(scenario.nodes, int):
        return weighed
    counted = {node["name"] for nodes, weighs in zip(chosen, weighed, strict=True) if weighs for node in nodes}
    for i, spec in enumerate(scenario.nodes):
        if spec.weight != 1.0 and spec.name not in counted:
            problem = f"no plane {spec.name!r} takes part in ever weighs its nodes: the weight would do nothing; remove it"
            raise ScenarioError(source, f"nodes[{i}].weight", problem)
    return weighed

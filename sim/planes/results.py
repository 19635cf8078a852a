"""A saved run with planes, read back: each plane's result rebuilt from the joined tables."""

from __future__ import annotations

from typing import Any

from sim.planes.run import RUN_KEYS, split
from sim.planes.validate import plane_faults
from sim.records import RunTables
from sim.results import RunResult


def plane_scenario(scenario: dict[str, Any], plane: dict[str, Any]) -> dict[str, Any]:
    """One plane of a resolved scenario with planes as a resolved one-mechanism scenario dict."""
    data = {key: value for key, value in scenario.items() if key not in ("planes", "links")}
    data["mechanism"] = plane["mechanism"]
    data["protocol"] = plane.get("protocol", {})
    if plane.get("workload") is not None:
        data["workload"] = plane["workload"]
    nodes = scenario.get("nodes", 3)
    specs = [{"name": f"n{i}"} for i in range(nodes)] if isinstance(nodes, int) else list(nodes)
    chosen = plane.get("nodes", "all")
    if chosen == "all":
        data["nodes"] = specs
    elif isinstance(chosen, int):
        data["nodes"] = specs[:chosen]
    else:
        data["nodes"] = [spec for spec in specs if spec["name"] in set(chosen)]
    faults = scenario.get("faults", [])
    kinds = None
    if any(entry.get("messages") for entry in faults):
        # The same view as at load time: a byzantine entry lies only in the planes that send a kind it names.
        from sim.effects import message_kinds
        from sim.protocols.registry import get_mechanism

        mechanism = get_mechanism(plane["mechanism"])
        kinds = message_kinds(mechanism.protocol, mechanism.client)
    data["faults"] = plane_faults(faults, {spec["name"] for spec in data["nodes"]}, plane["name"], kinds)
    return data


def plane_results(result: RunResult) -> dict[str, RunResult]:
    """Each plane's result from a loaded run with planes: its rows, its `<plane>.` summary keys."""
    out: dict[str, RunResult] = {}
    tables = result.tables
    for plane in result.scenario.get("planes", []):
        name = plane["name"]
        prefix = f"{name}."
        summary = {key: result.summary[key] for key in RUN_KEYS if key in result.summary}
        summary.update({key[len(prefix) :]: value for key, value in result.summary.items() if key.startswith(prefix)})
        mine = RunTables(
            decisions=split(tables.decisions, name),
            messages=split(tables.messages, name),
            events=split(tables.events, name),
            requests=split(tables.requests, name),
            trace=split(tables.trace, name) if tables.trace is not None else None,
            violations=split(tables.violations, name),
        )
        out[name] = RunResult(plane_scenario(result.scenario, plane), summary, mine)
    return out

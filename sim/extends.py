"""Scenario reuse: `extends: base.yaml` reads another scenario file first and lays this one over it."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from sim.errors import ScenarioError
from sim.scenario import read_yaml


def deep_merge(base: Any, child: Any) -> Any:
    """`child` over `base`: mappings merge key by key, anything else (lists included) is replaced."""
    if isinstance(base, dict) and isinstance(child, dict):
        merged = dict(base)
        for key, value in child.items():
            merged[key] = deep_merge(base[key], value) if key in base else value
        return merged
    return copy.deepcopy(child)


Origins = dict[tuple[str, ...], str]
"""Where the parts of a scenario that a base file supplied were written: field path -> file (the top file wrote the rest)."""


def anchor_paths(data: dict[str, Any], folder: Path) -> None:
    """Make the relative file paths a scenario file names absolute, from `folder` (the file's own), in place.

    A base file is written from its own folder: its `mechanism: file.py:Class` and its topology's
    edge-list `path` (its planes' too) must not move to the folder of the file that extends it.
    Absolute paths are what loading makes of them anyway (the resolved scenario keeps them).
    """
    from sim.protocols.registry import absolute_reference  # late: the registry imports the mechanism API
    from sim.scenario_parts import anchored_path

    planes = data.get("planes")
    sections = [data, *(plane for plane in planes if isinstance(plane, dict))] if isinstance(planes, list) else [data]
    for section in sections:
        mechanism = section.get("mechanism")
        if isinstance(mechanism, str):
            section["mechanism"] = absolute_reference(mechanism, folder)
        protocol = section.get("protocol")
        topology = protocol.get("topology") if isinstance(protocol, dict) else None
        if isinstance(topology, dict) and topology.get("kind") == "file" and isinstance(topology.get("path"), str):
            topology["path"] = anchored_path(topology["path"], folder)


def read_scenario_yaml(path: str | Path) -> Any:
    """Read a scenario file with its `extends:` resolved (a path relative to the file, merged under it).

    The base's own relative file paths are made absolute from the base's folder (`anchor_paths`);
    this file's stay as written, for validation to find from this file's folder.

    Raises:
        ScenarioError: unreadable or malformed files, a bad `extends` value, or a cycle of them.

    """
    return read_with_origins(path)[0]


def read_with_origins(path: str | Path, _chain: tuple[Path, ...] = ()) -> tuple[Any, Origins]:
    """`read_scenario_yaml`, and the file each part taken from a base was written in (see `attribute`)."""
    data = read_yaml(path)
    if not isinstance(data, dict) or "extends" not in data:
        return data, {}
    source = str(path)
    parent = data.pop("extends")
    if not isinstance(parent, str) or not parent:
        raise ScenarioError(source, "extends", f"expected the path of a scenario file, got {parent!r}")
    here = Path(path).resolve()
    base_path = Path(path).parent / parent
    if base_path.resolve() in (*_chain, here):
        cycle = " -> ".join(p.name for p in (*_chain, here, base_path.resolve()))
        raise ScenarioError(source, "extends", f"cycle of extends: {cycle}")
    if not base_path.is_file():
        raise ScenarioError(source, "extends", f"no file {str(base_path)!r}")
    base, base_origins = read_with_origins(base_path, (*_chain, here))
    if not isinstance(base, dict):
        raise ScenarioError(source, "extends", f"{parent!r} is not a YAML mapping")
    anchor_paths(base, base_path.parent)
    return deep_merge(base, data), _kept(base, data, base_origins, str(base_path))


def _kept(base: Any, child: Any, base_origins: Origins, base_file: str, path: tuple[str, ...] = ()) -> Origins:
    """The origins of what `deep_merge(base, child)` keeps of `base`: the child replaced everything else."""
    if not (isinstance(base, dict) and isinstance(child, dict)):
        return {}
    kept: Origins = {}
    for key, value in base.items():
        where = (*path, str(key))
        if key in child:
            kept.update(_kept(value, child[key], base_origins, base_file, where))
        else:
            kept[where] = base_origins.get(where, base_file)
            # Deeper parts may come from the base's own base.
            kept.update({p: f for p, f in base_origins.items() if p[: len(where)] == where and p != where})
    return kept


def _field_path(field: str) -> tuple[str, ...]:
    """`protocol.election_timeout[0]` -> ('protocol', 'election_timeout', '0')."""
    return tuple(part for part in re.split(r"[.\[\]]+", field) if part)


def without(origins: Origins, field: str) -> Origins:
    """The origins with `field` and what lies under it marked as the top file's (a --set replaced them)."""
    cut = _field_path(field)
    kept = {p: f for p, f in origins.items() if p[: len(cut)] != cut}
    return {**kept, cut: ""} if origins else kept


def attribute(error: ScenarioError, origins: Origins) -> ScenarioError:
    """The error naming the file that wrote the field at fault, when a base file did (else unchanged).

    A scenario that extends a base is validated as one merged mapping, so a bad value written in
    the base would otherwise be reported under the extending file's name, where it is not.
    """
    if not origins:
        return error

    def moved(line_field: str) -> str | None:
        path = _field_path(line_field)
        for end in range(len(path), 0, -1):
            if path[:end] in origins:
                written = origins[path[:end]]
                return f"{written}, extended by {error.source}" if written else None
        return None

    source = moved(error.field) if error.field else None
    if source is None:
        return error
    out = ScenarioError(source, error.field, error.problem)
    head = f"{error.source}: "
    lines = []
    for line in error.problems:
        field = line[len(head) :].split(": ", 1)[0] if line.startswith(head) else ""
        other = moved(field) if field else None
        lines.append(f"{other}: {line[len(head) :]}" if other else line)
    out.problems = lines
    return out

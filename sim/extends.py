"""Scenario reuse: `extends: base.yaml` reads another scenario file first and lays this one over it."""

from __future__ import annotations

import copy
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


def read_scenario_yaml(path: str | Path, _chain: tuple[Path, ...] = ()) -> Any:
    """Read a scenario file with its `extends:` resolved (a path relative to the file, merged under it).

    Raises:
        ScenarioError: unreadable or malformed files, a bad `extends` value, or a cycle of them.

    """
    data = read_yaml(path)
    if not isinstance(data, dict) or "extends" not in data:
        return data
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
    base = read_scenario_yaml(base_path, (*_chain, here))
    if not isinstance(base, dict):
        raise ScenarioError(source, "extends", f"{parent!r} is not a YAML mapping")
    return deep_merge(base, data)

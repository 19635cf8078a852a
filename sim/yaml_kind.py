"""What a consim YAML file holds: a scenario, a sweep or a compare spec, told apart by its top-level keys.

A light module (PyYAML only): `consim validate` sorts its files with it before importing the
loader of each kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml

Kind = Literal["scenario", "sweep", "compare"]


def is_compare_data(data: Any) -> bool:
    """Whether read YAML is a compare spec: a top-level `scenario:` with `candidates:`, `requires:` or `planes:`."""
    return isinstance(data, dict) and "scenario" in data and ("candidates" in data or "requires" in data or "planes" in data)


def is_sweep_data(data: Any) -> bool:
    """Whether read YAML is a sweep: it has a top-level `grid:`."""
    return isinstance(data, dict) and "grid" in data


def read_or_none(path: str | Path) -> Any:
    """The YAML data of a file, or None when it cannot be read or parsed (its loader then says why)."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None


def data_kind(data: Any) -> Kind:
    """The kind of read YAML (a compare spec before a sweep); 'scenario' for anything else, None included."""
    if is_compare_data(data):
        return "compare"
    return "sweep" if is_sweep_data(data) else "scenario"

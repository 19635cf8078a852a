"""What a consim YAML file holds: a scenario, a sweep or a compare spec, told apart by its top-level keys.

A light module (PyYAML only): `consim validate` sorts its files with it before importing the
loader of each kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml

Kind = Literal["scenario", "sweep", "compare"]

FastSafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""PyYAML's safe loader with its C parser (libyaml) when PyYAML was built with it, else the pure-Python one.

Only the parser differs: the same constructor and resolver turn the same events into the same
data, read about seven times faster (3.1 ms against 0.4 ms for the quickstart scenario).
"""


def safe_load(text: str) -> Any:
    """`yaml.safe_load`, parsed by libyaml when available (see `FastSafeLoader`); its errors are PyYAML's own.

    libyaml words some problems differently ("did not find expected ',' or ']'"), so a text it
    refuses is read again by the pure-Python parser, whose verdict and message count.
    """
    try:
        return yaml.load(text, Loader=FastSafeLoader)
    except yaml.YAMLError:
        if FastSafeLoader is yaml.SafeLoader:
            raise
    return yaml.safe_load(text)


def is_compare_data(data: Any) -> bool:
    """Whether read YAML is a compare spec: a top-level `scenario:` with `candidates:`, `requires:` or `planes:`."""
    return isinstance(data, dict) and "scenario" in data and ("candidates" in data or "requires" in data or "planes" in data)


def is_sweep_data(data: Any) -> bool:
    """Whether read YAML is a sweep: it has a top-level `grid:`."""
    return isinstance(data, dict) and "grid" in data


def read_or_none(path: str | Path) -> Any:
    """The YAML data of a file, or None when it cannot be read or parsed (its loader then says why)."""
    try:
        return safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def data_kind(data: Any) -> Kind:
    """The kind of read YAML (a compare spec before a sweep); 'scenario' for anything else, None included."""
    if is_compare_data(data):
        return "compare"
    return "sweep" if is_sweep_data(data) else "scenario"

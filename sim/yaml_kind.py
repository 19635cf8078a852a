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


class DuplicateKeyError(yaml.YAMLError):
    """A mapping names one key twice: PyYAML would keep the last value and drop the first without a word."""

    def __init__(self, field: str, line: int, first_line: int) -> None:
        self.field, self.line, self.first_line = field, line, first_line
        """The dotted path of the key (`workload.rate`, `faults[1].at`), and the 1-based lines it is on."""
        super().__init__(f"{field}: duplicate key on line {line} (first on line {first_line})")


def _check_duplicate_keys(loader: Any, root: yaml.Node) -> None:
    """Raise `DuplicateKeyError` for the first mapping (in document order) that repeats a key.

    Keys compare as YAML reads them (`yes` and `true` are the same key). A node reached again through
    an alias is checked once: aliases may share a node many times over.
    """
    seen_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        children: list[tuple[yaml.Node, str]] = []
        if isinstance(node, yaml.MappingNode):
            lines: dict[Any, int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                    children.append((value_node, path))  # `<<: *base` merges keys that the file may override
                    continue
                field = f"{path}.{key_node.value}" if path else str(key_node.value)
                key = loader.construct_object(key_node)
                line = key_node.start_mark.line + 1
                if key in lines:
                    raise DuplicateKeyError(field, line, lines[key])
                lines[key] = line
                children.append((value_node, field))
        elif isinstance(node, yaml.SequenceNode):
            children = [(item, f"{path}[{i}]") for i, item in enumerate(node.value)]
        stack.extend(reversed(children))  # depth first, in document order: the first duplicate is reported


class _RefusesDuplicateKeys:
    """Loader mixin: duplicate keys are checked on the node tree, before any data is built from it."""

    def get_single_node(self) -> Any:
        """The document's node tree, once no mapping in it repeats a key (see `_check_duplicate_keys`)."""
        node = super().get_single_node()  # type: ignore[misc]
        if node is not None:
            _check_duplicate_keys(self, node)
        return node


class _CheckedFastLoader(_RefusesDuplicateKeys, FastSafeLoader):  # type: ignore[misc]
    """`FastSafeLoader` refusing duplicate keys."""


class _CheckedSafeLoader(_RefusesDuplicateKeys, yaml.SafeLoader):
    """PyYAML's pure-Python safe loader refusing duplicate keys (its error messages are the reference)."""


def safe_load(text: str) -> Any:
    """`yaml.safe_load`, parsed by libyaml when available (see `FastSafeLoader`); its errors are PyYAML's own.

    libyaml words some problems differently ("did not find expected ',' or ']'"), so a text it
    refuses is read again by the pure-Python parser, whose verdict and message count.

    Raises:
        DuplicateKeyError: a mapping repeats a key (YAML itself would silently keep the last).
        yaml.YAMLError: the text is not well-formed YAML.

    """
    try:
        return yaml.load(text, Loader=_CheckedFastLoader)
    except DuplicateKeyError:
        raise
    except yaml.YAMLError:
        if FastSafeLoader is yaml.SafeLoader:
            raise
    return yaml.load(text, Loader=_CheckedSafeLoader)


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

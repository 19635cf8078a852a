"""The mechanism registry: one frozen `Mechanism` record per mechanism, found once per process.

A mechanism *declares* itself on its Protocol class (the `Config`, the class attributes and the
class hooks of `sim.protocols.base.Protocol`); `mechanism_of` reads those declarations once into a
`Mechanism` record, and the framework (kernel, validation, metrics, checkers, plots, compare,
explore, sweep, `consim list`) reads the record only.

Where mechanisms come from:
- `sim/protocols/<name>/`: the shipped ones, registered with `@register("<name>")`;
- the entry-point group `consim.mechanisms` of installed distributions (`name = "pkg.mod:Class"`);
- a scenario's `mechanism: pkg.module:Class` (a module on `sys.path`) or
  `mechanism: path/to/file.py:Class` (a file, relative to the folder of the scenario file it is
  written in: with `extends:`, a base's reference is the base's, see `sim.extends.anchor_paths`).
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import pkgutil
import sys
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sim.protocols.base import Protocol, ProtocolConfig

if TYPE_CHECKING:
    from sim.workload import Client

ENTRY_POINT_GROUP = "consim.mechanisms"
"""Installed distributions register mechanisms under this entry-point group (`name = "module:Class"`)."""


class MechanismError(ValueError):
    """A mechanism cannot be found or loaded; the message is one line, for the `mechanism` field."""


@dataclass(frozen=True, eq=False)
class Mechanism:
    """Everything the framework needs to know about one mechanism, read once from its Protocol class.

    The callables are the class's hooks (see `sim.protocols.base.Protocol` for each one's contract).
    """

    name: str
    protocol: type[Protocol]
    """The replica: the per-node state machine the kernel instantiates on every node."""
    config: type[ProtocolConfig]
    """The `protocol:` settings."""
    client: type[Client]
    """The client that talks to this mechanism (a workload may bring its own)."""
    workloads: Mapping[str, type]
    """Workload kinds of this mechanism's own, beyond the shared ones."""
    summarise: Callable[..., dict[str, Any]]
    """(tables, scenario) -> the mechanism's own summary keys."""
    ready_event: str | None
    ready_at: Callable[..., float | None]
    byzantine_behaviours: tuple[str, ...]
    mutate: Callable[..., Any]
    """The byzantine hook: (behaviour, msg, dst, rng, ctx, **params) -> the lie, or None."""
    tolerates: str
    fault_bound: Callable[..., tuple[str, int] | tuple[str, int, tuple[str, ...]]]
    progress_after_heal: Callable[..., bool | None]
    """(tables, summary, scenario, healed) -> did it make progress after the last heal (None: judge by client commands)."""
    recovery_time: Callable[..., float]
    """(scenario, config) -> ms a correct run may wait after the last heal before progress resumes."""
    authenticated: bool
    validate: Callable[..., list[tuple[str, str]]]
    weighs_nodes: bool
    """Whether it can weigh its nodes at all (a weight other than 1 is refused where not)."""
    warnings: Callable[..., list[str]]
    timing: Callable[..., list[tuple[str, str]]]
    expected_latency: Callable[..., float | None]
    prepare: Callable[..., Any]
    description: str
    """The first line of the Protocol class's docstring (for `consim list`)."""
    origin: str
    """Where it came from: its module, an entry point, or a file."""

    @cached_property
    def checkers(self) -> tuple[Callable[..., Any], ...]:
        """Safety checkers: (tables, scenario) -> violation rows.

        Read on first use, not with the record: checker modules import pandas, which `consim
        validate` should not pay for.
        """
        return tuple(self.protocol.checkers())

    @cached_property
    def figures(self) -> Mapping[str, Callable[..., Any] | None]:
        """The mechanism's own figures (stem -> function(RunResult) -> Figure, or None to drop a shared one).

        Read on first use, not with the record: figure modules import matplotlib, which commands
        that draw nothing (validate, list) should not pay for.
        """
        return MappingProxyType(dict(self.protocol.figures()))


@functools.cache
def mechanism_of(protocol: type[Protocol], name: str | None = None) -> Mechanism:
    """The record of a Protocol class (built once per class: tests run broken variants through it)."""
    doc = (protocol.__doc__ or "").strip()
    return Mechanism(
        name=name or protocol.name or protocol.__name__,
        protocol=protocol,
        config=protocol.Config,
        client=protocol.client_class(),
        workloads=MappingProxyType(dict(protocol.workloads())),
        summarise=protocol.summarise,
        ready_event=protocol.ready_event,
        ready_at=protocol.ready_at,
        byzantine_behaviours=tuple(protocol.byzantine_behaviours),
        mutate=protocol.mutate,
        tolerates=protocol.tolerates,
        fault_bound=protocol.fault_bound,
        progress_after_heal=protocol.progress_after_heal,
        recovery_time=protocol.recovery_time,
        authenticated=protocol.authenticated,
        validate=protocol.validate,
        weighs_nodes=protocol.weighs_nodes,
        warnings=protocol.warnings,
        timing=protocol.timing,
        expected_latency=protocol.expected_latency,
        prepare=protocol.prepare,
        description=doc.splitlines()[0] if doc else "",
        origin=protocol.__module__,
    )


def as_mechanism(value: Mechanism | type[Protocol]) -> Mechanism:
    """A record as it is, or the record of a Protocol class (tests put classes in the table)."""
    return value if isinstance(value, Mechanism) else mechanism_of(value)


INFRASTRUCTURE = frozenset({"base", "dispatch", "message", "quorum", "registry"})
"""The modules of sim/protocols/ that are the mechanism API and its machinery, not mechanisms."""


# Discovery is a cached function rather than a module-level dict filled on import: the answer
# depends only on the code installed, so it is computed once per process (forked sweep and explore
# workers inherit it), callers cannot change it (the mapping is read-only), and a test can swap the
# whole table with monkeypatch (`sim.protocols.base._discover`) without anything to reset after.
@functools.cache
def discover() -> Mapping[str, Mechanism | MechanismError]:
    """Every mechanism by name: sim/protocols/<name>/ first, then the `consim.mechanisms` entry points.

    An entry point that fails to load is kept as its error, so that one broken installed package
    neither hides the others nor fails a scenario that does not use it.
    """
    import sim.protocols as package

    found: dict[str, Mechanism | MechanismError] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name in INFRASTRUCTURE or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"sim.protocols.{info.name}")
        for value in list(vars(module).values()):  # building a record may import submodules into it
            if isinstance(value, type) and issubclass(value, Protocol) and value.name and value.__module__ == module.__name__:
                found[value.name] = mechanism_of(value)
    for entry in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if entry.name in found:
            continue  # a shipped name wins: an installed package cannot replace `raft`
        where = f"entry point {entry.name} = {entry.value}"
        try:
            found[entry.name] = _record(_load_reference(entry.value), entry.value, entry.name)
        except MechanismError as err:
            found[entry.name] = MechanismError(f"{where}: {err}")
    return MappingProxyType(dict(sorted(found.items())))


def _table() -> Mapping[str, Any]:
    from sim.protocols import base  # through the module attribute, so tests can swap the table

    return base._discover()


def _default_table() -> bool:
    """Whether the table is the registry's own (a test that swapped `base._discover` must be obeyed)."""
    from sim.protocols import base

    return getattr(base._discover, "__module__", "") == "sim.protocols.base"


@functools.cache
def _named_package(name: str) -> Mechanism | None:
    """The mechanism `name` if sim/protocols/<name>/ registers it (the usual layout), else None."""
    if not name.isidentifier() or name in INFRASTRUCTURE or name.startswith("_"):
        return None
    try:
        module = importlib.import_module(f"sim.protocols.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"sim.protocols.{name}":
            raise  # the package exists but something it imports does not
        return None
    for value in list(vars(module).values()):
        if isinstance(value, type) and issubclass(value, Protocol) and value.name == name and value.__module__ == module.__name__:
            return mechanism_of(value)
    return None


def mechanisms() -> dict[str, Mechanism]:
    """Every mechanism that loads, by name (shipped and installed; no scenario-named files)."""
    return {name: as_mechanism(value) for name, value in sorted(_table().items()) if not isinstance(value, MechanismError)}


def broken_mechanisms() -> dict[str, str]:
    """Installed mechanisms that failed to load: name -> the problem (for `consim list`)."""
    return {name: str(value) for name, value in sorted(_table().items()) if isinstance(value, MechanismError)}


def is_reference(name: str) -> bool:
    """Whether a `mechanism:` value names code outside the registry (`module:Class` or `file.py:Class`)."""
    return ":" in name


def get_mechanism(name: str, folder: Path | None = None) -> Mechanism:
    """The record of a registered mechanism name or of a `module:Class` / `file.py:Class` reference.

    Args:
        name: a registered name, `pkg.module:Class`, or `path/to/file.py:Class`.
        folder: where a relative file path starts (the scenario's folder); default the working folder.

    Raises:
        MechanismError: unknown name, or the reference does not load (one line saying why).

    """
    if not is_reference(name):
        # A shipped mechanism lives in the package of its name: importing only that one keeps
        # `consim validate` and `consim run` from importing every other mechanism (and pandas).
        named = _named_package(name) if _default_table() else None
        if named is not None:
            return named
        table = _table()
        if name not in table:
            known = ", ".join(name for name, value in table.items() if not isinstance(value, MechanismError))
            raise MechanismError(f"unknown mechanism {name!r} (known: {known})")
        value = table[name]
        if isinstance(value, MechanismError):
            raise value
        return as_mechanism(value)
    module_part, _, attr = name.rpartition(":")
    if not module_part or not attr:
        raise MechanismError(f"{name!r} is not a reference: write module:Class or path/to/file.py:Class")
    return _load(absolute_reference(name, folder))


def absolute_reference(name: str, folder: Path | None) -> str:
    """A reference with a relative file path made absolute (from `folder`, else the working folder); others as written."""
    module_part, _, attr = name.rpartition(":")
    if not is_reference(name) or not _is_file(module_part):
        return name
    path = Path(module_part).expanduser()
    if not path.is_absolute():
        path = (folder or Path.cwd()) / path
    return f"{path.resolve().as_posix()}:{attr}"


def _is_file(module_part: str) -> bool:
    return module_part.endswith(".py") or "/" in module_part or "\\" in module_part


@functools.cache
def _load(reference: str) -> Mechanism:
    """Import a reference once per process (an absolute file path or a module name, then `:Class`)."""
    return _record(_load_reference(reference), reference, None)


def _load_reference(reference: str) -> Any:
    module_part, colon, attr = reference.rpartition(":")
    if not colon or not module_part or not attr:
        raise MechanismError(f"{reference!r} is not a reference: write module:Class or path/to/file.py:Class")
    if _is_file(module_part):
        module = _import_file(Path(module_part))
    else:
        module = _import_module(module_part)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise MechanismError(f"{module_part} has no attribute {attr!r}") from None


def _record(value: Any, reference: str, name: str | None) -> Mechanism:
    if not (isinstance(value, type) and issubclass(value, Protocol)):
        raise MechanismError(f"{reference} is not a Protocol subclass (sim.protocols.base.Protocol): got {_kind(value)}")
    if value is Protocol:
        raise MechanismError(f"{reference} is the Protocol base class itself, not a mechanism")
    try:
        record = mechanism_of(value, name)
    except Exception as exc:  # a hook of outside code failing is bad input, said in one line
        raise MechanismError(f"reading the hooks of {reference} failed: {_one_line(exc)}") from None
    module_part = reference.rpartition(":")[0]
    return replace(record, origin=module_part) if _is_file(module_part) else record


def _kind(value: Any) -> str:
    return f"the class {value.__name__}" if isinstance(value, type) else f"a {type(value).__name__}"


def _import_module(module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(f"{exc.name}.")):
            raise MechanismError(f"no module named {module_name!r} on the Python path") from None
        raise MechanismError(f"importing {module_name} failed: {_one_line(exc)}") from None
    except Exception as exc:  # the user's module raised while importing: say what and where
        raise MechanismError(f"importing {module_name} failed: {_one_line(exc)}") from None


def _import_file(path: Path) -> Any:
    """Import a .py file under a private module name derived from its path (once per process)."""
    path = path.resolve()
    if not path.is_file():
        raise MechanismError(f"no file {path.as_posix()}")
    # A name unique to the path: two scenarios' my_proto.py files must not shadow each other.
    module_name = f"consim_mechanism_{path.stem}_{zlib.crc32(path.as_posix().encode()):08x}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise MechanismError(f"cannot import {path.as_posix()} (not a Python file)")
    module = importlib.util.module_from_spec(spec)
    # In sys.modules before running it: dataclasses and pickling (sweep workers) look classes up there.
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise MechanismError(f"importing {path.as_posix()} failed: {_one_line(exc)}") from None
    return module


def _one_line(exc: BaseException) -> str:
    """An exception as one line, with the file and line it was raised at when that is user code."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    where = ""
    tb = exc.__traceback__
    while tb is not None:
        frame_file = tb.tb_frame.f_code.co_filename
        if "importlib" not in frame_file and not frame_file.startswith("<frozen"):
            where = f" ({Path(frame_file).name}, line {tb.tb_lineno})"
        tb = tb.tb_next
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f" ({Path(exc.filename).name}, line {exc.lineno})"
        text = exc.msg
    return f"{type(exc).__name__}: {text}{where}"

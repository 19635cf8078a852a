"""What consim offers, for `consim list`: mechanisms, distributions, faults, workloads, scenarios."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sim.byzantine import BEHAVIOURS, describe
from sim.errors import ScenarioError
from sim.faults import FAULT_KINDS
from sim.protocols.registry import Mechanism, MechanismError, broken_mechanisms, get_mechanism, mechanisms
from sim.scenario import (
    ConstantDelay,
    ExponentialDelay,
    LognormalDelay,
    NormalDelay,
    ParetoDelay,
    UniformDelay,
)
from sim.workload import workload_kinds

DELAY_MODELS = (ConstantDelay, UniformDelay, NormalDelay, LognormalDelay, ExponentialDelay, ParetoDelay)
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def first_line(obj: Any) -> str:
    """The first line of an object's docstring (empty when it has none)."""
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


def scenarios_folder(folder: Path | None = None) -> Path:
    """The folder of shipped scenarios: the given one, ./scenarios, or the source tree's.

    Raises:
        ScenarioError: the given folder (`--scenarios`) is missing or a file; listing it would say
            "(none)" and exit 0, hiding the typo.

    """
    if folder is not None:
        if not folder.is_dir():
            problem = f"{folder} is a file, not a folder" if folder.exists() else f"no folder {folder}"
            raise ScenarioError("--scenarios", "", problem)
        return folder
    here = Path("scenarios")
    return here if here.is_dir() else PACKAGE_ROOT / "scenarios"


def shipped_scenarios(folder: Path | None = None) -> list[tuple[str, str]]:
    """(path, description) of each scenario file; sweep files under sweeps/ are left out."""
    root = scenarios_folder(folder)
    found: list[tuple[str, str]] = []
    for path in sorted(root.rglob("*.yaml")):
        if "sweeps" in path.relative_to(root).parts:
            continue
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            data = None
        description = data.get("description", "") if isinstance(data, dict) else "(not a scenario mapping)"
        found.append((str(path), " ".join(str(description).split())))
    return found


def catalog(folder: Path | None = None, extra: dict[str, Mechanism] | None = None) -> dict[str, list[tuple[str, str]]]:
    """Every section of `consim list` as (name, one-line description) pairs.

    Args:
        folder: the folder of scenarios to list (default: see `scenarios_folder`).
        extra: mechanisms named by reference (`file.py:Class`) to list beside the registered ones.

    """
    mechs = {**mechanisms(), **(extra or {})}
    workloads: dict[str, str] = {kind: first_line(cls) for kind, cls in workload_kinds().items()}
    for mech_name, mech in mechs.items():
        for kind, wl_cls in mech.workloads.items():
            workloads.setdefault(kind, f"{first_line(wl_cls)} ({mech_name} only)")
    rows = _mechanism_rows(mechs)
    rows += [(name, f"(does not load: {problem})") for name, problem in broken_mechanisms().items()]
    return {
        "mechanisms": rows,
        "delay distributions": [(_dist_name(model), first_line(model)) for model in DELAY_MODELS],
        "fault kinds": list(FAULT_KINDS.items()),
        "byzantine behaviours": [(name, describe(name)) for name in BEHAVIOURS],
        "workload kinds": sorted(workloads.items()),
        "scenarios": shipped_scenarios(folder),
    }


def referenced(references: list[str]) -> dict[str, Mechanism]:
    """The records of mechanisms named by reference (`module:Class`, or `file.py:Class` from the working folder).

    Raises:
        ScenarioError: a reference does not load (one line naming it and the problem).

    """
    found: dict[str, Mechanism] = {}
    for reference in references:
        try:
            found[reference] = get_mechanism(reference)
        except MechanismError as err:
            raise ScenarioError("--mechanism", reference, str(err)) from None
    return found


def _mechanism_rows(mechs: dict[str, Mechanism]) -> list[tuple[str, str]]:
    """(name, "tolerates  description") with the fault-model column padded to one width."""
    width = max((len(m.tolerates) for m in mechs.values()), default=0)
    return [(name, f"{m.tolerates:<{width}}  {m.description}" if width else m.description) for name, m in mechs.items()]


def _dist_name(model: Any) -> str:
    # The `dist` field is a one-value Literal: its value is the distribution's name.
    return str(model.model_fields["dist"].annotation.__args__[0])


def render_catalog(sections: dict[str, list[tuple[str, str]]]) -> str:
    """Sections as aligned text."""
    lines: list[str] = []
    for title, items in sections.items():
        lines.append(f"{title}:")
        if not items:
            lines.append("  (none)")
        width = max((len(name) for name, _ in items), default=0)
        for name, text in items:
            lines.append(f"  {name:<{width}}  {text}".rstrip())
        lines.append("")
    return "\n".join(lines).rstrip()

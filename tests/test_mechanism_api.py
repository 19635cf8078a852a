"""The mechanism API is versioned and documented: every name the README's API section lists exists, and vice versa."""

from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path

import pytest

import sim.protocols.base as base
import sim.protocols.registry as registry
import sim.testing as testing
from sim.kernel import Simulation
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README.split("## The mechanism API\n", 1)[1].split("\n## ", 1)[0]

CONTEXT = (
    "name", "nodes", "peers", "weights", "now", "rng", "send", "broadcast", "multicast", "set_timer", "cancel_timer", "decide", "storage",
    "persist", "record", "count", "shared",
)  # fmt: skip
HANDLERS = ("on_start", "on_message", "on_timer", "on_request", "on_stop", "is_leader", "epoch")
DECLARATIONS = (
    "Config", "tolerates", "authenticated", "byzantine_behaviours", "ready_event", "client_class", "workloads", "checkers",
    "summarise", "figures", "mutate", "fault_bound", "ready_at", "validate", "weighs_nodes", "warnings", "timing", "expected_latency",
    "prepare",
)  # fmt: skip
BASE_NAMES = ("Message", "ClientRequest", "ClientReply", "NOOP", "ProtocolConfig", "register", "unused_settings", "API_VERSION")
REGISTRY_NAMES = ("Mechanism", "mechanisms", "get_mechanism", "mechanism_of", "ENTRY_POINT_GROUP")


def documented(name: str) -> bool:
    """Whether the API section names `name` in backticks (alone, or as a call)."""
    return re.search(rf"`(?:[\w.]+\.)?{re.escape(name)}(\(|`)", SECTION) is not None


def test_api_version_is_major_minor_and_documented() -> None:
    """API_VERSION is "major.minor", and the README says which it is."""
    assert re.fullmatch(r"\d+\.\d+", base.API_VERSION)
    assert f'`"{base.API_VERSION}"`' in SECTION


@pytest.mark.parametrize("name", BASE_NAMES)
def test_base_names_exist_and_are_documented(name: str) -> None:
    """Messages, settings and helpers of sim.protocols.base."""
    assert hasattr(base, name) and documented(name)


@pytest.mark.parametrize("name", CONTEXT)
def test_context_members_exist_on_every_context_and_are_documented(name: str) -> None:
    """The Context protocol, the real node and the hand-driven ManualContext all have each documented member."""
    assert documented(name)
    assert name in base.Context.__annotations__ or hasattr(base.Context, name)
    node = next(iter(Simulation(load_scenario(ROOT / "scenarios" / "quickstart.yaml")).nodes.values()))
    assert hasattr(node, name), f"the kernel's node lacks {name}"
    assert hasattr(testing.ManualContext("n0", ["n0", "n1"]), name), f"ManualContext lacks {name}"


@pytest.mark.parametrize("name", HANDLERS + DECLARATIONS)
def test_protocol_handlers_and_declarations_exist_and_are_documented(name: str) -> None:
    """Each handler and declaration is on the Protocol base class, with its documented default."""
    assert hasattr(base.Protocol, name) and documented(name)


def test_every_record_field_is_documented_and_nothing_else() -> None:
    """The Mechanism record's fields are exactly the ones the README lists (adding one means documenting it)."""
    lazy = {name for name, value in vars(registry.Mechanism).items() if isinstance(value, functools.cached_property)}
    assert lazy == {"checkers", "figures"}  # read on first use: their modules import pandas or matplotlib
    fields = {f.name for f in dataclasses.fields(registry.Mechanism)} | lazy
    listed = re.search(r"\(fields (.*?)\)\. ", SECTION, flags=re.S)
    assert listed is not None
    names = set(re.findall(r"`(\w+)`", listed.group(1)))
    assert names == fields


@pytest.mark.parametrize("name", REGISTRY_NAMES)
def test_registry_names_exist_and_are_documented(name: str) -> None:
    """The registry's public functions."""
    assert hasattr(registry, name) and documented(name)


def test_every_declaration_reaches_the_record() -> None:
    """A declaration on a Protocol subclass is what its record holds (the record is built from them)."""

    class Probe(base.Protocol):
        """A probe."""

        tolerates = "crash f<n/2"
        authenticated = True
        byzantine_behaviours = ("silent",)
        ready_event = "leader"

    record = registry.mechanism_of(Probe)
    declared = (record.tolerates, record.authenticated, record.byzantine_behaviours, record.ready_event)
    assert declared == ("crash f<n/2", True, ("silent",), "leader")
    assert record.config is base.ProtocolConfig and record.description == "A probe." and record.name == "Probe"

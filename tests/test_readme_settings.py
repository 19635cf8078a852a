"""The README's `protocol:` settings tables give each setting's default as the code declares it.

A table that showed `50ms` where the code's default is `max(50ms, 1rtt)` told a user on a slow
network the wrong timeout; this test reads every mechanism's table and compares.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from sim.byzantine import BEHAVIOURS
from sim.protocols.registry import get_mechanism

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
TABLE = re.compile(r"\| `protocol:` setting \| default \| meaning \|\n\|[-| ]+\|\n((?:\|.*\|\n)+)")
SECTIONS = re.findall(r"^`mechanism: (\w+)`", README, re.M)


def rows(mechanism: str) -> list[tuple[list[str], str]]:
    """(setting names, default cell) of each row of the mechanism's settings table."""
    start = README.index(f"`mechanism: {mechanism}`")
    found = TABLE.search(README, start)
    assert found is not None, f"no settings table after `mechanism: {mechanism}`"
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in found.group(1).splitlines()]
    return [(re.findall(r"`(\w+)`", c[0]), c[1]) for c in cells]


def declared(config: type[BaseModel], name: str) -> Any:
    """The default as the code writes it (before validation turns `max(50ms, 1rtt)` into a number)."""
    field = config.model_fields[name]
    return field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]


def test_every_mechanism_has_a_section_with_a_table() -> None:
    """The sections this test reads exist (a renamed heading would make it read nothing)."""
    assert {"raft", "multipaxos", "pbft", "gossip", "voting", "attestation", "hotstuff", "tendermint"} <= set(SECTIONS)


@pytest.mark.parametrize("mechanism", SECTIONS)
def test_readme_defaults_are_the_codes(mechanism: str) -> None:
    """Each literal default in the table is the declared one: text as written, numbers and flags by value."""
    config = get_mechanism(mechanism).config
    wrong = []
    for names, cell in rows(mechanism):
        for name in names:
            assert name in config.model_fields, f"{mechanism}: the README lists {name!r}, which is not a setting"
            literal = re.fullmatch(r"`([^`]*)`", cell)
            code = declared(config, name)
            if code is None or literal is None:
                continue  # worked out from other settings or the scenario: the cell says how, in words
            text = literal.group(1)
            if isinstance(code, str):
                same = text == code
            elif isinstance(code, tuple | list) and all(isinstance(v, str) for v in code):
                same = text == f"[{', '.join(code)}]"
            else:  # numbers, flags, durations given as numbers: compare what each validates to
                same = getattr(config.model_validate({name: yaml.safe_load(text)}), name) == getattr(config.model_validate({}), name)
            if not same:
                wrong.append(f"{name}: README `{text}`, code {code!r}")
    assert not wrong, f"{mechanism}: " + "; ".join(wrong)


def checkers_bullet(mechanism: str) -> str:
    """The `- Checkers:` bullet of the mechanism's section (up to the next bullet)."""
    start = README.index(f"`mechanism: {mechanism}`")
    found = re.compile(r"^- Checkers?: (.*?)(?=^- |^\s*$)", re.M | re.S).search(README, start)
    assert found is not None, f"no '- Checkers:' bullet after `mechanism: {mechanism}`"
    return found.group(1)


@pytest.mark.parametrize("mechanism", SECTIONS)
def test_each_mechanisms_checkers_are_all_listed(mechanism: str) -> None:
    """Every checker the mechanism runs is named in its Checkers bullet, by its rule or its function's name.

    The Raft section listed six checkers while runs reported eight (`exactly_once`, `gapless`).
    """
    named = set(re.findall(r"`(\w+)`", checkers_bullet(mechanism)))
    for checker in get_mechanism(mechanism).checkers:
        short = checker.__name__.removeprefix("check_")
        accepted = {short, short.removeprefix(f"{mechanism}_")}
        assert named & accepted, f"README's {mechanism} section does not list the checker {checker.__name__}"


GENERIC_BEHAVIOURS = {"silent", "omit", "delay", "replay", "forge"}
"""What "the generic ones" stands for in the README (sim/byzantine.py's behaviours that need no help from the mechanism)."""
NUMBER_WORDS = {"five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}


@pytest.mark.parametrize("mechanism", SECTIONS)
def test_each_mechanisms_byzantine_behaviours_are_the_ones_it_takes(mechanism: str) -> None:
    """The Byzantine behaviours bullet names exactly what the mechanism accepts ("the generic ones" standing for five).

    PBFT's section said "all eight" and left out `censor`, which it takes.
    """
    start = README.index(f"`mechanism: {mechanism}`")
    found = re.compile(r"^- Byzantine behaviours(.*?)(?=^- |^\s*$)", re.M | re.S).search(README, start)
    assert found is not None
    bullet = found.group(1)
    takes = set(get_mechanism(mechanism).protocol.byzantine_behaviours)
    named = {word for word in re.findall(r"`(\w+)`", bullet) if word in BEHAVIOURS}
    if "the generic ones" in bullet:
        named |= GENERIC_BEHAVIOURS
    assert named == takes, f"README's {mechanism} section: named {sorted(named)}, takes {sorted(takes)}"
    count = re.search(r"all (\w+):", bullet)
    if count:
        assert NUMBER_WORDS[count.group(1)] == len(takes)

"""The README's command-line synopsis names every command and exactly the options each one takes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main

from sim.cli import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
BLOCK = README[README.index("## The command line") :]
BLOCK = BLOCK[BLOCK.index("```sh") : BLOCK.index("```", BLOCK.index("```sh") + 5)]


def commands() -> dict[str, Any]:
    """Every leaf command by its words after `consim` (`new mechanism` for a subcommand)."""
    found: dict[str, Any] = {}
    for name, command in typer.main.get_command(app).commands.items():  # type: ignore[attr-defined]
        if hasattr(command, "commands"):  # a group (typer brings its own click, so no isinstance)
            found.update({f"{name} {sub}": leaf for sub, leaf in command.commands.items()})
        else:
            found[name] = command
    return found


def synopsis() -> dict[str, set[str]]:
    """The options each synopsis line shows, by command (the words before the first argument or option)."""
    lines: dict[str, set[str]] = {}
    for line in BLOCK.splitlines():
        usage = line.split("#", 1)[0]
        words = usage.split()
        if len(words) < 2 or words[0] != "consim" or words[1].startswith("-"):
            continue
        name = " ".join(w for w in words[1:3] if re.fullmatch(r"[a-z]+", w))
        lines[name] = set(re.findall(r"\[(-{1,2}[\w-]+)", usage))
    return lines


def test_every_command_has_a_synopsis_line() -> None:
    """A command missing from the block (explore was) fails here."""
    assert set(synopsis()) == set(commands())


@pytest.mark.parametrize("name", sorted(commands()))
def test_synopsis_shows_exactly_the_commands_options(name: str) -> None:
    """Each option once, by any of its names; none that the command lacks."""
    shown = synopsis().get(name, set())
    options = [p for p in commands()[name].params if p.param_type_name == "option" and p.name != "help"]
    for option in options:
        assert shown & set(option.opts), f"README synopsis of `consim {name}` lacks {option.opts[0]}"
    known = {opt for option in options for opt in option.opts}
    assert shown <= known, f"README synopsis of `consim {name}` shows {sorted(shown - known)}, which it does not take"

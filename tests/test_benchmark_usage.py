"""The benchmarks' usage lines (README table and each script's docstring) name real options with their real defaults."""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
USAGE = re.compile(r"python benchmarks/(\w+)\.py((?: \[[^\]]+\])+)")
"""`python benchmarks/NAME.py [--opt value] [--flag] ...`: a usage line with its bracketed options."""


class _Parsed(Exception):
    """Raised in place of parsing, carrying the parser `main()` built."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__("parser captured")
        self.parser = parser


def _parser(script: str, monkeypatch: pytest.MonkeyPatch) -> argparse.ArgumentParser:
    """The ArgumentParser a benchmark's `main()` builds, taken before it parses anything."""

    def capture(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        raise _Parsed(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"_bench_{script}", BENCHMARKS / f"{script}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(_Parsed) as caught:
        module.main()
    return caught.value.parser


def _usages() -> list[tuple[str, str, str]]:
    """Every usage line: (where it is written, script, its bracketed options)."""
    found = [("README.md", m[1], m[2]) for m in USAGE.finditer((ROOT / "README.md").read_text(encoding="utf-8"))]
    for path in sorted(BENCHMARKS.glob("*.py")):
        doc = (path.read_text(encoding="utf-8").split('"""') + ["", ""])[1]
        found += [(f"benchmarks/{path.name}", m[1], m[2]) for m in USAGE.finditer(doc)]
    return found


def _same(written: str, default: object) -> bool:
    """Whether a usage line's value is the option's default (80000 is 80_000; a path may be relative)."""
    if isinstance(default, bool) or default is None:
        return False
    if isinstance(default, int | float):
        try:
            return float(written.replace("_", "")) == float(default)
        except ValueError:
            return False
    return written == str(default)


USAGES = _usages()


def test_usage_lines_are_found() -> None:
    """The pattern finds the README's table rows and the scripts' docstrings (so the next test checks something)."""
    places = {where for where, _, _ in USAGES}
    assert "README.md" in places and len(places) >= 8
    assert {"throughput", "startup", "pythons", "pbft_scaling"} <= {script for _, script, _ in USAGES}


@pytest.mark.parametrize(("where", "script", "options"), USAGES, ids=[f"{w}:{s}" for w, s, _ in USAGES])
def test_usage_names_real_options_with_their_defaults(where: str, script: str, options: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`[--opt value]` names an option whose default is value, `[--flag]` a flag; an all-caps value is a placeholder."""
    actions = {flag: action for action in _parser(script, monkeypatch)._actions for flag in action.option_strings}
    for item in re.findall(r"\[([^\]]+)\]", options):
        words = item.split()
        if not words[0].startswith("--"):
            continue  # a positional such as [SCENARIO ...]
        assert words[0] in actions, f"{where}: {script}.py has no option {words[0]}"
        action = actions[words[0]]
        if len(words) == 1:
            assert action.nargs == 0, f"{where}: {script}.py {words[0]} takes a value, written as a flag"
            continue
        value = words[1]
        if value.isupper():
            continue
        if "|" in value:  # the choices, written a|b (escaped a\|b in a Markdown table)
            assert set(value.replace("\\|", "|").split("|")) == set(action.choices or ()), f"{where}: {script}.py {words[0]} choices"
            continue
        assert _same(value, action.default), f"{where}: {script}.py {words[0]} is written {value}, its default is {action.default!r}"


def test_a_stale_default_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check bites: a usage line with a default the script does not have fails."""
    with pytest.raises(AssertionError, match="its default is"):
        test_usage_names_real_options_with_their_defaults("made up", "pbft64", " [--requests 99]", monkeypatch)
    with pytest.raises(AssertionError, match="has no option"):
        test_usage_names_real_options_with_their_defaults("made up", "pbft64", " [--requestz 100]", monkeypatch)
    assert "_bench_pbft64" not in sys.modules

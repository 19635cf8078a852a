"""Regenerate the README's numbers: `make docs` (or `python benchmarks/docs.py`).

Every number the README quotes from a run sits between `<!-- generated: NAME -->` and
`<!-- /generated -->`; this script renders each region from fresh runs of the shipped
scenarios, sweeps and benchmarks (see `docs_regions.py`) and rewrites it in place.

    python benchmarks/docs.py                 # rewrite every region (tiers test, docs and bench)
    python benchmarks/docs.py --skip-bench    # leave the benchmark regions as they are
    python benchmarks/docs.py --check         # rewrite nothing; exit 1 if a deterministic region differs
    python benchmarks/docs.py --only quickstart-run,raft-scenarios
    python benchmarks/docs.py --tier test     # only what tests/test_readme.py checks (a minute)
    python benchmarks/docs.py --only benchmarks --quick   # print the region from small benchmark runs; README untouched

It lives in benchmarks/, not in sim/, because it is a tool of this repository (it edits
README.md and reads scenarios/ and benchmarks/), not part of the installed package; and beside
the benchmarks, whose numbers it quotes. `tests/test_readme.py` renders the cheap regions and
fails when the README differs.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from docs_regions import REGIONS, Region
from docs_session import ROOT, RegionError, Session

README = ROOT / "README.md"
MARKER = re.compile(r"<!-- generated: (?P<name>[a-z0-9-]+) -->\n(?P<body>.*?)\n?<!-- /generated -->", re.S)
FIX = "run `make docs` (or `python benchmarks/docs.py`) to regenerate it"


def regions_in(text: str) -> dict[str, str]:
    """The generated regions of a README: name -> the text between the markers.

    Raises:
        RegionError: when a region name appears twice.

    """
    found: dict[str, str] = {}
    for match in MARKER.finditer(text):
        name = match["name"]
        if name in found:
            raise RegionError(f"README.md: region {name!r} is marked twice")
        found[name] = match["body"]
    return found


def replace_regions(text: str, bodies: dict[str, str]) -> str:
    """The README with the named regions' bodies replaced (others untouched)."""

    def swap(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in bodies:
            return match[0]
        body = f"{bodies[name]}\n" if bodies[name] else ""
        return f"<!-- generated: {name} -->\n{body}<!-- /generated -->"

    return MARKER.sub(swap, text)


def render(regions: Iterable[Region], session: Session) -> tuple[dict[str, str], dict[str, str]]:
    """Render each region; returns (bodies, errors), both keyed by region name."""
    bodies: dict[str, str] = {}
    errors: dict[str, str] = {}
    for region in regions:
        try:
            bodies[region.name] = region.render(session)
        except RegionError as exc:
            errors[region.name] = str(exc)
    return bodies, errors


def diff(name: str, old: str, new: str) -> str:
    """A unified diff of one region, README against what the code produces."""
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), f"README.md [{name}]", f"what the code produces [{name}]", lineterm="")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or check) the README's generated regions; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if a deterministic region is out of date")
    parser.add_argument("--skip-bench", action="store_true", help="leave the benchmark regions as they are")
    parser.add_argument("--only", default="", help="comma-separated region names")
    parser.add_argument("--tier", default="", help="comma-separated tiers: test (checked by make test), docs (sweeps), bench")
    parser.add_argument("--quick", action="store_true", help="benchmarks with small arguments; print the regions, write nothing")
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)

    text = args.readme.read_text(encoding="utf-8")
    present = regions_in(text)
    known = {r.name for r in REGIONS}
    stray = sorted(set(present) - known)
    missing = sorted(known - set(present))
    for name in stray:
        print(f"{args.readme}: unknown region {name!r} (known: {', '.join(sorted(known))})", file=sys.stderr)
    for name in missing:
        print(f"{args.readme}: region {name!r} has no <!-- generated: {name} --> marker", file=sys.stderr)
    chosen = [r for r in REGIONS if r.name in present]
    if args.only:
        wanted = set(args.only.split(","))
        chosen = [r for r in chosen if r.name in wanted]
    if args.tier:
        tiers = set(args.tier.split(","))
        chosen = [r for r in chosen if r.tier in tiers]
    if args.check or args.skip_bench:
        chosen = [r for r in chosen if r.tier != "bench"]

    session = Session(quick=args.quick)
    try:
        bodies, errors = render(chosen, session)
    finally:
        session.close()
    for name, error in errors.items():
        print(f"region {name}: {error}", file=sys.stderr)
    changed = [name for name, body in bodies.items() if body != present[name]]
    if args.quick:
        for name, body in bodies.items():
            print(f"<!-- generated: {name} (--quick: small runs, not for the README) -->\n{body}\n<!-- /generated -->")
    elif args.check:
        for name in changed:
            print(diff(name, present[name], bodies[name]))
        if changed:
            print(f"out of date: {', '.join(changed)}; {FIX}", file=sys.stderr)
    else:
        args.readme.write_text(replace_regions(text, bodies), encoding="utf-8")
        print(f"{args.readme}: {len(bodies)} regions rendered, {len(changed)} changed ({', '.join(changed) or 'none'})")
        if args.readme == README:
            # What the slow regions were made from, for the tests to compare with (docs_inputs.py).
            import docs_inputs

            found = docs_inputs.for_regions({name for name in bodies if name not in errors})
            if found:
                docs_inputs.write(found)
                print(f"{docs_inputs.RECORD.relative_to(ROOT)}: {len(found)} fingerprints recorded")
    return 1 if errors or stray or missing or (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())

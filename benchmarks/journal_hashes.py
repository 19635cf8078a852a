"""The journal hash of every shipped scenario: record them, or check them against the record.

Pure speed work must leave every shipped scenario's journal byte for byte as it was. Run
`python benchmarks/journal_hashes.py --write` on the code before a change to record the hashes
in `tests/journal_hashes.json`, and `python benchmarks/journal_hashes.py` after it to compare
(`tests/test_scenarios.py` compares them too). A change meant to alter behaviour rewrites the
record and says why in its commit.

    python benchmarks/journal_hashes.py [--write] [SCENARIO ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RECORD = ROOT / "tests" / "journal_hashes.json"
FOLDER = ROOT / "scenarios"


NOT_SCENARIOS = frozenset({"sweeps", "tutorial", "compare"})
"""Folders of scenarios/ that hold other files: sweep specs, the README tutorial's scenarios (their
mechanism's code lives in the README; tests/test_tutorial.py runs them) and compare specs
(tests/test_compare_planes.py runs them)."""


def shipped() -> list[Path]:
    """Every shipped scenario file, sorted (tests/test_scenarios.py runs this same list)."""
    return sorted(p for p in FOLDER.rglob("*.yaml") if not NOT_SCENARIOS & set(p.relative_to(FOLDER).parts))


def key(path: Path) -> str:
    """The record's key for a scenario: its path under scenarios/."""
    return path.relative_to(FOLDER).as_posix()


def journal_hash(path: Path) -> str:
    """The journal hash of one run of the scenario as shipped."""
    from sim import load_scenario, run

    return str(run(load_scenario(path)).summary["journal_sha256"])


def main() -> None:
    """Record or compare the hashes; exit 1 when one differs from the record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write the hashes to {RECORD.relative_to(ROOT)}")
    parser.add_argument("scenarios", nargs="*", type=Path, help="only these (default: every shipped scenario)")
    args = parser.parse_args()
    paths = [p.resolve() for p in args.scenarios] or shipped()
    record = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    changed = []
    for path in paths:
        digest = journal_hash(path)
        was = record.get(key(path))
        status = "recorded" if args.write else ("same" if digest == was else "CHANGED")
        if not args.write and digest != was:
            changed.append(key(path))
        print(f"{status:8}  {key(path)}  {digest[:16]}", flush=True)
        if args.write:
            record[key(path)] = digest
    if args.write:
        RECORD.write_text(json.dumps(dict(sorted(record.items())), indent=1) + "\n")
    if changed:
        print(f"{len(changed)} scenario(s) changed: {', '.join(changed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

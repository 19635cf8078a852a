"""Fingerprints of small runs behind the README's `docs` regions, so that a test notices when they go stale.

The `docs` tier (every shipped sweep in full) takes minutes to render, too long for `make test`,
so tests/test_readme.py cannot render it. Instead, when `make docs` renders that tier it records
in `tests/docs_inputs.json` a fingerprint of a trimmed version of each sweep: the two ends of its
grid with one seed, as tests/test_shipped_sweeps.py runs it (each run's journal hash included).
That test computes the same fingerprints; a code change that moves any of those runs fails it,
saying to run `make docs`. (Before this, a change of gossip's random streams left the gossip
sweep's README row stale for a whole session.)

    python benchmarks/docs_inputs.py            # compare with the record (exit 1 if one differs)
    python benchmarks/docs_inputs.py --write    # record (docs.py does this after rendering the docs tier)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RECORD = ROOT / "tests" / "docs_inputs.json"
SWEEPS = ROOT / "scenarios" / "sweeps"


def trimmed(path: Path) -> dict[str, Any]:
    """A shipped sweep's spec cut to the two ends of each grid list (zipped lists stay equal) and one replicate.

    Per-line `theory:` laws of values cut from the grid go too: a law for a line the sweep does
    not draw is refused when the spec is loaded.
    """
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["grid"] = {key: [values[0], values[-1]] for key, values in data["grid"].items()}
    data["replicates"] = 1
    kept = {str(value) for values in data["grid"].values() for value in values}
    for metric, laws in data.get("theory", {}).items():
        if isinstance(laws, dict):
            data["theory"][metric] = {line: law for line, law in laws.items() if line in kept}
    return data


def fingerprint(rows: Any) -> str:
    """A run table's fingerprint: every column but wall times, rows in key order, as canonical JSON."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    frame = frame[[c for c in frame.columns if "wall" not in c]]
    if "key" in frame.columns:
        frame = frame.sort_values("key", kind="stable")
    text = frame.to_json(orient="records", double_precision=12)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def sweep_fingerprint(path: Path) -> str:
    """Run the trimmed sweep in a temporary folder and fingerprint its runs table."""
    from sim.sweep import build_sweep, run_sweep

    sweep = build_sweep(trimmed(path), f"{path.stem} (trimmed)", SWEEPS)
    with tempfile.TemporaryDirectory() as tmp:
        result = run_sweep(sweep, out=Path(tmp) / "out", jobs=1, quiet=True)
    return fingerprint(result.runs)


def current() -> dict[str, str]:
    """Every fingerprint, computed now (a minute or two)."""
    return {f"sweep:{path.stem}": sweep_fingerprint(path) for path in sorted(SWEEPS.glob("*.yaml"))}


def recorded() -> dict[str, str]:
    """The fingerprints `make docs` recorded when it last rendered the docs tier."""
    return json.loads(RECORD.read_text(encoding="utf-8")) if RECORD.exists() else {}


def write(found: dict[str, str]) -> None:
    """Record these fingerprints (after their regions were rendered from the same code), keeping the others."""
    RECORD.write_text(json.dumps({**recorded(), **found}, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def for_regions(names: set[str]) -> dict[str, str]:
    """The fingerprints behind these rendered regions: every sweep's, when a sweep region is among them."""
    return current() if names & {"sweeps-table", "sweep-raft-election-timeout"} else {}


def main() -> None:
    """Compare with the record, or with --write record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="record the fingerprints instead of comparing")
    args = parser.parse_args()
    found = current()
    if args.write:
        write(found)
        print(f"{RECORD.relative_to(ROOT)}: {len(found)} fingerprints recorded")
        return
    old = recorded()
    stale = sorted(name for name in found if old.get(name) != found[name])
    for name in stale:
        print(f"changed   {name}  {old.get(name)} -> {found[name]}")
    sys.exit(1 if stale else 0)


if __name__ == "__main__":
    main()

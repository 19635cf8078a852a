"""The README cannot drift: every run-derived number sits in a generated region, and the cheap ones match the code.

Regions of tier `test` (shipped scenarios, `consim run`/`compare` transcripts) are rendered here
from fresh runs, shared between regions, and compared byte for byte; the slow ones (whole sweeps,
benchmarks) are checked by `python benchmarks/docs.py --check` instead. On a failure, run
`make docs` and commit the README.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))  # the generator is a repository tool, not part of the package

import docs  # noqa: E402
from docs_regions import REGIONS, TIERS  # noqa: E402
from docs_session import Session  # noqa: E402

README = (ROOT / "README.md").read_text(encoding="utf-8")
CHEAP = [r for r in REGIONS if r.tier == "test"]


@pytest.fixture(scope="module")
def session() -> Iterator[Session]:
    """One session for the module: a run quoted by several regions happens once."""
    shared = Session()
    yield shared
    shared.close()


def test_every_region_is_marked_once_and_known() -> None:
    """Each region the generator knows is marked exactly once in the README, and no marker names an unknown region."""
    present = docs.regions_in(README)
    assert sorted(present) == sorted(r.name for r in REGIONS), "README markers and benchmarks/docs_regions.py disagree"
    assert README.count("\n<!-- generated: ") == len(REGIONS) == README.count("\n<!-- /generated -->")
    assert all(r.tier in TIERS for r in REGIONS)


def test_benchmark_regions_say_when_and_where_they_were_measured() -> None:
    """Machine-dependent regions carry their date, machine and Python version, since no test can check them."""
    present = docs.regions_in(README)
    for region in REGIONS:
        if region.tier == "bench":
            # By `make docs`, or by the named benchmark command for a campaign too long for it to rerun casually.
            body = present[region.name]
            assert "Measured " in body and (" UTC by `make docs` on " in body or " UTC by `python benchmarks/" in body)
            assert "Python" in present[region.name] or "CPython" in present[region.name]


def test_rewriting_a_region_leaves_the_rest_of_the_readme_alone() -> None:
    """replace_regions swaps only the named region's body; rendering the same bodies again is a no-op."""
    present = docs.regions_in(README)
    name = CHEAP[0].name
    changed = docs.replace_regions(README, {name: "new body"})
    assert docs.regions_in(changed)[name] == "new body"
    assert {k: v for k, v in docs.regions_in(changed).items() if k != name} == {k: v for k, v in present.items() if k != name}
    assert docs.replace_regions(README, present) == README


@pytest.mark.parametrize("region", CHEAP, ids=[r.name for r in CHEAP])
def test_readme_region_matches_the_code(region: docs.Region, session: Session) -> None:
    """The region's text is what the current code produces from the shipped scenarios."""
    expected = region.render(session)
    actual = docs.regions_in(README)[region.name]
    assert actual == expected, f"README.md region {region.name!r} no longer matches what the code produces; {docs.FIX}.\n" + docs.diff(
        region.name, actual, expected
    )


def test_docs_command_checks_then_rewrites_a_stale_region(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`docs.py --check` exits 1 on a stale region and shows its diff; `docs.py` rewrites it; then --check passes."""
    stale = docs.replace_regions(README, {"voting-scenarios": "| stale | table |"})
    readme = tmp_path / "README.md"
    readme.write_text(stale, encoding="utf-8")
    assert docs.main(["--check", "--only", "voting-scenarios", "--readme", str(readme)]) == 1
    out, err = capsys.readouterr()
    assert "-| stale | table |" in out and "make docs" in err
    assert readme.read_text(encoding="utf-8") == stale  # --check writes nothing
    assert docs.main(["--only", "voting-scenarios", "--readme", str(readme)]) == 0
    assert docs.main(["--check", "--only", "voting-scenarios", "--readme", str(readme)]) == 0
    assert docs.regions_in(readme.read_text(encoding="utf-8"))["voting-scenarios"] == docs.regions_in(README)["voting-scenarios"]


def test_docs_command_refuses_an_unknown_region(tmp_path: Path) -> None:
    """A marker naming a region the generator does not know is an error (exit 1), not silently kept."""
    readme = tmp_path / "README.md"
    readme.write_text(README + "\n<!-- generated: no-such-region -->\nx\n<!-- /generated -->\n", encoding="utf-8")
    assert docs.main(["--check", "--only", "voting-scenarios", "--readme", str(readme)]) == 1

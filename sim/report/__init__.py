"""`consim report`: a run, sweep or compare directory as a self-contained Markdown and HTML report.

The report says, per mechanism (per plane in a several-mechanism run), the guarantee it provides,
what was measured and under which faults, with the figures embedded; a sweep adds its table and
figures, a compare directory its candidates and, when requirements were declared, the
recommendation with every rejection's reason (see sim/report/requirements.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sim.errors import ScenarioError
from sim.report.requirements import (
    CompareSpec,
    Requirements,
    Verdict,
    is_compare_spec,
    load_compare_spec,
    parse_requirements,
    recommend,
    recommendation_lines,
)

if TYPE_CHECKING:
    # The document module builds tables with pandas: imported where a report is written, so that
    # `consim validate` reading a compare spec (sim.report.requirements) imports no pandas.
    from sim.report.document import Block


def report_kind(target: Path) -> str:
    """Which kind of output directory `target` is: "run", "sweep" or "compare".

    Raises:
        ScenarioError: when `target` is none of them.

    """
    from sim.report.collection import is_compare_dir
    from sim.sweep import is_sweep_dir

    if not target.is_dir():
        raise ScenarioError(str(target), "", "no such directory (give a run, sweep or compare directory)")
    if is_sweep_dir(target):
        if not (target / "runs.parquet").is_file():
            raise ScenarioError(str(target), "", "the sweep has not finished (no runs.parquet); run `consim sweep` again first")
        return "sweep"
    if is_compare_dir(target):
        return "compare"
    if (target / "summary.json").is_file():
        return "run"
    raise ScenarioError(str(target), "", "not a run, sweep or compare directory (no summary.json, sweep.json or table.parquet)")


def report_blocks(target: Path) -> list[Block]:
    """The report's blocks for a run, sweep or compare directory.

    Raises:
        ScenarioError: not such a directory, or one whose files cannot be read.

    """
    from sim.report.collection import compare_blocks, sweep_blocks
    from sim.report.run import run_blocks

    kind = report_kind(target)
    build = {"run": run_blocks, "sweep": sweep_blocks, "compare": compare_blocks}[kind]
    try:
        return build(target)
    except (OSError, ValueError, KeyError) as exc:
        raise ScenarioError(str(target), "", f"cannot read the {kind} directory: {' '.join(str(exc).split())}") from None


def write_report(target: str | Path, out: str | Path | None = None) -> tuple[Path, Path]:
    """Write report.md and report.html for `target` into `out` (default: `target` itself).

    Returns:
        The paths of report.md and report.html.

    Raises:
        ScenarioError: `target` is not a run, sweep or compare directory, or `out` is a file.

    """
    source = Path(target)
    folder = Path(out) if out is not None else source
    if folder.exists() and not folder.is_dir():
        raise ScenarioError("--out", "", f"{folder} is a file, not a folder")
    blocks = report_blocks(source)
    title = next((b.text for b in blocks if getattr(b, "level", 0) == 1), "consim report")
    folder.mkdir(parents=True, exist_ok=True)
    md, page = folder / "report.md", folder / "report.html"
    from sim.report.document import to_html, to_markdown

    md.write_text(to_markdown(blocks), encoding="utf-8")
    page.write_text(to_html(blocks, title), encoding="utf-8")
    return md, page


__all__ = [
    "CompareSpec",
    "Requirements",
    "Verdict",
    "is_compare_spec",
    "load_compare_spec",
    "parse_requirements",
    "recommend",
    "recommendation_lines",
    "report_blocks",
    "report_kind",
    "write_report",
]

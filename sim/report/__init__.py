"""`consim report`: a run, sweep or compare directory as a self-contained Markdown and HTML report.

The report says, per mechanism (per plane in a several-mechanism run), the guarantee it provides,
what was measured and under which faults, with the figures embedded; a sweep adds its table and
figures, a compare directory its candidates and, when requirements were declared, the
recommendation with every rejection's reason (see sim/report/requirements.py).
"""

from __future__ import annotations

import os
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


REPORT_FILES = ("report.md", "report.html")
"""The files `consim report` writes into its folder."""

_OPENINGS = {"report.md": "# consim report: ", "report.html": "<title>consim report: "}
# How each file consim writes begins: the title heading every report has (sim/report/run.py and
# collection.py), so reports written by earlier releases are recognised too.


def written_by_consim(path: Path) -> bool:
    """Whether `path`, one of REPORT_FILES, is a report `consim report` wrote (a missing file is not).

    The Markdown file opens with the report's title heading; the HTML page carries that title within
    its head.
    """
    opening = _OPENINGS[path.name]
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            head = handle.read(2000)
    except OSError:  # a folder, or unreadable: not one of ours either way
        return False
    return head.startswith(opening) if path.name == "report.md" else opening in head


def check_report_files(folder: Path, out_given: bool) -> None:
    """Refuse to write a report over a report.md or report.html that `consim report` did not write.

    Args:
        folder: where the report goes.
        out_given: whether the folder came from `--out` (the message names the option then).

    Raises:
        ScenarioError: one line naming the file and how to proceed.

    """
    for name in REPORT_FILES:
        path = folder / name
        if path.exists() and not written_by_consim(path):
            if out_given:
                problem = f"{path} was not written by consim report; refusing to overwrite it (move it away or choose another --out)"
                raise ScenarioError("--out", "", problem)
            problem = "not written by consim report; refusing to overwrite it (move it away, or write the report elsewhere with --out DIR)"
            raise ScenarioError(str(path), "", problem)


def _write_atomic(path: Path, text: str) -> None:
    # A temporary file renamed over the old one: a report is never half-written, even when interrupted.
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_report(target: str | Path, out: str | Path | None = None) -> tuple[Path, Path]:
    """Write report.md and report.html for `target` into `out` (default: `target` itself).

    A report.md or report.html already there is replaced only when `consim report` wrote it.

    Returns:
        The paths of report.md and report.html.

    Raises:
        ScenarioError: `target` is not a run, sweep or compare directory, `out` is a file, or a
            report.md or report.html there was not written by consim.

    """
    source = Path(target)
    folder = Path(out) if out is not None else source
    if folder.exists() and not folder.is_dir():
        raise ScenarioError("--out", "", f"{folder} is a file, not a folder")
    report_kind(source)  # a bad target is the first thing to say
    check_report_files(folder, out is not None)  # before the work: drawing the figures takes seconds
    blocks = report_blocks(source)
    title = next((b.text for b in blocks if getattr(b, "level", 0) == 1), "consim report")
    from sim.report.document import to_html, to_markdown

    texts = (to_markdown(blocks), to_html(blocks, title))  # both rendered before either is written
    folder.mkdir(parents=True, exist_ok=True)
    md, page = folder / "report.md", folder / "report.html"
    for path, text in zip((md, page), texts, strict=True):
        try:
            _write_atomic(path, text)
        except OSError as exc:
            raise ScenarioError("--out" if out is not None else str(source), "", f"cannot write {path}: {exc.strerror or exc}") from None
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
    "written_by_consim",
]

"""A report as a list of blocks, rendered to Markdown and to one self-contained HTML page.

Figures are PNG bytes embedded as base64 data URIs in both renderings, so neither file refers to
anything outside itself: the page opens offline, with no script and no external URL.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Heading:
    """A section title; level 1 is the report's title."""

    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of plain text."""

    text: str


@dataclass(frozen=True)
class Bullets:
    """A bulleted list of plain-text items."""

    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """A table: column names and rows of cells (formatted when rendered)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Table:
        """A table of a DataFrame's columns and rows."""
        return cls(tuple(str(c) for c in frame.columns), tuple(tuple(r) for r in frame.itertuples(index=False)))


@dataclass(frozen=True)
class Figure:
    """An image (PNG bytes) with its caption."""

    png: bytes
    caption: str


Block = Heading | Paragraph | Bullets | Table | Figure


def cell(value: Any) -> str:
    """A table cell as text: '-' for missing, floats to at most 3 decimals, thousands separated."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value.is_integer() and abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def data_uri(png: bytes) -> str:
    """A PNG as a data URI."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _md_text(text: str) -> str:
    # Characters Markdown would read as markup inside prose or a table cell.
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("_", "\\_").replace("<", "&lt;")


def to_markdown(blocks: list[Block]) -> str:
    """Render the blocks as Markdown (figures inline as data URIs)."""
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"{'#' * block.level} {_md_text(block.text)}")
        elif isinstance(block, Paragraph):
            out.append(_md_text(block.text))
        elif isinstance(block, Bullets):
            out.append("\n".join(f"- {_md_text(item)}" for item in block.items))
        elif isinstance(block, Table):
            lines = ["| " + " | ".join(_md_text(c) for c in block.columns) + " |", "|" + "---|" * len(block.columns)]
            lines += ["| " + " | ".join(_md_text(cell(v)) for v in row) + " |" for row in block.rows]
            out.append("\n".join(lines))
        else:
            out.append(f"![{_md_text(block.caption)}]({data_uri(block.png)})\n\n*{_md_text(block.caption)}*")
    return "\n\n".join(out) + "\n"


CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
"""The page's own content security policy: it may load nothing but its embedded images and inline style."""
_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 62rem; margin: 2rem auto; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; } h2 { border-bottom: 1px solid #bbb; margin-top: 2.2rem; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.55rem; text-align: left; vertical-align: top; }
th { background: #f0f0f0; } td.num { text-align: right; white-space: nowrap; }
.wide { overflow-x: auto; }
figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.85rem; color: #555; }
"""


def _td(value: Any) -> str:
    # Numbers align right so that their digits line up; text reads better aligned left.
    numeric = isinstance(value, int | float | np.number) and not isinstance(value, bool | np.bool_)
    return f'<td class="num">{html.escape(cell(value))}</td>' if numeric else f"<td>{html.escape(cell(value))}</td>"


def to_html(blocks: list[Block], title: str) -> str:
    """Render the blocks as one HTML page with inline CSS and embedded images, no scripts."""
    esc = html.escape
    body: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{esc(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{esc(block.text)}</p>")
        elif isinstance(block, Bullets):
            body.append("<ul>" + "".join(f"<li>{esc(item)}</li>" for item in block.items) + "</ul>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{esc(c)}</th>" for c in block.columns)
            rows = "".join("<tr>" + "".join(_td(v) for v in row) + "</tr>" for row in block.rows)
            body.append(f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>')
        else:
            text = esc(block.caption)
            body.append(f'<figure><img src="{data_uri(block.png)}" alt="{text}"><figcaption>{text}</figcaption></figure>')
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        f"<title>{esc(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )

"""Turn a `Report` into text: an aligned table, CSV, JSON or Markdown. The one place reports are formatted.

Numbers stay exact: money prints with its currency's decimals, percentages and days with one
decimal, JSON carries decimals as strings. Text from records is made inert (no control or bidi
characters) and, in Markdown, pipes and markup characters are escaped.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from decimal import Decimal
from typing import Any

from kakotui.core.textsafe import inert
from kakotui.reports.model import Cell, Column, Report

__all__ = ["FORMATS", "cell_text", "render", "to_data"]

FORMATS = ("table", "csv", "json", "md")
EMPTY = "—"


def cell_text(value: Cell, column: Column, *, plain: bool = False) -> str:
    """One cell as text; `plain` (CSV) leaves out the % sign and the empty-cell dash."""
    if value is None:
        return "" if plain else EMPTY
    if isinstance(value, Decimal):
        text = f"{value:f}"
        if column.kind == "percent" and not plain:
            return text + "%"
        return text
    if isinstance(value, int):
        return str(value)
    return inert(value, single_line=True)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _right(column: Column) -> bool:
    return column.kind != "text"


def _table(report: Report) -> str:
    headers = [c.label for c in report.columns]
    body = [[cell_text(v, c) for v, c in zip(row, report.columns, strict=True)] for row in report.rows]
    if report.totals is not None:
        body.append([cell_text(v, c) for v, c in zip(report.totals, report.columns, strict=True)])
    widths = [max([_width(h)] + [_width(r[i]) for r in body]) for i, h in enumerate(headers)]

    def line(values: list[str]) -> str:
        out = []
        for i, v in enumerate(values):
            pad = " " * (widths[i] - _width(v))
            out.append(pad + v if _right(report.columns[i]) else v + pad)
        return "  ".join(out).rstrip()

    lines = [report.title, "", line(headers), "  ".join("-" * w for w in widths)]
    lines += [line(r) for r in body[: len(report.rows)]]
    if report.totals is not None:
        lines.append("  ".join("-" * w for w in widths))
        lines.append(line(body[-1]))
    if not report.rows:
        lines.append("(nothing in this period)")
    lines += [f"  * {inert(n, single_line=True)}" for n in report.notes]
    return "\n".join(lines) + "\n"


def _md_escape(text: str) -> str:
    out = inert(text, single_line=True)
    for ch in "\\|*_`[]<>#":
        out = out.replace(ch, "\\" + ch)
    return out


def _md(report: Report, level: int = 2) -> str:
    cols = report.columns
    lines = [f"{'#' * level} {_md_escape(report.title)}", ""]
    lines.append("| " + " | ".join(_md_escape(c.label) for c in cols) + " |")
    lines.append("|" + "|".join("---:" if _right(c) else "---" for c in cols) + "|")
    for row in report.rows:
        lines.append(
            "| " + " | ".join(_md_escape(cell_text(v, c)) for v, c in zip(row, cols, strict=True)) + " |"
        )
    if report.totals is not None:
        cells = [_md_escape(cell_text(v, c)) for v, c in zip(report.totals, cols, strict=True)]
        lines.append("| " + " | ".join(f"**{t}**" if t and t != EMPTY else t for t in cells) + " |")
    if not report.rows:
        lines += ["", "_Nothing in this period._"]
    if report.notes:
        lines.append("")
        lines += [f"- {_md_escape(n)}" for n in report.notes]
    return "\n".join(lines) + "\n"


def _md_tree(report: Report, level: int, *, stamp: bool = False) -> str:
    """A report and its parts, one heading level deeper per part (at most ######)."""
    text = _md(report, level)
    if stamp and report.meta:
        title, _, rest = text.partition("\n")
        text = f"{title}\n\n_{_md_escape(_stamp(report))}_\n{rest}"
    return "\n".join([text, *(_md_tree(p, min(level + 1, 6)) for p in report.parts)])


def _json_value(value: Cell) -> Any:
    return f"{value:f}" if isinstance(value, Decimal) else value


def to_data(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data: decimals as strings, rows as mappings by column key."""
    keys = [c.key for c in report.columns]
    return {
        "name": report.name,
        "title": report.title,
        "meta": dict(report.meta),
        "columns": [{"key": c.key, "label": c.label, "kind": c.kind} for c in report.columns],
        "rows": [
            {k: _json_value(v) for k, v in zip(keys, row, strict=True)}
            | ({"drill": d.query} if (d := report.drill(i)) is not None else {})
            for i, row in enumerate(report.rows)
        ],
        "totals": (
            None
            if report.totals is None
            else {k: _json_value(v) for k, v in zip(keys, report.totals, strict=True)}
        ),
        "notes": list(report.notes),
        "parts": [to_data(p) for p in report.parts],
    }


def _csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.label for c in report.columns])
    for row in report.rows:
        writer.writerow([cell_text(v, c, plain=True) for v, c in zip(row, report.columns, strict=True)])
    if report.totals is not None:
        writer.writerow(
            [cell_text(v, c, plain=True) for v, c in zip(report.totals, report.columns, strict=True)]
        )
    return out.getvalue()


def _stamp(report: Report) -> str:
    return " · ".join(inert(f"{k}: {v}", single_line=True) for k, v in report.meta)


def render(report: Report, fmt: str = "table", *, part: str | None = None) -> str:
    """`report` (and its parts) as `fmt`; CSV holds one table: the main one, or `part`."""
    if fmt == "json":
        return json.dumps(to_data(report), ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        return _csv(report.part(part) if part else report)
    if fmt == "md":
        return _md_tree(report, 1, stamp=True)
    if fmt == "table":
        head = _stamp(report) + "\n\n" if report.meta else ""
        return head + "\n".join(_table(r) for r in report.walk())
    raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")

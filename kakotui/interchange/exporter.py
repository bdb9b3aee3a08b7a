"""Handing data out: records flattened to one row per exception (or per cost line) as CSV, XLSX, JSON.

The flat columns are `mapping.FIELDS`, so an exported sheet imports back unchanged: each row also
carries `record_json`, the whole record, which import takes as the base that the other columns edit.
Files are written to a temporary name and renamed, so a failed export leaves nothing half-written.
Cells are data, never formulas: XLSX cells are typed as text, and CSV cells a spreadsheet would
evaluate (`=`, `+`, `-`, `@` first) get a leading `'`, which import removes again.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from kakotui.core.config import Config
from kakotui.core.money import convert, format_amount
from kakotui.core.record import status_of
from kakotui.interchange.mapping import EXPORT_ONLY, FIELDS

__all__ = [
    "EXPORT_COLUMNS",
    "FORMATS",
    "LINE_COLUMNS",
    "ExportResult",
    "cost_lines",
    "flatten",
    "unquote_formula",
    "write_export",
]

FORMATS = ("csv", "xlsx", "json", "jsonl")
EXPORT_COLUMNS = [f for f in FIELDS if f != "record_json"] + list(EXPORT_ONLY) + ["record_json"]
LINE_COLUMNS = [
    "id", "ref", "line", "reshipped_at", "carrier", "tracking", "reship_status", "cost_type", "amount",
    "currency", "responsible", "amount_reporting", "reporting_currency", "note", "vendor", "sku", "order_id",
    "failure_code", "status",
]  # fmt: skip
XLSX_CELL_LIMIT = 32_767
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")

Progress = Callable[[int, int], None]


@dataclass
class ExportResult:
    rows: int
    records: int
    path: Path | None
    warnings: list[str] = field(default_factory=list)


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def _money(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    return f"{value.get('amount', '')} {value.get('currency', '')}".strip()


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def flatten(record: dict[str, Any]) -> dict[str, str]:
    """The flat columns of a record, as text (the same forms import normalizes sheet cells to)."""
    qc = record.get("qc") if isinstance(record.get("qc"), dict) else {}
    assert isinstance(qc, dict)
    out = {name: "" for name in EXPORT_COLUMNS}
    out["id"] = _s(record.get("id"))
    out["source_key"] = _s(record.get("source_key"))
    try:
        out["status"] = status_of(record)
    except (AttributeError, TypeError):
        out["status"] = ""
    for name in ("checked_at", "station", "site", "inspector", "order_id", "sku", "item_title", "quantity",
                 "vendor", "failure_code", "severity", "description"):  # fmt: skip
        out[name] = _s(qc.get(name))
    out["evidence"] = "\n".join(
        f"{_s(e.get('kind'))} {_s(e.get('link'))}" for e in _dicts(qc.get("evidence"))
    )
    decision = record.get("decision") if isinstance(record.get("decision"), dict) else {}
    assert isinstance(decision, dict)
    out["decision"] = _s(decision.get("action"))
    out["decided_by"] = _s(decision.get("by"))
    out["decided_at"] = _s(decision.get("at"))
    out["decision_reason"] = _s(decision.get("reason"))
    reships = _dicts(record.get("reshipments"))
    if reships:
        first = reships[0]
        out["reshipped_at"] = _s(first.get("created_at"))
        out["carrier"] = _s(first.get("carrier"))
        out["tracking"] = _s(first.get("tracking"))
        out["reship_status"] = _s(first.get("status"))
        out["shipped_at"] = _s(first.get("shipped_at"))
        out["delivered_at"] = _s(first.get("delivered_at"))
        out["reship_cost"] = _money(first.get("total"))
        lines = _dicts(first.get("costs"))
        out["responsible"] = ", ".join(_s(line.get("responsible")) for line in lines)
        out["cost_type"] = ", ".join(_s(line.get("type")) for line in lines)
        out["reship_note"] = _s(first.get("note"))
    contacts = _dicts(record.get("vendor_contacts"))
    if contacts:
        first_contact = contacts[0]
        out["vendor_contacted_at"] = _s(first_contact.get("at"))
        out["vendor_channel"] = _s(first_contact.get("channel"))
        out["vendor_summary"] = _s(first_contact.get("summary"))
        out["vendor_outcome"] = _s(first_contact.get("outcome"))
        out["recovered"] = _money(first_contact.get("recovered"))
    confirmation = record.get("customer_confirmation")
    if isinstance(confirmation, dict):
        out["confirmed_at"] = _s(confirmation.get("at"))
        out["customer_channel"] = _s(confirmation.get("channel"))
        out["customer_outcome"] = _s(confirmation.get("outcome"))
        out["customer_note"] = _s(confirmation.get("note"))
    closure = record.get("closure")
    if isinstance(closure, dict):
        out["final_status"] = _s(closure.get("final_status"))
        out["closed_at"] = _s(closure.get("closed_at"))
        out["closed_by"] = _s(closure.get("closed_by"))
        out["closure_note"] = _s(closure.get("note"))
    out["reshipments"] = str(len(reships)) if reships else ""
    totals: dict[str, Decimal] = {}
    for reship in reships:
        total = reship.get("total")
        if isinstance(total, dict):
            try:
                totals[str(total["currency"])] = totals.get(str(total["currency"]), Decimal(0)) + Decimal(
                    str(total["amount"])
                )
            except (KeyError, ArithmeticError, ValueError):
                continue
    out["total_cost"] = " + ".join(f"{format_amount(a)} {c}" for c, a in sorted(totals.items()))
    out["record_json"] = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    return out


def cost_lines(record: dict[str, Any], config: Config) -> list[dict[str, Any]]:
    """One row per reshipment cost line, for finance (amounts also in the reporting currency)."""
    qc = record.get("qc") if isinstance(record.get("qc"), dict) else {}
    assert isinstance(qc, dict)
    try:
        status = status_of(record)
    except (AttributeError, TypeError):
        status = ""
    rows: list[dict[str, Any]] = []
    for reship in _dicts(record.get("reshipments")):
        month = _s(reship.get("created_at"))[:7]
        for n, line in enumerate(_dicts(reship.get("costs")), start=1):
            money = line.get("amount") if isinstance(line.get("amount"), dict) else {}
            assert isinstance(money, dict)
            try:
                amount: Decimal | None = Decimal(str(money.get("amount")))
            except ArithmeticError:
                amount = None
            currency = _s(money.get("currency"))
            converted = (
                convert(amount, currency, config.reporting_currency, config.rates_for(month))
                if amount is not None
                else None
            )
            rows.append(
                {
                    "id": _s(record.get("id")),
                    "ref": _s(reship.get("ref")),
                    "line": n,
                    "reshipped_at": _s(reship.get("created_at")),
                    "carrier": _s(reship.get("carrier")),
                    "tracking": _s(reship.get("tracking")),
                    "reship_status": _s(reship.get("status")),
                    "cost_type": _s(line.get("type")),
                    "amount": amount,
                    "currency": currency,
                    "responsible": _s(line.get("responsible")),
                    "amount_reporting": converted,
                    "reporting_currency": config.reporting_currency,
                    "note": _s(line.get("note")),
                    "vendor": _s(qc.get("vendor")),
                    "sku": _s(qc.get("sku")),
                    "order_id": _s(qc.get("order_id")),
                    "failure_code": _s(qc.get("failure_code")),
                    "status": status,
                }
            )
    return rows


def unquote_formula(text: str) -> str:
    """Undo the `'` export puts before a CSV cell a spreadsheet would take for a formula."""
    if len(text) > 1 and text[0] == "'" and text[1] in _FORMULA_START:
        return text[1:]
    return text


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format_amount(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


# ---------------------------------------------------------------------------------------------
# Writing


def write_export(
    records: Iterable[dict[str, Any]],
    config: Config,
    fmt: str,
    *,
    path: Path | None = None,
    stream: IO[str] | None = None,
    lines: bool = False,
    total: int = 0,
    progress: Progress | None = None,
) -> ExportResult:
    """Write `records` as `fmt` to `path` (atomically) or to `stream` (text formats only)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "xlsx" and path is None:
        raise ValueError("an XLSX export needs a file: give -o FILE.xlsx")
    result = ExportResult(0, 0, path)

    def rows() -> Iterator[dict[str, Any]]:
        for n, record in enumerate(records, start=1):
            result.records += 1
            if progress is not None and (n % 1000 == 0 or n == total):
                progress(n, total)
            if fmt in ("json", "jsonl") and not lines:
                yield record
            elif lines:
                yield from cost_lines(record, config)
            else:
                yield flatten(record)

    columns = LINE_COLUMNS if lines else EXPORT_COLUMNS
    if path is None:
        out = stream if stream is not None else sys.stdout
        result.rows = _write_text(rows(), fmt, columns, out)
        return result
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        if fmt == "xlsx":
            result.rows = _write_xlsx(rows(), columns, tmp, result.warnings)
        else:
            with tmp.open("w", encoding="utf-8-sig" if fmt == "csv" else "utf-8", newline="") as handle:
                result.rows = _write_text(rows(), fmt, columns, handle)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return result


def _write_text(rows: Iterable[dict[str, Any]], fmt: str, columns: list[str], out: IO[str]) -> int:
    count = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_csv_cell(row.get(c)) for c in columns])
            count += 1
        return count
    if fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False, default=_json_default) + "\n")
            count += 1
        return count
    out.write("[")
    for row in rows:
        out.write(
            ("\n" if count == 0 else ",\n") + json.dumps(row, ensure_ascii=False, default=_json_default)
        )
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format_amount(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _write_xlsx(rows: Iterable[dict[str, Any]], columns: list[str], path: Path, warnings: list[str]) -> int:
    import openpyxl
    from openpyxl.cell import WriteOnlyCell

    book = openpyxl.Workbook(write_only=True)
    ws = book.create_sheet("exceptions")
    ws.append(columns)
    count = 0
    too_long = 0
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column)
            if isinstance(value, Decimal):
                cell = WriteOnlyCell(ws, value=value)  # a number finance can add up
                cell.number_format = "0.00"
            else:
                text = "" if value is None else str(value)
                text = _XML_ILLEGAL.sub("\ufffd", text)
                if len(text) > XLSX_CELL_LIMIT:
                    text = "" if column == "record_json" else text[:XLSX_CELL_LIMIT]
                    too_long += 1
                cell = WriteOnlyCell(ws, value=None)
                cell.value = text
                cell.data_type = "s"  # text, never a formula or an error code
            cells.append(cell)
        ws.append(cells)
        count += 1
    if too_long:
        warnings.append(
            f"{too_long} cell(s) longer than Excel's {XLSX_CELL_LIMIT:,} characters were cut (or, for "
            "record_json, left empty): export those records as CSV or JSON for a lossless copy"
        )
    book.save(path)
    return count


def to_csv_text(records: Iterable[dict[str, Any]], config: Config, *, lines: bool = False) -> str:
    """The CSV export as a string (for tests and small exports)."""
    buffer = io.StringIO()
    write_export(records, config, "csv", stream=buffer, lines=lines)
    return buffer.getvalue()

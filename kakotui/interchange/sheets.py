"""Reading a spreadsheet file (CSV or XLSX) into a header and rows of raw cells, or a clear refusal.

CSV text is decoded strictly, in order: UTF-8 with a BOM, UTF-16 with a BOM, UTF-8, GB18030 (a
superset of GBK, what Chinese Excel and WPS save); anything else is refused rather than guessed.
XLSX goes through openpyxl in read-only mode with the cached values of formulas. Files over the size
cap, binary files, old `.xls` workbooks and zip bombs are refused before their content is parsed.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["MAX_BYTES", "MAX_ROWS", "Sheet", "SheetError", "read_sheet"]

MAX_BYTES = 64 * 1024 * 1024
"""Largest file accepted (100,000 typical rows are 20-40 MB of CSV, 8-15 MB of XLSX)."""
MAX_ROWS = 500_000
_MAX_UNPACKED = 16  # an XLSX may unpack to at most this many times the size cap
_XLSX_MAGIC = b"PK\x03\x04"
_XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class SheetError(Exception):
    """A file we cannot read as a sheet; the message says why and what to do."""


@dataclass
class Sheet:
    """The rows of one sheet: `headers` from its header row, `rows` of raw cells below it."""

    path: Path
    kind: str  # "csv" or "xlsx"
    name: str  # the worksheet's title, or the file's stem for a CSV
    headers: list[str]
    rows: list[list[Any]]
    row_numbers: list[int]  # the spreadsheet's own row number of each row (1-based)
    header_row: int = 1
    encoding: str | None = None
    sheet_names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)


def read_sheet(
    path: Path | str, *, sheet: str | None = None, max_bytes: int = MAX_BYTES, max_rows: int = MAX_ROWS
) -> Sheet:
    """Read a CSV or XLSX file; `SheetError` for anything unreadable, too large or not a sheet."""
    path = Path(path)
    try:
        if path.is_dir():
            raise SheetError(f"{path} is a folder, not a spreadsheet file")
        size = path.stat().st_size
    except OSError as exc:
        raise SheetError(f"cannot read {path}: {exc.strerror or exc}") from None
    if size > max_bytes:
        raise SheetError(
            f"{path.name} is {size / 1e6:.0f} MB; the import limit is {max_bytes / 1e6:.0f} MB. "
            "Split the sheet (e.g. by year or by site) and import the parts one after the other."
        )
    if size == 0:
        raise SheetError(f"{path.name} is empty")
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise SheetError(f"cannot read {path}: {exc.strerror or exc}") from None
    if head.startswith(_XLS_MAGIC):
        raise SheetError(
            f"{path.name} is an old Excel .xls workbook; open it and save it as .xlsx (or CSV UTF-8), then import that"
        )
    if head.startswith(_XLSX_MAGIC):
        return _read_xlsx(path, sheet, max_bytes, max_rows)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        raise SheetError(f"{path.name} is not an XLSX workbook (it is not a zip file): is it a CSV renamed?")
    if sheet is not None:
        raise SheetError(f"{path.name} is a CSV file: it has no sheets to choose from (drop --sheet)")
    return _read_csv(path, max_rows)


# ---------------------------------------------------------------------------------------------
# CSV


def decode(raw: bytes, name: str) -> tuple[str, str]:
    """(text, encoding) by strict decodes in order; `SheetError` when none fits."""
    if raw.startswith(b"\xef\xbb\xbf"):
        try:
            return raw[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise SheetError(
                f"{name} starts with a UTF-8 mark but byte {exc.start + 3} is not UTF-8: the file is damaged"
            ) from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise SheetError(
                f"{name} starts with a UTF-16 mark but is not UTF-16: the file is damaged"
            ) from None
    if b"\0" in raw[:65536]:
        raise SheetError(f"{name} is not a text file (it holds NUL bytes): export the sheet as CSV or XLSX")
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as first:
        utf8_error = first
    try:
        return raw.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        pass
    line = raw[: utf8_error.start].count(b"\n") + 1
    raise SheetError(
        f"{name}: cannot tell the text encoding: line {line} is neither UTF-8 nor GBK/GB18030 "
        f"(byte 0x{raw[utf8_error.start]:02x}). Save the sheet as 'CSV UTF-8' (Excel) or as XLSX and import that"
    )


def _delimiter(text: str) -> str:
    first = next((line for line in text.split("\n", 50) if line.strip()), "")
    unquoted = re.sub(r'"[^"]*"', "", first)
    counts = {d: unquoted.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _read_csv(path: Path, max_rows: int) -> Sheet:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SheetError(f"cannot read {path}: {exc.strerror or exc}") from None
    text, encoding = decode(raw, path.name)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=False)
    rows: list[list[Any]] = []
    numbers: list[int] = []
    try:
        for number, record in enumerate(reader, start=1):  # a spreadsheet's row, not a text line
            if any(cell.strip() for cell in record):
                rows.append(record)
                numbers.append(number)
                if len(rows) > max_rows + 1:
                    raise SheetError(
                        f"{path.name} has more than {max_rows:,} rows: split it and import the parts"
                    )
    except csv.Error as exc:
        raise SheetError(f"{path.name}: line {reader.line_num}: not readable as CSV ({exc})") from None
    return _finish(path, "csv", _stem(path), rows, numbers, encoding=encoding)


def _stem(path: Path) -> str:
    """The file's name without extension and without a download copy suffix (`sheet (1).csv`)."""
    return re.sub(r"\s*\(\d+\)$", "", path.stem) or path.stem


# ---------------------------------------------------------------------------------------------
# XLSX


def _read_xlsx(path: Path, sheet: str | None, max_bytes: int, max_rows: int) -> Sheet:
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise SheetError(f"{path.name} is not a readable XLSX workbook ({exc})") from None
    if unpacked > _MAX_UNPACKED * max_bytes:
        raise SheetError(
            f"{path.name} unpacks to {unpacked / 1e6:.0f} MB, more than the import allows: split the workbook"
        )
    import openpyxl  # imported here: CSV imports and every other command start faster without it
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
        raise SheetError(
            f"{path.name} is not a readable XLSX workbook ({type(exc).__name__}: {exc})"
        ) from None
    try:
        names = list(book.sheetnames)
        if sheet is not None:
            if sheet not in names:
                raise SheetError(f"{path.name} has no sheet {sheet!r} (sheets: {', '.join(names)})")
            chosen = [sheet]
        else:
            chosen = names
        for title in chosen:
            ws = book[title]
            ws.reset_dimensions()  # some writers store a wrong size; read what is there
            rows: list[list[Any]] = []
            numbers: list[int] = []
            for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
                if any(v is not None and (not isinstance(v, str) or v.strip()) for v in values):
                    rows.append(list(values))
                    numbers.append(number)
                    if len(rows) > max_rows + 1:
                        raise SheetError(
                            f"{path.name} has more than {max_rows:,} rows: split it and import the parts"
                        )
            if rows or sheet is not None:
                return _finish(path, "xlsx", title, rows, numbers, sheet_names=names)
        return _finish(path, "xlsx", names[0] if names else "", [], [], sheet_names=names)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise SheetError(f"{path.name}: the workbook is damaged ({type(exc).__name__}: {exc})") from None
    finally:
        book.close()


# ---------------------------------------------------------------------------------------------


def _finish(
    path: Path,
    kind: str,
    name: str,
    rows: list[list[Any]],
    numbers: list[int],
    *,
    encoding: str | None = None,
    sheet_names: list[str] | None = None,
) -> Sheet:
    if not rows:
        raise SheetError(f"{path.name}{f' (sheet {name!r})' if kind == 'xlsx' else ''} holds no rows")
    header_cells = rows[0]
    width = max(len(r) for r in rows)
    while width > 0 and all(len(r) < width or _blank(r[width - 1]) for r in rows):
        width -= 1
    headers: list[str] = []
    seen: dict[str, int] = {}
    for i in range(width):
        cell = header_cells[i] if i < len(header_cells) else None
        text = " ".join(str(cell).split()) if not _blank(cell) else f"(column {_letters(i)})"
        if text in seen:
            seen[text] += 1
            text = f"{text} ({seen[text]})"
        else:
            seen[text] = 1
        headers.append(text)
    body = [(r + [None] * (width - len(r)))[:width] for r in rows[1:]]
    return Sheet(
        path=path,
        kind=kind,
        name=name,
        headers=headers,
        rows=body,
        row_numbers=numbers[1:],
        header_row=numbers[0],
        encoding=encoding,
        sheet_names=sheet_names or [],
    )


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _letters(index: int) -> str:
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out

"""Moving in from a spreadsheet: rows -> normalized flat values -> records, every problem by row and column.

`plan_import` does all the work that decides anything and writes nothing: it reads the mapped cells,
normalizes them (`normalize`), keys each row (`source_key`: "<source>#<key cells>", or a hash of the
row when the sheet has no key column), finds the record an earlier import (or an export) made,
builds the record, validates it through the callback the façade gives (schema + rules), and sorts
rows into records to create, records to update, unchanged ones and problems. The façade then saves
the plan in one commit (`batch.commit_many`).

A sheet row only ever adds to what a record says: an empty cell never clears a field, a status word
never moves a record back, and a field whose sheet value equals the record's flat value (what export
writes) is left as it is, so re-importing a sheet, or importing an export, changes nothing.
Steps a status word implies but the sheet does not describe (the decision of a row marked "done", the
customer's outcome) come from the columns, then from the mapping's `defaults`; a step that has
neither is a problem of that row, never an invented fact. The dates of such steps are the latest
date the row gives, and their person is the one importing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, Literal

from kakotui.core.config import Config
from kakotui.core.ids import RecordId
from kakotui.core.record import parse_time
from kakotui.interchange import normalize as nz
from kakotui.interchange.checking import Verdict, check_records, validate_many
from kakotui.interchange.exporter import flatten
from kakotui.interchange.mapping import FIELDS, ColumnMapping, propose
from kakotui.interchange.rows import CellReader, Existing, RecordBuilder, RowProblem, SheetRow, field_of
from kakotui.interchange.sheets import Sheet
from kakotui.store.gitrepo import blob_sha

__all__ = [
    "Existing",
    "ImportPlan",
    "ImportRefused",
    "ImportResult",
    "LogView",
    "PlannedRecord",
    "RowProblem",
    "Verdict",
    "check_records",
    "existing_from_rows",
    "import_message",
    "plan_import",
    "validate_many",
]

Progress = Callable[[int, int], None]
PhaseProgress = Callable[[str, int, int], None]
"""(phase, done, total): phases are "reading", "checking" and "writing"."""
CheckMany = Callable[[Iterable[tuple[dict[str, Any], str]], int, Sequence[str]], "list[Verdict]"]
"""(records to check, how many at most, their ids) -> a Verdict each, in order."""


class ImportRefused(Exception):
    """The sheet as a whole cannot be imported (no header, a bad mapping); nothing was written."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems)


@dataclass
class PlannedRecord:
    row: int
    action: Literal["create", "update", "unchanged"]
    record: dict[str, Any]
    path: str
    expected_blob: str | None = None
    changed: list[str] = field(default_factory=list)
    text: bytes = b""  # canonical file content, made while checking
    index_row: tuple[Any, ...] = ()

    @property
    def id(self) -> str:
        return str(self.record["id"])


@dataclass
class ImportPlan:
    """What an import would do: nothing is written until the façade saves it."""

    source: str
    sheet_name: str
    kind: str
    rows: int
    mapping: ColumnMapping
    creates: list[PlannedRecord] = field(default_factory=list)
    updates: list[PlannedRecord] = field(default_factory=list)
    unchanged: list[PlannedRecord] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[RowProblem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def bad_rows(self) -> list[int]:
        return sorted({p.row for p in self.errors})

    @property
    def to_save(self) -> list[PlannedRecord]:
        return self.creates + self.updates

    def summary(self) -> str:
        parts = [
            f"{len(self.creates)} new",
            f"{len(self.updates)} updated",
            f"{len(self.unchanged)} unchanged",
        ]
        if self.bad_rows:
            parts.append(f"{len(self.bad_rows)} row(s) with problems")
        return f"{self.rows} row(s) from {self.source}: " + ", ".join(parts)


# ---------------------------------------------------------------------------------------------
# The plan


@dataclass
class LogView:
    """What planning needs to know of the log (given by the façade; no git here)."""

    config: Config
    person: str
    station: str
    existing: dict[str, Existing]  # id (and alias) -> record
    by_source: dict[str, Existing]  # source_key -> record
    max_seq: Callable[[str, int], int]
    path_exists: Callable[[str], bool]
    check_many: CheckMany


def looks_like_data(headers: Sequence[str]) -> bool:
    """Whether a 'header row' is really a row of values: dates, amounts, codes with digits, empty cells."""
    if not headers:
        return True
    data = 0
    for text in headers:
        if text.startswith("(column "):
            data += 1
            continue
        digits = sum(ch.isdigit() for ch in text)
        if digits and digits * 2 >= len(text.replace(" ", "")):
            data += 1
            continue
        try:
            nz.parse_datetime(text, UTC)
            data += 1
            continue
        except nz.BadValue:
            pass
        try:
            nz.parse_money(text, "CNY")
            data += 1
        except nz.BadValue:
            pass
    return data * 3 >= len(headers)


def plan_import(
    sheet: Sheet,
    view: LogView,
    *,
    mapping: ColumnMapping | None = None,
    progress: PhaseProgress | None = None,
) -> ImportPlan:
    """Everything an import of `sheet` would do, and every problem, without writing anything."""
    config = view.config
    proposed = mapping is None
    mapping = mapping or propose(sheet.headers, sheet.rows, source=sheet.name)
    source = mapping.source or sheet.name
    mapping.source = source
    if sheet.kind == "xlsx" and not mapping.sheet:
        mapping.sheet = sheet.name
    if not mapping.targets:
        hint = " The first row looks like data, not a header." if looks_like_data(sheet.headers) else ""
        raise ImportRefused(
            f"{sheet.path.name}: no column header matches a record field (row {sheet.header_row}: "
            f"{', '.join(repr(h) for h in sheet.headers[:6])}).{hint} Add a header row naming the columns "
            "(e.g. QC date, Vendor, SKU, Order, Issue, Status), or write a mapping file with --write-mapping "
            "and edit it."
        )
    errors, warnings = mapping.check_against(sheet.headers)
    if errors:
        if looks_like_data(sheet.headers):
            errors.append(f"row {sheet.header_row} looks like data, not a header row: add a header row")
        raise ImportRefused(f"{sheet.path.name}: the mapping does not fit this sheet", errors)
    plan = ImportPlan(source, sheet.name, sheet.kind, len(sheet.rows), mapping, warnings=list(warnings))
    if proposed and not mapping.key and not mapping.column_of("id") and not mapping.column_of("source_key"):
        plan.warnings.append(
            "no key column: rows are known by their content, so an edited row would come in as a new record; "
            "name a key column with `key:` in a mapping file (--write-mapping)"
        )
    for target in ("checked_at", "vendor", "sku", "order_id", "failure_code"):
        if (
            target not in mapping.targets
            and target not in mapping.defaults
            and "record_json" not in mapping.targets
        ):
            plan.warnings.append(f"no column fills {target}: rows without a record to update will fail")
    reader = CellReader(mapping, config, sheet)
    if mapping.day_first is None:
        date_columns = [p for t, p in reader.positions.items() if FIELDS[t].kind == "datetime"]
        reader.day_first = nz.day_first_for(r[p] for r in sheet.rows for p in date_columns)
    key_positions = [sheet.headers.index(k) for k in mapping.key]
    total = len(sheet.rows)
    rows: list[SheetRow] = []
    seen_keys: dict[str, int] = {}
    for n, (number, cells) in enumerate(zip(sheet.row_numbers, sheet.rows, strict=True), start=1):
        row = reader.read(number, cells)
        _key_row(row, cells, key_positions, reader, source, view, mapping)
        ident = str(row.values.get("id") or row.key or "")
        if ident and ident in seen_keys:
            column = mapping.column_of("id") or ", ".join(mapping.key) or "(whole row)"
            row.problems.append(
                RowProblem(
                    number,
                    column,
                    ident,
                    f"the same row key as row {seen_keys[ident]}: a row is imported once",
                )
            )
        else:
            seen_keys[ident] = number
        rows.append(row)
        if progress is not None and (n % 2000 == 0 or n == total):
            progress("reading", n, total)
    # Ids for new records, in the order they were checked (per station and year).
    allocator = _Allocator(view)
    new_rows = [r for r in rows if r.existing is None and r.record_id is None and not r.problems]
    new_rows.sort(
        key=lambda r: (
            str(r.values.get("checked_at") or (r.base or {}).get("qc", {}).get("checked_at") or ""),
            r.number,
        )
    )
    ids: dict[int, str] = {}
    for row in new_rows:
        station = str(
            row.values.get("station")
            or (row.base or {}).get("qc", {}).get("station")
            or mapping.defaults.get("station")
            or view.station
        )
        checked = parse_time(row.values.get("checked_at") or (row.base or {}).get("qc", {}).get("checked_at"))
        if checked is None:
            column = mapping.column_of("checked_at") or "(no column)"
            row.problems.append(
                RowProblem(
                    row.number, column, row.raw.get("checked_at", ""), "a QC date is required", "checked_at"
                )
            )
            continue
        allocated = allocator.next(station, checked.year)
        if allocated is None:
            row.problems.append(
                RowProblem(
                    row.number,
                    mapping.column_of("station") or "",
                    station,
                    f"station {station} has no free id left in {checked.year} (99,999 per station and year): "
                    "import these rows for another station (--station, or a station column)",
                    "station",
                )
            )
            continue
        ids[row.number] = allocated
    builder = RecordBuilder(mapping, config, view.person, source)
    built: list[tuple[SheetRow, dict[str, Any], str]] = []
    sound = [row for row in rows if not row.problems]
    plan.problems.extend(p for row in rows for p in row.problems)

    def build_all() -> Iterator[tuple[dict[str, Any], str]]:
        """Records are built while the first ones are already being checked in other processes."""
        for row in sound:
            record_id = row.existing.id if row.existing else row.record_id or ids[row.number]
            record = builder.build(row, record_id, row.problems)
            if row.problems:
                plan.problems.extend(row.problems)
                continue
            path = row.existing.path if row.existing else RecordId.parse(record_id).path
            if row.existing is not None and _same(row.base or row.existing.record(), record):
                # What the log holds already: nothing to check or write (a re-import is mostly this).
                plan.unchanged.append(PlannedRecord(row.number, "unchanged", record, path, row.existing.blob))
                continue
            built.append((row, record, path))
            yield record, path

    batch_ids = [r.existing.id if r.existing else r.record_id or ids[r.number] for r in sound]
    verdicts = view.check_many(build_all(), len(sound), batch_ids)
    for (row, record, path), verdict in zip(built, verdicts, strict=True):
        errors_ = [p for p in verdict.problems if p.severity == "error"]
        if errors_:
            for p in errors_:
                name = field_of(p.field)
                column = mapping.column_of(name) or (f"(no column: {name})" if name else "")
                plan.problems.append(
                    RowProblem(
                        row.number,
                        column,
                        row.raw.get(name, ""),
                        f"{p.field}: {p.message} [{p.rule}]" if p.field else f"{p.message} [{p.rule}]",
                        name,
                    )
                )
            continue
        text, index_row_ = verdict.text or b"", verdict.index_row or ()
        if row.existing is None:
            plan.creates.append(
                PlannedRecord(row.number, "create", record, path, text=text, index_row=index_row_)
            )
            continue
        old = row.existing.record()
        if (text and blob_sha(text) == row.existing.blob) or _same(old, record):
            plan.unchanged.append(PlannedRecord(row.number, "unchanged", record, path, row.existing.blob))
        else:
            before, after = flatten(old), flatten(record)
            diff = [
                k
                for k in after
                if k not in ("record_json", "reshipments", "total_cost") and before.get(k) != after.get(k)
            ]
            plan.updates.append(
                PlannedRecord(
                    row.number,
                    "update",
                    record,
                    path,
                    row.existing.blob,
                    diff or ["record"],
                    text,
                    index_row_,
                )
            )
    plan.problems.sort(key=lambda p: (p.row, p.column))
    return plan


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return json.dumps(a, sort_keys=True, ensure_ascii=False) == json.dumps(
        b, sort_keys=True, ensure_ascii=False
    )


def _key_row(
    row: SheetRow,
    cells: Sequence[Any],
    key_positions: Sequence[int],
    reader: CellReader,
    source: str,
    view: LogView,
    mapping: ColumnMapping,
) -> None:
    """Find what the row is: an existing record (by id, source key) or a new one with its source key."""
    base = row.values.get("record_json")
    if base is not None:
        row.base = base
    record_id = row.values.get("id")
    if record_id:
        existing = view.existing.get(record_id)
        if existing is not None:
            row.existing = existing
            row.base = existing.record()
        else:
            row.record_id = record_id
        key_value = row.values.get("source_key") or (base or {}).get("source_key")
        row.key = str(key_value) if key_value else None
        return
    key_value = row.values.get("source_key")
    if key_value:
        row.key = str(key_value)
    elif key_positions:
        parts = [nz.cell_text(cells[p]) for p in key_positions]
        if not all(parts):
            column = ", ".join(mapping.key)
            row.problems.append(
                RowProblem(row.number, column, "", "the key column is empty: every row needs its key")
            )
            return
        row.key = f"{source}#{'|'.join(parts)}"
    else:
        texts = [nz.cell_text(cells[p]) for _, p in sorted(reader.positions.items())]
        row.key = f"{source}#{nz.row_hash(texts)}"
    existing = view.by_source.get(row.key)
    if existing is not None:
        row.existing = existing
        row.base = existing.record()


_MAX_SEQ = 99_999  # ids have five digits per station and year


class _Allocator:
    def __init__(self, view: LogView) -> None:
        self.view = view
        self.next_seq: dict[tuple[str, int], int] = {}

    def next(self, station: str, year: int) -> str | None:
        """The next free id of `station` in `year`, or None when all 99,999 are taken."""
        key = (station, year)
        seq = self.next_seq.get(key)
        if seq is None:
            seq = self.view.max_seq(station, year) + 1
        while True:
            if seq > _MAX_SEQ:
                self.next_seq[key] = seq
                return None
            rid = RecordId(station, year, seq)
            seq += 1
            text = str(rid)
            if text not in self.view.existing and not self.view.path_exists(rid.path):
                break
        self.next_seq[key] = seq
        return text


def existing_from_rows(rows: Iterable[Sequence[Any]]) -> tuple[dict[str, Existing], dict[str, Existing]]:
    """(by id and alias, by source key) from index rows (id, path, blob, aliases, json)."""
    by_id: dict[str, Existing] = {}
    by_source: dict[str, Existing] = {}
    for rid, path, blob, aliases, text in rows:
        if text is None:
            continue
        item = Existing(str(rid), str(path), str(blob), str(text))
        by_id[item.id] = item
        for alias in str(aliases or "").split():
            by_id.setdefault(alias, item)
        if '"source_key"' in text:
            key = json.loads(text).get("source_key")
            if isinstance(key, str):
                by_source[key] = item
    return by_id, by_source


@dataclass
class ImportResult:
    """What an import did (or, with `dry_run`, would do)."""

    plan: ImportPlan
    commit: str | None = None
    dry_run: bool = False
    stopped: bool = False  # problems and --on-error stop: nothing was written

    @property
    def created(self) -> list[str]:
        return [] if self.stopped else [p.id for p in self.plan.creates]

    @property
    def updated(self) -> list[str]:
        return [] if self.stopped else [p.id for p in self.plan.updates]

    @property
    def skipped_rows(self) -> list[int]:
        return self.plan.bad_rows

    def summary(self) -> str:
        plan = self.plan
        if self.stopped:
            return (
                f"nothing imported: {len(plan.bad_rows)} of {plan.rows} row(s) have problems "
                "(fix them, or import the valid rows with --on-error skip)"
            )
        verb = "would create" if self.dry_run else "created"
        verb2 = "would update" if self.dry_run else "updated"
        text = (
            f"{verb} {len(plan.creates)}, {verb2} {len(plan.updates)}, {len(plan.unchanged)} unchanged"
            + (f", {len(plan.bad_rows)} row(s) skipped" if plan.bad_rows else "")
            + f" ({plan.rows} row(s) from {plan.source})"
        )
        if self.commit:
            text += f"; commit {self.commit[:10]}"
        return text


def import_message(plan: ImportPlan, file_name: str) -> str:
    """The commit message of an import: a summary subject, counts, and the trailers."""
    subject = f"import {file_name}: {len(plan.creates)} new, {len(plan.updates)} updated"
    body = [
        f"Source: {plan.source} ({plan.kind}{f', sheet {plan.sheet_name}' if plan.kind == 'xlsx' else ''}), "
        f"{plan.rows} row(s)",
        f"Created: {len(plan.creates)}; updated: {len(plan.updates)}; unchanged: {len(plan.unchanged)}; "
        f"skipped (problems): {len(plan.bad_rows)}",
    ]
    if plan.updates:
        fields = sorted({f for p in plan.updates for f in p.changed})
        body.append("Fields updated: " + ", ".join(fields[:30]))
    trailers = []
    saved = plan.to_save
    if len(saved) <= 20:
        trailers += [f"Kakotui-Record: {p.id}" for p in saved]
    trailers.append("Kakotui-Action: import")
    return f"{subject}\n\n" + "\n".join(body) + "\n\n" + "\n".join(trailers) + "\n"

"""The shortcuts of reading and building rows give what the long way gives.

`CellReader` reads each distinct text cell of a repeating kind once and skips blank cells early;
`RecordBuilder` works out the changed fields once per row and copies the record it updates.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from kakotui.interchange.mapping import ColumnMapping
from kakotui.interchange.rows import CellReader, RecordBuilder, SheetRow
from kakotui.interchange.sheets import Sheet
from tests.helpers import config, record

COLUMNS: dict[str, str | None] = {
    "Station": "station", "QC date": "checked_at", "Supplier": "vendor", "SKU": "sku", "Qty": "quantity",
    "Status": "status", "Reship cost": "reship_cost", "Responsible": "responsible", "Notes": "description",
}  # fmt: skip
HEADERS = list(COLUMNS)
MAPPING = ColumnMapping(columns=COLUMNS, source="legacy", day_first=True)
GOOD = ["SZ1", "20/11/2026 09:14", "HX Leather Goods", "HX-2231-BLK", "2 pcs", "done", "¥38.5", "vendor", "x"]
BAD = ["sz9", "2026-13-40", "Nobody Ltd", "'=SKU-1", "x", "bogus", "#REF!", "n/a", "   "]
BLANK = ["", None, "", "", "", "", "", "", ""]


def _sheet(kind: str, rows: list[list[Any]]) -> Sheet:
    return Sheet(Path(f"legacy.{kind}"), kind, "legacy", HEADERS, rows, list(range(2, len(rows) + 2)))


def _read_all(kind: str, rows: list[list[Any]]) -> tuple[list[SheetRow], list[SheetRow]]:
    """Each row read by one reader for the whole sheet, and by a fresh reader of its own (nothing remembered)."""
    sheet = _sheet(kind, rows)
    shared = CellReader(MAPPING, config(), sheet)
    together = [shared.read(n, cells) for n, cells in zip(sheet.row_numbers, sheet.rows, strict=True)]
    alone = [
        CellReader(MAPPING, config(), sheet).read(n, cells)
        for n, cells in zip(sheet.row_numbers, sheet.rows, strict=True)
    ]
    return together, alone


def test_repeated_cells_read_as_the_first_time() -> None:
    together, alone = _read_all("csv", [GOOD, BAD, GOOD, BAD, BLANK, BAD[:4]])
    assert together == alone
    good, bad, good_again, bad_again, blank, short = together
    assert good.values == good_again.values and not good.problems
    assert good.values["quantity"] == 2 and good.values["vendor"] == "hx-leather"
    assert good.values["status"] == ("closed", "resolved") and good.values["reship_cost"] == "38.50 CNY"
    # The same bad cells are problems of each row they are in, at that row.
    problems = [(p.row, p.column, p.value, p.message) for p in bad.problems]
    assert problems == [(3, *rest) for _, *rest in problems]
    assert [(p.column, p.value, p.message) for p in bad_again.problems] == [p[1:] for p in problems]
    assert {p.row for p in bad_again.problems} == {5}
    assert {p.column for p in bad.problems} == set(HEADERS[:3] + HEADERS[4:7])
    assert any("formula error" in p.message for p in bad.problems)
    # A quoted formula is an identifier's text; empty words and blanks say nothing.
    assert bad.values == {"sku": "=SKU-1"}
    assert bad.raw["responsible"] == "n/a" and bad.raw["description"] == ""
    assert blank.values == {} and not blank.problems and set(blank.raw.values()) == {""}
    assert short.raw["status"] == "" and "status" not in short.values


def test_cell_types_of_a_workbook_read_alike() -> None:
    when = datetime(2026, 11, 20, 9, 14)
    rows: list[list[Any]] = [
        ["SZ1", when, "HX Leather Goods", 2231, 2, "done", 38.5, "vendor", "Hinge"],
        ["SZ1", "2026-11-20 09:14", "hx-leather", "2231", 2.0, "Done", "38.5", "Vendor", "Hinge"],
        ["SZ1", when, "HX Leather Goods", 2231, "2", "DONE", 38.5, "vendor", "Hinge"],
        ["SZ1", when, "HX Leather Goods", 2231.5, 2.5, True, 1e16, 0, 0],
    ]
    together, alone = _read_all("xlsx", rows)
    assert together == alone
    assert together[0].values == together[1].values == together[2].values
    assert together[0].values["quantity"] == 2 and together[0].values["sku"] == "2231"
    assert together[3].raw["responsible"] == "0" and together[3].problems


def _row(values: dict[str, Any], base: dict[str, Any] | None) -> SheetRow:
    return SheetRow(7, {k: str(v) for k, v in values.items()}, values, base=base)


def test_updating_a_record_leaves_the_base_as_it_was() -> None:
    defaults = {"decision": "reship", "customer_outcome": "received-ok", "vendor_outcome": "credit",
                "responsible": "vendor"}  # fmt: skip
    builder = RecordBuilder(replace(MAPPING, defaults=defaults), config(), "Bench Runner", "legacy")
    for stage in ("open", "decided", "reshipping", "closed"):
        base = record(stage)
        before = copy.deepcopy(base)
        unchanged = builder.build(_row({"sku": base["qc"]["sku"]}, base), base["id"], [])
        assert json.dumps(unchanged, sort_keys=True) == json.dumps(base, sort_keys=True) and base == before
        problems: list[Any] = []
        closing = {"status": ("closed", "resolved"), "quantity": 3, "reship_cost": "38.50 CNY"}
        done = builder.build(_row(closing, base), base["id"], problems)
        assert not problems and base == before
        assert done["qc"]["quantity"] == 3 and done["closure"]["final_status"] == "resolved"
        done["qc"]["sku"] = "changed"
        for reship in done.get("reshipments", []):
            reship["costs"].append({})
        assert base == before


def test_a_new_record_takes_every_given_field() -> None:
    builder = RecordBuilder(MAPPING, config(), "Bench Runner", "legacy")
    values = {"checked_at": "2026-11-20T09:14:00+08:00", "vendor": "hx-leather", "sku": "HX-2231-BLK",
              "quantity": 2, "status": ("reshipping", None), "reship_cost": "38.50 CNY", "responsible": "vendor",
              "description": ""}  # fmt: skip
    row = _row(values, None)
    row.key = "legacy#T1"
    problems: list[Any] = []
    rec = builder.build(row, "SZ1-2026-00009", problems)
    assert not problems
    assert list(rec) == ["schema_version", "id", "source_key", "qc", "decision", "reshipments"]
    assert "description" not in rec["qc"]  # an empty value is no change
    assert rec["qc"]["quantity"] == 2 and rec["qc"]["inspector"] == "Bench Runner"
    assert rec["decision"]["action"] == "reship"
    assert rec["reshipments"][0]["total"] == {"amount": "38.50", "currency": "CNY"}
    assert rec["reshipments"][0]["costs"][0]["responsible"] == "vendor"

"""Messy spreadsheets as people keep them, written by the tests (CSV in UTF-8 with BOM and GBK, XLSX)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path
from typing import Any

from kakotui.log import ExceptionLog
from tests.helpers import git

HEADERS = ["Ticket", "QC date", "Supplier name", "SKU", "Order #", "Issue", "Qty", "Status", "Reship cost",
           "Responsible", "Carrier", "Tracking #", "Notes"]  # fmt: skip

# Stray spaces, names instead of ids, several date and money styles, status words, non-Latin text.
ROWS: list[list[Any]] = [
    ["T-001", "2026-11-20 09:14", " HX Leather Goods ", "HX-2231-BLK", "KB-118833", "Broken hinge", "1", "open",
     "", "", "", "", "Clasp hinge snapped on opening."],
    ["T-002", "21/11/2026 10:05", "acme bags", "0123", "KB-118834", "DEFECTIVE - Zipper", "2 pcs", "Reshipped",
     "¥38.5", "Supplier", "SF Express", "SF1234567890", "拉链头脱落。"],
    ["T-003", "2026年11月22日", "义乌", "BT-RC-2207", "KB-118835", "wrong item", "", "done", "38,50 €",
     "warehouse", "sf-express", "SF9988776655", ""],
    ["T-004", "Nov 23, 2026", "HX-LEATHER", "NO", "KB-118836", "damaged - packaging", "1", "  Open ", "-", "", "",
     "", "Box crushed\nsecond line"],
]  # fmt: skip

# The same sheet as a Chinese team keeps it (saved by Excel/WPS in GBK).
HEADERS_ZH = ["编号", "质检日期", "供应商", "货号", "订单号", "问题", "数量", "状态", "补发费用", "责任方", "快递公司",
              "快递单号", "备注"]  # fmt: skip
ROWS_ZH: list[list[Any]] = [
    ["1", "2026/11/20 09:14", "hx leather goods", "HX-2231-BLK", "KB-5001", "DEFECTIVE-Stitching", "1", "待处理", "", "", "",
     "", "走线开裂"],
    ["2", "2026年11月21日 10:00", "义乌", "BT-PB30", "KB-5002", "MISSING-PARTS-Manual", "3", "已补发", "￥12.00",
     "供应商", "SF Express", "SF5550001", "缺说明书"],
]  # fmt: skip

MAPPING_DEFAULTS = "defaults:\n  customer_outcome: received-ok\n"


def write_csv(path: Path, headers: list[str], rows: list[list[Any]], encoding: str = "utf-8-sig") -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path, headers: list[str], rows: list[list[Any]], *, title: str = "QC log") -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.title = title
    ws.append(headers)
    for row in rows:
        ws.append(row)
    book.save(path)
    return path


def xlsx_rows() -> list[list[Any]]:
    """ROWS with dates as a real Excel date, a serial number and text, and an SKU typed as a number."""
    rows = [list(r) for r in ROWS]
    rows[0][1] = datetime(2026, 11, 20, 9, 14)  # a date cell
    rows[1][1] = 46347.42013889  # 2026-11-21 10:05 as a plain serial number
    rows[2][3] = 2207  # a number where an SKU is
    rows[3][6] = 1.0
    return rows


def state(log: ExceptionLog) -> tuple[str, str, int]:
    """HEAD, `git status`, and the number of commits: all three unchanged means the log is unchanged."""
    head = git(log.root, "rev-parse", "HEAD").strip()
    status = git(log.root, "status", "--porcelain", "--untracked-files=all")
    count = int(git(log.root, "rev-list", "--count", "HEAD"))
    return head, status, count

"""Benchmark of `kakotui import` on a large legacy spreadsheet (and of export, and of re-import).

Builds a legacy-style exception sheet from the sample generator (ticket, QC date in mixed formats,
vendor names rather than ids, SKU, order, issue in words, quantity, status words, reship cost as
`¥38.5`, responsible, carrier name, tracking), writes it as CSV (UTF-8 with BOM) or XLSX, and times
in a fresh log of the sample config:

  - read: parsing the file into rows;
  - plan: normalizing every cell, keying rows, building and validating every record (schema + rules);
  - save: writing the files, the one commit, the index rows;
  - re-import of the same sheet (everything unchanged, nothing written);
  - export of the whole log to CSV.

Run: .venv/bin/python bench/bench_import.py [--rows 100000] [--format csv|xlsx] [--keep DIR] [--import-only]
Prints seconds per phase; results go to docs/, not to tests.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

from kakotui.core.record import status_of
from kakotui.interchange import sample
from kakotui.log import ExceptionLog
from kakotui.store.gitrepo import Identity

HEADERS = ["Ticket", "Station", "QC date", "Supplier", "SKU", "Order #", "Issue", "Qty", "Status", "Reship cost",
           "Responsible", "Carrier", "Tracking #", "Notes"]  # fmt: skip
_STATUS_WORDS = {"open": "Open", "decided": "in progress", "reshipping": "Reshipped",
                 "awaiting-confirmation": "delivered", "closed": "done"}  # fmt: skip


def legacy_rows(n: int) -> list[list[Any]]:
    """`n` rows of a realistic legacy sheet (one per generated record)."""
    # Two benches: one station may number at most 99,999 records a year.
    records = sample.generate(n, start=date(2026, 1, 1), end=date(2026, 11, 25), stations=["SZ1", "SZ2"])
    config = sample.sample_config()
    vendors = {v["id"]: v["name"] for v in config["vendors"]}
    carriers = {c["id"]: c["name"] for c in config["carriers"]}
    rows: list[list[Any]] = []
    for i, record in enumerate(records):
        qc = record["qc"]
        moment = datetime.fromisoformat(qc["checked_at"])
        when = (
            moment.strftime("%Y-%m-%d %H:%M")
            if i % 3 == 0
            else moment.strftime("%d/%m/%Y %H:%M")
            if i % 3 == 1
            else f"{moment.year}年{moment.month}月{moment.day}日"
        )
        status = status_of(record)
        first = (record.get("reshipments") or [{}])[0]
        decision = (record.get("decision") or {}).get("action")
        if decision not in (None, "reship") or (record.get("closure") or {}).get("final_status") not in (
            None,
            "resolved",
        ):
            status = "open"  # keep the legacy sheet simple: outcomes other than a reship come in as open
            first = {}
        cost = first.get("total")
        lines = first.get("costs") or []
        responsible = lines[0]["responsible"] if len(lines) == 1 else ""
        if cost and not responsible:
            status, first, cost = "open", {}, None
        rows.append(
            [
                f"T{i + 1:06d}",
                qc["station"],
                when,
                vendors[qc["vendor"]] if i % 2 else qc["vendor"].upper().replace("-", " "),
                qc["sku"],
                qc["order_id"],
                qc["failure_code"].replace("-", " - ", 1) if i % 4 == 0 else qc["failure_code"],
                str(qc["quantity"]),
                _STATUS_WORDS[status],
                f"¥{cost['amount']}"
                if cost and cost["currency"] == "CNY"
                else f"{cost['amount']} {cost['currency']}"
                if cost
                else "",
                responsible,
                carriers.get(first.get("carrier", ""), "") if first.get("tracking") else "",
                first.get("tracking", "") if first.get("carrier") else "",
                qc.get("description", "").split("\n")[0],
            ]
        )
    return rows


def write_sheet(rows: list[list[Any]], path: Path) -> None:
    if path.suffix == ".xlsx":
        import openpyxl

        book = openpyxl.Workbook(write_only=True)
        ws = book.create_sheet("Exceptions")
        ws.append(HEADERS)
        for row in rows:
            ws.append(row)
        book.save(path)
        return
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADERS)
        writer.writerows(rows)


MAPPING = """\
source: legacy
key: Ticket
columns:
  Ticket: ~
  Station: station
  QC date: checked_at
  Supplier: vendor
  SKU: sku
  'Order #': order_id
  Issue: failure_code
  Qty: quantity
  Status: status
  Reship cost: reship_cost
  Responsible: responsible
  Carrier: carrier
  'Tracking #': tracking
  Notes: description
defaults:
  decision: reship
  customer_outcome: received-ok
  vendor_outcome: credit
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    parser.add_argument("--keep", type=Path, help="build in this folder and keep it")
    parser.add_argument("--import-only", action="store_true", help="skip the re-import and the export")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="kakotui-bench-import-"))
    base.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("KAKOTUI_USER", "Bench Runner")
    os.environ.setdefault("KAKOTUI_EMAIL", "bench@example.invalid")
    try:
        t0 = time.perf_counter()
        rows = legacy_rows(args.rows)
        sheet_path = base / f"legacy.{args.format}"
        write_sheet(rows, sheet_path)
        (base / "map.yaml").write_text(MAPPING, encoding="utf-8")
        print(
            f"sheet: {len(rows):,} rows, {sheet_path.stat().st_size / 1e6:.1f} MB ({time.perf_counter() - t0:.1f} s to make)"
        )
        root = base / "log"
        shutil.rmtree(root, ignore_errors=True)
        log = ExceptionLog.init(root, station="SZ1", config=sample.sample_config(),
                                identity=Identity("Bench Runner", "bench@example.invalid"))  # fmt: skip
        mapping = log.load_mapping(base / "map.yaml")
        phases: dict[str, float] = {}
        marks: dict[str, float] = {}

        def progress(phase: str, done: int, total: int) -> None:
            marks.setdefault(phase, time.perf_counter())
            if done >= total:
                phases[phase] = time.perf_counter() - marks[phase]

        def cpu_now() -> float:
            """CPU seconds of this process (all its threads) and of its ended child processes."""
            own = resource.getrusage(resource.RUSAGE_SELF)
            kids = resource.getrusage(resource.RUSAGE_CHILDREN)
            return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

        # start from a disk with nothing pending: the sheet just written, a previous run's deleted tree
        os.sync()
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        cpu0 = cpu_now()
        t = time.perf_counter()
        sheet = log.read_sheet(sheet_path)
        read_s = time.perf_counter() - t
        t = time.perf_counter()
        cpu1 = cpu_now()
        plan = log.plan_import(sheet, mapping=mapping, progress=progress)
        plan_s = time.perf_counter() - t
        cpu2 = cpu_now()
        t = time.perf_counter()
        result = log.apply_import(plan, on_error="skip", file_name=sheet_path.name, progress=progress)
        save_s = time.perf_counter() - t
        total_s = time.perf_counter() - start
        cpu3 = cpu_now()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = usage.ru_utime + usage.ru_stime
        child_cpu = children.ru_utime + children.ru_stime
        print(f"import: {result.summary()}")
        for p in plan.problems[:5]:
            print(f"  problem: {p}")
        print(f"  read {read_s:.1f} s | plan {plan_s:.1f} s (of which checking {phases.get('checking', 0):.1f} s) "
              f"| save {save_s:.1f} s (writing files {phases.get('writing', 0):.1f} s) | total {total_s:.1f} s")  # fmt: skip
        print(f"  CPU so far: this process {cpu:.1f} s, child processes (validation pool, git) {child_cpu:.1f} s; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
        print(f"  CPU of the import (all processes): read {cpu1 - cpu0:.1f} s | plan {cpu2 - cpu1:.1f} s "
              f"| save {cpu3 - cpu2:.1f} s | total {cpu3 - cpu0:.1f} s; load average {load_before:.1f} "
              "before the import")  # fmt: skip
        if args.import_only:
            log.close()
            return
        t = time.perf_counter()
        again = log.import_(sheet_path, mapping=mapping, on_error="skip")
        print(f"re-import: {again.summary()} in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        exported = log.export(fmt="csv", path=base / "export.csv")
        print(f"export csv: {exported.records:,} records in {time.perf_counter() - t:.1f} s")
        status = log.git.run("status", "--porcelain", "--untracked-files=no").decode()
        print(f"git status after: {'clean' if not status else status[:200]}")
        log.close()
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()

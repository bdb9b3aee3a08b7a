"""The index rows (and report facts) an import writes from its already checked records are exactly
what a rebuild computes by reading the committed files again."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kakotui.interchange import checking, sample
from kakotui.log import ExceptionLog
from kakotui.store import index as index_module
from kakotui.store.index import COLUMNS
from tests.interchange.sheets import HEADERS, MAPPING_DEFAULTS, ROWS, write_csv

_TABLES = {
    "records": "path",
    "fact_records": "path",
    "cost_lines": "path, line, reship_ref",
    "recoveries": "path, contact",
}


def _tables(log: ExceptionLog) -> dict[str, list[tuple[Any, ...]]]:
    db = log.index.db
    return {
        table: db.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
        for table, order in _TABLES.items()
    }


def _same_as_rebuild(log: ExceptionLog) -> dict[str, list[tuple[Any, ...]]]:
    written = _tables(log)
    log.rebuild_index()
    rebuilt = _tables(log)
    for table in _TABLES:
        assert written[table] == rebuilt[table], table
    return written


@pytest.fixture(params=["in-process", "pool", "bulk"])
def where(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Check and render in this process, or in the worker processes (the path of a large import), and
    with the index rows written as a rebuild writes them (`Index.upsert_many`, a large import)."""
    if request.param in ("pool", "bulk"):
        monkeypatch.setattr(checking, "POOL_MIN", 1)
    if request.param == "bulk":
        monkeypatch.setattr(index_module, "_BULK_MIN", 1)
    return str(request.param)


def test_imported_sheet_index_rows_equal_a_rebuild(tmp_path: Path, where: str) -> None:
    from tests.helpers import make_log

    log = make_log(tmp_path / "log")
    sheet = write_csv(tmp_path / "sheet.csv", HEADERS, ROWS)
    mapping = log.propose_mapping(log.read_sheet(sheet))
    from kakotui.interchange.mapping import mapping_text

    (tmp_path / "map.yaml").write_text(
        mapping_text(mapping).replace("defaults: {}\nvalues: {}\n", MAPPING_DEFAULTS), encoding="utf-8"
    )
    result = log.import_(sheet, mapping=tmp_path / "map.yaml")
    assert len(result.created) == 4 and not result.plan.problems
    assert all(len(p.index_row) == len(COLUMNS) + 1 for p in result.plan.creates)  # row + facts
    tables = _same_as_rebuild(log)
    assert len(tables["records"]) == 4 and len(tables["fact_records"]) == 4 and tables["cost_lines"]


def test_save_many_and_imported_export_index_rows_equal_a_rebuild(tmp_path: Path, where: str) -> None:
    """Records at every stage (several reshipments, cost lines in two currencies, recoveries), saved
    with save_many, then exported and imported into a new log and updated there."""
    records = sample.generate(30, seed=5, start=date(2026, 9, 1), end=date(2026, 11, 25))
    log = ExceptionLog.init(tmp_path / "log", station="SZ1", config=sample.sample_config())
    log.save_many(records, "import", "sample records")
    tables = _same_as_rebuild(log)
    assert tables["recoveries"] and len({row[10] for row in tables["cost_lines"]}) >= 1
    out = tmp_path / "export.csv"
    log.export(fmt="csv", path=out)
    fresh = ExceptionLog.init(tmp_path / "fresh", station="SZ1", config=sample.sample_config())
    moved = fresh.import_(out)
    assert len(moved.created) == 30 and not moved.plan.problems
    moved_tables = _same_as_rebuild(fresh)
    assert moved_tables == tables
    # An update through an import (the record's index and fact rows replaced, not added)
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    rows[1][rows[0].index("sku")] = "SKU-CHANGED"
    with out.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows(rows)
    updated = fresh.import_(out)
    assert len(updated.updated) == 1 and not updated.created
    after = _same_as_rebuild(fresh)
    assert len(after["records"]) == 30 and len(after["fact_records"]) == 30
    assert any(row[3] == "SKU-CHANGED" for row in after["fact_records"])


def test_pool_and_this_process_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked in batches by the worker processes, the verdicts (problems, texts, index rows and
    facts) are those of checking everything in this process, in order."""
    from kakotui.core.config import Config
    from kakotui.core.ids import RecordId
    from kakotui.core.schemas import packaged

    records = sample.generate(40, seed=3, start=date(2026, 9, 1), end=date(2026, 11, 25))
    records[7]["qc"]["quantity"] = 0  # a schema problem
    records[21]["qc"]["vendor"] = "nobody-ltd"  # a rule problem (unknown vendor)
    items = [(r, RecordId.parse(r["id"]).path) for r in records]
    config, schemas = Config.from_data(sample.sample_config()), packaged()
    alone = checking.check_records(items, schemas, config, frozenset(), render=True, workers=1)
    monkeypatch.setattr(checking, "POOL_MIN", 1)
    monkeypatch.setattr(checking, "CHUNK", 3)
    seen: list[int] = []
    shared = checking.check_records(
        iter(items),
        schemas,
        config,
        frozenset(),
        render=True,
        total=len(items),
        batch_ids=[str(r["id"]) for r in records],
        progress=lambda done, _total: seen.append(done),
    )
    assert shared == alone
    assert [bool(v.problems) for v in shared].count(True) >= 2 and shared[7].text is None
    assert seen == sorted(seen) and seen[-1] == len(items)

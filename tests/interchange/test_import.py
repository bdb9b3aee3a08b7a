"""Importing messy sheets into a real log: normalizing, one commit, idempotence, updates, problems by row."""

from __future__ import annotations

from pathlib import Path

import pytest

from kakotui.core import yamlio
from kakotui.core.money import Money
from kakotui.log import ExceptionLog, LogError
from tests.helpers import git, make_log
from tests.interchange.sheets import (
    HEADERS,
    HEADERS_ZH,
    MAPPING_DEFAULTS,
    ROWS,
    ROWS_ZH,
    state,
    write_csv,
    write_xlsx,
    xlsx_rows,
)


@pytest.fixture
def log(tmp_path: Path) -> ExceptionLog:
    opened: ExceptionLog = make_log(tmp_path / "log")
    return opened


def _mapping(log: ExceptionLog, sheet: Path, tmp_path: Path, extra: str = MAPPING_DEFAULTS) -> Path:
    """The proposed mapping of a sheet, written to a file and edited the way a person would."""
    from kakotui.interchange.mapping import mapping_text

    proposal = log.propose_mapping(log.read_sheet(sheet))
    text = mapping_text(proposal).replace("defaults: {}\nvalues: {}\n", extra)
    assert extra in text
    path = tmp_path / "map.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _by_key(log: ExceptionLog) -> dict[str, dict]:  # type: ignore[type-arg]
    out = {}
    for path in sorted((log.root / "records").rglob("*.yaml")):
        record = yamlio.load(path.read_bytes())
        out[record.get("source_key", record["id"])] = record
    return out


def test_messy_utf8_csv_with_bom(log: ExceptionLog, tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "QC exceptions (1).csv", HEADERS, ROWS)
    before = state(log)
    result = log.import_(sheet, mapping=_mapping(log, sheet, tmp_path))
    assert not result.plan.problems, [str(p) for p in result.plan.problems]
    assert len(result.created) == 4 and result.commit
    records = _by_key(log)
    assert set(records) == {
        "QC exceptions#T-001",
        "QC exceptions#T-002",
        "QC exceptions#T-003",
        "QC exceptions#T-004",
    }
    first = records["QC exceptions#T-001"]
    assert first["id"] == "SZ1-2026-00001"  # ids follow the QC dates
    assert first["qc"]["vendor"] == "hx-leather"
    assert first["qc"]["checked_at"] == "2026-11-20T09:14:00+08:00"
    assert first["qc"]["inspector"] == "Test Runner"
    second = records["QC exceptions#T-002"]
    assert second["qc"]["sku"] == "0123" and second["qc"]["quantity"] == 2
    assert second["qc"]["vendor"] == "acme-bags" and second["qc"]["failure_code"] == "DEFECTIVE-Zipper"
    assert second["qc"]["checked_at"] == "2026-11-21T10:05:00+08:00"
    assert second["qc"]["description"] == "拉链头脱落。"
    reship = second["reshipments"][0]
    assert reship["total"] == {"amount": "38.50", "currency": "CNY"}
    assert reship["costs"][0]["responsible"] == "vendor"
    assert (reship["carrier"], reship["tracking"], reship["status"]) == (
        "sf-express",
        "SF1234567890",
        "shipped",
    )
    assert second["decision"]["action"] == "reship"
    third = records["QC exceptions#T-003"]
    assert third["qc"]["vendor"] == "yiwu-toys" and third["qc"]["failure_code"] == "WRONG-ITEM"
    assert third["reshipments"][0]["total"] == {"amount": "38.50", "currency": "EUR"}
    assert third["reshipments"][0]["status"] == "delivered"
    assert third["customer_confirmation"]["outcome"] == "received-ok"
    assert third["closure"]["final_status"] == "resolved"
    fourth = records["QC exceptions#T-004"]
    assert fourth["qc"]["sku"] == "NO" and "decision" not in fourth  # "  Open " is open; "-" is no cost
    assert fourth["qc"]["description"] == "Box crushed\nsecond line"
    # One commit, action import, with a summary; the log validates and git status is clean.
    _head, status, count = state(log)
    assert count == before[2] + 1 and status == ""
    message = git(log.root, "log", "-1", "--format=%B")
    assert message.startswith("import QC exceptions (1).csv: 4 new, 0 updated")
    assert "Kakotui-Action: import" in message and "Kakotui-Record: SZ1-2026-00004" in message
    assert log.validate()[1] == []
    assert {r["id"] for r in log.records()} == {r["id"] for r in records.values()}  # the index knows them


def test_gbk_csv_with_chinese_headers(log: ExceptionLog, tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "质检异常.csv", HEADERS_ZH, ROWS_ZH, encoding="gbk")
    result = log.import_(sheet)
    assert not result.plan.problems, [str(p) for p in result.plan.problems]
    assert result.plan.mapping.key == ["编号"]
    records = _by_key(log)
    one, two = records["质检异常#1"], records["质检异常#2"]
    assert one["qc"]["vendor"] == "hx-leather" and one["qc"]["checked_at"] == "2026-11-20T09:14:00+08:00"
    assert two["qc"]["vendor"] == "yiwu-toys" and two["qc"]["quantity"] == 3
    assert two["reshipments"][0]["total"] == {"amount": "12.00", "currency": "CNY"}
    assert two["reshipments"][0]["costs"][0]["responsible"] == "vendor"
    assert one["qc"]["description"] == "走线开裂"


def test_unknown_names_are_reported_then_mapped(log: ExceptionLog, tmp_path: Path) -> None:
    rows = [list(r) for r in ROWS_ZH]
    rows[0][2] = "某某皮具"  # a shop the config does not know
    sheet = write_csv(tmp_path / "zh.csv", HEADERS_ZH, rows, encoding="gbk")
    before = state(log)
    result = log.import_(sheet)
    assert result.stopped and result.commit is None and state(log) == before
    (problem,) = result.plan.problems
    assert (problem.row, problem.column, problem.value) == (2, "供应商", "某某皮具")
    assert "unknown vendor" in problem.message
    mapping = _mapping(log, sheet, tmp_path, extra="values:\n  vendor:\n    某某皮具: hx-leather\n")
    result = log.import_(sheet, mapping=mapping)
    assert len(result.created) == 2 and not result.plan.problems


def test_xlsx_dates_as_serials_and_text(log: ExceptionLog, tmp_path: Path) -> None:
    sheet = write_xlsx(tmp_path / "legacy.xlsx", HEADERS, xlsx_rows())
    result = log.import_(sheet, mapping=_mapping(log, sheet, tmp_path))
    assert not result.plan.problems, [str(p) for p in result.plan.problems]
    records = _by_key(log)
    assert set(records) == {f"QC log#T-00{n}" for n in range(1, 5)}  # source: the worksheet's title
    assert records["QC log#T-001"]["qc"]["checked_at"] == "2026-11-20T09:14:00+08:00"
    assert records["QC log#T-002"]["qc"]["checked_at"] == "2026-11-21T10:05:00+08:00"
    assert records["QC log#T-003"]["qc"]["checked_at"] == "2026-11-22T00:00:00+08:00"
    assert records["QC log#T-003"]["qc"]["sku"] == "2207"


def test_reimport_creates_nothing_and_commits_nothing(log: ExceptionLog, tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "sheet.csv", HEADERS, ROWS)
    mapping = _mapping(log, sheet, tmp_path)
    log.import_(sheet, mapping=mapping)
    before = state(log)
    again = log.import_(sheet, mapping=mapping)
    assert (len(again.created), len(again.updated), len(again.plan.unchanged)) == (0, 0, 4)
    assert again.commit is None and state(log) == before
    # A sheet without a key column is keyed by a hash of each row: unchanged rows stay unchanged too.
    # (no ticket column, and order + SKU do not tell the two rows apart: the same item failed twice)
    bare_rows = [r[1:] for r in ROWS[:2]]
    bare_rows[1][2:4] = bare_rows[0][2:4]
    bare = write_csv(tmp_path / "bare.csv", HEADERS[1:], bare_rows)
    first = log.import_(bare)
    assert len(first.created) == 2 and any("no key column" in w for w in first.plan.warnings)
    assert len(log.import_(bare).plan.unchanged) == 2


def test_updated_sheet_updates_what_changed_in_one_commit(log: ExceptionLog, tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "sheet.csv", HEADERS, ROWS)
    mapping = _mapping(log, sheet, tmp_path)
    log.import_(sheet, mapping=mapping)
    target = _by_key(log)["sheet#T-002"]["id"]
    # Someone works the record in kakotui after the import: the sheet must not undo it.
    log.contact_vendor(
        target,
        channel="chat",
        summary="Seller will credit.",
        outcome="credit",
        recovered=Money.parse("20CNY"),
    )
    rows = [list(r) for r in ROWS]
    rows[1][11] = "SF0000000001"  # a corrected tracking number
    rows[3][5] = "DAMAGED-Crushed"  # a corrected failure code
    rows[0][12] = ""  # an emptied cell clears nothing
    write_csv(sheet, HEADERS, rows)
    before = state(log)
    dry = log.import_(sheet, mapping=mapping, dry_run=True)
    assert state(log) == before
    assert {(p.id, tuple(p.changed)) for p in dry.plan.updates} == {
        (target, ("tracking",)),
        (_by_key(log)["sheet#T-004"]["id"], ("failure_code",)),
    }
    result = log.import_(sheet, mapping=mapping)
    assert len(result.updated) == 2 and not result.created and state(log)[2] == before[2] + 1
    changed = git(log.root, "show", "--name-only", "--format=", "HEAD").split()
    assert len(changed) == 2
    records = _by_key(log)
    assert records["sheet#T-002"]["reshipments"][0]["tracking"] == "SF0000000001"
    assert records["sheet#T-002"]["vendor_contacts"][0]["outcome"] == "credit"  # kept
    assert records["sheet#T-001"]["qc"]["description"] == "Clasp hinge snapped on opening."


def test_problems_by_row_and_column_and_on_error(log: ExceptionLog, tmp_path: Path) -> None:
    rows = [list(r) for r in ROWS]
    rows[0][1] = "yesterday"
    rows[0][2] = "Nobody Ltd"
    rows[2][8] = "about 40"
    rows.append(["T-002", "2026-11-24", "acme bags", "X1", "KB-9", "Stain", "1", "open", "", "", "", "", ""])
    mapping = _mapping(log, write_csv(tmp_path / "sheet.csv", HEADERS, ROWS), tmp_path)  # key: Ticket
    sheet = write_csv(tmp_path / "sheet.csv", HEADERS, rows)
    before = state(log)
    stopped = log.import_(sheet, mapping=mapping)
    assert stopped.stopped and state(log) == before
    found = {(p.row, p.column, p.value) for p in stopped.plan.problems}
    assert found == {
        (2, "QC date", "yesterday"),
        (2, "Supplier name", "Nobody Ltd"),
        (4, "Reship cost", "about 40"),
        (6, "Ticket", "sheet#T-002"),
    }
    assert "same row key as row 3" in next(p.message for p in stopped.plan.problems if p.row == 6)
    skipped = log.import_(sheet, mapping=mapping, on_error="skip")
    assert sorted(skipped.skipped_rows) == [2, 4, 6] and len(skipped.created) == 2
    assert "skipped (problems): 3" in git(log.root, "log", "-1", "--format=%B")


def test_closing_rows_need_an_outcome_not_an_invented_one(log: ExceptionLog, tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "sheet.csv", HEADERS, ROWS)
    result = log.import_(sheet)  # the proposed mapping has no defaults
    (problem,) = result.plan.problems
    assert (problem.row, problem.column, problem.value) == (4, "Status", "done")
    assert "customer's outcome" in problem.message and "defaults: customer_outcome" in problem.message


def test_station_option_numbers_new_records(log: ExceptionLog, tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "sheet.csv", HEADERS, ROWS[:1])
    result = log.import_(sheet, station="SZ2")
    assert result.created == ["SZ2-2026-00001"]
    with pytest.raises(LogError, match="unknown station 'XX9'"):
        log.import_(sheet, station="XX9")


def test_a_large_sheet_is_checked_in_parallel_and_rows_keep_their_numbers(
    log: ExceptionLog, tmp_path: Path
) -> None:
    rows = [
        [f"L-{n:05d}", f"2026-11-{1 + n % 25:02d} 10:{n % 60:02d}", "acme bags", f"SKU-{n}", f"KB-{n}", "Stain",
         "1", "open", "", "", "", "", ""]
        for n in range(3100)
    ]  # fmt: skip
    rows[1499][6] = "0"  # sheet row 1501: a quantity the schema refuses (found by the worker processes)
    sheet = write_csv(tmp_path / "big.csv", HEADERS, rows)
    result = log.import_(sheet, on_error="skip")
    (problem,) = result.plan.problems
    assert (problem.row, problem.column, problem.value) == (1501, "Qty", "0")
    assert "must be at least 1" in problem.message
    assert len(result.created) == 3099
    first = min(result.plan.creates, key=lambda p: p.id)
    assert first.record["qc"]["checked_at"] == "2026-11-01T10:00:00+08:00"  # ids follow the QC dates
    assert state(log)[1] == ""


def test_no_free_id_is_a_row_problem(log: ExceptionLog, tmp_path: Path) -> None:
    from tests.helpers import record

    log.save_many([record("open", rid="SZ1-2026-99999")], "import", "the last id of the year")
    sheet = write_csv(tmp_path / "sheet.csv", HEADERS, ROWS[:1])
    result = log.import_(sheet)
    (problem,) = result.plan.problems
    assert "station SZ1 has no free id left in 2026" in problem.message and result.stopped
    assert log.import_(sheet, station="SZ2").created == ["SZ2-2026-00001"]


def test_an_import_pauses_the_cyclic_garbage_collector_and_turns_it_back_on(
    log: ExceptionLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading, planning and saving run with the collector paused (its full collections rescan an
    import's growing heap); it is on again afterwards, also after a refused import, and a caller that
    had it off keeps it off."""
    import gc

    from kakotui.interchange import importer

    seen: list[bool] = []
    plan = importer.plan_import
    monkeypatch.setattr(importer, "plan_import", lambda *a, **k: seen.append(gc.isenabled()) or plan(*a, **k))
    sheet = write_csv(tmp_path / "sheet.csv", HEADERS, ROWS)
    assert gc.isenabled()
    result = log.import_(sheet, mapping=_mapping(log, sheet, tmp_path))
    assert result.created and seen == [False] and gc.isenabled()
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(LogError):
        log.import_(empty)
    assert gc.isenabled()
    gc.disable()
    try:
        log.import_(sheet, mapping=_mapping(log, sheet, tmp_path))
        assert not gc.isenabled()
    finally:
        gc.enable()

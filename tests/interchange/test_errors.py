"""Bad input: each a clear message, nothing half-written, the log unchanged (HEAD, git status, commits)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kakotui.log import ExceptionLog, LogError
from tests.helpers import make_log
from tests.interchange.sheets import HEADERS, ROWS, state, write_csv, write_xlsx


@pytest.fixture
def log(tmp_path: Path) -> ExceptionLog:
    opened: ExceptionLog = make_log(tmp_path / "log")
    # Something already in the log, so that "unchanged" is about more than an empty folder.
    opened.import_(write_csv(tmp_path / "first.csv", HEADERS, ROWS[:1]))
    return opened


def _refused(log: ExceptionLog, path: Path, match: str, **options: object) -> str:
    before = state(log)
    with pytest.raises(LogError, match=match) as caught:
        log.import_(path, **options)  # type: ignore[arg-type]
    assert state(log) == before
    return str(caught.value)


def test_unreadable_files(log: ExceptionLog, tmp_path: Path) -> None:
    _refused(log, tmp_path / "missing.csv", r"cannot read .*missing\.csv: No such file")
    (tmp_path / "folder.csv").mkdir()
    _refused(log, tmp_path / "folder.csv", "is a folder, not a spreadsheet file")
    (tmp_path / "empty.csv").write_bytes(b"")
    _refused(log, tmp_path / "empty.csv", "empty.csv is empty")
    (tmp_path / "old.xls").write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 600)
    _refused(log, tmp_path / "old.xls", r"old Excel \.xls workbook; open it and save it as \.xlsx")
    (tmp_path / "broken.xlsx").write_bytes(b"PK\x03\x04" + os.urandom(300))
    _refused(log, tmp_path / "broken.xlsx", "broken.xlsx is not a readable XLSX workbook")
    (tmp_path / "renamed.xlsx").write_text("Vendor,SKU\nacme,1\n")
    _refused(log, tmp_path / "renamed.xlsx", "not an XLSX workbook .* is it a CSV renamed")
    (tmp_path / "photo.csv").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    _refused(log, tmp_path / "photo.csv", "not a text file")


def test_wrong_encoding(log: ExceptionLog, tmp_path: Path) -> None:
    sheet = tmp_path / "latin.csv"
    sheet.write_bytes("Vendor,SKU,Notes\nacme bags,X1,Crème brûlée ¼\n".encode("cp1252"))
    message = _refused(log, sheet, "cannot tell the text encoding")
    assert "line 2 is neither UTF-8 nor GBK/GB18030" in message and "CSV UTF-8" in message


def test_header_less_sheet(log: ExceptionLog, tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "no-header.csv", HEADERS, ROWS)
    sheet.write_text("\n".join(sheet.read_text("utf-8-sig").splitlines()[1:]) + "\n", encoding="utf-8")
    message = _refused(log, sheet, "no column header matches a record field")
    assert "The first row looks like data, not a header" in message and "--write-mapping" in message
    mapping = tmp_path / "map.yaml"
    mapping.write_text("columns:\n  QC date: checked_at\n  Vendor: vendor\n", encoding="utf-8")
    message = _refused(log, sheet, "the mapping does not fit this sheet", mapping=mapping)
    assert "'QC date', 'Vendor'" in message and "looks like data, not a header row" in message


def test_formula_error_cells(log: ExceptionLog, tmp_path: Path) -> None:
    rows = [list(r) for r in ROWS]
    rows[1][8] = "#REF!"
    rows[2][6] = "#DIV/0!"
    rows[3][12] = "#N/A"  # in a column that is not imported it would not matter; Notes is imported
    sheet = write_xlsx(tmp_path / "formulas.xlsx", HEADERS, rows)
    import openpyxl

    cell = openpyxl.load_workbook(sheet).active["I3"]  # type: ignore[index]
    assert cell.data_type == "e"  # a real error cell, as Excel writes it
    before = state(log)
    result = log.import_(sheet)
    assert result.stopped and state(log) == before
    found = {(p.row, p.column, p.value) for p in result.plan.problems if "formula error" in p.message}
    assert found == {(3, "Reship cost", "#REF!"), (4, "Qty", "#DIV/0!"), (5, "Notes", "#N/A")}


def test_file_over_the_size_cap(log: ExceptionLog, tmp_path: Path) -> None:
    big = tmp_path / "huge.csv"
    with big.open("wb") as handle:
        handle.write(b"Vendor,SKU\n")
        handle.truncate(100 * 1024 * 1024)  # 100 MB (sparse: no disk used)
    message = _refused(log, big, "huge.csv is 105 MB; the import limit is 67 MB")
    assert "Split the sheet" in message


def test_bad_mapping_file(log: ExceptionLog, tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "sheet.csv", HEADERS, ROWS)
    mapping = tmp_path / "map.yaml"
    mapping.write_text("columns:\n  Supplier name: supplier\n", encoding="utf-8")
    _refused(log, sheet, r"columns.Supplier name: unknown field 'supplier'", mapping=mapping)
    _refused(log, sheet, "cannot read the mapping", mapping=tmp_path / "nope.yaml")


def test_a_file_that_appears_meanwhile_stops_the_whole_import(log: ExceptionLog, tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "sheet.csv", HEADERS, ROWS)
    plan = log.plan_import(log.read_sheet(sheet), mapping=None)
    taken = log.root / plan.creates[-1].path
    taken.parent.mkdir(parents=True, exist_ok=True)
    taken.write_text("someone else's\n")
    head = state(log)[0]
    with pytest.raises(LogError, match="was created by someone else since the import was planned"):
        log.apply_import(plan, on_error="skip")
    assert state(log)[0] == head
    taken.unlink()
    assert state(log)[1] == ""  # none of the other files was written


def test_a_failed_commit_puts_every_file_back(log: ExceptionLog, tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "sheet.csv", HEADERS, ROWS)
    rows = [list(r) for r in ROWS]
    rows[0][12] = "An updated note."  # T-001 exists already: this is an update, the others are new
    write_csv(sheet, HEADERS, rows)
    before, indexed = state(log), _index_counts(log)
    first = next((log.root / "records").rglob("*.yaml"))
    original = first.read_bytes()
    lock = log.git.git_dir / "refs" / "heads" / "main.lock"
    lock.mkdir()  # git cannot take the branch's lock: the commit fails after the files were written
    try:
        with pytest.raises(Exception, match=r"update-ref|lock"):
            log.import_(sheet, on_error="skip")
    finally:
        lock.rmdir()
    assert state(log) == before
    assert first.read_bytes() == original
    assert len(list((log.root / "records").rglob("*.yaml"))) == 1
    # the index rows, written while git made the commit, were rolled back with it
    assert _index_counts(log) == indexed


def _index_counts(log: ExceptionLog) -> tuple[int, ...]:
    db = log.index.db
    assert not db.in_transaction
    return tuple(
        db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in ("records", "fact_records", "cost_lines", "recoveries")
    )


def test_a_large_import_whose_commit_fails_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checked by the worker processes, written by the file threads while git packs the records and
    the index rows go in: a commit that fails at the end leaves no file, no index row, no ref; the
    same import then works."""
    from datetime import date

    from kakotui.interchange import checking, sample
    from kakotui.store import gitrepo

    monkeypatch.setattr(checking, "POOL_MIN", 1)
    monkeypatch.setattr(checking, "CHUNK", 7)
    monkeypatch.setattr(gitrepo, "_PIPE_MAX", 0)  # git fast-import reads its stream from a file
    log = ExceptionLog.init(tmp_path / "log", station="SZ1", config=sample.sample_config())
    log.save_many(sample.generate(60, seed=9, start=date(2026, 9, 1), end=date(2026, 11, 25)), "import", "m")
    out = tmp_path / "export.csv"
    log.export(fmt="csv", path=out)
    fresh = ExceptionLog.init(tmp_path / "fresh", station="SZ1", config=sample.sample_config())
    fresh.refresh()
    before, indexed = state(fresh), _index_counts(fresh)
    lock = fresh.git.git_dir / "refs" / "heads" / "main.lock"
    lock.mkdir()
    try:
        with pytest.raises(Exception, match=r"update-ref|lock"):
            fresh.import_(out, on_error="skip")
    finally:
        lock.rmdir()
    assert state(fresh) == before and _index_counts(fresh) == indexed
    assert not list((fresh.root / "records").rglob("*.yaml"))
    result = fresh.import_(out, on_error="skip")  # the same import, once the lock is gone
    assert len(result.created) == 60 and result.commit
    assert _index_counts(fresh)[:2] == (60, 60)
    assert fresh.git.run("status", "--porcelain", "--untracked-files=all").decode() == ""

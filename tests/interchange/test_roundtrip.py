"""Export, then import again: the same records, in the same log (nothing changes) and in a new one."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kakotui.core.problems import InvalidRecord
from kakotui.interchange import sample
from kakotui.log import ExceptionLog
from tests.helpers import git
from tests.interchange.sheets import state


def _new_log(path: Path) -> ExceptionLog:
    return ExceptionLog.init(path, station="SZ1", config=sample.sample_config())


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    """Records at every stage: several reshipments and cost lines, evidence, contacts, reopenings, traps."""
    return sample.generate(40, seed=11, start=date(2026, 9, 1), end=date(2026, 11, 25))


@pytest.fixture
def log(tmp_path: Path, records: list[dict[str, Any]]) -> ExceptionLog:
    opened = _new_log(tmp_path / "log")
    commit = opened.save_many(records, "import", "Sample records for the round trip")
    assert git(opened.root, "log", "-1", "--format=%H").strip() == commit
    return opened


def _all(log: ExceptionLog) -> dict[str, dict[str, Any]]:
    return {r["id"]: json.loads(r["json"]) for r in log.records(columns=["id", "json"])}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_then_import_gives_the_same_records(log: ExceptionLog, tmp_path: Path, fmt: str) -> None:
    assert any(len(r.get("reshipments") or []) > 1 for r in _all(log).values())  # the hard cases are there
    out = tmp_path / f"export.{fmt}"
    result = log.export(fmt=fmt, path=out)
    assert result.records == 40 and result.rows == 40
    # Into the same log: nothing changes, nothing is committed.
    before = state(log)
    again = log.import_(out)
    assert not again.plan.problems, [str(p) for p in again.plan.problems[:5]]
    assert (len(again.created), len(again.updated), len(again.plan.unchanged)) == (0, 0, 40)
    assert state(log) == before
    # Into a new log: the same records, ids included.
    fresh = _new_log(tmp_path / "fresh")
    moved = fresh.import_(out)
    assert len(moved.created) == 40 and not moved.plan.problems
    assert _all(fresh) == _all(log)
    assert fresh.validate()[1] == []


def test_an_edited_export_updates_what_was_edited(log: ExceptionLog, tmp_path: Path) -> None:
    out = tmp_path / "export.csv"
    log.export(fmt="csv", path=out)
    rows = list(csv.DictReader(io.StringIO(out.read_text("utf-8-sig"))))
    target = next(r for r in rows if r["tracking"] and r["reshipments"] == "1")
    target["tracking"] = "SF0000000042"
    plain = next(r for r in rows if r["status"] == "open" and r["severity"] != "critical")
    plain["severity"] = "critical"
    plain["description"] = "Seen again on a second unit."
    with out.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = log.import_(out)
    assert {p.id: p.changed for p in result.plan.updates} == {
        target["id"]: ["tracking"],
        plain["id"]: ["severity", "description"],
    }
    records = _all(log)
    assert records[target["id"]]["reshipments"][0]["tracking"] == "SF0000000042"
    assert records[plain["id"]]["qc"]["severity"] == "critical"


def test_export_formats_and_lines(log: ExceptionLog, tmp_path: Path) -> None:
    stream = io.StringIO()
    log.export("status:closed", fmt="jsonl", stream=stream)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines and all(r["closure"] for r in lines)
    assert lines == [r for r in _all(log).values() if r.get("closure")]
    stream = io.StringIO()
    log.export(fmt="json", stream=stream)
    assert len(json.loads(stream.getvalue())) == 40
    costs = log.export(fmt="csv", path=tmp_path / "lines.csv", lines=True)
    expected = sum(len(s["costs"]) for r in _all(log).values() for s in r.get("reshipments") or [])
    assert costs.rows == expected and costs.records == 40
    table = list(csv.DictReader(io.StringIO((tmp_path / "lines.csv").read_text("utf-8-sig"))))
    assert {row["amount"] for row in table} and all("." in row["amount"] for row in table)
    xlsx = log.export(fmt="xlsx", path=tmp_path / "lines.xlsx", lines=True)
    assert xlsx.rows == expected


def test_cells_that_look_like_formulas_stay_text(tmp_path: Path) -> None:
    from tests.helpers import make_log, record

    log = make_log(tmp_path / "log")
    rec = record("open")
    rec["qc"]["item_title"] = '=HYPERLINK("http://x.invalid","click")'
    rec["qc"]["sku"] = "-42"
    log.save_many([rec], "import", "one")
    log.export(fmt="csv", path=tmp_path / "e.csv")
    text = (tmp_path / "e.csv").read_text("utf-8-sig")
    assert "'=HYPERLINK" in text and ",'-42," in text
    log.export(fmt="xlsx", path=tmp_path / "e.xlsx")
    import openpyxl

    sheet = openpyxl.load_workbook(tmp_path / "e.xlsx").active
    assert sheet is not None
    cells = {c.value: c.data_type for c in sheet[2]}
    assert cells['=HYPERLINK("http://x.invalid","click")'] == "s"
    for path in (tmp_path / "e.csv", tmp_path / "e.xlsx"):
        assert len(log.import_(path).plan.unchanged) == 1


def test_save_many_refuses_invalid_records_whole(tmp_path: Path) -> None:
    from tests.helpers import make_log, record

    log = make_log(tmp_path / "log")
    before = state(log)
    bad = record("open", rid="SZ1-2026-00002")
    bad["qc"]["vendor"] = "nobody"
    with pytest.raises(InvalidRecord) as caught:
        log.save_many([record("open"), bad], "import", "two")
    assert [p.rule for p in caught.value.problems] == ["rule:vendor-known"]
    assert state(log) == before
    assert not list(log.root.glob("records/**/*.yaml"))

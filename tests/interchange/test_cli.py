"""`kakotui import` and `kakotui export` on a real log: output, files, exit codes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kakotui.cli import main
from kakotui.log import ExceptionLog
from tests.helpers import git, make_log
from tests.interchange.sheets import HEADERS, ROWS, state, write_csv


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    log = make_log(tmp_path / "log")
    log.close()
    return tmp_path / "log"


def run(repo: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--repo", str(repo), *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _state(repo: Path) -> tuple[str, str, int]:
    with ExceptionLog.open(repo) as log:
        return state(log)


def test_import_dry_run_then_for_real(repo: Path, tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "sheet.csv", HEADERS, ROWS[:2] + ROWS[3:])
    before = _state(repo)
    code, out, err = run(repo, "import", str(sheet), "--dry-run")
    assert code == 0 and _state(repo) == before
    assert out.splitlines() == [
        "would create SZ1-2026-00001  row 2  hx-leather HX-2231-BLK DEFECTIVE-BrokenHinge  (open)",
        "would create SZ1-2026-00002  row 3  acme-bags 0123 DEFECTIVE-Zipper  (reshipping)",
        "would create SZ1-2026-00003  row 4  hx-leather NO DAMAGED-Packaging  (open)",
    ]
    assert "would create 3, would update 0, 0 unchanged" in err
    code, out, err = run(repo, "import", str(sheet))
    assert code == 0 and "created 3, updated 0, 0 unchanged (3 row(s) from sheet); commit" in err
    assert _state(repo)[2] == before[2] + 1
    code, out, err = run(repo, "import", str(sheet), "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["create"] == [] and data["unchanged"] == 3 and data["commit"] is None


def test_import_problems_exit_1_and_skip(repo: Path, tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "sheet.csv", HEADERS, ROWS)
    before = _state(repo)
    code, _out, err = run(repo, "import", str(sheet))
    assert code == 1 and _state(repo) == before
    assert "row 4, column 'Status' = 'done': closing this record needs the customer's outcome" in err
    assert "nothing imported: 1 of 4 row(s) have problems" in err
    code, _out, err = run(repo, "import", str(sheet), "--on-error", "skip")
    assert code == 0 and "created 3, updated 0, 0 unchanged, 1 row(s) skipped" in err


def test_write_mapping_then_use_it(repo: Path, tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "sheet.csv", HEADERS, ROWS)
    mapping = tmp_path / "map.yaml"
    code, out, err = run(repo, "import", str(sheet), "--write-mapping", str(mapping))
    assert code == 0 and mapping.is_file() and _state(repo)[2] == 1
    assert "Supplier name" in out and "-> vendor" in out and "key: Ticket" in out
    code, _, err = run(repo, "import", str(sheet), "--write-mapping", str(mapping))
    assert code == 1 and "already exists" in err
    mapping.write_text(
        mapping.read_text("utf-8").replace("defaults: {}", "defaults:\n  customer_outcome: received-ok")
    )
    code, out, err = run(repo, "import", str(sheet), "--mapping", str(mapping))
    assert code == 0 and "created 4" in err
    mapping.write_text("columns:\n  Ticket: tiket\n", encoding="utf-8")
    code, out, err = run(repo, "import", str(sheet), "--mapping", str(mapping))
    assert code == 1 and "unknown field 'tiket'" in err


def test_import_refuses_bad_files_cleanly(repo: Path, tmp_path: Path) -> None:
    code, _, err = run(repo, "import", str(tmp_path / "nope.csv"))
    assert code == 1 and err.startswith("error: cannot read") and "Traceback" not in err
    bad = tmp_path / "bad.csv"
    bad.write_bytes("Vendor,Notes\nacme,Crème brûlée ¼\n".encode("cp1252"))
    code, _, err = run(repo, "import", str(bad))
    assert code == 1 and "cannot tell the text encoding" in err


def test_export_formats(repo: Path, tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "sheet.csv", HEADERS, ROWS[:2])
    assert run(repo, "import", str(sheet))[0] == 0
    code, out, err = run(repo, "export", "vendor:acme-bags")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert (
        code == 0 and [r["id"] for r in rows] == ["SZ1-2026-00002"] and rows[0]["reship_cost"] == "38.50 CNY"
    )
    assert "exported 1 record(s), 1 row(s) (csv)" in err
    code, out, err = run(repo, "export", "--lines")
    assert code == 0 and next(iter(csv.DictReader(io.StringIO(out))))["amount"] == "38.50"
    code, out, _ = run(repo, "export", "--format", "jsonl")
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["SZ1-2026-00001", "SZ1-2026-00002"]
    code, _, err = run(repo, "export", "-o", str(tmp_path / "out.xlsx"))
    assert code == 0 and (tmp_path / "out.xlsx").is_file() and "to " in err and "(xlsx)" in err
    code, _, err = run(repo, "export", "--format", "xlsx")
    assert code == 2 and "needs a file" in err
    code, _, err = run(repo, "export", "vendr:x")
    assert code == 2 and "error in query" in err
    code, _, err = run(repo, "export", "-o", str(tmp_path / "no" / "such" / "dir.csv"))
    assert code == 1 and "export failed" in err
    assert not list((tmp_path / "out.xlsx").parent.glob(".*.tmp"))
    assert git(repo, "status", "--porcelain") == ""

"""The façade on real git repositories: saves, commits, authors, trailers, ids, the index."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kakotui.core.lifecycle import CostLine
from kakotui.core.money import Money
from kakotui.core.problems import InvalidRecord
from kakotui.log import ExceptionLog, LogError
from kakotui.store.gitrepo import Identity
from tests.helpers import git, make_log, qc


@pytest.fixture
def log(tmp_path: Path) -> ExceptionLog:
    lg = make_log(tmp_path / "log")
    lg.refresh()
    yield lg
    lg.close()


def new_qc(**over: object) -> dict[str, object]:
    fields = qc(**over)
    for key in ("checked_at", "site", "station", "inspector"):
        if key not in over:
            fields.pop(key, None)
    return fields


def test_init_creates_a_log(tmp_path: Path) -> None:
    lg = make_log(tmp_path / "log")
    root = lg.root
    for rel in [
        "kakotui.yaml",
        "schema/exception.schema.json",
        "schema/config.schema.json",
        ".gitattributes",
        ".github/workflows/kakotui.yml",
        ".pre-commit-config.yaml",
        "records/.gitkeep",
    ]:
        assert (root / rel).is_file(), rel
    assert git(root, "status", "--porcelain") == ""
    assert "Kakotui-Action: init" in git(root, "log", "-1", "--format=%B")
    assert git(root, "config", "merge.kakotui.driver").strip() == "kakotui merge-driver %O %A %B %P"
    assert lg.station == "SZ1"
    with pytest.raises(LogError, match="already holds"):
        make_log(root)


def test_new_saves_file_and_one_commit_with_author_and_trailers(log: ExceptionLog) -> None:
    result = log.new(new_qc(sku="0123", order_id="NO"))
    assert result.id == "SZ1-2026-00001" or result.id.startswith("SZ1-")
    path = log.root / result.path
    text = path.read_text()
    assert "sku: '0123'" in text and "order_id: 'NO'" in text
    assert git(log.root, "status", "--porcelain") == ""
    author = git(log.root, "log", "-1", "--format=%an <%ae>").strip()
    assert author == "Test Runner <runner@tests.invalid>"
    body = git(log.root, "log", "-1", "--format=%B")
    assert body.splitlines()[0] == f"{result.id}: log DEFECTIVE-BrokenHinge on 0123 from hx-leather"
    assert f"Kakotui-Record: {result.id}" in body and "Kakotui-Action: create" in body
    assert git(log.root, "rev-list", "--count", "HEAD").strip() == "2"
    loaded = log.get(result.id)
    assert loaded.record is not None and loaded.record["qc"]["sku"] == "0123"
    assert loaded.record["qc"]["inspector"] == "Test Runner"


def test_ids_are_allocated_in_sequence(log: ExceptionLog) -> None:
    ids = [log.new(new_qc(checked_at="2026-11-20T09:14:00+08:00")).id for _ in range(3)]
    assert ids == ["SZ1-2026-00001", "SZ1-2026-00002", "SZ1-2026-00003"]
    assert (log.root / "records/2026/SZ1/000/SZ1-2026-00003.yaml").is_file()


def test_invalid_new_writes_nothing_and_names_the_field(log: ExceptionLog) -> None:
    before = git(log.root, "rev-parse", "HEAD")
    with pytest.raises(InvalidRecord) as info:
        log.new(new_qc(vendor="nobody-ltd", severity="awful"))
    fields = {(p.field, p.rule) for p in info.value.problems}
    assert ("qc.severity", "schema:enum") in fields
    assert git(log.root, "rev-parse", "HEAD") == before
    assert list((log.root / "records").rglob("*.yaml")) == []
    assert git(log.root, "status", "--porcelain") == ""


def test_lifecycle_through_the_facade(log: ExceptionLog) -> None:
    rid = log.new(new_qc(checked_at="2026-11-20T09:14:00+08:00")).id
    log.decide(rid, "reship", reason="vendor fault", at="2026-11-20T11:00:00+08:00")
    log.reship(
        rid,
        carrier="sf-express",
        tracking="SF1",
        status="shipped",
        at="2026-11-21T10:00:00+08:00",
        costs=[
            CostLine("freight", Money.parse("30CNY"), "vendor"),
            CostLine("handling", Money.parse("8.50CNY"), "warehouse"),
        ],
    )
    log.update_reshipment(rid, 1, status="delivered", delivered_at="2026-11-23T10:00:00+08:00")
    with pytest.raises(InvalidRecord) as info:
        log.close_record(rid, final_status="resolved", at="2026-11-24T10:00:00+08:00")
    assert "customer_confirmation" in {p.field for p in info.value.problems}
    log.contact_vendor(
        rid,
        channel="chat",
        summary="credit agreed",
        outcome="credit",
        recovered=Money.parse("30CNY"),
        at="2026-11-22T10:00:00+08:00",
    )
    log.confirm_customer(rid, channel="platform", outcome="received-ok", at="2026-11-24T09:00:00+08:00")
    log.close_record(rid, final_status="resolved", at="2026-11-24T10:00:00+08:00")
    actions = git(log.root, "log", "--format=%(trailers:key=Kakotui-Action,valueonly)").split()
    assert actions == ["close", "confirm", "contact", "reship", "reship", "decide", "create", "init"]
    subject = git(log.root, "log", "--format=%s", "--grep=Kakotui-Action: reship", "-1", "--skip=1").strip()
    assert subject == f"{rid}: reship via SF Express, 38.50 CNY to vendor and warehouse"
    row = log.records(f"id:{rid}")[0]
    assert (row["status"], row["cost_minor"]) == ("closed", 3850)


def test_edit_by_path_keeps_typed_value(log: ExceptionLog) -> None:
    rid = log.new(new_qc()).id
    log.edit(rid, [("qc.sku", "0123"), ("qc.quantity", "2")])
    rec = log.get(rid).record
    assert rec is not None and rec["qc"]["sku"] == "0123" and rec["qc"]["quantity"] == 2
    assert git(log.root, "log", "-1", "--format=%s").strip() == f"{rid}: edit qc.sku, qc.quantity"


def test_concurrent_change_is_detected(log: ExceptionLog) -> None:
    rid = log.new(new_qc()).id
    stale = log.get(rid)
    log.edit(rid, [("qc.sku", "X-1")])
    assert stale.record is not None
    stale.record["qc"]["sku"] = "Y-2"
    with pytest.raises(LogError, match="changed by someone else"):
        log.replace(stale.record, expected_blob=stale.blob)


def test_index_catches_up_after_external_commit_and_hand_edit(log: ExceptionLog, tmp_path: Path) -> None:
    rid = log.new(new_qc()).id
    path = log.root / log.get(rid).path
    # an external commit (someone used git directly)
    path.write_text(path.read_text().replace("HX-2231-BLK", "EXTERNAL-1"))
    git(log.root, "commit", "-qam", "external edit")
    log.refresh()
    assert [r["sku"] for r in log.records(f"id:{rid}")] == ["EXTERNAL-1"]
    # a hand edit, not committed: listed with its problem, others unaffected
    path.write_text(path.read_text().replace("severity: major", "severity: awful"))
    other = log.new(new_qc(sku="OTHER-1")).id
    log.refresh()
    row = log.records(f"id:{rid}")[0]
    assert row["valid"] == 0 and "qc.severity" in row["problems"]
    assert log.records(f"id:{other}")[0]["valid"] == 1
    # reverting the hand edit brings the committed version back
    git(log.root, "checkout", "--", str(path))
    log.refresh()
    assert log.records(f"id:{rid}")[0]["valid"] == 1
    # deleting the index loses nothing
    log.close()
    for f in (log.root / ".git/kakotui").glob("index.sqlite*"):
        f.unlink()
    again = ExceptionLog(log.root)
    again.refresh()
    assert {r["id"] for r in again.records()} == {rid, other}
    again.close()


def test_broken_file_is_reported_not_raised(log: ExceptionLog) -> None:
    good = log.new(new_qc()).id
    bad = log.root / "records/2026/SZ1/000/SZ1-2026-00099.yaml"
    bad.write_text("id: [unclosed\n")
    log.refresh()
    rows = {r["id"]: r for r in log.records()}
    assert rows[good]["valid"] == 1 and rows["SZ1-2026-00099"]["valid"] == 0
    count, problems = log.validate()
    assert count == 2
    assert [p.rule for p in problems] == ["yaml"] and problems[0].file.endswith("SZ1-2026-00099.yaml")


def test_paths_outside_records_are_refused(log: ExceptionLog, tmp_path: Path) -> None:
    with pytest.raises(LogError):
        log.get("../../etc/passwd")
    with pytest.raises(LogError, match="outside the log"):
        list(log.record_files([tmp_path]))
    with pytest.raises(InvalidRecord):
        log.save({"schema_version": 1, "id": "../x", "qc": {}}, "create", create=True)


def test_fmt_rewrites_non_canonical_files(log: ExceptionLog) -> None:
    rid = log.new(new_qc()).id
    path = log.root / log.get(rid).path
    canonical = path.read_text()
    path.write_text(
        canonical.replace("  sku: HX-2231-BLK\n", "").replace("qc:\n", 'qc:\n  sku:   "HX-2231-BLK"\n')
    )
    changed, problems = log.fmt(check=True)
    assert changed == [log.get(rid).path] and problems == []
    log.fmt()
    assert path.read_text() == canonical


def test_identity_from_constructor_authors_commits(tmp_path: Path) -> None:
    make_log(tmp_path / "log").close()
    lg = ExceptionLog(tmp_path / "log", identity=Identity("Zhang Min", "zhang.min@example.com"))
    lg.refresh()
    lg.new(new_qc())
    assert (
        git(lg.root, "log", "-1", "--format=%an|%ae|%cn").strip()
        == "Zhang Min|zhang.min@example.com|Zhang Min"
    )
    lg.close()


def test_missing_identity_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lg = make_log(tmp_path / "log")
    empty = tmp_path / "empty-gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    fresh = ExceptionLog(lg.root)
    assert not fresh.has_identity
    with pytest.raises(LogError, match="who are you"):
        fresh.new(new_qc())
    fresh.set_identity("Li Wei", "li.wei@example.com")
    fresh.refresh()
    fresh.new(new_qc())
    assert git(lg.root, "log", "-1", "--format=%an").strip() == "Li Wei"
    fresh.close()
    lg.close()


def test_git_fsck_is_clean_after_saves(log: ExceptionLog) -> None:
    for i in range(5):
        log.new(new_qc(sku=f"SKU-{i}"))
    subprocess.run(["git", "-C", str(log.root), "fsck", "--strict"], check=True, capture_output=True)


def test_failed_commit_restores_file_and_keeps_draft(log: ExceptionLog) -> None:
    rid = log.new(new_qc()).id
    path = log.root / log.get(rid).path
    before_text, before_head = path.read_text(), git(log.root, "rev-parse", "HEAD")
    # A live git process in the repo and a ref lock it could be holding: the save must give up cleanly.
    holder = subprocess.Popen(
        ["git", "-C", str(log.root), "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    lock = log.root / ".git/refs/heads/main.lock"
    lock.write_text("")
    try:
        with pytest.raises(LogError, match="kept as a draft"):
            log.edit(rid, [("qc.sku", "CHANGED-1")])
    finally:
        holder.communicate()
        lock.unlink()
    assert path.read_text() == before_text
    assert git(log.root, "rev-parse", "HEAD") == before_head
    assert git(log.root, "status", "--porcelain") == ""
    drafts = log.drafts()
    assert [(d[0], d[1], d[2]["qc"]["sku"]) for d in drafts] == [(rid, "edit", "CHANGED-1")]
    log.edit(rid, [("qc.sku", "CHANGED-1")])  # once the fault clears, the same save works
    assert log.drafts() == []

"""History, blame, semantic diff and the PR gate over real repositories with scripted histories."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kakotui.core import yamlio
from kakotui.core.diff import describe
from kakotui.log import ExceptionLog, LogError
from kakotui.store import history as history_module
from kakotui.store import trail
from kakotui.store.history import HistoryError, has_commit_graph
from kakotui.store.scaffold import config_text
from tests.helpers import config_data, git
from tests.store.history_data import (
    CHEN,
    LI,
    NEW_ID,
    NEW_PATH,
    OLD_ID,
    OLD_PATH,
    OTHER_ID,
    OTHER_PATH,
    WANG,
    ZHAO,
    as_person,
    build_scripted,
    copy_log,
    isolated_build,
    renumber,
)

CREATE = [
    "+ schema_version: 1",
    "+ id: SZ1-2026-00001",
    "+ qc.checked_at: 2026-11-20T09:14:00+08:00",
    "+ qc.site: SZ",
    "+ qc.station: SZ1",
    "+ qc.inspector: Li Wei",
    "+ qc.order_id: KB-118833",
    "+ qc.sku: HX-2231-BLK",
    "+ qc.item_title: Leather wallet, black",
    "+ qc.quantity: 1",
    "+ qc.vendor: hx-leather",
    "+ qc.failure_code: DEFECTIVE-BrokenHinge",
    "+ qc.severity: major",
    "+ qc.description: Clasp hinge snapped on opening.",
]

EXPECTED_HISTORY = [
    ("Li Wei", "li.wei@example.com", "create", OLD_PATH, CREATE),
    (
        "Chen Jing",
        "chen.jing@example.com",
        "decide",
        OLD_PATH,
        [
            "+ decision.action: reship",
            "+ decision.by: Chen Jing",
            "+ decision.at: 2026-11-20T11:00:00+08:00",
            "+ decision.reason: customer wants the item",
        ],
    ),
    (
        "Zhao Lei",
        "zhao.lei@example.com",
        "renumber",
        NEW_PATH,
        ["~ id: SZ1-2026-00001 -> SZ1-2026-00003", "+ aliases.0: SZ1-2026-00001"],
    ),
    (
        "Chen Jing",
        "chen.jing@example.com",
        "reship",
        NEW_PATH,
        [
            "+ reshipments.0.ref: SZ1-2026-00003-R1",
            "+ reshipments.0.created_at: 2026-11-21T10:00:00+08:00",
            "+ reshipments.0.carrier: sf-express",
            "+ reshipments.0.tracking: SF1234567890",
            "+ reshipments.0.status: shipped",
            "+ reshipments.0.shipped_at: 2026-11-21T10:00:00+08:00",
            "+ reshipments.0.total: 38.50 CNY",
            "+ reshipments.0.costs.0.type: freight",
            "+ reshipments.0.costs.0.amount: 30.00 CNY",
            "+ reshipments.0.costs.0.responsible: vendor",
            "+ reshipments.0.costs.1.type: handling",
            "+ reshipments.0.costs.1.amount: 8.50 CNY",
            "+ reshipments.0.costs.1.responsible: warehouse",
        ],
    ),
    (
        "Li Wei",
        "li.wei@example.com",
        "edit",
        NEW_PATH,
        ["~ qc.sku: HX-2231-BLK -> 0123", "~ qc.quantity: 1 -> 2"],
    ),
    (
        "Chen Jing",
        "chen.jing@example.com",
        "reship",
        NEW_PATH,
        [
            "~ reshipments.0.status: shipped -> delivered",
            "+ reshipments.0.delivered_at: 2026-11-23T12:00:00+08:00",
        ],
    ),
    (
        "Chen Jing",
        "chen.jing@example.com",
        "contact",
        NEW_PATH,
        [
            "+ vendor_contacts.0.at: 2026-11-22T10:00:00+08:00",
            "+ vendor_contacts.0.by: Chen Jing",
            "+ vendor_contacts.0.channel: chat",
            "+ vendor_contacts.0.summary: Vendor credits the freight.",
            "+ vendor_contacts.0.outcome: credit",
            "+ vendor_contacts.0.recovered: 30.00 CNY",
        ],
    ),
    (
        "Chen Jing",
        "chen.jing@example.com",
        "confirm",
        NEW_PATH,
        [
            "+ customer_confirmation.at: 2026-11-24T09:00:00+08:00",
            "+ customer_confirmation.by: Chen Jing",
            "+ customer_confirmation.channel: platform",
            "+ customer_confirmation.outcome: received-ok",
        ],
    ),
    (
        "Wang Fang",
        "wang.fang@example.com",
        "close",
        NEW_PATH,
        [
            "+ closure.final_status: resolved",
            "+ closure.closed_at: 2026-11-24T10:00:00+08:00",
            "+ closure.closed_by: Wang Fang",
            "+ closure.note: Freight recovered.",
        ],
    ),
]

DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d([+-]\d\d:\d\d|Z)$")


@pytest.fixture(scope="session")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    return isolated_build(tmp_path_factory, "scripted", build_scripted)  # type: ignore[no-any-return]


@pytest.fixture
def root(scripted: tuple[Path, dict[str, str]], tmp_path: Path) -> Path:
    return copy_log(scripted[0], tmp_path / "log")


@pytest.fixture
def commits(scripted: tuple[Path, dict[str, str]]) -> dict[str, str]:
    return scripted[1]


@pytest.fixture
def log(root: Path) -> Iterator[ExceptionLog]:
    opened = ExceptionLog(root, identity=WANG)
    opened.refresh()
    yield opened
    opened.close()


def summary(entries: Any) -> list[tuple[str, str, str | None, str, list[str]]]:
    return [(e.author, e.email, e.action, e.path, [describe(c) for c in e.changes]) for e in entries]


# ---------------------------------------------------------------- history and blame


def test_history_field_by_field_across_renumbering(log: ExceptionLog, commits: dict[str, str]) -> None:
    history = log.history(NEW_ID)
    assert (history.id, history.path, history.problems, history.uncommitted) == (NEW_ID, NEW_PATH, [], [])
    assert summary(history) == EXPECTED_HISTORY
    assert [e.commit for e in history] == [
        commits[k]
        for k in ("create", "decide", "renumber", "reship", "edit", "deliver", "contact", "confirm", "close")
    ]
    assert all(DATE.match(e.date) for e in history)
    assert history[2].subject == "SZ1-2026-00003: renumber (was SZ1-2026-00001)"
    # The former id finds the same record and the same story.
    assert summary(log.history(OLD_ID)) == EXPECTED_HISTORY
    # The other record's history is only its own creation.
    assert [e.action for e in log.history(OTHER_ID)] == ["create"]


def test_history_as_json_is_plain_data(log: ExceptionLog) -> None:
    data = log.history(NEW_ID).to_dict()
    assert data["entries"][4]["changes"] == [
        {"path": "qc.sku", "kind": "changed", "old": "HX-2231-BLK", "new": "0123"},
        {"path": "qc.quantity", "kind": "changed", "old": 1, "new": 2},
    ]
    assert data["entries"][3]["changes"][6] == {
        "path": "reshipments.0.total",
        "kind": "added",
        "old": None,
        "new": {"amount": "38.50", "currency": "CNY"},
    }


def test_blame_names_who_set_each_current_value(log: ExceptionLog, commits: dict[str, str]) -> None:
    blame = log.blame(OLD_ID)
    by_field = {line.field: (line.author, line.action) for line in blame.lines}
    values = {line.field: line.value for line in blame.lines}
    assert by_field["qc.sku"] == ("Li Wei", "edit") and values["qc.sku"] == "0123"
    assert by_field["qc.order_id"] == ("Li Wei", "create")
    assert by_field["id"] == ("Zhao Lei", "renumber") and values["id"] == NEW_ID
    assert by_field["aliases.0"] == ("Zhao Lei", "renumber")
    assert by_field["decision.reason"] == ("Chen Jing", "decide")  # set before the renumbering, kept
    assert by_field["reshipments.0.tracking"] == ("Chen Jing", "reship")
    assert by_field["reshipments.0.status"] == ("Chen Jing", "reship")
    assert values["reshipments.0.status"] == "delivered"
    assert by_field["vendor_contacts.0.recovered"] == ("Chen Jing", "contact")
    assert by_field["closure.closed_by"] == ("Wang Fang", "close")
    commit_of = {line.field: line.commit for line in blame.lines}
    assert commit_of["reshipments.0.status"] == commits["deliver"]
    assert commit_of["reshipments.0.carrier"] == commits["reship"]
    assert commit_of["qc.quantity"] == commits["edit"]
    assert blame.problems == []
    expected = {c.removeprefix("+ ").split(":")[0]: ("Li Wei", "create") for c in CREATE}
    expected |= {"id": ("Zhao Lei", "renumber"), "aliases.0": ("Zhao Lei", "renumber")}
    expected |= {"qc.sku": ("Li Wei", "edit"), "qc.quantity": ("Li Wei", "edit")}
    for _who, _email, action, _path, changes in EXPECTED_HISTORY[1:]:
        if action in ("decide", "reship", "contact", "confirm", "close"):
            person = "Wang Fang" if action == "close" else "Chen Jing"
            expected |= {c[2:].split(":")[0]: (person, action) for c in changes}
    assert by_field == expected
    assert list(by_field)[:3] == ["schema_version", "id", "aliases.0"]  # in the record's own order


def test_uncommitted_hand_edit_shows_in_history_and_blame(log: ExceptionLog, root: Path) -> None:
    file = root / NEW_PATH
    file.write_text(file.read_text().replace("Freight recovered.", "Freight recovered in full."))
    log.refresh()
    history = log.history(NEW_ID)
    assert [describe(c) for c in history.uncommitted] == [
        "~ closure.note: Freight recovered. -> Freight recovered in full."
    ]
    note = next(line for line in log.blame(NEW_ID).lines if line.field == "closure.note")
    assert (note.commit, note.author, note.value) == ("", "Not Committed Yet", "Freight recovered in full.")


def test_unknown_and_bad_ids_are_clear_errors(log: ExceptionLog) -> None:
    with pytest.raises(
        HistoryError, match=r"^no record SZ1-2026-00042 in this log \(and none in its history\)$"
    ):
        log.history("SZ1-2026-00042")
    with pytest.raises(LogError, match="not a record id: 'nope'"):
        log.history("nope")


def test_deleted_record_keeps_its_history(log: ExceptionLog, root: Path) -> None:
    git(root, "rm", "-q", OTHER_PATH)
    git(root, "commit", "-qm", "remove a record by hand")
    log.refresh()
    history = log.history(OTHER_ID)
    assert [e.action for e in history] == ["create", None]
    assert history[1].subject == "remove a record by hand"
    assert {c.kind for c in history[1].changes} == {"removed"}
    assert history.record is None


def test_renamed_by_hand_is_followed_and_said(log: ExceptionLog, root: Path) -> None:
    moved = "records/2026/SZ1/000/SZ1-2026-00009.yaml"
    git(root, "mv", OTHER_PATH, moved)
    git(root, "commit", "-qm", "tidy up")
    log.refresh()
    # The file now holds an id its name does not match: found by id, the mismatch said.
    history = log.history(OTHER_ID)
    assert history.path == moved
    assert [e.action for e in history] == ["create", None]
    assert history.problems == [
        f"{OTHER_PATH} was renamed to {moved} by hand in commit {history[1].commit[:10]} (Test Runner, "
        f"{history[1].date[:10]}), not by `kakotui` renumbering: the old id is not kept in aliases, so "
        "references to it break; the history before that commit is shown from the old file",
        f"{moved} holds id {OTHER_ID}: the file was renamed (or its id edited) by hand; a record's file is "
        f"named after its id: rename it back to {OTHER_PATH}",
    ]


def test_backdated_check_time_does_not_hide_older_saves(log: ExceptionLog) -> None:
    # checked_at moved a year later than every commit of the record: the walk bound must not cut them.
    log.edit(OTHER_ID, [("qc.checked_at", "2027-11-20T09:14:00+08:00")])
    assert [e.action for e in log.history(OTHER_ID)] == ["create", "edit"]


def test_a_slow_walk_without_a_commit_graph_starts_writing_one(
    log: ExceptionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    trail.drop(log.index.db)  # no commit table, and the caller does not build it (the TUI): git walks
    assert not has_commit_graph(log.git)
    monkeypatch.setattr(history_module, "_SLOW_WALK", 1e9)  # a fast walk: nothing started
    log.history(NEW_ID, build_trail=False)
    time.sleep(0.5)
    assert not has_commit_graph(log.git)
    monkeypatch.setattr(history_module, "_SLOW_WALK", -1.0)  # every walk counts as slow
    log.history(NEW_ID, build_trail=False)
    deadline = time.monotonic() + 30
    while not has_commit_graph(log.git) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert has_commit_graph(log.git)
    graph = (log.git.git_dir / "objects/info/commit-graph").read_bytes()
    assert b"BIDX" in graph and b"BDAT" in graph  # with changed-path (Bloom filter) chunks
    assert (
        summary(log.history(NEW_ID, build_trail=False)) == EXPECTED_HISTORY
    )  # the same answer through the graph


def test_shallow_clone_says_what_is_missing(root: Path, tmp_path: Path) -> None:
    clone = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "2", f"file://{root}", str(clone)], check=True, capture_output=True
    )
    with ExceptionLog(clone, identity=LI) as shallow:
        shallow.refresh()
        history = shallow.history(NEW_ID)
        assert [e.action for e in history] == ["confirm", "close"]
        assert history.problems == [
            f"this clone is shallow: the history of {NEW_PATH} before commit {history[0].commit[:10]} "
            f"({history[0].date[:10]}) is not here; fetch it with `git fetch --unshallow`"
        ]
        with pytest.raises(HistoryError, match=r"unknown revision 'HEAD~5'.*this clone is shallow"):
            shallow.validate_since("HEAD~5")
        with pytest.raises(HistoryError, match=r"unknown revision 'origin/nope'.*shallow"):
            shallow.diff("origin/nope")


# ---------------------------------------------------------------- semantic diff


def test_diff_between_revisions_pairs_a_renumbering(log: ExceptionLog, commits: dict[str, str]) -> None:
    diff = log.diff(commits["decide"], commits["edit"])
    [rc] = diff.records
    assert (rc.id, rc.path, rc.status, rc.old_path) == (NEW_ID, NEW_PATH, "renamed", OLD_PATH)
    described = [describe(c) for c in rc.changes]
    assert described[:3] == [
        "~ id: SZ1-2026-00001 -> SZ1-2026-00003",
        "+ aliases.0: SZ1-2026-00001",
        "~ qc.sku: HX-2231-BLK -> 0123",
    ]
    assert len(described) == 3 + 1 + 13  # + quantity, + the reshipment's 13 leaves
    assert diff.base == f"{commits['decide'][:10]}" and diff.other_files == []
    md = diff.markdown()
    assert "#### `SZ1-2026-00003`: renamed (was `records/2026/SZ1/000/SZ1-2026-00001.yaml`)" in md
    assert "| `qc.sku` | `HX-2231-BLK` | `0123` |" in md


def test_diff_of_work_tree_index_and_untracked(log: ExceptionLog, root: Path) -> None:
    assert log.diff().records == []
    other = root / OTHER_PATH
    other.write_text(other.read_text().replace("acme-bags", "yiwu-toys"))
    new_file = root / "records/2026/SZ1/000/SZ1-2026-00004.yaml"
    new_file.write_text(other.read_text().replace(OTHER_ID, "SZ1-2026-00004"))
    (root / "kakotui.yaml").write_bytes((root / "kakotui.yaml").read_bytes() + b"# note\n")
    work = log.diff()
    assert [(r.id, r.status) for r in work.records] == [(OTHER_ID, "changed"), ("SZ1-2026-00004", "added")]
    assert [describe(c) for c in work.records[0].changes] == ["~ qc.vendor: acme-bags -> yiwu-toys"]
    assert work.other_files == [("M", "kakotui.yaml")]
    assert (work.base, work.target) == (f"HEAD ({git(root, 'rev-parse', 'HEAD')[:10]})", "work tree")
    assert log.diff(staged=True).records == []
    git(root, "add", OTHER_PATH)
    assert [(r.id, r.status) for r in log.diff(staged=True).records] == [(OTHER_ID, "changed")]
    # A file only touched (same bytes, new stat) is no change.
    (root / NEW_PATH).touch()
    assert NEW_ID not in [r.id for r in log.diff().records]


def test_diff_bad_revisions(log: ExceptionLog) -> None:
    with pytest.raises(
        HistoryError, match=r"^unknown revision 'nope': no such commit, branch or tag in this clone$"
    ):
        log.diff("nope")
    with pytest.raises(HistoryError, match=r"^unknown revision 'origin/main': [^;]*$"):
        log.diff("origin/main", "HEAD")
    git(log.root, "remote", "add", "origin", str(log.root))
    with pytest.raises(HistoryError, match=r"fetch it first \(`git fetch origin`\)$"):
        log.diff("origin/main", "HEAD")
    with pytest.raises(HistoryError, match="refused revision '--output=x'"):
        log.diff("--output=x")
    with pytest.raises(HistoryError, match="either a second revision or --staged"):
        log.diff("HEAD~1", "HEAD", staged=True)


def test_three_dot_diff_is_what_a_branch_adds(log: ExceptionLog, root: Path, commits: dict[str, str]) -> None:
    git(root, "checkout", "-q", "-b", "pr", commits["edit"])
    log.refresh()
    log.edit(OTHER_ID, [("qc.severity", "minor")])
    # main moved on meanwhile (deliver ... close); the branch adds only its own edit.
    diff = log.diff("main...pr")
    assert [(r.id, [describe(c) for c in r.changes]) for r in diff.records] == [
        (OTHER_ID, ["~ qc.severity: major -> minor"])
    ]
    assert len(log.diff("main", "pr").records) == 2


# ---------------------------------------------------------------- the PR gate


def branch(root: Path, name: str = "pr") -> None:
    git(root, "checkout", "-q", "-b", name)


def rules_of(problems: list[Any]) -> list[tuple[str, str, str]]:
    return [(p.file, p.field, p.rule) for p in problems]


def test_gate_finds_a_broken_reference_in_a_file_the_branch_did_not_touch(
    log: ExceptionLog, root: Path
) -> None:
    # main: the other record refers to the first one.
    record = dict(log.get(OTHER_ID).record or {})
    record["related"] = [NEW_ID]
    log.replace(record, expected_blob=log.get(OTHER_ID).blob)
    branch(root)
    git(root, "rm", "-q", NEW_PATH)
    git(root, "commit", "-qm", "remove a record")
    log.refresh()
    count, problems, since = log.validate_since("main")
    assert count == 0 and since.check_paths == [] and not since.check_all
    assert [(r.id, r.status) for r in since.diff.records] == [(NEW_ID, "removed")]
    assert rules_of(problems) == [
        (NEW_PATH, "", "append-only:record-removed"),
        (OTHER_PATH, "related.0", "rule:references-exist"),
    ]
    assert problems[1].message == f"refers to {NEW_ID}, which this change removes ({NEW_PATH})"
    assert "close it as void instead" in problems[0].message
    # The full validation agrees about the untouched file.
    assert (OTHER_PATH, "related.0", "rule:references-exist") in rules_of(log.validate()[1])


def test_gate_on_a_renumbering_keeps_history_and_finds_old_references(log: ExceptionLog, root: Path) -> None:
    record = dict(log.get(OTHER_ID).record or {})
    record["related"] = [NEW_ID]
    log.replace(record, expected_blob=log.get(OTHER_ID).blob)
    branch(root)
    renumber(root, NEW_ID, "SZ1-2026-00004", ZHAO)
    log.refresh()
    count, problems, since = log.validate_since("main")
    [rc] = since.diff.records
    assert (rc.status, rc.old_path, rc.id) == ("renamed", NEW_PATH, "SZ1-2026-00004")
    assert [describe(c) for c in rc.changes] == [
        "~ id: SZ1-2026-00003 -> SZ1-2026-00004",
        "+ aliases.1: SZ1-2026-00003",
        "~ reshipments.0.ref: SZ1-2026-00003-R1 -> SZ1-2026-00004-R1",
    ]
    assert count == 1  # the renumbered file: valid, and no append-only rule broken
    assert [(p.file, p.field, p.message) for p in problems] == [
        (
            OTHER_PATH,
            "related.0",
            f"refers to {NEW_ID}, which this change renumbers to SZ1-2026-00004 ({NEW_PATH}): refer to "
            "SZ1-2026-00004",
        )
    ]
    assert [e.action for e in log.history("SZ1-2026-00004")][-2:] == ["close", "renumber"]
    assert len(log.history(OLD_ID)) == 10  # two renumberings followed back to the creation


def test_gate_refuses_rewritten_history_and_says_why(log: ExceptionLog, root: Path) -> None:
    branch(root)
    file = root / NEW_PATH
    data = yamlio.load(file.read_bytes())
    data["vendor_contacts"] = []
    data["reshipments"][0]["total"]["amount"] = "40.00"
    data["reshipments"][0]["costs"][1]["amount"]["amount"] = "10.00"
    file.write_text(yamlio.dump(data))
    log.refresh()
    count, problems, since = log.validate_since("main")
    assert count == 1 and since.check_paths == [NEW_PATH]
    assert rules_of(problems) == [
        (NEW_PATH, "closure.final_status", "rule:loop-closed"),
        (NEW_PATH, "vendor_contacts.0", "append-only:vendor-contacts"),
        (NEW_PATH, "reshipments.0.total", "append-only:closed-costs"),
    ]
    assert problems[1].message == (
        "vendor contact 1 (2026-11-22T10:00:00+08:00, chat, Vendor credits the freight.) was removed; "
        "vendor communication is append-only: log a new contact that corrects it"
    )
    assert problems[2].message == (
        "the record is closed (resolved, 2026-11-24T10:00:00+08:00): its costs cannot change without a "
        "reopen (~ reshipments.0.total: 38.50 CNY -> 40.00 CNY; ...); run `kakotui reopen` first"
    )


def test_gate_allows_a_reopen_then_a_cost_change(log: ExceptionLog, root: Path) -> None:
    branch(root)
    log.reopen(NEW_ID, reason="carrier refunded part of the freight", at="2026-11-25T10:00:00+08:00")
    log.edit(NEW_ID, [("reshipments.0.costs.1.amount", "5.50 CNY"), ("reshipments.0.total", "35.50 CNY")])
    log.refresh()
    count, problems, since = log.validate_since("main")
    assert (count, problems) == (1, [])
    assert [r.status for r in since.diff.records] == ["changed"]


def test_gate_finds_an_id_used_as_another_records_alias(log: ExceptionLog, root: Path) -> None:
    # A new file at the renumbered record's old path: its id is still the other record's alias.
    text = (root / OTHER_PATH).read_text().replace(OTHER_ID, OLD_ID)
    (root / OLD_PATH).write_text(text)
    log.refresh()
    _count, problems, _since = log.validate_since("HEAD")
    assert [(p.file, p.rule, p.message) for p in problems] == [
        (OLD_PATH, "rule:unique-id", f"id {OLD_ID} is also used by {NEW_PATH} (a former id of {NEW_ID})")
    ]


def test_gate_checks_everything_when_the_settings_change(log: ExceptionLog, root: Path) -> None:
    branch(root)
    data = config_data()
    data["vendors"] = [v for v in data["vendors"] if v["id"] != "acme-bags"]
    (root / "kakotui.yaml").write_bytes(config_text(data))
    git(root, "commit", "-qam", "drop a vendor")
    reopened = ExceptionLog(root, identity=CHEN)
    reopened.refresh()
    count, problems, since = reopened.validate_since("main")
    reopened.close()
    assert since.check_all and count == 2
    assert rules_of(problems) == [(OTHER_PATH, "qc.vendor", "rule:vendor-known")]


def test_gate_with_nothing_changed_and_unknown_revisions(log: ExceptionLog) -> None:
    assert log.validate_since("HEAD")[:2] == (0, [])
    with pytest.raises(HistoryError, match="unknown revision 'no-such-branch'"):
        log.validate_since("no-such-branch")


def test_a_second_log_by_another_person_reads_the_same_history(root: Path) -> None:
    with as_person(root, CHEN) as other:
        assert summary(other.history(NEW_ID)) == EXPECTED_HISTORY

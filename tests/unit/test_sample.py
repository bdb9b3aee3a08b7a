"""Tests for kakotui.interchange.sample: valid records at every stage, the repo's sample log, and its history."""

from __future__ import annotations

import re
import subprocess
from collections import Counter, defaultdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kakotui.core import yamlio
from kakotui.core.commits import commit_message as core_commit_message
from kakotui.core.config import Config, load_config
from kakotui.core.ids import RecordId
from kakotui.core.record import status_of, to_text
from kakotui.core.schemas import Schemas, packaged, packaged_schema_dir
from kakotui.core.validation import validate_record
from kakotui.interchange import sample

STATUSES = {"open", "decided", "reshipping", "awaiting-confirmation", "closed"}
FINAL = {"resolved", "written-off", "escalated", "void"}


@pytest.fixture(scope="module")
def schemas() -> Schemas:
    return packaged()


@pytest.fixture(scope="module")
def config(schemas: Schemas) -> Config:
    root = Path(__file__).resolve().parents[2]
    loaded, problems = load_config((root / "kakotui.yaml").read_text("utf-8"), schemas)
    assert problems == []
    assert loaded is not None
    return loaded


@pytest.fixture(scope="module")
def year_records(config: Config) -> list[dict[str, Any]]:
    return sample.generate(500, seed=11, start=date(2026, 1, 1), end=date(2026, 12, 31), config=config)


def _stages(records: list[dict[str, Any]]) -> set[str]:
    found = {status_of(r) for r in records}
    found |= {r["closure"]["final_status"] for r in records if "closure" in r}
    found |= {"reopened" for r in records if r.get("reopenings")}
    return found


def _timestamps(value: Any) -> list[str]:
    """Every timestamp in a record (strings of the RFC 3339 shape)."""
    if isinstance(value, dict):
        return [t for v in value.values() for t in _timestamps(v)]
    if isinstance(value, list):
        return [t for v in value for t in _timestamps(v)]
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", value):
        return [value]
    return []


# ---------------------------------------------------------------------------------------------
# Settings


def test_repo_config_is_the_sample_config_and_valid(repo_root: Path, schemas: Schemas) -> None:
    text = (repo_root / "kakotui.yaml").read_text("utf-8")
    assert text == sample.sample_config_text()
    loaded, problems = load_config(text, schemas)
    assert problems == [] and loaded is not None
    assert loaded.stations == {"SZ1": "SZ", "SZ2": "SZ", "GZ1": "GZ", "YW1": "YW"}
    assert loaded.reporting_currency == "CNY" and set(loaded.currencies) == {"CNY", "USD", "EUR"}
    assert sorted(loaded.fx_rates) == [f"2026-{m:02d}" for m in range(1, 13)]
    assert all(
        7.1 <= float(r["USD"]) <= 7.3 and 7.7 <= float(r["EUR"]) <= 7.9 for r in loaded.fx_rates.values()
    )
    assert {"DEFECTIVE-Stitching", "WRONG-ITEM-Size", "DAMAGED-WaterDamage", "COUNTERFEIT"} <= loaded.codes
    assert {"hx-leather", "yiwu-bright-toys", "taobao-store-8831"} <= set(loaded.vendors)
    assert {"sf-express", "yto", "zto", "ems", "dhl", "cainiao"} == set(loaded.carriers)
    roles = {role for p in loaded.people for role in p["roles"]}
    assert roles == {"inspector", "operations", "finance", "lead", "admin"}
    # written in config-schema order (the order kakotui's canonical writer keeps)
    assert list(yamlio.load(text)) == [
        k for k in schemas.documents["config"]["properties"] if k in loaded.data
    ]


# ---------------------------------------------------------------------------------------------
# Generated records


def test_every_generated_record_passes_schema_and_rules(
    year_records: list[dict[str, Any]], schemas: Schemas, config: Config
) -> None:
    ids = frozenset(r["id"] for r in year_records)
    assert len(ids) == 500
    for rec in year_records:
        path = RecordId.parse(rec["id"]).path
        assert validate_record(rec, schemas, config, path=path, known_ids=ids) == [], rec["id"]


def test_every_stage_appears(year_records: list[dict[str, Any]]) -> None:
    assert _stages(year_records) >= STATUSES | FINAL | {"reopened"}
    reopened = [r for r in year_records if r.get("reopenings")]
    assert any("closure" in r for r in reopened) and any("closure" not in r for r in reopened)


def test_costs_attribution_sums_and_currencies(year_records: list[dict[str, Any]]) -> None:
    reships = [r for rec in year_records for r in rec.get("reshipments", [])]
    assert reships
    for r in reships:
        total = r["total"]
        assert {line["amount"]["currency"] for line in r["costs"]} == {total["currency"]}
        assert sum(Decimal(line["amount"]["amount"]) for line in r["costs"]) == Decimal(total["amount"])
    currencies = Counter(r["total"]["currency"] for r in reships)
    assert set(currencies) == {"CNY", "USD", "EUR"} and currencies.most_common(1)[0][0] == "CNY"
    assert any(len({line["responsible"] for line in r["costs"]}) > 1 for r in reships)
    assert Counter(len(rec.get("reshipments", [])) for rec in year_records).keys() >= {1, 2, 3}
    recovered = [c for rec in year_records for c in rec.get("vendor_contacts", []) if "recovered" in c]
    assert recovered and {c["outcome"] for c in recovered} == {"credit", "refund"}


def test_vendor_profiles_and_season_show(year_records: list[dict[str, Any]]) -> None:
    stitching = Counter(
        r["qc"]["vendor"] for r in year_records if r["qc"]["failure_code"] == "DEFECTIVE-Stitching"
    )
    assert stitching.most_common(1)[0][0] == "hx-leather"
    assert stitching["hx-leather"] > sum(stitching.values()) / 2
    wrong = Counter(
        r["qc"]["vendor"] for r in year_records if r["qc"]["failure_code"].startswith("WRONG-ITEM")
    )
    assert wrong.most_common(1)[0][0] == "taobao-store-8831"
    months = Counter(r["qc"]["checked_at"][5:7] for r in year_records)
    assert months["11"] > 2 * months["10"]  # the 11.11 and Black Friday waves
    assert months["02"] < months["03"]  # Spring Festival


def test_ids_are_allocated_per_station_and_year_in_time_order(year_records: list[dict[str, Any]]) -> None:
    by_station: dict[str, list[RecordId]] = defaultdict(list)
    checked = [datetime.fromisoformat(r["qc"]["checked_at"]) for r in year_records]
    assert checked == sorted(checked)
    for rec in year_records:
        rid = RecordId.parse(rec["id"])
        assert rid.station == rec["qc"]["station"]
        by_station[rid.station].append(rid)
    assert len(by_station) == 4
    for ids in by_station.values():
        assert [i.seq for i in ids] == list(range(1, len(ids) + 1))


def test_generation_is_deterministic_and_stays_in_its_window(config: Config) -> None:
    a = sample.generate(60, seed=5, start=date(2026, 3, 1), end=date(2026, 3, 20), config=config)
    assert a == sample.generate(60, seed=5, start=date(2026, 3, 1), end=date(2026, 3, 20), config=config)
    assert a != sample.generate(60, seed=6, start=date(2026, 3, 1), end=date(2026, 3, 20), config=config)
    stamps = [t for rec in a for t in _timestamps(rec)]
    assert min(stamps) >= "2026-03-01T00:00:00+08:00"
    assert max(stamps) <= "2026-03-20T23:59:59+08:00"
    assert all(t.endswith("+08:00") for t in stamps)
    only = sample.generate(30, seed=5, start=date(2026, 3, 1), end=date(2026, 3, 2), stations=["GZ1"])
    assert {r["qc"]["station"] for r in only} == {"GZ1"}
    with pytest.raises(ValueError, match="unknown stations"):
        sample.generate(5, start=date(2026, 3, 1), end=date(2026, 3, 2), stations=["XX9"])


# ---------------------------------------------------------------------------------------------
# The repository's own records/


def test_repo_records_are_canonical_valid_and_the_generators_output(
    repo_root: Path, schemas: Schemas, config: Config
) -> None:
    expected = {RecordId.parse(r["id"]).path: to_text(r, schemas) for r in sample.repo_sample_records()}
    files = {
        p.relative_to(repo_root).as_posix(): p.read_text("utf-8")
        for p in (repo_root / "records").rglob("*.yaml")
    }
    assert files == expected
    records = [yamlio.load(text) for text in files.values()]
    ids = frozenset(r["id"] for r in records)
    for path, text in files.items():
        record = yamlio.load(text)
        assert to_text(record, schemas) == text, path
        assert validate_record(record, schemas, config, path=path, known_ids=ids) == [], path
    assert len(records) == 48
    assert len({r["qc"]["station"] for r in records}) >= 3
    assert _stages(records) >= STATUSES | FINAL | {"reopened"}
    assert {r["total"]["currency"] for rec in records for r in rec.get("reshipments", [])} >= {
        "CNY",
        "USD",
        "EUR",
    }
    stamps = [t for rec in records for t in _timestamps(rec)]
    assert min(stamps) >= "2026-10-01" and max(stamps) <= "2026-11-25T23:59:59+08:00"


def test_repo_records_exercise_the_canonical_writer(repo_root: Path) -> None:
    texts = "".join(p.read_text("utf-8") for p in sorted((repo_root / "records").rglob("*.yaml")))
    for trap in ("0123", "NO", "1e3"):
        assert f"sku: '{trap}'\n" in texts  # quoted, so every YAML reader keeps it a string
    assert "description: |-\n" in texts  # multi-line text as a literal block
    assert re.search(r"item_title: .*[\u4e00-\u9fff]", texts)  # Chinese titles
    assert "link: evidence/2026/" in texts and "link: 'https://" in texts


def test_write_sample_log_writes_checks_and_removes_stale_files(tmp_path: Path) -> None:
    stale = tmp_path / "records/2026/SZ1/099/SZ1-2026-99999.yaml"
    stale.parent.mkdir(parents=True)
    stale.write_text("stale\n")
    keep = tmp_path / "records/README.md"
    keep.write_text("not a record\n")
    assert sample.main(["--write-records", str(tmp_path)]) == 0
    assert not stale.exists() and keep.exists()
    assert (tmp_path / "kakotui.yaml").read_text("utf-8") == sample.sample_config_text()
    assert len(list((tmp_path / "records").rglob("*.yaml"))) == 48
    assert sample.write_sample_log(tmp_path, check=True) == []
    one = next((tmp_path / "records").rglob("*.yaml"))
    one.write_text(one.read_text("utf-8").replace("schema_version: 1", "schema_version: 1 "))
    rel = one.relative_to(tmp_path).as_posix()
    assert sample.write_sample_log(tmp_path, check=True) == [rel]
    assert sample.main(["--write-records", str(tmp_path), "--check"]) == 1


# ---------------------------------------------------------------------------------------------
# History


@pytest.fixture(scope="module")
def history(config: Config) -> tuple[list[dict[str, Any]], list[sample.Event]]:
    records = sample.generate(120, seed=3, start=date(2026, 10, 1), end=date(2026, 11, 25), config=config)
    return records, sample.history_events(records, config=config)


def test_events_are_in_time_order_and_end_with_each_final_text(
    history: tuple[list[dict[str, Any]], list[sample.Event]], schemas: Schemas, config: Config
) -> None:
    records, events = history
    moments = [datetime.fromisoformat(e.at) for e in events]
    assert moments == sorted(moments)
    per_record: dict[str, list[sample.Event]] = defaultdict(list)
    for event in events:
        per_record[event.record_id].append(event)
    assert set(per_record) == {r["id"] for r in records}
    ids = frozenset(per_record)
    for rec in records:
        mine = per_record[rec["id"]]
        assert mine[0].action == "create" and mine[0].at == rec["qc"]["checked_at"]
        assert mine[0].author_name == rec["qc"]["inspector"]
        assert mine[-1].text == to_text(rec, schemas)
        assert len({e.text for e in mine}) == len(mine)  # every commit changes the record
        for event in mine:  # every intermediate state was a valid save
            state = yamlio.load(event.text)
            assert validate_record(state, schemas, config, path=event.path, known_ids=ids) == [], event
    actions = Counter(e.action for e in events)
    assert set(actions) == {"create", "decide", "reship", "edit", "contact", "confirm", "close", "reopen"}


def test_history_stages_follow_the_lifecycle(
    history: tuple[list[dict[str, Any]], list[sample.Event]],
) -> None:
    _, events = history
    seen: dict[str, list[str]] = defaultdict(list)
    for event in events:
        seen[event.record_id].append(status_of(yamlio.load(event.text)))
    order = ["open", "decided", "reshipping", "awaiting-confirmation", "closed"]
    for rid, statuses in seen.items():
        ranks = [order.index(s) for s in statuses]
        if "closed" not in statuses[:-1]:  # before any reopening, status only moves forward
            assert ranks == sorted(ranks), (rid, statuses)


def test_commit_messages_follow_the_design(history: tuple[list[dict[str, Any]], list[sample.Event]]) -> None:
    _, events = history
    shape = re.compile(
        r"(?P<id>[A-Z0-9]+-\d{4}-\d{5}): (?P<subject>[^\n]+)\n\nKakotui-Record: (?P=id)\nKakotui-Action: (?P<action>[a-z]+)\n"
    )
    for event in events:
        m = shape.fullmatch(event.message)
        assert m, event.message
        assert m["id"] == event.record_id and m["action"] == event.action
    subjects = {e.action: e.message.split("\n")[0] for e in events}
    assert re.fullmatch(r"\S+: log [A-Z-]+(-\w+)? on \S+ from [a-z0-9-]+", subjects["create"])
    assert re.fullmatch(
        r"\S+: decide (reship|refund|return-to-vendor|accept-as-is|cancel)", subjects["decide"]
    )
    assert re.fullmatch(r"\S+: close as (resolved|written-off|escalated|void)", subjects["close"])
    assert re.fullmatch(r"\S+: edit reshipments\.\d+\.\w+, reshipments\.\d+\.status", subjects["edit"])


def _reship_record(costs: list[tuple[str, str]]) -> dict[str, Any]:
    lines = [
        {"type": "freight", "amount": {"amount": a, "currency": "CNY"}, "responsible": p} for a, p in costs
    ]
    total = sum(Decimal(a) for a, _ in costs)
    return {
        "id": "SZ1-2026-00042",
        "qc": {"failure_code": "DEFECTIVE-BrokenHinge", "sku": "0123", "vendor": "hx-leather"},
        "decision": {"action": "refund"},
        "reshipments": [
            {
                "ref": "SZ1-2026-00042-R1",
                "carrier": "sf-express",
                "total": {"amount": f"{total:.2f}", "currency": "CNY"},
                "costs": lines,
            }
        ],
        "closure": {"final_status": "resolved"},
        "aliases": ["GZ1-2026-00007"],
    }


def test_commit_message_is_the_facades_wording() -> None:
    rec = _reship_record([("38.50", "vendor")])
    assert sample.commit_message("reship", rec) == (
        "SZ1-2026-00042: reship via SF Express, 38.50 CNY to vendor\n\n"
        "Kakotui-Record: SZ1-2026-00042\nKakotui-Action: reship\n"
    )
    config = Config.from_data(sample.sample_config())
    for action in sample.ACTIONS:  # the same text a real save commits
        assert sample.commit_message(action, rec) == core_commit_message(action, rec, config)
    first = {name: sample.commit_message(name, rec).split("\n")[0] for name in ("create", "decide", "close")}
    assert first["create"] == "SZ1-2026-00042: log DEFECTIVE-BrokenHinge on 0123 from hx-leather"
    assert first["decide"] == "SZ1-2026-00042: decide refund"
    assert first["close"] == "SZ1-2026-00042: close as resolved"
    edit = sample.commit_message("edit", rec, fields=["qc.sku", "qc.quantity"])
    assert edit.startswith("SZ1-2026-00042: edit qc.sku, qc.quantity\n\n")
    with pytest.raises(ValueError, match="unknown action"):
        sample.commit_message("delete", rec)


def test_state_at_replays_a_reshipment(history: tuple[list[dict[str, Any]], list[sample.Event]]) -> None:
    records, _ = history
    rec = next(r for r in records if any(s.get("delivered_at") for s in r.get("reshipments", [])))
    r1 = next(s for s in rec["reshipments"] if "delivered_at" in s)
    created = datetime.fromisoformat(r1["created_at"])
    delivered = datetime.fromisoformat(r1["delivered_at"])
    at_check = sample.state_at(rec, datetime.fromisoformat(rec["qc"]["checked_at"]))
    assert set(at_check) <= {"schema_version", "id", "related", "qc"}
    before = sample.state_at(rec, created + (delivered - created) / 2)
    index = rec["reshipments"].index(r1)
    assert before["reshipments"][index]["status"] in ("pending", "shipped")
    assert "delivered_at" not in before["reshipments"][index]
    assert sample.state_at(rec, delivered)["reshipments"][index] == r1


# ---------------------------------------------------------------------------------------------
# git fast-import


def _git(repo: Path, *args: str, data: bytes | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=repo, input=data, capture_output=True, check=True)
    return done.stdout.decode("utf-8")


def test_fast_import_stream_builds_a_real_history(
    tmp_path: Path, history: tuple[list[dict[str, Any]], list[sample.Event]]
) -> None:
    records, events = history
    events = events[:200]
    readme = "# 样本 QC log\n".encode()
    stream = sample.fast_import_stream(events, extra_files={"README.md": readme})
    repo = tmp_path / "log"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "fast-import", "--quiet", data=stream)
    _git(repo, "fsck", "--strict", "--no-progress")
    assert int(_git(repo, "rev-list", "--count", "main")) == len(events) + 1
    authors = _git(repo, "log", "--format=%an <%ae>", "main").splitlines()
    assert len(set(authors)) >= 5
    assert authors[-1] == "Zhao Lei <zhao.lei@qc-demo.example>"
    committers = _git(repo, "log", "--format=%cn|%ct|%ad", "--date=iso-strict", "main").splitlines()
    assert [c.split("|")[0] for c in committers] == [a.split(" <")[0] for a in authors]
    assert [c.split("|")[2] for c in committers[:-1]] == [e.at for e in reversed(events)]
    actions = _git(repo, "log", "--format=%(trailers:key=Kakotui-Action,valueonly)", "main").split()
    assert actions == [e.action for e in reversed(events)]
    rids = _git(repo, "log", "--format=%(trailers:key=Kakotui-Record,valueonly)", "main").split()
    assert rids == [e.record_id for e in reversed(events)]
    first = _git(repo, "rev-list", "--max-parents=0", "main").strip()
    schemas = {f"schema/{p.name}" for p in packaged_schema_dir().glob("*.schema.json")}
    assert set(_git(repo, "ls-tree", "-r", "--name-only", first).split()) == {
        ".gitattributes",
        "README.md",
        "kakotui.yaml",
        *schemas,
    }
    assert _git(repo, "show", "main:.gitattributes") == sample.GITATTRIBUTES
    assert _git(repo, "show", "main:README.md").encode() == readme
    last: dict[str, str] = {}
    for event in events:
        last[event.path] = event.text
    for path, text in list(last.items())[:20]:
        assert _git(repo, "show", f"main:{path}") == text
    assert records  # the fixture's records are what the events replay

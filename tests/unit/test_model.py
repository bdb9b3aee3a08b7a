"""Ids, money, status, summaries, lifecycle steps and field edits (pure functions)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kakotui.core import lifecycle
from kakotui.core.commits import commit_message
from kakotui.core.ids import BadId, RecordId, id_from_path
from kakotui.core.money import Money, MoneyError, convert, format_amount, to_minor
from kakotui.core.record import status_of, summarize, to_text
from kakotui.core.schemas import packaged
from kakotui.core.validation import validate_record
from tests.helpers import config, record

SCHEMAS = packaged()
CONFIG = config()


def test_id_and_path() -> None:
    rid = RecordId.parse("SZ1-2026-00042")
    assert rid.path == "records/2026/SZ1/000/SZ1-2026-00042.yaml"
    assert RecordId.parse("SZ1-2026-01042").path == "records/2026/SZ1/001/SZ1-2026-01042.yaml"
    assert id_from_path(rid.path) == "SZ1-2026-00042"
    assert id_from_path("records/2026/SZ1/001/SZ1-2026-00042.yaml") is None
    assert id_from_path("records/../SZ1-2026-00042.yaml") is None
    for bad in ["../../etc/passwd", "SZ1-2026-42", "--output=x", "SZ1-2026-00042/../x", ""]:
        with pytest.raises(BadId):
            RecordId.parse(bad)


def test_money_parse_and_minor_units() -> None:
    assert Money.parse("38.50CNY") == Money(Decimal("38.50"), "CNY")
    assert Money.parse("CNY 38.5") == Money(Decimal("38.5"), "CNY")
    assert Money.parse("12", "USD") == Money(Decimal("12"), "USD")
    assert str(Money.parse("7 eur")) == "7.00 EUR"
    with pytest.raises(MoneyError):
        Money.parse("38.505CNY")
    with pytest.raises(MoneyError):
        Money.parse("1e3CNY")
    assert to_minor(Decimal("19.99"), "CNY") == 1999
    assert to_minor(Decimal("1999"), "JPY") == 1999
    assert format_amount(Decimal("38.5")) == "38.50"
    assert convert(Decimal("10.00"), "USD", "CNY", {"USD": "7.1500"}) == Decimal("71.50")
    assert convert(Decimal("10.00"), "EUR", "CNY", {"USD": "7.1500"}) is None


@pytest.mark.parametrize(
    ("stage", "status"),
    [
        ("open", "open"),
        ("decided", "decided"),
        ("reshipping", "reshipping"),
        ("awaiting", "awaiting-confirmation"),
        ("closed", "closed"),
    ],
)
def test_status_follows_from_the_record(stage: str, status: str) -> None:
    assert status_of(record(stage)) == status


def test_summary_columns() -> None:
    s = summarize(record("closed"), CONFIG)
    assert (s.id, s.status, s.vendor, s.category, s.cost_minor, s.cost_text) == (
        "SZ1-2026-00001",
        "closed",
        "hx-leather",
        "DEFECTIVE",
        3850,
        "38.50 CNY",
    )
    assert s.responsible == "vendor warehouse"
    assert "hinge" in s.search and s.checked_date == "2026-11-20"


def test_summary_converts_with_fx_and_reports_missing_rate_as_none() -> None:
    rec = record("reshipping")
    rec["reshipments"][0]["total"]["currency"] = "USD"
    for line in rec["reshipments"][0]["costs"]:
        line["amount"]["currency"] = "USD"
    assert summarize(rec, CONFIG).cost_minor == 27528  # 38.50 USD * 7.15 = 275.275 -> 275.28 CNY
    rec["reshipments"][0]["created_at"] = "2026-10-21T10:00:00+08:00"  # no October rates
    rec["reshipments"][0]["shipped_at"] = "2026-10-21T15:00:00+08:00"
    assert summarize(rec, CONFIG).cost_minor is None


def test_summary_tolerates_garbage() -> None:
    s = summarize({"id": 5, "qc": ["x"], "reshipments": "no"}, CONFIG)
    assert s.status == "open"


def test_lifecycle_steps_produce_valid_records() -> None:
    rec = lifecycle.new_exception("SZ1-2026-00001", record()["qc"])
    rec = lifecycle.decide(rec, "reship", "Chen Jing", "2026-11-20T11:00:00+08:00", "vendor fault")
    rec = lifecycle.add_reshipment(
        rec,
        created_at="2026-11-21T10:00:00+08:00",
        carrier="sf-express",
        tracking="SF1",
        status="shipped",
        costs=[
            lifecycle.CostLine("freight", Money.parse("30CNY"), "vendor"),
            lifecycle.CostLine("handling", Money.parse("8.50CNY"), "warehouse"),
        ],
    )
    assert rec["reshipments"][0]["total"] == {"amount": "38.50", "currency": "CNY"}
    assert rec["reshipments"][0]["ref"] == "SZ1-2026-00001-R1"
    rec = lifecycle.update_reshipment(rec, 0, status="delivered", delivered_at="2026-11-23T12:00:00+08:00")
    rec = lifecycle.add_vendor_contact(
        rec,
        at="2026-11-22T10:00:00+08:00",
        by="Chen Jing",
        channel="chat",
        summary="agreed",
        outcome="credit",
        recovered=Money.parse("30CNY"),
    )
    rec = lifecycle.confirm(
        rec, at="2026-11-24T09:00:00+08:00", by="Chen Jing", channel="chat", outcome="received-ok"
    )
    rec = lifecycle.close(rec, final_status="resolved", at="2026-11-24T10:00:00+08:00", by="Wang Fang")
    assert validate_record(rec, SCHEMAS, CONFIG) == []
    assert status_of(rec) == "closed"
    with pytest.raises(lifecycle.StepError):
        lifecycle.close(rec, final_status="resolved", at="2026-11-24T10:00:00+08:00", by="x")
    reopened = lifecycle.reopen(
        rec, at="2026-11-25T10:00:00+08:00", by="Wang Fang", reason="customer came back"
    )
    assert status_of(reopened) == "awaiting-confirmation"
    assert reopened["reopenings"][0]["previous_closure"] == rec["closure"]
    assert validate_record(reopened, SCHEMAS, CONFIG) == []


def test_set_path_types_values_by_schema() -> None:
    rec = record("reshipping")
    out = lifecycle.set_path(rec, "qc.sku", "0123", SCHEMAS)
    assert out["qc"]["sku"] == "0123"
    out = lifecycle.set_path(rec, "qc.quantity", "3", SCHEMAS)
    assert out["qc"]["quantity"] == 3
    out = lifecycle.set_path(rec, "reshipments.0.tracking", "NO", SCHEMAS)
    assert out["reshipments"][0]["tracking"] == "NO"
    out = lifecycle.set_path(rec, "qc.description", None, SCHEMAS)
    assert "description" not in out["qc"]
    assert rec["qc"]["sku"] == "HX-2231-BLK"  # the input is never mutated
    for bad in ["qc.colour", "qc.quantity.x", "id", "reshipments.x", "qc", ""]:
        with pytest.raises(lifecycle.StepError):
            lifecycle.set_path(rec, bad, "1", SCHEMAS)
    with pytest.raises(lifecycle.StepError):
        lifecycle.set_path(rec, "qc.quantity", "two", SCHEMAS)


def test_canonical_text_orders_keys_by_schema() -> None:
    rec = record("closed")
    shuffled = dict(reversed(list(rec.items())))
    shuffled["qc"] = dict(reversed(list(rec["qc"].items())))
    text = to_text(shuffled, SCHEMAS)
    assert text == to_text(rec, SCHEMAS)
    lines = text.splitlines()
    assert lines[:4] == [
        "schema_version: 1",
        "id: SZ1-2026-00001",
        "qc:",
        "  checked_at: '2026-11-20T09:14:00+08:00'",
    ]
    assert text.index("decision:") < text.index("reshipments:") < text.index("closure:")


def test_commit_message_format() -> None:
    msg = commit_message("reship", record("reshipping"), CONFIG)
    assert msg == (
        "SZ1-2026-00001: reship via SF Express, 38.50 CNY to vendor and warehouse\n\n"
        "Kakotui-Record: SZ1-2026-00001\nKakotui-Action: reship\n"
    )
    with pytest.raises(ValueError):
        commit_message("explode", record(), CONFIG)

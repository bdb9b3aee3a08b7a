"""Normalizing what real sheets hold: dates, money, names, words; and the mapping proposal and file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from kakotui.interchange import normalize as nz
from kakotui.interchange.mapping import MappingError, load_mapping, mapping_text, propose
from kakotui.interchange.sheets import SheetError, decode
from tests.helpers import config

CST = timezone(timedelta(hours=8))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-20", "2026-11-20T00:00:00+08:00"),
        ("2026-11-20 09:14", "2026-11-20T09:14:00+08:00"),
        ("2026/11/20 9:14:05", "2026-11-20T09:14:05+08:00"),
        ("2026-11-20T09:14:00Z", "2026-11-20T09:14:00Z"),
        ("2026-11-20T09:14:00-05:00", "2026-11-20T09:14:00-05:00"),
        ("20/11/2026", "2026-11-20T00:00:00+08:00"),
        ("11/20/2026 2:30 PM", "2026-11-20T14:30:00+08:00"),
        ("20.11.2026 09:14", "2026-11-20T09:14:00+08:00"),
        ("2026年11月20日", "2026-11-20T00:00:00+08:00"),
        ("2026年11月20日 9:14", "2026-11-20T09:14:00+08:00"),
        ("Nov 20, 2026", "2026-11-20T00:00:00+08:00"),
        ("20 November 2026 09:14", "2026-11-20T09:14:00+08:00"),
        (46346, "2026-11-20T00:00:00+08:00"),  # an Excel serial number
        (46346.385, "2026-11-20T09:14:24+08:00"),
        ("46346", "2026-11-20T00:00:00+08:00"),
        (datetime(2026, 11, 20, 9, 14), "2026-11-20T09:14:00+08:00"),
        (datetime(2026, 11, 20, 1, 14, tzinfo=UTC), "2026-11-20T01:14:00Z"),
        ("  2026-11-20  ", "2026-11-20T00:00:00+08:00"),
    ],
)
def test_dates(value: object, expected: str) -> None:
    assert nz.parse_datetime(value, CST) == expected


def test_ambiguous_dates_follow_the_column() -> None:
    assert nz.parse_datetime("03/04/2026", CST, day_first=True).startswith("2026-04-03")
    assert nz.parse_datetime("03/04/2026", CST, day_first=False).startswith("2026-03-04")
    assert nz.day_first_for(["03/04/2026", "11/20/2026"]) is False
    assert nz.day_first_for(["03/04/2026", "20/11/2026"]) is True


@pytest.mark.parametrize(
    "value", ["garbage", "31/02/2026", "2026-13-01", "12345", 3.5, "13/13/2026", "Foo 3, 2026"]
)
def test_bad_dates(value: object) -> None:
    with pytest.raises(nz.BadValue):
        nz.parse_datetime(value, CST)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("¥38.5", "38.50 CNY"),
        ("￥38.50", "38.50 CNY"),
        ("38.5元", "38.50 CNY"),
        ("RMB 38", "38.00 CNY"),
        ("$12", "12.00 USD"),
        ("US$12.30", "12.30 USD"),
        ("38,50 €", "38.50 EUR"),
        ("€ 1.234,50", "1234.50 EUR"),
        ("CNY 38.50", "38.50 CNY"),
        ("38.50 usd", "38.50 USD"),
        ("1,234.5", "1234.50 CNY"),
        ("1,234", "1234.00 CNY"),
        ("38", "38.00 CNY"),
        (38.5, "38.50 CNY"),
        (12, "12.00 CNY"),
        (" 0 ", "0.00 CNY"),
    ],
)
def test_money(value: object, expected: str) -> None:
    assert nz.parse_money(value, "CNY", ("CNY", "USD", "EUR")) == expected


@pytest.mark.parametrize("value", ["abc", "¥", "12.345", "-5", "$12 €", "1e3"])
def test_bad_money(value: str) -> None:
    with pytest.raises(nz.BadValue):
        nz.parse_money(value, "CNY")


def test_names_words_and_numbers() -> None:
    vocab = nz.Vocabulary(config(), {"vendor": {"Old Acme Shop": "acme-bags"}})
    for text in ("hx-leather", "HX LEATHER", "hx leather", " HX Leather Goods ", "hxleathergoods"):
        assert vocab.vendor(text) == "hx-leather"
    assert vocab.vendor("义乌") == "yiwu-toys"
    assert vocab.vendor("Bright Toys") == "yiwu-toys"
    assert vocab.vendor("old acme shop") == "acme-bags"
    with pytest.raises(nz.BadValue, match="unknown vendor 'Nobody'"):
        vocab.vendor("Nobody")
    assert vocab.carrier("SF Express") == "sf-express"
    assert vocab.carrier("sf express") == "sf-express"
    assert vocab.failure_code("defective - broken hinge") == "DEFECTIVE-BrokenHinge"
    assert vocab.failure_code("Zipper broken") == "DEFECTIVE-Zipper"
    assert vocab.failure_code("wrong item") == "WRONG-ITEM"
    with pytest.raises(nz.BadValue):
        vocab.failure_code("??")
    assert vocab.status("Reshipped") == ("reshipping", None)
    assert vocab.status("done") == ("closed", "resolved")
    assert vocab.status("CLOSED") == ("closed", "resolved")
    assert vocab.status("已完成") == ("closed", "resolved")
    assert vocab.status("Written off") == ("closed", "written-off")
    assert vocab.status("refunded") == ("awaiting-confirmation", "refund")
    with pytest.raises(nz.BadValue):
        vocab.status("purple")
    assert nz.parse_int("2 pcs") == 2
    assert nz.parse_int(3.0) == 3
    assert nz.parse_int("x4") == 4
    assert nz.identifier(123.0) == "123"
    assert nz.identifier("0123") == "0123"
    assert nz.cell_text("  Cafe\u0301 ") == "Caf\u00e9"  # NFC
    assert nz.is_empty(" - ") and nz.is_empty("N/A")
    assert not nz.is_empty("N/A", identifier=True)  # an SKU may be called N/A


def test_decoding_in_order() -> None:
    text = "供应商,SKU\n义乌,0123\n"
    assert decode(b"\xef\xbb\xbf" + text.encode(), "a.csv") == (text, "utf-8-sig")
    assert decode(text.encode(), "a.csv") == (text, "utf-8")
    assert decode(text.encode("gbk"), "a.csv") == (text, "gb18030")
    assert decode(text.encode("utf-16"), "a.csv")[0] == text
    with pytest.raises(SheetError, match="neither UTF-8 nor GBK"):
        decode("Vendor\nCafé au lait\n".encode("cp1252"), "a.csv")
    with pytest.raises(SheetError, match="not a text file"):
        decode(b"Vendor\x00\x01\x02", "a.csv")


def test_proposal_from_header_names() -> None:
    headers = ["No.", "QC date", "供应商", "Supplier name", "SKU", "订单号", "Tracking #", "Reship cost",
               "Responsible", "Status", "Whatever"]  # fmt: skip
    rows = [["1", "", "", "", "", "", "", "", "", "", ""], ["2", "", "", "", "", "", "", "", "", "", ""]]
    mapping = propose(headers, rows, source="legacy")
    assert mapping.columns == {
        "No.": None,
        "QC date": "checked_at",
        "供应商": "vendor",
        "Supplier name": None,  # vendor is already filled by the first, exact match
        "SKU": "sku",
        "订单号": "order_id",
        "Tracking #": "tracking",
        "Reship cost": "reship_cost",
        "Responsible": "responsible",
        "Status": "status",
        "Whatever": None,
    }
    assert mapping.key == ["No."]
    again = load_mapping(mapping_text(mapping))
    assert again.columns == mapping.columns and again.key == ["No."] and again.source == "legacy"


def test_mapping_files_are_validated() -> None:
    with pytest.raises(MappingError) as caught:
        load_mapping(
            "columns:\n  Vendor: vendr\n  SKU: sku\n  Code: sku\nkey: Ticket\ndefaults:\n  tracking: x\nfoo: 1\n"
        )
    text = "\n".join(caught.value.problems)
    assert "unknown field 'vendr' (did you mean vendor?)" in text
    assert "field 'sku' is already filled by column 'SKU'" in text
    assert "key: column 'Ticket' is not listed" in text
    assert "defaults.tracking" in text
    assert "unknown setting 'foo'" in text
    with pytest.raises(MappingError, match="columns"):
        load_mapping("key: ~\n")
    with pytest.raises(MappingError, match="line"):
        load_mapping("columns: [a\n")

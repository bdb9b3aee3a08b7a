"""The exception schema and the named rules: a valid and an invalid case for each."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kakotui.core.config import config_problems
from kakotui.core.schemas import packaged
from kakotui.core.validation import validate_record
from tests.helpers import config, config_data, record

SCHEMAS = packaged()
CONFIG = config()


def problems(rec: dict[str, Any], path: str | None = None) -> list[tuple[str, str]]:
    return [(p.field, p.rule) for p in validate_record(rec, SCHEMAS, CONFIG, path=path)]


@pytest.mark.parametrize("stage", ["open", "decided", "reshipping", "awaiting", "closed"])
def test_every_stage_is_valid(stage: str) -> None:
    assert problems(record(stage), "records/2026/SZ1/000/SZ1-2026-00001.yaml") == []


def test_bad_timestamp_is_rejected_by_format_checking() -> None:
    rec = record()
    rec["qc"]["checked_at"] = "2026-13-45T25:61:00+08:00"  # matches the pattern, not the calendar
    assert ("qc.checked_at", "schema:format") in problems(rec)


def test_timestamp_without_offset_is_rejected() -> None:
    rec = record()
    rec["qc"]["checked_at"] = "2026-11-20T09:14:00"
    found = validate_record(rec, SCHEMAS, CONFIG)
    assert any(p.field == "qc.checked_at" for p in found)
    assert "offset" in " ".join(p.message for p in found)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: r["qc"].pop("vendor"), ("qc.vendor", "schema:required")),
        (lambda r: r["qc"].update(severity="awful"), ("qc.severity", "schema:enum")),
        (lambda r: r["qc"].update(quantity="2"), ("qc.quantity", "schema:type")),
        (lambda r: r["qc"].update(quantity=0), ("qc.quantity", "schema:minimum")),
        (lambda r: r.update(colour="red"), ("", "schema:unknown-field")),
        (lambda r: r.update(id="SZ1-26-1"), ("id", "schema:pattern")),
        (
            lambda r: r["qc"].update(evidence=[{"kind": "photo", "link": "../../etc/passwd"}]),
            ("qc.evidence.0.link", "schema:link"),
        ),
        (
            lambda r: r["qc"].update(evidence=[{"kind": "photo", "link": "javascript:alert(1)"}]),
            ("qc.evidence.0.link", "schema:link"),
        ),
        (lambda r: r["qc"].update(sku="HX 2231"), ("qc.sku", "schema:pattern")),
    ],
)
def test_schema_rejections_name_field_and_rule(mutate: Any, expected: tuple[str, str]) -> None:
    rec = record()
    mutate(rec)
    assert expected in problems(rec)


def test_money_is_a_decimal_string_not_a_float() -> None:
    rec = record("reshipping")
    rec["reshipments"][0]["total"]["amount"] = 38.5
    assert ("reshipments.0.total.amount", "schema:type") in problems(rec)
    rec["reshipments"][0]["total"]["amount"] = "38.505"
    assert ("reshipments.0.total.amount", "schema:pattern") in problems(rec)


def test_shipped_reshipment_needs_carrier_and_tracking() -> None:
    rec = record("reshipping")
    del rec["reshipments"][0]["tracking"]
    found = validate_record(rec, SCHEMAS, CONFIG)
    assert ("reshipments.0.tracking", "schema:required") in [(p.field, p.rule) for p in found]
    assert "Once shipped" in " ".join(p.message for p in found)


def test_closed_record_needs_customer_outcome() -> None:
    rec = record("closed")
    del rec["customer_confirmation"]
    found = validate_record(rec, SCHEMAS, CONFIG)
    assert ("customer_confirmation", "schema:required") in [(p.field, p.rule) for p in found]


def test_write_off_needs_a_note() -> None:
    rec = record("closed")
    rec["closure"]["final_status"] = "written-off"
    assert ("closure.note", "schema:required") in problems(rec)


def test_reshipment_requires_decision() -> None:
    rec = record("reshipping")
    del rec["decision"]
    assert ("decision", "schema:required") in problems(rec)


# -- rules ------------------------------------------------------------------------------------------


def test_rule_vendor_known() -> None:
    rec = record()
    rec["qc"]["vendor"] = "nobody-ltd"
    assert problems(rec) == [("qc.vendor", "rule:vendor-known")]


def test_rule_failure_code_known() -> None:
    rec = record()
    rec["qc"]["failure_code"] = "DEFECTIVE-Melted"
    found = validate_record(rec, SCHEMAS, CONFIG)
    assert [(p.field, p.rule) for p in found] == [("qc.failure_code", "rule:failure-code-known")]
    assert "DEFECTIVE has no detail code 'Melted'" in found[0].message
    rec["qc"]["failure_code"] = "WRONG-ITEM"  # a category on its own is a code
    assert problems(rec) == []


def test_rule_carrier_known() -> None:
    rec = record("reshipping")
    rec["reshipments"][0]["carrier"] = "pigeon-post"
    assert problems(rec) == [("reshipments.0.carrier", "rule:carrier-known")]


def test_rule_currency_known() -> None:
    rec = record("reshipping")
    for line in rec["reshipments"][0]["costs"]:
        line["amount"]["currency"] = "GBP"
    rec["reshipments"][0]["total"]["currency"] = "GBP"
    assert ("reshipments.0.total.currency", "rule:currency-known") in problems(rec)


def test_rule_cost_attribution_sums() -> None:
    rec = record("reshipping")
    rec["reshipments"][0]["total"]["amount"] = "40.00"
    found = validate_record(rec, SCHEMAS, CONFIG)
    assert [(p.field, p.rule) for p in found] == [("reshipments.0.costs", "rule:cost-attribution-sums")]
    assert "38.50" in found[0].message and "40.00" in found[0].message


def test_rule_cost_lines_in_one_currency() -> None:
    rec = record("reshipping")
    rec["reshipments"][0]["costs"][1]["amount"]["currency"] = "USD"
    assert ("reshipments.0.costs", "rule:cost-attribution-sums") in problems(rec)


def test_rule_dates_in_order() -> None:
    rec = record("closed")
    rec["decision"]["at"] = "2026-11-19T09:00:00+08:00"  # before the QC check
    assert ("decision.at", "rule:dates-in-order") in problems(rec)
    rec = record("closed")
    rec["closure"]["closed_at"] = "2026-11-23T00:00:00+08:00"  # before the customer confirmed
    assert ("closure.closed_at", "rule:dates-in-order") in problems(rec)
    rec = record("closed")
    rec["reshipments"][0]["delivered_at"] = "2026-11-21T14:00:00+08:00"  # before shipping
    assert ("reshipments.0.delivered_at", "rule:dates-in-order") in problems(rec)


def test_rule_dates_compare_across_offsets() -> None:
    rec = record("decided")
    rec["decision"]["at"] = "2026-11-20T02:00:00Z"  # 10:00 +08:00: after the 09:14 check
    assert problems(rec) == []
    rec["decision"]["at"] = "2026-11-20T01:00:00Z"  # 09:00 +08:00: before
    assert problems(rec) == [("decision.at", "rule:dates-in-order")]


def test_rule_id_matches_path() -> None:
    assert problems(record(), "records/2026/SZ1/000/SZ1-2026-00002.yaml") == [("id", "rule:id-matches-path")]
    assert problems(record(), "records/2026/SZ1/001/SZ1-2026-00001.yaml") == [("id", "rule:id-matches-path")]
    assert problems(record(), "elsewhere/SZ1-2026-00001.yaml") == [("id", "rule:id-matches-path")]


def test_rule_station_known() -> None:
    rec = record()
    rec["qc"]["station"] = "GZ9"
    assert ("qc.station", "rule:station-known") in problems(rec)
    rec = record()
    rec["qc"]["site"] = "GZ"
    assert problems(rec) == [("qc.site", "rule:station-known")]


def test_rule_reshipment_refs() -> None:
    rec = record("reshipping")
    rec["reshipments"][0]["ref"] = "SZ1-2026-00001-R2"
    assert problems(rec) == [("reshipments.0.ref", "rule:reshipment-refs")]


def test_rule_loop_closed_needs_delivery_and_vendor_answer() -> None:
    rec = record("closed")
    rec["reshipments"][0]["status"] = "shipped"
    del rec["reshipments"][0]["delivered_at"]
    found = validate_record(rec, SCHEMAS, CONFIG)
    assert ("closure.final_status", "rule:loop-closed") in [(p.field, p.rule) for p in found]
    assert "not delivered" in " ".join(p.message for p in found)
    rec = record("closed")
    del rec["vendor_contacts"]
    found = validate_record(rec, SCHEMAS, CONFIG)
    assert [(p.field, p.rule) for p in found] == [("closure.final_status", "rule:loop-closed")]
    assert "vendor" in found[0].message


def test_rule_references_exist() -> None:
    rec = record()
    rec["related"] = ["SZ1-2026-00077"]
    found = validate_record(rec, SCHEMAS, CONFIG, known_ids=frozenset({"SZ1-2026-00001"}))
    assert [(p.field, p.rule) for p in found] == [("related.0", "rule:references-exist")]
    assert validate_record(rec, SCHEMAS, CONFIG, known_ids=frozenset({"SZ1-2026-00077"})) == []


def test_all_problems_at_once() -> None:
    rec = record()
    rec["qc"]["severity"] = "awful"
    rec["qc"]["quantity"] = -1
    rec["qc"].pop("sku")
    fields = {f for f, _ in problems(rec)}
    assert {"qc.severity", "qc.quantity", "qc.sku"} <= fields


def test_hostile_value_message_is_bounded() -> None:
    rec = record()
    rec["qc"]["severity"] = "x" * 1_000_000
    found = validate_record(rec, SCHEMAS, CONFIG)
    assert found and all(len(p.message) < 400 for p in found)


# -- config ----------------------------------------------------------------------------------------


def test_config_is_valid_and_cross_checked() -> None:
    assert config_problems(config_data(), SCHEMAS) == []
    bad = config_data()
    bad["stations"].append({"id": "GZ1", "site": "GZ"})
    bad["reporting_currency"] = "JPY"
    rules = {p.rule for p in config_problems(bad, SCHEMAS)}
    assert rules == {"config:site-exists", "config:currency-listed"}
    broken = copy.deepcopy(config_data())
    broken["fx_rates"] = {"2026-11": {"USD": 7.15}}
    assert [p.field for p in config_problems(broken, SCHEMAS)] == ["fx_rates.2026-11.USD"]


def test_failure_code_categories_with_dashes() -> None:
    assert CONFIG.category_of("WRONG-ITEM-Size") == "WRONG-ITEM"
    assert CONFIG.category_of("DEFECTIVE-Stitching") == "DEFECTIVE"
    assert CONFIG.category_of("NOPE") is None


def test_every_missing_required_field_is_named() -> None:
    rec = record()
    del rec["qc"]["sku"]
    del rec["qc"]["vendor"]
    assert [f for f, _ in problems(rec)] == ["qc.sku", "qc.vendor"]

"""The rules' quick checks (`_in_order`, the currency screen, `id_from_path`) agree with the full walks
they stand in front of: a record passes a quick check exactly when the full rule finds nothing."""

from __future__ import annotations

import copy
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kakotui.core import rules
from kakotui.core.ids import PATH_RE, RecordId, id_from_path, path_for
from kakotui.core.rules import Context
from kakotui.interchange import sample
from tests.helpers import config

CONFIG = config()
RECORDS = sample.generate(400, start=date(2025, 6, 1), end=date(2026, 11, 25))
_TIMES = [
    ("decision", "at"),
    ("customer_confirmation", "at"),
    ("closure", "closed_at"),
]


def _stamps(record: dict[str, Any]) -> list[tuple[Any, str]]:
    """(container, key) of every timestamp `dates-in-order` reads."""
    out: list[tuple[Any, str]] = [(record["qc"], "checked_at")]
    out += [(record[a], b) for a, b in _TIMES if a in record]
    for reship in record.get("reshipments", []):
        out += [(reship, k) for k in ("created_at", "shipped_at", "delivered_at") if k in reship]
    out += [(c, "at") for c in record.get("vendor_contacts", [])]
    return out


def full_walk(record: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    with monkeypatch.context() as m:
        m.setattr(rules, "_in_order", lambda _record: False)
        return list(rules.dates_in_order(record, Context(CONFIG)))


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(RECORDS), st.data())
def test_in_order_is_true_exactly_when_the_full_walk_finds_nothing(
    original: dict[str, Any], draw: st.DataObject
) -> None:
    record = copy.deepcopy(original)
    stamps = _stamps(record)
    for _ in range(draw.draw(st.integers(0, 3))):
        holder, key = draw.draw(st.sampled_from(stamps))
        try:
            moment = datetime.fromisoformat(holder[key])
        except ValueError:  # made "soon" already
            continue
        choice = draw.draw(st.integers(0, 3))
        if choice == 0:  # earlier or later by up to ten days
            moment += timedelta(hours=draw.draw(st.integers(-240, 240)))
            holder[key] = moment.isoformat()
        elif choice == 1:  # the same moment in another offset
            holder[key] = moment.astimezone(
                datetime.fromisoformat("2026-01-01T00:00:00-05:00").tzinfo
            ).isoformat()
        elif choice == 2:  # not a timestamp (the rule skips it)
            holder[key] = "soon"
        else:  # no offset (not a timestamp either)
            holder[key] = moment.replace(tzinfo=None).isoformat()
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert rules._in_order(record) == (not full_walk(record, monkeypatch))


def test_the_currency_screen_agrees_with_the_full_rule() -> None:
    for original in RECORDS[:200]:
        record = copy.deepcopy(original)
        assert not list(rules.currency_known(record, Context(CONFIG)))
        monies = [r["total"] for r in record.get("reshipments", [])]
        monies += [c["recovered"] for c in record.get("vendor_contacts", []) if "recovered" in c]
        if monies:
            monies[-1]["currency"] = "XXX"
            found = list(rules.currency_known(record, Context(CONFIG)))
            assert found and all(p.rule == "rule:currency-known" for p in found)


@pytest.mark.parametrize(
    "path",
    [
        "records/2026/SZ1/000/SZ1-2026-00042.yaml",
        "records/2026/SZ1/001/SZ1-2026-00042.yaml",  # the wrong thousand
        "records/2025/SZ1/000/SZ1-2026-00042.yaml",  # the wrong year
        "records/2026/SZ2/000/SZ1-2026-00042.yaml",  # the wrong station
        "records/2026/SZ1/012/SZ1-2026-12345.yaml",
        "records/2026/SZ1/12/SZ1-2026-12345.yaml",
        "records/2026/sz1/000/SZ1-2026-00042.yaml",
        "records/2026/SZ1/000/SZ1-2026-00042.yml",
        "../records/2026/SZ1/000/SZ1-2026-00042.yaml",
    ],
)
def test_id_from_path_is_the_id_whose_path_it_is(path: str) -> None:
    found = id_from_path(path)
    m = PATH_RE.match(path)
    expected = None
    if m:
        rid = RecordId.parse(m["id"])
        expected = str(rid) if rid.path == path else None
    assert found == expected
    if found:
        assert path_for(found) == path


def test_in_order_sees_each_kind_of_step_out_of_order() -> None:
    decided = next(r for r in RECORDS if "closure" in r and r.get("reshipments") and r.get("vendor_contacts"))
    for holder_of, key in [
        (lambda r: r["decision"], "at"),
        (lambda r: r["reshipments"][0], "created_at"),
        (lambda r: r["vendor_contacts"][0], "at"),
        (lambda r: r["closure"], "closed_at"),
    ]:
        record = copy.deepcopy(decided)
        assert rules._in_order(record)
        holder = holder_of(record)
        holder[key] = (datetime.fromisoformat(record["qc"]["checked_at"]) - timedelta(days=1)).isoformat()
        assert not rules._in_order(record), key
        assert list(rules.dates_in_order(record, Context(CONFIG)))

"""Every report over the fixed log (tests/reports/fixedlog.py), against figures computed by hand.

November 2026 is the period unless a test says otherwise: the cohort is R1, R2 (hx-leather), R3
(acme-bags) and R4 (yiwu-toys); R5 and R7 are the previous period; R6 is December.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kakotui.core import yamlio
from kakotui.core.config import CONFIG_FILE
from kakotui.core.money import Money, convert
from kakotui.log import ExceptionLog, LogError
from kakotui.reports.model import Report
from kakotui.reports.render import render
from tests.helpers import git
from tests.reports.fixedlog import NOVEMBER, NOW, R1, R2, R3, R4, R6

D = Decimal


def nov(log: ExceptionLog, name: str, **kw: Any) -> Report:
    report: Report = log.report(name, since=NOVEMBER[0], until=NOVEMBER[1], now=NOW, **kw)
    return report


def row(report: Report, **keys: str) -> dict[str, Any]:
    i = report.find(**keys)
    return {c.key: report.rows[i][j] for j, c in enumerate(report.columns)}


def totals(report: Report) -> dict[str, Any]:
    assert report.totals is not None
    return {c.key: report.totals[j] for j, c in enumerate(report.columns)}


# ---------------------------------------------------------------- scorecard


def test_scorecard_every_column(fixed: ExceptionLog) -> None:
    card = nov(fixed, "scorecard")
    assert [r[0] for r in card.rows] == ["hx-leather", "acme-bags", "yiwu-toys"]
    assert row(card, vendor="hx-leather") == {
        "vendor": "hx-leather",
        "exceptions": 2,
        "previous": 1,  # R5
        "change": D("100.0"),
        "top_category": "DEFECTIVE",
        "top_share": D("100.0"),
        "critical": 1,
        "major": 1,
        "minor": 0,
        "reshipments": 2,
        "reopened": 0,
        "cost": D("101.50"),  # 30.00 CNY (R1) + 10.00 USD x 7.15 (R2)
        "recovered": D("20.00"),  # R1's partial credit
        "recovery_rate": D("19.7"),
        "outstanding": D("81.50"),
        "days_to_close": D("4.1"),  # R1: 4 days 3 hours
        "open": 1,
        "repeat": 1,  # R2: HX-1 failed before in R1
        "score": D("31.3"),  # (21.89 x 30 + 0 x 20 + 100 x 20 + 0 x 15) / 85
        "grade": "D",
    }
    assert row(card, vendor="acme-bags") == {
        "vendor": "acme-bags",
        "exceptions": 1,
        "previous": 1,  # R7
        "change": D("0.0"),
        "top_category": "WRONG-ITEM",
        "top_share": D("100.0"),
        "critical": 0,
        "major": 0,
        "minor": 1,
        "reshipments": 0,
        "reopened": 1,  # R3
        "cost": D("0.00"),
        "recovered": D("93.60"),  # 12.00 EUR x 7.80, the refund of R3
        "recovery_rate": None,
        "outstanding": D("-93.60"),
        "days_to_close": None,  # R3 was reopened: not closed any more
        "open": 1,
        "repeat": 0,
        "score": D("100.0"),
        "grade": "A",
    }
    yiwu = row(card, vendor="yiwu-toys")
    assert (yiwu["exceptions"], yiwu["previous"], yiwu["change"], yiwu["open"], yiwu["grade"]) == (
        1,
        0,
        None,
        1,
        "A",
    )
    assert totals(card) | {"score": None} == {
        "vendor": "total",
        "exceptions": 4,
        "previous": 2,
        "change": D("100.0"),
        "top_category": None,
        "top_share": None,
        "critical": 1,
        "major": 2,
        "minor": 1,
        "reshipments": 2,
        "reopened": 1,
        "cost": D("101.50"),
        "recovered": D("113.60"),
        "recovery_rate": D("111.9"),
        "outstanding": D("-12.10"),
        "days_to_close": D("4.1"),
        "open": 3,
        "repeat": 1,
        "score": None,
        "grade": None,
    }
    pareto = card.part("pareto")
    assert [r[:4] for r in pareto.rows] == [
        ("DEFECTIVE", 2, D("50.0"), D("50.0")),
        ("DAMAGED", 1, D("25.0"), D("75.0")),
        ("WRONG-ITEM", 1, D("25.0"), D("100.0")),
    ]
    assert card.part("categories").rows[0] == ("hx-leather", "DEFECTIVE", 2, D("100.0"), 1, 1)


def test_scorecard_drill_downs_select_exactly_the_records_behind_the_figures(fixed: ExceptionLog) -> None:
    card = nov(fixed, "scorecard")
    i = card.find(vendor="hx-leather")

    def ids(query: str) -> set[str]:
        return {str(r["id"]) for r in fixed.records(query)}

    assert card.drill(i) is not None
    assert ids(card.drill(i).query) == {R1, R2}  # type: ignore[union-attr]
    assert ids(card.drill(i, "critical").query) == {R2}  # type: ignore[union-attr]
    assert ids(card.drill(i, "open").query) == {R2}  # type: ignore[union-attr]
    assert ids(card.drill(i, "days_to_close").query) == {R1}  # type: ignore[union-attr]
    assert card.drill(i, "recovery_rate") is None
    pareto = card.part("pareto")
    assert ids(pareto.drill(pareto.find(category="DEFECTIVE")).query) == {R1, R2}  # type: ignore[union-attr]


def test_volumes_give_defect_rate_and_ppm(fixed: ExceptionLog) -> None:
    (fixed.root / "volumes").mkdir()
    (fixed.root / "volumes" / "2026-11.yaml").write_text(
        yamlio.dump(
            {"schema_version": 1, "month": "2026-11", "inspected": {"hx-leather": 1000, "acme-bags": 500}}
        )
    )
    (fixed.root / "volumes" / "2026-10.yaml").write_text(
        "schema_version: 1\nmonth: '2026-10'\ninspected: []\n"
    )
    card = nov(fixed, "scorecard")
    hx = row(card, vendor="hx-leather")
    assert (hx["inspected"], hx["defect_rate"], hx["ppm"]) == (1000, D("0.3"), 3000)  # R1 2 units + R2 1 unit
    assert hx["score"] == D("33.2")  # the PPM criterion now counts: 44.44 x 15 more, over 100
    acme = row(card, vendor="acme-bags")
    assert (acme["inspected"], acme["defect_rate"], acme["ppm"]) == (500, D("0.2"), 2000)
    yiwu = row(card, vendor="yiwu-toys")
    assert (yiwu["inspected"], yiwu["defect_rate"], yiwu["ppm"]) == (None, None, None)
    t = totals(card)
    assert (t["inspected"], t["defect_rate"], t["ppm"]) == (1500, D("0.3"), 2667)
    assert any("volumes/2026-10.yaml" in n and "left out" in n for n in card.notes)
    # a period that does not hold the whole month uses no volumes
    part = fixed.report("scorecard", since=date(2026, 11, 2), until=NOVEMBER[1], now=NOW)
    assert "ppm" not in [c.key for c in part.columns]


def test_grading_from_kakotui_yaml(fixed: ExceptionLog) -> None:
    data = yamlio.load((fixed.root / CONFIG_FILE).read_bytes())
    data["scorecard"] = {
        "criteria": [{"metric": "open_share", "weight": 1, "target": 0, "limit": "100"}],
        "grades": [{"grade": "bad", "min_score": 0}, {"grade": "good", "min_score": 50}],
    }
    (fixed.root / CONFIG_FILE).write_text(yamlio.dump(data))
    with ExceptionLog.open(fixed.root) as log:
        log.refresh()
        card = nov(log, "scorecard")
    assert (row(card, vendor="hx-leather")["score"], row(card, vendor="hx-leather")["grade"]) == (
        D("50.0"),
        "good",
    )
    assert (row(card, vendor="acme-bags")["score"], row(card, vendor="acme-bags")["grade"]) == (
        D("0.0"),
        "bad",
    )
    data["scorecard"]["criteria"][0]["metric"] = "happiness"
    (fixed.root / CONFIG_FILE).write_text(yamlio.dump(data))
    with pytest.raises(LogError, match="scorecard"):
        ExceptionLog.open(fixed.root)


# ---------------------------------------------------------------- costs and reconciliation


def test_costs_every_cell(fixed: ExceptionLog) -> None:
    costs = nov(fixed, "costs")
    assert list(costs.rows) == [
        ("vendor", "2026-11", "freight", "CNY", 1, D("30.00"), D("30.00")),
        (
            "vendor",
            "2026-11",
            "freight",
            "USD",
            1,
            D("4.00"),
            D("28.60"),
        ),  # R5: checked in October, cost in November
        ("vendor", "2026-11", "goods", "USD", 1, D("10.00"), D("71.50")),
        ("carrier", "2026-11", "freight", "USD", 1, D("5.00"), D("35.75")),
        ("warehouse", "2026-11", "handling", "CNY", 1, D("8.50"), D("8.50")),
    ]
    assert costs.totals == ("total", None, None, None, 5, None, D("174.35"))
    assert list(costs.part("currencies").rows) == [
        ("CNY", 2, D("38.50"), D("38.50")),
        ("USD", 3, D("19.00"), D("135.85")),
    ]
    assert list(costs.part("parties").rows) == [
        ("vendor", 3, D("130.10"), D("74.6")),
        ("carrier", 1, D("35.75"), D("20.5")),
        ("warehouse", 1, D("8.50"), D("4.9")),
    ]
    october = fixed.report("costs", since=date(2026, 10, 1), until=date(2026, 10, 31), now=NOW)
    assert [r[:4] for r in october.rows] == [
        ("vendor", "2026-10", "goods", "CNY"),
        ("platform", "2026-10", "fees", "CNY"),
    ]


def test_costs_reconcile_exactly_with_the_records_cost_lines(fixed: ExceptionLog) -> None:
    """Sum every cost line of every record file by hand and compare with the report's totals."""
    per_currency: dict[str, Decimal] = {}
    converted = Decimal(0)
    for loaded in (fixed.get(str(r["id"])) for r in fixed.records("")):
        assert loaded.record is not None
        for reship in loaded.record.get("reshipments", []):
            day = reship["created_at"][:10]
            if not "2026-10-01" <= day <= "2026-11-30":
                continue
            for line in reship["costs"]:
                money = Money.from_record(line["amount"])
                per_currency[money.currency] = per_currency.get(money.currency, D(0)) + money.amount
                value = convert(money.amount, money.currency, "CNY", fixed.config.rates_for(day[:7]))
                assert value is not None
                converted += value
    report = fixed.report("costs", since=date(2026, 10, 1), until=date(2026, 11, 30), now=NOW)
    assert {r[0]: r[2] for r in report.part("currencies").rows} == per_currency
    assert report.total("reporting") == converted == D("229.35")  # 174.35 in November + 55.00 (R7) in October


def test_reconcile_every_cell(fixed: ExceptionLog) -> None:
    recon = nov(fixed, "reconcile")
    assert list(recon.rows) == [
        # opening 50.00 charged in October (R7); recovered 30.00 (R7) + 93.60 (R3, EUR)
        ("vendor", "acme-bags", D("50.00"), D("0.00"), D("123.60"), D("-73.60"), 1, "2026-10-06", 55),
        # charged R1 30.00 + R2 71.50 + R5 28.60; recovered R1 20.00 + R5 28.60; R5 owes nothing
        ("vendor", "hx-leather", D("0.00"), D("130.10"), D("48.60"), D("81.50"), 2, "2026-11-03", 27),
        ("carrier", "dhl", D("0.00"), D("35.75"), D("0.00"), D("35.75"), 1, "2026-11-12", 18),
    ]
    assert recon.totals == ("total", None, D("50.00"), D("165.85"), D("172.20"), D("43.65"), 4, None, None)


# ---------------------------------------------------------------- audit


def test_audit_every_table(fixed: ExceptionLog) -> None:
    audit = nov(fixed, "audit")
    assert [r[:1] + r[2:] for r in audit.rows] == [
        ("decide", 1, 4, 2, 1, 0, 1, D("33.3")),  # R2 decided after 48 h; R4 still within its day
        ("reship", 3, 2, 2, 0, 0, 0, D("0.0")),
        ("close", 14, 4, 1, 0, 2, 1, D("66.7")),  # R2 and reopened R3 past 14 days
    ]
    assert audit.drill(0) is not None and audit.drill(0).query == f"id:{R2}"  # type: ignore[union-attr]
    assert audit.drill(2).query == f"id:{R2},{R3}"  # type: ignore[union-attr]
    assert audit.drill(1) is None
    aging = audit.part("aging")
    assert [(r[0], r[1]) for r in aging.rows] == [
        ("0-1", 1), ("2-3", 0), ("4-7", 0), ("8-14", 0), ("15-30", 2), ("31+", 0)
    ]  # fmt: skip
    assert {str(r["id"]) for r in fixed.records(aging.drill(4).query)} >= {R2, R3}  # type: ignore[union-attr]
    gaps = {r[0]: r[2] for r in audit.part("gaps").rows}
    assert gaps == {
        "invalid": 0,
        "no-evidence": 2,  # R2, R4
        "no-description": 1,  # R4
        "no-reason": 1,  # R3's refund
        "vendor-not-contacted": 0,
        "vendor-unanswered": 0,
    }
    gap_rows = audit.part("gaps")
    assert gap_rows.drill(gap_rows.find(gap="no-evidence")).query == f"id:{R2},{R4}"  # type: ignore[union-attr]
    logging = audit.part("logging")
    assert list(logging.rows) == [
        ("SZ1", 3, D("120.0"), D("1560.0"), D("33.3"), 1, 0),  # 5 min, 2 h, 26 h
        ("SZ2", 1, D("1.0"), D("1.0"), D("100.0"), 0, 0),
    ]
    assert logging.totals == ("total", 4, D("62.5"), D("1560.0"), D("50.0"), 1, 0)
    assert list(audit.part("inspectors").rows) == [
        ("Li Wei", 2, 0, D("100.0"), 1, D("3.0")),
        ("Wang Fang", 1, 1, D("0.0"), 1, D("120.0")),
        ("Zhou Min", 1, 0, D("0.0"), 1, D("1560.0")),
    ]


def test_audit_as_of_now_without_until(fixed: ExceptionLog) -> None:
    audit = fixed.report("audit", since=NOVEMBER[0], now=NOW)  # as of 2026-12-03 12:00: R4's day has passed
    decide = audit.rows[0]
    assert decide[3:8] == (5, 3, 1, 1, 0)  # R1..R4 and R6 (decided within 9 hours); R4 is now overdue
    assert audit.meta_value("as_of") == "2026-12-03T12:00:00+08:00"


# ---------------------------------------------------------------- trends


def test_trends_weekly_by_category(fixed: ExceptionLog) -> None:
    trends = nov(fixed, "trends", by="week", group="category")
    assert [c.label for c in trends.columns] == [
        "week",
        "DEFECTIVE",
        "DAMAGED",
        "WRONG-ITEM",
        "MISSING-PARTS",
        "total",
    ]
    assert list(trends.rows) == [
        ("2026-10-26", 0, 0, 0, 0, 0),  # the week of Sunday 1 November
        ("2026-11-02", 1, 0, 0, 0, 1),
        ("2026-11-09", 1, 0, 1, 0, 2),
        ("2026-11-16", 0, 0, 0, 0, 0),
        ("2026-11-23", 0, 0, 0, 0, 0),
        ("2026-11-30", 0, 1, 0, 0, 1),
    ]
    cost = trends.part("cost")
    assert [r[0:2] + r[-2:] for r in cost.rows][:3] == [
        ("2026-10-26", D("0.00"), D("28.60"), D("28.60")),
        ("2026-11-02", D("38.50"), D("0.00"), D("38.50")),
        ("2026-11-09", D("107.25"), D("0.00"), D("107.25")),
    ]
    assert cost.total("total") == nov(fixed, "costs").total("reporting") == D("174.35")
    monthly = nov(fixed, "trends", by="month", group="vendor")
    assert list(monthly.rows) == [("2026-11", 2, 1, 1, 4)]
    assert [c.label for c in monthly.columns] == ["month", "hx-leather", "acme-bags", "yiwu-toys", "total"]
    with pytest.raises(LogError, match="choose one of"):
        nov(fixed, "trends", by="day")


# ---------------------------------------------------------------- periods, rates, revisions


def test_period_boundaries_are_inclusive_local_days(fixed: ExceptionLog) -> None:
    def count(since: date | None, until: date | None) -> int:
        return int(fixed.report("audit", since=since, until=until, now=NOW).part("gaps").rows[1][2]) + 0

    def exceptions(since: date, until: date) -> int:
        card = fixed.report("scorecard", since=since, until=until, now=NOW)
        return int(card.total("exceptions") or 0)

    assert exceptions(date(2026, 11, 30), date(2026, 11, 30)) == 1  # R4, 20:00 on the 30th
    assert exceptions(date(2026, 11, 1), date(2026, 11, 29)) == 3
    assert exceptions(date(2026, 11, 2), date(2026, 11, 2)) == 1  # R1
    assert exceptions(date(2026, 11, 3), date(2026, 11, 9)) == 0
    assert count(date(2026, 12, 1), None) == 0  # R6 (00:30 on 1 December) has evidence
    with pytest.raises(LogError, match="after"):
        fixed.report("costs", since=date(2026, 12, 1), until=date(2026, 11, 1))
    filtered = fixed.report(
        "scorecard", since=NOVEMBER[0], until=NOVEMBER[1], vendors=["HX-Leather"], now=NOW
    )
    assert [r[0] for r in filtered.rows] == ["hx-leather"]
    by_station = fixed.report("scorecard", since=NOVEMBER[0], until=NOVEMBER[1], stations=["sz2"], now=NOW)
    assert [(r[0], r[1]) for r in by_station.rows] == [("acme-bags", 1)]


def test_a_missing_fx_rate_is_an_error_naming_month_and_currency(fixed: ExceptionLog) -> None:
    for name in ("costs", "scorecard", "reconcile", "trends", "meeting"):
        with pytest.raises(LogError, match=r"EUR in 2026-12 \(1 amount\(s\), e\.g\. SZ1-2026-00005-R1\)"):
            fixed.report(name, now=NOW)
    audit = fixed.report("audit", now=NOW)  # no money in it: all time works
    assert audit.rows[0][3] == 7
    assert R6 in {str(r["id"]) for r in fixed.records("")}


def test_at_a_revision(fixed: ExceptionLog, commits: dict[str, str]) -> None:
    past = nov(fixed, "scorecard", at=commits["r3_closed"])
    assert past.meta_value("revision") == commits["r3_closed"][:12]
    acme = row(past, vendor="acme-bags")
    assert (acme["open"], acme["reopened"], acme["days_to_close"]) == (
        0,
        0,
        D("2.0"),
    )  # closed, not yet reopened
    assert [r[0] for r in past.rows] == ["hx-leather", "acme-bags"]  # R4 was not logged yet
    assert (fixed.git.git_dir / "kakotui" / "at" / f"{commits['r3_closed']}.sqlite").is_file()
    for name in ("scorecard", "costs", "reconcile", "audit", "trends"):
        assert render(nov(fixed, name, at="HEAD"), "json") == render(nov(fixed, name), "json"), name
    with pytest.raises(LogError, match="unknown revision"):
        nov(fixed, "costs", at="no-such-branch")


def test_facts_follow_saves_deletes_and_hand_edits(fixed: ExceptionLog) -> None:
    fixed.contact_vendor(
        R2, channel="chat", summary="Credit.", outcome="credit", recovered=Money(D("71.50"), "CNY"),
        at="2026-11-20T10:00:00+08:00",
    )  # fmt: skip
    assert row(nov(fixed, "scorecard"), vendor="hx-leather")["recovered"] == D("91.50")
    path = fixed.get(R2).path
    git(fixed.root, "rm", "-q", path)
    git(fixed.root, "commit", "-qm", "drop R2")
    fixed.refresh()
    db: sqlite3.Connection = fixed.index.db
    for table in ("fact_records", "cost_lines", "recoveries"):
        assert db.execute(f"SELECT count(*) FROM {table} WHERE path = ?", (path,)).fetchone()[0] == 0, table
    assert row(nov(fixed, "scorecard"), vendor="hx-leather")["exceptions"] == 1
    # an uncommitted hand edit is reported too, and the stamp says so
    file = fixed.root / fixed.get(R4).path
    file.write_text(file.read_text().replace("severity: major", "severity: critical"))
    fixed.refresh()
    card = nov(fixed, "scorecard")
    assert row(card, vendor="yiwu-toys")["critical"] == 1
    assert card.meta_value("revision").endswith("+ 1 uncommitted file(s)")
    # a rebuild gives the same facts
    before = render(card, "json")
    fixed.rebuild_index()
    assert render(nov(fixed, "scorecard"), "json") == before


# ---------------------------------------------------------------- formats and the meeting pack


def test_formats_keep_numbers_exact(fixed: ExceptionLog) -> None:
    costs = nov(fixed, "costs")
    assert render(costs, "csv").splitlines()[:3] == [
        "responsible,month,type,currency,lines,amount,amount CNY",
        "vendor,2026-11,freight,CNY,1,30.00,30.00",
        "vendor,2026-11,freight,USD,1,4.00,28.60",
    ]
    assert render(costs, "csv", part="parties").splitlines()[1] == "vendor,3,130.10,74.6"
    data = json.loads(render(costs, "json"))
    assert data["rows"][2] == {
        "responsible": "vendor", "month": "2026-11", "type": "goods", "currency": "USD", "lines": 1,
        "amount": "10.00", "reporting": "71.50", "drill": "responsible:vendor",
    }  # fmt: skip
    assert data["totals"]["reporting"] == "174.35"
    assert data["meta"]["period"] == "2026-11-01 to 2026-11-30"
    table = render(costs, "table")
    assert "total        —        —         —             5       —      174.35" in table
    md = render(costs, "md")
    assert "| vendor | 2026-11 | freight | CNY | 1 | 30.00 | 30.00 |" in md


def test_markdown_escapes_record_text() -> None:
    from kakotui.reports.model import Column

    report = Report("x", "T", (Column("who", "who"),), (("a|b *c* \x1b[31m",),))
    assert "| a\\|b \\*c\\* \\\\x1b\\[31m |" in render(report, "md")


def test_meeting_pack(fixed: ExceptionLog) -> None:
    pack = nov(fixed, "meeting")
    md = render(pack, "md")
    head = fixed.git.head()
    assert head is not None
    assert md.startswith("# Review meeting: Shenzhen warehouse QC exception log\n")
    assert f"revision: {head[:12]}" in md
    for heading in (
        "## Vendor scorecard",
        "### Failure categories (Pareto)",
        "## Cost attribution",
        "### By responsible party (CNY)",
        "## Reconciliation: charged, recovered, outstanding",
        "## Process audit: SLA breaches",
        "### Records incomplete for their stage",
        "## Exceptions per week by category",
    ):
        assert heading in md, heading
    summary = {r[0]: r[1] for r in pack.rows}
    assert summary["Exceptions checked"] == "4 (previous period 2, 100.0%)"
    assert summary["Open now (of these)"] == "3"
    assert summary["Cost booked in the period (CNY)"] == "174.35"
    assert summary["Recovered from vendors (CNY)"] == "113.60 (111.9%)"
    assert summary["Outstanding at the end, vendors and carriers (CNY)"] == "43.65"
    assert summary["SLA 'close' breached"] == "2 (66.7%)"
    assert summary["Data gaps"] == "no-evidence 2, no-description 1, no-reason 1"
    assert summary["Median minutes from QC check to commit"] == "62.5"
    assert summary["Vendors below grade A"] == "hx-leather (D)"
    assert "| hx-leather | 2 | 1 | 100.0% | DEFECTIVE |" in md


def test_unknown_report(fixed: ExceptionLog, tmp_path: Path) -> None:
    with pytest.raises(LogError, match="no report 'nope'"):
        fixed.report("nope")

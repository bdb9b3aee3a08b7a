"""Vendor scorecard: per vendor, the exceptions of a period and what they cost, recovered and left open.

The cohort is the records whose QC check falls in the period; their cost lines charged to the
vendor and the amounts recovered from the vendor count whenever they were booked (as the log
knows them at the revision). Status figures (open, median days to close) are the records' current
state. Defect rate and PPM use the months fully inside the period that have a volumes file.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import fields
from datetime import date, timedelta
from decimal import Decimal

from kakotui.reports.common import join, require_rates, scope_of, term
from kakotui.reports.grading import grading_of
from kakotui.reports.model import (
    Cell,
    Chart,
    Column,
    Context,
    Drill,
    Filters,
    Report,
    days,
    median,
    percent,
)
from kakotui.store.reportdata import FactSource, Stats

__all__ = ["build"]

_MILLION = Decimal(1_000_000)


def _months_inside(filters: Filters, months: set[str]) -> list[str]:
    """The months (of `months`) that lie wholly inside the period."""
    out = []
    for month in sorted(months):
        first = date.fromisoformat(month + "-01")
        last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        if (filters.since is None or filters.since <= first) and (
            filters.until is None or last <= filters.until
        ):
            out.append(month)
    return out


def _columns(currency: str, with_volumes: bool) -> tuple[Column, ...]:
    cols = [
        Column("vendor", "vendor"),
        Column("exceptions", "exceptions", "count"),
        Column("previous", "previous", "count", None),
        Column("change", "change %", "percent", None),
        Column("top_category", "top category", "text", None),
        Column("top_share", "top share %", "percent", None),
        Column("critical", "critical", "count", "severity:critical"),
        Column("major", "major", "count", "severity:major"),
        Column("minor", "minor", "count", "severity:minor"),
        Column("reshipments", "reshipments", "count", None),
        Column("reopened", "reopened", "count", None),
        Column("cost", f"cost {currency}", "money", "responsible:vendor"),
        Column("recovered", f"recovered {currency}", "money", None),
        Column("recovery_rate", "recovery %", "percent", None),
        Column("outstanding", f"outstanding {currency}", "money", None),
        Column("days_to_close", "median days to close", "days", "status:closed"),
        Column("open", "open", "count", "is:open"),
        Column("repeat", "repeat", "count", None),
    ]
    if with_volumes:
        cols += [
            Column("inspected", "inspected", "count", None),
            Column("defect_rate", "defect rate %", "percent", None),
            Column("ppm", "PPM", "count", None),
        ]
    cols += [Column("score", "score", "score", None), Column("grade", "grade", "text", None)]
    return tuple(cols)


def build(source: FactSource, filters: Filters, ctx: Context) -> Report:
    currency = ctx.currency
    scope = scope_of(filters)
    require_rates(source, scope, currency, dated="record", responsible=("vendor",))
    cells = source.stats(scope, ["vendor", "category"])  # one pass: vendors, Pareto and categories from it
    stats = _fold(cells, 0)
    by_category: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for vc in cells:
        by_category[vc.key[0]].append((vc.key[1], vc.records))
    cost: dict[str, int] = defaultdict(int)
    for c in source.costs(scope, ["vendor"], dated="record", responsible=("vendor",)):
        cost[c.key[0]] += c.reporting_minor
    recovered: dict[str, int] = defaultdict(int)
    for r in source.recoveries(scope, ["vendor"], dated="record"):
        recovered[r.key[0]] += r.reporting_minor
    # the middle one or two of the durations in order: all a median needs
    to_close, all_durations = source.middle_durations(scope)
    repeats = source.repeats(scope)
    previous: dict[str, Stats] = {}
    prev_filters = filters.previous(ctx.as_of.date())
    if prev_filters is not None:
        previous = {s.key[0]: s for s in source.stats(scope_of(prev_filters), ["vendor"])}

    months = _months_inside(filters, set(ctx.volumes))
    inspected: dict[str, int] = defaultdict(int)
    failed_units: dict[str, int] = defaultdict(int)
    if months:
        for month in months:
            for vendor, units in ctx.volumes[month].items():
                inspected[vendor] += units
        for vm in source.stats(scope, ["vendor", "month"]):
            if vm.key[1] in months and vm.key[0] in ctx.volumes[vm.key[1]]:
                failed_units[vm.key[0]] += vm.units
    with_volumes = bool(months)
    grading = grading_of(ctx.config.data)
    columns = _columns(currency, with_volumes)

    vendors = sorted(set(stats) | set(previous), key=lambda v: (-(stats[v].records if v in stats else 0), v))
    rows: list[tuple[Cell, ...]] = []
    drills: list[Drill | None] = []
    for vendor in vendors:
        s = stats.get(vendor)
        n = s.records if s else 0
        cats = sorted(by_category.get(vendor, []), key=lambda c: (-c[1], c[0]))
        prev = previous[vendor].records if vendor in previous else (0 if prev_filters else None)
        change = percent(n - prev, prev) if prev else None
        charged, back = cost[vendor], recovered[vendor]
        median_s = median(to_close.get(vendor, []))
        values: dict[str, Cell] = {
            "vendor": vendor,
            "exceptions": n,
            "previous": prev,
            "change": change,
            "top_category": cats[0][0] if cats else None,
            "top_share": percent(cats[0][1], n) if cats else None,
            "critical": s.critical if s else 0,
            "major": s.major if s else 0,
            "minor": s.minor if s else 0,
            "reshipments": s.reshipments if s else 0,
            "reopened": s.reopened if s else 0,
            "cost": ctx.money(charged),
            "recovered": ctx.money(back),
            "recovery_rate": percent(back, charged),
            "outstanding": ctx.money(charged - back),
            "days_to_close": days(median_s),
            "open": s.open if s else 0,
            "repeat": repeats.get(vendor, 0),
        }
        metrics: dict[str, Decimal | None] = {
            "recovery_rate": percent(back, charged),
            "critical_share": percent(s.critical, n) if s else None,
            "days_to_close": days(median_s),
            "repeat_share": percent(repeats.get(vendor, 0), n) if n else None,
            "open_share": percent(s.open, n) if s else None,
            "defect_rate": None,
            "ppm": None,
        }
        if with_volumes:
            units = inspected.get(vendor, 0)
            values["inspected"] = units if vendor in inspected else None
            if units:
                metrics["defect_rate"] = percent(failed_units[vendor], units)
                ppm = Decimal(failed_units[vendor]) * _MILLION / units
                metrics["ppm"] = ppm
                values["defect_rate"] = metrics["defect_rate"]
                values["ppm"] = int(ppm.to_integral_value())
            else:
                values["defect_rate"] = values["ppm"] = None
        score = grading.score(metrics) if n else None
        values["score"] = score
        values["grade"] = grading.grade(score)
        rows.append(tuple(values[c.key] for c in columns))
        query = join(term("vendor", vendor), filters.query_terms())
        drills.append(Drill(query) if query is not None else None)

    money_totals = (sum(cost[v] for v in vendors), sum(recovered[v] for v in vendors))
    totals = _totals(
        columns, rows, all_durations, ctx, prev_filters is not None, money_totals, inspected, failed_units
    )
    notes = [
        "Exceptions checked in the period; their cost charged to the vendor and the amounts recovered "
        "count whenever booked. Open and days to close are the records' current state.",
        "Repeat: exceptions on a SKU of the same vendor that had failed before (at any earlier time).",
        grading.describe(),
    ]
    if prev_filters is not None:
        notes.append(f"Previous period: {prev_filters.since} to {prev_filters.until}.")
    if with_volumes:
        notes.append(
            f"Defect rate and PPM over the months with volumes inside the period: {', '.join(months)}."
        )
    notes += list(ctx.volume_problems)
    parts = (_pareto(list(_fold(cells, 1).values()), filters), _categories(cells, filters))
    return Report(
        "scorecard",
        "Vendor scorecard",
        columns,
        tuple(rows),
        totals,
        tuple(notes),
        tuple(drills),
        parts,
        ctx.meta(filters),
        Chart("vendor", "exceptions"),
    )


def _totals(
    columns: tuple[Column, ...],
    rows: list[tuple[Cell, ...]],
    all_durations: list[int],
    ctx: Context,
    has_previous: bool,
    money_totals: tuple[int, int],
    inspected: dict[str, int],
    failed_units: dict[str, int],
) -> tuple[Cell, ...]:
    keys = [c.key for c in columns]

    def column_sum(key: str) -> int | Decimal:
        i = keys.index(key)
        return sum((v for r in rows if isinstance(v := r[i], (int, Decimal))), start=0)

    n = int(column_sum("exceptions"))
    prev = int(column_sum("previous")) if has_previous else None
    charged, back = money_totals
    out: dict[str, Cell] = {k: None for k in keys}
    out.update(
        vendor="total",
        exceptions=n,
        previous=prev,
        change=percent(n - prev, prev) if prev else None,
        critical=column_sum("critical"),
        major=column_sum("major"),
        minor=column_sum("minor"),
        reshipments=column_sum("reshipments"),
        reopened=column_sum("reopened"),
        cost=ctx.money(charged),
        recovered=ctx.money(back),
        recovery_rate=percent(back, charged),
        outstanding=ctx.money(charged - back),
        days_to_close=days(median(all_durations)),
        open=column_sum("open"),
        repeat=column_sum("repeat"),
    )
    if "inspected" in keys:
        units = sum(inspected.values())
        failed = sum(failed_units.values())
        out["inspected"] = units
        out["defect_rate"] = percent(failed, units)
        out["ppm"] = int((Decimal(failed) * _MILLION / units).to_integral_value()) if units else None
    return tuple(out[k] for k in keys)


def _fold(cells: list[Stats], keep: int) -> dict[str, Stats]:
    """Add up the Stats of (vendor, category) cells per vendor (keep=0) or per category (keep=1)."""
    out: dict[str, Stats] = {}
    for cell in cells:
        key = cell.key[keep]
        old = out.get(key)
        if old is None:
            out[key] = Stats((key,), *(getattr(cell, f.name) for f in fields(Stats)[1:]))
        else:
            out[key] = Stats(
                (key,), *(getattr(old, f.name) + getattr(cell, f.name) for f in fields(Stats)[1:])
            )
    return out


def _pareto(per_category: list[Stats], filters: Filters) -> Report:
    """Failure categories over all vendors in scope, largest first, with the cumulative share."""
    stats = sorted(per_category, key=lambda s: (-s.records, s.key[0]))
    total = sum(s.records for s in stats)
    rows: list[tuple[Cell, ...]] = []
    drills: list[Drill | None] = []
    running = 0
    for s in stats:
        running += s.records
        rows.append((s.key[0], s.records, percent(s.records, total), percent(running, total)))
        query = join(term("category", s.key[0]), filters.query_terms())
        drills.append(Drill(query) if query is not None else None)
    return Report(
        "scorecard.pareto",
        "Failure categories (Pareto)",
        (
            Column("category", "category"),
            Column("exceptions", "exceptions", "count"),
            Column("share", "share %", "percent", None),
            Column("cumulative", "cumulative %", "percent", None),
        ),
        tuple(rows),
        ("total", total, percent(total, total), None),
        drills=tuple(drills),
        chart=Chart("category", "exceptions"),
    )


def _categories(stats: list[Stats], filters: Filters) -> Report:
    """Each vendor's exceptions by failure category, with the category's share of the vendor's."""
    per_vendor: dict[str, int] = defaultdict(int)
    for s in stats:
        per_vendor[s.key[0]] += s.records
    ordered = sorted(stats, key=lambda s: (-per_vendor[s.key[0]], s.key[0], -s.records, s.key[1]))
    rows: list[tuple[Cell, ...]] = []
    drills: list[Drill | None] = []
    for s in ordered:
        rows.append(
            (s.key[0], s.key[1], s.records, percent(s.records, per_vendor[s.key[0]]), s.critical, s.open)
        )
        query = join(term("vendor", s.key[0]), term("category", s.key[1]), filters.query_terms())
        drills.append(Drill(query) if query is not None else None)
    return Report(
        "scorecard.categories",
        "Exceptions by vendor and failure category",
        (
            Column("vendor", "vendor"),
            Column("category", "category"),
            Column("exceptions", "exceptions", "count"),
            Column("share", "share of vendor %", "percent", None),
            Column("critical", "critical", "count", "severity:critical"),
            Column("open", "open", "count", "is:open"),
        ),
        tuple(rows),
        drills=tuple(drills),
    )

"""Trends: exceptions and cost per week or month, split by failure category, vendor or station.

Exceptions are bucketed by their QC check date, cost by the reshipment date of each cost line (in
the reporting currency). The largest groups get a column each, the rest share "other".
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from kakotui.reports.common import join, require_rates, scope_of, term
from kakotui.reports.model import Cell, Chart, Column, Context, Drill, Filters, Report, ReportError
from kakotui.store.reportdata import FactSource

__all__ = ["BUCKETS", "GROUPS", "build"]

BUCKETS = ("week", "month")
GROUPS = ("category", "vendor", "station")
TOP = 8
OTHER = "other"


def _next(bucket: str, by: str) -> str:
    start = date.fromisoformat(bucket if by == "week" else bucket + "-01")
    if by == "week":
        return (start + timedelta(days=7)).isoformat()
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1).isoformat()[:7]


def _bounds(bucket: str, by: str) -> tuple[date, date]:
    start = date.fromisoformat(bucket if by == "week" else bucket + "-01")
    end = date.fromisoformat(_next(bucket, by) if by == "week" else _next(bucket, by) + "-01") - timedelta(
        days=1
    )
    return start, end


def _bucket_of(day: date, by: str) -> str:
    return (day - timedelta(days=day.weekday())).isoformat() if by == "week" else day.isoformat()[:7]


def _series(found: set[str], filters: Filters, by: str) -> list[str]:
    """Every bucket from the first to the last (empty ones too), within the period when one is given."""
    first = _bucket_of(filters.since, by) if filters.since else min(found, default=None)
    last = _bucket_of(filters.until, by) if filters.until else max(found, default=None)
    if first is None or last is None:
        return []
    out = [first]
    while out[-1] < last and len(out) < 10_000:
        out.append(_next(out[-1], by))
    return out


def build(
    source: FactSource, filters: Filters, ctx: Context, *, by: str = "month", group: str = "category"
) -> Report:
    if by not in BUCKETS:
        raise ReportError(f"trends by {by!r}: choose one of {', '.join(BUCKETS)}")
    if group not in GROUPS:
        raise ReportError(f"trends per {group!r}: choose one of {', '.join(GROUPS)}")
    cur = ctx.currency
    scope = scope_of(filters)
    require_rates(source, scope, cur, dated="cost", recoveries=False)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for s in source.stats(scope, [by, group]):
        counts[(s.key[0], s.key[1])] += s.records
    cost: dict[tuple[str, str], int] = defaultdict(int)
    for c in source.costs(scope, [by, group], dated="cost"):
        cost[(c.key[0], c.key[1])] += c.reporting_minor
    per_group: dict[str, int] = defaultdict(int)
    for (_b, g), n in counts.items():
        per_group[g] += n
    for (_b, g), _m in cost.items():
        per_group.setdefault(g, 0)
    ranked = sorted(per_group, key=lambda g: (-per_group[g], g))
    shown = ranked if len(ranked) <= TOP + 1 else ranked[:TOP]  # never an 'other' of one group
    has_other = len(ranked) > len(shown)
    buckets = _series({b for b, _ in counts} | {b for b, _ in cost}, filters, by)

    def column_of(g: str) -> str:
        return g if g in shown else OTHER

    group_cols = [Column(f"g:{g}", g, "count", term(group, g) or None) for g in shown]
    if has_other:
        group_cols.append(Column(f"g:{OTHER}", OTHER, "count", None))
    columns = (Column("bucket", by), *group_cols, Column("total", "total", "count"))
    money_cols = tuple(Column(c.key, c.label, "money", None) if c.kind == "count" else c for c in columns)
    rows: list[tuple[Cell, ...]] = []
    money_minor: list[list[int]] = []
    drills: list[Drill | None] = []
    index = {c.key: i for i, c in enumerate(columns)}
    for b in buckets:
        n_row: list[int] = [0] * (len(columns) - 1)
        m_row: list[int] = [0] * (len(columns) - 1)
        for (bb, g), n in counts.items():
            if bb == b:
                n_row[index[f"g:{column_of(g)}"] - 1] += n
        for (bb, g), m in cost.items():
            if bb == b:
                m_row[index[f"g:{column_of(g)}"] - 1] += m
        n_row[-1] = sum(n_row[:-1])
        m_row[-1] = sum(m_row[:-1])
        rows.append((b, *n_row))
        money_minor.append(m_row)
        start, end = _bounds(b, by)
        start = max(start, filters.since) if filters.since else start
        end = min(end, filters.until) if filters.until else end
        extra = Filters(start, end, filters.vendors, filters.stations).query_terms()
        query = join(extra)
        drills.append(Drill(query) if query is not None else None)
    width = len(columns) - 1
    totals: tuple[Cell, ...] = ("total", *(sum(int(r[i + 1] or 0) for r in rows) for i in range(width)))
    money_rows = tuple((b, *(ctx.money(m) for m in row)) for b, row in zip(buckets, money_minor, strict=True))
    money_totals: tuple[Cell, ...] = (
        "total",
        *(ctx.money(sum(r[i] for r in money_minor)) for i in range(width)),
    )
    cost_part = Report(
        "trends.cost",
        f"Cost per {by} by {group} ({cur}, dated by reshipment)",
        money_cols,
        money_rows,
        money_totals,
        drills=tuple(drills),
        chart=Chart("bucket", "total"),
    )
    return Report(
        "trends",
        f"Exceptions per {by} by {group}",
        columns,
        tuple(rows),
        totals,
        (
            f"Exceptions by QC check date; cost by reshipment date. Groups beyond the {TOP} largest are in '{OTHER}'.",
        ),
        tuple(drills),
        (cost_part,),
        ctx.meta(filters, by=by, group=group),
        Chart("bucket", "total"),
    )

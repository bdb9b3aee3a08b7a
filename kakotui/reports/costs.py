"""Cost attribution: responsible party x month x cost type, in each currency and in the reporting currency.

Cost lines are dated by their reshipment's creation. Each line is converted at the FX rate of that
month and rounded to the cent (half-even) on its own, so every figure here is a plain sum of
converted lines and the totals reconcile exactly with the records' cost lines. A month without a
rate for a currency in scope stops the report with an error naming both.
"""

from __future__ import annotations

from collections import defaultdict

from kakotui.core.config import RESPONSIBLE_PARTIES
from kakotui.reports.common import join, require_rates, scope_of, term
from kakotui.reports.model import Cell, Chart, Column, Context, Drill, Filters, Report, money, percent
from kakotui.store.reportdata import FactSource

__all__ = ["build"]

_PARTY_ORDER = {p: i for i, p in enumerate(RESPONSIBLE_PARTIES)}


def _party_drill(party: str, filters: Filters) -> Drill | None:
    """Records with cost charged to `party`: a superset, since the list filters by check date, not cost date."""
    terms = [term("responsible", party)]
    if filters.vendors:
        terms.append("vendor:" + ",".join(filters.vendors))
    if filters.stations:
        terms.append("station:" + ",".join(filters.stations))
    query = join(*terms)
    return Drill(query, exact=False) if query is not None else None


def build(source: FactSource, filters: Filters, ctx: Context) -> Report:
    cur = ctx.currency
    scope = scope_of(filters)
    require_rates(source, scope, cur, dated="cost", recoveries=False)
    sums = source.costs(scope, ["responsible", "month", "type"], dated="cost")
    sums.sort(key=lambda s: (_PARTY_ORDER.get(s.key[0], 99), s.key[0], s.key[1], s.key[2], s.currency))
    columns = (
        Column("responsible", "responsible"),
        Column("month", "month"),
        Column("type", "type"),
        Column("currency", "currency"),
        Column("lines", "lines", "count", None),
        Column("amount", "amount", "money", None),
        Column("reporting", f"amount {cur}", "money", None),
    )
    rows: list[tuple[Cell, ...]] = []
    drills: list[Drill | None] = []
    by_currency: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    by_party: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for s in sums:
        rows.append(
            (*s.key, s.currency, s.lines, money(s.amount_minor, s.currency), ctx.money(s.reporting_minor))
        )
        drills.append(_party_drill(s.key[0], filters))
        totals_c = by_currency[s.currency]
        totals_c[0] += s.lines
        totals_c[1] += s.amount_minor
        totals_c[2] += s.reporting_minor
        by_party[s.key[0]][0] += s.lines
        by_party[s.key[0]][1] += s.reporting_minor
    lines = sum(v[0] for v in by_currency.values())
    grand = sum(v[2] for v in by_currency.values())
    single = next(iter(by_currency)) if len(by_currency) == 1 else None
    totals: tuple[Cell, ...] = (
        "total",
        None,
        None,
        single,
        lines,
        money(by_currency[single][1], single) if single else None,
        ctx.money(grand),
    )
    currency_part = Report(
        "costs.currencies",
        "By original currency",
        (
            Column("currency", "currency"),
            Column("lines", "lines", "count", None),
            Column("amount", "amount", "money", None),
            Column("reporting", f"amount {cur}", "money", None),
        ),
        tuple((c, v[0], money(v[1], c), ctx.money(v[2])) for c, v in sorted(by_currency.items())),
        ("total", lines, None, ctx.money(grand)),
    )
    parties = sorted(by_party, key=lambda p: (_PARTY_ORDER.get(p, 99), p))
    party_part = Report(
        "costs.parties",
        f"By responsible party ({cur})",
        (
            Column("responsible", "responsible"),
            Column("lines", "lines", "count", None),
            Column("reporting", f"amount {cur}", "money", None),
            Column("share", "share %", "percent", None),
        ),
        tuple(
            (p, by_party[p][0], ctx.money(by_party[p][1]), percent(by_party[p][1], grand)) for p in parties
        ),
        ("total", lines, ctx.money(grand), percent(grand, grand)),
        drills=tuple(_party_drill(p, filters) for p in parties),
        chart=Chart("responsible", "reporting"),
    )
    notes = (
        "Cost lines are dated by their reshipment; each is converted at its month's rate and rounded "
        "to the cent on its own, so every total is the exact sum of its lines.",
        "Drill-downs list the records with cost charged to the party (any month).",
    )
    return Report(
        "costs",
        "Cost attribution",
        columns,
        tuple(rows),
        totals,
        notes,
        tuple(drills),
        (party_part, currency_part),
        ctx.meta(filters),
    )

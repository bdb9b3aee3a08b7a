"""Reconciliation per vendor and carrier: opening balance, charged, recovered, outstanding, and how old.

Charged is the cost lines attributed to the party, dated by their reshipment; recovered is what
vendor contacts record as credited or refunded, dated by the contact. Outstanding = opening +
charged - recovered, all in the reporting currency. "Owing" counts the records whose own charged
cost is not yet covered by their own recoveries up to the end of the period, and "oldest" is the
first charge among them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from kakotui.reports.common import join, require_rates, scope_of, term
from kakotui.reports.model import Cell, Chart, Column, Context, Drill, Filters, Report
from kakotui.store.reportdata import FactSource, Scope

__all__ = ["build"]

NO_CARRIER = "(no carrier)"


def _balances(source: FactSource, scope: Scope) -> dict[tuple[str, str], list[int]]:
    """(kind, party) -> [charged, recovered] in reporting minor units over `scope`."""
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for s in source.costs(scope, ["responsible", "party"], dated="cost", responsible=("vendor", "carrier")):
        out[(s.key[0], s.key[1])][0] += s.reporting_minor
    for r in source.recoveries(scope, ["vendor"], dated="cost"):
        out[("vendor", r.key[0])][1] += r.reporting_minor
    return out


def build(source: FactSource, filters: Filters, ctx: Context) -> Report:
    cur = ctx.currency
    end = filters.until or ctx.as_of.date()
    require_rates(
        source,
        scope_of(filters, since=date.min, until=end),
        cur,
        dated="cost",
        responsible=("vendor", "carrier"),
    )
    current = _balances(source, scope_of(filters))
    before = filters.before()
    opening = _balances(source, scope_of(before)) if before is not None else {}
    owing = {(o.kind, o.party): o for o in source.outstanding(scope_of(filters), end.isoformat())}
    keys = sorted(
        set(current) | {k for k, v in opening.items() if v[0] != v[1]}, key=lambda k: (k[0] != "vendor", k[1])
    )
    columns = (
        Column("kind", "kind"),
        Column("party", "party"),
        Column("opening", f"opening {cur}", "money", None),
        Column("charged", f"charged {cur}", "money", None),
        Column("recovered", f"recovered {cur}", "money", None),
        Column("outstanding", f"outstanding {cur}", "money", None),
        Column("owing", "records owing", "count", None),
        Column("oldest", "oldest charge"),
        Column("age", "age days", "count", None),
    )
    rows: list[tuple[Cell, ...]] = []
    drills: list[Drill | None] = []
    sums = [0, 0, 0, 0, 0]
    for kind, party in keys:
        o_charged, o_back = opening.get((kind, party), [0, 0])
        charged, back = current.get((kind, party), [0, 0])
        open_minor = o_charged - o_back
        outstanding = open_minor + charged - back
        o = owing.get((kind, party))
        age = (end - date.fromisoformat(o.oldest_day)).days if o is not None else None
        rows.append(
            (
                kind,
                party or NO_CARRIER,
                ctx.money(open_minor) if before is not None else None,
                ctx.money(charged),
                ctx.money(back),
                ctx.money(outstanding),
                o.records if o is not None else 0,
                o.oldest_day if o is not None else None,
                age,
            )
        )
        for i, v in enumerate((open_minor, charged, back, outstanding, o.records if o else 0)):
            sums[i] += v
        field = "vendor" if kind == "vendor" else "carrier"
        query = join(term(field, party) if party else None, term("responsible", kind)) if party else None
        drills.append(Drill(query, exact=False) if query is not None else None)
    totals: tuple[Cell, ...] = (
        "total",
        None,
        ctx.money(sums[0]) if before is not None else None,
        ctx.money(sums[1]),
        ctx.money(sums[2]),
        ctx.money(sums[3]),
        sums[4],
        None,
        None,
    )
    notes = (
        "Charged is dated by the reshipment, recovered by the vendor contact; outstanding = opening + "
        "charged - recovered (negative: more recovered than charged).",
        f"Owing: records whose charged cost exceeds their recoveries up to {end}; age counts from their "
        "oldest charge.",
        "The log records no carrier claims (no field for them yet), so nothing is ever recovered from a carrier.",
    )
    return Report(
        "reconcile",
        "Reconciliation: charged, recovered, outstanding",
        columns,
        tuple(rows),
        totals,
        notes,
        tuple(drills),
        (),
        ctx.meta(filters),
        Chart("party", "outstanding"),
    )

"""Helpers every report shares: filters to scopes, the FX-rate check, drill-down queries, sums."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from kakotui.reports.model import Drill, Filters, ReportError
from kakotui.store.reportdata import FactSource, Scope, Sums

__all__ = ["id_drill", "quote", "require_rates", "scope_of", "total_reporting"]

_MAX_DRILL_CHARS = 1800  # the query language refuses queries over 2,000 characters


def scope_of(filters: Filters, *, since: date | None = None, until: date | None = None) -> Scope:
    return Scope(
        since if since is not None else filters.since,
        until if until is not None else filters.until,
        filters.vendors,
        filters.stations,
    )


def require_rates(
    source: FactSource,
    scope: Scope,
    currency: str,
    *,
    dated: str = "cost",
    responsible: Sequence[str] = (),
    recoveries: bool = True,
) -> None:
    """Raise ReportError naming every month and currency without an FX rate among the money in scope."""
    missing = source.missing_rates(
        scope,
        dated="cost" if dated == "cost" else "record",
        responsible=responsible,
        recoveries=recoveries,
    )
    if not missing:
        return
    gaps = "; ".join(f"{m.currency} in {m.month} ({m.lines} amount(s), e.g. {m.example})" for m in missing)
    first = missing[0]
    raise ReportError(
        f"no FX rate to {currency} for {gaps}. Add it to kakotui.yaml, e.g. "
        f"fx_rates: {{'{first.month}': {{{first.currency}: '...'}}}}; amounts are never counted as zero"
    )


def total_reporting(sums: Iterable[Sums]) -> int:
    return sum(s.reporting_minor for s in sums)


def quote(value: str) -> str | None:
    """A value for the query language: bare when safe, in double quotes otherwise (None if impossible)."""
    if value and all(ch.isalnum() or ch in "-_.@" for ch in value):
        return value
    if '"' in value or not value.isprintable():
        return None
    return f'"{value}"'


def term(field: str, value: str) -> str | None:
    quoted = quote(value)
    return None if quoted is None else f"{field}:{quoted}"


def join(*terms: str | None) -> str | None:
    if any(t is None for t in terms):
        return None
    return " ".join(t for t in terms if t)


def id_drill(ids: Sequence[str], total: int) -> Drill | None:
    """`id:A,B,...` for the records behind a figure; not exact when they do not all fit in a query."""
    if not ids:
        return None
    shown: list[str] = []
    length = 3
    for rid in ids:
        if length + len(rid) + 1 > _MAX_DRILL_CHARS:
            break
        shown.append(rid)
        length += len(rid) + 1
    return Drill("id:" + ",".join(shown), exact=len(shown) == total)

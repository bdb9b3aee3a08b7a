"""The index row's list columns and the report facts of a valid record, in one pass.

`record.summarize` (the list columns) and `facts.child_rows` (the report facts) each walk a record
tolerantly, since invalid records are listed too. For a record the schema accepted, the shapes are
known, and the two share most of their work: the status, the category, each reshipment's money and
its conversion to the reporting currency. `digest` does that work once (~40% fewer instructions than
the two) and gives exactly what they give; `tests/store/test_digest.py` checks it against them over
generated records at every stage. Anything else goes through the two.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from kakotui.core.config import Config
from kakotui.core.money import convert, format_amount, to_minor
from kakotui.core.record import Summary, parse_time, search_parts_text, search_text, status_of
from kakotui.store.facts import FactRows, gaps_of


def _epoch(text: Any) -> int | None:
    moment = parse_time(text)
    return int(moment.timestamp()) if moment is not None else None


def _dates(text: str) -> tuple[str, str, str]:
    """(day, week, month) of a timestamp the schema accepted (`facts._dates`)."""
    day = text[:10]
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        return "", "", ""
    return day, (parsed - timedelta(days=parsed.weekday())).isoformat(), day[:7]


def digest(
    path: str, record: dict[str, Any], config: Config, *, worktree: bool = False
) -> tuple[Summary, FactRows]:
    """`(summarize(record, config), child_rows(path, record, config, valid=True, worktree=worktree))`
    for a record that passed the schema and the rules."""
    qc = record["qc"]
    decision = record.get("decision") or {}
    closure = record.get("closure") or {}
    reships = record.get("reshipments") or []
    contacts = record.get("vendor_contacts") or []
    record_id = record["id"]
    vendor = qc["vendor"]
    station = qc["station"]
    code = qc["failure_code"]
    category = config.category_of(code) or code.split("-")[0]
    status = status_of(record)
    checked_at = qc["checked_at"]
    checked_day, week, month = _dates(checked_at)
    currency_to = config.reporting_currency

    reporting: Decimal | None = Decimal(0)
    totals: dict[str, Decimal] = {}
    shares: dict[str, Decimal] = {}
    costs: list[tuple[Any, ...]] = []
    for reship in reships:
        created = reship["created_at"]
        rates = config.rates_for(created[:7])
        total = reship["total"]
        amount, currency = Decimal(total["amount"]), str(total["currency"])
        if reporting is not None:
            converted = convert(amount, currency, currency_to, rates)
            reporting = None if converted is None else reporting + converted
        totals[currency] = totals.get(currency, Decimal(0)) + amount
        day, wk, mon = _dates(created)
        line_rates = config.rates_for(mon)
        carrier = reship.get("carrier", "")
        ref = reship["ref"]
        for n, line in enumerate(reship["costs"], start=1):
            money = line["amount"]
            amount, currency = Decimal(money["amount"]), str(money["currency"])
            responsible = line["responsible"]
            converted = convert(amount, currency, currency_to, rates)
            shares[responsible] = shares.get(responsible, Decimal(0)) + (
                converted if converted is not None else amount
            )
            if line_rates is not rates:  # a reshipment made on a day that is not a date: facts' month
                converted = convert(amount, currency, currency_to, line_rates)
            party = vendor if responsible == "vendor" else carrier if responsible == "carrier" else ""
            costs.append(
                (
                    path,
                    record_id,
                    ref,
                    n,
                    day,
                    wk,
                    mon,
                    line["type"],
                    responsible,
                    party,
                    currency,
                    to_minor(amount, currency),
                    None if converted is None else to_minor(converted, currency_to),
                    carrier,
                    vendor,
                    category,
                    station,
                    checked_day,
                )
            )
    recoveries: list[tuple[Any, ...]] = []
    for n, contact in enumerate(contacts, start=1):
        if "recovered" not in contact:
            continue
        money = contact["recovered"]
        amount, currency = Decimal(money["amount"]), str(money["currency"])
        if amount == Decimal(0):
            continue
        day, wk, mon = _dates(contact["at"])
        converted = convert(amount, currency, currency_to, config.rates_for(mon))
        recoveries.append(
            (
                path,
                record_id,
                n,
                day,
                wk,
                mon,
                contact["outcome"],
                currency,
                to_minor(amount, currency),
                None if converted is None else to_minor(converted, currency_to),
                vendor,
                category,
                station,
                checked_day,
            )
        )

    aliases = " ".join(a for a in record.get("aliases") or [] if isinstance(a, str))
    search_parts = [
        record_id,
        aliases,
        qc["order_id"],
        qc["sku"],
        qc.get("item_title", ""),
        vendor,
        code,
        qc["inspector"],
        qc.get("description", ""),
        " ".join(r.get("tracking", "") for r in reships),
        decision.get("reason", ""),
        closure.get("note", ""),
    ]
    final_status = closure.get("final_status", "")
    action = decision.get("action", "")
    summary = Summary(
        id=record_id,
        status=status,
        checked_at=checked_at,
        checked_date=checked_at[:10],
        site=qc["site"],
        station=station,
        inspector=qc["inspector"],
        order_id=qc["order_id"],
        sku=qc["sku"],
        title=qc.get("item_title", ""),
        vendor=vendor,
        failure_code=code,
        category=category,
        severity=qc["severity"],
        decision=action,
        carrier=reships[-1].get("carrier", "") if reships else "",
        responsible=" ".join(p for p, _ in sorted(shares.items(), key=lambda kv: (-kv[1], kv[0])) if p),
        cost_minor=None if reporting is None else to_minor(reporting, currency_to),
        cost_text=" + ".join(f"{format_amount(a)} {c}" for c, a in sorted(totals.items())),
        final_status=final_status,
        closed_at=closure.get("closed_at", ""),
        aliases=aliases,
        search=search_text(search_parts),
        search_parts=search_parts_text(search_parts),
    )
    quantity = qc["quantity"]
    last = reships[-1] if reships else {}
    confirmation = record.get("customer_confirmation") or {}
    fact = (
        path,
        record_id,
        vendor,
        qc["sku"],
        category,
        code,
        qc["severity"],
        station,
        qc["site"],
        qc["inspector"],
        quantity if isinstance(quantity, int) and not isinstance(quantity, bool) else 1,
        status,
        final_status,
        action,
        1,
        1 if worktree else 0,
        checked_day,
        week,
        month,
        _epoch(checked_at),
        _epoch(decision.get("at")),
        _epoch(reships[0]["created_at"]) if reships else None,
        _epoch(last.get("delivered_at")) if last.get("status") == "delivered" else None,
        _epoch(confirmation.get("at")),
        _epoch(closure.get("closed_at")),
        len(record.get("reopenings") or []),
        len(reships),
        len(qc.get("evidence") or []),
        " ".join(gaps_of(record, valid=True, status=status)),
    )
    return summary, FactRows(fact, costs, recoveries)

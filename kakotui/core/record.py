"""Exception records: canonical text, lifecycle status, and the summary row the index keeps."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from kakotui.core import yamlio
from kakotui.core.config import Config
from kakotui.core.money import Money, MoneyError, convert, format_amount, to_minor
from kakotui.core.schemas import Schemas

STATUSES = ("open", "decided", "reshipping", "awaiting-confirmation", "closed")
SCHEMA_VERSION = 1


def parse_time(text: Any) -> datetime | None:
    """An RFC 3339 timestamp with offset, or None when it is not one."""
    if not isinstance(text, str) or len(text) < 20:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def format_time(value: datetime) -> str:
    """RFC 3339 with offset, to the second (microseconds kept only when present)."""
    text = value.isoformat()
    return text.replace("+00:00", "Z") if text.endswith("+00:00") else text


def status_of(record: dict[str, Any]) -> str:
    """Lifecycle status follows from the record: open -> decided -> reshipping -> awaiting-confirmation -> closed."""
    if record.get("closure"):
        return "closed"
    decision = record.get("decision")
    if not decision:
        return "open"
    if decision.get("action") != "reship":
        return "awaiting-confirmation"
    reshipments = record.get("reshipments") or []
    if not reshipments:
        return "decided"
    if reshipments[-1].get("status") == "delivered":
        return "awaiting-confirmation"
    return "reshipping"


# ---------------------------------------------------------------------------------------------
# Canonical order and text


_EMPTY: dict[str, Any] = {}  # the schema node of a key the schema does not know (never changed)


class KeyOrder:
    """Orders mapping keys the way the schema lists its properties (unknown keys last, sorted)."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self._root = schema
        self._resolved: dict[int, dict[str, Any]] = {}

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        cached = self._resolved.get(id(node))
        if cached is not None:
            return cached
        key = id(node)
        seen = 0
        while "$ref" in node and seen < 10:
            ref = node["$ref"]
            assert ref.startswith("#/")
            target: Any = self._root
            for part in ref[2:].split("/"):
                target = target[part]
            merged = {k: v for k, v in node.items() if k != "$ref"}
            node = {**target, **merged}
            seen += 1
        self._resolved[key] = node
        return node

    def apply(self, data: Any, node: dict[str, Any] | None = None) -> Any:
        node = self._resolve(node if node is not None else self._root)
        if isinstance(data, dict):
            props: dict[str, Any] = node.get("properties", {})
            known = [k for k in props if k in data]
            if len(known) < len(data):
                known += sorted(k for k in data if k not in props)
            # scalars (most values) are taken as they are, without a call
            return {
                k: self.apply(v, props.get(k, _EMPTY)) if isinstance(v, (dict, list)) else v
                for k in known
                for v in (data[k],)
            }
        if isinstance(data, list):
            items = node.get("items", _EMPTY)
            if not isinstance(items, dict):
                items = _EMPTY
            return [self.apply(item, items) if isinstance(item, (dict, list)) else item for item in data]
        return data


_ORDERS: dict[int, tuple[dict[str, Any], KeyOrder]] = {}


def key_order(schema: dict[str, Any]) -> KeyOrder:
    """One KeyOrder per schema document (its $ref resolutions are cached)."""
    cached = _ORDERS.get(id(schema))
    if cached is None or cached[0] is not schema:
        cached = (schema, KeyOrder(schema))
        _ORDERS[id(schema)] = cached
    return cached[1]


def canonical(record: dict[str, Any], schemas: Schemas) -> dict[str, Any]:
    result: dict[str, Any] = key_order(schemas.documents["exception"]).apply(record)
    return result


def to_text(record: dict[str, Any], schemas: Schemas) -> str:
    """The one canonical text of a record (what `fmt` writes and `fmt --check` expects)."""
    return yamlio.dump(canonical(record, schemas))


def clone(record: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = copy.deepcopy(record)
    return result


# ---------------------------------------------------------------------------------------------
# The summary row (list columns) kept by the index


@dataclass(frozen=True)
class Summary:
    id: str
    status: str
    checked_at: str
    checked_date: str
    site: str
    station: str
    inspector: str
    order_id: str
    sku: str
    title: str
    vendor: str
    failure_code: str
    category: str
    severity: str
    decision: str
    carrier: str
    responsible: str
    cost_minor: int | None
    cost_text: str
    final_status: str
    closed_at: str
    aliases: str
    search: str
    search_parts: str


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The mappings of a list field, ignoring anything malformed (invalid records are listed too)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _s(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def cost_totals(record: dict[str, Any]) -> dict[str, Decimal]:
    """Total reshipment cost per currency (exact)."""
    totals: dict[str, Decimal] = {}
    for reship in _dicts(record.get("reshipments")):
        try:
            money = Money.from_record(reship.get("total"))
        except MoneyError:
            continue
        totals[money.currency] = totals.get(money.currency, Decimal(0)) + money.amount
    return totals


def reporting_cost(record: dict[str, Any], config: Config) -> Decimal | None:
    """Total cost in the reporting currency, through the month's FX rates; None if a rate is missing."""
    total = Decimal(0)
    for reship in _dicts(record.get("reshipments")):
        try:
            money = Money.from_record(reship.get("total"))
        except MoneyError:
            return None
        month = _s(reship.get("created_at"))[:7]
        converted = convert(money.amount, money.currency, config.reporting_currency, config.rates_for(month))
        if converted is None:
            return None
        total += converted
    return total


def responsible_parties(record: dict[str, Any], config: Config | None = None) -> list[str]:
    """Parties carrying cost, largest share first (compared in the reporting currency where rates exist)."""
    shares: dict[str, Decimal] = {}
    for reship in _dicts(record.get("reshipments")):
        month = _s(reship.get("created_at"))[:7]
        for line in _dicts(reship.get("costs")):
            try:
                money = Money.from_record(line.get("amount"))
            except MoneyError:
                continue
            amount = money.amount
            if config is not None:
                converted = convert(
                    amount, money.currency, config.reporting_currency, config.rates_for(month)
                )
                amount = converted if converted is not None else amount
            party = _s(line.get("responsible"))
            shares[party] = shares.get(party, Decimal(0)) + amount
    return [p for p, _ in sorted(shares.items(), key=lambda kv: (-kv[1], kv[0])) if p]


def summarize(record: dict[str, Any], config: Config | None) -> Summary:
    """The list columns of a record; tolerant of invalid records (they are listed too, flagged)."""
    rec = record if isinstance(record, dict) else {}
    qc = rec.get("qc") if isinstance(rec.get("qc"), dict) else {}
    assert isinstance(qc, dict)
    decision = rec.get("decision") if isinstance(rec.get("decision"), dict) else {}
    assert isinstance(decision, dict)
    closure = rec.get("closure") if isinstance(rec.get("closure"), dict) else {}
    assert isinstance(closure, dict)
    reships = _dicts(rec.get("reshipments"))
    code = _s(qc.get("failure_code"))
    category = (config.category_of(code) if config else None) or code.split("-")[0]
    cost_minor = None
    if config is not None:
        try:
            reporting = reporting_cost(rec, config)
        except Exception:  # a malformed record must still be listed
            reporting = None
        if reporting is not None:
            cost_minor = to_minor(reporting, config.reporting_currency)
    totals = cost_totals(rec)
    cost_text = " + ".join(f"{format_amount(a)} {c}" for c, a in sorted(totals.items()))
    try:
        status = status_of(rec)
    except (AttributeError, TypeError):
        status = "open"
    aliases = " ".join(_s(a) for a in rec.get("aliases") or [] if isinstance(a, str))
    search_parts = [
        _s(rec.get("id")),
        aliases,
        _s(qc.get("order_id")),
        _s(qc.get("sku")),
        _s(qc.get("item_title")),
        _s(qc.get("vendor")),
        code,
        _s(qc.get("inspector")),
        _s(qc.get("description")),
        " ".join(_s(r.get("tracking")) for r in reships),
        _s(decision.get("reason")),
        _s(closure.get("note")),
    ]
    return Summary(
        id=_s(rec.get("id")),
        status=status,
        checked_at=_s(qc.get("checked_at")),
        checked_date=_s(qc.get("checked_at"))[:10],
        site=_s(qc.get("site")),
        station=_s(qc.get("station")),
        inspector=_s(qc.get("inspector")),
        order_id=_s(qc.get("order_id")),
        sku=_s(qc.get("sku")),
        title=_s(qc.get("item_title")),
        vendor=_s(qc.get("vendor")),
        failure_code=code,
        category=category,
        severity=_s(qc.get("severity")),
        decision=_s(decision.get("action")),
        carrier=_s(reships[-1].get("carrier")) if reships else "",
        responsible=" ".join(responsible_parties(rec, config)),
        cost_minor=cost_minor,
        cost_text=cost_text,
        final_status=_s(closure.get("final_status")),
        closed_at=_s(closure.get("closed_at")),
        aliases=aliases,
        search=search_text(search_parts),
        search_parts=search_parts_text(search_parts),
    )


SEARCH_PARTS = 12
"""The parts of a record's free text, in order: id, aliases, order id, SKU, item title, vendor, failure
code, inspector, description, tracking numbers, decision reason, closure note."""


def search_text(parts: list[str]) -> str:
    """The free text `text:` and free words search (SQL `instr`): the parts lowered, joined by spaces."""
    return " ".join(p.lower() for p in parts if p)


def search_parts_text(parts: list[str]) -> str:
    """The same parts lowered, joined by U+001F: the in-memory list searches them one by one (a word
    without a space lies inside one part: kakotui.store.memquery). A U+001F inside a part is a space."""
    return "\x1f".join(p.lower().replace("\x1f", " ") for p in parts)

"""The steps of an exception's life as pure functions: each takes a record and returns a new one.

None of them validates; the façade validates the result (schema + rules) before anything is saved,
so a step can be given bad input and the person gets every problem at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kakotui.core.money import Money, format_amount
from kakotui.core.record import SCHEMA_VERSION, clone, format_time
from kakotui.core.schemas import Schemas

QC_FIELDS = (
    "checked_at",
    "site",
    "station",
    "inspector",
    "order_id",
    "sku",
    "item_title",
    "quantity",
    "vendor",
    "failure_code",
    "severity",
    "description",
    "evidence",
)


class StepError(ValueError):
    """A lifecycle step that cannot apply to this record (e.g. close twice); names the field."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class CostLine:
    type: str
    amount: Money
    responsible: str
    note: str | None = None

    def to_record(self) -> dict[str, Any]:
        line: dict[str, Any] = {
            "type": self.type,
            "amount": self.amount.to_record(),
            "responsible": self.responsible,
        }
        if self.note:
            line["note"] = self.note
        return line


def _clean(mapping: dict[str, Any]) -> dict[str, Any]:
    """Drop unset optional values (None, empty text, empty lists) so files hold only what was said."""
    return {k: v for k, v in mapping.items() if v is not None and v != "" and v != []}


def new_exception(record_id: str, qc: dict[str, Any]) -> dict[str, Any]:
    ordered = {k: qc[k] for k in QC_FIELDS if k in qc}
    ordered.update({k: v for k, v in qc.items() if k not in ordered})
    return {"schema_version": SCHEMA_VERSION, "id": record_id, "qc": _clean(ordered)}


def decide(
    record: dict[str, Any], action: str, by: str, at: str, reason: str | None = None
) -> dict[str, Any]:
    if record.get("closure"):
        raise StepError("decision", "the record is closed; reopen it first")
    result = clone(record)
    result["decision"] = _clean({"action": action, "by": by, "at": at, "reason": reason})
    return result


def add_reshipment(
    record: dict[str, Any],
    *,
    created_at: str,
    costs: Sequence[CostLine],
    carrier: str | None = None,
    tracking: str | None = None,
    status: str = "pending",
    shipped_at: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    if record.get("closure"):
        raise StepError("reshipments", "the record is closed; reopen it first")
    if not costs:
        raise StepError("reshipments.costs", "a reshipment needs at least one cost line")
    currencies = {c.amount.currency for c in costs}
    if len(currencies) != 1:
        raise StepError("reshipments.costs", "all cost lines of one reshipment must be in one currency")
    currency = currencies.pop()
    total = sum((c.amount.amount for c in costs), Decimal(0))
    result = clone(record)
    reships = result.setdefault("reshipments", [])
    if status != "pending" and shipped_at is None:
        shipped_at = created_at
    reships.append(
        _clean(
            {
                "ref": f"{record['id']}-R{len(reships) + 1}",
                "created_at": created_at,
                "carrier": carrier,
                "tracking": tracking,
                "status": status,
                "shipped_at": shipped_at,
                "total": {"amount": format_amount(total), "currency": currency},
                "costs": [c.to_record() for c in costs],
                "note": note,
            }
        )
    )
    return result


def update_reshipment(record: dict[str, Any], index: int, **changes: Any) -> dict[str, Any]:
    reships = record.get("reshipments") or []
    if not 0 <= index < len(reships):
        raise StepError("reshipments", f"no reshipment R{index + 1}")
    result = clone(record)
    target = result["reshipments"][index]
    for key, value in changes.items():
        if value is None:
            continue
        target[key] = value
    return result


def add_vendor_contact(
    record: dict[str, Any],
    *,
    at: str,
    by: str,
    channel: str,
    summary: str,
    outcome: str,
    recovered: Money | None = None,
) -> dict[str, Any]:
    result = clone(record)
    result.setdefault("vendor_contacts", []).append(
        _clean(
            {
                "at": at,
                "by": by,
                "channel": channel,
                "summary": summary,
                "outcome": outcome,
                "recovered": recovered.to_record() if recovered else None,
            }
        )
    )
    return result


def confirm(
    record: dict[str, Any], *, at: str, by: str, channel: str, outcome: str, note: str | None = None
) -> dict[str, Any]:
    result = clone(record)
    result["customer_confirmation"] = _clean(
        {"at": at, "by": by, "channel": channel, "outcome": outcome, "note": note}
    )
    return result


def close(
    record: dict[str, Any], *, final_status: str, at: str, by: str, note: str | None = None
) -> dict[str, Any]:
    if record.get("closure"):
        raise StepError("closure", "the record is already closed")
    result = clone(record)
    result["closure"] = _clean({"final_status": final_status, "closed_at": at, "closed_by": by, "note": note})
    return result


def reopen(record: dict[str, Any], *, at: str, by: str, reason: str) -> dict[str, Any]:
    if not record.get("closure"):
        raise StepError("closure", "the record is not closed")
    result = clone(record)
    closure = result.pop("closure")
    result.setdefault("reopenings", []).append(
        {"at": at, "by": by, "reason": reason, "previous_closure": closure}
    )
    return result


# ---------------------------------------------------------------------------------------------
# Field edits by dotted path (`kakotui edit ID --set qc.sku=0123`): the value typed is the value
# stored, converted only where the schema says the field is a number or money.


def _schema_at(schemas: Schemas, parts: list[str]) -> dict[str, Any]:
    root = schemas.documents["exception"]

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = root
            for part in node["$ref"][2:].split("/"):
                target = target[part]
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return node

    node = resolve(root)
    for part in parts:
        if part.isdigit():
            items = node.get("items")
            if not isinstance(items, dict):
                raise StepError(".".join(parts), f"{part} is not a list index here")
            node = resolve(items)
        else:
            props = node.get("properties", {})
            if part not in props:
                known = ", ".join(props) or "none"
                raise StepError(".".join(parts), f"no field {part!r} here (fields: {known})")
            node = resolve(props[part])
    return node


def set_path(record: dict[str, Any], path: str, value: str | None, schemas: Schemas) -> dict[str, Any]:
    """Set (or with value None, remove) one field by dotted path, typed by the schema."""
    parts = path.split(".")
    if not path or any(not p for p in parts):
        raise StepError(path, "empty field path")
    if parts[0] in ("id", "schema_version"):
        raise StepError(path, "the id and schema version cannot be edited")
    node = _schema_at(schemas, parts)
    typed: Any = value
    if value is not None:
        if node.get("type") == "integer":
            try:
                typed = int(value)
            except ValueError:
                raise StepError(path, f"must be a whole number (got {value!r})") from None
        elif node.get("type") == "object" and "amount" in node.get("properties", {}):
            typed = Money.parse(value).to_record()
        elif node.get("type") in ("object", "array"):
            raise StepError(path, "is a group of fields; set its fields one by one (e.g. qc.sku=...)")
    result = clone(record)
    target: Any = result
    for i, part in enumerate(parts[:-1]):
        key: Any = int(part) if part.isdigit() else part
        try:
            target = target[key]
        except (KeyError, IndexError, TypeError):
            if value is None:
                return result
            if isinstance(target, dict) and not parts[i + 1].isdigit():
                target[key] = {}
                target = target[key]
            else:
                raise StepError(path, f"{'.'.join(parts[: i + 1])} does not exist") from None
    last: Any = int(parts[-1]) if parts[-1].isdigit() else parts[-1]
    if value is None:
        if isinstance(target, dict):
            target.pop(last, None)
        return result
    if isinstance(target, list):
        if last >= len(target):
            raise StepError(path, "index out of range")
        target[last] = typed
    else:
        target[last] = typed
    return result


def now_text(tz: Any = None) -> str:
    from datetime import datetime

    return format_time(datetime.now(tz).replace(microsecond=0).astimezone(tz))

"""From sheet cells to a record: normalizing the mapped cells of a row, then building or updating its record.

A sheet row only ever adds to what a record says: an empty cell never clears a field, a status word
never moves a record back, and a field whose sheet value equals the record's flat value (what export
writes) is left as it is. Steps a status word implies but the sheet does not describe (the decision
of a row marked "done", the customer's outcome) come from the columns, then from the mapping's
`defaults`; a step that has neither is a problem of that row, never an invented fact. The dates of
such steps are the latest date the row gives, and their person is the one importing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from kakotui.core.config import Config
from kakotui.core.ids import RecordId
from kakotui.core.record import SCHEMA_VERSION, STATUSES, parse_time, status_of
from kakotui.interchange import normalize as nz
from kakotui.interchange.exporter import flatten, unquote_formula
from kakotui.interchange.mapping import FIELDS, ColumnMapping
from kakotui.interchange.sheets import Sheet

__all__ = ["CellReader", "Existing", "RecordBuilder", "RowProblem", "SheetRow", "field_of"]

_STAGE = {s: i for i, s in enumerate(STATUSES)}
_QC_FIELDS = ("checked_at", "station", "site", "inspector", "order_id", "sku", "item_title", "quantity",
              "vendor", "failure_code", "severity", "description", "evidence")  # fmt: skip
_DECISION_FIELDS = {"decision": "action", "decided_by": "by", "decided_at": "at", "decision_reason": "reason"}
_RESHIP_FIELDS = {"reshipped_at": "created_at", "carrier": "carrier", "tracking": "tracking",
                  "reship_status": "status", "shipped_at": "shipped_at", "delivered_at": "delivered_at",
                  "reship_note": "note"}  # fmt: skip
_COST_FIELDS = ("reship_cost", "responsible", "cost_type")
_VENDOR_FIELDS = {"vendor_contacted_at": "at", "vendor_channel": "channel", "vendor_summary": "summary",
                  "vendor_outcome": "outcome", "recovered": "recovered"}  # fmt: skip
_CUSTOMER_FIELDS = {"confirmed_at": "at", "customer_channel": "channel", "customer_outcome": "outcome",
                    "customer_note": "note"}  # fmt: skip
_CLOSURE_FIELDS = {"final_status": "final_status", "closed_at": "closed_at", "closed_by": "closed_by",
                   "closure_note": "note"}  # fmt: skip
_RESHIP_COST_FIELDS = (*_RESHIP_FIELDS, *_COST_FIELDS)
# The flat fields `build` writes sheet values to (status, ids and a record's JSON are read apart).
_BUILT_FIELDS = frozenset(_QC_FIELDS).union(
    _DECISION_FIELDS, _RESHIP_COST_FIELDS, _VENDOR_FIELDS, _CUSTOMER_FIELDS, _CLOSURE_FIELDS
)
# Record field path (first parts) -> flat field, to report a validation problem at its column.
_PATH_FIELD: dict[str, str] = {f"qc.{f}": f for f in _QC_FIELDS}
_PATH_FIELD |= {f"decision.{v}": k for k, v in _DECISION_FIELDS.items()} | {"decision": "decision"}
_PATH_FIELD |= {f"reshipments.0.{v}": k for k, v in _RESHIP_FIELDS.items()}
_PATH_FIELD |= {
    "reshipments.0.total": "reship_cost",
    "reshipments.0.costs": "reship_cost",
    "reshipments": "status",
}
_PATH_FIELD |= {f"vendor_contacts.0.{v}": k for k, v in _VENDOR_FIELDS.items()} | {
    "vendor_contacts": "status"
}
_PATH_FIELD |= {f"customer_confirmation.{v}": k for k, v in _CUSTOMER_FIELDS.items()}
_PATH_FIELD |= {"customer_confirmation": "customer_outcome"}
_PATH_FIELD |= {f"closure.{v}": k for k, v in _CLOSURE_FIELDS.items()} | {"closure": "status"}
_PATH_FIELD |= {"id": "id", "source_key": "source_key"}


@dataclass(frozen=True)
class RowProblem:
    """A problem of one row (0: the sheet), at a column, with the cell's value."""

    row: int
    column: str
    value: str
    message: str
    field: str = ""
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row else "sheet"
        column = f", column {self.column!r}" if self.column else ""
        value = f" = {self.value[:60]!r}" if self.value else ""
        return f"{where}{column}{value}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "value": self.value, "field": self.field,
                "message": self.message, "severity": self.severity}  # fmt: skip


@dataclass(frozen=True)
class Existing:
    """A record already in the log, as the index holds it."""

    id: str
    path: str
    blob: str
    json: str

    def record(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.json)
        return data


@dataclass
class SheetRow:
    number: int
    raw: dict[str, str]  # flat field -> cell text as shown (for problem reports)
    values: dict[str, Any]  # flat field -> normalized value (only cells that say something)
    key: str | None = None
    record_id: str | None = None
    base: dict[str, Any] | None = None
    existing: Existing | None = None
    problems: list[RowProblem] = field(default_factory=list)


_NOTHING = object()  # what an empty cell says
# Kinds whose value, for a text cell, depends on the text alone (not on the reader's day-first setting),
# is not a mutable list or dict, and repeats a lot.
_MEMO_KINDS = frozenset({"vendor", "carrier", "code", "station", "status", "severity", "decision", "party",
                         "reship_status", "vendor_outcome", "customer_outcome", "final_status", "cost_type",
                         "vendor_channel", "customer_channel", "person", "int", "money"})  # fmt: skip


class CellReader:
    """Normalizes the mapped cells of one sheet under one mapping and config."""

    def __init__(self, mapping: ColumnMapping, config: Config, sheet: Sheet) -> None:
        self.mapping = mapping
        self.config = config
        self.vocab = nz.Vocabulary(config, mapping.values)
        self.currency = mapping.currency or config.reporting_currency
        self.positions = {t: sheet.headers.index(c) for t, c in mapping.targets.items() if c in sheet.headers}
        self.csv = sheet.kind == "csv"
        self.day_first = True if mapping.day_first is None else mapping.day_first
        targets = mapping.targets
        # (field, position, column, kind, identifier?, memoized?) once, not per cell
        self.cells: list[tuple[str, int, str, str, bool, bool]] = []
        for target, position in self.positions.items():
            kind = FIELDS[target].kind
            identifier, memoized = kind in ("ident", "id"), kind in _MEMO_KINDS
            self.cells.append((target, position, targets[target], kind, identifier, memoized))
        # (kind, text cell as given) -> (text, value): names and words repeat, so each is read once
        self.memo: dict[tuple[str, str], tuple[str, Any]] = {}

    def read(self, number: int, cells: Sequence[Any]) -> SheetRow:
        row = SheetRow(number, {}, {})
        raw, values, memo = row.raw, row.values, self.memo
        width = len(cells)
        for target, position, column, kind, identifier, memoized in self.cells:
            value = cells[position] if position < width else None
            if value is None or value == "":  # a blank cell, as most cells of a sparse sheet are
                raw[target] = ""
                continue
            if memoized and type(value) is str:
                key = (kind, value)
                outcome = memo.get(key)
                if outcome is None:
                    outcome = memo[key] = self.read_cell(kind, identifier, value)
            else:
                outcome = self.read_cell(kind, identifier, value)
            text, found = outcome
            raw[target] = text
            if found is _NOTHING:
                continue
            if isinstance(found, nz.BadValue):
                row.problems.append(RowProblem(number, column, text, str(found), target))
            else:
                values[target] = found
        return row

    def read_cell(self, kind: str, identifier: bool, value: Any) -> tuple[str, Any]:
        """A cell's text and its value: `_NOTHING` when it says nothing, a `BadValue` when it cannot be read."""
        if self.csv and isinstance(value, str):
            value = unquote_formula(value)
        text = nz.cell_text(value)
        if text in nz.FORMULA_ERRORS:
            return text, nz.BadValue("a formula error in the sheet: fix the formula or clear the cell")
        if not text or (not identifier and text.casefold() in nz.EMPTY_WORDS):
            return text, _NOTHING
        try:
            return text, self.convert(kind, value, text)
        except nz.BadValue as exc:
            return text, exc

    def convert(self, kind: str, value: Any, text: str) -> Any:
        v = self.vocab
        if kind == "datetime":
            return nz.parse_datetime(value, self.config.tz, day_first=self.day_first)
        if kind == "money":
            return nz.parse_money(value, self.currency, self.config.currencies)
        if kind == "int":
            return nz.parse_int(value)
        if kind == "ident":
            return text if isinstance(value, str) else nz.identifier(value)  # a text cell is its text
        if kind in ("text", "longtext"):
            return text if kind == "longtext" else " ".join(text.split())
        if kind == "id":
            try:
                return str(RecordId.parse(text))
            except ValueError as exc:
                raise nz.BadValue(str(exc)) from None
        if kind == "vendor":
            return v.vendor(value)
        if kind == "carrier":
            return v.carrier(value)
        if kind == "code":
            return v.failure_code(value)
        if kind == "station":
            station = text.upper()
            if station not in self.config.stations:
                raise nz.BadValue(f"unknown station {text!r} (stations: {', '.join(self.config.stations)})")
            return station
        if kind == "status":
            return v.status(value)
        if kind == "json":
            try:
                data = json.loads(text)
            except ValueError as exc:
                raise nz.BadValue(f"not a record in JSON ({exc})") from None
            if not isinstance(data, dict):
                raise nz.BadValue("not a record in JSON (expected an object)")
            return data
        if kind == "evidence":
            return _evidence(text)
        if kind == "person":
            return " ".join(text.split())
        tables: dict[str, tuple[Mapping[str, str], tuple[str, ...]]] = {
            "severity": (nz.SEVERITY_WORDS, ("minor", "major", "critical")),
            "decision": (nz.DECISION_WORDS, ("reship", "refund", "return-to-vendor", "accept-as-is", "cancel")),
            "party": (nz.PARTY_WORDS, ("vendor", "carrier", "warehouse", "customer", "platform")),
            "reship_status": (nz.RESHIP_WORDS, ("pending", "shipped", "delivered", "lost", "returned")),
            "vendor_outcome": (nz.CONTACT_WORDS, ("pending", "credit", "refund", "replacement", "rejected", "no-response")),
            "customer_outcome": (nz.CUSTOMER_WORDS, ("received-ok", "unhappy", "no-response")),
            "final_status": (nz.FINAL_WORDS, ("resolved", "written-off", "escalated", "void")),
            "cost_type": ({}, ("freight", "goods", "handling", "fees")),
            "vendor_channel": ({}, ("chat", "email", "phone", "platform", "in-person")),
            "customer_channel": ({}, ("chat", "email", "phone", "platform")),
        }  # fmt: skip
        if kind == "party":
            parties = [p.strip() for p in text.replace("，", ",").split(",") if p.strip()]
            return ", ".join(v.vocab("responsible", p, *tables["party"]) for p in parties)
        if kind == "cost_type":
            types = [p.strip() for p in text.split(",") if p.strip()]
            return ", ".join(nz.word(t, {}, "cost type", tables["cost_type"][1]) for t in types)
        table, allowed = tables[kind]
        return v.vocab(kind, value, table, allowed)


def _evidence(text: str) -> list[dict[str, str]]:
    items: list[dict[str, str]] = []
    for line in text.replace(",", "\n").replace(";", "\n").split("\n"):
        parts = line.split()
        if not parts:
            continue
        if len(parts) >= 2 and parts[0] in ("photo", "video", "doc"):
            kind, link = parts[0], parts[1]
        else:
            link = parts[-1]
            lower = link.lower().split("?")[0]
            kind = (
                "video"
                if lower.endswith((".mp4", ".mov", ".webm"))
                else "doc"
                if lower.endswith(".pdf")
                else "photo"
            )
        items.append({"kind": kind, "link": link})
    return items


# ---------------------------------------------------------------------------------------------
# Building a record from a row


def _latest(record: dict[str, Any]) -> str | None:
    best: tuple[datetime, str] | None = None

    def walk(value: Any) -> None:
        nonlocal best
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str) and len(value) >= 20 and value[4] == "-" and value[10] == "T":
            moment = parse_time(value)
            if moment is not None and (best is None or moment > best[0]):
                best = (moment, value)

    walk(record)
    return best[1] if best else None


class RecordBuilder:
    def __init__(self, mapping: ColumnMapping, config: Config, person: str, source: str) -> None:
        self.mapping = mapping
        self.config = config
        self.person = person
        self.source = source
        self.defaults = mapping.defaults

    def default(self, name: str) -> Any:
        value = self.defaults.get(name)
        return None if value is None else value

    def build(self, row: SheetRow, record_id: str, problems: list[RowProblem]) -> dict[str, Any]:
        vals = row.values
        base = row.base
        flat = flatten(base) if base is not None else {}
        rec: dict[str, Any] = _json_copy(base) if base is not None else {"schema_version": SCHEMA_VERSION}
        rec["id"] = record_id
        if row.key and not rec.get("source_key") and not row.record_id:
            rec["source_key"] = row.key
        rec = {"schema_version": rec.get("schema_version", SCHEMA_VERSION), "id": record_id,
               **{k: v for k, v in rec.items() if k not in ("schema_version", "id")}}  # fmt: skip

        # The fields the row changes: a value the sheet gives that differs from the record's flat value
        # (for a new record, any value). Worked out once; the steps below only ask "in changed?".
        changed = {
            name
            for name, value in vals.items()
            if name in _BUILT_FIELDS
            and (value if isinstance(value, str) else _flat_value(name, value)) != flat.get(name, "")
        }

        def note(problem: str, name: str = "status") -> None:
            column = self.mapping.column_of(name) or ""
            problems.append(RowProblem(row.number, column, row.raw.get(name, ""), problem, name))

        # -- the QC failure
        qc: dict[str, Any] = rec.setdefault("qc", {})
        for name in _QC_FIELDS:
            if name in changed:
                qc[name] = vals[name]
        for name in ("station", "inspector", "severity", "quantity", "vendor", "failure_code"):
            if name not in qc and self.default(name) is not None:
                qc[name] = self.default(name)
        if "quantity" in qc and isinstance(qc["quantity"], str) and qc["quantity"].isdigit():
            qc["quantity"] = int(qc["quantity"])
        qc.setdefault("quantity", 1)
        qc.setdefault("severity", "major")
        qc.setdefault("inspector", self.person)
        qc.setdefault("station", record_id.split("-")[0])
        if "site" not in vals or "site" not in qc:
            qc["site"] = self.config.stations.get(str(qc["station"]), qc.get("site", ""))
        rec["qc"] = {k: qc[k] for k in _QC_FIELDS if k in qc} | {
            k: v for k, v in qc.items() if k not in _QC_FIELDS
        }

        # -- how far the row says the record has come
        word_stage, extra = vals.get("status", (None, None))
        current = status_of(rec)
        target = _STAGE[current]
        if word_stage is not None:
            target = max(target, _STAGE[word_stage])
        if not changed.isdisjoint(_DECISION_FIELDS):
            target = max(target, _STAGE["decided"])
        if not changed.isdisjoint(_RESHIP_COST_FIELDS):
            target = max(target, _STAGE["reshipping"])
        if not changed.isdisjoint(_CUSTOMER_FIELDS):
            target = max(target, _STAGE["awaiting-confirmation"])
        if not changed.isdisjoint(_CLOSURE_FIELDS):
            target = max(target, _STAGE["closed"])
        final = vals.get("final_status") or (
            extra if extra in ("resolved", "written-off", "escalated", "void") else None
        )
        is_void = final == "void" or (
            final is None and (rec.get("closure") or {}).get("final_status") == "void"
        )
        reship_given = not vals.keys().isdisjoint(_RESHIP_COST_FIELDS)

        # -- the decision
        if target >= _STAGE["decided"] and not (is_void and "decision" not in rec and "decision" not in vals):
            decision: dict[str, Any] = dict(rec.get("decision") or {})
            for name, key in _DECISION_FIELDS.items():
                if name in changed:
                    decision[key] = vals[name]
            if "action" not in decision:
                action = extra if extra in ("refund", "return-to-vendor", "accept-as-is") else None
                if action is None and (reship_given or target == _STAGE["reshipping"]):
                    action = "reship"
                action = action or self.default("decision")
                if action is None:
                    note(
                        "this status needs a decision: add a decision column (reship, refund, return-to-vendor, "
                        "accept-as-is, cancel) or set `defaults: decision:` in the mapping"
                    )
                    return rec
                decision["action"] = action
            decision.setdefault("by", self.person)
            decision.setdefault(
                "at",
                vals.get("decided_at")
                or _first_date(vals, "reshipped_at", "shipped_at")
                or rec["qc"].get("checked_at"),
            )
            rec["decision"] = {
                k: decision[k] for k in ("action", "by", "at", "reason") if decision.get(k) is not None
            }

        # -- the first reshipment
        decision_action = (rec.get("decision") or {}).get("action")
        if reship_given and decision_action not in (None, "reship") and not rec.get("reshipments"):
            note(f"reshipment columns are filled but the decision is {decision_action!r}", "decision")
        wants_reship = decision_action == "reship" and (target >= _STAGE["reshipping"] or reship_given)
        if wants_reship:
            reships = [dict(r) for r in rec.get("reshipments") or []]
            first = reships[0] if reships else {"ref": f"{record_id}-R1"}
            first["ref"] = first.get("ref") if reships else f"{record_id}-R1"
            for name, key in _RESHIP_FIELDS.items():
                if name in changed:
                    first[key] = vals[name]
            if not changed.isdisjoint(_COST_FIELDS) or "costs" not in first:
                costs = self._costs(vals, first, note)
                if costs is None:
                    return rec
                first["total"], first["costs"] = costs
            first.setdefault(
                "created_at", _first_date(vals, "reshipped_at", "shipped_at") or rec["decision"]["at"]
            )
            if "status" not in first:
                first["status"] = "shipped" if first.get("tracking") else "pending"
            if (
                target >= _STAGE["awaiting-confirmation"]
                and first["status"] in ("pending", "shipped")
                and "reship_status" not in vals
            ):
                first["status"] = "delivered"
            if first["status"] != "pending":
                first.setdefault("shipped_at", first["created_at"])
            if first["status"] == "delivered":
                first.setdefault(
                    "delivered_at", vals.get("confirmed_at") or vals.get("closed_at") or first["shipped_at"]
                )
            order = (
                "ref",
                "created_at",
                "carrier",
                "tracking",
                "status",
                "shipped_at",
                "delivered_at",
                "total",
                "costs",
                "note",
            )
            reships[0:1] = [{k: first[k] for k in order if k in first}]
            rec["reshipments"] = reships

        # -- the first vendor contact
        contacts = [dict(c) for c in rec.get("vendor_contacts") or []]
        wants_contact = not changed.isdisjoint(_VENDOR_FIELDS)
        closing_resolved = target == _STAGE["closed"] and (final or "resolved") == "resolved"
        if not wants_contact and closing_resolved and self.default("vendor_outcome"):
            # Closing a record the vendor bears a cost of, and the vendor has not answered yet.
            vendor_charged = decision_action == "return-to-vendor" or any(
                line.get("responsible") == "vendor"
                for r in rec.get("reshipments") or []
                for line in r.get("costs") or []
            )
            answered = any(c.get("outcome") not in (None, "pending") for c in contacts)
            wants_contact = vendor_charged and not answered
        if wants_contact:
            contact = contacts[0] if contacts else {}
            for name, key in _VENDOR_FIELDS.items():
                if name in changed:
                    contact[key] = _money_record(vals[name]) if name == "recovered" else vals[name]
            contact.setdefault("at", vals.get("vendor_contacted_at") or _latest(rec))
            contact.setdefault("by", self.person)
            contact.setdefault("channel", self.default("vendor_channel") or "chat")
            contact.setdefault("summary", f"imported from {self.source} row {row.number}")
            outcome = contact.get("outcome") or self.default("vendor_outcome")
            contact["outcome"] = outcome or ("credit" if "recovered" in contact else "pending")
            keys = ("at", "by", "channel", "summary", "outcome", "recovered")
            contacts[0:1] = [{k: contact[k] for k in keys if k in contact}]
            rec["vendor_contacts"] = contacts

        # -- the customer's confirmation
        needs_confirmation = target == _STAGE["closed"] and not is_void and "customer_confirmation" not in rec
        if not changed.isdisjoint(_CUSTOMER_FIELDS) or needs_confirmation:
            confirmation = dict(rec.get("customer_confirmation") or {})
            for name, key in _CUSTOMER_FIELDS.items():
                if name in changed:
                    confirmation[key] = vals[name]
            outcome = confirmation.get("outcome") or self.default("customer_outcome")
            if outcome is None:
                note(
                    "closing this record needs the customer's outcome: add a customer outcome column "
                    "(received-ok, unhappy, no-response) or set `defaults: customer_outcome:` in the mapping"
                )
                return rec
            confirmation["outcome"] = outcome
            confirmation.setdefault("at", _latest(rec))
            confirmation.setdefault("by", self.person)
            confirmation.setdefault("channel", self.default("customer_channel") or "platform")
            rec["customer_confirmation"] = {
                k: confirmation[k] for k in ("at", "by", "channel", "outcome", "note") if k in confirmation
            }

        # -- the closure
        if target == _STAGE["closed"] and (not rec.get("closure") or not changed.isdisjoint(_CLOSURE_FIELDS)):
            closure = dict(rec.get("closure") or {})
            for name, key in _CLOSURE_FIELDS.items():
                if name in changed:
                    closure[key] = vals[name]
            closure.setdefault("final_status", final or self.default("final_status") or "resolved")
            closure.setdefault("closed_at", _latest(rec))
            closure.setdefault("closed_by", self.person)
            if closure["final_status"] in ("written-off", "void") and not closure.get("note"):
                closure["note"] = (
                    f"status {row.raw.get('status') or closure['final_status']!r} in {self.source} row {row.number}"
                )
            rec["closure"] = {
                k: closure[k] for k in ("final_status", "closed_at", "closed_by", "note") if k in closure
            }
        return rec

    def _costs(
        self, vals: Mapping[str, Any], first: Mapping[str, Any], note: Callable[[str, str], None]
    ) -> tuple[dict[str, str], list[dict[str, Any]]] | None:
        cost = vals.get("reship_cost") or _flat_total(first)
        if not cost:
            note("a reshipment needs its cost: add a cost column (e.g. 'Reship cost', ¥38.5)", "reship_cost")
            return None
        parties = [
            p for p in str(vals.get("responsible") or self.default("responsible") or "").split(", ") if p
        ]
        old = [line for line in first.get("costs") or [] if isinstance(line, dict)]
        if not parties and old:
            parties = [str(line.get("responsible")) for line in old]
        if len(parties) != 1:
            if not parties:
                note("who bears the reshipment cost? add a responsible column (vendor, carrier, warehouse, "
                     "customer, platform) or set `defaults: responsible:` in the mapping", "responsible")  # fmt: skip
            else:
                note("a sheet row can attribute its cost to one party; split costs between parties in kakotui "
                     "(or keep the record's cost lines by leaving the cost unchanged)", "responsible")  # fmt: skip
            return None
        types = [
            t for t in str(vals.get("cost_type") or self.default("cost_type") or "freight").split(", ") if t
        ]
        amount, currency = str(cost).split(" ")
        money = {"amount": amount, "currency": currency}
        return money, [{"type": types[0], "amount": dict(money), "responsible": parties[0]}]


def _json_copy(value: Any) -> Any:
    """A deep copy of JSON data (dicts, lists, scalars): what `copy.deepcopy` makes of it, at under half the cost."""
    if isinstance(value, dict):
        return {k: _json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_copy(v) for v in value]
    return value


def _flat_value(name: str, value: Any) -> str:
    if name == "evidence":
        return "\n".join(f"{e['kind']} {e['link']}" for e in value)
    if name == "status":
        return str(value[0])
    return str(value)


def _flat_total(reship: Mapping[str, Any]) -> str:
    total = reship.get("total")
    return f"{total['amount']} {total['currency']}" if isinstance(total, dict) else ""


def _money_record(text: str) -> dict[str, str]:
    amount, currency = text.split(" ")
    return {"amount": amount, "currency": currency}


def _first_date(vals: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        if vals.get(name):
            return str(vals[name])
    return None


def field_of(path: str) -> str:
    parts = path.split(".")
    for n in range(len(parts), 0, -1):
        name = _PATH_FIELD.get(".".join(parts[:n]))
        if name is not None:
            if name == "reship_cost" and len(parts) >= 5 and parts[4] == "responsible":
                return "responsible"
            if name == "reship_cost" and len(parts) >= 5 and parts[4] == "type":
                return "cost_type"
            return name
    return "status" if path else ""

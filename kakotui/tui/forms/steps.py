"""The short lifecycle steps: decide, vendor contact, customer confirmation, close and reopen.

Each form is one façade call. The choices come from the log's own schema (so a log whose schema
adds a channel offers it), and the close form checks the rules as the final status changes, so it
says what is missing ("cannot close as resolved: ...") before anyone presses Save.

In a log with roles a field this person may not change is locked (see `base`); the close form offers
only the final statuses this person may set.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from textual.app import ComposeResult

from kakotui.core import lifecycle
from kakotui.core.money import Money, MoneyError, format_amount
from kakotui.core.problems import Problem
from kakotui.core.textsafe import inert
from kakotui.log import LogError, SaveResult
from kakotui.tui.forms.base import FormScreen
from kakotui.tui.forms.fields import FieldErrors, options, parse_money, schema_enum

__all__ = ["CloseForm", "ConfirmForm", "ContactForm", "DecideForm", "ReopenForm"]

DECISION_HINTS = {
    "reship": "send a replacement; add the reshipment next",
    "refund": "refund the customer",
    "return-to-vendor": "send the goods back to the vendor",
    "accept-as-is": "ship as is, with the customer's consent",
    "cancel": "cancel the order line",
}


def _count(record: dict[str, Any], key: str) -> int:
    items = record.get(key)
    return len(items) if isinstance(items, list) else 0


def _text(value: str) -> str | None:
    value = value.strip()
    return value or None


class DecideForm(FormScreen):
    """What to do about the failure: reship, refund, return to vendor, accept, cancel."""

    KIND = "decide"
    TITLE = "Decide"

    def initial_values(self) -> dict[str, str]:
        decision = self.record.get("decision") if isinstance(self.record.get("decision"), dict) else {}
        assert isinstance(decision, dict)
        return {"action": str(decision.get("action", "")), "reason": str(decision.get("reason", ""))}

    def compose_fields(self) -> ComposeResult:
        actions = schema_enum(self.exlog, "decision", "action")
        yield self.field("action", "Action", self.choice("action", options(actions)), hint=True)
        yield self.field("reason", "Reason", self.text("reason", placeholder="why (optional)"))

    def on_mount(self) -> None:
        super().on_mount()
        self.on_field_changed("action")

    def on_field_changed(self, name: str) -> None:
        if name == "action":
            self.set_hint("action", DECISION_HINTS.get(self.get("action"), ""))

    def field_map(self) -> dict[str, str]:
        return {"decision.action": "action", "decision.reason": "reason"}

    def collect(self) -> tuple[str, str | None]:
        self.require_offered("action")
        action = self.get("action")
        if not action:
            raise FieldErrors({"action": "Choose an action"})
        return action, _text(self.offered("reason") or "")

    def perform(self, payload: tuple[str, str | None]) -> SaveResult:
        assert self.record_id is not None
        action, reason = payload
        return self.exlog.decide(self.record_id, action, reason=reason)


class ContactForm(FormScreen):
    """A vendor contact: how, what was said, the outcome and any amount recovered."""

    KIND = "contact"
    TITLE = "Vendor contact"

    def initial_values(self) -> dict[str, str]:
        return {
            "channel": "chat",
            "outcome": "pending",
            "recovered_currency": self.exlog.config.reporting_currency,
        }

    def header_lines(self) -> list[str]:
        lines = super().header_lines()
        qc = self.record.get("qc") if isinstance(self.record.get("qc"), dict) else {}
        assert isinstance(qc, dict)
        vendor = str(qc.get("vendor", ""))
        name = self.exlog.config.vendors.get(vendor, "")
        charged: dict[str, Decimal] = {}
        for reship in self.record.get("reshipments") or []:
            for line in reship.get("costs") or [] if isinstance(reship, dict) else []:
                if isinstance(line, dict) and line.get("responsible") == "vendor":
                    try:
                        money = Money.from_record(line.get("amount"))
                    except MoneyError:
                        continue
                    charged[money.currency] = charged.get(money.currency, Decimal(0)) + money.amount
        share = " + ".join(f"{format_amount(a)} {c}" for c, a in sorted(charged.items()))
        extra = f"vendor {vendor}" + (f" ({name})" if name else "")
        extra += f" · charged to the vendor: {share}" if share else ""
        return [*lines, extra]

    def compose_fields(self) -> ComposeResult:
        currencies = list(self.exlog.config.currencies)
        yield self.field(
            "channel",
            "Channel",
            self.choice("channel", options(schema_enum(self.exlog, "vendor_contact", "channel"))),
        )
        yield self.field("summary", "Summary", self.area("summary", placeholder="what was said"))
        yield self.field(
            "outcome",
            "Outcome",
            self.choice("outcome", options(schema_enum(self.exlog, "vendor_contact", "outcome"))),
            hint=True,
        )
        yield self.field(
            "recovered",
            "Recovered",
            self.text(
                "recovered", placeholder="38.50", restrict=r"[0-9. A-Za-z]*", max_length=24, short=True
            ),
            self.choice("recovered_currency", options(currencies)).add_class("cur"),
        )

    def on_mount(self) -> None:
        super().on_mount()
        self.on_field_changed("outcome")

    def on_field_changed(self, name: str) -> None:
        if name == "outcome":
            needs = self.get("outcome") in ("credit", "refund")
            self.set_hint("outcome", "state the amount recovered" if needs else "")

    def field_map(self) -> dict[str, str]:
        n = _count(self.record, "vendor_contacts")
        return {
            f"vendor_contacts.{n}.channel": "channel",
            f"vendor_contacts.{n}.summary": "summary",
            f"vendor_contacts.{n}.outcome": "outcome",
            f"vendor_contacts.{n}.recovered": "recovered",
        }

    def collect(self) -> dict[str, Any]:
        self.require_offered("channel", "outcome")
        recovered = parse_money(self.offered("recovered") or "", self.get("recovered_currency"), "recovered")
        return {
            "channel": self.get("channel"),
            "summary": (self.offered("summary") or "").strip(),
            "outcome": self.get("outcome"),
            "recovered": recovered,
        }

    def perform(self, payload: dict[str, Any]) -> SaveResult:
        assert self.record_id is not None
        return self.exlog.contact_vendor(self.record_id, **payload)


class ConfirmForm(FormScreen):
    """The customer's answer: received fine, unhappy, or no response."""

    KIND = "confirm"
    TITLE = "Customer confirmation"

    def initial_values(self) -> dict[str, str]:
        current = self.record.get("customer_confirmation")
        if isinstance(current, dict):
            return {k: str(current.get(k, "")) for k in ("channel", "outcome", "note")}
        return {"channel": "chat", "outcome": "received-ok"}

    def compose_fields(self) -> ComposeResult:
        yield self.field(
            "channel",
            "Channel",
            self.choice("channel", options(schema_enum(self.exlog, "customer_confirmation", "channel"))),
        )
        yield self.field(
            "outcome",
            "Outcome",
            self.choice("outcome", options(schema_enum(self.exlog, "customer_confirmation", "outcome"))),
        )
        yield self.field("note", "Note", self.area("note", placeholder="optional"))

    def field_map(self) -> dict[str, str]:
        return {f"customer_confirmation.{k}": k for k in ("channel", "outcome", "note")}

    def collect(self) -> dict[str, Any]:
        self.require_offered("channel", "outcome")
        return {
            "channel": self.get("channel"),
            "outcome": self.get("outcome"),
            "note": _text(self.offered("note") or ""),
        }

    def perform(self, payload: dict[str, Any]) -> SaveResult:
        assert self.record_id is not None
        return self.exlog.confirm_customer(self.record_id, **payload)


class CloseForm(FormScreen):
    """Close the loop; the rules are checked live, so what is missing shows under the final status."""

    KIND = "close"
    TITLE = "Close"
    FALLBACK_FIELD = "final_status"

    def initial_values(self) -> dict[str, str]:
        return {"final_status": "resolved"}

    def statuses(self) -> tuple[list[str], dict[str, str]]:
        """(the final statuses this person may close with, the others -> why not)."""
        offered: list[str] = []
        withheld: dict[str, str] = {}
        for status in schema_enum(self.exlog, "closure", "final_status"):
            ok, why = self.permitted("closure.final_status", status)
            if ok:
                offered.append(status)
            else:
                withheld[status] = why
        return offered, withheld

    def compose_fields(self) -> ComposeResult:
        statuses, withheld = self.statuses()
        select = self.choice("final_status", options(statuses))
        if withheld:
            select.tooltip = "Not offered: " + "; ".join(
                inert(f"{status} ({why})", 200, single_line=True) for status, why in withheld.items()
            )
        yield self.field("final_status", "Final status", select, hint=True)
        yield self.field("note", "Note", self.area("note", placeholder="required for written-off and void"))

    def apply_permissions(self) -> None:
        super().apply_permissions()
        offered, withheld = self.statuses() if self.policed else ([], {})
        if withheld and not offered and "final_status" not in self.locked:
            self.lock_field("final_status", next(iter(withheld.values())))

    def field_map(self) -> dict[str, str]:
        return {
            "closure.final_status": "final_status",
            "closure.note": "note",
        }

    def on_mount(self) -> None:
        super().on_mount()
        self.preview()

    def on_field_changed(self, name: str) -> None:
        if name in ("final_status", "note"):
            self.preview()

    def preview(self) -> list[Problem]:
        """The problems closing now would meet; shown in place, nothing saved."""
        if self.load_error or not self.record or "final_status" in self.locked:
            return []
        status = self.get("final_status")
        if not status:
            return []
        try:
            candidate = lifecycle.close(
                self.record,
                final_status=status,
                at=self.exlog.now(),
                by=self.exlog.identity.name,
                note=_text(self.offered("note") or ""),
            )
        except lifecycle.StepError as exc:
            problems = [Problem("", exc.field, "step:close", exc.message)]
        except LogError as exc:
            problems = [Problem("", "", "identity", str(exc))]
        else:
            path = self.loaded.path if self.loaded is not None else None
            with self.log_lock():
                problems = self.exlog.check(candidate, path=path)
        self.show_problems(problems, focus=False)
        self.set_hint("final_status", "" if problems else "✓ every closing rule is met", good=not problems)
        return problems

    def collect(self) -> dict[str, Any]:
        self.require_offered("final_status")
        status = self.get("final_status")
        if not status:
            raise FieldErrors({"final_status": "Choose a final status"})
        ok, why = self.permitted("closure.final_status", status)
        if not ok:
            raise FieldErrors({"final_status": why})
        return {"final_status": status, "note": _text(self.offered("note") or "")}

    def perform(self, payload: dict[str, Any]) -> SaveResult:
        assert self.record_id is not None
        return self.exlog.close_record(self.record_id, **payload)


class ReopenForm(FormScreen):
    """Reopen a closed record; the previous closure is kept in the record's reopenings."""

    KIND = "reopen"
    TITLE = "Reopen"

    def compose_fields(self) -> ComposeResult:
        yield self.field("reason", "Reason", self.area("reason", placeholder="why it is reopened"))

    def on_mount(self) -> None:
        super().on_mount()
        if self.record and not self.record.get("closure"):
            self.show_form_errors(["This record is not closed; there is nothing to reopen."])

    def field_map(self) -> dict[str, str]:
        n = _count(self.record, "reopenings")
        return {f"reopenings.{n}.reason": "reason", f"reopenings.{n}": "reason"}

    def collect(self) -> str:
        self.require_offered("reason")
        return self.get("reason").strip()

    def perform(self, payload: str) -> SaveResult:
        assert self.record_id is not None
        return self.exlog.reopen(self.record_id, reason=payload)

"""The reshipment form: a new reshipment with its attributed cost lines, or an update of the open one.

A new reshipment takes a carrier (completed from the configured carriers), a tracking number, a
status and one or more cost lines (amount, currency, type, responsible party); the running total
and each party's share show as lines are typed. When the record's last reshipment is still pending
or shipped, the form opens on that one instead (status, carrier, tracking, dates), since moving it
along is the common next step; a Select at the top switches to a new reshipment.

In a log with roles, a person who may not change cost attribution (`reshipments.*.costs` or `.total`,
e.g. operations) is offered no cost lines, total or responsible party: the costs row says why, and
only finance (or whoever may) creates a reshipment, which needs its costs; moving one along stays open.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Button, ContentSwitcher, Label, Static

from kakotui.core.config import RESPONSIBLE_PARTIES
from kakotui.core.lifecycle import CostLine
from kakotui.core.money import Money, MoneyError, format_amount
from kakotui.core.textsafe import inert
from kakotui.log import SaveResult
from kakotui.tui.forms.base import FormScreen
from kakotui.tui.forms.fields import FieldErrors, FormInput, Option, options, schema_enum

__all__ = ["ReshipForm"]

OPEN_STATUSES = ("pending", "shipped")
MAX_LINES = 30
_HEAD = f"{'Amount':<12} {'Cur.':<7} {'Type':<11} {'Responsible':<13}"


def _text(value: str) -> str | None:
    value = value.strip()
    return value or None


class ReshipForm(FormScreen):
    """Create a reshipment with its cost attribution, or move the open one along."""

    KIND = "reship"
    TITLE = "Reshipment"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+a", "add_line", "Add cost line", priority=True, id="form.add_line"),
    ]

    DEFAULT_CSS = """
    ReshipForm #cost-lines, ReshipForm .cost-line {
        height: auto;
    }
    ReshipForm .cost-cells {
        height: 1;
    }
    ReshipForm .cost-cells > Input {
        width: 12;
    }
    ReshipForm .cost-cells > Select {
        margin-left: 1;
        width: 12;
    }
    ReshipForm .cost-cells > Select.cur {
        width: 7;
    }
    ReshipForm .cost-cells > Select.party {
        width: 15;
    }
    ReshipForm .cost-cells > Button {
        margin-left: 1;
        min-width: 3;
        width: 3;
    }
    ReshipForm .cost-head {
        height: 1;
        color: $text-muted;
        text-style: italic;
    }
    ReshipForm .cost-foot {
        height: 1;
    }
    ReshipForm #cost-total {
        width: 1fr;
        padding-left: 2;
        text-style: bold;
    }
    ReshipForm #reship-switch > Vertical {
        height: auto;
    }
    """

    def __init__(self, log: Any, record_id: str | None = None) -> None:
        super().__init__(log, record_id)
        keys = [int(k) for k in self.start_values.get("cost_lines", "0").split(",") if k.isdigit()]
        self._line_keys: list[int] = list(dict.fromkeys(keys))[:MAX_LINES] or [0]
        self._next_key = max(self._line_keys) + 1

    # -- the record ---------------------------------------------------------------------------

    @property
    def reshipments(self) -> list[dict[str, Any]]:
        items = self.record.get("reshipments")
        return [r for r in items if isinstance(r, dict)] if isinstance(items, list) else []

    @property
    def open_index(self) -> int | None:
        """The last reshipment when it is still on its way (the one an update moves along)."""
        reships = self.reshipments
        if reships and reships[-1].get("status") in OPEN_STATUSES:
            return len(reships) - 1
        return None

    def mode(self) -> str:
        if self.open_index is None:
            return "new"
        return "update" if self.get("target") == "update" else "new"

    def initial_values(self) -> dict[str, str]:
        values = {
            "status": "pending",
            "cost_lines": "0",
            "cost-0-currency": self.exlog.config.reporting_currency,
            "cost-0-type": "freight",
            "cost-0-responsible": "vendor",
        }
        index = self.open_index
        if index is not None:
            current = self.reshipments[index]
            values["target"] = "update"
            for key in ("status", "carrier", "tracking", "shipped_at", "delivered_at"):
                value = current.get(key)
                values[f"u_{key}"] = value if isinstance(value, str) else ""
        return values

    # -- layout ---------------------------------------------------------------------------------

    def compose_fields(self) -> ComposeResult:
        index = self.open_index
        if index is not None:
            current = self.reshipments[index]
            status = str(current.get("status", ""))
            targets: list[Option] = [
                (Content(inert(f"Update R{index + 1} ({status})", 40, single_line=True)), "update"),
                (f"New reshipment R{len(self.reshipments) + 1}", "new"),
            ]
            yield self.field("target", "Reshipment", self.choice("target", targets))
        initial = "sec-update" if index is not None and self.value0("target") == "update" else "sec-new"
        with ContentSwitcher(initial=initial, id="reship-switch"):
            with Vertical(id="sec-new"):
                yield from self._compose_new()
            with Vertical(id="sec-update"):
                if index is not None:
                    yield from self._compose_update()

    def _carriers(self) -> list[str]:
        return list(self.exlog.config.carriers)

    def _compose_new(self) -> ComposeResult:
        statuses = schema_enum(self.exlog, "reshipment", "status")
        yield self.field(
            "carrier",
            "Carrier",
            self.text(
                "carrier", placeholder="carrier id", choices=self._carriers(), closed=True, advance=True
            ),
            hint=True,
        )
        yield self.field(
            "tracking", "Tracking", self.text("tracking", placeholder="optional while pending", max_length=64)
        )
        yield self.field("status", "Status", self.choice("status", options(statuses)))
        self._labels["costs"] = "Costs"
        yield Horizontal(
            Label("Costs", classes="field-label"),
            Vertical(
                Static(_HEAD, classes="cost-head", markup=False),
                Vertical(*(self._cost_line(k) for k in self._line_keys), id="cost-lines"),
                Horizontal(
                    Button("+ Line", id="add-line", compact=True, tooltip="Add a cost line (ctrl+a)"),
                    Static("", id="cost-total", markup=False),
                    classes="cost-foot",
                ),
                Static("", id="e-costs", classes="field-error", markup=False),
                classes="field-main",
            ),
            id="row-costs",
            classes="field",
        )

    def _cost_line(self, key: int) -> Widget:
        types = schema_enum(self.exlog, "cost_line", "type")
        parties = schema_enum(self.exlog, "responsible_party") or list(RESPONSIBLE_PARTIES)
        currencies = list(self.exlog.config.currencies)
        name = f"cost-{key}"
        currency = self.choice(f"{name}-currency", options(currencies))
        currency.add_class("cur")
        party = self.choice(f"{name}-responsible", options(parties))
        party.add_class("party")
        return Vertical(
            Horizontal(
                self.text(f"{name}-amount", placeholder="38.50", restrict=r"[0-9. A-Za-z]*", max_length=24),
                currency,
                self.choice(f"{name}-type", options(types)),
                party,
                Button("✕", id=f"drop-{key}", compact=True, tooltip="Remove this line"),
                classes="cost-cells",
            ),
            Static("", id=f"e-{name}", classes="field-error", markup=False),
            id=f"line-{key}",
            classes="cost-line",
        )

    def _compose_update(self) -> ComposeResult:
        statuses = schema_enum(self.exlog, "reshipment", "status")
        yield self.field("u_status", "Status", self.choice("u_status", options(statuses)))
        yield self.field(
            "u_carrier",
            "Carrier",
            self.text("u_carrier", placeholder="carrier id", choices=self._carriers(), closed=True),
            hint=True,
        )
        yield self.field("u_tracking", "Tracking", self.text("u_tracking", max_length=64))
        yield self.field(
            "u_shipped_at", "Shipped at", self.text("u_shipped_at", placeholder="now, when marked shipped")
        )
        yield self.field(
            "u_delivered_at",
            "Delivered at",
            self.text("u_delivered_at", placeholder="now, when marked delivered"),
        )

    def on_mount(self) -> None:
        super().on_mount()
        self._update_total()
        for name in ("carrier", "u_carrier"):
            self.on_field_changed(name)

    # -- reacting to input -----------------------------------------------------------------------

    def values(self) -> dict[str, str]:
        values = super().values()
        values["cost_lines"] = ",".join(str(k) for k in self._line_keys)
        return values

    def on_field_changed(self, name: str) -> None:
        if name == "target":
            self.query_one("#reship-switch", ContentSwitcher).current = (
                "sec-update" if self.get("target") == "update" else "sec-new"
            )
        elif name in ("carrier", "u_carrier") and self.query(f"#f-{name}"):
            carrier = self.get(name).strip()
            completion = self.query_one(f"#f-{name}", FormInput).completion()
            carriers = self.exlog.config.carriers
            known = carriers.get(carrier) or (carriers.get(completion) if completion else None)
            self.set_hint(name, known or ("not a listed carrier" if carrier else ""))
        elif name.startswith("cost-"):
            self._update_total()

    def _update_total(self) -> None:
        if not self.query("#cost-total"):
            return
        self.query_one("#cost-total", Static).update(Content(self.total_text()))

    def total_text(self) -> str:
        """`Total 58.50 CNY · vendor 38.50 · warehouse 20.00`, or what stops a total."""
        by_currency: dict[str, Decimal] = {}
        by_party: dict[str, Decimal] = {}
        unreadable = 0
        for key in self._line_keys:
            text = self.get(f"cost-{key}-amount")
            if not text.strip():
                continue
            try:
                money = Money.parse(text, default_currency=self.get(f"cost-{key}-currency") or None)
            except MoneyError:
                unreadable += 1
                continue
            by_currency[money.currency] = by_currency.get(money.currency, Decimal(0)) + money.amount
            party = self.get(f"cost-{key}-responsible") or "?"
            by_party[party] = by_party.get(party, Decimal(0)) + money.amount
        note = f" · {unreadable} line(s) not an amount" if unreadable else ""
        if not by_currency:
            return "Total —" + note
        if len(by_currency) > 1:
            return f"Lines in {', '.join(sorted(by_currency))}: one reshipment takes one currency" + note
        currency, total = next(iter(by_currency.items()))
        shares = " · ".join(f"{p} {format_amount(a)}" for p, a in by_party.items())
        return f"Total {format_amount(total)} {currency} · {shares}{note}"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "add_line":
            return not self.load_error and self.mode() == "new" and "costs" not in self.locked
        return True

    async def action_add_line(self) -> None:
        if (
            self.load_error
            or self.mode() != "new"
            or "costs" in self.locked
            or len(self._line_keys) >= MAX_LINES
        ):
            return
        key = self._next_key
        self._next_key += 1
        last = self._line_keys[-1] if self._line_keys else None
        currency = self.get(f"cost-{last}-currency") if last is not None else ""
        self.start_values.update(
            {
                f"cost-{key}-currency": currency or self.exlog.config.reporting_currency,
                f"cost-{key}-type": "freight",
                f"cost-{key}-responsible": "vendor",
            }
        )
        self._line_keys.append(key)
        await self.query_one("#cost-lines", Vertical).mount(self._cost_line(key))
        self.focus_field(f"cost-{key}-amount")
        self._update_total()
        self.schedule_draft()

    async def drop_line(self, key: int) -> None:
        if key not in self._line_keys:
            return
        if len(self._line_keys) == 1:
            self.put(f"cost-{key}-amount", "")
            return
        self._line_keys.remove(key)
        await self.query_one(f"#line-{key}").remove()
        self._update_total()
        self.schedule_draft()

    @on(Button.Pressed, "#add-line")
    async def _add_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        await self.action_add_line()

    @on(Button.Pressed, ".cost-cells Button")
    async def _drop_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        button_id = event.button.id or ""
        if button_id.startswith("drop-") and button_id[5:].isdigit():
            await self.drop_line(int(button_id[5:]))

    # -- saving ----------------------------------------------------------------------------------

    def field_map(self) -> dict[str, str]:
        index = self.open_index
        if self.mode() == "update" and index is not None:
            fields = ("status", "carrier", "tracking", "shipped_at", "delivered_at")
            return {f"reshipments.{index}.{f}": f"u_{f}" for f in fields}
        n = len(self.reshipments)
        mapping = {
            f"reshipments.{n}.carrier": "carrier",
            f"reshipments.{n}.tracking": "tracking",
            f"reshipments.{n}.status": "status",
            f"reshipments.{n}.shipped_at": "status",
            f"reshipments.{n}.costs": "costs",
            f"reshipments.{n}.total": "costs",
            "reshipments.costs": "costs",
        }
        for position, key in enumerate(self._line_keys):
            mapping[f"reshipments.{n}.costs.{position}"] = f"cost-{key}"
        return mapping

    def permission_map(self) -> dict[str, str]:
        """Both sections' fields (the new one's and the open reshipment's), whatever the mode."""
        n = len(self.reshipments)
        mapping = {
            f"reshipments.{n}.carrier": "carrier",
            f"reshipments.{n}.tracking": "tracking",
            f"reshipments.{n}.status": "status",
            f"reshipments.{n}.costs": "costs",
            f"reshipments.{n}.total": "costs",
        }
        index = self.open_index
        if index is not None:
            for f in ("status", "carrier", "tracking", "shipped_at", "delivered_at"):
                mapping[f"reshipments.{index}.{f}"] = f"u_{f}"
        return mapping

    def apply_permissions(self) -> None:
        super().apply_permissions()
        if "costs" in self.locked:
            self.refresh_bindings()

    def collect(self) -> tuple[str, Any]:
        if self.mode() == "update":
            return self._collect_update()
        self.require_offered("costs")
        errors: dict[str, str] = {}
        lines: list[CostLine] = []
        for position, key in enumerate(self._line_keys, start=1):
            name = f"cost-{key}"
            text = self.get(f"{name}-amount")
            if not text.strip():
                errors[name] = f"line {position}: the amount is required"
                continue
            try:
                money = Money.parse(text, default_currency=self.get(f"{name}-currency") or None)
            except MoneyError:
                errors[name] = (
                    f"line {position}: not an amount: {inert(text, 30, single_line=True)} (e.g. 38.50)"
                )
                continue
            lines.append(CostLine(self.get(f"{name}-type"), money, self.get(f"{name}-responsible")))
        if errors:
            raise FieldErrors(errors)
        return "new", {
            "costs": lines,
            "carrier": _text(self.offered("carrier") or ""),
            "tracking": _text(self.offered("tracking") or ""),
            "status": self.offered("status") or "pending",
        }

    def _collect_update(self) -> tuple[str, Any]:
        index = self.open_index
        assert index is not None
        current = self.reshipments[index]
        status = self.offered("u_status") or ""
        proposed: dict[str, str | None] = {
            "status": status or None,
            "carrier": _text(self.get("u_carrier")),
            "tracking": _text(self.get("u_tracking")),
            "shipped_at": _text(self.get("u_shipped_at")),
            "delivered_at": _text(self.get("u_delivered_at")),
        }
        now = self.exlog.now()
        if status in ("shipped", "delivered", "lost", "returned") and not proposed["shipped_at"]:
            proposed["shipped_at"] = now
        if status == "delivered" and not proposed["delivered_at"]:
            proposed["delivered_at"] = now
        # What this person may not change stays as it is (a status's date stamp included).
        proposed = {k: v for k, v in proposed.items() if f"u_{k}" not in self.locked}
        changes = {k: v for k, v in proposed.items() if v is not None and v != current.get(k)}
        if not changes:
            raise FieldErrors({"": "Nothing changed: set the new status or tracking, or press Escape."})
        return "update", (index + 1, changes)

    def perform(self, payload: tuple[str, Any]) -> SaveResult:
        assert self.record_id is not None
        kind, data = payload
        if kind == "update":
            number, changes = data
            return self.exlog.update_reshipment(self.record_id, number, **changes)
        return self.exlog.reship(self.record_id, **data)

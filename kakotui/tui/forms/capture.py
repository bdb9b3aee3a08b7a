"""Capturing a QC failure at the bench (`n`) and correcting its QC fields later (`e`).

The new-exception form is built for speed: vendor → SKU → order → code, each completing from the
log (configured vendors, the failure-code taxonomy, SKUs seen before), Enter on the code saves;
"save and new" keeps vendor and order id for the next item of the same parcel. Checked-at,
inspector and station come from the clock, the person and the clone.
"""

from __future__ import annotations

import contextlib
import weakref
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.widgets import Button

from kakotui.core.commits import commit_message
from kakotui.core.config import Config
from kakotui.core.record import canonical, clone
from kakotui.log import ExceptionLog, Loaded, LogError, SaveResult
from kakotui.sync.merge import merge_records
from kakotui.tui.forms.base import FormScreen
from kakotui.tui.forms.drafts import remove_draft
from kakotui.tui.forms.fields import FieldErrors, FormInput, options, schema_enum

__all__ = ["EditExceptionForm", "NewExceptionForm", "failure_codes", "past_skus"]

SEVERITIES = ("minor", "major", "critical")
QC_TEXT_FIELDS = ("vendor", "sku", "order_id", "failure_code", "item_title")
REQUIRED = ("vendor", "sku", "order_id", "failure_code", "severity")
_VIDEO = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
_DOC = (".pdf", ".doc", ".docx", ".txt", ".xls", ".xlsx", ".csv", ".md", ".eml")
_SKU_LIMIT = 50_000  # most recent SKUs offered for completion

_sku_cache: weakref.WeakKeyDictionary[ExceptionLog, list[str]] = weakref.WeakKeyDictionary()


def failure_codes(config: Config) -> list[str]:
    """Taxonomy order: each category, then its detail codes (the order completion prefers)."""
    out: list[str] = []
    for category in config.data.get("failure_codes", []):
        out.append(category["category"])
        out.extend(f"{category['category']}-{code}" for code in category.get("codes", []))
    return out


def past_skus(log: ExceptionLog) -> list[str]:
    """SKUs seen in the log, most recent first; read from the index once per log and cached."""
    cached = _sku_cache.get(log)
    if cached is None:
        rows = log.records("", sort="age", columns=["sku"], limit=_SKU_LIMIT)
        cached = list(dict.fromkeys(str(row["sku"]) for row in rows if row["sku"]))
        _sku_cache[log] = cached
    return cached


def remember_sku(log: ExceptionLog, sku: str) -> None:
    cached = _sku_cache.get(log)
    if cached is not None and sku:
        if sku in cached:
            cached.remove(sku)
        cached.insert(0, sku)


def evidence_kind(link: str) -> str:
    path = link.split("?", 1)[0].split("#", 1)[0].lower()
    if path.endswith(_VIDEO):
        return "video"
    if path.endswith(_DOC):
        return "doc"
    return "photo"


def parse_evidence(text: str, existing: Any = None) -> list[dict[str, Any]]:
    """One link per line; entries already on the record keep their kind, checksum and note."""
    known = {e["link"]: e for e in existing or [] if isinstance(e, dict) and isinstance(e.get("link"), str)}
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        link = line.strip()
        if not link:
            continue
        out.append(dict(known[link]) if link in known else {"kind": evidence_kind(link), "link": link})
    return out


def evidence_text(evidence: Any) -> str:
    return "\n".join(
        str(e["link"]) for e in evidence or [] if isinstance(e, dict) and isinstance(e.get("link"), str)
    )


class _QcForm(FormScreen):
    """The QC fields, shared by capture and edit."""

    EDITS_HEADER: ClassVar[bool] = False

    def compose_fields(self) -> ComposeResult:
        config = self.exlog.config
        yield self.field(
            "vendor",
            "Vendor",
            self.text(
                "vendor", placeholder="vendor id", choices=list(config.vendors), closed=True, advance=True
            ),
            hint=True,
        )
        yield self.field("sku", "SKU", self.text("sku", placeholder="SKU", advance=True, max_length=64))
        yield self.field(
            "order_id", "Order id", self.text("order_id", placeholder="order id", advance=True, max_length=64)
        )
        yield self.field(
            "failure_code",
            "Failure code",
            self.text(
                "failure_code",
                placeholder="e.g. DEFECTIVE-Zipper",
                choices=failure_codes(config),
                closed=True,
            ),
            hint=True,
        )
        yield self.field(
            "severity",
            "Severity",
            self.choice("severity", options(schema_enum(self.exlog, "qc", "severity") or list(SEVERITIES))),
        )
        yield self.field(
            "quantity", "Quantity", self.text("quantity", restrict=r"[0-9]*", max_length=6, short=True)
        )
        yield self.field("item_title", "Item title", self.text("item_title", max_length=300))
        yield self.field("description", "Description", self.area("description"))
        yield self.field("evidence", "Evidence", self.area("evidence", placeholder="links, one per line"))
        if self.EDITS_HEADER:
            yield self.field("checked_at", "Checked at", self.text("checked_at", max_length=40))
            yield self.field("inspector", "Inspector", self.text("inspector", max_length=120))

    def field_map(self) -> dict[str, str]:
        names = (
            "vendor",
            "sku",
            "order_id",
            "failure_code",
            "severity",
            "quantity",
            "item_title",
            "description",
            "evidence",
        )
        mapping = {f"qc.{n}": n for n in names}
        if self.EDITS_HEADER:
            mapping.update({"qc.checked_at": "checked_at", "qc.inspector": "inspector"})
        return mapping

    def on_mount(self) -> None:
        super().on_mount()
        for name in ("vendor", "failure_code"):
            self.on_field_changed(name)

    def on_field_changed(self, name: str) -> None:
        config = self.exlog.config
        if name not in ("vendor", "failure_code"):
            return
        text = self.get(name).strip()
        completion = self.query_one(f"#f-{name}", FormInput).completion()
        if name == "vendor":
            known = config.vendors.get(text) or (config.vendors.get(completion) if completion else None)
            self.set_hint(name, known or ("not a listed vendor" if text else ""))
        else:
            code = text if text in config.codes else completion
            category = config.category_of(code) if code else None
            label = config.categories.get(category, "") if category else ""
            self.set_hint(name, label or ("not in the taxonomy" if text else ""))

    def read_qc(self, existing: dict[str, Any]) -> dict[str, Any]:
        """The QC mapping the fields say, laid over `existing` (empty text removes an optional field).

        A field this person may not change (`locked`) keeps its value from `existing`.
        """
        values = self.values()
        qc = dict(existing)
        for name in QC_TEXT_FIELDS:
            qc[name] = values.get(name, "").strip()
        qc["severity"] = values.get("severity", "")
        qc["description"] = values.get("description", "").strip()
        qc["evidence"] = parse_evidence(values.get("evidence", ""), existing.get("evidence"))
        if self.EDITS_HEADER:
            qc["checked_at"] = values.get("checked_at", "").strip()
            qc["inspector"] = values.get("inspector", "").strip()
        for name in self.locked:  # not this person's to change: as it was
            qc.pop(name, None)
            if name in existing:
                qc[name] = existing[name]
        errors = {
            name: f"{self._labels.get(name, name)} is required"
            for name in (*REQUIRED, *(("checked_at", "inspector") if self.EDITS_HEADER else ()))
            if not qc.get(name) and name not in self.locked
        }
        quantity = values.get("quantity", "").strip()
        if "quantity" in self.locked:
            pass  # kept from `existing` above
        elif not quantity:
            errors["quantity"] = "Quantity is required"
        elif not quantity.isdigit():
            errors["quantity"] = "Quantity must be a whole number"
        else:
            qc["quantity"] = int(quantity)
        if errors:
            # Said here, all at once: the schema names only one missing field at a time.
            raise FieldErrors(errors)
        return {k: v for k, v in qc.items() if v not in ("", [], None)}


class NewExceptionForm(_QcForm):
    """Log a QC failure: vendor, SKU, order id, failure code, and optional detail; `n` in the app."""

    KIND = "new"
    TITLE = "New exception"
    NEEDS_RECORD = False
    AUTO_FOCUS = "#f-vendor"
    KEEP_ON_NEXT: ClassVar[tuple[str, ...]] = ("vendor", "order_id")

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "save_and_new", "Save + new", priority=True, id="form.save_and_new"),
    ]

    def initial_values(self) -> dict[str, str]:
        return {"severity": "major", "quantity": "1"}

    def header_lines(self) -> list[str]:
        try:
            station = self.exlog.station
            site = self.exlog.config.stations.get(station, "?")
            where = f"station {station} (site {site})"
        except LogError:
            where = "station not set (kakotui station ID)"
        try:
            who = f"inspector {self.exlog.identity.name}"
        except LogError:
            who = "inspector not set (kakotui whoami --set)"
        return [f"{where} · {who} · checked at the time you save"]

    def compose_buttons(self) -> ComposeResult:
        yield Button("Save", id="form-save", variant="primary", compact=True)
        yield Button("Save + new", id="form-save-new", compact=True)
        yield Button("Cancel", id="form-cancel", compact=True)
        yield Button("Discard input", id="form-discard", compact=True)

    def on_mount(self) -> None:
        super().on_mount()
        self._load_skus()

    @work(thread=True, exclusive=True, group="form-skus")
    def _load_skus(self) -> None:
        try:
            with self.log_lock():
                skus = past_skus(self.exlog)
        except Exception:  # completion is a convenience: an index problem must not break capture
            return
        self.app.call_from_thread(self._set_skus, skus)

    def _set_skus(self, skus: list[str]) -> None:
        with contextlib.suppress(NoMatches):
            self.query_one("#f-sku", FormInput).set_choices(skus)

    def collect(self) -> dict[str, Any]:
        return self.read_qc({})

    def perform(self, payload: dict[str, Any]) -> SaveResult:
        return self.exlog.new(payload)

    def action_save_and_new(self) -> None:
        self.submit(and_new=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "form-save-new":
            event.stop()
            self.submit(and_new=True)

    def after_save(self, result: SaveResult, and_new: bool) -> None:
        remember_sku(self.exlog, self.get("sku").strip())
        if not and_new:
            super().after_save(result, and_new)
            return
        remove_draft(self.exlog, self.KIND, self.record_id)
        cached = _sku_cache.get(self.exlog)
        if cached is not None:
            self._set_skus(cached)
        fresh = self.initial_values()
        for name in self.values():
            if name not in self.KEEP_ON_NEXT:
                self.put(name, fresh.get(name, ""))
        self.baseline = self.values()
        count = len(self.saved)
        self.show_notice(
            f"Saved {result.id}" + (f" ({count} saved in this form)" if count > 1 else "") + ". Next item:"
        )
        self.focus_field("sku")


class EditExceptionForm(_QcForm):
    """Correct the QC fields of a record; saved only if nobody changed the record meanwhile."""

    KIND = "edit"
    TITLE = "Edit QC fields"
    EDITS_HEADER = True
    AUTO_FOCUS = "#f-vendor"

    def initial_values(self) -> dict[str, str]:
        qc = self.record.get("qc") if isinstance(self.record.get("qc"), dict) else {}
        assert isinstance(qc, dict)

        def text(key: str) -> str:
            value = qc.get(key)
            return "" if value is None else str(value)

        values = {name: text(name) for name in (*QC_TEXT_FIELDS, "severity", "quantity", "description")}
        values["evidence"] = evidence_text(qc.get("evidence"))
        values["checked_at"] = text("checked_at")
        values["inspector"] = text("inspector")
        return values

    def collect(self) -> tuple[dict[str, Any], list[str]]:
        old = self.record.get("qc") if isinstance(self.record.get("qc"), dict) else {}
        assert isinstance(old, dict)
        qc = self.read_qc(old)
        changed = [f"qc.{k}" for k in sorted(set(old) | set(qc)) if old.get(k) != qc.get(k)]
        if not changed:
            raise FieldErrors({"": "Nothing changed: edit a field, or press Escape to leave."})
        updated = clone(self.record)
        updated["qc"] = qc
        return updated, changed

    def merge_payload(
        self, payload: tuple[dict[str, Any], list[str]], theirs: Loaded
    ) -> tuple[dict[str, Any], list[str]]:
        """Our edit laid over their newer version, field by field (ours kept where both changed)."""
        updated, changed = payload
        return merge_records(self.record, updated, theirs.record or {}).record, changed

    def merge_conflicts(
        self, payload: tuple[dict[str, Any], list[str]], theirs: Loaded
    ) -> list[tuple[str, Any, Any]]:
        outcome = merge_records(self.record, payload[0], theirs.record or {})
        return [(c.path, c.ours, c.theirs) for c in outcome.conflicts]

    def perform(self, payload: tuple[dict[str, Any], list[str]]) -> SaveResult:
        updated, changed = payload
        assert self.loaded is not None
        message = commit_message(
            "edit", canonical(updated, self.exlog.schemas), self.exlog.config, detail=", ".join(changed)
        )
        return self.exlog.save(updated, "edit", expected_blob=self.expected_blob(), message=message)

"""One record as readable text, grouped by lifecycle step, and the rule for opening its evidence links.

Every value from a record (or from kakotui.yaml) goes through `inert()` and into `Content` parts as
plain text: nothing here is ever parsed as markup, so a vendor named `[@click=app.quit]x` or a
description holding ESC sequences shows literally. Styles come only from this module.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from textual.content import Content

from kakotui.core.config import Config
from kakotui.core.problems import Problem
from kakotui.core.textsafe import inert
from kakotui.log import Loaded

__all__ = [
    "HISTORY_MISSING",
    "Section",
    "evidence_links",
    "evidence_target",
    "history_section",
    "record_sections",
]

HISTORY_MISSING = "history: not yet available"
_LABEL_WIDTH = 15
_VALUE_LIMIT = 4000
_SHORT_LIMIT = 300
_HISTORY_SHOWN = 10

_HEADING = "bold $accent"
_LABEL = "$text-muted"
_DIM = "dim"
_ERROR = "bold $error"
_WARNING = "bold $warning"
_OK = "$success"


@dataclass(frozen=True)
class Section:
    """One titled block of the detail view (`key` names it: qc, decision, reshipments, ...)."""

    key: str
    content: Content


# ---------------------------------------------------------------- small pieces


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _safe(value: Any, limit: int = _SHORT_LIMIT) -> str:
    return inert(_text(value), limit=limit, single_line=True)


def _time(value: Any) -> str:
    """`2026-11-26T09:14:00+08:00` -> `2026-11-26 09:14 +08:00` (anything else shown as it is)."""
    text = _text(value)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return _safe(text)
    if moment.tzinfo is None:
        return _safe(text)
    clock = moment.strftime("%H:%M" if moment.second == 0 and moment.microsecond == 0 else "%H:%M:%S")
    offset = moment.strftime("%z")  # +0800
    zone = "Z" if offset == "+0000" and text.endswith("Z") else f"{offset[:3]}:{offset[3:]}"
    return f"{moment:%Y-%m-%d} {clock} {zone}"


def _money(value: Any) -> str:
    if isinstance(value, dict):
        return _safe(f"{_text(value.get('amount'))} {_text(value.get('currency'))}".strip())
    return _safe(value)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _heading(title: str, note: str = "") -> Content:
    parts: list[str | tuple[str, str]] = [(title, _HEADING)]
    if note:
        parts.append((f"  {note}", _DIM))
    return Content.assemble(*parts)


def _line(label: str, value: str, style: str = "") -> Content:
    """`  label          value`; a multi-line value continues under the value column."""
    pad = " " * (_LABEL_WIDTH + 2)
    lines = value.split("\n") or [""]
    parts: list[str | tuple[str, str]] = [("  " + label.ljust(_LABEL_WIDTH), _LABEL), (lines[0], style)]
    for more in lines[1:]:
        parts.append("\n" + pad)
        parts.append((more, style))
    return Content.assemble(*parts)


def _lines(pairs: Iterable[tuple[str, Any]]) -> list[Content]:
    return [_line(label, value) for label, value in pairs if value not in (None, "")]


def _block(heading: Content, lines: Sequence[Content]) -> Content:
    return Content("\n").join([heading, *lines])


def _named(value: Any, names: dict[str, str]) -> str:
    key = _text(value)
    name = names.get(key)
    return _safe(f"{key} ({name})" if name and name != key else key)


# ---------------------------------------------------------------- sections


def _title_section(loaded: Loaded, status: str, record: dict[str, Any]) -> Section:
    errors = sum(1 for p in loaded.problems if p.severity == "error")
    warnings = len(loaded.problems) - errors
    parts: list[str | tuple[str, str]] = [(_safe(loaded.id), "bold"), "  ", (status, "bold")]
    if errors:
        parts.append((f"  ! {errors} problem{'s' if errors != 1 else ''}", _ERROR))
    elif warnings:
        parts.append((f"  {warnings} warning{'s' if warnings != 1 else ''}", _WARNING))
    else:
        parts.append(("  valid", _OK))
    if loaded.uncommitted:
        parts.append(("  (changed in the working tree, not committed)", _WARNING))
    lines = [Content.assemble(*parts)]
    title = _safe(_mapping(record.get("qc")).get("item_title"))
    if title:
        lines.append(Content(title))
    lines.append(Content.assemble((_safe(loaded.path), _DIM)))
    return Section("title", Content("\n").join(lines))


def _problems_section(problems: Sequence[Problem]) -> Section | None:
    if not problems:
        return None
    lines = []
    for p in problems:
        style = _ERROR if p.severity == "error" else _WARNING
        lines.append(
            Content.assemble(
                ("  " + ("error  " if p.severity == "error" else "warning"), style),
                "  ",
                (_safe(p.field or "(record)"), "bold"),
                ": ",
                inert(_text(p.message), limit=_SHORT_LIMIT, single_line=True),
                (f"  [{_safe(p.rule)}]", _DIM),
            )
        )
    return Section("problems", _block(_heading("Problems", f"{len(problems)}"), lines))


def _qc_section(record: dict[str, Any], config: Config, evidence_lines: bool) -> Section:
    qc = _mapping(record.get("qc"))
    code = _text(qc.get("failure_code"))
    category = config.category_of(code) if code else None
    code_text = f"{code} ({config.categories[category]})" if category in config.categories else code
    site = _text(qc.get("site"))
    station = _text(qc.get("station"))
    where = f"{site} / {station}" if site and station else site or station
    lines = _lines(
        [
            ("Checked", _time(qc.get("checked_at"))),
            ("Site / station", _safe(where)),
            ("Inspector", _safe(qc.get("inspector"))),
            ("Order", _safe(qc.get("order_id"))),
            ("SKU", _safe(qc.get("sku"))),
            ("Item", _safe(qc.get("item_title"))),
            ("Quantity", _safe(qc.get("quantity"))),
            ("Vendor", _named(qc.get("vendor"), config.vendors)),
            ("Failure code", _safe(code_text)),
            ("Severity", _safe(qc.get("severity"))),
            ("Description", inert(_text(qc.get("description")), limit=_VALUE_LIMIT)),
        ]
    )
    links = evidence_links(record)
    if links:
        count = f"{len(links)} link{'s' if len(links) != 1 else ''}"
        lines.append(_line("Evidence", count if evidence_lines else f"{count}: enter or o opens one"))
    if links and evidence_lines:
        for number, (kind, link, note) in enumerate(links, 1):
            lines.append(
                Content.assemble(
                    " " * (_LABEL_WIDTH + 2),
                    (f"{number}. {kind or 'link'}  ", _DIM),
                    (_safe(link), "underline"),
                    (f"  {_safe(note)}" if note else "", _DIM),
                )
            )
    return Section("qc", _block(_heading("QC failure"), lines))


def _decision_section(record: dict[str, Any]) -> Section:
    decision = _mapping(record.get("decision"))
    if not decision:
        return Section(
            "decision", _block(_heading("Decision"), [Content.assemble(("  not decided yet", _DIM))])
        )
    lines = _lines(
        [
            ("Action", _safe(decision.get("action"))),
            ("By", _safe(decision.get("by"))),
            ("At", _time(decision.get("at"))),
            ("Reason", inert(_text(decision.get("reason")), limit=_VALUE_LIMIT)),
        ]
    )
    return Section("decision", _block(_heading("Decision"), lines))


def _attribution(costs: list[dict[str, Any]]) -> str:
    """`vendor 30.00 CNY, carrier 8.50 CNY`: cost per responsible party, per currency."""
    shares: dict[tuple[str, str], Decimal] = {}
    for line in costs:
        amount = _mapping(line.get("amount"))
        try:
            value = Decimal(_text(amount.get("amount")))
        except InvalidOperation:
            continue
        key = (_text(line.get("responsible")) or "?", _text(amount.get("currency")))
        shares[key] = shares.get(key, Decimal(0)) + value
    ordered = sorted(shares.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{party} {value:.2f} {currency}" for (party, currency), value in ordered)


def _reshipments_section(record: dict[str, Any], config: Config) -> Section:
    reships = _items(record.get("reshipments"))
    if not reships:
        return Section("reshipments", _block(_heading("Reshipments"), [Content.assemble(("  none", _DIM))]))
    lines: list[Content] = []
    for number, reship in enumerate(reships, 1):
        ref = _safe(reship.get("ref")) or f"R{number}"
        lines.append(Content.assemble(("  " + ref, "bold"), "  ", (_safe(reship.get("status")), "bold")))
        lines.extend(
            _lines(
                [
                    ("Created", _time(reship.get("created_at"))),
                    ("Carrier", _named(reship.get("carrier"), config.carriers)),
                    ("Tracking", _safe(reship.get("tracking"))),
                    ("Shipped", _time(reship.get("shipped_at"))),
                    ("Delivered", _time(reship.get("delivered_at"))),
                    ("Total", _money(reship.get("total"))),
                ]
            )
        )
        costs = _items(reship.get("costs"))
        for cost in costs:
            lines.append(
                Content.assemble(
                    " " * (_LABEL_WIDTH + 2),
                    (_safe(cost.get("type")).ljust(9), _LABEL),
                    _money(cost.get("amount")).rjust(14),
                    ("  -> ", _DIM),
                    _safe(cost.get("responsible")),
                    (f"  {_safe(cost.get('note'))}" if cost.get("note") else "", _DIM),
                )
            )
        if costs:
            lines.append(_line("Attributed to", _safe(_attribution(costs))))
        note = inert(_text(reship.get("note")), limit=_VALUE_LIMIT)
        if note:
            lines.append(_line("Note", note))
    return Section("reshipments", _block(_heading("Reshipments", f"{len(reships)}"), lines))


def _contacts_section(record: dict[str, Any]) -> Section:
    contacts = _items(record.get("vendor_contacts"))
    if not contacts:
        return Section("contacts", _block(_heading("Vendor contacts"), [Content.assemble(("  none", _DIM))]))
    lines: list[Content] = []
    for contact in contacts:
        head = f"{_time(contact.get('at'))}  {_safe(contact.get('channel'))}"
        lines.append(Content.assemble(("  " + head, "bold"), "  ", _safe(contact.get("outcome"))))
        lines.extend(
            _lines(
                [
                    ("By", _safe(contact.get("by"))),
                    ("Recovered", _money(contact.get("recovered")) if contact.get("recovered") else ""),
                    ("Summary", inert(_text(contact.get("summary")), limit=_VALUE_LIMIT)),
                ]
            )
        )
    return Section("contacts", _block(_heading("Vendor contacts", f"{len(contacts)}"), lines))


def _confirmation_section(record: dict[str, Any]) -> Section:
    confirmation = _mapping(record.get("customer_confirmation"))
    if not confirmation:
        return Section(
            "confirmation",
            _block(_heading("Customer confirmation"), [Content.assemble(("  not confirmed yet", _DIM))]),
        )
    lines = _lines(
        [
            ("Outcome", _safe(confirmation.get("outcome"))),
            ("Channel", _safe(confirmation.get("channel"))),
            ("By", _safe(confirmation.get("by"))),
            ("At", _time(confirmation.get("at"))),
            ("Note", inert(_text(confirmation.get("note")), limit=_VALUE_LIMIT)),
        ]
    )
    return Section("confirmation", _block(_heading("Customer confirmation"), lines))


def _closure_section(record: dict[str, Any]) -> Section:
    closure = _mapping(record.get("closure"))
    if not closure:
        return Section("closure", _block(_heading("Closure"), [Content.assemble(("  open", _DIM))]))
    lines = _lines(
        [
            ("Final status", _safe(closure.get("final_status"))),
            ("Closed", _time(closure.get("closed_at"))),
            ("By", _safe(closure.get("closed_by"))),
            ("Note", inert(_text(closure.get("note")), limit=_VALUE_LIMIT)),
        ]
    )
    return Section("closure", _block(_heading("Closure"), lines))


def _reopenings_section(record: dict[str, Any]) -> Section | None:
    reopenings = _items(record.get("reopenings"))
    if not reopenings:
        return None
    lines: list[Content] = []
    for item in reopenings:
        previous = _mapping(item.get("previous_closure"))
        lines.append(Content.assemble(("  " + _time(item.get("at")), "bold"), "  by ", _safe(item.get("by"))))
        lines.extend(
            _lines(
                [
                    ("Reason", inert(_text(item.get("reason")), limit=_VALUE_LIMIT)),
                    (
                        "Was closed",
                        _safe(
                            f"{_text(previous.get('final_status'))} {_time(previous.get('closed_at'))}".strip()
                        ),
                    ),
                ]
            )
        )
    return Section("reopenings", _block(_heading("Reopenings", f"{len(reopenings)}"), lines))


_KNOWN_KEYS = frozenset(
    {
        "schema_version",
        "id",
        "qc",
        "decision",
        "reshipments",
        "vendor_contacts",
        "customer_confirmation",
        "closure",
        "reopenings",
    }
)


def _other_section(record: dict[str, Any]) -> Section | None:
    pairs = [
        (key.replace("_", " ").capitalize(), value) for key, value in record.items() if key not in _KNOWN_KEYS
    ]
    if not pairs:
        return None
    lines = [
        _line(
            _safe(label, _LABEL_WIDTH),
            _safe(" ".join(map(_text, value)) if isinstance(value, list) else value),
        )
        for label, value in pairs
    ]
    return Section("other", _block(_heading("Other fields"), lines))


def history_section(history: Any, error: str | None = None) -> Section:
    """The last changes of a record, newest first, with the fields each commit changed.

    `history` is what `ExceptionLog.history` returns (iterable entries with date, author, action,
    subject and changes; optional `problems` and `uncommitted`), or None while the log cannot tell
    history yet. It is read by attribute name, so a richer history object still renders.
    """
    heading = _heading("History")
    if error is not None:
        return Section("history", _block(heading, [Content.assemble(("  " + _safe(error), _WARNING))]))
    if history is None:
        return Section("history", _block(heading, [Content.assemble(("  " + HISTORY_MISSING, _DIM))]))
    entries = list(history)
    lines: list[Content] = []
    uncommitted = list(getattr(history, "uncommitted", None) or [])
    if uncommitted:
        lines.append(Content.assemble(("  not committed yet", _WARNING)))
        lines.extend(_change_lines(uncommitted))
    for entry in reversed(entries[-_HISTORY_SHOWN:]):
        lines.extend(_entry_lines(entry))
    for problem in list(getattr(history, "problems", None) or [])[:5]:
        lines.append(Content.assemble(("  ! " + _safe(problem), _WARNING)))
    if not lines:
        lines.append(Content.assemble(("  no commits yet", _DIM)))
    shown = min(len(entries), _HISTORY_SHOWN)
    note = f"last {shown} of {len(entries)} commits" if len(entries) > shown else f"{len(entries)} commits"
    return Section("history", _block(_heading("History", note), lines))


_CHANGES_SHOWN = 6


def _entry_lines(entry: Any) -> list[Content]:
    def get(name: str) -> Any:
        return entry.get(name) if isinstance(entry, dict) else getattr(entry, name, None)

    action = _safe(get("action") or "outside kakotui", 40)
    who = _safe(get("author") or get("by") or "", 80)
    subject = _safe(get("subject") or get("message") or "", 200)
    head = Content.assemble(
        ("  " + _time(get("date") or get("at") or ""), "bold"),
        "  ",
        (action, "bold $accent"),
        "  ",
        who,
    )
    lines = [head]
    if subject:
        lines.append(Content.assemble(("    " + subject, _DIM)))
    problem = get("problem")
    if problem:
        lines.append(Content.assemble(("    ! " + _safe(problem), _WARNING)))
    lines.extend(_change_lines(list(get("changes") or [])))
    return lines


def _change_lines(changes: list[Any]) -> list[Content]:
    lines = [Content("    " + _safe(str(change), _SHORT_LIMIT)) for change in changes[:_CHANGES_SHOWN]]
    if len(changes) > _CHANGES_SHOWN:
        lines.append(Content.assemble((f"    … {len(changes) - _CHANGES_SHOWN} more fields", _DIM)))
    return lines


def record_sections(
    loaded: Loaded,
    config: Config,
    status: str = "",
    history: Section | None = None,
    *,
    evidence_lines: bool = False,
) -> list[Section]:
    """The detail view of a record, top to bottom: title, problems, each lifecycle step, history.

    With `evidence_lines` the QC section lists the evidence links (the detail screen shows them
    in a list of its own instead).
    """
    record = loaded.record if isinstance(loaded.record, dict) else {}
    sections: list[Section | None] = [
        _title_section(loaded, status, record),
        _problems_section(loaded.problems),
    ]
    if loaded.record is None:
        sections.append(
            Section("unreadable", Content.assemble(("the file cannot be read as a record", _ERROR)))
        )
    else:
        sections.extend(
            [
                _qc_section(record, config, evidence_lines),
                _decision_section(record),
                _reshipments_section(record, config),
                _contacts_section(record),
                _confirmation_section(record),
                _closure_section(record),
                _reopenings_section(record),
                _other_section(record),
            ]
        )
    sections.append(history or history_section(None))
    return [s for s in sections if s is not None]


# ---------------------------------------------------------------- evidence


def evidence_links(record: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """(kind, link, note) of each evidence item, as stored (not yet checked for opening)."""
    qc = _mapping((record or {}).get("qc"))
    return [
        (_text(item.get("kind")), _text(item.get("link")), _text(item.get("note")))
        for item in _items(qc.get("evidence"))
    ]


def evidence_target(link: str, root: Path) -> tuple[str | None, str]:
    """What opening `link` would open: (URL, "") or (None, why it is refused).

    Only http(s) URLs with a host, and existing files inside the log root (no `..` escape, no
    symbolic link out of it) are opened; anything else (file:, javascript:, absolute paths,
    control characters) is refused.
    """
    if not link or len(link) > 2048:
        return None, "empty or overlong link"
    if any(ch.isspace() or not ch.isprintable() for ch in link):
        return None, "the link holds spaces or control characters"
    parts = urlsplit(link)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.hostname:
            return None, "the URL has no host"
        return link, ""
    if scheme or link.startswith(("/", "\\", "~")):
        return None, "only http(s) links and files inside the log can be opened"
    base = root.resolve()
    try:
        target = (base / link).resolve(strict=True)
    except (OSError, RuntimeError):
        return None, "no such file in the log"
    if not target.is_relative_to(base) or target == base:
        return None, "the file is outside the log"
    if not target.is_file():
        return None, "not a file"
    if target.is_relative_to(base / ".git"):
        return None, "the file is inside .git"
    return target.as_uri(), ""

"""Commit messages of saves: a readable subject plus machine-readable trailers (DESIGN.md "Commits")."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kakotui.core.config import Config

ACTIONS = (
    "create",
    "edit",
    "decide",
    "reship",
    "contact",
    "confirm",
    "close",
    "reopen",
    "import",
    "renumber",
    "merge",
)


def subject(action: str, record: dict[str, Any], config: Config | None, detail: str | None = None) -> str:
    rid = record.get("id", "?")
    qc = record.get("qc") or {}
    if action == "create":
        return (
            f"{rid}: log {qc.get('failure_code', '?')} on {qc.get('sku', '?')} from {qc.get('vendor', '?')}"
        )
    if action == "decide":
        return f"{rid}: decide {(record.get('decision') or {}).get('action', '?')}"
    if action == "reship":
        reships = record.get("reshipments") or []
        if not reships:
            return f"{rid}: reship"
        last = reships[-1]
        carrier_id = last.get("carrier")
        carrier = (
            config.carriers.get(carrier_id, carrier_id) if config else carrier_id
        ) or "carrier to be chosen"
        total = last.get("total") or {}
        shares: dict[str, Decimal] = {}
        for line in last.get("costs") or []:
            party = line.get("responsible", "?")
            shares[party] = shares.get(party, Decimal(0)) + Decimal(
                str((line.get("amount") or {}).get("amount", "0"))
            )
        parties = " and ".join(p for p, _ in sorted(shares.items(), key=lambda kv: (-kv[1], kv[0])))
        return f"{rid}: reship via {carrier}, {total.get('amount', '?')} {total.get('currency', '')} to {parties}"
    if action == "contact":
        contacts = record.get("vendor_contacts") or []
        outcome = contacts[-1].get("outcome", "?") if contacts else "?"
        return f"{rid}: vendor contact, {outcome}"
    if action == "confirm":
        return f"{rid}: customer {(record.get('customer_confirmation') or {}).get('outcome', '?')}"
    if action == "close":
        return f"{rid}: close as {(record.get('closure') or {}).get('final_status', '?')}"
    if action == "reopen":
        return f"{rid}: reopen"
    if action == "edit":
        return f"{rid}: edit {detail}" if detail else f"{rid}: edit"
    return f"{rid}: {action}{f' {detail}' if detail else ''}"


def commit_message(
    action: str, record: dict[str, Any], config: Config | None, *, detail: str | None = None, body: str = ""
) -> str:
    """Subject, optional body, then the trailers `Kakotui-Record` and `Kakotui-Action`."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    parts = [subject(action, record, config, detail)]
    if body:
        parts.append(body.strip())
    parts.append(f"Kakotui-Record: {record.get('id', '?')}\nKakotui-Action: {action}")
    return "\n\n".join(parts) + "\n"


def log_message(action: str, subject_line: str, *, body: str = "") -> str:
    """A commit that changes the log's own files, no record: subject, optional body, `Kakotui-Action`."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    parts = [subject_line.strip()]
    if body:
        parts.append(body.strip())
    parts.append(f"Kakotui-Action: {action}")
    return "\n\n".join(parts) + "\n"

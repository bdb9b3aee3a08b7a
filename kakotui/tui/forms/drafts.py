"""Unsaved form input kept on disk, so a crash, a power cut or an Escape never loses what was typed.

One plain JSON file per open form, `<git_dir>/kakotui/drafts/form-<kind>-<record id or new>.json`,
written atomically while the person types and removed when the save succeeds or the draft is
discarded. The façade's own save drafts live in the same folder under other names; these never
carry its `action`/`record` keys, so neither side mistakes the other's files. When the log's disk
refuses the draft (full, read-only), it goes to the person's fallback folder for this log
(`kakotui.store.faults.fallback_drafts_dir`) and is read back from there.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from kakotui.log import ExceptionLog
from kakotui.store.faults import fallback_drafts_dir
from kakotui.store.gitrepo import atomic_write

__all__ = [
    "FormDraft",
    "draft_notice",
    "draft_path",
    "read_draft",
    "remove_draft",
    "restore_draft_forms",
    "write_draft",
]

_PREFIX = "form-"
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
_MAX_BYTES = 1_000_000  # a draft is typed text; anything bigger is not ours


@dataclass(frozen=True)
class FormDraft:
    """What a form held when it was last changed: field name -> text, and when and on which version."""

    kind: str
    record_id: str | None
    values: dict[str, str]
    saved_at: str = ""
    blob: str = ""  # the record version the form was opened on ("" for a new record)
    base: dict[str, str] | None = None  # what the fields held when the form opened (None: unknown)

    def typed(self) -> dict[str, str]:
        """Only what the person changed: laid over a fresh form, it keeps others' later edits."""
        if self.base is None:
            return dict(self.values)
        return {k: v for k, v in self.values.items() if v != self.base.get(k, "")}


def _folder(log: ExceptionLog) -> Path:
    return log.git.git_dir / "kakotui" / "drafts"


def draft_path(log: ExceptionLog, kind: str, record_id: str | None) -> Path:
    """The draft file of one form; refuses names that could leave the drafts folder."""
    target = record_id or "new"
    if not _SAFE.match(kind) or "-" in kind or not _SAFE.match(target):
        raise ValueError(f"not a form draft name: {kind!r} {target!r}")
    return _folder(log) / f"{_PREFIX}{kind}-{target}.json"


def write_draft(log: ExceptionLog, draft: FormDraft) -> None:
    data = {
        "form": draft.kind,
        "record_id": draft.record_id,
        "saved_at": draft.saved_at,
        "blob": draft.blob,
        "values": draft.values,
        "base": draft.base,
    }
    payload = json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
    target = draft_path(log, draft.kind, draft.record_id)
    spare = fallback_drafts_dir(log.root) / target.name
    try:
        atomic_write(target, payload)
    except OSError:
        atomic_write(spare, payload)  # the log's disk refuses (full, read-only): keep it in ours
    else:
        spare.unlink(missing_ok=True)  # an older copy from a fault must not shadow this one


def _parse(file: Path) -> FormDraft | None:
    try:
        if file.stat().st_size > _MAX_BYTES:
            return None
        data = json.loads(file.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    kind, record_id, values = data.get("form"), data.get("record_id"), data.get("values")
    if not isinstance(kind, str) or not (record_id is None or isinstance(record_id, str)):
        return None
    if not isinstance(values, dict):
        return None
    clean = {str(k): v for k, v in values.items() if isinstance(v, str)}
    saved_at = data.get("saved_at")
    blob = data.get("blob")
    base = data.get("base")
    return FormDraft(
        kind,
        record_id,
        clean,
        saved_at if isinstance(saved_at, str) else "",
        blob if isinstance(blob, str) else "",
        {str(k): v for k, v in base.items() if isinstance(v, str)} if isinstance(base, dict) else None,
    )


def read_draft(log: ExceptionLog, kind: str, record_id: str | None) -> FormDraft | None:
    """The draft of this form, or None (no file, or a file that is not a form draft of this form)."""
    path = draft_path(log, kind, record_id)
    for file in (path, fallback_drafts_dir(log.root) / path.name):
        draft = _parse(file)
        if draft is not None and draft.kind == kind and draft.record_id == record_id:
            return draft
    return None


def remove_draft(log: ExceptionLog, kind: str, record_id: str | None) -> None:
    path = draft_path(log, kind, record_id)
    path.unlink(missing_ok=True)
    (fallback_drafts_dir(log.root) / path.name).unlink(missing_ok=True)


def restore_draft_forms(log: ExceptionLog) -> list[tuple[str, str | None]]:
    """(kind, record id or None) of every form left with unsaved input, oldest file first.

    The app offers these at start: push `FORMS[kind](log, record_id)` and the form fills itself
    from its draft.
    """
    found: dict[tuple[str, str | None], float] = {}
    for folder in (_folder(log), fallback_drafts_dir(log.root)):
        if not folder.is_dir():
            continue
        for file in folder.glob(f"{_PREFIX}*.json"):
            draft = _parse(file)
            if draft is None:
                continue
            try:
                if draft_path(log, draft.kind, draft.record_id).name != file.name:
                    continue
                mtime = file.stat().st_mtime
            except (ValueError, OSError):
                continue
            found.setdefault((draft.kind, draft.record_id), mtime)
    ordered = sorted(found.items(), key=lambda item: (item[1], item[0][0], item[0][1] or ""))
    return [key for key, _mtime in ordered]


def draft_notice(log: ExceptionLog, limit: int = 4) -> str | None:
    """The start-up notification for forms left with unsaved input (a crash, a kill); None if none.

    Names are validated ids and form kinds (`draft_path`), so the text is safe to show as is.
    """
    found = restore_draft_forms(log)
    if not found:
        return None
    names = [f"{kind} {rid}" if rid else "a new exception" for kind, rid in found[:limit]]
    more = f" and {len(found) - limit} more" if len(found) > limit else ""
    return f"unsaved input in {', '.join(names)}{more}: open the same form again to get it back"

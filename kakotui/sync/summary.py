"""What a sync did, as values: the summary the CLI prints and the TUI shows, and its errors."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from kakotui.core.ids import RecordId
from kakotui.core.problems import Problem
from kakotui.sync.merge import record_conflicts


class SyncError(Exception):
    """Sync stopped; the message says what happened and what to do. `summary` holds what was done."""

    def __init__(self, message: str, summary: SyncSummary | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.summary = summary

    def __str__(self) -> str:
        return self.message


class RemoteNotAllowed(SyncError):
    """The remote's URL or settings were refused before git ran."""


@dataclass(frozen=True)
class Renumbering:
    """A record moved to the next free id; `here`: this site's copy, else the other site's copy
    (which that site renumbers the same way when it receives this site's changes)."""

    old_id: str
    new_id: str
    commit: str
    here: bool = True


@dataclass(frozen=True)
class ConflictNote:
    """A field kept with both values in a record, waiting for a person."""

    id: str
    path: str
    field: str
    ours: Any
    theirs: Any
    ours_author: str = ""
    theirs_author: str = ""


@dataclass(frozen=True)
class IncomingProblem:
    """A record that arrived (or was merged) and does not validate; it is kept and flagged."""

    id: str
    path: str
    problems: tuple[Problem, ...]


@dataclass
class SyncSummary:
    """What one sync did (or, with dry_run, would do)."""

    remote: str
    dry_run: bool = False
    received: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    renumbered: list[Renumbering] = field(default_factory=list)
    conflicts: list[ConflictNote] = field(default_factory=list)
    invalid: list[IncomingProblem] = field(default_factory=list)
    commits_received: int = 0
    commits_sent: int = 0
    attempts: int = 0
    pushed: bool = False
    head: str = ""
    settings_changed: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def changed_locally(self) -> bool:
        return bool(self.received or self.renumbered or self.merged)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["invalid"] = [
            {"id": i.id, "path": i.path, "problems": [p.to_dict() for p in i.problems]} for i in self.invalid
        ]
        return data

    def lines(self) -> list[str]:
        """The summary for people, one line each (values shown as data by the caller)."""
        would = "would be " if self.dry_run else ""
        out = [
            f"{'dry run: ' if self.dry_run else ''}sync with {self.remote}",
            f"  received: {len(self.received)} record(s) in {self.commits_received} commit(s) {would}".rstrip(),
            f"  sent:     {len(self.sent)} record(s) in {self.commits_sent} commit(s) {would}".rstrip(),
            f"  merged field by field: {len(self.merged)}",
            f"  renumbered: {len(self.renumbered)}",
            f"  conflicts kept for a person: {len(self.conflicts)}",
            f"  invalid incoming records: {len(self.invalid)}",
        ]
        for r in self.renumbered:
            whose = "this site's copy" if r.here else "the other site's copy, renumbered there alike"
            out.append(f"  renumbered {r.old_id} -> {r.new_id} ({whose}; old id kept as an alias)")
        for c in self.conflicts:
            out.append(
                f"  conflict {c.id} {c.field}: here {_short(c.ours)} / other site {_short(c.theirs)} "
                f"(kakotui resolve {c.id} --take ours|theirs {c.field})"
            )
        for bad in self.invalid:
            for p in bad.problems[:5]:
                out.append(f"  invalid {bad.id}: {p}")
        out.extend(f"  note: {n}" for n in self.notes)
        return out


def _short(value: Any, limit: int = 60) -> str:
    text = "(absent)" if value is None else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def note_for(rid: str, c: dict[str, Any]) -> ConflictNote:
    return ConflictNote(
        rid,
        id_path(rid),
        str(c.get("path")),
        c.get("ours"),
        c.get("theirs"),
        str(c.get("ours_author") or ""),
        str(c.get("theirs_author") or ""),
    )


def id_path(rid: str) -> str:
    try:
        return RecordId.parse(rid).path
    except ValueError:
        return rid


def conflict_notes(rid: str, record: dict[str, Any]) -> list[ConflictNote]:
    """The conflicts kept in one record, as notes for the CLI and the TUI."""
    return [note_for(rid, c) for c in record_conflicts(record)]

"""The record merge on file contents: what `kakotui merge-driver %O %A %B %P` and sync both run.

`merge_texts` parses the three versions strictly, merges them field by field (kakotui.sync.merge),
keeps any conflict inside the record and writes the canonical text. A version that cannot be read
as a record cannot be merged by field: the caller decides (git keeps its own conflict; sync keeps
the published version and saves this site's one as a draft).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from kakotui.core import yamlio
from kakotui.core.record import format_time, to_text
from kakotui.core.schemas import SCHEMA_FILES, Schemas, load_schema_texts, packaged_schema_dir
from kakotui.sync.merge import FieldConflict, Side, keep_conflicts, merge_records

OURS_ENV = "KAKOTUI_MERGE_OURS"  # "<commit> <author>" of this site's side, when sync knows it
THEIRS_ENV = "KAKOTUI_MERGE_THEIRS"


class Unmergeable(ValueError):
    """One of the versions is not a readable record; the message says which and why."""


@dataclass
class TextMerge:
    text: bytes
    record: dict[str, Any]
    conflicts: list[FieldConflict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _parse(data: bytes | None, label: str) -> dict[str, Any] | None:
    if data is None or data == b"":
        return None
    try:
        value = yamlio.load(data)
    except yamlio.YamlError as exc:
        raise Unmergeable(f"{label} version is not valid YAML ({exc})") from None
    if not isinstance(value, dict):
        raise Unmergeable(f"{label} version does not hold one mapping")
    return value


def merge_texts(
    base: bytes | None,
    ours: bytes,
    theirs: bytes,
    schemas: Schemas,
    *,
    ours_side: Side | None = None,
    theirs_side: Side | None = None,
    at: str | None = None,
) -> TextMerge:
    """Merge three versions of one record file; raises Unmergeable when one cannot be read."""
    base_rec = _parse(base, "the common")
    ours_rec = _parse(ours, "this site's")
    theirs_rec = _parse(theirs, "the other site's")
    if ours_rec is None or theirs_rec is None:
        raise Unmergeable("one side deleted the record while the other changed it")
    outcome = merge_records(base_rec, ours_rec, theirs_rec)
    record = outcome.record
    if outcome.conflicts:
        when = at or format_time(datetime.now().astimezone().replace(microsecond=0))
        record = keep_conflicts(record, outcome.conflicts, ours_side or Side(), theirs_side or Side(), when)
    return TextMerge(to_text(record, schemas).encode("utf-8"), record, outcome.conflicts, outcome.notes)


def _side_from_env(name: str) -> Side:
    commit, _, author = os.environ.get(name, "").partition(" ")
    if len(commit) not in (40, 64) or any(c not in "0123456789abcdef" for c in commit):
        return Side()
    return Side(commit, author.strip()[:120])


def _schemas_near(cwd: Path) -> Schemas:
    folder = cwd / "schema"
    if all((folder / f).is_file() for f in SCHEMA_FILES.values()):
        try:
            return Schemas(load_schema_texts(folder))
        except (OSError, ValueError):
            pass
    return Schemas(load_schema_texts(packaged_schema_dir()))


def run_driver(base: Path, ours: Path, theirs: Path, path: str, *, cwd: Path | None = None) -> int:
    """git's merge driver: merge into `ours` (%A) in place; 0 when merged, 1 to leave git's conflict.

    git runs drivers in the top of the work tree, so the log's own schema/ orders the keys.
    """
    try:
        data = [p.read_bytes() for p in (base, ours, theirs)]
    except OSError as exc:
        print(f"kakotui merge-driver: {path}: cannot read a version: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        merged = merge_texts(
            data[0],
            data[1],
            data[2],
            _schemas_near(cwd or Path.cwd()),
            ours_side=_side_from_env(OURS_ENV),
            theirs_side=_side_from_env(THEIRS_ENV),
        )
    except Unmergeable as exc:
        print(f"kakotui merge-driver: {path}: cannot merge field by field: {exc}", file=sys.stderr)
        return 1
    tmp = ours.with_name(ours.name + ".kakotui-merge")
    tmp.write_bytes(merged.text)
    os.replace(tmp, ours)
    for conflict in merged.conflicts:
        print(f"kakotui merge-driver: {path}: {conflict.path}: conflict kept in the record", file=sys.stderr)
    return 0

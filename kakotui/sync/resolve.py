"""Resolving kept conflicts: a person chooses ours or theirs per field; one commit (action `merge`).

The record keeps its other unresolved conflicts (a partial resolution is allowed), so this save
checks every rule except `unresolved-conflict` itself; the façade's ordinary save refuses a record
with any conflict left, which is what makes people resolve before they go on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kakotui.core.commits import commit_message
from kakotui.core.config import Config
from kakotui.core.problems import InvalidRecord, Problem
from kakotui.core.record import to_text
from kakotui.core.schemas import Schemas
from kakotui.core.validation import validate_record
from kakotui.store.gitrepo import Git, Identity, atomic_write, repo_lock
from kakotui.store.index import Index
from kakotui.sync.merge import ResolveError, record_conflicts, resolve_conflicts

CONFLICT_RULE = "rule:unresolved-conflict"


@dataclass(frozen=True)
class Resolved:
    id: str
    path: str
    commit: str
    message: str
    remaining: int


def plan(record: Mapping[str, Any], take: str, fields: list[str] | None) -> dict[str, str]:
    """Choices for `fields` (every conflicting field when None or empty), all `take`."""
    paths = [str(c.get("path")) for c in record_conflicts(dict(record))]
    if not paths:
        raise ResolveError(f"{record.get('id')} has no unresolved conflicts")
    chosen = list(dict.fromkeys(fields or paths))
    unknown = [f for f in chosen if f not in paths]
    if unknown:
        raise ResolveError(f"no unresolved conflict on {', '.join(unknown)} (conflicts: {', '.join(paths)})")
    return {f: take for f in chosen}


def _show(value: Any) -> str:
    text = "(absent)" if value is None else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:79] + "…"


def resolve(
    git: Git,
    schemas: Schemas,
    config: Config,
    index: Index,
    identity: Identity,
    *,
    path: str,
    record: dict[str, Any],
    blob: str,
    choices: Mapping[str, str],
) -> Resolved:
    """Apply `choices` (field path -> "ours"/"theirs") to `record` read from `path` at `blob`, and commit."""
    entries = {str(c.get("path")): c for c in record_conflicts(record)}
    updated = resolve_conflicts(record, choices)
    problems = [
        p
        for p in validate_record(updated, schemas, config, path=path, known_ids=index.ids())
        if p.rule != CONFLICT_RULE
    ]
    if problems:
        raise InvalidRecord(
            [
                *problems,
                Problem(path, "", "resolve", "nothing was saved: choose differently, or resolve together"),
            ]
        )
    rid = str(updated.get("id"))
    body = "\n".join(
        f"{field}: took {choice} {_show(entries[field].get(choice))}"
        + (
            f" (by {entries[field].get(choice + '_author')})"
            if entries[field].get(choice + "_author")
            else ""
        )
        for field, choice in choices.items()
    )
    detail = "resolve " + ", ".join(choices)
    message = commit_message("merge", updated, config, detail=detail[:150], body=body)
    text = to_text(updated, schemas).encode("utf-8")
    with repo_lock(git.git_dir):
        file = git.root / path
        if not file.is_file() or git.blob_sha(file.read_bytes()) != blob:
            raise ResolveError(f"{rid} changed since it was read; reload it and choose again")
        old_head = git.head()
        atomic_write(file, text)
        commit = git.commit_files({path: text}, message, identity, expected_head=old_head)
        index.put(path, text, old_head=old_head, new_head=commit)
    return Resolved(rid, path, commit, message, len(record_conflicts(updated)))

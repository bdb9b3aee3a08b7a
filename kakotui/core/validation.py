"""Validate records: text -> data -> schema -> rules, every problem at once, never an exception."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from kakotui.core import yamlio
from kakotui.core.config import Config
from kakotui.core.problems import Problem
from kakotui.core.rules import Context, check_rules
from kakotui.core.schemas import Schemas, strings_safe_in


@dataclass
class Checked:
    """The outcome of reading one record file."""

    path: str
    record: dict[str, Any] | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.record is not None and not any(p.severity == "error" for p in self.problems)


def validate_record(
    record: Any,
    schemas: Schemas,
    config: Config,
    *,
    path: str | None = None,
    known_ids: frozenset[str] | None = None,
    text: str | None = None,
    screened: bool = False,
) -> list[Problem]:
    """Schema first; the rules run only on records whose shape the schema accepted.

    `text`: the YAML the record was read from or is written as, when the caller has it (its strings
    are then screened on the text, `schemas.strings_safe_in`, instead of by walking the record);
    `screened`: `yamlio.screen(text)` is known to be true."""
    safe = text is not None and strings_safe_in(text, screened=screened)
    problems = schemas.errors("exception", record, strings_safe=safe)
    if not problems:
        problems = check_rules(record, Context(config, path, known_ids))
    file = path or ""
    return [p.at_file(file) for p in problems]


def check_text(
    text: bytes | str,
    path: str,
    schemas: Schemas,
    config: Config,
    *,
    known_ids: frozenset[str] | None = None,
) -> Checked:
    source: str | bytes = text
    if isinstance(text, bytes) and len(text) <= yamlio.MAX_BYTES:
        with suppress(UnicodeDecodeError):  # yamlio.load says where
            source = text.decode("utf-8")
    screened = isinstance(source, str) and len(source) <= yamlio.MAX_BYTES and yamlio.screen(source)
    try:
        data = yamlio.load(source, screened=screened)
    except yamlio.YamlError as exc:
        return Checked(path, None, [Problem(path, "", "yaml", str(exc))])
    if not isinstance(data, dict):
        return Checked(path, None, [Problem(path, "", "yaml", "a record file must hold one mapping")])
    assert isinstance(source, str)  # the load would have failed otherwise
    problems = validate_record(
        data, schemas, config, path=path, known_ids=known_ids, text=source, screened=screened
    )
    return Checked(path, data, problems)

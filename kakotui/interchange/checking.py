"""Checking many records at once: schema + rules for each, across two processes when there are many.

The workers also render each valid record (canonical text, index row and report facts), so a large
import parses, validates and writes each record once. Records may come from a generator: the workers
start on the first ones while the rest are still being built.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from kakotui.core import yamlio
from kakotui.core.config import Config
from kakotui.core.problems import Problem
from kakotui.core.record import canonical
from kakotui.core.schemas import Schemas
from kakotui.core.validation import validate_record
from kakotui.interchange.batch import index_row

__all__ = ["Verdict", "check_records", "validate_many"]

Progress = Callable[[int, int], None]

_WORKER: dict[str, Any] = {}
POOL_MIN = 3000
"""Fewer records than this are checked in this process (starting the pool costs more than it saves)."""
CHUNK = 250
"""Records per batch sent to a worker process."""


@dataclass(frozen=True)
class Verdict:
    """The problems of one record; for a valid one rendered with `render`, its canonical text and index row."""

    problems: list[Problem]
    text: bytes | None = None
    index_row: tuple[Any, ...] | None = None


def _init_worker(schema_texts: dict[str, str], config_data: dict[str, Any], known: frozenset[str]) -> None:
    _WORKER["schemas"] = Schemas(schema_texts)
    _WORKER["config"] = Config.from_data(config_data)
    _WORKER["known"] = known


def _verdict(
    record: dict[str, Any], path: str, schemas: Schemas, config: Config, known: frozenset[str], render: bool
) -> Verdict:
    ordered: dict[str, Any] | None = None
    text: str | None = None
    if render:  # written first: the text screens the record's strings for the validator
        ordered = canonical(record, schemas)
        try:
            text = yamlio.dump(ordered)
        except Exception:  # data YAML cannot hold: the validator words it (and it is not written)
            text = None
    problems = validate_record(record, schemas, config, path=path, known_ids=known, text=text)
    if not render or any(p.severity == "error" for p in problems):
        return Verdict(problems)
    if ordered is None or text is None:  # valid yet not written above: let the writer raise here
        ordered = canonical(record, schemas)
        text = yamlio.dump(ordered)
    data = text.encode("utf-8")
    return Verdict(problems, data, index_row(path, data, ordered, config))


def _check_chunk(args: tuple[list[tuple[dict[str, Any], str]], bool]) -> list[Verdict]:
    items, render = args
    w = _WORKER
    return [_verdict(r, p, w["schemas"], w["config"], w["known"], render) for r, p in items]


def check_records(
    items: Iterable[tuple[dict[str, Any], str]],
    schemas: Schemas,
    config: Config,
    known_ids: frozenset[str],
    *,
    render: bool = False,
    progress: Progress | None = None,
    workers: int = 2,
    total: int | None = None,
    batch_ids: Iterable[str] | None = None,
) -> list[Verdict]:
    """Validate (schema + rules) each (record, path), across processes when there are many; with
    `render`, also make each valid record's canonical text and index row (in the same processes).

    `items` may be a generator: the processes start on the first records while it makes the rest (give
    `total`, an upper bound, and `batch_ids`, the ids of the records it will make).
    """
    if total is None or batch_ids is None:
        items = list(items)
        total = len(items)
        batch_ids = [str(record.get("id")) for record, _path in items]
    # Records of the same batch may refer to each other (`related`): they exist once it is saved.
    known_ids = known_ids | frozenset(batch_ids)
    if total < POOL_MIN or workers < 2:
        out: list[Verdict] = []
        for n, (record, path) in enumerate(items, start=1):
            out.append(_verdict(record, path, schemas, config, known_ids, render))
            if progress is not None and (n % 500 == 0 or n == total):
                progress(n, total)
        return out
    texts = {name: json.dumps(doc) for name, doc in schemas.documents.items()}

    def chunks() -> Iterator[tuple[list[tuple[dict[str, Any], str]], bool]]:
        batch: list[tuple[dict[str, Any], str]] = []
        for item in items:
            batch.append(item)
            if len(batch) == CHUNK:
                yield batch, render
                batch = []
        if batch:
            yield batch, render

    results: list[Verdict] = []
    with ProcessPoolExecutor(
        workers, initializer=_init_worker, initargs=(texts, config.data, known_ids)
    ) as pool:
        for chunk_result in pool.map(_check_chunk, chunks()):  # submits as the chunks are made
            results.extend(chunk_result)
            if progress is not None:
                progress(len(results), total)
    if progress is not None:
        progress(total, total)
    return results


def validate_many(
    items: Sequence[tuple[dict[str, Any], str]],
    schemas: Schemas,
    config: Config,
    known_ids: frozenset[str],
    *,
    progress: Progress | None = None,
) -> list[list[Problem]]:
    """`validate_record` (schema + rules) for each (record, path), across processes when there are many."""
    return [v.problems for v in check_records(items, schemas, config, known_ids, progress=progress)]

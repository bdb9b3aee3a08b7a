"""`ExceptionLog`: the one façade the CLI and the TUI hold; it wires core, store and the rest.

Everything a screen or a command can do is a method here, so it can be done (and tested) without
either. Errors come back as values (`Problem`s) or as `LogError`/`InvalidRecord` with a message
a person can act on; bad input never becomes a traceback.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kakotui.core import lifecycle, yamlio
from kakotui.core.commits import commit_message
from kakotui.core.config import CONFIG_FILE, Config, load_config
from kakotui.core.ids import BadId, RecordId, id_from_path, is_record_path
from kakotui.core.problems import InvalidRecord, Problem
from kakotui.core.record import canonical, format_time, summarize, to_text
from kakotui.core.schemas import SCHEMA_FILES, Schemas, load_schema_texts, packaged_schema_dir
from kakotui.core.validation import check_text, validate_record
from kakotui.lazy import lazy_module
from kakotui.store import query as querylang
from kakotui.store.faults import fallback_dir, fallback_drafts_dir, hold_previous, storage_problem
from kakotui.store.gitrepo import (
    Git,
    GitError,
    Identity,
    atomic_write,
    clear_stale_locks,
    init_repo,
    maybe_maintain,
    repo_lock,
)
from kakotui.store.index import CatchUp, Index, Progress
from kakotui.store.scaffold import scaffold_files

if TYPE_CHECKING:
    from kakotui.interchange import exporter as _exporter
    from kakotui.interchange import importer as _importer
    from kakotui.interchange import mapping as _mapping
    from kakotui.interchange import sheets as _sheets
    from kakotui.store import history as audit
    from kakotui.store import review
    from kakotui.sync import engine as _sync
else:  # imported on first use: the TUI starts without import/export, sync and audit
    _exporter = lazy_module("kakotui.interchange.exporter")
    _importer = lazy_module("kakotui.interchange.importer")
    _mapping = lazy_module("kakotui.interchange.mapping")
    _sheets = lazy_module("kakotui.interchange.sheets")
    audit = lazy_module("kakotui.store.history")
    review = lazy_module("kakotui.store.review")
    _sync = lazy_module("kakotui.sync.engine")

__all__ = ["ExceptionLog", "InvalidRecord", "LogError", "Problem", "SaveResult"]


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector paused around bulk work that keeps many objects alive (a sheet's
    rows, an import's records and rendered texts): each of its full collections walks the whole
    growing heap again (~40% of the main process's CPU when planning a 30k-row import). Reference
    counting still frees every object that is not in a cycle; the collector is back afterwards."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


class LogError(Exception):
    """Something the person must fix before going on (not a data problem of one record)."""


class IdTaken(LogError):
    """The id chosen for a new record was taken by another save in the meantime."""


class StaleRecord(LogError):
    """The record changed (someone else saved it) since the version the save was based on."""

    def __init__(self, message: str, record_id: str, expected_blob: str, current_blob: str) -> None:
        super().__init__(message)
        self.record_id = record_id
        self.expected_blob = expected_blob
        self.current_blob = current_blob


@dataclass(frozen=True)
class SaveResult:
    id: str
    path: str
    commit: str
    action: str
    message: str


@dataclass
class Loaded:
    """One record as read from the log, with its problems (an invalid record is still shown)."""

    id: str
    path: str
    record: dict[str, Any] | None
    problems: list[Problem] = field(default_factory=list)
    blob: str = ""
    uncommitted: bool = False

    @property
    def valid(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)


def find_root(start: Path) -> Path | None:
    """The log that contains `start`: the nearest folder with kakotui.yaml and a .git."""
    here = start.resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file() and (folder / ".git").exists():
            return folder
    return None


class ExceptionLog:
    """A log repository opened on its root folder."""

    def __init__(self, root: Path, *, identity: Identity | None = None) -> None:
        self.root = Path(root).resolve()
        if not (self.root / CONFIG_FILE).is_file():
            raise LogError(
                f"{self.root} is not a kakotui log (no {CONFIG_FILE}); run `kakotui init` to create one"
            )
        if not (self.root / ".git").exists():
            raise LogError(f"{self.root} is not a git repository")
        self.git = Git(self.root)
        self.schemas = self._load_schemas()
        config, problems = load_config((self.root / CONFIG_FILE).read_bytes(), self.schemas)
        if config is None:
            raise LogError("kakotui.yaml is invalid:\n" + "\n".join(f"  {p}" for p in problems))
        self.config: Config = config
        self.git.sign = config.policy.signing_required
        self._identity = identity
        self._index: Index | None = None

    # -- opening and creating ----------------------------------------------------------------

    @classmethod
    def open(cls, path: Path | str | None = None, *, identity: Identity | None = None) -> ExceptionLog:
        start = Path(path) if path is not None else Path.cwd()
        root = find_root(start) if not (start / CONFIG_FILE).is_file() else start
        if root is None:
            raise LogError(f"no kakotui log here ({start}); pass --repo PATH or run `kakotui init PATH`")
        return cls(root, identity=identity)

    @classmethod
    def init(
        cls,
        path: Path | str,
        *,
        station: str,
        site: str | None = None,
        site_name: str | None = None,
        name: str | None = None,
        config: dict[str, Any] | None = None,
        identity: Identity | None = None,
    ) -> ExceptionLog:
        """Create a new log: git repo, kakotui.yaml, schema/, records/, CI and pre-commit gates."""
        root = Path(path).resolve()
        if (root / CONFIG_FILE).exists():
            raise LogError(f"{root} already holds a kakotui log")
        if root.exists() and any(p.name != ".git" for p in root.iterdir()):
            raise LogError(f"{root} is not empty; choose a new folder")
        try:
            RecordId.parse(f"{station}-2000-00001")
        except BadId:
            raise LogError(
                f"bad station id {station!r}: 2-8 upper-case letters and digits, e.g. SZ1"
            ) from None
        root.mkdir(parents=True, exist_ok=True)
        git = init_repo(root) if not (root / ".git").exists() else Git(root)
        files = scaffold_files(station=station, site=site, site_name=site_name, name=name, config=config)
        schemas = Schemas({k: files[f"schema/{v}"].decode() for k, v in SCHEMA_FILES.items()})
        parsed, problems = load_config(files[CONFIG_FILE], schemas)
        if parsed is None:
            raise LogError("the new kakotui.yaml would be invalid:\n" + "\n".join(f"  {p}" for p in problems))
        for rel, data in files.items():
            atomic_write(root / rel, data)
        git.run("config", "kakotui.station", station)
        _install_merge_driver(git)
        who = identity or _identity_from_git(git)
        git.sign = parsed.policy.signing_required
        git.commit_files(files, "Start the exception log\n\nKakotui-Action: init\n", who)
        return cls(root, identity=identity)

    def _load_schemas(self) -> Schemas:
        folder = self.root / "schema"
        if all((folder / f).is_file() for f in SCHEMA_FILES.values()):
            return Schemas(load_schema_texts(folder))
        return Schemas(load_schema_texts(packaged_schema_dir()))

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None
        self.git.close()

    def __enter__(self) -> ExceptionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- who and where ----------------------------------------------------------------------

    @property
    def identity(self) -> Identity:
        if self._identity is None:
            self._identity = _identity_from_git(self.git)
        return self._identity

    @property
    def has_identity(self) -> bool:
        try:
            return bool(self.identity.name)
        except LogError:
            return False

    def set_identity(self, name: str, email: str) -> None:
        """Remember the person for this clone (git config of the log, not global)."""
        self.git.run("config", "user.name", name)
        self.git.run("config", "user.email", email)
        self._identity = Identity(name, email)

    @property
    def station(self) -> str:
        """The station this clone writes as (git config kakotui.station; one configured station is the default)."""
        try:  # read again only when .git/config changed (a git process per `new` otherwise)
            stamp: int | None = (self.git.git_dir / "config").stat().st_mtime_ns
        except (OSError, GitError):
            stamp = None
        seen = getattr(self, "_station_seen", None)
        if stamp is not None and seen is not None and seen[0] == stamp:
            value = str(seen[1])
        else:
            try:
                value = self.git.run("config", "--get", "kakotui.station", check=False).decode().strip()
            except GitError:
                value = ""
            self._station_seen = (stamp, value)
        if value:
            return value
        if len(self.config.stations) == 1:
            return next(iter(self.config.stations))
        raise LogError(
            "this clone has no station; set one with `kakotui station SZ1` (stations: "
            + ", ".join(self.config.stations)
            + ")"
        )

    def set_station(self, station: str) -> None:
        if station not in self.config.stations:
            raise LogError(
                f"unknown station {station!r}; kakotui.yaml lists: {', '.join(self.config.stations)}"
            )
        self.git.run("config", "kakotui.station", station)

    def now(self) -> str:
        return format_time(datetime.now(self.config.tz).replace(microsecond=0))

    # -- the index --------------------------------------------------------------------------

    @property
    def index(self) -> Index:
        if self._index is None:
            try:
                self._index = Index(self.git, self.schemas, self.config)
            except (sqlite3.Error, OSError):
                if os.access(self.git.git_dir, os.W_OK):
                    raise
                # A read-only log (disk, mount): keep the cache in this person's folder instead.
                self._index = Index(
                    self.git, self.schemas, self.config, path=fallback_dir(self.root) / "index.sqlite"
                )
        return self._index

    def refresh(self, progress: Progress | None = None) -> CatchUp:
        """Catch the index up with commits, pulls and hand edits (a rebuild the first time)."""
        try:
            return self.index.catch_up(progress)
        except sqlite3.DatabaseError:
            # A damaged cache is only a cache: start it again.
            self.index.close()
            self._index = None
            for suffix in ("", "-wal", "-shm"):
                Path(str(self.git.git_dir / "kakotui" / "index.sqlite") + suffix).unlink(missing_ok=True)
            return self.index.rebuild(progress)

    def index_ready(self) -> bool:
        """Whether the index can answer before a catch-up (built before; it may lag behind the repository)."""
        try:
            return self.index.ready()
        except sqlite3.DatabaseError:
            return False

    def rebuild_index(self, progress: Progress | None = None) -> CatchUp:
        return self.index.rebuild(progress)

    # -- reading ----------------------------------------------------------------------------

    def records(
        self,
        query: str = "",
        *,
        sort: str = "id",
        limit: int | None = None,
        columns: Sequence[str] | None = None,
        today: date | None = None,
    ) -> list[sqlite3.Row]:
        """Index rows matching a query (raises querylang.QueryError for a bad query)."""
        compiled = querylang.compile_query(query, today=today or self.today())
        return self.index.query(
            compiled.where, compiled.params, order=querylang.sort_clause(sort), limit=limit, columns=columns
        )

    query = records

    def record_chunks(self, columns: Sequence[str], *, size: int = 4096) -> Iterator[list[tuple[Any, ...]]]:
        """Every indexed record's `columns`, in id order, as tuples a chunk at a time (the TUI's list)."""
        return self.index.chunks(columns, size=size)

    def status_counts(self, query: str = "", *, today: date | None = None) -> dict[str, int]:
        compiled = querylang.compile_query(query, today=today or self.today())
        return self.index.counts(compiled.where, compiled.params)

    def today(self) -> date:
        return datetime.now(self.config.tz).date()

    def resolve_id(self, record_id: str) -> str:
        """The current id of a record (following aliases left by renumbering)."""
        try:
            rid = str(RecordId.parse(record_id))
        except BadId as exc:
            raise LogError(str(exc)) from None
        row = self.index.by_id(rid)
        if row is None:
            raise LogError(f"no record {rid} in this log")
        return str(row["id"])

    def get(self, record_id: str) -> Loaded:
        """Read one record from its file (the truth), with every problem it has."""
        try:
            rid = RecordId.parse(record_id)
        except BadId as exc:
            raise LogError(str(exc)) from None
        row = self.index.by_id(str(rid))
        path = str(row["path"]) if row is not None else rid.path
        file = self.root / path
        if not file.is_file():
            raise LogError(f"no record {rid} in this log")
        if file.is_symlink():
            raise LogError(f"{path} is a symbolic link; records must be plain files")
        data = file.read_bytes()
        checked = check_text(data, path, self.schemas, self.config, known_ids=self.index.ids())
        uncommitted = bool(row is not None and row["worktree"])
        record_id_text = checked.record.get("id", str(rid)) if checked.record else str(rid)
        return Loaded(
            str(record_id_text), path, checked.record, checked.problems, self.git.blob_sha(data), uncommitted
        )

    def show_text(self, record_id: str) -> str:
        loaded = self.get(record_id)
        return (self.root / loaded.path).read_text("utf-8", errors="replace")

    # -- writing ----------------------------------------------------------------------------

    def check(self, record: dict[str, Any], *, path: str | None = None) -> list[Problem]:
        """Every problem a save of this record would report (schema + rules), without saving."""
        return validate_record(record, self.schemas, self.config, path=path, known_ids=self.index.ids())

    def next_id(self, year: int | None = None, station: str | None = None) -> str:
        station = station or self.station
        year = year or self.today().year
        seq = self.index.max_seq(station, year) + 1
        while (self.root / RecordId(station, year, seq).path).exists():
            seq += 1
        return str(RecordId(station, year, seq))

    def save(
        self,
        record: dict[str, Any],
        action: str,
        *,
        expected_blob: str | None = None,
        message: str | None = None,
        create: bool = False,
    ) -> SaveResult:
        """Validate, write atomically, commit (one save, one commit), update the index.

        Raises InvalidRecord (nothing written) or LogError. `expected_blob` guards against saving over
        a change someone else committed since the record was read.
        """
        try:
            rid = RecordId.parse(str(record.get("id", "")))
        except BadId as exc:
            raise InvalidRecord([Problem("", "id", "schema:pattern", str(exc))]) from None
        path = rid.path
        problems = self.check(record, path=path)
        if problems:
            raise InvalidRecord(problems)
        self._check_allowed(record, action, path)
        text = to_text(record, self.schemas).encode("utf-8")
        who = self.identity
        msg = message or commit_message(action, canonical(record, self.schemas), self.config)
        draft = self._write_draft(str(rid), record, action, text)
        with repo_lock(self.git.git_dir):
            self._recover_interrupted(skip=draft)
            file = self.root / path
            if create and file.exists():
                raise IdTaken(f"{rid} already exists; it was created by someone else in the meantime")
            current: bytes | None = None
            if not create:
                if not file.exists():
                    raise LogError(f"no record {rid} to update")
                current = file.read_bytes()
                if expected_blob is not None and self.git.blob_sha(current) != expected_blob:
                    raise StaleRecord(
                        f"{rid} was changed by someone else since you opened it; reload it and apply your change again",
                        str(rid),
                        expected_blob,
                        self.git.blob_sha(current),
                    )
            previous = hold_previous(file) if current is not None else None
            try:
                atomic_write(file, text)
                # HEAD is read (and compare-and-swapped) inside commit_files, under this same lock.
                commit = self.git.commit_files({path: text}, msg, who)
                old_head = self.git.last_commit[1] if self.git.last_commit else None
            except (GitError, OSError) as exc:
                # The save did not happen: put the previous version back; the draft keeps the person's input.
                try:
                    if current is None:
                        file.unlink(missing_ok=True)
                    elif previous is not None:
                        os.replace(previous, file)  # needs no disk space: works on a full disk
                        previous.unlink(missing_ok=True)  # still there if the file was never replaced
                    else:
                        atomic_write(file, current)
                except OSError:
                    pass
                problem = storage_problem(exc) or str(exc)
                raise LogError(f"could not save {rid}: {problem}; your input is kept as a draft") from None
            try:  # noqa: SIM105
                self.index.put(path, text, old_head=old_head, new_head=commit)
            except sqlite3.Error:
                pass  # saved: the index is a cache, and the next refresh catches up from the commit
        if previous is not None:
            previous.unlink(missing_ok=True)
        draft.unlink(missing_ok=True)
        (fallback_drafts_dir(self.root) / draft.name).unlink(missing_ok=True)
        try:  # noqa: SIM105
            maybe_maintain(self.git)
        except OSError:
            pass  # housekeeping only (e.g. a full disk): the save itself is done
        return SaveResult(str(rid), path, commit, action, msg)

    def _write_draft(self, record_id: str, record: dict[str, Any], action: str, text: bytes) -> Path:
        """Keep the person's input until the commit exists: a crash leaves it to be offered back."""
        folder = self.git.git_dir / "kakotui" / "drafts"
        draft = folder / f"{record_id}.json"
        payload = json.dumps(
            {"action": action, "record": record, "text": text.decode("utf-8")}, ensure_ascii=False
        )
        try:
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write(draft, payload.encode())
            return draft
        except OSError as exc:
            problem = storage_problem(exc) or str(exc)
        # The log's disk refuses even the draft (full, read-only): touch nothing, keep the input elsewhere.
        spare = fallback_drafts_dir(self.root) / draft.name
        try:
            atomic_write(spare, payload.encode())
        except OSError as exc:
            raise LogError(
                f"could not save {record_id}: {problem}; no draft could be kept either "
                f"({exc.strerror or exc}): keep your input and save again once the fault is fixed"
            ) from None
        raise LogError(
            f"could not save {record_id}: {problem}; nothing was changed, and your input is kept as a draft "
            f"in {spare}: save again once the fault is fixed"
        ) from None

    def recover(self) -> list[str]:
        """Undo the file writes of saves that were interrupted before their commit (their drafts stay)."""
        with repo_lock(self.git.git_dir):
            return self._recover_interrupted()

    def _reset_index_entry(self, path: str, patience: float = 10.0) -> None:
        """Point git's index entry for `path` at HEAD, waiting out a lock held by a live git (e.g. gc)."""
        deadline = time.monotonic() + patience
        while True:
            clear_stale_locks(self.git.git_dir)
            try:
                self.git.run("reset", "-q", "HEAD", "--", path)
                return
            except GitError as exc:
                if ".lock" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _recover_interrupted(self, skip: Path | None = None) -> list[str]:
        """Called under the repo lock: a draft whose text is in the work tree but not in HEAD is a save that
        crashed between the write and the commit; put HEAD's version back so the tree matches the history."""
        folder = self.git.git_dir / "kakotui" / "drafts"
        if not folder.is_dir():
            return []
        recovered = []
        drafts = [d for d in sorted(folder.glob("*.json")) if d != skip]
        head = self.git.head() if drafts else None  # the usual save has no other draft: no git call
        for draft in drafts:
            try:
                data = json.loads(draft.read_text("utf-8"))
                text = str(data["text"]).encode("utf-8")
                path = RecordId.parse(draft.stem).path
            except (ValueError, KeyError, TypeError, BadId, OSError):
                continue
            file = self.root / path
            for temp in file.parent.glob(f".{file.name}.*.tmp"):  # a write killed before its rename
                temp.unlink(missing_ok=True)
            if not file.is_file() or file.read_bytes() != text:
                continue
            committed = dict(self.git.ls_tree(head, path)).get(path) if head else None
            if committed == self.git.blob_sha(text):
                # The commit happened; the crash may have come before git's index was updated
                # (and may have left git's index.lock behind: removed only if no git process runs).
                self._reset_index_entry(path)
                draft.unlink(missing_ok=True)
                continue
            if committed is None:
                file.unlink()
            else:
                atomic_write(file, self.git.read_blob(committed))
            recovered.append(draft.stem)
        return recovered

    def drafts(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Saves that did not finish (crash, failed commit): (id, action, record) to offer back."""
        out = []
        seen: set[str] = set()
        for folder in (self.git.git_dir / "kakotui" / "drafts", fallback_drafts_dir(self.root)):
            for file in sorted(folder.glob("*.json")) if folder.is_dir() else []:
                try:
                    data = json.loads(file.read_text("utf-8"))
                    if file.stem not in seen:
                        out.append((file.stem, str(data["action"]), dict(data["record"])))
                        seen.add(file.stem)
                except (ValueError, KeyError, TypeError, OSError):
                    continue
        return out

    def discard_draft(self, record_id: str) -> None:
        (self.git.git_dir / "kakotui" / "drafts" / f"{record_id}.json").unlink(missing_ok=True)
        (fallback_drafts_dir(self.root) / f"{record_id}.json").unlink(missing_ok=True)

    def _current(self, record_id: str) -> Loaded:
        loaded = self.get(record_id)
        if loaded.record is None:
            raise LogError(
                f"{loaded.id} cannot be read ({'; '.join(str(p) for p in loaded.problems[:3])}); fix the file first"
            )
        return loaded

    def new(self, qc: dict[str, Any], *, record_id: str | None = None) -> SaveResult:
        """Log a QC failure. Defaults: checked now, by the current person, at this station and its site."""
        qc = dict(qc)
        qc.setdefault("checked_at", self.now())
        qc.setdefault("inspector", self.identity.name)
        station = qc.get("station") or self.station
        qc["station"] = station
        qc.setdefault("site", self.config.stations.get(station, ""))
        qc.setdefault("quantity", 1)
        year = int(str(qc["checked_at"])[:4]) if str(qc["checked_at"])[:4].isdigit() else self.today().year
        for _attempt in range(20):
            rid = record_id or self.next_id(year, station)
            try:
                return self.save(lifecycle.new_exception(rid, qc), "create", create=True)
            except IdTaken:
                if record_id:
                    raise
                self.discard_draft(rid)  # someone else took this id meanwhile: take the next one
        raise LogError("could not allocate a free id (too many concurrent saves); try again")

    def _step(
        self, record_id: str, action: str, fn: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> SaveResult:
        loaded = self._current(record_id)
        assert loaded.record is not None
        try:
            updated = fn(loaded.record)
        except lifecycle.StepError as exc:
            raise InvalidRecord([Problem(loaded.path, exc.field, f"step:{action}", exc.message)]) from None
        return self.save(updated, action, expected_blob=loaded.blob)

    def edit(self, record_id: str, changes: Sequence[tuple[str, str | None]]) -> SaveResult:
        def apply(record: dict[str, Any]) -> dict[str, Any]:
            for path, value in changes:
                record = lifecycle.set_path(record, path, value, self.schemas)
            return record

        fields_changed = ", ".join(p for p, _ in changes)
        loaded = self._current(record_id)
        assert loaded.record is not None
        try:
            updated = apply(loaded.record)
        except lifecycle.StepError as exc:
            raise InvalidRecord([Problem(loaded.path, exc.field, "step:edit", exc.message)]) from None
        msg = commit_message("edit", canonical(updated, self.schemas), self.config, detail=fields_changed)
        return self.save(updated, "edit", expected_blob=loaded.blob, message=msg)

    def replace(
        self, record: dict[str, Any], *, expected_blob: str | None, action: str = "edit"
    ) -> SaveResult:
        """Save a whole record edited in a form (the TUI's edit screen)."""
        return self.save(record, action, expected_blob=expected_blob)

    def decide(
        self, record_id: str, action: str, *, reason: str | None = None, at: str | None = None
    ) -> SaveResult:
        return self._step(
            record_id,
            "decide",
            lambda r: lifecycle.decide(r, action, self.identity.name, at or self.now(), reason),
        )

    def reship(
        self,
        record_id: str,
        *,
        costs: Sequence[lifecycle.CostLine],
        carrier: str | None = None,
        tracking: str | None = None,
        status: str = "pending",
        at: str | None = None,
        note: str | None = None,
    ) -> SaveResult:
        return self._step(
            record_id,
            "reship",
            lambda r: lifecycle.add_reshipment(
                r,
                created_at=at or self.now(),
                costs=costs,
                carrier=carrier,
                tracking=tracking,
                status=status,
                note=note,
            ),
        )

    def update_reshipment(self, record_id: str, number: int, **changes: Any) -> SaveResult:
        return self._step(
            record_id, "reship", lambda r: lifecycle.update_reshipment(r, number - 1, **changes)
        )

    def contact_vendor(
        self,
        record_id: str,
        *,
        channel: str,
        summary: str,
        outcome: str,
        recovered: Any = None,
        at: str | None = None,
    ) -> SaveResult:
        return self._step(
            record_id,
            "contact",
            lambda r: lifecycle.add_vendor_contact(
                r,
                at=at or self.now(),
                by=self.identity.name,
                channel=channel,
                summary=summary,
                outcome=outcome,
                recovered=recovered,
            ),
        )

    def confirm_customer(
        self, record_id: str, *, channel: str, outcome: str, note: str | None = None, at: str | None = None
    ) -> SaveResult:
        return self._step(
            record_id,
            "confirm",
            lambda r: lifecycle.confirm(
                r, at=at or self.now(), by=self.identity.name, channel=channel, outcome=outcome, note=note
            ),
        )

    def close_record(
        self, record_id: str, *, final_status: str, note: str | None = None, at: str | None = None
    ) -> SaveResult:
        return self._step(
            record_id,
            "close",
            lambda r: lifecycle.close(
                r, final_status=final_status, at=at or self.now(), by=self.identity.name, note=note
            ),
        )

    def reopen(self, record_id: str, *, reason: str, at: str | None = None) -> SaveResult:
        return self._step(
            record_id,
            "reopen",
            lambda r: lifecycle.reopen(r, at=at or self.now(), by=self.identity.name, reason=reason),
        )

    # -- checking the whole log ---------------------------------------------------------------

    def record_files(self, paths: Sequence[str | Path] | None = None) -> Iterator[Path]:
        """Record files under records/ (or the given files/folders), refusing anything outside the log."""
        roots = [self.root / "records"] if not paths else [Path(p) for p in paths]
        for given in roots:
            target = given if given.is_absolute() else (Path.cwd() / given)
            target = Path(os.path.abspath(target))
            if not target.is_relative_to(self.root):
                raise LogError(f"{given} is outside the log {self.root}")
            if target.is_dir():
                yield from sorted(p for p in target.rglob("*.yaml") if p.is_file() or p.is_symlink())
            elif target.exists() or target.is_symlink():
                yield target
            else:
                raise LogError(f"{given}: no such file or folder")

    def validate(self, paths: Sequence[str | Path] | None = None) -> tuple[int, list[Problem]]:
        """Validate the config and record files: (files checked, every problem)."""
        problems: list[Problem] = []
        _, config_problems = load_config((self.root / CONFIG_FILE).read_bytes(), self.schemas)
        problems.extend(config_problems)
        files = list(self.record_files(paths))
        ids: dict[str, str] = {}
        checked_records: list[tuple[str, dict[str, Any]]] = []
        all_ids = set(self.index.ids())
        for file in files:
            rel = file.relative_to(self.root).as_posix()
            if file.is_symlink():
                problems.append(
                    Problem(rel, "", "file:symlink", "records must be plain files, not symbolic links")
                )
                continue
            if not is_record_path(rel) or id_from_path(rel) is None:
                problems.append(
                    Problem(rel, "", "file:path", "not a record path (records/YYYY/STATION/NNN/ID.yaml)")
                )
            checked = check_text(file.read_bytes(), rel, self.schemas, self.config)
            problems.extend(checked.problems)
            if checked.record is not None:
                rid = str(checked.record.get("id", ""))
                all_ids.add(rid)
                if rid in ids:
                    problems.append(
                        Problem(rel, "id", "rule:unique-id", f"id {rid} is also used by {ids[rid]}")
                    )
                ids[rid] = rel
                checked_records.append((rel, checked.record))
        known = frozenset(all_ids)
        for rel, record in checked_records:
            for i, other in enumerate(record.get("related") or []):
                if isinstance(other, str) and other not in known:
                    problems.append(
                        Problem(rel, f"related.{i}", "rule:references-exist", f"no record {other}")
                    )
        return len(files), problems

    def fmt(
        self, paths: Sequence[str | Path] | None = None, *, check: bool = False
    ) -> tuple[list[str], list[Problem]]:
        """Rewrite files in canonical form (or with check, list the ones that are not)."""
        changed: list[str] = []
        problems: list[Problem] = []
        for file in self.record_files(paths):
            rel = file.relative_to(self.root).as_posix()
            if file.is_symlink():
                problems.append(
                    Problem(rel, "", "file:symlink", "records must be plain files, not symbolic links")
                )
                continue
            raw = file.read_bytes()
            try:
                data = yamlio.load(raw)
            except yamlio.YamlError as exc:
                problems.append(Problem(rel, "", "yaml", str(exc)))
                continue
            if not isinstance(data, dict):
                problems.append(Problem(rel, "", "yaml", "a record file must hold one mapping"))
                continue
            text = to_text(data, self.schemas).encode("utf-8")
            if text != raw:
                changed.append(rel)
                if not check:
                    atomic_write(file, text)
        return changed, problems

    def summary_of(self, record: dict[str, Any]) -> Any:
        return summarize(record, self.config)

    # -- audit trail: history, blame, semantic diff, the PR gate (issue 4) ---------------------

    def _history_path(self, record_id: str) -> tuple[str, str]:
        """(id, path) of a record to read the history of: current, former (alias) or deleted ids."""
        try:
            rid = str(RecordId.parse(record_id))
        except BadId as exc:
            raise LogError(str(exc)) from None
        # By id first (an indexed look-up); by former id (aliases: a scan of every row) only if needed.
        rows = self.index.query("id = ?", [rid], columns=["id", "path"], order="worktree DESC, path")
        row = rows[0] if rows else self.index.by_id(rid)
        if row is None:
            return rid, RecordId.parse(rid).path
        return str(row["id"]), str(row["path"])

    def history(
        self, record_id: str, *, build_trail: bool = True, progress: Progress | None = None
    ) -> audit.RecordHistory:
        """The record's changes from git, oldest first, field by field, following renumbering.

        Iterating the result gives the `HistoryEntry`s; `problems` says where the story is incomplete
        (shallow clone, renamed by hand). Raises LogError (bad id) or audit.HistoryError (unknown record).
        The first history of a clone builds the index's commit table (kakotui.store.trail: one pass
        over the whole history, reporting `progress`; ~40 s at 100k commits), which later ones read in
        milliseconds; `build_trail` False asks git instead while the table is missing (same answer).
        """
        rid, path = self._history_path(record_id)
        from kakotui.store.trail import open_trail

        trail = open_trail(self.git, self.index.db, build=build_trail, progress=progress)
        return audit.record_history(self.git, path, record_id=rid, trail=trail)

    def blame(
        self, record_id: str, *, build_trail: bool = True, progress: Progress | None = None
    ) -> audit.Blame:
        """For each field of the record, the commit (author, date, action) that set its current value."""
        return audit.record_blame(self.history(record_id, build_trail=build_trail, progress=progress))

    def diff(
        self, rev_a: str | None = None, rev_b: str | None = None, *, staged: bool = False
    ) -> review.LogDiff:
        """Records added, changed, removed from `rev_a` (HEAD) to `rev_b` / the index / the work tree."""
        return review.log_diff(self.git, rev_a, rev_b, staged=staged)

    def validate_since(self, rev: str) -> tuple[int, list[Problem], review.Since]:
        """The PR gate: validate what changed since `rev` plus every rule those changes can break elsewhere.

        (files checked, every problem, the change). The index must be caught up (`refresh`).
        """
        since = review.changes_since(self.git, rev, self.index)
        if since.check_all or since.check_paths:
            count, problems = self.validate(
                None if since.check_all else [self.root / p for p in since.check_paths]
            )
        else:
            count, problems = 0, load_config((self.root / CONFIG_FILE).read_bytes(), self.schemas)[1]
        problems += self.policy_problems(since.base)  # who may change what (issue 10)
        problems += self._signers_problems()
        return count, list(dict.fromkeys(problems + since.problems)), since

    # -- who may change what: roles, approvals, signatures (issue 10) ---------------------------

    @property
    def me(self) -> Any:
        """The person of kakotui.yaml's people: this clone's identity is (by email), or None."""
        try:
            return self.config.policy.person(self.identity.email)
        except LogError:
            return None

    def allowed(self, action: str, record_id: str | None = None) -> tuple[bool, str]:
        """(may this clone's person take `action` (on `record_id`), the reason when not); for the TUI."""
        ok, why = self.config.policy.may_act(self.me, action)
        if not ok:
            return False, f"{self._who()}: {why}"
        return True, ""

    def _who(self) -> str:
        """The person's name for a message ("who?" when this clone has no identity yet)."""
        return self.identity.name if self.has_identity else "who?"

    def may_change(self, path: str, value: Any = None) -> tuple[bool, str]:
        """(may this clone's person set record field `path` (to `value`), the reason when not)."""
        ok, why = self.config.policy.may_set(self.me, path, value)
        return (True, "") if ok else (False, f"{self._who()} may not change {path}: {why}")

    def _check_allowed(self, record: dict[str, Any], action: str, path: str) -> None:
        """Refuse, before anything is written, a save the gate would reject (the gate stays the judge)."""
        from kakotui.core.diff import field_changes
        from kakotui.core.policy import Author, RecordEdit, check_commit

        policy = self.config.policy
        if not policy.enforced:
            return
        file = self.root / path
        before = None
        if file.is_file():
            try:
                loaded = yamlio.load(file.read_bytes())
                before = loaded if isinstance(loaded, dict) else None
            except yamlio.YamlError:
                before = None
        edit = RecordEdit(path, before, record, field_changes(before, record))
        who = Author(self.identity.name, self.identity.email)
        found = check_commit(policy, "", who, action, [edit])
        if found:
            raise InvalidRecord([Problem(v.file, v.field, v.rule, v.message) for v in found])

    def policy_problems(self, base: str | None, head: str | None = None) -> list[Problem]:
        """Every commit after `base` (a commit) up to `head` (HEAD) against the policy before it."""
        from kakotui.store import access

        tip = head or self.git.head()
        if tip is None:
            return []
        return [
            Problem(v.file, v.field, v.rule, f"commit {v.commit[:10]} by {v.person}: {v.message}")
            for v in access.check_range(self.git, base, tip)
        ]

    def approve(self, commit: str, *, note: str = "") -> str:
        """Record this person's approval of `commit` (four eyes) as an empty commit; its id."""
        from kakotui.core.policy import approval_message
        from kakotui.store import access

        target = audit.resolve_rev(self.git, commit)
        head = self.git.head()
        if head is None or self.git.run_status("merge-base", "--is-ancestor", target, head)[0] != 0:
            raise LogError(f"{commit} is not in this branch's history: nothing to approve")
        info = access.commits_between(self.git, f"{target}^" if self._has_parent(target) else None, target)
        mine = next((c for c in info if c.sha == target), None)
        if mine is None:
            raise LogError(f"cannot read commit {commit}")
        if mine.author.email.lower() == self.identity.email.lower():
            raise LogError("four eyes: you cannot approve your own change; ask another person")
        policy = self.config.policy
        approvers = {r for rule in policy.four_eyes for r in rule.approvers}
        person = self.me
        if policy.enforced and not (person and set(person.roles) & approvers):
            raise LogError(
                f"{self.identity.name} holds none of the approver roles ({', '.join(sorted(approvers)) or 'none'})"
            )
        records = [
            t.strip()
            for t in self.git.run(
                "log", "-1", "--format=%(trailers:key=Kakotui-Record,valueonly,separator=%x2C)", target
            )
            .decode("utf-8", "replace")
            .strip()
            .split(",")
            if t.strip()
        ]
        message = approval_message(target, mine.subject, records, note)
        with repo_lock(self.git.git_dir):
            return self.git.commit_files({}, message, self.identity, allow_empty=True)

    def verify(self, rev: str | None = None) -> list[Any]:
        """Every commit of `rev` (default HEAD: the whole history; `A..B`: B's commits not in A) checked
        against the signing keys of the people in kakotui.yaml as it stood before it
        (`kakotui.store.access.SignatureCheck`s, oldest first)."""
        from kakotui.store import access

        base: str | None = None
        if rev and ".." in rev and "..." not in rev:
            left, _, right = rev.partition("..")
            base = audit.resolve_rev(self.git, left or "HEAD")
            tip = audit.resolve_rev(self.git, right or "HEAD")
        else:
            tip = audit.resolve_rev(self.git, rev or "HEAD")
        return access.verify_commits(self.git, access.commits_between(self.git, base, tip))

    def signatures(self, commits: Sequence[str]) -> dict[str, Any]:
        """commit -> its `SignatureCheck`, for history views that mark verified authors."""
        from kakotui.store import access

        infos = access.commits_named(self.git, dict.fromkeys(commits))
        return {c.commit: c for c in access.verify_commits(self.git, infos)}

    @property
    def signing_configured(self) -> bool:
        """Whether the log requires signatures or any person has a signing key."""
        policy = self.config.policy
        return policy.signing_required or any(p.signing_key for p in policy.people)

    def signers_text(self) -> str:
        """The allowed-signers file the people of kakotui.yaml make (`.kakotui/allowed_signers`)."""
        from kakotui.core.policy import allowed_signers

        return allowed_signers(self.config.policy)

    def write_signers(self) -> Path:
        """Write `.kakotui/allowed_signers` from the people and point this clone's git at it, so that
        `git log --show-signature` agrees with `kakotui verify`; the file is committed by an admin."""
        from kakotui.core.policy import ALLOWED_SIGNERS

        target = self.root / ALLOWED_SIGNERS
        atomic_write(target, self.signers_text().encode("utf-8"))
        self.git.run("config", "gpg.ssh.allowedSignersFile", str(target))
        return target

    def _signers_problems(self) -> list[Problem]:
        """A committed allowed-signers file must say what the people of kakotui.yaml say."""
        from kakotui.core.policy import ALLOWED_SIGNERS

        file = self.root / ALLOWED_SIGNERS
        if not file.is_file() or file.read_bytes() == self.signers_text().encode("utf-8"):
            return []
        return [
            Problem(
                ALLOWED_SIGNERS,
                "",
                "config:allowed-signers",
                "does not match the signing keys of people: in kakotui.yaml; run `kakotui signers`",
            )
        ]

    def _has_parent(self, commit: str) -> bool:
        return self.git.run_status("rev-parse", "--verify", "-q", f"{commit}^")[0] == 0

    # -- reports (issue 5) -------------------------------------------------------------------

    def report(
        self,
        name: str,
        *,
        since: date | None = None,
        until: date | None = None,
        vendors: Sequence[str] = (),
        stations: Sequence[str] = (),
        at: str | None = None,
        now: datetime | None = None,
        progress: Progress | None = None,
        **options: Any,
    ) -> Any:
        """Compute report `name` (kakotui.reports.REPORTS) from the index, or from the log at revision `at`.

        Returns a `kakotui.reports.model.Report`; render it with `kakotui.reports.render.render`.
        The caller catches the index up first (`refresh`). `--at` builds and caches an index of that
        commit the first time (a full read of its records). Raises LogError for what must be fixed
        (a missing FX rate, an unknown revision, a bad option).
        """
        from kakotui.reports import ReportError, compute
        from kakotui.reports.model import Filters
        from kakotui.store.reportdata import open_facts

        try:
            filters = Filters(
                since,
                until,
                tuple(v.strip().lower() for v in vendors),
                tuple(s.strip().upper() for s in stations),
            )
            facts = open_facts(
                self.git, self.index, at=at, first_commits=name in ("audit", "meeting"), progress=progress
            )
            try:
                return compute(name, facts, filters, now=now or datetime.now(self.config.tz), **options)
            finally:
                facts.close()
        except (ReportError, GitError) as exc:
            raise LogError(str(exc)) from None

    # -- sync between sites (issue 6) ----------------------------------------------------------

    def sync(
        self,
        remote: str = "origin",
        *,
        dry_run: bool = False,
        to_bundle: Path | str | None = None,
        from_bundle: Path | str | None = None,
        progress: Callable[[str], None] | None = None,
        allow_loopback_http: bool = False,
    ) -> _sync.SyncSummary:
        """Exchange records with another site through a git remote, or a bundle file for offline sites.

        Fetch, renumber colliding local records, merge field by field, validate what came in, update
        the index, push (retried when someone pushed meanwhile). Raises `SyncError` (a partial summary
        attached) or `RemoteNotAllowed`. `allow_loopback_http` is for the test suite's local server.
        """
        if to_bundle is not None and from_bundle is not None:
            raise LogError("give --to-bundle or --from-bundle, not both")
        syncer = _sync.Syncer(
            self.git,
            self.schemas,
            self.config,
            lambda: self.identity,
            progress=progress,
            allow_loopback_http=allow_loopback_http,
        )
        if to_bundle is not None:
            return syncer.to_bundle(Path(to_bundle), dry_run=dry_run)
        try:
            if from_bundle is not None:
                summary = syncer.from_bundle(Path(from_bundle), dry_run=dry_run)
            else:
                summary = syncer.sync(remote, dry_run=dry_run)
        except _sync.SyncError as exc:
            if exc.summary is not None and not dry_run:
                self._after_sync(exc.summary)
            raise
        if not dry_run:
            self._after_sync(summary)
        return summary

    def _after_sync(self, summary: _sync.SyncSummary) -> None:
        if summary.settings_changed:
            self.schemas = self._load_schemas()
            config, _problems = load_config((self.root / CONFIG_FILE).read_bytes(), self.schemas)
            if config is not None:
                self.config = config
                self.git.sign = config.policy.signing_required
            if self._index is not None:
                self._index.close()
                self._index = None
        self.refresh()

    def conflicts(self, record_id: str | None = None) -> list[_sync.ConflictNote]:
        """Fields kept with two values by sync, waiting for a person (one record, or the whole log)."""
        if record_id is not None:
            loaded = self._current(record_id)
            assert loaded.record is not None
            return _sync.conflict_notes(loaded.id, loaded.record)
        rows = self.index.query("json LIKE ?", ['%"conflicts":[%'], columns=["id", "json"])
        return [n for row in rows for n in _sync.conflict_notes(str(row["id"]), json.loads(row["json"]))]

    def resolve(self, record_id: str, choices: dict[str, str]) -> SaveResult:
        """Resolve kept conflicts: field path -> "ours" or "theirs"; one commit (action merge)."""
        from kakotui.sync import resolve as resolving
        from kakotui.sync.merge import ResolveError

        loaded = self._current(record_id)
        assert loaded.record is not None
        try:
            done = resolving.resolve(
                self.git,
                self.schemas,
                self.config,
                self.index,
                self.identity,
                path=loaded.path,
                record=loaded.record,
                blob=loaded.blob,
                choices=choices,
            )
        except ResolveError as exc:
            raise LogError(f"{loaded.id}: {exc}") from None
        return SaveResult(done.id, done.path, done.commit, "merge", done.message)

    @staticmethod
    def merge_driver(base: Path, ours: Path, theirs: Path, path: str) -> int:
        """git's merge driver for records (`kakotui merge-driver %O %A %B %P`): 0 merged, 1 not."""
        from kakotui.sync.driver import run_driver

        return run_driver(base, ours, theirs, path)

    # -- import and export (issue 7) -----------------------------------------------------------

    # Imported here rather than at the top so that this section stays the only part issue 7 touches.

    def check_many(
        self, items: Sequence[tuple[dict[str, Any], str]], progress: Progress | None = None
    ) -> list[list[Problem]]:
        """`check` for many (record, path) pairs: schema + rules, known ids read once, two processes when many."""
        return _importer.validate_many(items, self.schemas, self.config, self.index.ids(), progress=progress)

    def save_many(
        self,
        records: Sequence[dict[str, Any]],
        action: str,
        message: str,
        *,
        expected: dict[str, str | None] | None = None,
        progress: Progress | None = None,
    ) -> str:
        """Validate every record, write them all atomically and commit them as ONE commit; the commit id.

        `expected[id]` is the blob a record's file must hold now (None or absent: a new record whose file
        must not exist). Raises InvalidRecord (every problem, nothing written) or LogError; on any failure
        no file is left changed and HEAD has not moved.
        """
        items: list[tuple[dict[str, Any], str]] = []
        for record in records:
            try:
                items.append((record, RecordId.parse(str(record.get("id", ""))).path))
            except BadId as exc:
                raise InvalidRecord([Problem("", "id", "schema:pattern", str(exc))]) from None
        verdicts = _importer.check_records(items, self.schemas, self.config, self.index.ids(), render=True)
        problems = [p for v in verdicts for p in v.problems if p.severity == "error"]
        if problems:
            raise InvalidRecord(problems)
        for record, path in items:  # roles (issue 10): nothing when the log has none
            self._check_allowed(record, action, path)
        want = expected or {}
        entries = [
            (path, v.text or b"", v.index_row or (), want.get(str(record["id"])))
            for (record, path), v in zip(items, verdicts, strict=True)
        ]
        return self._save_checked(entries, action, message, progress)

    def _save_checked(
        self,
        entries: Sequence[tuple[str, bytes, tuple[Any, ...], str | None]],
        action: str,
        message: str,
        progress: Progress | None,
    ) -> str:
        """Write and commit checked, rendered records: (path, canonical text, index row, expected blob)."""
        from kakotui.interchange.batch import Conflict, commit_many

        if action not in ("import", "merge", "renumber", "edit"):
            raise LogError(f"save_many: action {action!r} is not a bulk action")
        if "Kakotui-Action:" not in message:
            message = message.rstrip("\n") + f"\n\nKakotui-Action: {action}\n"
        files = {path: text for path, text, _row, _blob in entries}
        want = {path: blob for path, _text, _row, blob in entries}
        db = self.index.db
        early = not db.in_transaction  # (a caller's open transaction is not ours to roll back)

        def index_rows() -> None:
            """Written while git packs the records and the files are made (SQLite works outside the
            GIL); committed only with the commit, rolled back if it fails."""
            self.index.upsert_many([row for _path, _text, row, _blob in entries])

        try:
            with _gc_paused():
                commit, old_head = commit_many(
                    self.git,
                    files,
                    want,
                    message,
                    self.identity,
                    progress=progress,
                    alongside=index_rows if early else None,
                )
        except Conflict as exc:
            if early:
                db.rollback()
            raise LogError(f"{exc}; nothing was saved: run the import again") from None
        except BaseException:
            if early:
                db.rollback()
            raise
        with db:
            if not early:
                index_rows()
            if self.index.head == old_head:
                self.index._set_meta("head", commit)
        maybe_maintain(self.git)
        return commit

    def read_sheet(self, path: Path | str, *, sheet: str | None = None) -> _sheets.Sheet:
        """A CSV or XLSX file as header and rows (LogError with a clear message if it cannot be read)."""
        try:
            with _gc_paused():
                return _sheets.read_sheet(path, sheet=sheet)
        except _sheets.SheetError as exc:
            raise LogError(str(exc)) from None

    def load_mapping(self, path: Path | str) -> _mapping.ColumnMapping:
        try:
            text = Path(path).read_bytes()
        except OSError as exc:
            raise LogError(f"cannot read the mapping {path}: {exc.strerror or exc}") from None
        try:
            return _mapping.load_mapping(text, name=Path(path).name)
        except _mapping.MappingError as exc:
            raise LogError(
                "the mapping file is not valid:\n" + "\n".join(f"  {p}" for p in exc.problems)
            ) from None

    def propose_mapping(self, sheet: _sheets.Sheet) -> _mapping.ColumnMapping:
        """The mapping import would use for `sheet` without a mapping file (write it with `mapping_text`)."""
        return _mapping.propose(sheet.headers, sheet.rows, source=sheet.name)

    def plan_import(
        self,
        sheet: _sheets.Sheet,
        *,
        mapping: _mapping.ColumnMapping | None = None,
        station: str | None = None,
        progress: _importer.PhaseProgress | None = None,
    ) -> _importer.ImportPlan:
        """Everything importing `sheet` would create, update and report, with nothing written."""
        if station is not None and station not in self.config.stations:
            raise LogError(
                f"unknown station {station!r}; kakotui.yaml lists: {', '.join(self.config.stations)}"
            )
        self.refresh()
        by_id, by_source = _importer.existing_from_rows(
            self.index.query("1", (), columns=["id", "path", "blob", "aliases", "json"])
        )

        def check(items: Any, total: int, batch_ids: Sequence[str]) -> list[Any]:
            counted = (lambda done, total: progress("checking", done, total)) if progress else None
            verdicts: list[Any] = _importer.check_records(
                items,
                self.schemas,
                self.config,
                self.index.ids(),
                render=True,
                progress=counted,
                total=total,
                batch_ids=batch_ids,
            )
            return verdicts

        view = _importer.LogView(
            config=self.config,
            person=self.identity.name,
            station=station or self.station,
            existing=by_id,
            by_source=by_source,
            max_seq=self.index.max_seq,
            path_exists=lambda rel: os.path.exists(os.path.join(self.root, rel)),  # once per new id
            check_many=check,
        )
        try:
            with _gc_paused():
                return _importer.plan_import(sheet, view, mapping=mapping, progress=progress)
        except _importer.ImportRefused as exc:
            raise LogError("\n".join([exc.message, *(f"  {p}" for p in exc.problems)])) from None

    def apply_import(
        self,
        plan: _importer.ImportPlan,
        *,
        on_error: str = "stop",
        file_name: str = "",
        progress: _importer.PhaseProgress | None = None,
    ) -> _importer.ImportResult:
        """Save a plan's valid records in one commit (action `import`); with problems and on_error
        "stop", save nothing."""
        if on_error not in ("stop", "skip"):
            raise LogError(f"on_error must be stop or skip, not {on_error!r}")
        result = _importer.ImportResult(plan)
        if plan.errors and on_error == "stop":
            result.stopped = True
            return result
        if not plan.to_save:
            return result
        counted = (lambda done, total: progress("writing", done, total)) if progress else None
        message = _importer.import_message(plan, file_name or plan.source)
        entries = [(p.path, p.text, p.index_row, p.expected_blob) for p in plan.to_save]
        result.commit = self._save_checked(entries, "import", message, counted)
        return result

    def import_(
        self,
        path: Path | str,
        *,
        mapping: Path | str | _mapping.ColumnMapping | None = None,
        sheet: str | None = None,
        station: str | None = None,
        on_error: str = "stop",
        dry_run: bool = False,
        progress: _importer.PhaseProgress | None = None,
    ) -> _importer.ImportResult:
        """Import a CSV/XLSX file: plan it, then (unless `dry_run`) save the valid rows in one commit."""
        given = self.load_mapping(mapping) if isinstance(mapping, (str, Path)) else mapping
        chosen = sheet or (given.sheet if given is not None else None)
        data = self.read_sheet(path, sheet=chosen)
        plan = self.plan_import(data, mapping=given, station=station, progress=progress)
        if dry_run:
            return _importer.ImportResult(
                plan, dry_run=True, stopped=bool(plan.errors and on_error == "stop")
            )
        return self.apply_import(plan, on_error=on_error, file_name=Path(path).name, progress=progress)

    def export(
        self,
        query: str = "",
        *,
        fmt: str = "csv",
        path: Path | str | None = None,
        stream: Any = None,
        lines: bool = False,
        progress: Progress | None = None,
    ) -> _exporter.ExportResult:
        """Write the records matching `query` as csv, xlsx, json or jsonl (one row per exception, or per
        reshipment cost line with `lines`) to `path` (atomically) or `stream`."""
        rows = self.records(query, columns=["id", "json"])
        unreadable = sum(1 for r in rows if r["json"] is None)
        records = (json.loads(r["json"]) for r in rows if r["json"] is not None)
        try:
            result = _exporter.write_export(
                records,
                self.config,
                fmt,
                path=Path(path) if path is not None else None,
                stream=stream,
                lines=lines,
                total=len(rows) - unreadable,
                progress=progress,
            )
        except (ValueError, OSError) as exc:
            raise LogError(f"export failed: {exc}") from None
        if unreadable:
            result.warnings.append(
                f"{unreadable} record file(s) cannot be read and were left out: run `kakotui validate`"
            )
        return result


def _identity_from_git(git: Git) -> Identity:
    name = os.environ.get("KAKOTUI_USER", "").strip()
    email = os.environ.get("KAKOTUI_EMAIL", "").strip()
    if not name or not email:  # one git process for both (the app reads them at every start)
        found: dict[str, str] = {}
        listing = git.run("config", "--get-regexp", r"^user\.(name|email)$", check=False).decode()
        for line in listing.splitlines():
            key, _, value = line.partition(" ")
            found[key.lower()] = value.strip()  # the last one wins, as with `git config --get`
        name = name or found.get("user.name", "")
        email = email or found.get("user.email", "")
    if not name:
        raise LogError(
            "who are you? set your name for this log: `kakotui whoami --set 'Li Wei' li.wei@example.com` "
            "(or git config user.name)"
        )
    return Identity(name, email or f"{name.lower().replace(' ', '.')}@localhost")


def _install_merge_driver(git: Git) -> None:
    git.run("config", "merge.kakotui.name", "kakotui YAML-aware record merge")
    git.run("config", "merge.kakotui.driver", "kakotui merge-driver %O %A %B %P")


def copy_schema(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for file in SCHEMA_FILES.values():
        shutil.copyfile(packaged_schema_dir() / file, dest / file)

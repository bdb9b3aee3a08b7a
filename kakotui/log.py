"""`ExceptionLog`: the one façade the CLI and the TUI hold; it wires core, store and the rest.

Everything a screen or a command can do is a method here, so it can be done (and tested) without
either. Errors come back as values (`Problem`s) or as `LogError`/`InvalidRecord` with a message
a person can act on; bad input never becomes a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from kakotui.core import lifecycle, yamlio
from kakotui.core.commits import commit_message
from kakotui.core.config import CONFIG_FILE, Config, load_config
from kakotui.core.ids import BadId, RecordId, id_from_path, is_record_path
from kakotui.core.problems import InvalidRecord, Problem
from kakotui.core.record import canonical, format_time, summarize, to_text
from kakotui.core.schemas import SCHEMA_FILES, Schemas, load_schema_texts, packaged_schema_dir
from kakotui.core.validation import check_text, validate_record
from kakotui.store import query as querylang
from kakotui.store.gitrepo import Git, GitError, Identity, atomic_write, init_repo, maybe_maintain, repo_lock
from kakotui.store.index import CatchUp, Index, Progress
from kakotui.store.scaffold import scaffold_files

__all__ = ["ExceptionLog", "InvalidRecord", "LogError", "Problem", "SaveResult"]


class LogError(Exception):
    """Something the person must fix before going on (not a data problem of one record)."""


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
        try:
            value = self.git.run("config", "--get", "kakotui.station", check=False).decode().strip()
        except GitError:
            value = ""
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
            self._index = Index(self.git, self.schemas, self.config)
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
        text = to_text(record, self.schemas).encode("utf-8")
        who = self.identity
        msg = message or commit_message(action, canonical(record, self.schemas), self.config)
        draft = self._write_draft(str(rid), record, action)
        with repo_lock(self.git.git_dir):
            file = self.root / path
            if create and file.exists():
                raise LogError(f"{rid} already exists; it was created by someone else in the meantime")
            current: bytes | None = None
            if not create:
                if not file.exists():
                    raise LogError(f"no record {rid} to update")
                current = file.read_bytes()
                if expected_blob is not None and self.git.blob_sha(current) != expected_blob:
                    raise LogError(
                        f"{rid} was changed by someone else since you opened it; reload it and apply your change again"
                    )
            old_head = self.git.head()
            try:
                atomic_write(file, text)
                commit = self.git.commit_files({path: text}, msg, who, expected_head=old_head)
            except (GitError, OSError) as exc:
                # The save did not happen: put the previous version back; the draft keeps the person's input.
                try:
                    if current is None:
                        file.unlink(missing_ok=True)
                    else:
                        atomic_write(file, current)
                except OSError:
                    pass
                raise LogError(f"could not save {rid}: {exc}; your input is kept as a draft") from None
            self.index.put(path, text, old_head=old_head, new_head=commit)
        draft.unlink(missing_ok=True)
        maybe_maintain(self.git)
        return SaveResult(str(rid), path, commit, action, msg)

    def _write_draft(self, record_id: str, record: dict[str, Any], action: str) -> Path:
        folder = self.git.git_dir / "kakotui" / "drafts"
        folder.mkdir(parents=True, exist_ok=True)
        draft = folder / f"{record_id}.json"
        atomic_write(draft, json.dumps({"action": action, "record": record}, ensure_ascii=False).encode())
        return draft

    def drafts(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Saves that did not finish (crash, failed commit): (id, action, record) to offer back."""
        folder = self.git.git_dir / "kakotui" / "drafts"
        out = []
        for file in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                data = json.loads(file.read_text("utf-8"))
                out.append((file.stem, str(data["action"]), dict(data["record"])))
            except (ValueError, KeyError, TypeError):
                continue
        return out

    def discard_draft(self, record_id: str) -> None:
        (self.git.git_dir / "kakotui" / "drafts" / f"{record_id}.json").unlink(missing_ok=True)

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
        rid = record_id or self.next_id(year, station)
        record = lifecycle.new_exception(rid, qc)
        return self.save(record, "create", create=True)

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

    # -- reports (issue 5) -------------------------------------------------------------------

    # -- sync between sites (issue 6) ----------------------------------------------------------

    # -- import and export (issue 7) -----------------------------------------------------------


def _identity_from_git(git: Git) -> Identity:
    name = os.environ.get("KAKOTUI_USER", "").strip()
    email = os.environ.get("KAKOTUI_EMAIL", "").strip()
    if not name:
        name = git.run("config", "--get", "user.name", check=False).decode().strip()
    if not email:
        email = git.run("config", "--get", "user.email", check=False).decode().strip()
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

"""Three-way merge of one exception record, field by field, that never loses a value.

Pure (no git, no files): `merge_records(base, ours, theirs)` is what the git merge driver and sync
both run. The rules, from DESIGN.md and the field:

- a field changed on one side only takes that change; fields changed on different sides both land;
- append-only lists keep every side's entries: vendor contacts and reopenings (by time and person,
  sorted by time), evidence (by link), reshipments (by `ref`; a reshipment this site created under
  a ref the other site also used is renumbered to the next free `-Rn`);
- `related`/`aliases` merge as sets; money and cost lines change as a whole;
- status never moves backwards: a decision, a customer confirmation or a closure is never dropped
  by the other side's older copy (a reopen, which records the closure it replaced, is the only way
  to remove a closure), and a reshipment's status takes the further of two changes;
- the same field changed to two different values is a conflict: the record keeps this site's value
  and a `conflicts` entry keeps both, until a person chooses (`resolve_conflicts`).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kakotui.core.record import parse_time


class _Missing:
    """A field absent from one version (distinct from an explicit null)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

Choice = str  # "ours" or "theirs"
CHOICES = ("ours", "theirs")

# Status ranks of a reshipment: a merge keeps the further one.
_RESHIP_RANK = {"pending": 0, "shipped": 1, "delivered": 2, "lost": 2, "returned": 2}
# Steps a merge never drops (DESIGN.md: status moves forward only).
MILESTONES = ("decision", "customer_confirmation", "closure")
_REF_NUMBER = re.compile(r"-R([1-9][0-9]*)$")


@dataclass(frozen=True)
class FieldConflict:
    """One field both sides changed to different values; None stands for "absent"."""

    path: str
    ours: Any
    theirs: Any


@dataclass
class MergeOutcome:
    record: dict[str, Any]
    conflicts: list[FieldConflict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Side:
    """Who stands behind one side of a merge (written into a kept conflict)."""

    commit: str = ""
    author: str = ""


class ResolveError(ValueError):
    """A resolution that cannot be applied (unknown field, or the value changed since)."""


def _eq(a: Any, b: Any) -> bool:
    if a is MISSING or b is MISSING:
        return a is b
    return bool(a == b) and type(a) is type(b)


def _plain(value: Any) -> Any:
    return None if value is MISSING else value


def _json_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


@dataclass(frozen=True)
class _Slot:
    """A list element in a path before its final position is known."""

    list_id: int
    key: str


PathT = tuple[Any, ...]


class _Merger:
    def __init__(self) -> None:
        self.conflicts: list[tuple[PathT, Any, Any]] = []
        self.notes: list[str] = []
        self._slots: dict[_Slot, int] = {}
        self._lists = 0

    # -- dispatch ---------------------------------------------------------------------------

    def value(self, path: PathT, b: Any, o: Any, t: Any) -> Any:
        if _eq(o, t):
            return o
        if _eq(o, b):
            return t
        if _eq(t, b):
            return o
        shape = tuple("*" if isinstance(p, _Slot | int) else p for p in path)
        special = _LISTS.get(shape)
        if special is not None and _all_lists(b, o, t):
            return special(self, path, b, o, t)
        if shape in (("related",), ("aliases",), ("conflicts",)) and _all_lists(b, o, t):
            return self.set_list(b, o, t)
        if (
            shape == ("reshipments", "*", "status")
            and o in _RESHIP_RANK
            and t in _RESHIP_RANK
            and _RESHIP_RANK[o] != _RESHIP_RANK[t]
        ):
            return o if _RESHIP_RANK[o] > _RESHIP_RANK[t] else t  # status never moves backwards
        if (
            isinstance(o, dict)
            and isinstance(t, dict)
            and (isinstance(b, dict) or shape in _ALWAYS_RECURSE)
            and not (shape and shape[-1] in _ATOMIC_NAMES)
        ):
            return self.mapping(path, b if isinstance(b, dict) else {}, o, t)
        self.conflicts.append((path, o, t))
        return o

    def mapping(self, path: PathT, b: dict[str, Any], o: dict[str, Any], t: dict[str, Any]) -> dict[str, Any]:
        keys = list(o) + [k for k in t if k not in o] + [k for k in b if k not in o and k not in t]
        out: dict[str, Any] = {}
        for key in keys:
            merged = self.value((*path, key), b.get(key, MISSING), o.get(key, MISSING), t.get(key, MISSING))
            if merged is not MISSING:
                out[key] = merged
        return out

    # -- lists ------------------------------------------------------------------------------

    @staticmethod
    def set_list(b: Any, o: list[Any], t: list[Any]) -> list[Any]:
        base = {_json_key(x) for x in b} if isinstance(b, list) else set()
        ours = {_json_key(x) for x in o}
        theirs = {_json_key(x) for x in t}
        out = [x for x in o if not (_json_key(x) in base and _json_key(x) not in theirs)]
        seen = {_json_key(x) for x in out}
        for x in t:
            k = _json_key(x)
            if k not in seen and k not in base and k not in ours:
                out.append(x)
                seen.add(k)
        return out

    def keyed_list(
        self,
        path: PathT,
        b: Any,
        o: list[Any],
        t: list[Any],
        key_of: Callable[[Any], str],
        order: Callable[[list[Any]], list[Any]] | None = None,
    ) -> list[Any]:
        self._lists += 1
        list_id = self._lists
        bk, ok, tk = _keyed(b if isinstance(b, list) else [], key_of), _keyed(o, key_of), _keyed(t, key_of)
        keys = list(ok) + [k for k in tk if k not in ok] + [k for k in bk if k not in ok and k not in tk]
        items: list[tuple[_Slot, Any]] = []
        for key in keys:
            slot = _Slot(list_id, key)
            bv, ov, tv = bk.get(key, MISSING), ok.get(key, MISSING), tk.get(key, MISSING)
            if bv is not MISSING and (ov is MISSING or tv is MISSING):
                # Deleted on one side: gone if the other side left it alone, kept if it changed it.
                other = tv if ov is MISSING else ov
                if other is MISSING or _eq(other, bv):
                    continue
                items.append((slot, other))
                continue
            if bv is MISSING and ov is not MISSING and tv is not MISSING and not _eq(ov, tv):
                # Both sides added an entry under the same key: two entries, nothing merged away.
                items.append((_Slot(list_id, key + "\0theirs"), tv))
                items.append((slot, ov))
                continue
            merged = self.value((*path, slot), bv, ov, tv)
            if merged is not MISSING:
                items.append((slot, merged))
        ordered = order([v for _, v in items]) if order else [v for _, v in items]
        # Map each slot to its final index (order() returns the same objects, possibly re-sorted).
        position = {id(v): i for i, v in enumerate(ordered)}
        for slot, v in items:
            self._slots[slot] = position[id(v)]
        return ordered

    def reshipments(self, path: PathT, b: Any, o: list[Any], t: list[Any]) -> list[Any]:
        """Keyed by ref; a ref both sides added with different content: this site's is renumbered."""
        base_refs = {r.get("ref") for r in b if isinstance(r, dict)} if isinstance(b, list) else set()
        theirs_by_ref = {r.get("ref"): r for r in t if isinstance(r, dict)}
        taken = {r.get("ref") for r in [*(b if isinstance(b, list) else []), *o, *t] if isinstance(r, dict)}
        numbers = [_ref_number(str(ref)) for ref in taken if isinstance(ref, str)]
        next_n = max([n for n in numbers if n is not None], default=0) + 1
        renamed: list[Any] = []
        for entry in o:
            ref = entry.get("ref") if isinstance(entry, dict) else None
            other = theirs_by_ref.get(ref)
            if ref not in base_refs and other is not None and not _eq(other, entry) and isinstance(ref, str):
                new_ref = _REF_NUMBER.sub(f"-R{next_n}", ref)
                next_n += 1
                self.notes.append(
                    f"reshipment {ref} made here also exists on the other side: kept as {new_ref}"
                )
                entry = {**entry, "ref": new_ref}
            renamed.append(entry)
        return self.keyed_list(path, b, renamed, t, lambda r: str(r.get("ref")), _by_ref)

    # -- paths ------------------------------------------------------------------------------

    def dotted(self, path: PathT) -> str:
        parts = [str(self._slots.get(p, 0)) if isinstance(p, _Slot) else str(p) for p in path]
        return ".".join(parts)


def _all_lists(b: Any, o: Any, t: Any) -> bool:
    return isinstance(o, list) and isinstance(t, list) and (b is MISSING or isinstance(b, list))


def _keyed(items: list[Any], key_of: Callable[[Any], str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        base = key_of(item) if isinstance(item, dict) else _json_key(item)
        key, n = base, 1
        while key in out:  # two entries with the same key on one side: keep both
            n += 1
            key = f"{base}#{n}"
        out[key] = item
    return out


def _time_key(value: Any) -> tuple[int, datetime | str]:
    parsed = parse_time(value)
    if parsed is None:
        return (1, str(value))
    return (0, parsed)


def _by_time(field_name: str) -> Callable[[list[Any]], list[Any]]:
    def order(items: list[Any]) -> list[Any]:
        def key(item: Any) -> tuple[int, Any]:
            stamp = item.get(field_name) if isinstance(item, dict) else None
            rank, value = _time_key(stamp)
            return (rank, value.timestamp() if isinstance(value, datetime) else 0.0)

        return sorted(items, key=key)

    return order


def _ref_number(ref: str) -> int | None:
    m = _REF_NUMBER.search(ref)
    return int(m.group(1)) if m else None


def _by_ref(items: list[Any]) -> list[Any]:
    def key(item: Any) -> int:
        n = _ref_number(str(item.get("ref"))) if isinstance(item, dict) else None
        return n if n is not None else 10**6

    return sorted(items, key=key)


def _who_when(item: dict[str, Any]) -> str:
    return f"{item.get('at')}|{item.get('by')}"


_LISTS: dict[tuple[str, ...], Callable[[_Merger, PathT, Any, Any, Any], Any]] = {
    ("vendor_contacts",): lambda m, p, b, o, t: m.keyed_list(p, b, o, t, _who_when, _by_time("at")),
    ("reopenings",): lambda m, p, b, o, t: m.keyed_list(p, b, o, t, _who_when, _by_time("at")),
    ("qc", "evidence"): lambda m, p, b, o, t: m.keyed_list(p, b, o, t, lambda e: str(e.get("link"))),
    ("reshipments",): lambda m, p, b, o, t: m.reshipments(p, b, o, t),
}
# Mappings merged key by key even when the base lacks them (always there in a valid record).
_ALWAYS_RECURSE = {(), ("qc",)}
# Values that change as a whole (money, cost lines); so do steps both sides added at once.
_ATOMIC_NAMES = {"total", "amount", "recovered", "costs", "previous_closure"}


def _guard_milestones(base: dict[str, Any], side: dict[str, Any]) -> dict[str, Any]:
    """A side that lost a step the base had (an old copy, a slip) is treated as not having touched it."""
    restored = dict(side)
    for key in MILESTONES:
        if key in base and key not in side:
            if key == "closure" and any(
                isinstance(r, dict) and r.get("previous_closure") == base[key]
                for r in side.get("reopenings", [])
            ):
                continue  # reopened: the closure was moved into reopenings, which is forward
            restored[key] = base[key]
    return restored


def merge_records(
    base: Mapping[str, Any] | None, ours: Mapping[str, Any], theirs: Mapping[str, Any]
) -> MergeOutcome:
    """Merge two versions of a record that share `base` (None when both sides created it)."""
    b = dict(base or {})
    o = _guard_milestones(b, dict(ours))
    t = _guard_milestones(b, dict(theirs))
    merger = _Merger()
    record = merger.mapping((), b, o, t)
    conflicts = [FieldConflict(merger.dotted(p), _plain(ov), _plain(tv)) for p, ov, tv in merger.conflicts]
    return MergeOutcome(record, conflicts, merger.notes)


def keep_conflicts(
    record: dict[str, Any], conflicts: Iterable[FieldConflict], ours: Side, theirs: Side, at: str
) -> dict[str, Any]:
    """`record` with `conflicts` appended to its `conflicts` list (the form the schema allows)."""
    kept = list(record.get("conflicts") or [])
    seen = {_json_key([c.get("path"), c.get("ours"), c.get("theirs")]) for c in kept if isinstance(c, dict)}
    for c in conflicts:
        key = _json_key([c.path, c.ours, c.theirs])
        if key in seen:
            continue
        seen.add(key)
        entry: dict[str, Any] = {"path": c.path, "ours": c.ours, "theirs": c.theirs}
        for label, side in (("ours", ours), ("theirs", theirs)):
            if side.commit:
                entry[f"{label}_commit"] = side.commit
            if side.author:
                entry[f"{label}_author"] = side.author
        entry["merged_at"] = at
        kept.append(entry)
    out = dict(record)
    if kept:
        out["conflicts"] = kept
    return out


# -- resolving ------------------------------------------------------------------------------------


def _split(path: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in path.split(".")]


def get_path(record: Any, path: str) -> Any:
    node = record
    for part in _split(path):
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return MISSING
    return node


def set_path(record: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path in place; value None (or MISSING) removes the field."""
    parts = _split(path)
    node: Any = record
    for i, part in enumerate(parts[:-1]):
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            if value is None or value is MISSING:
                return
            if isinstance(node, dict) and isinstance(part, str):
                node[part] = {}
                node = node[part]
            else:
                raise ResolveError(f"{'.'.join(str(p) for p in parts[: i + 1])} no longer exists") from None
    last = parts[-1]
    if value is None or value is MISSING:
        if isinstance(node, dict):
            node.pop(last, None)
        elif isinstance(node, list) and isinstance(last, int) and last < len(node):
            del node[last]
        return
    try:
        node[last] = value
    except (IndexError, TypeError):
        raise ResolveError(f"{path} no longer exists") from None


def resolve_conflicts(record: Mapping[str, Any], choices: Mapping[str, Choice]) -> dict[str, Any]:
    """`record` with the chosen side's value at each conflicting path, and those conflicts removed.

    Raises ResolveError for a path without a conflict, a choice other than ours/theirs, or a field
    whose value is neither side's any more (changed by hand since the merge).
    """
    out: dict[str, Any] = copy.deepcopy(dict(record))
    entries = [c for c in out.get("conflicts") or [] if isinstance(c, dict)]
    by_path: dict[str, dict[str, Any]] = {}
    for entry in entries:
        by_path[str(entry.get("path"))] = entry  # the latest entry of a path wins
    for path, choice in choices.items():
        if choice not in CHOICES:
            raise ResolveError(f"{path}: choose ours or theirs (got {choice!r})")
        found = by_path.get(path)
        if found is None:
            raise ResolveError(f"{path}: no unresolved conflict on this field")
        entry = found
        current = get_path(out, path)
        current = None if current is MISSING else current
        if not (_eq(current, entry.get("ours")) or _eq(current, entry.get("theirs"))):
            raise ResolveError(
                f"{path} was changed since the merge (it is neither side's value); edit it by hand instead"
            )
        set_path(out, path, entry.get(choice))
    remaining = [
        c for c in out.get("conflicts") or [] if not (isinstance(c, dict) and c.get("path") in choices)
    ]
    if remaining:
        out["conflicts"] = remaining
    else:
        out.pop("conflicts", None)
    return out


def record_conflicts(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The unresolved conflicts kept in a record (empty for a record without any)."""
    return [c for c in record.get("conflicts") or [] if isinstance(c, dict)]


# -- renumbering ----------------------------------------------------------------------------------


def renumber(record: Mapping[str, Any], new_id: str) -> dict[str, Any]:
    """The record under `new_id`, its old id kept in `aliases` (reshipment refs stay: they may be on labels)."""
    out: dict[str, Any] = copy.deepcopy(dict(record))
    old = str(out.get("id"))
    out["id"] = new_id
    aliases = [a for a in out.get("aliases") or [] if a != new_id]
    if old not in aliases:
        aliases.append(old)
    out["aliases"] = aliases
    return out


def retarget_related(record: Mapping[str, Any], old_id: str, new_id: str) -> dict[str, Any] | None:
    """`record` with references to `old_id` pointed at `new_id`, or None if it has none."""
    related = record.get("related")
    if not isinstance(related, list) or old_id not in related:
        return None
    out = dict(record)
    new_related: list[Any] = []
    for rid in related:
        value = new_id if rid == old_id else rid
        if value not in new_related:
            new_related.append(value)
    out["related"] = new_related
    return out

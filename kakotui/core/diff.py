"""Field-level changes between two versions of a record, and the append-only rules a change must keep.

Pure: mappings in, values out (no git, no files). A change is named by a dotted path (`qc.sku`,
`reshipments.0.status`); list items are matched by position, reshipments by their `ref` (a removed
reshipment is one removal, not a shift of every later one). Money (`{amount, currency}`) and empty
lists or mappings are leaves, so a change reads as one line: `reshipments.0.total: 38.50 CNY -> 40.00 CNY`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from kakotui.core.problems import Problem
from kakotui.core.textsafe import inert

ChangeKind = Literal["added", "removed", "changed"]
RecordStatus = Literal["added", "removed", "changed", "renamed"]

_KIND_MARK = {"added": "+", "removed": "-", "changed": "~"}


@dataclass(frozen=True)
class Change:
    """One leaf field that differs: its dotted path, the value before and after (None when absent)."""

    path: str
    old: Any
    new: Any
    kind: ChangeKind

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "old": self.old, "new": self.new}

    def __str__(self) -> str:
        return describe(self)


@dataclass(frozen=True)
class RecordChange:
    """One record file that differs between two states of the log, with its field changes."""

    id: str
    path: str
    status: RecordStatus
    changes: list[Change] = field(default_factory=list)
    old_path: str | None = None  # a renamed record: where it was
    problem: str | None = None  # a side that could not be read (not YAML, not a mapping)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "status": self.status,
            "old_path": self.old_path,
            "problem": self.problem,
            "changes": [c.to_dict() for c in self.changes],
        }


# ---------------------------------------------------------------------------------------------
# Leaves and changes


def is_money(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == {"amount", "currency"}
        and all(isinstance(v, str) for v in value.values())
    )


def is_leaf(value: Any) -> bool:
    """Whether a value is compared and shown as a whole (scalars, money, empty lists and mappings)."""
    return not isinstance(value, dict | list) or not value or is_money(value)


def leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    """Every leaf of `value` by dotted path, in document order (`{"qc": {"sku": "A"}}` -> `{"qc.sku": "A"}`)."""
    out: dict[str, Any] = {}
    _walk(value, prefix, out)
    return out


def _walk(value: Any, path: str, out: dict[str, Any]) -> None:
    if is_leaf(value):
        out[path] = value
        return
    items: Iterator[tuple[Any, Any]] = iter(value.items()) if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        _walk(item, f"{path}.{key}" if path else str(key), out)


def field_changes(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[Change]:
    """The leaf fields added, removed and changed from `old` to `new` (None: the record is absent)."""
    out: list[Change] = []
    _compare(old if old is not None else {}, new if new is not None else {}, "", out)
    return out


def _compare(old: Any, new: Any, path: str, out: list[Change]) -> None:
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict) and not is_money(old) and not is_money(new):
        for key in [*new, *(k for k in old if k not in new)]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in old:
                _added(new[key], sub, out)
            elif key not in new:
                _removed(old[key], sub, out)
            else:
                _compare(old[key], new[key], sub, out)
        return
    if isinstance(old, list) and isinstance(new, list):
        for i_old, i_new in _pair_items(old, new, by_ref=path == "reshipments"):
            if i_old is None:
                assert i_new is not None
                _added(new[i_new], f"{path}.{i_new}", out)
            elif i_new is None:
                _removed(old[i_old], f"{path}.{i_old}", out)
            else:
                _compare(old[i_old], new[i_new], f"{path}.{i_new}", out)
        return
    if is_leaf(old) and is_leaf(new):
        out.append(Change(path, old, new, "changed"))
        return
    _removed(old, path, out)  # a leaf became a group or the other way round: say both sides
    _added(new, path, out)


def _added(value: Any, path: str, out: list[Change]) -> None:
    out.extend(Change(p, None, v, "added") for p, v in leaves(value, path).items())


def _removed(value: Any, path: str, out: list[Change]) -> None:
    out.extend(Change(p, v, None, "removed") for p, v in leaves(value, path).items())


def _ref(item: Any) -> str | None:
    ref = item.get("ref") if isinstance(item, dict) else None
    return ref if isinstance(ref, str) else None


def _pair_items(old: list[Any], new: list[Any], *, by_ref: bool) -> list[tuple[int | None, int | None]]:
    """(old index, new index) pairs; None on one side for an item added or removed."""
    if by_ref:
        old_refs = [_ref(x) for x in old]
        new_refs = [_ref(x) for x in new]
        usable = (
            None not in old_refs
            and None not in new_refs
            and len(set(old_refs)) == len(old_refs)
            and len(set(new_refs)) == len(new_refs)
            and set(old_refs) & set(new_refs)  # no common ref at all: renumbered; go by position
        )
        if usable:
            where = {ref: i for i, ref in enumerate(old_refs)}
            pairs: list[tuple[int | None, int | None]] = []
            for j, ref in enumerate(new_refs):
                pairs.append((where.pop(ref, None), j))
            pairs.extend((i, None) for i in sorted(where.values()))
            return pairs
    common = min(len(old), len(new))
    out: list[tuple[int | None, int | None]] = [(i, i) for i in range(common)]
    out += [(i, None) for i in range(common, len(old))]
    out += [(None, j) for j in range(common, len(new))]
    return out


# ---------------------------------------------------------------------------------------------
# Showing values and changes


def format_value(value: Any, limit: int | None = 80) -> str:
    """A value as one short, inert line: money `38.50 CNY`, text as is, absent `(none)`."""
    if value is None:
        text = "(none)"
    elif is_money(value):
        text = f"{value['amount']} {value['currency']}"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, list | dict) and not value:
        text = "[]" if isinstance(value, list) else "{}"
    else:
        text = str(value)
    return inert(text, limit, single_line=True)


def describe(change: Change, limit: int | None = 60) -> str:
    """`~ qc.sku: HX-1 -> HX-2`, `+ decision.action: reship`, `- decision.reason: was this`."""
    mark = _KIND_MARK[change.kind]
    if change.kind == "added":
        return f"{mark} {change.path}: {format_value(change.new, limit)}"
    if change.kind == "removed":
        return f"{mark} {change.path}: {format_value(change.old, limit)}"
    return f"{mark} {change.path}: {format_value(change.old, limit)} -> {format_value(change.new, limit)}"


def _md_code(value: Any, limit: int = 120) -> str:
    """A value as a Markdown code span safe inside a table cell: no markup, no mention, no HTML."""
    if value is None:
        return ""
    text = format_value(value, limit).replace("|", "\\|")
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def markdown_report(
    changes: Sequence[RecordChange],
    *,
    base: str,
    target: str,
    other_files: Sequence[tuple[str, str]] = (),
    problems: Sequence[Problem] = (),
    max_rows: int = 400,
) -> str:
    """The semantic diff as Markdown for a pull-request comment: one table of fields per record."""
    counts = {s: sum(1 for c in changes if c.status == s) for s in ("added", "changed", "removed", "renamed")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no records changed"
    lines = [
        "### kakotui: record changes",
        "",
        f"{_md_code(base)} → {_md_code(target)}: {summary}.",
        "",
    ]
    if problems:
        lines += [f"**{len(problems)} problem(s)**:", ""]
        lines += [f"- {_md_code(str(p), 300)}" for p in problems[:50]]
        if len(problems) > 50:
            lines.append(f"- … and {len(problems) - 50} more")
        lines.append("")
    rows = 0
    for rc in changes:
        moved = f" (was {_md_code(rc.old_path)})" if rc.old_path else ""
        lines += [f"#### {_md_code(rc.id)}: {rc.status}{moved}", ""]
        if rc.problem:
            lines += [f"> {_md_code(rc.problem, 300)}", ""]
        if rows >= max_rows:
            lines += [f"{len(rc.changes)} field change(s) not shown (the comment would be too long).", ""]
            continue
        if rc.changes:
            lines += ["| field | before | after |", "|---|---|---|"]
            for change in rc.changes:
                lines.append(f"| {_md_code(change.path)} | {_md_code(change.old)} | {_md_code(change.new)} |")
                rows += 1
            lines.append("")
    if other_files:
        lines += ["#### other files", ""]
        lines += [f"- {status} {_md_code(path)}" for status, path in other_files]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


# ---------------------------------------------------------------------------------------------
# Append-only rules: what a later version of a record may not do to an earlier one


def _p(file: str, field_path: str, rule: str, message: str) -> Problem:
    return Problem(file, field_path, f"append-only:{rule}", message)


def _dicts(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _short(entry: Any, keys: Sequence[str]) -> str:
    if not isinstance(entry, dict):
        return format_value(entry, 60)
    parts = [format_value(entry[k], 60) for k in keys if k in entry]
    return ", ".join(parts)


def _list_kept(
    old: list[Any], new: list[Any], where: str, rule: str, noun: str, keys: Sequence[str], file: str, fix: str
) -> Iterator[Problem]:
    """Every entry of `old` must still be in `new`, unchanged and in the same place (new ones at the end)."""
    unmatched_new = list(range(len(new)))
    missing: list[int] = []
    for i, entry in enumerate(old):
        j = next((j for j in unmatched_new if new[j] == entry), None)
        if j is None:
            missing.append(i)
        else:
            unmatched_new.remove(j)
    for i in missing:
        if i in unmatched_new:  # something else sits where it was: it was rewritten
            detail = "; ".join(describe(c, 40) for c in field_changes(_as_map(old[i]), _as_map(new[i]))[:4])
            yield _p(
                file,
                f"{where}.{i}",
                rule,
                f"{noun} {i + 1} ({_short(old[i], keys)}) was rewritten ({detail}); {fix}",
            )
        else:
            yield _p(
                file, f"{where}.{i}", rule, f"{noun} {i + 1} ({_short(old[i], keys)}) was removed; {fix}"
            )
    if not missing and new[: len(old)] != old:
        yield _p(file, where, rule, f"the {noun}s were reordered; {fix}")


def _as_map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {"value": value}


def append_only_violations(
    old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, *, path: str = ""
) -> list[Problem]:
    """What the change from `old` to `new` rewrites that the audit trail keeps for good.

    Vendor contacts, evidence, reopenings and aliases only grow; reshipments are never removed and
    keep their ref and creation time; a closed record's costs and closure change only through a
    reopen (which moves the closure into `reopenings`); a changed id keeps the old one in `aliases`.
    `old` None (a new record) or `new` None (a deleted record: judged by the caller) give nothing.
    """
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return []
    problems: list[Problem] = []
    old_id, new_id = old.get("id"), new.get("id")
    new_aliases = _dicts(new.get("aliases"))
    renumbered = old_id != new_id and old_id in new_aliases
    if old_id != new_id and not renumbered:
        problems.append(
            _p(
                path,
                "id",
                "id",
                f"the id changed from {old_id} to {new_id} without keeping {old_id} in aliases",
            )
        )
    for alias in _dicts(old.get("aliases")):
        if alias not in new_aliases:
            problems.append(
                _p(
                    path,
                    "aliases",
                    "aliases",
                    f"former id {alias} was dropped from aliases; old ids are kept",
                )
            )
    old_qc = old.get("qc") if isinstance(old.get("qc"), dict) else {}
    new_qc = new.get("qc") if isinstance(new.get("qc"), dict) else {}
    assert isinstance(old_qc, dict) and isinstance(new_qc, dict)
    problems += _list_kept(
        _dicts(old_qc.get("evidence")),
        _dicts(new_qc.get("evidence")),
        "qc.evidence",
        "evidence",
        "evidence link",
        ("kind", "link"),
        path,
        "evidence is append-only: add the corrected link as a new entry",
    )
    problems += _list_kept(
        _dicts(old.get("vendor_contacts")),
        _dicts(new.get("vendor_contacts")),
        "vendor_contacts",
        "vendor-contacts",
        "vendor contact",
        ("at", "channel", "summary"),
        path,
        "vendor communication is append-only: log a new contact that corrects it",
    )
    problems += _list_kept(
        _dicts(old.get("reopenings")),
        _dicts(new.get("reopenings")),
        "reopenings",
        "reopenings",
        "reopening",
        ("at", "by", "reason"),
        path,
        "reopenings are the record's past closures and are kept",
    )
    problems += _reshipments_kept(old, new, path, renumbered)
    problems += _closed_kept(old, new, path, renumbered)
    return problems


def _renamed_ref(ref: Any, old_id: Any, new_id: Any) -> Any:
    if isinstance(ref, str) and isinstance(old_id, str) and ref.startswith(old_id + "-R"):
        return f"{new_id}{ref[len(old_id) :]}"
    return ref


def _reshipments_kept(
    old: Mapping[str, Any], new: Mapping[str, Any], path: str, renumbered: bool
) -> Iterator[Problem]:
    new_by_ref = {_ref(r): (j, r) for j, r in enumerate(_dicts(new.get("reshipments"))) if _ref(r)}
    for i, reship in enumerate(_dicts(old.get("reshipments"))):
        ref = _ref(reship)
        found = new_by_ref.get(ref)
        if found is None and renumbered:
            found = new_by_ref.get(_renamed_ref(ref, old.get("id"), new.get("id")))
        label = f"reshipment {ref or i + 1}"
        if found is None:
            yield _p(
                path,
                f"reshipments.{i}",
                "reshipments",
                f"{label} ({_short(reship, ('carrier', 'tracking', 'total'))}) was removed; reshipments are "
                "kept: set its status to lost or returned instead",
            )
            continue
        j, now = found
        if isinstance(reship, dict) and reship.get("created_at") != now.get("created_at"):
            yield _p(
                path,
                f"reshipments.{j}.created_at",
                "reshipments",
                f"{label} was created at {format_value(reship.get('created_at'))}; that time cannot be "
                f"rewritten (now {format_value(now.get('created_at'))})",
            )


_COST_PARTS = ("total", "costs")


def _closed_kept(
    old: Mapping[str, Any], new: Mapping[str, Any], path: str, renumbered: bool
) -> Iterator[Problem]:
    closure = old.get("closure")
    if not isinstance(closure, dict):
        return
    old_reopened = _dicts(old.get("reopenings"))
    new_reopened = _dicts(new.get("reopenings"))
    if len(new_reopened) > len(old_reopened):
        if not any(
            isinstance(r, dict) and r.get("previous_closure") == closure
            for r in new_reopened[len(old_reopened) :]
        ):
            yield _p(
                path,
                "reopenings",
                "closure",
                "the record was reopened, but the new reopening does not keep the closure it replaced",
            )
        return
    when = format_value(closure.get("closed_at"))
    status = format_value(closure.get("final_status"))
    now = new.get("closure")
    if not isinstance(now, dict):
        yield _p(
            path,
            "closure",
            "closure",
            f"the closure ({status}, {when}) was removed without a reopen; use `kakotui reopen`, which keeps "
            "it in reopenings",
        )
        return
    rewritten = [c for c in field_changes(closure, now) if c.path != "note"]
    if rewritten:
        yield _p(
            path,
            f"closure.{rewritten[0].path}",
            "closure",
            f"the closure of a closed record was rewritten ({describe(rewritten[0], 40)}); reopen it and close "
            "it again",
        )
    old_costs = _cost_view(old, renumbered, old.get("id"), new.get("id"))
    new_costs = _cost_view(new, False, None, None)
    cost_changes = field_changes(old_costs, new_costs)
    if cost_changes:
        first = cost_changes[0]
        yield _p(
            path,
            first.path,
            "closed-costs",
            f"the record is closed ({status}, {when}): its costs cannot change without a reopen "
            f"({describe(first, 40)}{'; ...' if len(cost_changes) > 1 else ''}); run `kakotui reopen` first",
        )


def _cost_view(record: Mapping[str, Any], rename: bool, old_id: Any, new_id: Any) -> dict[str, Any]:
    """Only the money of a record's reshipments (a vendor contact after closure is not a cost)."""
    reships = []
    for r in _dicts(record.get("reshipments")):
        if isinstance(r, dict):
            ref = _renamed_ref(r.get("ref"), old_id, new_id) if rename else r.get("ref")
            reships.append({"ref": ref, **{k: r[k] for k in _COST_PARTS if k in r}})
    return {"reshipments": reships}

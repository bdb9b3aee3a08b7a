"""Who may change what: people, roles and four-eyes rules from `kakotui.yaml`, checked against changes.

Pure: the settings mapping, an author, an action and the field changes of one commit in; violations
out (no git, no files). A log whose settings have no `roles:` section enforces nothing (every change
is allowed, as before roles existed). Field patterns are dotted paths with `*` wildcards
(`qc.*`, `reshipments.*.costs`); a pattern also covers everything below it (`closure` covers
`closure.note`). README "Who may change what" documents the settings.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from kakotui.core.diff import Change

# Files that decide what every record means or how the gate runs: admins only.
PROTECTED = (
    "kakotui.yaml",
    "schema/",
    ".kakotui/",
    ".github/",
    "CODEOWNERS",
    "docs/CODEOWNERS",
    ".gitattributes",
)
ALLOWED_SIGNERS = ".kakotui/allowed_signers"

APPROVE = "approve"
APPROVES_TRAILER = "Kakotui-Approves"
# Actions kakotui itself takes while syncing, and approvals (checked by their own rule): no role needed.
SYSTEM_ACTIONS = frozenset({"merge", "renumber", APPROVE, "init"})
# Fields a system action may touch on its own (the rest of its changes are checked as usual).
SYSTEM_FIELDS = {
    "renumber": ("id", "aliases", "related", "reshipments.*.ref"),
    "merge": ("conflicts",),
}
NEW_RECORD_FIELDS = ("schema_version", "id")  # set by kakotui on every new record


# ---------------------------------------------------------------------------------------------
# The settings


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    roles: tuple[str, ...] = ()
    signing_key: str | None = None

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


@dataclass(frozen=True)
class Role:
    """What the people holding a role may do: actions, fields (minus `except`), values, settings."""

    name: str
    actions: frozenset[str] = frozenset()
    fields: tuple[str, ...] = ()
    except_: tuple[str, ...] = ()
    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    admin: bool = False

    def may_act(self, action: str) -> bool:
        return "*" in self.actions or action in self.actions

    def field_verdict(self, path: str, new: Any) -> str | None:
        """None when this role may give `path` the value `new`; else why not."""
        if not any(matches(path, p) for p in self.fields):
            return "not among its fields"
        if any(matches(path, p) for p in self.except_):
            return "excluded by its except list"
        for pattern, allowed in self.values.items():
            if matches(path, pattern) and new is not None and str(new) not in allowed:
                return f"may set it only to {', '.join(allowed)}"
        return None


@dataclass(frozen=True)
class FourEyesRule:
    """A change that needs a second person's approval: `field` set (to one of `values`), by `action`,
    on a record costing at least `min_cost` (reporting currency); approved by one of `approvers`."""

    name: str
    field: str
    approvers: tuple[str, ...]
    action: str | None = None
    values: tuple[str, ...] | None = None
    min_cost: Decimal | None = None

    def describe(self) -> str:
        what = (
            f"{self.field} set to {' or '.join(self.values)}" if self.values else f"a change of {self.field}"
        )
        if self.min_cost is not None:
            what += f" on a record costing {self.min_cost} or more"
        return what


@dataclass(frozen=True)
class Policy:
    """The access settings of one version of `kakotui.yaml`."""

    people: tuple[Person, ...] = ()
    roles: Mapping[str, Role] = field(default_factory=dict)
    four_eyes: tuple[FourEyesRule, ...] = ()
    signing_required: bool = False
    enforced: bool = False  # a `roles:` section exists

    @classmethod
    def from_data(cls, data: Any) -> Policy:
        """The policy of a settings mapping; tolerant (a malformed part reads as absent)."""
        if not isinstance(data, dict):
            return cls()
        people = tuple(
            Person(
                str(p["name"]),
                str(p["email"]),
                tuple(str(r) for r in p.get("roles") or () if isinstance(r, str)),
                p.get("signing_key") if isinstance(p.get("signing_key"), str) else None,
            )
            for p in _dicts(data.get("people"))
            if isinstance(p.get("name"), str) and isinstance(p.get("email"), str)
        )
        raw_roles = data.get("roles")
        roles: dict[str, Role] = {}
        if isinstance(raw_roles, dict):
            for name, spec in raw_roles.items():
                spec = spec if isinstance(spec, dict) else {}
                raw_values = spec.get("values")
                values: dict[str, Any] = raw_values if isinstance(raw_values, dict) else {}
                roles[str(name)] = Role(
                    str(name),
                    frozenset(_strings(spec.get("actions"))),
                    tuple(_strings(spec.get("fields"))),
                    tuple(_strings(spec.get("except"))),
                    {str(k): tuple(str(x) for x in _strings(v)) for k, v in values.items()},
                    spec.get("admin") is True,
                )
        rules = []
        for spec in _dicts(data.get("four_eyes")):
            if not isinstance(spec.get("field"), str):
                continue
            try:
                min_cost = Decimal(str(spec["min_cost"])) if "min_cost" in spec else None
            except InvalidOperation:
                min_cost = None
            rules.append(
                FourEyesRule(
                    str(spec.get("name") or spec["field"]),
                    spec["field"],
                    tuple(_strings(spec.get("approvers"))),
                    spec.get("action") if isinstance(spec.get("action"), str) else None,
                    tuple(_strings(spec["values"])) if "values" in spec else None,
                    min_cost,
                )
            )
        signing = data.get("signing")
        return cls(
            people,
            roles,
            tuple(rules),
            isinstance(signing, dict) and signing.get("required") is True,
            isinstance(raw_roles, dict),
        )

    def person(self, email: str) -> Person | None:
        """The configured person with this email (case-insensitive), if any."""
        wanted = email.strip().lower()
        return next((p for p in self.people if p.email.lower() == wanted), None)

    def roles_of(self, person: Person | None) -> list[Role]:
        return [self.roles[r] for r in person.roles if r in self.roles] if person else []

    def is_admin(self, person: Person | None) -> bool:
        return any(r.admin for r in self.roles_of(person))

    def may_act(self, person: Person | None, action: str) -> tuple[bool, str]:
        """(allowed, reason when not) for taking `action` on a record."""
        if not self.enforced or action in SYSTEM_ACTIONS:
            return True, ""
        if person is None:
            return False, "not listed under people: in kakotui.yaml"
        roles = self.roles_of(person)
        if any(r.may_act(action) for r in roles):
            return True, ""
        return False, f"{_role_names(roles)} may not {action}"

    def may_set(self, person: Person | None, path: str, new: Any = None) -> tuple[bool, str]:
        """(allowed, reason when not) for changing field `path` to `new`."""
        if not self.enforced:
            return True, ""
        if person is None:
            return False, "not listed under people: in kakotui.yaml"
        roles = self.roles_of(person)
        reasons = []
        for role in roles:
            why = role.field_verdict(path, new)
            if why is None:
                return True, ""
            reasons.append(f"{role.name}: {why}")
        return False, "; ".join(reasons) if reasons else f"{_role_names(roles)} may change no fields"


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _role_names(roles: Sequence[Role]) -> str:
    if not roles:
        return "a person with no role"
    return "role " + " or ".join(r.name for r in roles)


def matches(path: str, pattern: str) -> bool:
    """Whether dotted `path` is `pattern` or lies below it (`*` matches any text, dots included)."""
    return fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(path, pattern + ".*")


def is_protected(path: str) -> bool:
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in PROTECTED)


# ---------------------------------------------------------------------------------------------
# Checking one commit


@dataclass(frozen=True)
class Author:
    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


@dataclass(frozen=True)
class RecordEdit:
    """One record file a commit changed: its path, the record before/after, the field changes."""

    path: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    changes: Sequence[Change]


@dataclass(frozen=True)
class Violation:
    """A change the policy forbids: which commit, whose, which file and field, which rule."""

    commit: str
    person: str
    file: str
    field: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.commit[:10]} by {self.person}: {self.file}: {self.field}: {self.message} [{self.rule}]"


def check_commit(
    policy: Policy,
    commit: str,
    author: Author,
    action: str | None,
    edits: Iterable[RecordEdit],
    other_files: Iterable[str] = (),
) -> list[Violation]:
    """Every rule the commit breaks under `policy` (the settings as they stood before it)."""
    if not policy.enforced:
        return []
    out: list[Violation] = []
    person = policy.person(author.email)
    who = str(author)

    def violation(file: str, path: str, rule: str, message: str) -> None:
        out.append(Violation(commit, who, file, path, rule, message))

    edits = list(edits)
    settings = [p for p in other_files if is_protected(p)]
    if person is None and (edits or settings):
        violation(
            (edits[0].path if edits else settings[0]),
            "",
            "policy:unknown-person",
            f"{author.email} is not listed under people: in kakotui.yaml, so may change nothing",
        )
        return out
    for path in settings:
        if not policy.is_admin(person):
            violation(
                path,
                "",
                "policy:admin-only",
                f"only admins may change {path} ({_role_names(policy.roles_of(person))})",
            )
    if not edits:
        return out
    act = action or "edit"
    ok, why = policy.may_act(person, act)
    if not ok:
        violation(edits[0].path, "", "policy:action", f"action {act}: {why}")
    exempt = SYSTEM_FIELDS.get(act, ())
    for edit in edits:
        for change in edit.changes:
            if edit.before is None and change.path in NEW_RECORD_FIELDS:
                continue
            if any(matches(change.path, p) for p in exempt):
                continue
            ok, why = policy.may_set(person, change.path, change.new)
            if not ok:
                violation(edit.path, change.path, "policy:field", f"may not change this field ({why})")
    return out


# ---------------------------------------------------------------------------------------------
# Four eyes


def four_eyes_rules(
    policy: Policy,
    action: str | None,
    edits: Iterable[RecordEdit],
    cost_of: Callable[[Mapping[str, Any]], Decimal | None],
) -> list[tuple[FourEyesRule, RecordEdit]]:
    """The four-eyes rules a commit triggers, with the record edit that triggers each."""
    found: list[tuple[FourEyesRule, RecordEdit]] = []
    for rule in policy.four_eyes:
        if rule.action is not None and rule.action != (action or "edit"):
            continue
        for edit in edits:
            hit = any(
                matches(c.path, rule.field)
                and c.kind != "removed"
                and (rule.values is None or str(c.new) in rule.values)
                for c in edit.changes
            )
            if not hit:
                continue
            if rule.min_cost is not None and edit.after is not None:
                cost = cost_of(edit.after)
                if cost is not None and cost < rule.min_cost:
                    continue  # an unknown cost (a missing FX rate) needs the approval: the safe side
            found.append((rule, edit))
    return found


def approval_verdict(
    policy: Policy, rule: FourEyesRule, change_author: Author, approver: Author
) -> str | None:
    """None when `approver` may approve `change_author`'s change under `rule`; else why not."""
    if approver.email.strip().lower() == change_author.email.strip().lower():
        return "approved by its own author"
    person = policy.person(approver.email)
    if person is None:
        return f"approver {approver.email} is not listed under people:"
    if not set(person.roles) & set(rule.approvers):
        return f"approver {approver} holds none of the roles {', '.join(rule.approvers)}"
    return None


def approval_message(commit: str, subject: str, record_ids: Sequence[str], note: str = "") -> str:
    """The message of an approval commit: an empty commit naming the commit it approves."""
    head = f"Approve {commit[:10]}: {subject}"[:200]
    parts = [head]
    if note.strip():
        parts.append(note.strip())
    trailers = [f"Kakotui-Record: {rid}" for rid in record_ids]
    trailers += [f"Kakotui-Action: {APPROVE}", f"{APPROVES_TRAILER}: {commit}"]
    parts.append("\n".join(trailers))
    return "\n\n".join(parts) + "\n"


# ---------------------------------------------------------------------------------------------
# Signing


def allowed_signers(policy: Policy) -> str:
    """The allowed-signers file (ssh-keygen(1) ALLOWED SIGNERS) for the people with a signing key."""
    lines = [
        "# Written by kakotui from people: in kakotui.yaml (`kakotui signers`); do not edit by hand.",
    ]
    for person in policy.people:
        if person.signing_key:
            key = " ".join(person.signing_key.split()[:2])  # type and base64, without the comment
            lines.append(f'{person.email} namespaces="git" {key}')
    return "\n".join(lines) + "\n"

"""A log kept by several people with roles (the access settings of issue 10), for the policy tests."""

from __future__ import annotations

import copy
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kakotui.core import yamlio
from kakotui.core.lifecycle import CostLine
from kakotui.core.money import Money
from kakotui.log import ExceptionLog
from kakotui.store.gitrepo import Identity
from kakotui.store.scaffold import config_text
from tests.helpers import config_data, qc


@dataclass(frozen=True)
class Someone:
    name: str
    email: str
    roles: tuple[str, ...]

    @property
    def identity(self) -> Identity:
        return Identity(self.name, self.email)


LI = Someone("Li Wei", "li.wei@example.com", ("inspector",))
CHEN = Someone("Chen Jing", "chen.jing@example.com", ("operations",))
ZHAO = Someone("Zhao Min", "zhao.min@example.com", ("finance",))
WANG = Someone("Wang Fang", "wang.fang@example.com", ("lead",))
ANA = Someone("Ana Admin", "ana@example.com", ("admin",))
EVERYONE = (LI, CHEN, ZHAO, WANG, ANA)

COSTS = ["reshipments.*.costs", "reshipments.*.total", "vendor_contacts.*.recovered"]

ROLES: dict[str, Any] = {
    "inspector": {"actions": ["create", "edit"], "fields": ["qc"]},
    "operations": {
        "actions": ["edit", "decide", "reship", "contact", "confirm", "close", "reopen"],
        "fields": ["*"],
        "except": COSTS,
        "values": {"closure.final_status": ["resolved", "escalated"]},
    },
    "finance": {"actions": ["edit", "reship", "contact"], "fields": ["reshipments", "vendor_contacts"]},
    "lead": {"actions": ["*"], "fields": ["*"]},
    "admin": {"admin": True},
}

FOUR_EYES: list[dict[str, Any]] = [
    {
        "name": "large-write-off",
        "action": "close",
        "field": "closure.final_status",
        "values": ["written-off"],
        "min_cost": "100.00",
        "approvers": ["finance"],
    }
]


def settings(*, signing: bool = False, keys: dict[str, str] | None = None) -> dict[str, Any]:
    data = config_data()
    data["people"] = []
    for person in EVERYONE:
        entry: dict[str, Any] = {"name": person.name, "email": person.email, "roles": list(person.roles)}
        if keys and person.email in keys:
            entry["signing_key"] = keys[person.email]
        data["people"].append(entry)
    data["roles"] = copy.deepcopy(ROLES)
    data["four_eyes"] = copy.deepcopy(FOUR_EYES)
    if signing:
        data["signing"] = {"required": True}
    return data


def make_policed_log(root: Path, **kwargs: Any) -> Path:
    """A log whose first commit (by the admin) already holds the roles."""
    ExceptionLog.init(root, station="SZ1", config=settings(**kwargs), identity=ANA.identity).close()
    return root


def as_(person: Someone, root: Path) -> ExceptionLog:
    return ExceptionLog(root, identity=person.identity)


def git(root: Path, *args: str, who: Someone | None = None) -> str:
    ident = ["-c", f"user.name={who.name}", "-c", f"user.email={who.email}"] if who else []
    return subprocess.run(
        ["git", "-C", str(root), *ident, *args], check=True, capture_output=True, text=True
    ).stdout


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").strip()


def hand_edit(root: Path, path: str, who: Someone, change: Any, message: str = "hand edit") -> str:
    """Change a record file outside kakotui and commit it as `who` (what push access allows anyone)."""
    file = root / path
    record = yamlio.load(file.read_bytes())
    change(record)
    with ExceptionLog(root) as log:
        file.write_text(_text(log, record))
    git(root, "commit", "-q", "-am", message, who=who)
    return head(root)


def _text(log: ExceptionLog, record: dict[str, Any]) -> str:
    from kakotui.core.record import to_text

    return to_text(record, log.schemas)


def write_settings(root: Path, data: dict[str, Any], who: Someone, message: str = "settings") -> str:
    (root / "kakotui.yaml").write_bytes(config_text(data))
    git(root, "commit", "-q", "-am", message, who=who)
    return head(root)


def reshipped_record(root: Path, amount: str = "150.00") -> str:
    """A record logged by Li, decided by Chen, reshipped with costs by Zhao; its id."""
    with as_(LI, root) as log:
        rid = log.new(qc(checked_at="2026-11-20T09:14:00+08:00")).id
    with as_(CHEN, root) as log:
        log.decide(rid, "reship", reason="hinge defect", at="2026-11-20T11:00:00+08:00")
    with as_(ZHAO, root) as log:
        log.reship(
            rid,
            carrier="sf-express",
            tracking="SF1234567890",
            costs=[CostLine("freight", Money.parse(f"{amount}CNY"), "vendor")],
            at="2026-11-21T10:00:00+08:00",
        )
    return rid

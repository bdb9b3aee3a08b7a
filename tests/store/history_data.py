"""Scripted record histories by several people, for the audit-trail tests (store, CLI, TUI).

`build_scripted` saves through the façade, one `ExceptionLog(root, identity=...)` per person (commit
times are the clock's); the renumbering is the commit sync would make (new file, old file removed,
old id kept in `aliases`, trailer `Kakotui-Action: renumber`). `build_fixed` makes a smaller history
with fixed commit times, so that screens showing dates and commit ids can be snapshotted.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kakotui.core import lifecycle
from kakotui.core.commits import commit_message
from kakotui.core.config import CONFIG_FILE
from kakotui.core.lifecycle import CostLine
from kakotui.core.money import Money
from kakotui.core.record import canonical, to_text
from kakotui.log import ExceptionLog
from kakotui.store.gitrepo import Identity, atomic_write, init_repo
from kakotui.store.scaffold import config_text
from tests.helpers import config_data, qc

LI = Identity("Li Wei", "li.wei@example.com")
CHEN = Identity("Chen Jing", "chen.jing@example.com")
WANG = Identity("Wang Fang", "wang.fang@example.com")
ZHAO = Identity("Zhao Lei", "zhao.lei@example.com")

OLD_ID = "SZ1-2026-00001"
NEW_ID = "SZ1-2026-00003"
OTHER_ID = "SZ1-2026-00002"
OLD_PATH = "records/2026/SZ1/000/SZ1-2026-00001.yaml"
NEW_PATH = "records/2026/SZ1/000/SZ1-2026-00003.yaml"
OTHER_PATH = "records/2026/SZ1/000/SZ1-2026-00002.yaml"


def _cny(amount: str) -> Money:
    return Money(Decimal(amount), "CNY")


def as_person(root: Path, who: Identity) -> ExceptionLog:
    log = ExceptionLog(root, identity=who)
    log.refresh()
    return log


def renumber(root: Path, old_id: str, new_id: str, who: Identity) -> str:
    """Move a record to a new id the way sync does: one commit, the old id kept in aliases."""
    log = as_person(root, who)
    old_path = log.get(old_id).path
    record = dict(log.get(old_id).record or {})
    record["aliases"] = [*record.get("aliases", []), old_id]
    record["id"] = new_id
    for i, reship in enumerate(record.get("reshipments", [])):
        reship["ref"] = f"{new_id}-R{i + 1}"
    text = to_text(record, log.schemas).encode()
    new_path = log.get(old_id).path.replace(old_id, new_id)
    atomic_write(root / new_path, text)
    (root / old_path).unlink()
    message = commit_message("renumber", canonical(record, log.schemas), log.config, detail=f"(was {old_id})")
    commit = log.git.commit_files({new_path: text, old_path: None}, message, who)
    log.close()
    return commit


def build_scripted(root: Path) -> dict[str, str]:
    """Two records; the first lives its whole life across four people and one renumbering.

    Returns the commit of each step by name.
    """
    commits: dict[str, str] = {}
    ExceptionLog.init(root, station="SZ1", site="SZ", config=config_data(), identity=ZHAO).close()
    log = as_person(root, LI)
    commits["create"] = log.new(qc()).commit
    commits["create-other"] = log.new(qc(order_id="KB-118834", sku="AB-0450-RED", vendor="acme-bags")).commit
    log.close()
    log = as_person(root, CHEN)
    commits["decide"] = log.decide(
        OLD_ID, "reship", reason="customer wants the item", at="2026-11-20T11:00:00+08:00"
    ).commit
    log.close()
    commits["renumber"] = renumber(root, OLD_ID, NEW_ID, ZHAO)
    log = as_person(root, CHEN)
    commits["reship"] = log.reship(
        NEW_ID,
        costs=[CostLine("freight", _cny("30.00"), "vendor"), CostLine("handling", _cny("8.50"), "warehouse")],
        carrier="sf-express",
        tracking="SF1234567890",
        status="shipped",
        at="2026-11-21T10:00:00+08:00",
    ).commit
    log.close()
    log = as_person(root, LI)
    commits["edit"] = log.edit(NEW_ID, [("qc.sku", "0123"), ("qc.quantity", "2")]).commit
    log.close()
    log = as_person(root, CHEN)
    commits["deliver"] = log.update_reshipment(
        NEW_ID, 1, status="delivered", delivered_at="2026-11-23T12:00:00+08:00"
    ).commit
    commits["contact"] = log.contact_vendor(
        NEW_ID,
        channel="chat",
        summary="Vendor credits the freight.",
        outcome="credit",
        recovered=_cny("30.00"),
        at="2026-11-22T10:00:00+08:00",
    ).commit
    commits["confirm"] = log.confirm_customer(
        NEW_ID, channel="platform", outcome="received-ok", at="2026-11-24T09:00:00+08:00"
    ).commit
    log.close()
    log = as_person(root, WANG)
    commits["close"] = log.close_record(
        NEW_ID, final_status="resolved", note="Freight recovered.", at="2026-11-24T10:00:00+08:00"
    ).commit
    log.close()
    return commits


def build_fixed(root: Path) -> ExceptionLog:
    """One record, five saves by three people at fixed times: the same commit ids on every run.

    The first commit holds only kakotui.yaml (made from tests.helpers.config_data), so that ids
    change only when that config or a record's canonical text does.
    """
    git = init_repo(root)
    settings = config_text(config_data())
    atomic_write(root / CONFIG_FILE, settings)
    git.run("config", "kakotui.station", "SZ1")
    start = datetime.fromisoformat("2026-11-01T09:00:00+08:00")
    git.commit_files(
        {CONFIG_FILE: settings}, "Start the exception log\n\nKakotui-Action: init\n", ZHAO, when=start
    )
    git.close()
    log = ExceptionLog(root, identity=ZHAO)
    rid = OLD_ID
    path = OLD_PATH
    record: dict[str, Any] = lifecycle.new_exception(rid, qc())
    steps: list[tuple[str, Identity, str, dict[str, Any], str | None]] = []
    steps.append(("2026-11-20T09:20:00+08:00", LI, "create", record, None))
    record = lifecycle.decide(record, "reship", "Chen Jing", "2026-11-20T11:00:00+08:00", "customer wants it")
    steps.append(("2026-11-20T11:01:00+08:00", CHEN, "decide", record, None))
    record = lifecycle.add_reshipment(
        record,
        created_at="2026-11-21T10:00:00+08:00",
        costs=[CostLine("freight", _cny("30.00"), "vendor"), CostLine("handling", _cny("8.50"), "warehouse")],
        carrier="sf-express",
        tracking="SF1234567890",
        status="shipped",
    )
    steps.append(("2026-11-21T10:02:00+08:00", CHEN, "reship", record, None))
    record = lifecycle.set_path(record, "qc.sku", "0123", log.schemas)
    record = lifecycle.set_path(
        record, "qc.description", "Hinge snapped.\x1b[31m [bold]not markup[/bold]", log.schemas
    )
    steps.append(("2026-11-21T16:30:00+08:00", LI, "edit", record, "qc.sku, qc.description"))
    record = lifecycle.update_reshipment(
        record, 0, status="delivered", delivered_at="2026-11-23T12:00:00+08:00"
    )
    steps.append(("2026-11-23T12:05:00+08:00", WANG, "reship", record, None))
    for when, who, action, rec, detail in steps:
        text = to_text(rec, log.schemas).encode()
        atomic_write(root / path, text)
        message = commit_message(action, canonical(rec, log.schemas), log.config, detail=detail)
        log.git.commit_files({path: text}, message, who, when=datetime.fromisoformat(when))
    log.refresh()
    return log


def isolated_build(tmp_path_factory: pytest.TempPathFactory, name: str, build: Any) -> tuple[Path, Any]:
    """Build a template log once per session with its own git config (not the machine's)."""
    home = tmp_path_factory.mktemp(f"{name}-home")
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test Runner\n\temail = runner@tests.invalid\n[init]\n\tdefaultBranch = main\n"
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("XDG_CONFIG_HOME", str(home / ".config"))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        mp.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
        root = tmp_path_factory.mktemp(name) / "log"
        result = build(root)
        if isinstance(result, ExceptionLog):
            result.close()
    return root, result


def copy_log(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest, symlinks=True)
    return dest

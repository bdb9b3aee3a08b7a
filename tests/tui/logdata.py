"""A small real log for the TUI tests and snapshots: ten records across the lifecycle, fixed dates."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kakotui.core.lifecycle import CostLine
from kakotui.core.money import Money
from kakotui.log import ExceptionLog
from tests.helpers import config_data

TODAY = date(2026, 12, 1)
"""The day the app counts ages from in tests (records are checked 2026-11-20 .. 2026-11-29)."""

EVIDENCE_FILE = "evidence/SZ1-2026-00001-clasp.jpg"


def _qc(day: int, vendor: str, code: str, severity: str, sku: str, title: str, **more: Any) -> dict[str, Any]:
    return {
        "checked_at": f"2026-11-{day:02d}T09:{day:02d}:00+08:00",
        "inspector": "Li Wei" if day % 2 else "Wang Fang",
        "order_id": f"KB-1188{day:02d}",
        "sku": sku,
        "item_title": title,
        "vendor": vendor,
        "failure_code": code,
        "severity": severity,
        "description": more.pop("description", f"{title}: {code.lower()} found at inspection."),
        **more,
    }


def _at(day: int, hour: int = 12) -> str:
    return f"2026-11-{day:02d}T{hour:02d}:00:00+08:00"


def _cny(amount: str) -> Money:
    return Money(Decimal(amount), "CNY")


def build_log(root: Path) -> ExceptionLog:
    """Create the log at `root` (an empty or missing folder) and return it opened, index built."""
    log = ExceptionLog.init(root, station="SZ1", site="SZ", config=config_data())
    # 1: the whole loop, closed
    r1 = log.new(
        _qc(
            20,
            "hx-leather",
            "DEFECTIVE-BrokenHinge",
            "major",
            "HX-2231-BLK",
            "Leather wallet, black",
            description="Clasp hinge snapped on opening.\nSecond unit from the same batch is fine.",
            evidence=[
                {"kind": "photo", "link": "https://photos.example.com/qc/SZ1-2026-00001.jpg"},
                {"kind": "photo", "link": EVIDENCE_FILE, "note": "close-up"},
            ],
        )
    ).id
    log.decide(r1, "reship", reason="customer wants the item", at=_at(20, 14))
    log.reship(
        r1,
        costs=[
            CostLine("freight", _cny("30.00"), "vendor"),
            CostLine("handling", _cny("8.50"), "warehouse"),
        ],
        carrier="sf-express",
        tracking="SF1234567890",
        status="shipped",
        at=_at(21),
    )
    log.update_reshipment(r1, 1, status="delivered", delivered_at=_at(23))
    log.contact_vendor(
        r1,
        channel="chat",
        summary="Sent photos; vendor credits the freight.",
        outcome="credit",
        recovered=_cny("30.00"),
        at=_at(22),
    )
    log.confirm_customer(r1, channel="chat", outcome="received-ok", at=_at(24))
    log.close_record(r1, final_status="resolved", note="Freight recovered from vendor.", at=_at(24, 16))
    # 2: open
    log.new(_qc(21, "acme-bags", "WRONG-ITEM-Color", "minor", "AB-0450-RED", "Tote bag, red"))
    # 3: refund decided, awaiting confirmation
    r3 = log.new(_qc(22, "yiwu-toys", "DAMAGED-Packaging", "critical", "YT-0099", "Puzzle box 1000 pcs")).id
    log.decide(r3, "refund", reason="box crushed, no stock left", at=_at(22, 15))
    # 4: reshipping, cost in USD (converted at 7.15)
    r4 = log.new(_qc(23, "hx-leather", "DEFECTIVE-Stitching", "major", "HX-3001-BRN", "Belt, brown")).id
    log.decide(r4, "reship", at=_at(23, 13))
    log.reship(
        r4,
        costs=[CostLine("freight", Money(Decimal("12.00"), "USD"), "vendor")],
        carrier="dhl",
        tracking="DHL-778812",
        status="shipped",
        at=_at(24),
    )
    # 5: open
    log.new(_qc(24, "acme-bags", "MISSING-PARTS-Strap", "major", "AB-0777", "Camera bag"))
    # 6: return to vendor, vendor contacted
    r6 = log.new(_qc(25, "yiwu-toys", "COUNTERFEIT", "critical", "YT-1200", "Branded plush toy")).id
    log.decide(r6, "return-to-vendor", reason="suspected fake", at=_at(25, 16))
    log.contact_vendor(
        r6, channel="email", summary="Asked for proof of origin.", outcome="pending", at=_at(26)
    )
    # 7: reshipping, carrier pays
    r7 = log.new(_qc(26, "hx-leather", "DAMAGED-Crushed", "major", "HX-5100", "Card holder")).id
    log.decide(r7, "reship", at=_at(26, 15))
    log.reship(
        r7,
        costs=[CostLine("freight", _cny("120.00"), "carrier"), CostLine("goods", _cny("45.00"), "carrier")],
        carrier="zto",
        tracking="ZT99001",
        at=_at(27),
    )
    # 8: open
    log.new(_qc(27, "acme-bags", "DEFECTIVE-Zipper", "minor", "AB-0901", "Backpack, grey"))
    # 9: decided reship, nothing shipped yet
    r9 = log.new(_qc(28, "yiwu-toys", "WRONG-ITEM-Model", "minor", "YT-0310", "Remote-control car")).id
    log.decide(r9, "reship", at=_at(28, 10))
    # 10: accepted as is and closed
    r10 = log.new(_qc(29, "hx-leather", "QTY-MISMATCH", "minor", "HX-0001", "Key ring (pack of 3)")).id
    log.decide(r10, "accept-as-is", reason="customer keeps 2 of 3", at=_at(29, 11))
    log.confirm_customer(r10, channel="email", outcome="received-ok", at=_at(29, 12))
    log.close_record(
        r10, final_status="written-off", note="one key ring short; not worth a reshipment", at=_at(29, 13)
    )
    evidence = root / EVIDENCE_FILE
    evidence.parent.mkdir(parents=True, exist_ok=True)
    evidence.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    log.refresh()
    return log


# ---------------------------------------------------------------- fixtures (imported by the test modules)


@pytest.fixture(scope="session")
def template_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample log, built once per run (30 commits) and copied for each test."""
    home = tmp_path_factory.mktemp("template-home")
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test Runner\n\temail = runner@tests.invalid\n[init]\n\tdefaultBranch = main\n"
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("XDG_CONFIG_HOME", str(home / ".config"))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        mp.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
        root = tmp_path_factory.mktemp("template") / "log"
        build_log(root).close()
    return root


@pytest.fixture
def log_root(template_log: Path, tmp_path: Path) -> Path:
    root = tmp_path / "log"
    shutil.copytree(template_log, root, symlinks=True)
    return root


@pytest.fixture
def log(log_root: Path) -> Iterator[ExceptionLog]:
    opened = ExceptionLog.open(log_root)
    yield opened
    opened.close()

"""A small fixed log for the report tests: every figure in the tests is computed by hand from it.

Commits are made through the façade with git's clock frozen at each step (QC check + a delay for
the first commit), so commit times, and with them the check-to-commit figures, are fixed.

Records (config: tests.helpers.config_data, rates only for 2026-11: USD 7.1500, EUR 7.8000;
SLA days decide 1, reship 3, close 14):

- R7 SZ2-2026-00001 acme-bags AC-3 QTY-MISMATCH minor, checked 2026-10-05 09:00; reship decided;
  reship R1 2026-10-06 CNY goods 50.00 vendor + fees 5.00 platform, delivered 10-08; vendor
  pending 10-09; vendor credit 30.00 CNY 2026-11-18 (partial recovery).
- R5 SZ1-2026-00001 hx-leather HX-2 MISSING-PARTS-Manual minor, checked 2026-10-20 09:00; reship
  created 2026-11-01 10:00 USD freight 4.00 vendor, delivered 11-03; credit 4.00 USD 11-04;
  confirmed, closed resolved 11-05 12:00.
- R1 SZ1-2026-00002 hx-leather HX-1 DEFECTIVE-BrokenHinge major qty 2, checked 2026-11-02 09:00,
  evidence; decided 15:00; reship 11-03 10:00 CNY freight 30.00 vendor + handling 8.50 warehouse,
  sf-express, delivered 11-05; credit 20.00 CNY 11-04 (partial); confirmed 11-06; closed 11-06 12:00.
  First commit 5 minutes after the check.
- R2 SZ1-2026-00003 hx-leather HX-1 (a repeat) DEFECTIVE-Stitching critical, checked 2026-11-10
  10:00, no evidence; decided 11-12 10:00 (late); reship 11-12 11:00 USD goods 10.00 vendor +
  freight 5.00 carrier (dhl), pending; vendor contact pending 11-13. First commit after 2 hours.
- R3 SZ2-2026-00002 acme-bags AC-9 WRONG-ITEM-Color minor, checked 2026-11-15 09:00, evidence;
  refund decided 12:00 without a reason; refund 12.00 EUR 11-16; confirmed 11-17; closed 11-17
  10:00; reopened 11-20 09:00. First commit after 1 minute.
- R4 SZ1-2026-00004 yiwu-toys YT-5 DAMAGED-Packaging major, checked 2026-11-30 20:00 (last day
  of November), no evidence, no description; open. First commit after 26 hours.
- R6 SZ1-2026-00005 hx-leather HX-1 DEFECTIVE-Zipper major, checked 2026-12-01 00:30 (first day
  of December); reship 12-02 10:00 EUR freight 15.00 vendor: no rate for 2026-12.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kakotui.core.lifecycle import CostLine
from kakotui.core.money import Money
from kakotui.log import ExceptionLog
from kakotui.store import gitrepo
from tests.helpers import config_data, qc

NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))
NOW = datetime.fromisoformat("2026-12-03T12:00:00+08:00")

R7, R5, R1, R2, R3, R4, R6 = (
    "SZ2-2026-00001",
    "SZ1-2026-00001",
    "SZ1-2026-00002",
    "SZ1-2026-00003",
    "SZ2-2026-00002",
    "SZ1-2026-00004",
    "SZ1-2026-00005",
)


class _Clock:
    """Stands in for gitrepo's `datetime`: `now()` is whatever the build says it is."""

    current = datetime.fromisoformat("2026-10-01T08:00:00+08:00")

    @classmethod
    def now(cls, tz: Any = None) -> datetime:
        return cls.current if tz is None else cls.current.astimezone(tz)


def _money(amount: str, currency: str) -> Money:
    return Money(Decimal(amount), currency)


def _t(text: str) -> str:
    return f"{text}+08:00"


def _at(text: str, delay: timedelta = timedelta(minutes=1)) -> str:
    """Set git's clock to `text` + delay (the commit is made a little after the step) and return `text`."""
    moment = datetime.fromisoformat(_t(text))
    _Clock.current = moment + delay
    return _t(text)


def _photo(rid: str) -> list[dict[str, str]]:
    return [{"kind": "photo", "link": f"https://photos.example.com/{rid}.jpg"}]


def build(root: Path) -> dict[str, str]:
    """Create the log at `root`; returns commit ids of interest ("r3_closed", "head")."""
    data = config_data()
    log = ExceptionLog.init(root, station="SZ1", site="SZ", config=data)
    commits: dict[str, str] = {}

    # R7: October, acme-bags, partial recovery in November
    checked = _at("2026-10-05T09:00:00", timedelta(minutes=3))
    log.new(
        qc(checked_at=checked, station="SZ2", vendor="acme-bags", sku="AC-3", failure_code="QTY-MISMATCH",
           severity="minor", inspector="Wang Fang", item_title="Tote", evidence=_photo(R7)),
        record_id=R7,
    )  # fmt: skip
    log.decide(R7, "reship", reason="short shipped", at=_at("2026-10-05T12:00:00"))
    log.reship(
        R7,
        costs=[CostLine("goods", _money("50.00", "CNY"), "vendor"), CostLine("fees", _money("5.00", "CNY"), "platform")],
        carrier="zto", tracking="ZT1", status="shipped", at=_at("2026-10-06T10:00:00"),
    )  # fmt: skip
    log.update_reshipment(R7, 1, status="delivered", delivered_at=_at("2026-10-08T10:00:00"))
    log.contact_vendor(
        R7, channel="chat", summary="Asked for a credit.", outcome="pending", at=_at("2026-10-09T10:00:00")
    )
    # R5: October check, November cost in USD, fully recovered, closed
    checked = _at("2026-10-20T09:00:00", timedelta(minutes=10))
    log.new(
        qc(checked_at=checked, vendor="hx-leather", sku="HX-2", failure_code="MISSING-PARTS-Manual",
           severity="minor", inspector="Li Wei", evidence=_photo(R5)),
        record_id=R5,
    )  # fmt: skip
    log.decide(R5, "reship", reason="manual missing", at=_at("2026-10-20T12:00:00"))
    log.reship(
        R5, costs=[CostLine("freight", _money("4.00", "USD"), "vendor")], carrier="dhl", tracking="DHL5",
        status="shipped", at=_at("2026-11-01T10:00:00"),
    )  # fmt: skip
    log.update_reshipment(R5, 1, status="delivered", delivered_at=_at("2026-11-03T10:00:00"))
    log.contact_vendor(
        R5, channel="chat", summary="Credit for freight.", outcome="credit", recovered=_money("4.00", "USD"),
        at=_at("2026-11-04T09:00:00"),
    )  # fmt: skip
    log.confirm_customer(R5, channel="chat", outcome="received-ok", at=_at("2026-11-05T10:00:00"))
    log.close_record(R5, final_status="resolved", at=_at("2026-11-05T12:00:00"))
    # R1: the whole loop, partial recovery
    checked = _at("2026-11-02T09:00:00", timedelta(minutes=5))
    log.new(
        qc(checked_at=checked, vendor="hx-leather", sku="HX-1", quantity=2, failure_code="DEFECTIVE-BrokenHinge",
           severity="major", inspector="Li Wei", evidence=_photo(R1)),
        record_id=R1,
    )  # fmt: skip
    log.decide(R1, "reship", reason="customer wants the item", at=_at("2026-11-02T15:00:00"))
    log.reship(
        R1,
        costs=[CostLine("freight", _money("30.00", "CNY"), "vendor"), CostLine("handling", _money("8.50", "CNY"), "warehouse")],
        carrier="sf-express", tracking="SF1", status="shipped", at=_at("2026-11-03T10:00:00"),
    )  # fmt: skip
    log.contact_vendor(
        R1, channel="chat", summary="Vendor credits part of the freight.", outcome="credit",
        recovered=_money("20.00", "CNY"), at=_at("2026-11-04T10:00:00"),
    )  # fmt: skip
    log.update_reshipment(R1, 1, status="delivered", delivered_at=_at("2026-11-05T10:00:00"))
    log.confirm_customer(R1, channel="chat", outcome="received-ok", at=_at("2026-11-06T10:00:00"))
    log.close_record(R1, final_status="resolved", at=_at("2026-11-06T12:00:00"))
    # R2: the same SKU fails again, critical, decided late, USD costs split vendor/carrier
    checked = _at("2026-11-10T10:00:00", timedelta(hours=2))
    log.new(
        qc(checked_at=checked, vendor="hx-leather", sku="HX-1", failure_code="DEFECTIVE-Stitching",
           severity="critical", inspector="Wang Fang"),
        record_id=R2,
    )  # fmt: skip
    log.decide(R2, "reship", at=_at("2026-11-12T10:00:00"))
    log.reship(
        R2,
        costs=[CostLine("goods", _money("10.00", "USD"), "vendor"), CostLine("freight", _money("5.00", "USD"), "carrier")],
        carrier="dhl", at=_at("2026-11-12T11:00:00"),
    )  # fmt: skip
    log.contact_vendor(
        R2, channel="email", summary="Claim opened.", outcome="pending", at=_at("2026-11-13T10:00:00")
    )
    # R3: refund in EUR, closed, then reopened
    checked = _at("2026-11-15T09:00:00", timedelta(minutes=1))
    log.new(
        qc(checked_at=checked, station="SZ2", vendor="acme-bags", sku="AC-9", failure_code="WRONG-ITEM-Color",
           severity="minor", inspector="Li Wei", evidence=_photo(R3)),
        record_id=R3,
    )  # fmt: skip
    log.decide(R3, "refund", at=_at("2026-11-15T12:00:00"))
    log.contact_vendor(
        R3, channel="platform", summary="Vendor refunded.", outcome="refund", recovered=_money("12.00", "EUR"),
        at=_at("2026-11-16T09:00:00"),
    )  # fmt: skip
    log.confirm_customer(R3, channel="chat", outcome="received-ok", at=_at("2026-11-17T09:00:00"))
    commits["r3_closed"] = log.close_record(R3, final_status="resolved", at=_at("2026-11-17T10:00:00")).commit
    log.reopen(R3, reason="customer found a second defect", at=_at("2026-11-20T09:00:00"))
    # R7 again: the partial credit arrives in November
    log.contact_vendor(
        R7, channel="chat", summary="Vendor credits 30.", outcome="credit", recovered=_money("30.00", "CNY"),
        at=_at("2026-11-18T10:00:00"),
    )  # fmt: skip
    # R4: the last day of November, open, no evidence and no description
    checked = _at("2026-11-30T20:00:00", timedelta(hours=26))
    log.new(
        qc(checked_at=checked, vendor="yiwu-toys", sku="YT-5", failure_code="DAMAGED-Packaging", severity="major",
           inspector="Zhou Min", description=None),
        record_id=R4,
    )  # fmt: skip
    # R6: the first day of December, a EUR cost without a December rate
    checked = _at("2026-12-01T00:30:00", timedelta(minutes=2))
    log.new(
        qc(checked_at=checked, vendor="hx-leather", sku="HX-1", failure_code="DEFECTIVE-Zipper", severity="major",
           inspector="Li Wei", evidence=_photo(R6)),
        record_id=R6,
    )  # fmt: skip
    log.decide(R6, "reship", at=_at("2026-12-01T09:00:00"))
    commits["head"] = log.reship(
        R6, costs=[CostLine("freight", _money("15.00", "EUR"), "vendor")], at=_at("2026-12-02T10:00:00")
    ).commit
    log.refresh()
    log.close()
    return commits


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def fixed_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    home = tmp_path_factory.mktemp("reports-home")
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test Runner\n\temail = runner@tests.invalid\n[init]\n\tdefaultBranch = main\n"
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("XDG_CONFIG_HOME", str(home / ".config"))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        mp.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
        for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
            mp.delenv(var, raising=False)
        mp.setattr(gitrepo, "datetime", _Clock)
        root = tmp_path_factory.mktemp("reports-template") / "log"
        commits = build(root)
    return root, commits


@pytest.fixture
def fixed_root(fixed_template: tuple[Path, dict[str, str]], tmp_path: Path) -> Path:
    root = tmp_path / "log"
    shutil.copytree(fixed_template[0], root, symlinks=True)
    return root


@pytest.fixture
def commits(fixed_template: tuple[Path, dict[str, str]]) -> dict[str, str]:
    return fixed_template[1]


@pytest.fixture
def fixed(fixed_root: Path) -> Iterator[ExceptionLog]:
    opened = ExceptionLog.open(fixed_root)
    opened.refresh()
    yield opened
    opened.close()

"""Builders shared by tests: a small config and records at each lifecycle stage."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

from kakotui.core.config import Config
from kakotui.store.scaffold import config_text, default_config

VENDORS = [
    {"id": "hx-leather", "name": "HX Leather Goods"},
    {"id": "acme-bags", "name": "Acme Bags"},
    {"id": "yiwu-toys", "name": "义乌 Bright Toys"},
]


def config_data() -> dict[str, Any]:
    data = default_config(station="SZ1", site="SZ", site_name="Shenzhen warehouse")
    data["stations"].append({"id": "SZ2", "site": "SZ"})
    data["vendors"] = copy.deepcopy(VENDORS)
    data["fx_rates"] = {"2026-11": {"USD": "7.1500", "EUR": "7.8000"}}
    return data


def config() -> Config:
    return Config.from_data(config_data())


def qc(**over: Any) -> dict[str, Any]:
    base = {
        "checked_at": "2026-11-20T09:14:00+08:00",
        "site": "SZ",
        "station": "SZ1",
        "inspector": "Li Wei",
        "order_id": "KB-118833",
        "sku": "HX-2231-BLK",
        "item_title": "Leather wallet, black",
        "quantity": 1,
        "vendor": "hx-leather",
        "failure_code": "DEFECTIVE-BrokenHinge",
        "severity": "major",
        "description": "Clasp hinge snapped on opening.",
    }
    base.update(over)
    return base


def record(stage: str = "open", rid: str = "SZ1-2026-00001") -> dict[str, Any]:
    """A valid record at a lifecycle stage: open, decided, reshipping, awaiting, closed."""
    rec: dict[str, Any] = {"schema_version": 1, "id": rid, "qc": qc()}
    if stage == "open":
        return rec
    rec["decision"] = {"action": "reship", "by": "Chen Jing", "at": "2026-11-20T11:00:00+08:00"}
    if stage == "decided":
        return rec
    rec["reshipments"] = [
        {
            "ref": f"{rid}-R1",
            "created_at": "2026-11-21T10:00:00+08:00",
            "carrier": "sf-express",
            "tracking": "SF1234567890",
            "status": "shipped",
            "shipped_at": "2026-11-21T15:00:00+08:00",
            "total": {"amount": "38.50", "currency": "CNY"},
            "costs": [
                {
                    "type": "freight",
                    "amount": {"amount": "30.00", "currency": "CNY"},
                    "responsible": "vendor",
                },
                {
                    "type": "handling",
                    "amount": {"amount": "8.50", "currency": "CNY"},
                    "responsible": "warehouse",
                },
            ],
        }
    ]
    if stage == "reshipping":
        return rec
    rec["reshipments"][0]["status"] = "delivered"
    rec["reshipments"][0]["delivered_at"] = "2026-11-23T12:00:00+08:00"
    if stage == "awaiting":
        return rec
    rec["vendor_contacts"] = [
        {
            "at": "2026-11-22T10:00:00+08:00",
            "by": "Chen Jing",
            "channel": "chat",
            "summary": "Vendor agreed to credit the freight.",
            "outcome": "credit",
            "recovered": {"amount": "30.00", "currency": "CNY"},
        }
    ]
    rec["customer_confirmation"] = {
        "at": "2026-11-24T09:00:00+08:00",
        "by": "Chen Jing",
        "channel": "platform",
        "outcome": "received-ok",
    }
    rec["closure"] = {
        "final_status": "resolved",
        "closed_at": "2026-11-24T10:00:00+08:00",
        "closed_by": "Wang Fang",
    }
    return rec


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout


def make_log(path: Path, station: str = "SZ1") -> Any:
    """A fresh log with the test config (vendors included)."""
    from kakotui.log import ExceptionLog

    data = config_data()
    data["stations"][0]["id"] = station if station in ("SZ1", "SZ2") else data["stations"][0]["id"]
    return ExceptionLog.init(path, station=station, config=data)


__all__ = ["config", "config_data", "config_text", "git", "make_log", "qc", "record"]

"""`digest` gives exactly what `summarize` and `facts.child_rows` give, for valid records."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest

from kakotui.core.config import Config
from kakotui.core.ids import path_for
from kakotui.core.record import summarize
from kakotui.core.schemas import packaged
from kakotui.core.validation import validate_record
from kakotui.interchange import sample
from kakotui.store import facts
from kakotui.store.digest import digest

SCHEMAS = packaged()


def _configs() -> list[Config]:
    full = sample.sample_config()
    sparse = copy.deepcopy(full)  # months without rates: costs not convertible
    rates = sparse.get("fx_rates") or {}
    sparse["fx_rates"] = {m: r for i, (m, r) in enumerate(sorted(rates.items())) if i % 2}
    usd = copy.deepcopy(full)
    usd["reporting_currency"] = "USD"
    return [Config.from_data(c) for c in (full, sparse, usd)]


def _variants(record: dict[str, Any]) -> list[dict[str, Any]]:
    out = [record]
    changed = copy.deepcopy(record)
    changed["aliases"] = ["SZ9-2025-00001"]
    for reship in changed.get("reshipments", []):
        if reship.get("status") == "pending":
            reship.pop("carrier", None)
    for contact in changed.get("vendor_contacts", []):
        if "recovered" in contact:
            contact["recovered"]["amount"] = "0.00"
    out.append(changed)
    return out


@pytest.mark.parametrize("seed", [3, 11])
def test_digest_is_summarize_and_child_rows(seed: int) -> None:
    records = sample.generate(500, seed=seed, start=date(2025, 1, 1), end=date(2026, 11, 25))
    checked = 0
    seen_missing_rate = False
    for config in _configs():
        for original in records:
            for record in _variants(original):
                path = path_for(record["id"])
                if validate_record(record, SCHEMAS, config, path=path):
                    continue  # digest is for valid records only
                missing_rate = summarize(record, config).cost_minor is None and record.get("reshipments")
                seen_missing_rate = seen_missing_rate or bool(missing_rate)
                for worktree in (False, True):
                    summary, rows = digest(path, record, config, worktree=worktree)
                    assert summary == summarize(record, config)
                    assert rows == facts.child_rows(path, record, config, valid=True, worktree=worktree)
                checked += 1
    assert checked > 2000 and seen_missing_rate
    stages = {summarize(r, _configs()[0]).status for r in records}
    assert stages == {"open", "decided", "reshipping", "awaiting-confirmation", "closed"}

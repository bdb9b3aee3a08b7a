"""The files a new log starts with (`kakotui init`): settings, schemas, gates for CI and pre-commit."""

from __future__ import annotations

from typing import Any

from kakotui.core import yamlio
from kakotui.core.record import KeyOrder
from kakotui.core.schemas import SCHEMA_FILES, packaged_schema_dir

DEFAULT_TAXONOMY: list[dict[str, Any]] = [
    {
        "category": "DEFECTIVE",
        "label": "Defective item",
        "codes": ["BrokenHinge", "Stitching", "Zipper", "Stain", "Electrical", "Scratch"],
    },
    {"category": "WRONG-ITEM", "label": "Wrong item sent", "codes": ["Size", "Color", "Model"]},
    {"category": "DAMAGED", "label": "Damaged in transit", "codes": ["Packaging", "Crushed", "WaterDamage"]},
    {"category": "MISSING-PARTS", "label": "Missing parts", "codes": ["Accessory", "Manual", "Strap"]},
    {"category": "COUNTERFEIT", "label": "Suspected counterfeit", "codes": []},
    {"category": "QTY-MISMATCH", "label": "Quantity does not match the order", "codes": []},
]

DEFAULT_CARRIERS: list[dict[str, Any]] = [
    {
        "id": "sf-express",
        "name": "SF Express",
        "tracking_url": "https://www.sf-express.com/track?no={tracking}",
    },
    {"id": "yto", "name": "YTO Express"},
    {"id": "zto", "name": "ZTO Express"},
    {"id": "ems", "name": "China EMS"},
    {"id": "dhl", "name": "DHL Express", "tracking_url": "https://www.dhl.com/track?tracking-id={tracking}"},
]

GITATTRIBUTES = """\
# Records merge field by field (kakotui merge-driver), never line by line.
records/**/*.yaml merge=kakotui
*.yaml text eol=lf
"""

WORKFLOW = """\
# Validation gate for pull requests: every record valid and canonical, and the semantic diff posted.
name: kakotui
on:
  pull_request:
  push:
    branches: [main]
jobs:
  validate:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - uses: actions/setup-python@v5
        with:
          python-version: '3.11'
      - run: pip install kakotui
      - name: Validate the records
        run: kakotui validate
      - name: Records are in canonical form
        run: kakotui fmt --check
"""

PRE_COMMIT = """\
# pre-commit hooks: refuse a commit with an invalid or non-canonical record.
repos:
  - repo: local
    hooks:
      - id: kakotui-validate
        name: kakotui validate
        entry: kakotui validate
        language: system
        pass_filenames: true
        files: ^records/.*\\.yaml$
      - id: kakotui-fmt
        name: kakotui fmt --check
        entry: kakotui fmt --check
        language: system
        pass_filenames: true
        files: ^records/.*\\.yaml$
"""


def default_config(
    *, station: str, site: str | None = None, site_name: str | None = None, name: str | None = None
) -> dict[str, Any]:
    site_code = site or "".join(ch for ch in station if ch.isalpha())[:8] or station
    return {
        "schema_version": 1,
        "name": name or f"{site_name or site_code} QC exception log",
        "timezone": "+08:00",
        "sites": [{"code": site_code, "name": site_name or site_code}],
        "stations": [{"id": station, "site": site_code}],
        "currencies": ["CNY", "USD", "EUR"],
        "reporting_currency": "CNY",
        "fx_rates": {},
        "failure_codes": DEFAULT_TAXONOMY,
        "vendors": [],
        "carriers": DEFAULT_CARRIERS,
        "sla_days": {"decide": 1, "reship": 3, "close": 14},
    }


def config_text(config: dict[str, Any]) -> bytes:
    import json

    schema = json.loads((packaged_schema_dir() / SCHEMA_FILES["config"]).read_text("utf-8"))
    return yamlio.dump(KeyOrder(schema).apply(config)).encode("utf-8")


def scaffold_files(
    *,
    station: str,
    site: str | None = None,
    site_name: str | None = None,
    name: str | None = None,
    config: dict[str, Any] | None = None,
) -> dict[str, bytes]:
    """Repository-relative path -> content for a new log."""
    settings = config or default_config(station=station, site=site, site_name=site_name, name=name)
    files = {
        "kakotui.yaml": config_text(settings),
        ".gitattributes": GITATTRIBUTES.encode(),
        ".github/workflows/kakotui.yml": WORKFLOW.encode(),
        ".pre-commit-config.yaml": PRE_COMMIT.encode(),
        "records/.gitkeep": b"",
    }
    for file in SCHEMA_FILES.values():
        files[f"schema/{file}"] = (packaged_schema_dir() / file).read_bytes()
    return files

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
# The review gate of this log (written by `kakotui init`; see the kakotui README, "Review").
# On a pull request: post the semantic diff (records and fields, not YAML lines) as a comment, then
# check that the records are canonical and that what the pull request changes is valid and breaks
# nothing elsewhere: references from other records, duplicate ids, append-only history.
# On a push to main: every record is validated.
name: kakotui
on:
  pull_request:
  push:
    branches: [main]
permissions:
  contents: read
  pull-requests: write
jobs:
  validate:
    runs-on: ubuntu-latest
    env:
      BASE: origin/${{ github.base_ref }}
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - uses: actions/setup-python@v5
        with:
          python-version: '3.11'
      - run: pip install kakotui
      - name: Semantic diff of the pull request
        if: github.event_name == 'pull_request'
        run: kakotui diff "$BASE" HEAD --format md > kakotui-diff.md
      - name: Post the diff as a comment (updated on each push)
        if: github.event_name == 'pull_request'
        continue-on-error: true
        uses: actions/github-script@v7
        with:
          script: |
            const fs = require('fs');
            const marker = '<!-- kakotui-diff -->';
            let body = marker + '\\n' + fs.readFileSync('kakotui-diff.md', 'utf8');
            if (body.length > 65000) body = body.slice(0, 65000) + '\\n\\n(cut: run `kakotui diff` locally)';
            const { owner, repo } = context.repo;
            const issue_number = context.issue.number;
            const comments = await github.paginate(github.rest.issues.listComments, { owner, repo, issue_number });
            const mine = comments.find((c) => c.body && c.body.startsWith(marker));
            if (mine) {
              await github.rest.issues.updateComment({ owner, repo, comment_id: mine.id, body });
            } else {
              await github.rest.issues.createComment({ owner, repo, issue_number, body });
            }
      - name: Records are in canonical form
        run: kakotui fmt --check
      - name: What the pull request changes is valid and breaks nothing elsewhere
        if: github.event_name == 'pull_request'
        run: kakotui validate --since "$BASE"
      - name: Every record is valid
        if: github.event_name != 'pull_request'
        run: kakotui validate
      - name: The pull request's commits are signed by the people of kakotui.yaml (where it requires signing)
        if: github.event_name == 'pull_request'
        run: kakotui verify "$BASE..${{ github.event.pull_request.head.sha }}"
"""

CODEOWNERS_HEAD = """\
# Who must approve a change to the rules of this log (written by `kakotui init`; see the kakotui
# README, "Who may change what"). With branch protection's "Require review from Code Owners", a pull
# request that touches these files cannot merge without an admin's review. Owners are git host
# users or teams (@name, @org/team) or the emails of their accounts.
"""

CODEOWNERS_PATHS = ("/kakotui.yaml", "/schema/", "/.kakotui/", "/.github/", "/.gitattributes")


def codeowners(config: dict[str, Any]) -> bytes:
    """CODEOWNERS for the settings, schemas and gates: the admins of `config`, or a placeholder."""
    raw = config.get("roles")
    roles: dict[str, Any] = raw if isinstance(raw, dict) else {}
    admin_roles = {name for name, spec in roles.items() if isinstance(spec, dict) and spec.get("admin")}
    owners = [
        str(p["email"])
        for p in config.get("people", [])
        if isinstance(p, dict) and admin_roles & set(p.get("roles") or ()) and p.get("email")
    ]
    text = CODEOWNERS_HEAD
    if not owners:
        text += "# Replace @your-org/kakotui-admins with the people or team who administer this log.\n"
        owners = ["@your-org/kakotui-admins"]
    width = max(len(p) for p in CODEOWNERS_PATHS) + 2
    text += "".join(f"{path.ljust(width)}{' '.join(owners)}\n" for path in CODEOWNERS_PATHS)
    return text.encode("utf-8")


PRE_COMMIT = """\
# pre-commit hooks (https://pre-commit.com; `pre-commit install`): refuse a commit whose records are
# invalid, not canonical, or break a rule elsewhere (references, duplicate ids, append-only history).
# pre-commit stashes unstaged changes first, so what is checked is what is staged.
repos:
  - repo: local
    hooks:
      - id: kakotui-validate
        name: kakotui validate --since HEAD
        entry: kakotui validate --since HEAD
        language: system
        pass_filenames: false
        files: ^(records/.*\\.yaml|kakotui\\.yaml|schema/.*)$
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
        ".github/CODEOWNERS": codeowners(settings),
        ".pre-commit-config.yaml": PRE_COMMIT.encode(),
        "records/.gitkeep": b"",
    }
    for file in SCHEMA_FILES.values():
        files[f"schema/{file}"] = (packaged_schema_dir() / file).read_bytes()
    return files

"""`kakotui report ...` on the fixed log: formats, filters, --at, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from kakotui.cli import main
from tests.reports.fixedlog import R2


def run(root: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--repo", str(root), "report", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


NOV = ["--since", "2026-11", "--until", "2026-11"]


def test_every_report_in_every_format(fixed_root: Path) -> None:
    for name in ("scorecard", "costs", "reconcile", "audit", "trends", "meeting"):
        for fmt in ("table", "csv", "json", "md"):
            code, out, err = run(fixed_root, name, *NOV, "--format", fmt)
            assert code == 0, (name, fmt, err)
            assert out.strip(), (name, fmt)
            if fmt == "json":
                assert json.loads(out)["meta"]["period"] == "2026-11-01 to 2026-11-30"


def test_costs_csv_and_table(fixed_root: Path) -> None:
    code, out, _ = run(fixed_root, "costs", *NOV, "--format", "csv")
    assert code == 0
    assert out.splitlines()[-1] == "total,,,,5,,174.35"
    code, out, _ = run(fixed_root, "costs", *NOV, "--format", "csv", "--part", "currencies")
    assert out.splitlines() == [
        "currency,lines,amount,amount CNY",
        "CNY,2,38.50,38.50",
        "USD,3,19.00,135.85",
        "total,5,,174.35",
    ]
    code, out, _ = run(fixed_root, "costs", *NOV)
    assert "Cost attribution" in out and "By original currency" in out and "174.35" in out


def test_filters_and_trends_options(fixed_root: Path) -> None:
    code, out, _ = run(fixed_root, "scorecard", *NOV, "--vendor", "acme-bags", "--format", "csv")
    assert code == 0
    assert [line.split(",")[0] for line in out.splitlines()] == ["vendor", "acme-bags", "total"]
    code, out, _ = run(fixed_root, "trends", *NOV, "--by", "month", "--group", "station", "--format", "csv")
    assert out.splitlines() == ["month,SZ1,SZ2,total", "2026-11,3,1,4", "total,3,1,4"]


def test_meeting_is_markdown_stamped_with_the_revision(fixed_root: Path) -> None:
    code, out, _ = run(fixed_root, "meeting", *NOV)
    assert code == 0
    assert out.startswith("# Review meeting:")
    assert "revision: " in out and "## Vendor scorecard" in out


def test_at_revision(fixed_root: Path) -> None:
    code, head, _ = run(fixed_root, "audit", *NOV, "--format", "json")
    code, past, err = run(fixed_root, "audit", *NOV, "--format", "json", "--at", "HEAD~1")
    assert code == 0, err
    assert json.loads(past)["meta"]["revision"] != json.loads(head)["meta"]["revision"]
    code, _, err = run(fixed_root, "audit", "--at", "--upload-pack=touch")
    assert code == 1 and "refused revision" in err


def test_errors_and_exit_codes(fixed_root: Path) -> None:
    code, out, err = run(fixed_root, "costs")
    assert code == 1 and out == ""
    assert "no FX rate to CNY for EUR in 2026-12" in err
    code, _, err = run(fixed_root, "costs", "--since", "2026-13")
    assert code == 2 and "not a date" in err
    code, _, err = run(fixed_root, "scorecard", *NOV, "--format", "csv", "--part", "nope")
    assert code == 2 and "no part 'nope'" in err
    code, out, _ = run(
        fixed_root, "audit", "--since", "2026-11-10", "--until", "2026-11-30", "--format", "json"
    )
    sla = json.loads(out)["rows"]
    assert sla[0]["drill"] == f"id:{R2}"

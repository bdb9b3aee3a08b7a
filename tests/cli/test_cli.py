"""Every CLI command on a real log: output, exit codes (0 ok, 1 invalid data, 2 usage)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kakotui.cli import main
from kakotui.store.scaffold import config_text
from tests.helpers import config_data, git


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "log"
    result = CliRunner().invoke(
        main, ["init", str(root), "--station", "SZ1", "--site", "SZ", "--site-name", "Shenzhen"]
    )
    assert result.exit_code == 0, result.output
    (root / "kakotui.yaml").write_bytes(config_text(config_data()))
    git(root, "commit", "-qam", "add vendors")
    return root


def run(repo: Path, *args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--repo", str(repo), *args], input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


NEW = [
    "new",
    "--vendor",
    "hx-leather",
    "--sku",
    "0123",
    "--order",
    "KB-1",
    "--code",
    "DEFECTIVE-Stitching",
    "--checked-at",
    "2026-11-20T09:14:00+08:00",
]


def test_help_for_every_command() -> None:
    runner = CliRunner()
    commands = [
        "init",
        "new",
        "show",
        "list",
        "edit",
        "decide",
        "reship",
        "contact",
        "close",
        "reopen",
        "validate",
        "fmt",
        "index",
        "demo",
        "station",
        "whoami",
        "tui",
    ]
    for name in commands:
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Usage:" in result.output


def test_new_show_list(repo: Path) -> None:
    code, out, _ = run(repo, *NEW, "--title", "Wallet", "--evidence", "https://img.example.com/1.jpg")
    assert code == 0 and out.startswith("SZ1-2026-00001: saved (create")
    code, out, _ = run(repo, "show", "SZ1-2026-00001")
    assert code == 0 and "sku: '0123'" in out and "link: 'https://img.example.com/1.jpg'" in out
    code, out, _ = run(repo, "show", "SZ1-2026-00001", "--format", "json")
    assert json.loads(out)["record"]["qc"]["sku"] == "0123"
    code, out, _ = run(repo, "list", "--format", "json")
    rows = json.loads(out)
    assert [r["id"] for r in rows] == ["SZ1-2026-00001"] and rows[0]["status"] == "open"
    code, out, _ = run(repo, "list", "vendor:hx-leather", "status:open")
    assert code == 0 and "SZ1-2026-00001" in out and "0123" in out
    code, out, _ = run(repo, "list", "--format", "csv")
    assert out.splitlines()[0].startswith("id,status")


def test_full_lifecycle_on_the_command_line(repo: Path) -> None:
    assert run(repo, *NEW)[0] == 0
    rid = "SZ1-2026-00001"
    assert (
        run(
            repo,
            "decide",
            rid,
            "--action",
            "reship",
            "--reason",
            "vendor fault",
            "--at",
            "2026-11-20T11:00:00+08:00",
        )[0]
        == 0
    )
    code, out, err = run(
        repo,
        "reship",
        rid,
        "--carrier",
        "sf-express",
        "--tracking",
        "SF123",
        "--cost",
        "30CNY",
        "--responsible",
        "vendor",
        "--cost",
        "8.50CNY",
        "--responsible",
        "warehouse",
        "--type",
        "freight",
        "--type",
        "handling",
        "--at",
        "2026-11-21T10:00:00+08:00",
    )
    assert code == 0, err
    assert (
        git(repo, "log", "-1", "--format=%s").strip()
        == f"{rid}: reship via SF Express, 38.50 CNY to vendor and warehouse"
    )
    assert (
        run(
            repo, "reship", rid, "--update", "1", "--status", "delivered", "--at", "2026-11-23T10:00:00+08:00"
        )[0]
        == 0
    )
    assert (
        run(
            repo,
            "contact",
            rid,
            "--vendor",
            "--summary",
            "credit agreed",
            "--outcome",
            "credit",
            "--recovered",
            "30CNY",
            "--at",
            "2026-11-22T10:00:00+08:00",
        )[0]
        == 0
    )
    code, _, err = run(repo, "close", rid, "--final-status", "resolved", "--at", "2026-11-24T10:00:00+08:00")
    assert code == 1 and "customer_confirmation" in err and "nothing was saved" in err
    assert (
        run(
            repo,
            "contact",
            rid,
            "--customer",
            "--channel",
            "platform",
            "--outcome",
            "received-ok",
            "--at",
            "2026-11-24T09:00:00+08:00",
        )[0]
        == 0
    )
    assert run(repo, "close", rid, "--final-status", "resolved", "--at", "2026-11-24T10:00:00+08:00")[0] == 0
    code, out, _ = run(repo, "list", "status:closed", "--format", "json")
    assert json.loads(out)[0]["cost"] == "38.50"
    assert run(repo, "reopen", rid, "--reason", "customer came back")[0] == 0
    assert json.loads(run(repo, "list", "--format", "json")[1])[0]["status"] == "awaiting-confirmation"


def test_edit_sets_typed_values(repo: Path) -> None:
    run(repo, *NEW)
    code, _, _ = run(repo, "edit", "SZ1-2026-00001", "--set", "qc.sku=NO", "--set", "qc.quantity=2")
    assert code == 0
    text = (repo / "records/2026/SZ1/000/SZ1-2026-00001.yaml").read_text()
    assert "sku: 'NO'" in text and "quantity: 2" in text
    code, _, err = run(repo, "edit", "SZ1-2026-00001", "--set", "qc.quantity=two")
    assert code == 1 and "qc.quantity" in err
    code, _, err = run(repo, "edit", "SZ1-2026-00001")
    assert code == 2


def test_invalid_new_exit_1_names_field_and_rule(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    code, _, err = run(
        repo, "new", "--vendor", "nobody", "--sku", "A", "--order", "B", "--code", "DEFECTIVE-Stitching"
    )
    assert code == 1
    assert "qc.vendor" in err and "rule:vendor-known" in err
    assert git(repo, "rev-parse", "HEAD") == head
    code, _, err = run(repo, "new", "--vendor", "hx-leather")
    assert code == 1 and "--sku" in err


def test_usage_errors_exit_2(repo: Path) -> None:
    assert run(repo, "list", "--sort", "nonsense")[0] == 2
    code, _, err = run(repo, "list", "venodr:acme")
    assert code == 2 and "did you mean 'vendor'" in err and "^" in err
    assert run(repo, "decide", "SZ1-2026-00001", "--action", "explode")[0] == 2
    assert run(repo, "show")[0] == 2


def test_unknown_and_hostile_ids(repo: Path) -> None:
    code, _, err = run(repo, "show", "SZ1-2026-00077")
    assert code == 1 and "no record SZ1-2026-00077" in err
    code, _, err = run(repo, "show", "../../etc/passwd")
    assert code == 1 and "not a record id" in err
    code, _, err = run(repo, "show", "--", "--output=/tmp/x")
    assert code == 1


def test_validate_and_fmt(repo: Path) -> None:
    run(repo, *NEW)
    code, _, err = run(repo, "validate")
    assert code == 0 and "all valid" in err
    path = repo / "records/2026/SZ1/000/SZ1-2026-00001.yaml"
    path.write_text(
        path.read_text().replace("severity: major", "severity: awful").replace("sku: '0123'", "sku:   '0123'")
    )
    code, out, _ = run(repo, "validate", "--format", "json")
    data = json.loads(out)
    assert (
        code == 1
        and data["problems"][0]["field"] == "qc.severity"
        and data["problems"][0]["rule"] == "schema:enum"
    )
    code, out, _ = run(repo, "fmt", "--check")
    assert code == 1 and "would reformat records/2026/SZ1/000/SZ1-2026-00001.yaml" in out
    assert run(repo, "fmt")[0] == 0
    assert run(repo, "fmt", "--check")[0] == 0
    code, out, _ = run(repo, "list")
    assert code == 0 and "SZ1-2026-00001 !" in out


def test_index_rebuild(repo: Path) -> None:
    run(repo, *NEW)
    code, out, _ = run(repo, "index", "--rebuild")
    assert code == 0 and "1 record(s) (rebuilt)" in out
    code, out, _ = run(repo, "index")
    assert code == 0 and "0 updated" in out


def test_no_log_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--repo", str(tmp_path), "list"])
    assert result.exit_code == 1 and "no kakotui log" in result.stderr


def test_station_and_whoami(repo: Path) -> None:
    assert run(repo, "station")[1].strip() == "SZ1"
    assert run(repo, "station", "SZ2")[1].strip() == "SZ2"
    assert run(repo, "station", "XX9")[0] == 1
    assert (
        run(repo, "whoami", "--set", "Li Wei", "li.wei@example.com")[1].strip()
        == "Li Wei <li.wei@example.com>"
    )


def test_installed_entry_point_runs(repo: Path) -> None:
    exe = shutil.which("kakotui") or str(Path(sys.executable).parent / "kakotui")
    out = subprocess.run(
        [exe, "--repo", str(repo), "list", "--format", "json"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []

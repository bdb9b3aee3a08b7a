"""`kakotui log`, `blame`, `diff`, `validate --since` and the CI / pre-commit gates `init` writes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kakotui.cli import main
from kakotui.core import yamlio
from kakotui.core.record import to_text
from kakotui.log import ExceptionLog
from tests.helpers import git
from tests.store.history_data import (
    NEW_ID,
    NEW_PATH,
    OLD_ID,
    OTHER_ID,
    OTHER_PATH,
    build_scripted,
    copy_log,
    isolated_build,
)

KAKOTUI = Path(sys.executable).parent / "kakotui"


@pytest.fixture(scope="session")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    return isolated_build(tmp_path_factory, "cli-scripted", build_scripted)  # type: ignore[no-any-return]


@pytest.fixture
def repo(scripted: tuple[Path, dict[str, str]], tmp_path: Path) -> Path:
    return copy_log(scripted[0], tmp_path / "log")


def run(repo: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--repo", str(repo), *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def refer_to_first(repo: Path) -> None:
    """On main: the other record refers to the first one (canonical text, committed by hand)."""
    with ExceptionLog(repo) as log:
        data = yamlio.load((repo / OTHER_PATH).read_bytes())
        (repo / OTHER_PATH).write_text(to_text({**data, "related": [NEW_ID]}, log.schemas))
    git(repo, "commit", "-qam", "refer to the first record")


def no_dates(text: str) -> str:
    text = re.sub(r"\b[0-9a-f]{10}\b", "<commit>", text)
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d( [+-]\d\d:\d\d| Z)?", "<date>", text)


# ---------------------------------------------------------------- log and blame


def test_log_text_names_people_actions_and_fields(repo: Path) -> None:
    code, out, err = run(repo, "log", OLD_ID)
    assert code == 0, err
    blocks = no_dates(out).split("\n\n")
    assert blocks[1] == (
        "<commit>  <date>  Chen Jing <chen.jing@example.com>  decide\n"
        "    SZ1-2026-00001: decide reship\n"
        "    + decision.action: reship\n"
        "    + decision.by: Chen Jing\n"
        "    + decision.at: 2026-11-20T11:00:00+08:00\n"
        "    + decision.reason: customer wants the item"
    )
    assert blocks[2] == (
        "<commit>  <date>  Zhao Lei <zhao.lei@example.com>  renumber\n"
        "    SZ1-2026-00003: renumber (was SZ1-2026-00001)\n"
        "    ~ id: SZ1-2026-00001 -> SZ1-2026-00003\n"
        "    + aliases.0: SZ1-2026-00001"
    )
    assert blocks[4] == (
        "<commit>  <date>  Li Wei <li.wei@example.com>  edit\n"
        "    SZ1-2026-00003: edit qc.sku, qc.quantity\n"
        "    ~ qc.sku: HX-2231-BLK -> 0123\n"
        "    ~ qc.quantity: 1 -> 2"
    )
    assert len([b for b in blocks if b.strip()]) == 9
    assert err == f"9 change(s) to {NEW_ID} ({NEW_PATH})\n"


def test_log_and_blame_as_json(repo: Path) -> None:
    code, out, _ = run(repo, "log", NEW_ID, "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["id"] == NEW_ID and data["problems"] == []
    assert [e["action"] for e in data["entries"]] == [
        "create", "decide", "renumber", "reship", "edit", "reship", "contact", "confirm", "close",
    ]  # fmt: skip
    code, out, _ = run(repo, "blame", NEW_ID, "--format", "json")
    fields = {f["field"]: f for f in json.loads(out)["fields"]}
    assert code == 0
    assert (fields["qc.sku"]["value"], fields["qc.sku"]["author"], fields["qc.sku"]["action"]) == (
        "0123",
        "Li Wei",
        "edit",
    )
    assert fields["reshipments.0.total"]["value"] == {"amount": "38.50", "currency": "CNY"}


def test_blame_text_is_a_table(repo: Path) -> None:
    code, out, _ = run(repo, "blame", NEW_ID)
    lines = no_dates(out).splitlines()
    assert code == 0
    assert re.split(r"\s{2,}", lines[0]) == ["FIELD", "VALUE", "COMMIT", "DATE", "AUTHOR", "ACTION"]
    sku = next(line for line in lines if line.startswith("qc.sku "))
    assert re.split(r"\s{2,}", sku) == ["qc.sku", "0123", "<commit>", "<date>", "Li Wei", "edit"]
    total = next(line for line in lines if line.startswith("reshipments.0.total "))
    assert re.split(r"\s{2,}", total)[1:2] == ["38.50 CNY"]


def test_bad_input_is_a_message_not_a_traceback(repo: Path, tmp_path: Path) -> None:
    assert run(repo, "log", "SZ1-2026-00099") == (
        1,
        "",
        "error: no record SZ1-2026-00099 in this log (and none in its history)\n",
    )
    code, _, err = run(repo, "blame", "not-an-id")
    assert (code, err) == (
        1,
        "error: not a record id: 'not-an-id' (expected STATION-YYYY-NNNNN, e.g. SZ1-2026-00042)\n",
    )
    code, _, err = run(repo, "diff", "v9.9")
    assert (code, err) == (1, "error: unknown revision 'v9.9': no such commit, branch or tag in this clone\n")
    code, _, err = run(repo, "diff", "--", f"--output={tmp_path / 'x'}")  # never an option to git
    assert (code, (tmp_path / "x").exists()) == (1, False) and "refused revision" in err
    code, _, err = run(repo, "diff", "a", "b", "c")
    assert code == 2 and "at most two revisions" in err
    code, _, err = run(repo, "validate", "--since", "main", "records")
    assert code == 2 and "either PATHS or --since" in err
    # A shallow clone: what is here is shown, what is missing is said, exit 1.
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repo}", str(clone)], check=True)
    code, out, err = run(clone, "log", NEW_ID)
    assert code == 1 and "close as resolved" in out
    assert err.splitlines()[-1].startswith(
        f"error: this clone is shallow: the history of {NEW_PATH} before commit"
    )
    code, _, err = run(clone, "validate", "--since", "HEAD~3")
    assert code == 1 and "this clone is shallow" in err and "Traceback" not in err


def test_a_record_renamed_by_hand_is_an_error_with_its_history(repo: Path) -> None:
    moved = OTHER_PATH.replace(OTHER_ID, "SZ1-2026-00008")
    git(repo, "mv", OTHER_PATH, moved)
    git(repo, "commit", "-qm", "rename by hand")
    code, out, err = run(repo, "log", OTHER_ID)
    assert code == 1
    assert "log WRONG-ITEM" in out or "log DEFECTIVE" in out  # the creation, from the old file
    assert f"error: {OTHER_PATH} was renamed to {moved} by hand in commit" in err
    assert f"error: {moved} holds id {OTHER_ID}" in err


# ---------------------------------------------------------------- diff


def test_diff_text_md_json(repo: Path, scripted: tuple[Path, dict[str, str]]) -> None:
    commits = scripted[1]
    code, out, err = run(repo, "diff", commits["contact"], commits["close"])
    assert code == 0
    assert out == (
        f"{NEW_ID}  changed  {NEW_PATH}\n"
        "    + customer_confirmation.at: 2026-11-24T09:00:00+08:00\n"
        "    + customer_confirmation.by: Chen Jing\n"
        "    + customer_confirmation.channel: platform\n"
        "    + customer_confirmation.outcome: received-ok\n"
        "    + closure.final_status: resolved\n"
        "    + closure.closed_at: 2026-11-24T10:00:00+08:00\n"
        "    + closure.closed_by: Wang Fang\n"
        "    + closure.note: Freight recovered.\n"
    )
    assert err == f"{commits['contact'][:10]} -> {commits['close'][:10]}: 1 changed\n"
    code, md, _ = run(repo, "diff", commits["contact"], commits["close"], "--format", "md")
    assert md.startswith("### kakotui: record changes\n")
    assert "| `closure.final_status` |  | `resolved` |" in md
    code, out, _ = run(repo, "diff", commits["decide"], commits["renumber"], "--format", "json")
    [rc] = json.loads(out)["records"]
    assert (rc["status"], rc["old_path"], rc["changes"][0]) == (
        "renamed",
        NEW_PATH.replace(NEW_ID, OLD_ID),
        {"path": "id", "kind": "changed", "old": OLD_ID, "new": NEW_ID},
    )
    (repo / OTHER_PATH).write_text(
        (repo / OTHER_PATH).read_text().replace("severity: major", "severity: minor")
    )
    assert run(repo, "diff")[1] == f"{OTHER_ID}  changed  {OTHER_PATH}\n    ~ qc.severity: major -> minor\n"
    assert run(repo, "diff", "--staged")[1] == ""
    git(repo, "add", OTHER_PATH)
    assert "qc.severity: major -> minor" in run(repo, "diff", "--staged")[1]


# ---------------------------------------------------------------- validate --since


def test_validate_since_lists_every_problem_and_exits_1(repo: Path) -> None:
    refer_to_first(repo)
    git(repo, "checkout", "-q", "-b", "pr")
    git(repo, "rm", "-q", NEW_PATH)
    git(repo, "commit", "-qm", "remove the first record")
    code, _, err = run(repo, "validate", "--since", "main")
    assert code == 1
    assert err.splitlines() == [
        "since main (" + git(repo, "rev-parse", "main")[:10] + "): 1 record(s) changed",
        f"{NEW_PATH}: record {NEW_ID} was deleted; records are kept for the audit trail: close it as void instead "
        f"(`kakotui close {NEW_ID} --final-status void --note ...`) [append-only:record-removed]",
        f"{OTHER_PATH}: related.0: refers to {NEW_ID}, which this change removes ({NEW_PATH}) [rule:references-exist]",
        "0 file(s) checked, 2 problem(s) in 2 file(s)",
    ]
    code, out, _ = run(repo, "validate", "--since", "main", "--format", "json")
    assert code == 1 and [p["rule"] for p in json.loads(out)["problems"]] == [
        "append-only:record-removed",
        "rule:references-exist",
    ]
    git(repo, "checkout", "-q", "main")
    assert run(repo, "validate", "--since", "HEAD")[0] == 0


# ---------------------------------------------------------------- the gates `init` writes


def sh(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


@pytest.mark.skipif(
    not KAKOTUI.exists() or shutil.which("bash") is None, reason="needs the kakotui script and bash"
)
def test_the_ci_workflow_commands_gate_a_pull_request(repo: Path) -> None:
    """Run the workflow's own `run:` lines, as GitHub would, on a branch that breaks an untouched file."""
    workflow = yamlio.load((repo / ".github/workflows/kakotui.yml").read_bytes())
    steps = workflow["jobs"]["validate"]["steps"]
    assert workflow["on"]["pull_request"] is None
    assert workflow["permissions"]["pull-requests"] == "write"
    assert workflow["jobs"]["validate"]["env"]["BASE"] == "origin/${{ github.base_ref }}"
    runs = {s["name"]: s["run"] for s in steps if "run" in s and "name" in s}
    assert (
        runs["Semantic diff of the pull request"] == 'kakotui diff "$BASE" HEAD --format md > kakotui-diff.md'
    )
    assert (
        runs["What the pull request changes is valid and breaks nothing elsewhere"]
        == 'kakotui validate --since "$BASE"'
    )
    assert runs["Records are in canonical form"] == "kakotui fmt --check"
    poster = next(s for s in steps if s.get("uses", "").startswith("actions/github-script"))
    assert "kakotui-diff.md" in poster["with"]["script"] and "updateComment" in poster["with"]["script"]

    refer_to_first(repo)
    git(repo, "checkout", "-q", "-b", "pr")
    git(repo, "rm", "-q", NEW_PATH)
    git(repo, "commit", "-qm", "remove the first record")
    env = {**os.environ, "BASE": "main", "PATH": f"{KAKOTUI.parent}{os.pathsep}{os.environ['PATH']}"}
    diff = sh(runs["Semantic diff of the pull request"], repo, env)
    assert diff.returncode == 0, diff.stderr
    md = (repo / "kakotui-diff.md").read_text()
    assert f"#### `{NEW_ID}`: removed" in md and "| `qc.sku` | `0123` |  |" in md
    (repo / "kakotui-diff.md").unlink()
    assert sh(runs["Records are in canonical form"], repo, env).returncode == 0
    gate = sh(runs["What the pull request changes is valid and breaks nothing elsewhere"], repo, env)
    assert gate.returncode == 1
    assert f"{OTHER_PATH}: related.0: refers to {NEW_ID}" in gate.stderr


@pytest.mark.skipif(
    not KAKOTUI.exists() or shutil.which("bash") is None, reason="needs the kakotui script and bash"
)
def test_the_pre_commit_hooks_refuse_a_staged_rewrite(repo: Path) -> None:
    """Run each hook's entry the way pre-commit does (staged files matching `files`, if it passes them)."""
    hooks = yamlio.load((repo / ".pre-commit-config.yaml").read_bytes())["repos"][0]["hooks"]
    assert [h["entry"] for h in hooks] == ["kakotui validate --since HEAD", "kakotui fmt --check"]
    env = {**os.environ, "PATH": f"{KAKOTUI.parent}{os.pathsep}{os.environ['PATH']}"}

    def run_hooks() -> list[int]:
        staged = git(repo, "diff", "--cached", "--name-only").split()
        codes = []
        for hook in hooks:
            files = [f for f in staged if re.search(hook["files"], f)]
            if files:
                args = " ".join(files) if hook["pass_filenames"] else ""
                codes.append(sh(f"{hook['entry']} {args}", repo, env).returncode)
        return codes

    data = yamlio.load((repo / NEW_PATH).read_bytes())
    data["vendor_contacts"][0]["summary"] = "Vendor refused."  # rewriting what the vendor said
    (repo / NEW_PATH).write_text(yamlio.dump(data))
    git(repo, "add", NEW_PATH)
    assert run_hooks() == [1, 0]
    git(repo, "checkout", "-q", "HEAD", "--", NEW_PATH)
    (repo / OTHER_PATH).write_text((repo / OTHER_PATH).read_text().replace("quantity: 1", "quantity:   1"))
    git(repo, "add", OTHER_PATH)
    assert run_hooks() == [0, 1]  # valid, but not canonical


def test_index_history_builds_the_commit_table_log_then_reads(repo: Path) -> None:
    from kakotui.store import trail

    with ExceptionLog(repo) as log:
        log.refresh()
        trail.drop(log.index.db)
    code, out, _err = run(repo, "index")
    assert code == 0 and "commit table" not in out  # a catch-up does not build it
    with ExceptionLog(repo) as log:
        assert trail.open_trail(log.git, log.index.db) is None
    code, out, _err = run(repo, "index", "--history")
    assert code == 0 and "commit table up to date" in out
    with ExceptionLog(repo) as log:
        assert trail.open_trail(log.git, log.index.db) is not None
        trail.drop(log.index.db)
    code, out, _err = run(repo, "log", NEW_ID)  # the first `log` builds it
    assert code == 0
    with ExceptionLog(repo) as log:
        assert trail.open_trail(log.git, log.index.db) is not None

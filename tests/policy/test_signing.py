"""Signed history: kakotui signs its saves when the log requires it; `verify` checks every commit."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from kakotui.cli import main
from kakotui.log import ExceptionLog, LogError
from tests.helpers import qc
from tests.policy.keys import keys_for_everyone, make_key, public, sign_as, signed_commit
from tests.policy.world import ANA, CHEN, LI, WANG, as_, git, head, make_policed_log


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    return keys_for_everyone(tmp_path / "keys")


@pytest.fixture
def root(tmp_path: Path, keys: dict[str, Path]) -> Path:
    # The admin's key signs the first commit (git config of the person, as on their machine).
    git(tmp_path, "config", "--global", "user.signingkey", str(keys[ANA.email]))
    pub = {email: public(key) for email, key in keys.items()}
    return make_policed_log(tmp_path / "log", signing=True, keys=pub)


def statuses(root: Path, rev: str | None = None) -> list[tuple[str, str]]:
    with ExceptionLog(root) as log:
        return [(c.commit, c.status) for c in log.verify(rev)]


def test_kakotui_signs_its_saves_and_verify_accepts_them(root: Path, keys: dict[str, Path]) -> None:
    sign_as(root, keys[LI.email])
    with as_(LI, root) as log:
        result = log.new(qc())
    raw = git(root, "cat-file", "commit", result.commit)
    assert "gpgsig -----BEGIN SSH SIGNATURE-----" in raw
    assert "author Li Wei <li.wei@example.com>" in raw and "Kakotui-Action: create" in raw
    assert git(root, "status", "--porcelain") == ""
    assert [s for _c, s in statuses(root)] == ["verified", "verified"]
    run = CliRunner().invoke(main, ["--repo", str(root), "verify"])
    assert run.exit_code == 0, run.output
    # `kakotui log` marks the verified author.
    run = CliRunner().invoke(main, ["--repo", str(root), "log", result.id])
    assert run.exit_code == 0, run.output
    assert "Li Wei <li.wei@example.com> [verified]  create" in run.output
    run = CliRunner().invoke(main, ["--repo", str(root), "log", result.id, "--format", "json"])
    assert json.loads(run.stdout)["entries"][0]["signature"] == "verified"


def test_a_save_without_a_signing_key_is_refused_and_changes_nothing(root: Path) -> None:
    before = head(root)
    git(root, "config", "--global", "--unset", "user.signingkey")
    with as_(LI, root) as log, pytest.raises(LogError, match="requires signed commits"):
        log.new(qc())
    assert head(root) == before


def test_unsigned_unknown_and_mismatched_commits_fail_verify(
    root: Path, keys: dict[str, Path], tmp_path: Path
) -> None:
    start = head(root)
    unsigned = signed_commit(root, CHEN, None, "unsigned")
    stranger = signed_commit(root, CHEN, make_key(tmp_path / "other", "mallory"), "someone else's key")
    borrowed = signed_commit(root, CHEN, keys[LI.email], "signed with Li's key")
    good = signed_commit(root, CHEN, keys[CHEN.email], "properly signed")
    found = dict(statuses(root, f"{start}..HEAD"))
    assert found == {
        unsigned: "unsigned",
        stranger: "unknown-key",
        borrowed: "mismatched",
        good: "verified",
    }
    run = CliRunner().invoke(main, ["--repo", str(root), "verify", f"{start}..HEAD"])
    assert run.exit_code == 1
    for commit in (unsigned, stranger, borrowed):
        assert commit[:10] in run.output
    assert good[:10] not in run.output
    assert "signed with the key of li.wei@example.com" in run.output


def test_a_commit_altered_after_signing_fails_verify(root: Path, keys: dict[str, Path]) -> None:
    signed = signed_commit(root, CHEN, keys[CHEN.email], "credit 30 CNY")
    raw = git(root, "cat-file", "commit", signed).replace("credit 30 CNY", "credit 3000 CNY")
    forged = subprocess.run(
        ["git", "-C", str(root), "hash-object", "-t", "commit", "-w", "--stdin"],
        input=raw, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    git(root, "update-ref", "refs/heads/main", forged)
    assert statuses(root)[-1] == (forged, "bad")


def test_unsigned_commits_before_signing_was_required_pass(tmp_path: Path, keys: dict[str, Path]) -> None:
    from tests.policy.world import settings, write_settings

    root = make_policed_log(tmp_path / "plain")
    signed_commit(root, CHEN, None, "before signing")
    data = settings(signing=True, keys={e: public(k) for e, k in keys.items()})
    write_settings(root, data, ANA)  # unsigned too: the settings before it did not require signing
    after = signed_commit(root, CHEN, None, "after signing became required")
    with ExceptionLog(root) as log:
        checks = log.verify()
    assert [c.ok for c in checks] == [True, True, True, False]
    assert checks[-1].commit == after and checks[-1].status == "unsigned" and checks[-1].required


def test_allowed_signers_file_from_the_people(root: Path, keys: dict[str, Path]) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["--repo", str(root), "signers", "--check"]).exit_code == 1
    assert runner.invoke(main, ["--repo", str(root), "signers"]).exit_code == 0
    text = (root / ".kakotui" / "allowed_signers").read_text()
    key = public(keys[LI.email]).split()
    assert f'li.wei@example.com namespaces="git" {key[0]} {key[1]}' in text
    assert runner.invoke(main, ["--repo", str(root), "signers", "--check"]).exit_code == 0
    # Plain git agrees with kakotui verify through the committed file.
    signed = signed_commit(root, LI, keys[LI.email], "plain git")
    assert git(root, "log", "-1", "--format=%G? %GS", signed).strip() == "G li.wei@example.com"


def test_a_sync_merge_is_signed_too(tmp_path: Path, keys: dict[str, Path], root: Path) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(root), str(remote))
    git(root, "remote", "add", "origin", str(remote))
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    git(other, "config", "kakotui.station", "SZ2")
    sign_as(other, keys[WANG.email])
    with as_(WANG, other) as log:
        log.new(qc(station="SZ2"))
        log.sync()
    sign_as(root, keys[LI.email])
    with as_(LI, root) as log:
        log.new(qc())
        summary = log.sync()
        assert summary.pushed
        checks = log.verify()
    assert [c.commit for c in checks if not c.ok] == []
    merges = git(root, "rev-list", "--merges", "HEAD").split()
    assert merges and all("gpgsig" in git(root, "cat-file", "commit", m) for m in merges)


def test_init_writes_codeowners_for_the_rules(tmp_path: Path, keys: dict[str, Path]) -> None:
    plain = make_policed_log(tmp_path / "plain")
    text = (plain / ".github" / "CODEOWNERS").read_text()
    for path in ("/kakotui.yaml", "/schema/", "/.kakotui/", "/.github/"):
        assert any(line.split()[:2] == [path, ANA.email] for line in text.splitlines() if line.strip()), path
    from tests.helpers import make_log

    bare = make_log(tmp_path / "bare")
    text = (bare.root / ".github" / "CODEOWNERS").read_text()
    bare.close()
    assert "/schema/" in text and "@your-org/kakotui-admins" in text
    assert git(bare.root, "ls-files", ".github/CODEOWNERS").strip() == ".github/CODEOWNERS"


def test_where_signing_is_not_required_only_impersonation_and_tampering_fail(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    from tests.policy.world import settings, write_settings

    root = make_policed_log(tmp_path / "plain")
    data = settings(keys={e: public(k) for e, k in keys.items()})  # keys, but signing not required
    write_settings(root, data, ANA)
    start = head(root)
    signed_commit(root, CHEN, None, "unsigned")
    signed_commit(root, CHEN, make_key(tmp_path / "x", "x"), "unknown key")
    borrowed = signed_commit(root, CHEN, keys[LI.email], "Li's key")
    with ExceptionLog(root) as log:
        bad = [c.commit for c in log.verify(f"{start}..HEAD") if not c.ok]
    assert bad == [borrowed]


def test_the_gate_flags_an_allowed_signers_file_left_behind(
    root: Path, keys: dict[str, Path], tmp_path: Path
) -> None:
    from kakotui.store.scaffold import config_text
    from tests.policy.world import settings

    sign_as(root, keys[ANA.email])
    assert CliRunner().invoke(main, ["--repo", str(root), "signers"]).exit_code == 0
    git(root, "add", ".kakotui/allowed_signers")
    git(root, "-c", "gpg.format=ssh", "commit", "-q", "-S", "-m", "allowed signers", who=ANA)
    start = head(root)
    pub = {e: public(k) for e, k in keys.items()}
    pub[LI.email] = public(make_key(tmp_path / "new", "li-new"))  # Li's new laptop
    (root / "kakotui.yaml").write_bytes(config_text(settings(signing=True, keys=pub)))
    git(root, "-c", "gpg.format=ssh", "commit", "-q", "-S", "-am", "rotate Li's key", who=ANA)
    with ExceptionLog(root) as log:
        log.refresh()
        _n, problems, _s = log.validate_since(start)
    assert [(p.file, p.rule) for p in problems] == [(".kakotui/allowed_signers", "config:allowed-signers")]

"""Remote URLs: only local paths, file://, ssh:// or scp-style and https://; anything that can run a
command is refused before git runs, and git itself is run so that it would refuse it too."""

from __future__ import annotations

from pathlib import Path

import pytest

from kakotui.store.gitrepo import GitError
from kakotui.sync.engine import RemoteNotAllowed
from kakotui.sync.remotes import RemoteRefused, check_url, git_protocol_settings
from tests.helpers import git
from tests.sync.conftest import Network


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("/srv/logs/sz.git", "local"),
        ("../shared/sz.git", "local"),
        ("file:///srv/logs/sz.git", "file"),
        ("ssh://git@git.example.com:2222/sz/log.git", "ssh"),
        ("git+ssh://git.example.com/sz/log.git", "ssh"),
        ("git@git.example.com:sz/log.git", "ssh"),
        ("https://git.example.com/sz/log.git", "https"),
    ],
)
def test_allowed_urls(url: str, kind: str) -> None:
    assert check_url(url).kind == kind


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ext::sh -c touch% /tmp/pwned", "ext::"),
        ("fd::17", "fd::"),
        ("http://git.example.com/sz/log.git", "http://"),
        ("git://git.example.com/sz/log.git", "git://"),
        ("ftp://git.example.com/sz/log.git", "ftp://"),
        ("ssh://-oProxyCommand=touch%20x/log.git", "start with '-'"),
        ("-oProxyCommand=x:log.git", "start with '-'"),
        ("--upload-pack=touch x", "start with '-'"),
        ("", "empty"),
        ("https://host/log.git\nx", "control characters"),
    ],
)
def test_refused_urls_say_why(url: str, why: str) -> None:
    with pytest.raises(RemoteRefused, match=why.replace("(", r"\(")):
        check_url(url)


def test_loopback_http_only_with_the_test_flag_and_only_to_loopback() -> None:
    assert check_url("http://127.0.0.1:8080/log.git", allow_loopback_http=True).kind == "http"
    with pytest.raises(RemoteRefused):
        check_url("http://127.0.0.1:8080/log.git")
    with pytest.raises(RemoteRefused):
        check_url("http://git.example.com/log.git", allow_loopback_http=True)
    args, env = git_protocol_settings()
    assert env["GIT_ALLOW_PROTOCOL"] == "file:ssh:https" and "protocol.allow=never" in args


def test_ext_transport_is_refused_before_git_runs_and_git_refuses_it_anyway(
    file_network: Network, tmp_path: Path
) -> None:
    a = file_network.station("a")
    marker = tmp_path / "MARKER"
    evil = f"ext::sh -c touch% {marker}"
    refs = git(a.root, "for-each-ref")

    git(a.root, "remote", "add", "evil", evil)
    with pytest.raises(RemoteNotAllowed, match="'ext::' transport runs a program"):
        a.sync("evil")
    with pytest.raises(RemoteNotAllowed, match="ext::"):
        a.sync(evil)  # given directly as a URL
    # A harmless-looking URL rewritten by configuration into ext:: is refused as well.
    git(a.root, "config", f"url.{evil}.insteadOf", "safe:")
    git(a.root, "remote", "add", "innocent", "safe:log.git")
    with pytest.raises(RemoteNotAllowed, match="ext::"):
        a.sync("innocent")
    git(a.root, "config", "--unset", f"url.{evil}.insteadOf")
    # A push URL, and settings that name programs, count too.
    git(a.root, "remote", "set-url", "--push", "origin", evil)
    with pytest.raises(RemoteNotAllowed, match="ext::"):
        a.sync("origin")
    git(a.root, "config", "--unset", "remote.origin.pushurl")
    git(a.root, "config", "remote.origin.uploadpack", f"touch {marker}; git-upload-pack")
    with pytest.raises(RemoteNotAllowed, match="uploadpack"):
        a.sync("origin")
    git(a.root, "config", "--unset", "remote.origin.uploadpack")
    # Defence in depth: git as kakotui runs it refuses the transport even without the check.
    with pytest.raises(GitError, match="transport 'ext' not allowed"):
        a.git.run("fetch", evil, "main")
    with pytest.raises(GitError, match="transport 'ext' not allowed"):
        a.git.run("ls-remote", "evil")

    assert not marker.exists()
    assert git(a.root, "for-each-ref") == refs
    assert a.sync("origin").attempts == 1  # the real remote still works

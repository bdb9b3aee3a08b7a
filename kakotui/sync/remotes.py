"""Which remotes sync may talk to: local paths, file://, ssh:// or scp-style, and https:// only.

A git URL can name a transport that runs a command (`ext::sh -c ...`, `fd::`, a `remote.NAME.vcs`
helper, a custom `uploadpack`), so every URL is checked here BEFORE git runs, and git itself runs
with the same allow-list (`GIT_ALLOW_PROTOCOL`, `protocol.*.allow`) so that a URL rewritten by
configuration (`url.*.insteadOf`) is refused by git too. Pure: no git, no files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

ALLOWED_PROTOCOLS = ("file", "ssh", "https")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

_HELPER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+.-]*::")  # <transport>::<address> runs git-remote-<transport>
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SCP = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>\[[^\]/]+\]|[^@/:\[\]]+):(?P<path>.*)$")
_SSH_SCHEMES = ("ssh", "git+ssh", "ssh+git")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")


class RemoteRefused(ValueError):
    """A remote URL (or remote setting) that sync will not hand to git; the message says why."""


@dataclass(frozen=True)
class Remote:
    """A checked remote: what the person typed (`name`), the URL git will use and its kind."""

    name: str
    url: str
    kind: str  # "local", "file", "ssh", "https" or (tests only) "http"

    @property
    def protocol(self) -> str:
        return "file" if self.kind == "local" else self.kind


def looks_like_url(text: str) -> bool:
    """Whether `--remote` was given a URL or a path rather than the name of a configured remote."""
    return "/" in text or ":" in text or "\\" in text or text in (".", "..")


def check_name(name: str) -> str:
    """A configured remote's name (`origin`); refuses anything git could read as an option."""
    if not _NAME.match(name) or ".." in name:
        raise RemoteRefused(f"refused remote name {name[:60]!r}: use the name of a remote, e.g. origin")
    return name


def check_url(url: str, *, allow_loopback_http: bool = False, name: str | None = None) -> Remote:
    """Classify `url` or raise `RemoteRefused` with a message a site admin can act on.

    `allow_loopback_http` accepts plain `http://` to 127.0.0.1/localhost only; it exists for the
    test suite's smart-HTTP server and is not reachable from the command line or the TUI.
    """
    shown = url[:120]
    label = name or url
    if not url or url != url.strip() or any(ord(c) < 32 or ord(c) == 127 for c in url):
        raise RemoteRefused(
            f"refused remote {shown!r}: empty, or contains spaces at the ends or control characters"
        )
    if url.startswith("-"):
        raise RemoteRefused(f"refused remote {shown!r}: a URL may not start with '-'")
    if _HELPER.match(url):
        transport = url.split("::", 1)[0]
        raise RemoteRefused(
            f"refused remote {label!r}: the '{transport}::' transport runs a program named by the URL; "
            f"only local paths, file://, ssh:// (or user@host:path) and https:// are allowed"
        )
    scheme_match = _SCHEME.match(url)
    if scheme_match:
        scheme = scheme_match.group(1).lower()
        parts = urlsplit(url)
        host = parts.hostname or ""
        if scheme == "file":
            return Remote(label, url, "file")
        if scheme in _SSH_SCHEMES:
            if not host or host.startswith("-") or (parts.username or "").startswith("-"):
                raise RemoteRefused(
                    f"refused remote {shown!r}: the host or user may not be empty or start with '-'"
                )
            return Remote(label, url, "ssh")
        if scheme == "https":
            if not host:
                raise RemoteRefused(f"refused remote {shown!r}: no host")
            return Remote(label, url, "https")
        if scheme == "http" and allow_loopback_http and host in LOOPBACK_HOSTS:
            return Remote(label, url, "http")
        raise RemoteRefused(
            f"refused remote {label!r}: {scheme}:// is not allowed; use https://, ssh://, user@host:path, "
            f"file:// or a local path"
        )
    scp = _SCP.match(url)
    if scp and "/" not in url.split(":", 1)[0]:
        host, user = scp.group("host"), scp.group("user") or ""
        if host.startswith("-") or user.startswith("-"):
            raise RemoteRefused(f"refused remote {shown!r}: the host or user may not start with '-'")
        if len(host) == 1 and host.isalpha():
            raise RemoteRefused(
                f"refused remote {shown!r}: write a drive path as file:// or with forward slashes"
            )
        return Remote(label, url, "ssh")
    return Remote(label, url, "local")


def git_protocol_settings(remote: Remote | None = None) -> tuple[list[str], dict[str, str]]:
    """(`-c` arguments, environment) that make git itself enforce the allow-list for one call."""
    protocols = list(ALLOWED_PROTOCOLS)
    if remote is not None and remote.kind == "http":
        protocols.append("http")
    args = ["-c", "protocol.allow=never"]
    for proto in protocols:
        args += ["-c", f"protocol.{proto}.allow=always"]
    return args, {"GIT_ALLOW_PROTOCOL": ":".join(protocols)}

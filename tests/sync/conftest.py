"""Three stations and one shared remote: a bare repository over file:// or smart HTTP on 127.0.0.1.

The seed log is made by `kakotui init`, pushed to the bare repository, and each station is a plain
`git clone` of it (as a site admin would make one): no merge driver configured until its first sync.
The HTTP transport is git's own http-backend; plain http:// is allowed only through the façade's
test-only `allow_loopback_http` flag (127.0.0.1 only), never from the CLI.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kakotui.log import ExceptionLog
from tests.helpers import git, make_log, qc
from tests.sync.smart_http import GitHttpServer

PEOPLE = {
    "a": ("Li Wei", "li.wei@sz.example", "SZ1"),
    "b": ("Chen Jing", "chen.jing@sz.example", "SZ2"),
    "c": ("Wang Fang", "wang.fang@sz.example", "SZ1"),  # the same station as a: configured twice
}


@dataclass
class Network:
    """The shared remote and the stations cloned from it."""

    tmp: Path
    bare: Path
    url: str
    transport: str
    server: GitHttpServer | None = None
    logs: dict[str, ExceptionLog] = field(default_factory=dict)
    seed_ids: list[str] = field(default_factory=list)

    def station(self, name: str) -> ExceptionLog:
        if name in self.logs:
            return self.logs[name]
        path = self.tmp / f"station-{name}"
        subprocess.run(["git", "clone", "-q", str(self.bare), str(path)], check=True, capture_output=True)
        if self.url != str(self.bare):
            git(path, "remote", "set-url", "origin", self.url)
        who, email, station = PEOPLE[name]
        log = ExceptionLog.open(path)
        log.set_identity(who, email)
        log.set_station(station)
        log.refresh()
        self.logs[name] = log
        return log

    def sync(self, name: str, **kwargs: Any) -> Any:
        return self.station(name).sync("origin", allow_loopback_http=self.transport == "http", **kwargs)

    def remote_log(self, *args: str) -> str:
        return git(self.bare, "log", *args)

    def remote_file(self, path: str) -> str:
        return git(self.bare, "show", f"main:{path}")


def _seed(tmp: Path) -> tuple[Path, list[str]]:
    seed = make_log(tmp / "seed")
    seed.set_identity("Site Admin", "admin@sz.example")
    ids = []
    for sku in ("HX-1", "HX-2"):
        fields = qc(sku=sku)
        for key in ("site", "station", "inspector"):
            fields.pop(key)
        ids.append(seed.new(fields).id)
    seed.close()
    bare = tmp / "remote.git"
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(tmp / "seed"), str(bare)], check=True, capture_output=True
    )
    return bare, ids


@pytest.fixture(scope="session")
def seeded_remote(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """One seeded bare repository per test session; each test gets its own copy."""
    return _seed(tmp_path_factory.mktemp("seed"))


@pytest.fixture(params=["file", "http"])
def network(
    request: pytest.FixtureRequest, tmp_path: Path, seeded_remote: tuple[Path, list[str]]
) -> Iterator[Network]:
    """The shared remote over file:// and over smart HTTP (each test runs once per transport)."""
    yield from _network(tmp_path, str(request.param), seeded_remote)


@pytest.fixture
def file_network(tmp_path: Path, seeded_remote: tuple[Path, list[str]]) -> Iterator[Network]:
    """The shared remote over file:// only (for tests whose subject is not the transport)."""
    yield from _network(tmp_path, "file", seeded_remote)


def _network(tmp_path: Path, transport: str, seeded: tuple[Path, list[str]]) -> Iterator[Network]:
    bare = tmp_path / "remote.git"
    shutil.copytree(seeded[0], bare, symlinks=True)
    ids = list(seeded[1])
    server = None
    if transport == "http":
        server = GitHttpServer(tmp_path).start()
        url = server.url("remote.git")
    else:
        url = bare.as_uri()
    net = Network(tmp_path, bare, url, transport, server, seed_ids=ids)
    try:
        yield net
    finally:
        for log in net.logs.values():
            log.close()
        if server is not None:
            server.stop()


def new_qc(**over: Any) -> dict[str, Any]:
    """QC fields for `log.new` (station, site, inspector and time from the log's defaults)."""
    fields = qc(**over)
    for key in ("site", "station", "inspector"):
        if key not in over:
            fields.pop(key)
    return fields

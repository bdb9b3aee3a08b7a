"""No leaks (issue 9, item 8): after many saves, no lingering git processes and a stable count of open files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import make_log, qc


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _git_children() -> int:
    me = str(os.getpid())
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            comm = stat[stat.index("(") + 1 : stat.rindex(")")]
            ppid = stat[stat.rindex(")") + 2 :].split()[1]
        except (OSError, ValueError):
            continue
        if ppid == me and comm.startswith("git"):
            count += 1
    return count


@pytest.mark.timeout(1200)
def test_many_saves_leak_no_processes_or_files(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    saves = 1000 if request.config.getoption("--long") else 150
    log = make_log(tmp_path / "log")
    log.refresh()
    fields = qc()
    for key in ("checked_at", "site", "station", "inspector"):
        fields.pop(key)
    rid = log.new(fields).id
    baseline_fds = None
    for i in range(saves):
        if i % 2:
            log.edit(rid, [("qc.sku", f"LEAK-{i}")])
        else:
            log.new(fields)
        if i % 25 == 0:
            log.refresh()
            log.records("status:open")
        if i == 10:
            baseline_fds = _open_fds()
    assert _git_children() <= 2
    assert baseline_fds is not None
    assert _open_fds() <= baseline_fds + 3, (baseline_fds, _open_fds())
    log.close()
    assert _git_children() <= 2

"""Drafts survive `kill -9` of the real TUI (issue 9, item 7): the installed `kakotui` in tmux.

Pass criteria: with typed, unsaved input in a form, SIGKILL to the app's process group; the form's
draft file holds every typed value; the next start reopens the log without error, the same form
comes back filled with the typed values ("Restored unsaved input"), and saving it writes exactly
that input as a commit, after which no draft is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_tmux import Terminal, _kakotui, log_dir
from tests.helpers import git

__all__ = ["log_dir"]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


def _pane_pid(term: Terminal) -> int:
    return int(term._tmux("display-message", "-p", "-t", "t", "#{pane_pid}").strip())


def _descendants(pid: int) -> list[int]:
    """`pid` and every process below it (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo += children.get(current, [])
    return out


def kill_9(term: Terminal) -> None:
    """SIGKILL the app and everything it started, as a crash or `kill -9` would; wait until gone."""
    pids = _descendants(_pane_pid(term))
    for pid in reversed(pids):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in pids):
        time.sleep(0.05)
    term.close()


@pytest.fixture
def socket() -> Iterator[str]:
    name = f"kakotui-kill-{os.getpid()}"
    yield name


@pytest.mark.timeout(300)
def test_kill_9_with_a_half_typed_form_keeps_the_input(log_dir: Path, socket: str) -> None:
    term = Terminal(socket, [_kakotui(), "--repo", str(log_dir)])
    try:
        term.wait_for("0 records")
        term.type("n")
        term.wait_for("New exception")
        term.type("hx-leather", "Tab", "SKU-KILLED-9", "Tab", "KB-990099", "Tab", "DEFECTIVE-Stitching")
        draft = log_dir / ".git" / "kakotui" / "drafts" / "form-new-new.json"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
            draft.exists() and "DEFECTIVE-Stitching" in draft.read_text()
        ):
            time.sleep(0.1)  # the debounced autosave (0.4 s after the last key)
        kill_9(term)
    finally:
        term.close()
    values = json.loads(draft.read_text("utf-8"))["values"]
    typed = {"vendor": "hx-leather", "sku": "SKU-KILLED-9", "order_id": "KB-990099"}
    assert {k: values[k] for k in typed} == typed and values["failure_code"] == "DEFECTIVE-Stitching"
    assert git(log_dir, "rev-list", "--count", "HEAD").strip() == "2"  # nothing was saved

    term = Terminal(socket, [_kakotui(), "--repo", str(log_dir)])
    try:
        term.wait_for("0 records")
        term.type("n")
        screen = term.wait_for("Restored unsaved input")
        for text in ("hx-leather", "SKU-KILLED-9", "KB-990099", "DEFECTIVE-Stitching"):
            assert text in screen, screen
        term.type("C-s")
        term.wait_for("saved SZ1-2026-00001", timeout=60)
        term._send("C-q")
    finally:
        term.close()
    [file] = list((log_dir / "records").rglob("*.yaml"))
    text = file.read_text()
    assert "sku: SKU-KILLED-9" in text and "order_id: KB-990099" in text and "DEFECTIVE-Stitching" in text
    assert not draft.exists()
    assert git(log_dir, "status", "--porcelain") == ""


@pytest.mark.timeout(300)
def test_next_start_announces_the_form_draft(log_dir: Path, socket: str) -> None:
    term = Terminal(socket, [_kakotui(), "--repo", str(log_dir)])
    try:
        term.wait_for("0 records")
        term.type("n")
        term.wait_for("New exception")
        term.type("hx-leather", "Tab", "SKU-KILLED-9")
        time.sleep(1.0)
        kill_9(term)
        term = Terminal(socket, [_kakotui(), "--repo", str(log_dir)])
        term.wait_for("0 records")
        term.wait_for("unsaved", timeout=5)  # a notification names the form left with input
    finally:
        term.close()

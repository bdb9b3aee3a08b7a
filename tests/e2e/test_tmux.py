"""End to end: the installed `kakotui` in a real terminal (tmux), driven by keystrokes like a new user."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kakotui.store.scaffold import config_text
from tests.helpers import config_data, git

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


def _kakotui() -> str:
    found = Path(sys.executable).parent / "kakotui"
    return str(found) if found.exists() else (shutil.which("kakotui") or "kakotui")


class Terminal:
    """A tmux server of our own (its own socket, our environment) running one program."""

    def __init__(self, socket: str, command: list[str], size: tuple[int, int] = (120, 35)) -> None:
        self.socket = socket
        self._tmux("new-session", "-d", "-s", "t", "-x", str(size[0]), "-y", str(size[1]), " ".join(command))

    def _tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], check=True, capture_output=True, text=True
        ).stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "t")

    def wait_for(self, text: str, timeout: float = 90.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen was:\n{self.screen()}")

    def settle(self, quiet: float = 1.5, timeout: float = 30.0) -> str:
        """Wait until the screen stops changing (the app has handled what was typed)."""
        deadline = time.monotonic() + timeout
        last, since = self.screen(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.screen()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return now
        return last

    def type(self, *keys: str) -> None:
        for key in keys:
            self._send(key)
            self.settle()

    def _send(self, key: str) -> None:
        special = key in ("Tab", "BTab", "Enter", "Escape", "Up", "Down") or key.startswith(("C-", "M-", "F"))
        if special and len(key) > 1:
            self._tmux("send-keys", "-t", "t", key)
        else:
            self._tmux("send-keys", "-t", "t", "-l", key)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    root = tmp_path / "log"
    subprocess.run(
        [_kakotui(), "init", str(root), "--station", "SZ1", "--site", "SZ"], check=True, capture_output=True
    )
    (root / "kakotui.yaml").write_bytes(config_text(config_data()))
    git(root, "commit", "-qam", "vendors")
    return root


@pytest.fixture
def terminal(log_dir: Path) -> Iterator[Terminal]:
    term = Terminal(f"kakotui-e2e-{os.getpid()}", [_kakotui(), "--repo", str(log_dir)])
    yield term
    term.close()


@pytest.mark.timeout(300)
def test_log_a_qc_failure_by_typing(terminal: Terminal, log_dir: Path) -> None:
    terminal.wait_for("0 records")
    terminal.type("n")
    terminal.wait_for("New exception")
    terminal.type("hx-leather", "Tab", "0123", "Tab", "KB-77", "Tab", "DEFECTIVE-Stitching", "C-s")
    terminal.wait_for("SZ1-2026-", timeout=60)
    screen = terminal.settle()
    assert "hx-leath" in screen and "0123" in screen and "saved SZ1-2026-00001" in screen, screen
    files = list((log_dir / "records").rglob("*.yaml"))
    assert [f.name for f in files] == [files[0].name] and files[0].name.startswith("SZ1-2026-")
    text = files[0].read_text()
    assert "sku: '0123'" in text and "vendor: hx-leather" in text and "order_id: KB-77" in text
    log = git(log_dir, "log", "-1", "--format=%an <%ae>%n%B")
    assert log.startswith("Test Runner <runner@tests.invalid>")
    assert "Kakotui-Action: create" in log and f"Kakotui-Record: {files[0].stem}" in log
    assert git(log_dir, "status", "--porcelain") == ""
    terminal._send("C-q")  # the app quits and the tmux session ends with it

"""Hostile text in a real terminal (issue 9, item 5): the installed `kakotui` in tmux, every screen.

A record, its commits and the log's settings carry escape sequences (window title by OSC 0 and 2,
blink/colour SGR, clear-screen, an OSC 8 hyperlink), a C1 CSI, bidi overrides and Textual/Rich
markup (`[@click=app.quit]`, `[/]`, `[link=...]`). The app is driven through the list, the preview,
the detail view, the history screen, the audit report's inspector table, and every lifecycle form
(edit, decide, reship, vendor contact, customer confirmation, close, and a new exception with the
hostile SKU as its completion).

Pass criteria: after every screen the tmux pane title is unchanged, the pane is alive, the screen
shows the payloads as visible text (so markup was not run and nothing was swallowed), the screen
holds no raw ESC, C1 or bidi character and no blink/conceal attribute (`capture-pane -e`); and the
whole byte stream the app wrote to its pty (`pipe-pane -O`) contains none of the payload sequences.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from decimal import Decimal
from pathlib import Path

import pytest
from textual.widgets import Input, TextArea

from kakotui.core.lifecycle import CostLine
from kakotui.core.money import Money
from kakotui.log import ExceptionLog
from kakotui.store.gitrepo import Identity
from tests.e2e.test_tmux import Terminal, _kakotui
from tests.helpers import config_data, qc
from tests.tui.test_forms import Host, fill, run_async, settle

OSC_TITLE = "\x1b]2;PWNED-TITLE\x07"
OSC_TITLE_ST = "\x1b]0;PWNED-ZERO\x1b\\"
SGR_BLINK = "\x1b[5;31mBLINKRED\x1b[0m"
CLEAR = "\x1b[2J\x1b[H"
C1 = "\x9b7mC1-REVERSE"
BIDI = "\u202eRTL-OVERRIDE\u202c"
HYPERLINK = "\x1b]8;;https://evil.example/\x07EVIL-LINK\x1b]8;;\x07"
MARKUP = "[@click=app.quit]CLICK-QUIT[/] [/] [link=https://evil.example]MLINK[/link] [bold red]MARKUP[/]"
ALL = " ".join([OSC_TITLE, OSC_TITLE_ST, SGR_BLINK, CLEAR, C1, BIDI, HYPERLINK, MARKUP])

# Byte sequences that must never reach the pty: each payload as the terminal would act on it.
FORBIDDEN = [
    b"\x1b]2;PWNED",
    b"\x1b]0;PWNED",
    b"\x1b[5;31mBLINKRED",
    b"\x1b]8;;https://evil",
    b"\xc2\x9b",  # C1 CSI, UTF-8 encoded
    "\u202e".encode(),
    "\u202c".encode(),
    b"PWNED-TITLE\x07",
]


def build_hostile_log(root: Path) -> str:
    """A log whose name, vendor, record fields, author and commit message all carry the payloads."""
    data = config_data()
    data["name"] = "Log " + OSC_TITLE + "[/]"
    data["vendors"][0]["name"] = "HX " + SGR_BLINK + " " + MARKUP
    mallory = Identity("Mallory " + OSC_TITLE_ST + SGR_BLINK + "[@click=app.quit]", "m@x.invalid")
    log = ExceptionLog.init(root, station="SZ1", site="SZ", config=data, identity=mallory)
    rid = log.new(
        qc(
            item_title="T " + OSC_TITLE + SGR_BLINK + MARKUP,
            description="D " + ALL + "\nline2 " + CLEAR + BIDI,
            sku="S" + BIDI,
            order_id="O" + C1,
            inspector="Insp " + OSC_TITLE + "[@click=app.quit]IQ[/]",
        )
    ).id
    log.decide(rid, "reship", reason="R " + ALL)
    cost = CostLine("freight", Money(Decimal("10.00"), "CNY"), "vendor")
    log.reship(rid, costs=[cost], carrier="sf-express", tracking="T" + SGR_BLINK, note="N " + ALL)
    log.contact_vendor(rid, channel="chat", summary="C " + ALL, outcome="no-response")
    loaded = log.get(rid)
    assert loaded.record is not None
    loaded.record["qc"]["severity"] = "minor"
    message = f"E {ALL}\n\nbody {ALL}\n\nKakotui-Action: edit\n"
    log.save(loaded.record, "edit", expected_blob=loaded.blob, message=message)
    log.close()
    return rid


_SGR = re.compile(r"\x1b\[([0-9;:]*)m")


def _sgr_attributes(params: str) -> list[int]:
    """The attribute codes of one SGR sequence, colour arguments (38;5;n, 48;2;r;g;b) left out."""
    codes = [int(p) if p.isdigit() else 0 for p in re.split("[;:]", params)]
    out, i = [], 0
    while i < len(codes):
        code = codes[i]
        if code in (38, 48, 58) and i + 1 < len(codes):
            i += 3 if codes[i + 1] == 5 else 5 if codes[i + 1] == 2 else 2
            continue
        out.append(code)
        i += 1
    return out


class Screen:
    def __init__(self, term: Terminal) -> None:
        self.term = term
        self.title = self.pane("#{pane_title}")
        self.visited: list[str] = []

    def pane(self, fmt: str) -> str:
        return self.term._tmux("display-message", "-p", "-t", "t", fmt).strip()

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.term._send(key)
            time.sleep(0.3)

    def check(self, name: str, *shown: str, timeout: float = 60.0) -> str:
        """Wait for `shown` texts on screen, then check that nothing reached the terminal."""
        screen = ""
        for text in shown:
            screen = self.term.wait_for(text, timeout=timeout)
        screen = self.term.settle(quiet=1.0)
        for text in shown:
            assert text in screen, f"{name}: {text!r} not shown literally:\n{screen}"
        assert self.pane("#{pane_dead}") == "0", f"{name}: the app died"
        assert self.pane("#{pane_title}") == self.title, f"{name}: the pane title changed"
        raw = [
            c
            for c in screen
            if c in "\x1b\x9b\u202e\u202c\u202d\u2066\u2067\u2068\u2069" or "\x80" <= c < "\xa0"
        ]
        assert not raw, f"{name}: raw control or bidi characters on screen: {raw!r}"
        styled = self.term._tmux("capture-pane", "-p", "-e", "-t", "t")
        attributes = {a for match in _SGR.finditer(styled) for a in _sgr_attributes(match[1])}
        assert not attributes & {5, 6, 8}, f"{name}: blink or concealed text on screen"
        assert "\x1b]" not in styled, f"{name}: an OSC sequence in the pane"
        self.visited.append(name)
        return screen


pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


@pytest.mark.timeout(600)
def test_hostile_text_reaches_no_terminal_from_any_screen(tmp_path: Path) -> None:
    root = tmp_path / "log"
    build_hostile_log(root)
    stream = tmp_path / "pty-output.bin"
    socket = f"kakotui-hostile-{os.getpid()}"
    # The pipe is attached before the app starts (the shell waits a second), so it sees every byte.
    term = Terminal(socket, ["sleep", "1;", "exec", _kakotui(), "--repo", str(root)], size=(120, 40))
    try:
        term._tmux("pipe-pane", "-t", "t", "-O", f"cat >> {stream}")
        s = Screen(term)
        s.check("list", "SZ1-2026-00001", "S\\u202e")
        s.keys("d")
        s.check("preview", "\\x1b]2;PWNED-TITLE", "CLICK-QUIT[/] [/]")
        s.keys("Enter")
        s.check("detail", "[@click=app.quit]CLICK-QUIT[/] [/]", "\\x9b7mC1-REVERSE", "\\u202eRTL-OVERRIDE")
        s.keys("h")
        s.check("history", "History", "\\x1b]0;PWNED-ZE", "E \\x1b]2;PWNED-TITLE")
        s.keys("Escape")
        s.check("detail again", "QC failure")
        s.keys("e")
        s.check("edit form", "Edit QC fields", "T ␛]2;PWNED-TITLE␇", "S�RTL-OVERRIDE�", "O�7mC1-REVERSE")
        for key, title in (
            ("x", "Decide"),
            ("r", "Reshipment"),
            ("v", "Vendor contact"),
            ("u", "Customer confirmation"),
            ("c", "Close"),
        ):
            s.keys("Escape")
            s.check(f"back from {title}", "QC failure")
            s.keys(key)
            s.check(f"{title} form", f"─ {title} ─", "SKU S\\u202eRTL-OVERRIDE\\u202c")
        s.keys("Escape")
        s.check("detail, forms closed", "QC failure")
        s.keys("Escape")
        s.check("list again", "SZ1-2026-00001")
        s.keys("n")
        s.check("new form", "New exception")
        s.keys("hx-leather", "Tab", "S")
        s.check("new form, SKU completion", "S�RTL-OVERRIDE�")
        s.keys("Escape")
        s.check("list after new", "SZ1-2026-00001")
        s.keys("R")
        s.check("reports", "scorecard", "hx-leather")
        for _tab in range(6):  # focus the report picker (its border turns the accent colour)
            term.type("Tab")
            if "\x1b[38;5;32m▊" in term._tmux("capture-pane", "-p", "-e", "-t", "t").splitlines()[2][:40]:
                break
        term.type("Enter", "Down", "Down", "Down", "Enter")  # scorecard, costs, reconcile, audit
        s.check("audit report", "breached %")
        s.keys("]", "]", "]", "]")
        s.check(
            "audit: inspectors",
            "Activity per inspector",
            "Insp \\x1b]2;PWNED-TITLE\\x07[@click=app.quit]IQ[/]",
        )
        s.keys("Escape")
        s.check("list at the end", "SZ1-2026-00001")
        term._send("C-q")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                s.pane("#{pane_dead}")
            except Exception:
                break  # the app quit normally and the session ended with it
            time.sleep(0.2)
    finally:
        term.close()
    data = stream.read_bytes()
    assert len(data) > 10_000, "the pty stream was not captured"
    found = [seq for seq in FORBIDDEN if seq in data]
    assert not found, f"payload sequences reached the pty: {found}"
    assert len(s.visited) == 25, s.visited
    print(f"\n{len(s.visited)} screens checked, {len(data):,} bytes of pty output scanned")


@run_async
async def test_edit_form_shows_hostile_values_inertly_and_keeps_them_unless_edited(tmp_path: Path) -> None:
    """Inputs show one symbol per control/bidi character, and an untouched field saves its exact value."""
    from kakotui.tui.forms import EditExceptionForm
    from tests.tui.test_forms import make_log

    log = make_log(tmp_path)
    title, description = "T " + OSC_TITLE + MARKUP, "D " + ALL + "\nline2 " + BIDI
    rid = log.new(
        {
            "vendor": "hx-leather",
            "sku": "S" + BIDI,
            "order_id": "O" + C1,
            "failure_code": "DEFECTIVE-BrokenHinge",
            "severity": "major",
            "item_title": title,
            "description": description,
        }
    ).id
    app = Host(lambda: EditExceptionForm(log, rid))
    async with app.run_test(size=(110, 45)) as pilot:
        await settle(pilot)
        form = app.form
        shown = [w.value for w in form.query(Input)] + [w.text for w in form.query(TextArea)]
        assert all(not any(c in text for c in "\x1b\x9b\u202e\u202c") for text in shown), shown
        assert "T ␛]2;PWNED-TITLE␇" + MARKUP in shown and form.get("item_title") == title
        fill(form, order_id="O-CLEAN")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.results and app.results[0] is not None
    record = log.get(rid).record
    assert record is not None
    assert (record["qc"]["item_title"], record["qc"]["description"]) == (title, description)
    assert (record["qc"]["sku"], record["qc"]["order_id"]) == ("S" + BIDI, "O-CLEAN")
    log.close()

"""The sync screen in the app (Pilot): sync runs in a worker, the summary shows, and kept conflicts
are resolved with one keystroke per field."""

from __future__ import annotations

import asyncio
from typing import Any

from textual.widgets import OptionList, Static

from kakotui.core import yamlio
from kakotui.tui.app import KakotuiApp
from kakotui.tui.detail import DetailScreen
from kakotui.tui.rows import INVALID_FLAG
from kakotui.tui.sync import ConflictScreen, SyncScreen
from tests.helpers import git
from tests.sync.conftest import Network, new_qc

SIZE = (110, 36)


def conflicting(net: Network, fields: dict[str, tuple[str, str]]) -> str:
    """Stations a and b set each field differently; a syncs first. Returns the record id."""
    a, b = net.station("a"), net.station("b")
    rid = net.seed_ids[0]
    a.edit(rid, [(f, ours) for f, (ours, _) in fields.items()])
    b.edit(rid, [(f, theirs) for f, (_, theirs) in fields.items()])
    net.sync("a")
    return rid


async def _until(pilot: Any, condition: Any, timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.05)):
        await pilot.pause()
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


def test_sync_screen_shows_the_summary_and_resolves_a_conflict_with_one_key(file_network: Network) -> None:
    rid = conflicting(file_network, {"qc.severity": ("critical", "minor")})
    b = file_network.station("b")
    app = KakotuiApp(b, keymap={}, cursor_blink=False)
    results: list[Any] = []

    async def run() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = SyncScreen(b)
            app.push_screen(screen, results.append)
            await _until(pilot, lambda: screen.summary is not None and not screen.running)
            assert screen.error is None and screen.summary is not None
            assert screen.summary.merged == [rid] and screen.summary.pushed
            text = str(screen.query_one("#sync-summary", Static).render())
            assert "received: 1 record(s)" in text and "conflicts kept for a person: 1" in text
            options = screen.query_one("#sync-conflicts", OptionList)
            assert options.display and options.option_count == 1

            await pilot.press("enter")  # open the conflicted record
            await _until(pilot, lambda: isinstance(app.screen, ConflictScreen))
            conflict_screen = app.screen
            assert isinstance(conflict_screen, ConflictScreen)
            assert [n.field for n in conflict_screen.notes] == ["qc.severity"]
            await pilot.press("t")  # one keystroke: take theirs (a's value); the last choice saves
            await _until(pilot, lambda: app.screen is screen)
            await _until(pilot, lambda: not screen.conflicts)
            assert screen.query_one("#sync-conflicts", OptionList).display is False
            await pilot.press("escape")
            await pilot.pause()

    asyncio.run(run())
    assert results and results[0] is not None and results[0].merged == [rid]
    record = b.get(rid).record
    assert record is not None and record["qc"]["severity"] == "critical" and "conflicts" not in record
    assert "Kakotui-Action: merge" in git(b.root, "log", "-1", "--format=%B")
    assert git(b.root, "status", "--porcelain") == ""


def test_conflict_screen_takes_one_key_per_field_and_saves_once(file_network: Network) -> None:
    rid = conflicting(file_network, {"qc.severity": ("critical", "minor"), "qc.sku": ("SKU-A", "SKU-B")})
    b = file_network.station("b")
    summary = file_network.sync("b")
    assert {c.field for c in summary.conflicts} == {"qc.severity", "qc.sku"}
    commits_before = int(git(b.root, "rev-list", "--count", "HEAD"))
    app = KakotuiApp(b, keymap={}, cursor_blink=False)
    results: list[Any] = []
    fields: list[str] = []

    async def run() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = ConflictScreen(b, rid)
            app.push_screen(screen, results.append)
            await _until(pilot, lambda: len(screen.query(".conflict")) == 2)
            fields.extend(n.field for n in screen.notes)
            await pilot.press("o")  # first field: ours (b's value)
            assert screen.choices == {fields[0]: "ours"} and screen.current == 1
            await pilot.press("t")  # second field: theirs (a's value); saves
            await _until(pilot, lambda: bool(results))

    asyncio.run(run())
    assert results[0] is not None and results[0].action == "merge"
    record = b.get(rid).record
    assert record is not None and "conflicts" not in record
    chosen = {"qc.severity": record["qc"]["severity"], "qc.sku": record["qc"]["sku"]}
    notes = {n.field: n for n in summary.conflicts}
    assert chosen[fields[0]] == notes[fields[0]].ours and chosen[fields[1]] == notes[fields[1]].theirs
    assert int(git(b.root, "rev-list", "--count", "HEAD")) == commits_before + 1
    assert b.conflicts() == []


def test_invalid_incoming_records_are_listed_on_the_sync_screen_and_flagged_in_the_list(
    file_network: Network,
) -> None:
    net = file_network
    a, b = net.station("a"), net.station("b")
    good = b.new(new_qc(sku="B-GOOD")).id
    record = b.get(good).record
    assert record is not None
    bad = {**record, "id": "SZ2-2026-00002", "qc": {**record["qc"], "vendor": "nobody-knows"}}
    hand = {
        "records/2026/SZ2/000/SZ2-2026-00002.yaml": yamlio.dump(bad),
        "records/2026/SZ2/000/SZ2-2026-00003.yaml": "id: [unclosed\n",
    }
    for rel, text in hand.items():
        (b.root / rel).write_text(text)
    git(b.root, "add", "records")
    git(b.root, "commit", "-qm", "pushed by hand, without kakotui")
    git(b.root, "push", "-q", str(net.bare), "main")
    app = KakotuiApp(a, keymap={}, cursor_blink=False)
    seen: dict[str, Any] = {}

    async def run() -> None:
        async with app.run_test(size=SIZE) as pilot:
            main = app.main_screen
            await _until(pilot, lambda: len(main.shown_ids) == 2)
            await pilot.press("s")  # the sync screen, as staff open it
            await _until(pilot, lambda: isinstance(app.screen, SyncScreen))
            screen = app.screen
            assert isinstance(screen, SyncScreen)
            await _until(pilot, lambda: screen.summary is not None and not screen.running)
            assert screen.error is None
            seen["summary"] = str(screen.query_one("#sync-summary", Static).render())
            await pilot.press("escape")
            await _until(pilot, lambda: app.screen is main and len(main.shown_ids) == 5)
            seen["flags"] = {row[0]: row[1] for row in main._rows}
            for rid in ("SZ2-2026-00002", "SZ2-2026-00003"):  # each opens, its problems shown
                app.open_detail(rid)
                await _until(pilot, lambda: isinstance(app.screen, DetailScreen))
                await pilot.pause()
                seen[rid] = str(app.screen.query_one("#detail-head", Static).render())
                await pilot.press("escape")
                await _until(pilot, lambda: app.screen is main)

    asyncio.run(run())
    text = seen["summary"]
    assert "invalid incoming records: 2" in text
    assert "invalid SZ2-2026-00002" in text and "nobody-knows" in text and "invalid SZ2-2026-00003" in text
    assert seen["flags"] == {
        **dict.fromkeys(net.seed_ids, ""),
        good: "",
        "SZ2-2026-00002": INVALID_FLAG,
        "SZ2-2026-00003": INVALID_FLAG,
    }
    assert "nobody-knows" in seen["SZ2-2026-00002"]
    assert "[yaml]" in seen["SZ2-2026-00003"] and "cannot be read as a record" in seen["SZ2-2026-00003"]

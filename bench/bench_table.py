"""Micro-benchmark of the virtual exception table (kakotui.tui.table.ExceptionTable), headless.

Measures, at 100k and 200k synthetic rows of 9 columns:
  - mount + first render of an app holding the table (and an empty app, the floor), wall and CPU;
  - the widget's own work per keypress, in thread CPU time (the machines are shared and noisy): the
    action plus a full repaint of one screen (`render_lines` over the whole widget, which calls
    `render_line` per line), for a cursor move, PageDown and End, and a repaint alone; pilot.press
    latency (~80 ms headless) is deliberately not measured;
  - set_data with a new order keeping the cursor, and move_to_id (O(N) look-ups, once per re-sort,
    filter or jump, never per keypress);
  - memory: bytes per row of the row tuples themselves and of the widget (tracemalloc).

Run: .venv/bin/python bench/bench_table.py [--sizes 100000 200000] [--repeat 200]
Prints medians; results go to docs/, not to tests.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
import tracemalloc
from array import array
from collections.abc import Callable, Sequence

from textual.app import App, ComposeResult
from textual.geometry import Region

from kakotui.tui.table import Column, ExceptionTable

COLUMNS = (
    Column("id", "ID", 15),
    Column("status", "Status", 12, min_width=8),
    Column("age", "Age", 4, "right"),
    Column("vendor", "Vendor", 16, min_width=8),
    Column("sku", "SKU", 12, min_width=8),
    Column("code", "Code", 22, min_width=10),
    Column("cost", "Cost", 10, "right"),
    Column("responsible", "Responsible", 11, min_width=8),
    Column("inspector", "Inspector", 10, min_width=6),
)
STATUSES = ("open", "decided", "reshipping", "awaiting-confirmation", "closed")
VENDORS = ("acme-hardware", "shenzhen-hinge", "义乌小商品", "guangzhou-bags", "东莞电子", "ningbo-textile")
CODES = ("DEFECTIVE-BrokenHinge", "WRONG-ITEM", "DAMAGED-Packaging", "MISSING-Parts", "DEFECTIVE-Stain")
PARTIES = ("vendor", "carrier", "warehouse", "customer", "platform")
INSPECTORS = ("li.wei", "wang.fang", "zhang.min", "chen.jie", "liu.yang")
TERMINAL = (120, 40)

Row = tuple[str, ...]


def make_rows(count: int) -> list[Row]:
    """Synthetic index rows: every cell a distinct str, as the index would hand them over."""
    return [
        (
            f"{('SZ1', 'SZ2', 'GZ1')[i % 3]}-2026-{i:05d}",
            STATUSES[i * 7 % 5],
            str(i * 13 % 120),
            VENDORS[i * 11 % 6],
            f"SKU-{i * 7919 % 1_000_000:06d}",
            CODES[i * 3 % 5],
            f"{i * 37 % 2000}.{i % 100:02d} CNY",
            PARTIES[i % 5],
            INSPECTORS[i * 17 % 5],
        )
        for i in range(count)
    ]


class BenchApp(App[None]):
    def __init__(self, rows: Sequence[Row], order: Sequence[int] | None) -> None:
        super().__init__()
        self.rows = rows
        self.order = order

    def compose(self) -> ComposeResult:
        yield ExceptionTable(COLUMNS, zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(ExceptionTable)
        table.set_data(self.rows, self.order)
        table.focus()


class EmptyApp(App[None]):
    pass


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:8.3f} ms"


async def time_first_paint(
    rows: Sequence[Row] | None, order: Sequence[int] | None, repeat: int
) -> tuple[list[float], list[float]]:
    """Wall and process-CPU seconds from creating the app to its first frame."""
    wall, cpu = [], []
    for _ in range(repeat):
        gc.collect()
        app: App[None] = EmptyApp() if rows is None else BenchApp(rows, order)
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        async with app.run_test(size=TERMINAL) as pilot:
            await pilot.pause()
            wall.append(time.perf_counter() - start_wall)
            cpu.append(time.process_time() - start_cpu)
            if rows is not None:
                table = app.query_one(ExceptionTable)
                first = rows[order[0] if order is not None else 0][0]
                assert first in table.render_line(1).text, "first row not painted"
    return wall, cpu


def frame(table: ExceptionTable) -> None:
    """Render every line of the widget, as Textual does for a full repaint (refresh() defeats its line cache)."""
    width, height = table.outer_size
    table.refresh()
    table.render_lines(Region(0, 0, width, height))


async def time_keys(table: ExceptionTable, repeat: int) -> dict[str, list[float]]:
    count = table.row_count
    results: dict[str, list[float]] = {"cursor down": [], "pagedown": [], "end": [], "repaint alone": []}

    def measure(name: str, action: Callable[[], None]) -> None:
        start = time.thread_time()
        action()
        frame(table)
        results[name].append(time.thread_time() - start)

    table.move_to_id(str(table._rows[count // 2][0]))
    for i in range(repeat):
        measure("cursor down", table.action_cursor_down if i % 2 == 0 else table.action_cursor_up)
        if (table.cursor_position or 0) > count - 100:
            table.action_cursor_first()
        measure("pagedown", table.action_page_down)
        table.action_cursor_first()
        measure("end", table.action_cursor_last)
        measure("repaint alone", lambda: None)
        if i % 20 == 0:
            await asyncio.sleep(0)  # let the app drain the RowHighlighted messages
    return results


async def time_resort(table: ExceptionTable, rows: Sequence[Row], repeat: int) -> list[float]:
    natural = array("l", range(len(rows)))
    backwards = array("l", range(len(rows) - 1, -1, -1))
    samples = []
    for i in range(repeat):
        table.move_to_id(str(rows[len(rows) // 3][0]))
        start = time.thread_time()
        table.set_data(rows, backwards if i % 2 == 0 else natural)
        frame(table)
        samples.append(time.thread_time() - start)
        await asyncio.sleep(0)
    return samples


def memory_of_rows(count: int) -> float:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    rows = make_rows(count)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del rows
    return (after - before) / count


async def memory_of_widget(rows: Sequence[Row], order: Sequence[int]) -> int:
    app = BenchApp((), None)
    async with app.run_test(size=TERMINAL) as pilot:
        table = app.query_one(ExceptionTable)
        await pilot.pause()
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        table.set_data(rows, order)
        await pilot.press("end", "pageup", "down")
        await pilot.pause()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    return after - before


async def bench(count: int, repeat: int, paints: int) -> None:
    print(f"\n== {count:,} rows x {len(COLUMNS)} columns, terminal {TERMINAL[0]}x{TERMINAL[1]} ==")
    start = time.perf_counter()
    rows = make_rows(count)
    order = array("l", range(count - 1, -1, -1))  # newest first, as the owner would sort
    print(f"build rows (not the widget's work)  {(time.perf_counter() - start) * 1000:8.1f} ms")

    for label, data in (("empty app, first frame", None), ("mount + first render", rows)):
        wall, cpu = await time_first_paint(data, order, paints)
        print(f"{label:<35}{median_ms(wall)} wall, {median_ms(cpu)} CPU")

    app = BenchApp(rows, order)
    async with app.run_test(size=TERMINAL) as pilot:
        await pilot.pause()
        table = app.query_one(ExceptionTable)
        keys = await time_keys(table, repeat)
        for name, samples in keys.items():
            print(f"{name + ' (+ full repaint)':<35}{median_ms(samples)}")
        print(
            f"set_data re-sort, keep cursor      {median_ms(await time_resort(table, rows, max(5, repeat // 20)))}"
        )
        table.set_data(rows, array("l", range(count)))
        start = time.thread_time()
        table.move_to_id(str(rows[-1][0]))  # last row, last position: a full scan of rows and of order
        print(f"move_to_id, worst case             {(time.thread_time() - start) * 1000:8.3f} ms")

    print(f"memory: row tuples (caller's data) {memory_of_rows(count):8.1f} B/row")
    widget_bytes = await memory_of_widget(rows, order)
    print(
        f"memory: widget over those rows     {widget_bytes / 1024:8.1f} KiB in all ({widget_bytes / count:.2f} B/row)"
    )
    print(f"memory: order array('l')           {order.itemsize:8.1f} B/row")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 200_000])
    parser.add_argument("--repeat", type=int, default=200, help="samples per keypress figure")
    parser.add_argument("--paints", type=int, default=5, help="samples of mount + first render")
    args = parser.parse_args()
    for count in args.sizes:
        asyncio.run(bench(count, args.repeat, args.paints))


if __name__ == "__main__":
    main()

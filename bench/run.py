"""Measure kakotui at scale, side by side with the tools people use instead; write docs/PERFORMANCE.md.

For each size N it builds (or reuses from bench/.cache/) a log of N records and N commits
(bench/generate.py), clones it (timed: the `git clone` figure), and measures, as medians:
the first index build (and the loaders behind it), catch-up after 1,000 incoming changed records,
warm start (in process, and launch to first row of the real TUI in tmux), filter keystroke and sort
work, saving one record, one record's history and blame, every report, the TUI's peak memory,
repository growth per saved record, and git maintenance. Peers (VisiData, hledger) where installed.

Run: .venv/bin/python bench/run.py [--n 10000,100000,200000] [--repeat 5]
Results: docs/PERFORMANCE.md and docs/performance.json (both rewritten; figures of sizes not run
this time are kept from the JSON file).
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import generate  # noqa: E402

from kakotui import __version__  # noqa: E402
from kakotui.core import yamlio  # noqa: E402
from kakotui.core.record import to_text  # noqa: E402
from kakotui.log import ExceptionLog  # noqa: E402
from kakotui.store.gitrepo import Git, run_maintenance  # noqa: E402
from kakotui.tui.rows import LISTING_COLUMNS, SORT_CYCLE, build_list, filter_order, sort_order  # noqa: E402

CACHE = generate.CACHE
ID_RE = re.compile(r"[A-Z][A-Z0-9]{1,7}-[0-9]{4}-[0-9]{5}")
KAKOTUI = Path(sys.executable).parent / "kakotui"
TMUX_SOCKET = "kakotui-bench"
SETTLED_RE = re.compile(r"│ [0-9,]+ records")  # the status bar once the whole list is loaded
SETTLED_S: list[float] = []  # seconds from launch until the whole list was loaded (kakotui)
FIRST_ROW_CPU: list[float] = []  # CPU seconds of each launch up to its first row (the machine may be busy)

# (figure key, label, unit, target at 100k, target at 200k); None: no target, shown for reference
TARGETS: list[tuple[str, str, str, float | None, float | None]] = [
    ("index_build_s", "first index build from the YAML files", "s", 20.0, 40.0),
    ("catch_up_1000_s", "catch-up after 1,000 incoming changed records", "s", 2.0, 2.0),
    ("tmux_first_row_s", "warm start: launch to first row in tmux", "s", 1.0, 1.2),
    ("tmux_whole_list_s", "warm start: launch to the whole list loaded in tmux", "s", None, None),
    ("warm_open_s", "warm open in process (open, catch-up, read rows)", "s", None, None),
    ("filter_ms", "filter keystroke work (slowest query)", "ms", 50.0, 50.0),
    ("sort_ms", "sort work (slowest column)", "ms", 150.0, 150.0),
    ("save_ms", "save one record (validate, write, commit, index)", "ms", 100.0, 100.0),
    ("git_add_commit_ms", "plain git add + git commit, for comparison", "ms", None, None),
    (
        "trail_build_s",
        "commit table for log/blame, built once per clone (not in the index build)",
        "s",
        None,
        None,
    ),
    ("history_ms", "one record's history (log)", "ms", 150.0, 150.0),
    ("blame_ms", "one record's blame", "ms", 150.0, 150.0),
    ("report_ms", "slowest report", "ms", 200.0, 200.0),
    ("tui_peak_mb", "peak memory of the TUI, whole list loaded (VmHWM)", "MB", 250.0, 250.0),
    ("growth_kb", "repository growth per saved record (packed)", "KB", 5.0, 5.0),
    ("repo_mb", "repository size (packed objects)", "MB", None, None),
    ("clone_s", "git clone of the log (no-local, with checkout)", "s", None, None),
    ("maintenance_s", "maintenance run (gc --auto + commit-graph)", "s", None, None),
]


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def clock(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall seconds of `repeat` calls, and the last result."""
    times: list[float] = []
    result: Any = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return median(times), result


def say(message: str) -> None:
    print(message, flush=True)


def git(cwd: Path, *args: str, input: bytes | None = None) -> str:
    proc = subprocess.run(["git", "-C", str(cwd), *args], input=input, capture_output=True, check=True)
    return proc.stdout.decode("utf-8", "replace")


# -- preparing a working clone ---------------------------------------------------------------------


def working_clone(source: Path, n: int) -> tuple[Path, float]:
    """A fresh clone of the cached log, set up as `kakotui init` sets a log up; and the clone time."""
    work = CACHE / f"work-{n}"
    shutil.rmtree(work, ignore_errors=True)
    t0 = time.perf_counter()
    subprocess.run(["git", "clone", "-q", "--no-local", str(source), str(work)], check=True)
    elapsed = time.perf_counter() - t0
    for key, value in (
        ("core.splitIndex", "true"),
        ("index.version", "4"),
        ("core.untrackedCache", "true"),
        ("kakotui.station", generate.STATION),
        ("user.name", generate.BENCH_USER[0]),
        ("user.email", generate.BENCH_USER[1]),
    ):
        git(work, "config", key, value)
    git(work, "update-index", "--split-index", "--untracked-cache")
    ensure_fx_rates(work)
    git(work, "commit-graph", "write", "--reachable", "--changed-paths", "--no-progress")
    return work, elapsed


def clone_time(source: Path) -> float:
    """The time of `git clone --no-local` of the cached log into a scratch folder (removed after)."""
    scratch = CACHE / "clone-scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    t0 = time.perf_counter()
    subprocess.run(["git", "clone", "-q", "--no-local", str(source), str(scratch)], check=True)
    elapsed = time.perf_counter() - t0
    shutil.rmtree(scratch, ignore_errors=True)
    return elapsed


def ensure_fx_rates(work: Path) -> None:
    """Give every month of the log's span an FX rate (the sample config has 2026's only), so that
    the money reports can run over the generated 2025 records too. Committed like any config edit."""
    config_file = work / "kakotui.yaml"
    data = yamlio.load(config_file.read_bytes())
    rates = data.get("fx_rates") or {}
    known = sorted(rates)
    if not known:
        return
    months = [f"{y}-{m:02d}" for y in range(generate.START.year, generate.END.year + 1) for m in range(1, 13)]
    missing = [m for m in months if m not in rates]
    if not missing:
        return
    for month in missing:
        rates[month] = dict(
            rates[
                min(
                    known,
                    key=lambda k: abs(int(k[:4]) * 12 + int(k[5:]) - int(month[:4]) * 12 - int(month[5:])),
                )
            ]
        )
    data["fx_rates"] = dict(sorted(rates.items()))
    config_file.write_text(yamlio.dump(data), encoding="utf-8")
    git(
        work,
        "commit",
        "-q",
        "-m",
        "Bench: FX rates for every month of the generated span",
        "--",
        "kakotui.yaml",
    )


def drop_index(work: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(work / ".git" / "kakotui" / "index.sqlite") + suffix).unlink(missing_ok=True)


# -- figures ---------------------------------------------------------------------------------------


def loaders(work: Path, count: int = 1500) -> dict[str, float]:
    """Records per CPU-second of each loader and validator on real record files."""
    import yaml

    from kakotui.core.schemas import Schemas, load_schema_texts

    files = sorted((work / "records").rglob("*.yaml"))
    files = random.Random(1).sample(files, min(count, len(files)))
    texts = [f.read_text("utf-8") for f in files]
    schemas = Schemas(load_schema_texts(work / "schema"))
    records = [yamlio.load(t) for t in texts]
    reference = schemas.reference("exception")

    def rate(fn: Callable[[Any], Any], items: list[Any]) -> float:
        t0 = time.process_time()
        for item in items:
            fn(item)
        return round(len(items) / max(time.process_time() - t0, 1e-9))

    return {
        "yamlio.load (canonical fast path)": rate(yamlio.load, texts),
        "yamlio strict loader (libyaml events)": rate(yamlio._load_events, texts),
        "PyYAML CSafeLoader": rate(lambda t: yaml.load(t, Loader=yaml.CSafeLoader), texts),
        "jsonschema (reference)": rate(reference.is_valid, records[:300]),
        "jsonschema_rs fast check (Schemas.fast_valid)": rate(
            lambda r: schemas.fast_valid("exception", r), records
        ),
    }


def index_build(work: Path, repeat: int, *, workers: int | None = None) -> float:
    def once() -> None:
        drop_index(work)
        with ExceptionLog(work) as log:
            log.index.workers = workers
            log.rebuild_index(lambda done, total: None)

    seconds, _ = clock(once, repeat)
    return seconds


def _cpu() -> float:
    """CPU seconds of this process and its finished children (pool workers, git): robust to a busy machine."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def warm_open(work: Path, repeat: int) -> float:
    def once() -> int:
        with ExceptionLog(work) as log:
            log.refresh()
            rows = log.records("", columns=LISTING_COLUMNS)
            return len(build_list(rows, log.today(), log.config.reporting_currency).rows)

    seconds, _ = clock(once, repeat)
    return seconds


def catch_up(work: Path, repeat: int, changed: int = 1000) -> tuple[float, float]:
    """Median catch-up after `changed` records arrive from elsewhere, and the HEAD-unchanged catch-up."""
    times: list[float] = []
    with ExceptionLog(work) as log:
        log.refresh()
        paths = [r["path"] for r in log.records("", columns=["path"])]
        rng = random.Random(3)
        for k in range(repeat):
            chosen = rng.sample(paths, min(changed, len(paths)))
            changes: dict[str, bytes | None] = {}
            for path in chosen:
                record = yamlio.load((work / path).read_bytes())
                qc = record["qc"]
                qc["description"] = (qc.get("description") or "Checked").rstrip("\n") + f" (re-checked {k})"
                changes[path] = to_text(record, log.schemas).encode()
            # What a pull does: a commit from elsewhere, the files and git's index brought in line.
            log.git.commit_files(changes, f"Incoming {changed} changes ({k})\n", log.identity)
            for path, data in changes.items():
                assert data is not None
                (work / path).write_bytes(data)
            git(work, "update-index", "-q", "--refresh")
            t0 = time.perf_counter()
            result = log.refresh()
            times.append(time.perf_counter() - t0)
            assert result.changed >= len(chosen), result
        unchanged, _ = clock(log.refresh, max(repeat, 5))
    return median(times), unchanged


FILTERS = [
    "status:open",
    "vendor:hx-leather",
    "code:DEFECTIVE*",
    "hinge",
    "cost>100 since:2026-06-01",
    "site:SZ status:closed",
]


def filter_and_sort(work: Path, repeat: int) -> tuple[dict[str, float], dict[str, float]]:
    """Milliseconds of the list screen's own work: per filter query, per sort column.

    What the TUI runs (kakotui.tui.screens): the filter selects rows in memory (kakotui.store.memquery)
    and counts them by status, then keeps the current sort's order for them; a sort orders every row.
    """
    with ExceptionLog(work) as log:
        log.refresh()
        today = log.today()
        data = build_list(
            log.records("", columns=LISTING_COLUMNS, today=today), today, log.config.reporting_currency
        )
        order = sort_order(data, "id", today=today)
        filters: dict[str, float] = {}
        for query in FILTERS:

            def keystroke(query: str = query) -> int:
                mask = data.listing.select(query, today=today)
                data.listing.counts(mask)
                return len(filter_order(order, mask))

            filters[query] = round(clock(keystroke, repeat)[0] * 1000, 1)
        sorts: dict[str, float] = {}
        for column in SORT_CYCLE:
            sorts[column] = round(clock(partial(_sort_work, data, column, today), repeat)[0] * 1000, 1)
    return filters, sorts


def _sort_work(data: Any, column: str, today: Any) -> list[int]:
    return filter_order(sort_order(data, column, today=today), None)


def saves(work: Path, count: int) -> dict[str, Any]:
    """Save `count` records (edits of existing ones); time each; the packed growth they caused."""
    out: dict[str, Any] = {}
    with ExceptionLog(work) as log:
        log.refresh()
        ids = [str(r["id"]) for r in log.records("status:open", columns=["id"])] or [
            str(r["id"]) for r in log.records("", columns=["id"])
        ]
        rng = random.Random(5)
        before = log.git.head()
        times: list[float] = []
        for k in range(count):
            loaded = log.get(rng.choice(ids))
            assert loaded.record is not None
            record = loaded.record
            record["qc"]["description"] = (record["qc"].get("description") or "x").rstrip(
                "\n"
            ) + f" (note {k})"
            t0 = time.perf_counter()
            log.save(record, "edit", expected_blob=loaded.blob)
            times.append(time.perf_counter() - t0)
        after = log.git.head()
        out["save_ms"] = round(median(times) * 1000, 1)
        out["save_ms_p90"] = round(sorted(times)[int(len(times) * 0.9)] * 1000, 1)
        assert before and after
        objects = git(work, "rev-list", "--objects", f"{before}..{after}")
        packed = subprocess.run(
            ["git", "-C", str(work), "pack-objects", "--stdout", "--thin", "--revs", "-q"],
            input=f"{after}\n^{before}\n".encode(),
            capture_output=True,
            check=True,
        ).stdout
        out["growth_kb"] = round(len(packed) / count / 1024, 2)
        out["growth_objects"] = len(objects.splitlines())
        status = git(work, "status", "--porcelain", "-uno")
        out["status_clean_after_saves"] = status.strip() == ""
    return out


def git_add_commit(work: Path, repeat: int) -> float:
    files = sorted((work / "records").rglob("*.yaml"))[:repeat]
    times: list[float] = []
    for k, file in enumerate(files):
        file.write_text(file.read_text("utf-8") + f"# {k}\n")
        rel = file.relative_to(work).as_posix()
        t0 = time.perf_counter()
        git(work, "add", "--", rel)
        git(work, "commit", "-q", "-m", f"plain commit {k}")
        times.append(time.perf_counter() - t0)
        # take it back so the log stays canonical
        file.write_text(file.read_text("utf-8").removesuffix(f"# {k}\n"))
        git(work, "commit", "-q", "-am", f"revert plain commit {k}")
    return median(times)


def history_and_blame(work: Path, repeat: int, fig: dict[str, Any]) -> tuple[float | None, float | None, str]:
    with ExceptionLog(work) as log:
        log.refresh()
        rid = str(log.records("status:closed", columns=["id"], limit=50)[-1]["id"])
        try:
            # the commit table log/blame read: built once per clone, by the first of them (or
            # `kakotui index --history`), not by the index build; timed here on its own
            from kakotui.store import trail

            trail.drop(log.index.db)
            cpu0, t0 = _cpu(), time.perf_counter()
            log.index.build_trail()
            fig["trail_build_s"] = round(time.perf_counter() - t0, 2)
            fig["trail_build_cpu_s"] = round(_cpu() - cpu0, 2)
            history, _ = clock(lambda: list(log.history(rid)), repeat)
            blame, _ = clock(lambda: log.blame(rid), repeat)
        except Exception as exc:  # the audit trail is another issue's work: say what happened
            return None, None, f"{type(exc).__name__}: {exc}"
    return history, blame, rid


def reports(work: Path, repeat: int) -> dict[str, float | str]:
    out: dict[str, float | str] = {}
    try:
        from kakotui.reports import REPORTS
    except ImportError as exc:
        return {"(none)": f"not available: {exc}"}
    with ExceptionLog(work) as log:
        log.refresh()
        for name in REPORTS:
            try:
                seconds, _ = clock(partial(log.report, name), repeat)
                out[name] = round(seconds * 1000, 1)
            except Exception as exc:
                out[name] = f"failed: {type(exc).__name__}: {str(exc)[:120]}"
    return out


def maintenance(work: Path) -> dict[str, Any]:
    """Run kakotui's maintenance once (as every 50th save does) and wait; what it left behind."""
    before = git(work, "count-objects", "-v")
    t0 = time.perf_counter()
    with Git(work) as g:
        proc = run_maintenance(g)
        proc.wait()
    elapsed = time.perf_counter() - t0
    after = git(work, "count-objects", "-v")
    graph = work / ".git" / "objects" / "info" / "commit-graph"
    chain = work / ".git" / "objects" / "info" / "commit-graphs"
    return {
        "maintenance_s": round(elapsed, 2),
        "loose_before": _count(before, "count"),
        "loose_after": _count(after, "count"),
        "commit_graph": graph.is_file() or chain.is_dir(),
    }


def _count(text: str, key: str) -> int:
    for line in text.splitlines():
        name, _, value = line.partition(": ")
        if name == key:
            return int(value)
    return 0


def repo_size_mb(path: Path) -> float:
    info = git(path, "count-objects", "-v")
    return round((_count(info, "size-pack") + _count(info, "size")) / 1024, 1)


# -- tmux --------------------------------------------------------------------------------------------


def tmux(*args: str, check: bool = True) -> str:
    proc = subprocess.run(["tmux", "-L", TMUX_SOCKET, *args], capture_output=True, check=check)
    return proc.stdout.decode("utf-8", "replace")


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds used so far by `pid` and its descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            todo.extend(int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split())
        except (OSError, ValueError, IndexError):
            continue
    return total


def _tree_hwm_kb(pid: int) -> int:
    """The largest VmHWM among `pid` and its descendants."""
    best = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    best = max(best, int(line.split()[1]))
            for child in Path(f"/proc/{p}/task/{p}/children").read_text().split():
                todo.append(int(child))
        except (OSError, ValueError):
            continue
    return best


def first_row_in_tmux(
    command: list[str],
    pattern: re.Pattern[str],
    timeout: float = 120.0,
    settled: re.Pattern[str] | None = None,
) -> tuple[float, int]:
    """Seconds from launching `command` in a 160x45 tmux window until `pattern` shows; peak KB of memory.

    The peak is read once `settled` shows (the whole list loaded), or 2 s after the first row.
    """
    tmux("kill-session", "-t", "bench", check=False)
    if not tmux("has-session", "-t", "base", check=False) and shutil.which("tmux"):
        tmux("new-session", "-d", "-s", "base", "-x", "80", "-y", "24", check=False)
    env = {"TERM": "xterm-256color", "COLORTERM": "truecolor"}
    shell = " ".join(f"{k}={v}" for k, v in env.items()) + " exec " + " ".join(_quote(c) for c in command)
    t0 = time.perf_counter()
    tmux("new-session", "-d", "-s", "bench", "-x", "160", "-y", "45", shell)
    pid = int(tmux("list-panes", "-t", "bench", "-F", "#{pane_pid}").split()[0])
    seen = None
    while time.perf_counter() - t0 < timeout:
        screen = tmux("capture-pane", "-p", "-t", "bench", check=False)
        if pattern.search(screen):
            seen = time.perf_counter() - t0
            FIRST_ROW_CPU.append(_tree_cpu_s(pid))
            break
        time.sleep(0.01)
    if settled is None:
        time.sleep(2.0)  # let the rest of the load settle before reading the peak
    else:
        while time.perf_counter() - t0 < timeout:
            if settled.search(tmux("capture-pane", "-p", "-t", "bench", check=False)):
                SETTLED_S.append(time.perf_counter() - t0)
                break
            time.sleep(0.05)
        time.sleep(0.5)
    peak = _tree_hwm_kb(pid)
    tmux("kill-session", "-t", "bench", check=False)
    if seen is None:
        raise TimeoutError(f"no match for {pattern.pattern} within {timeout} s: {' '.join(command)}")
    return seen, peak


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def tui_first_row(work: Path, repeat: int) -> tuple[float, float]:
    FIRST_ROW_CPU.clear()
    SETTLED_S.clear()
    times: list[float] = []
    peaks: list[int] = []
    for _ in range(repeat):
        seconds, peak = first_row_in_tmux([str(KAKOTUI), "--repo", str(work)], ID_RE, settled=SETTLED_RE)
        times.append(seconds)
        peaks.append(peak)
    return median(times), round(max(peaks) / 1024, 1)


# -- peers ---------------------------------------------------------------------------------------------


PEER_COLUMNS = LISTING_COLUMNS[:-1]  # the list's columns without the free-text blob


def peers(work: Path, repeat: int) -> dict[str, Any]:
    """VisiData on an equivalent CSV and `hledger bal` on an equivalent journal, where installed."""
    out: dict[str, Any] = {}
    vd = shutil.which("vd") or str(CACHE / "peers" / "bin" / "vd")
    hledger = shutil.which("hledger")
    with ExceptionLog(work) as log:
        log.refresh()
        rows = log.records("", columns=PEER_COLUMNS)
        csv_path = CACHE / f"peers-{work.name}.csv"
        with csv_path.open("w", encoding="utf-8") as fh:
            fh.write(",".join(PEER_COLUMNS) + "\n")
            for r in rows:
                fh.write(",".join(str(v if v is not None else "").replace(",", ";") for v in tuple(r)) + "\n")
        journal = CACHE / f"peers-{work.name}.journal"
        currency = log.config.reporting_currency
        with journal.open("w", encoding="utf-8") as fh:
            for r in rows:
                rid, status, day, vendor, code, minor = (
                    r[c] for c in ("id", "status", "checked_date", "vendor", "failure_code", "cost_minor")
                )
                if not minor or not day:
                    continue
                fh.write(
                    f"{day} {rid} {code}\n    expenses:reship:{vendor}:{status}  {minor / 100:.2f} {currency}\n"
                    "    liabilities:payable\n\n"
                )
    if Path(vd).is_file():
        try:
            times = [first_row_in_tmux([vd, str(csv_path)], ID_RE)[0] for _ in range(repeat)]
            out["visidata_first_row_s"] = round(median(times), 3)
            out["visidata_version"] = subprocess.run(
                [vd, "--version"], capture_output=True, text=True
            ).stdout.strip()
        except Exception as exc:
            out["visidata_first_row_s"] = f"failed: {exc}"
    else:
        out["visidata_first_row_s"] = "not installed"
    if hledger:
        seconds, _ = clock(
            lambda: subprocess.run([hledger, "-f", str(journal), "bal"], capture_output=True, check=True),
            repeat,
        )
        out["hledger_bal_s"] = round(seconds, 3)
        out["hledger_version"] = subprocess.run(
            [hledger, "--version"], capture_output=True, text=True
        ).stdout.strip()
    else:
        out["hledger_bal_s"] = "not installed"
    return out


# -- one size ------------------------------------------------------------------------------------------


def measure(
    n: int,
    repeat: int,
    *,
    tmux_ok: bool,
    peers_ok: bool,
    save_count: int,
    commits: int | None = None,
    reuse: bool = False,
    time_clone: bool = True,
    heavy_repeat: int | None = None,
    checkpoint: Callable[[dict[str, Any]], None] = lambda fig: None,
) -> dict[str, Any]:
    heavy = heavy_repeat or max(1, min(repeat, 3 if n >= 50_000 else repeat))
    fig: dict[str, Any] = {"n": n}
    t0 = time.perf_counter()
    source = generate.build(n, commits=commits, say=say)
    fig["generate_s"] = round(time.perf_counter() - t0, 1)
    work = CACHE / f"work-{n}"
    if reuse and (work / ".git").is_dir():
        if time_clone:
            say(f"[{n:,}] log ready ({fig['generate_s']} s); timing a clone (the work clone is reused)")
            fig["clone_s"] = round(clone_time(source), 2)
        else:
            fig["clone_s"] = "not measured (--no-clone-time)"
        git(work, "reset", "-q", "--hard")
        ensure_fx_rates(work)
    else:
        say(f"[{n:,}] log ready ({fig['generate_s']} s); cloning")
        work, clone_s = working_clone(source, n)
        fig["clone_s"] = round(clone_s, 2)
    checkpoint(fig)
    fig["repo_mb"] = repo_size_mb(work)
    fig["commits"] = int(git(work, "rev-list", "--count", "HEAD").strip())
    say(f"[{n:,}] clone {fig['clone_s']} s, {fig['repo_mb']} MB, {fig['commits']:,} commits; loaders")
    fig["loaders_per_cpu_s"] = loaders(work)
    say(f"[{n:,}] index build x{heavy}")
    cpu0 = _cpu()
    fig["index_build_s"] = round(index_build(work, heavy), 2)
    fig["index_build_cpu_s"] = round((_cpu() - cpu0) / heavy, 2)
    if n <= 20_000 and repeat > 1:
        fig["index_build_one_process_s"] = round(index_build(work, 1, workers=1), 2)
        index_build(work, 1)
    checkpoint(fig)
    say(f"[{n:,}] build {fig['index_build_s']} s; warm open")
    fig["warm_open_s"] = round(warm_open(work, repeat), 3)
    checkpoint(fig)
    say(f"[{n:,}] catch-up")
    catch, unchanged = catch_up(work, heavy)
    fig["catch_up_1000_s"] = round(catch, 3)
    fig["catch_up_unchanged_ms"] = round(unchanged * 1000, 1)
    checkpoint(fig)
    say(f"[{n:,}] filter and sort")
    fig["filters_ms"], fig["sorts_ms"] = filter_and_sort(work, repeat)
    fig["filter_ms"] = max(fig["filters_ms"].values())
    fig["sort_ms"] = max(fig["sorts_ms"].values())
    checkpoint(fig)
    say(f"[{n:,}] saves")
    fig.update(saves(work, save_count))
    fig["git_add_commit_ms"] = round(git_add_commit(work, max(3, min(repeat, 5))) * 1000, 1)
    checkpoint(fig)
    say(f"[{n:,}] history, blame, reports")
    history, blame, note = history_and_blame(work, repeat, fig)
    fig["history_ms"] = round(history * 1000, 1) if history is not None else note
    fig["blame_ms"] = round(blame * 1000, 1) if blame is not None else note
    fig["reports_ms"] = reports(work, repeat)
    numeric = [v for v in fig["reports_ms"].values() if isinstance(v, float)]
    fig["report_ms"] = max(numeric) if numeric else "not measured"
    checkpoint(fig)
    say(f"[{n:,}] maintenance")
    fig.update(maintenance(work))
    if tmux_ok and shutil.which("tmux"):
        say(f"[{n:,}] tmux first row")
        try:
            fig["tmux_first_row_s"], fig["tui_peak_mb"] = tui_first_row(work, repeat)
            fig["tmux_first_row_s"] = round(fig["tmux_first_row_s"], 3)
            fig["tmux_first_row_cpu_s"] = round(median(FIRST_ROW_CPU), 3)
            if SETTLED_S:
                fig["tmux_whole_list_s"] = round(median(SETTLED_S), 3)
        except Exception as exc:
            fig["tmux_first_row_s"] = fig["tui_peak_mb"] = f"not measured: {exc}"
    else:
        fig["tmux_first_row_s"] = fig["tui_peak_mb"] = (
            f"not measured yet: tmux new-session -d -x 160 -y 45 '{KAKOTUI} --repo {work}'"
        )
    checkpoint(fig)
    if peers_ok:
        say(f"[{n:,}] peers")
        fig["peers"] = peers(work, min(repeat, 3))
    say(f"[{n:,}] done: " + json.dumps({k: fig[k] for k, *_ in TARGETS if k in fig}))
    return fig


# -- the report ------------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    from importlib import metadata

    import textual
    import yaml

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    mem = next(
        (
            int(line.split()[1]) // 1024
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_mb": mem,
        "load_average": os.getloadavg()[0],
        "python": platform.python_version(),
        "git": git(ROOT, "--version").strip(),
        "kakotui": __version__,
        "textual": textual.__version__,
        "pyyaml": yaml.__version__,
        "jsonschema": metadata.version("jsonschema"),
        "jsonschema_rs": metadata.version("jsonschema-rs"),
        "tmux": subprocess.run(["tmux", "-V"], capture_output=True, text=True).stdout.strip()
        if shutil.which("tmux")
        else "not installed",
    }


def verdict(value: Any, target: float | None) -> str:
    if target is None:
        return ""
    if not isinstance(value, (int, float)):
        return "not measured"
    return "pass" if value <= target else "**FAIL**"


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if value < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _runs(results: dict[str, Any]) -> list[str]:
    """Which run measured each size (sizes can be measured by separate runs: the JSON keeps them all)."""
    runs = {
        n: fig["run"]
        for n, fig in sorted(results["sizes"].items(), key=lambda kv: int(kv[0]))
        if "run" in fig
    }
    if not runs:
        return [f"Command: `{results['command']}`"]
    return ["Runs:", ""] + [
        f"- {int(n):,} records: `{run['command']}` ({run['date']}, load average {run['load']:.1f} at the start)"
        for n, run in runs.items()
    ]


def write_markdown(results: dict[str, Any], path: Path) -> None:
    sizes = sorted(results["sizes"], key=int)
    lines = [
        "# Performance",
        "",
        "Measured by `bench/run.py` (the figures below are medians; the JSON is `docs/performance.json`).",
        "Machines here are shared and noisy: trust ratios over seconds, and rerun before concluding.",
        "",
        *_runs(results),
        "",
        f"Above a load of ~1 per core ({results['machine'].get('cores')} cores here), wall-clock figures mostly"
        " measure the other work on the machine: the CPU-second figures (`*_cpu_s`, the loaders) are the"
        " steadier ones.",
        *(["", *results["notes"]] if results.get("notes") else []),
        "",
        "## Figures and targets",
        "",
        "| figure | "
        + " | ".join(f"{int(s):,} records" for s in sizes)
        + " | target at 100k (200k) | verdict |",
        "|---|" + "---|" * len(sizes) + "---|---|",
    ]
    for key, label, unit, t100, t200 in TARGETS:
        cells = [fmt(results["sizes"][s].get(key, "")) for s in sizes]
        target = "" if t100 is None else f"≤ {fmt(t100)} {unit}" + (f" ({fmt(t200)})" if t200 != t100 else "")
        verdicts = []
        for s in sizes:
            n = int(s)
            goal = t200 if n >= 200_000 else t100
            if n >= 100_000 and goal is not None:
                verdicts.append(f"{n // 1000}k {verdict(results['sizes'][s].get(key), goal)}")
        lines.append(f"| {label} ({unit}) | " + " | ".join(cells) + f" | {target} | {', '.join(verdicts)} |")
    lines += ["", "## Details", ""]
    for s in sizes:
        fig = results["sizes"][s]
        lines += [
            f"### {int(s):,} records, {fig.get('commits', '?'):,} commits"
            if isinstance(fig.get("commits"), int)
            else f"### {int(s):,} records",
            "",
        ]
        for key in (
            "loaders_per_cpu_s",
            "filters_ms",
            "sorts_ms",
            "reports_ms",
            "peers",
        ):
            if key in fig:
                lines.append(f"- {key}: " + ", ".join(f"{k} = {fmt(v)}" for k, v in fig[key].items()))
        for key in (
            "index_build_cpu_s",
            "trail_build_cpu_s",
            "tmux_first_row_cpu_s",
            "index_build_one_process_s",
            "catch_up_unchanged_ms",
            "save_ms_p90",
            "growth_objects",
            "status_clean_after_saves",
            "loose_before",
            "loose_after",
            "commit_graph",
            "generate_s",
        ):
            if key in fig:
                lines.append(f"- {key}: {fmt(fig[key])}")
        peer = fig.get("peers", {})
        tui = fig.get("tmux_first_row_s")
        vd = peer.get("visidata_first_row_s")
        if isinstance(tui, float) and isinstance(vd, float):
            lines.append(f"- ratio kakotui / VisiData, first row in tmux: {tui / vd:.2f}")
        hl = peer.get("hledger_bal_s")
        rep = fig.get("report_ms")
        if isinstance(hl, float) and isinstance(rep, float):
            lines.append(f"- ratio slowest kakotui report / `hledger bal`: {rep / 1000 / hl:.3f}")
        lines.append("")
    lines += ["## Machine and versions", ""]
    lines += [f"- {k}: {v}" for k, v in results["machine"].items()]
    lines += [
        "",
        "More: docs/PERFORMANCE-history.md (log, blame, the commit table), docs/PERFORMANCE-reports.md",
        "(each report, all time and one month), docs/PERFORMANCE-import.md (spreadsheet import at 100k).",
    ]
    lines += ["", "## What was done to reach these figures", ""]
    lines += NOTES
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


NOTES = [
    "- Parsing: `yamlio.load` first tries a line parser for the canonical subset the writer produces",
    "  and falls back to the strict libyaml event loader for anything else, including everything it",
    "  refuses (differential tests over generated, dumped and damaged texts in",
    "  tests/unit/test_yamlio_fast.py). About 2-3x the event loader, 3-4x PyYAML's CSafeLoader.",
    '- Validation: `jsonschema_rs` 0.60.3 answers "valid?" (about 100x the reference), the reference',
    "  `jsonschema` words the errors of anything else and is imported only when first needed (0.2 CPU-s",
    "  less at every start). Inputs where the two are known to disagree (control characters, which",
    "  Python's `\\s` matches and Rust's does not; leap seconds and year 0000 in date-time) always go to",
    "  the reference (tests/unit/test_schema_fast.py: both agree on every generated record; the fast",
    "  path never calls valid what the reference rejects over ~900 edge variants).",
    "- Index build: parsing, validation, summaries and the report facts run in a process pool (one",
    "  worker per core) with bounded submission (batches of 200 records, at most 3 per worker in",
    "  flight: `pool.map` read every blob before the first result); `dataclasses.asdict` (3x slower",
    "  than reading the fields) is gone from the per-record path. The workers read each record file",
    "  from the work tree and check its git hash against the blob id (git is asked only where they",
    "  differ): `git cat-file` on the generated pack cost 27 s at 100k (delta chains ~46 deep).",
    "- Sharded rebuild (kakotui/store/build.py): each worker writes its rows into its own scratch",
    "  SQLite file (journal off) under `.git/kakotui/build-<pid>-*/` instead of pickling them back to",
    "  the parent; the index copies the shards in with `INSERT ... SELECT` in one write transaction,",
    "  makes the ~20 report indexes while threads sum each shard's roll-ups, and merges those sums",
    "  (the roll-ups, balances and delays were one GROUP BY over all facts; maintaining them row by",
    "  row had cost ~44 CPU-s at 100k). A failure leaves the old index and no scratch (tests in",
    "  tests/store/test_index_bulk.py compare the result with the in-process rebuild). The first",
    "  build (an empty index, no other connection) leaves WAL mode for its transaction, so the rows are",
    "  written once into the database instead of into the WAL and again by the checkpoint (100k:",
    "  median 11.6 -> 10.1 s, interleaved). A large log's new index uses 8 KB pages. The commit",
    "  table that log/blame read is not part of the build (one",
    "  `git log` over the whole history, ~37 CPU-s of git at 100k commits): the first `kakotui",
    "  log`/`blame` (or `kakotui index --history`) builds it, with a progress bar; until then git",
    "  answers the same. Its own figure is in the table above.",
    "- Work per record in a build worker, counted by callgrind (instructions, which do not vary",
    "  with the machine's load): 1.98 M -> 1.12 M this round. `yamlio.screen` decides with one",
    "  `str.isprintable` and one regex whether a text can hold anything the strict loader, the",
    "  schema's string rules or the control-character check refuse (three scans before); the",
    "  canonical line parser runs as one loop and remembers whole lines with plain values (vendor,",
    "  code, status lines repeat across records); the JSON column comes from orjson; a valid record's",
    "  list columns and report facts are made in one pass (kakotui/store/digest.py, a differential",
    "  test against the two separate walks); rules check timestamps written alike as text and name",
    "  fields only for a record that breaks a rule; vendor categories and exchange rates are cached.",
    "- Catch-up: many changed records (100 or more) replace their report facts set-wise (roll-up sums",
    "  taken out and put back with one GROUP BY each) instead of through row triggers; `git status`",
    "  runs in a thread while the changed records are parsed.",
    "- Reports: three narrower roll-ups (counts per month without the week; money per responsible",
    "  party without vendor and station; money per category without the week) serve unfiltered and",
    "  monthly questions from 3-9k rows instead of 19-26k, and their GROUP BYs sort in memory",
    "  (`PRAGMA temp_store=MEMORY`; on disk they cost 2-3x). The meeting pack: 286 -> 143 ms at",
    "  the same load (4.5).",
    "- Saves: 4 git processes instead of 6 (the parent commit comes from `commit_files` instead of",
    "  another `rev-parse HEAD`; the interrupted-save check runs `rev-parse` only when another draft",
    "  exists); the set of known ids is cached in the index (invalidated by any write of this or",
    "  another connection); the station is read from git config only when `.git/config` changed.",
    "- TUI start: the first 200 rows come from the index as it stands and are painted before the",
    "  catch-up and the rest of the list (the loading worker waits for that paint: the catch-up's",
    "  git processes compete for the 2 cores); the detail view, dialogs, command palette, forms,",
    "  import/export, sync and audit modules are imported on first use (kakotui/lazy.py). The floor,",
    "  a bare Textual app with a header, one line and a footer, paints in about 0.5 CPU-s here.",
    "- Filter and sort: the list holds its rows column by column (kakotui/store/memquery.py):",
    "  dictionary-encoded, so a term is decided once per distinct value and spread to the rows by",
    "  `bytes.translate`; selections are 0/1 bytes combined as big integers. A comparison on a column",
    "  of many distinct values (cost, dates, age) is a threshold on the rows' ranks, decided one byte",
    "  plane of the rank at a time by `bytes.translate` (at 200k: `cost>100 since:...` 52 -> 19 ms).",
    "  Free text is searched part by part (the index keeps a record's free-text parts apart): parts",
    "  with few distinct values (vendor, code, templated text) value by value, the others as one",
    "  buffer per part (`hinge` at 200k: 69 -> 18 ms); a phrase with a space asks SQLite. Filtering",
    "  the list in its load order is one pass over the mask. The same parser as `kakotui list`, and",
    "  hypothesis tests prove it selects what SQLite selects. A sort ranks the distinct values and",
    "  sorts the rows by integer rank. The columns are built a chunk of rows at a time, so peak",
    "  memory stays near the result's size (274 MB in process at 100k when all rows were read at",
    "  once; about 120 MB now).",
    "- Git health: every 50th save starts `gc --auto` and `commit-graph write --reachable",
    "  --changed-paths` in a detached process (`maybe_maintain`); the figure above times one run.",
    "- The generated logs come from one `git fast-import` (bench/generate.py); fast-import keeps only",
    "  simple deltas, so the packed size of a generated log is far above what `git gc` would leave.",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", default="10000,100000,200000", help="comma-separated sizes")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--saves", type=int, default=30, help="records saved for the save and growth figures")
    parser.add_argument("--no-tmux", action="store_true", help="skip the tmux figures")
    parser.add_argument("--no-peers", action="store_true", help="skip VisiData and hledger")
    parser.add_argument("--commits", type=int, default=None, help="commits of each log (default: N)")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="reuse bench/.cache/work-N (the clone is timed in a scratch folder)",
    )
    parser.add_argument(
        "--no-clone-time", action="store_true", help="with --reuse: do not time a clone of the log"
    )
    parser.add_argument(
        "--heavy-repeat", type=int, default=None, help="runs of index build and catch-up (default: up to 3)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: one repeat, 3 saves, N/10 commits, no tmux, no peers"
    )
    parser.add_argument("--md", type=Path, default=ROOT / "docs" / "PERFORMANCE.md")
    parser.add_argument("--json", type=Path, default=ROOT / "docs" / "performance.json")
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.n.split(",") if s.strip()]
    if args.quick:
        args.repeat, args.saves, args.no_tmux, args.no_peers = 1, 3, True, True
    results: dict[str, Any] = {"sizes": {}}
    if args.json.is_file():
        with contextlib.suppress(ValueError):
            results = json.loads(args.json.read_text("utf-8"))
    results["command"] = "python bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    results["machine"] = machine()
    CACHE.mkdir(parents=True, exist_ok=True)
    # Bytecode for every module, as an installed package has it (pip compiles at install): without it,
    # each start of the TUI compiles the modules changed since their last .pyc again (~0.15 s here,
    # where PYTHONDONTWRITEBYTECODE is set), which measures the checkout, not kakotui.
    compileall.compile_dir(str(ROOT / "kakotui"), quiet=1)
    try:
        for n in sizes:
            commits = args.commits if args.commits is not None else (max(1, n // 10) if args.quick else None)

            run = {
                "command": results["command"],
                "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "load": os.getloadavg()[0],
            }

            def checkpoint(fig: dict[str, Any], n: int = n, run: dict[str, Any] = run) -> None:
                """Write what is measured so far: a long run stopped midway still leaves its figures."""
                fig["run"] = run
                results["sizes"][str(n)] = fig
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(
                    json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
                )
                write_markdown(results, args.md)

            checkpoint(
                measure(
                    n,
                    args.repeat,
                    tmux_ok=not args.no_tmux,
                    peers_ok=not args.no_peers,
                    save_count=args.saves,
                    commits=commits,
                    reuse=args.reuse,
                    time_clone=not args.no_clone_time,
                    heavy_repeat=args.heavy_repeat,
                    checkpoint=checkpoint,
                )
            )
    finally:
        if shutil.which("tmux"):
            tmux("kill-server", check=False)
    print(args.md.read_text("utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

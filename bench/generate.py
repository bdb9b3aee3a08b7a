"""Build a realistic benchmark log: N records and a history of C commits by several people, fast.

The records come from `kakotui.interchange.sample.generate` (stations, vendors with their own
failure profiles, seasonality, every lifecycle stage, several currencies), checked over about two
years; `history_events` replays every stage of every record as a save by the person who made it.
When there are more saves than the C commits asked for, consecutive saves are collapsed into C
commits (a commit then holds a few saves). The whole history goes through one `git fast-import`
(never one process per commit); the stream is written as it is produced.

Logs are cached in bench/.cache/ (git-ignored; $KAKOTUI_BENCH_CACHE overrides it) under a name made
of the arguments, so a second run with the same arguments costs nothing.

Run: .venv/bin/python bench/generate.py 100000 [--commits 100000] [--out DIR] [--seed 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from kakotui.core.config import CONFIG_FILE  # noqa: E402
from kakotui.interchange import sample  # noqa: E402
from kakotui.store.gitrepo import init_repo  # noqa: E402
from kakotui.store.scaffold import scaffold_files  # noqa: E402

CACHE = Path(os.environ.get("KAKOTUI_BENCH_CACHE") or ROOT / "bench" / ".cache")
START = date(2025, 1, 1)
END = date(2026, 11, 25)
STATION = "SZ1"
COMPLETE = ".git/kakotui-bench-complete"
FORMAT = "1"  # bump when the generated content changes, so stale caches are not reused
BENCH_USER = ("Bench Runner", "bench.runner@qc-demo.example")


def cache_path(n: int, commits: int | None, seed: int) -> Path:
    return CACHE / f"log-{n}-c{commits if commits is not None else n}-s{seed}-v{FORMAT}"


def _events_of(chunk: list[dict[str, object]]) -> list[tuple[float, str, int, sample.Event]]:
    events = sample.history_events(chunk)
    return [(datetime.fromisoformat(e.at).timestamp(), e.record_id, i, e) for i, e in enumerate(events)]


def history(records: list[dict[str, object]], workers: int) -> list[sample.Event]:
    """`sample.history_events(records)`, computed on all cores (it is ~5 ms a record) and merged in time order."""
    if workers < 2 or len(records) < 1000:
        return sample.history_events(records)
    size = max(500, min(2000, len(records) // (workers * 2)))
    chunks = [records[i : i + size] for i in range(0, len(records), size)]
    keyed: list[tuple[float, str, int, int, sample.Event]] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for c, part in enumerate(pool.map(_events_of, chunks)):
            keyed.extend((t, rid, c, i, e) for t, rid, i, e in part)
    # The same order as history_events: by moment, then record id; one record's saves keep their order.
    keyed.sort(key=lambda k: (k[0], k[1], k[2], k[3]))
    return [k[4] for k in keyed]


def groups(events: Sequence[sample.Event], commits: int | None) -> Iterator[Sequence[sample.Event]]:
    """Consecutive saves collapsed into at most `commits` commits (None: one commit per save)."""
    if commits is None or commits >= len(events):
        for event in events:
            yield (event,)
        return
    commits = max(1, commits)
    for k in range(commits):
        lo = k * len(events) // commits
        hi = (k + 1) * len(events) // commits
        if hi > lo:
            yield events[lo:hi]


def _data(payload: bytes) -> bytes:
    return b"data %d\n" % len(payload) + payload + b"\n"


def _who(event: sample.Event) -> bytes:
    moment = datetime.fromisoformat(event.at)
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds()) // 60 if offset is not None else 0
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    stamp = int(moment.timestamp())
    return f"{event.author_name} <{event.author_email}> {stamp} {sign}{minutes // 60:02d}{minutes % 60:02d}".encode()


def stream(events: Sequence[sample.Event], commits: int | None) -> Iterator[bytes]:
    """The fast-import stream: the log's first commit (settings, schemas), then the collapsed saves."""
    extras = {
        path: data
        for path, data in scaffold_files(station=STATION).items()
        if path != CONFIG_FILE and not path.startswith("schema/")
    }
    # The sample's own first commit (kakotui.yaml, schema/, .gitattributes and the CI gates).
    head = sample.fast_import_stream([], config_text=sample.sample_config_text(), extra_files=extras)
    yield head.removesuffix(b"done\n")
    branch = b"refs/heads/main"
    for mark, group in enumerate(groups(events, commits), start=2):
        first = group[0]
        who = _who(group[-1])
        if len(group) == 1:
            message = first.message
        else:
            subjects = "\n".join("- " + e.message.split("\n", 1)[0] for e in group)
            message = f"{len(group)} saves: {first.message.split(chr(10), 1)[0]}, ...\n\n{subjects}\n"
        latest = {e.path: e.text for e in group}  # a record saved twice in one commit: its last text
        parts = [b"commit %s\nmark :%d\nauthor %s\ncommitter %s\n" % (branch, mark, who, who)]
        parts.append(_data(message.encode()))
        for path, text in latest.items():
            parts.append(b"M 100644 inline " + path.encode() + b"\n" + _data(text.encode()))
        parts.append(b"\n")
        yield b"".join(parts)
    yield b"done\n"


def build(
    n: int,
    *,
    commits: int | None = None,
    out: Path | None = None,
    seed: int = 7,
    say: object = print,
    force: bool = False,
) -> Path:
    """Make (or reuse from the cache) a log of `n` records and `commits` commits (default: `n`)."""
    commits = n if commits is None else commits
    target = Path(out) if out is not None else cache_path(n, commits, seed)
    report = say if callable(say) else (lambda _m: None)
    if (target / COMPLETE).is_file() and not force:
        return target
    work = target.with_name(target.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    t0 = time.perf_counter()
    records = sample.generate(n, seed=seed, start=START, end=END)
    report(f"  {n:,} records generated in {time.perf_counter() - t0:.1f} s")
    t1 = time.perf_counter()
    events = history(records, os.cpu_count() or 1)
    del records
    report(f"  {len(events):,} saves replayed in {time.perf_counter() - t1:.1f} s")
    t2 = time.perf_counter()
    git = init_repo(work)
    proc = subprocess.Popen(
        [git._git, "-C", str(work), "fast-import", "--quiet", "--done"],
        stdin=subprocess.PIPE,
        env=git.env(),
    )
    assert proc.stdin is not None
    for chunk in stream(events, commits):
        proc.stdin.write(chunk)
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")
    del events
    report(f"  fast-import done in {time.perf_counter() - t2:.1f} s")
    t3 = time.perf_counter()
    git.run("reset", "--hard", "--quiet", "HEAD")
    git.run("config", "kakotui.station", STATION)
    git.run("config", "user.name", BENCH_USER[0])
    git.run("config", "user.email", BENCH_USER[1])
    git.run("config", "merge.kakotui.name", "kakotui YAML-aware record merge")
    git.run("config", "merge.kakotui.driver", "kakotui merge-driver %O %A %B %P")
    # What a log that has lived with kakotui's maintenance has: a commit-graph with changed paths.
    git.run("commit-graph", "write", "--reachable", "--changed-paths", "--no-progress")
    git.close()
    report(f"  checkout and commit-graph in {time.perf_counter() - t3:.1f} s")
    (work / COMPLETE).write_text(f"{n} records, {commits} commits, seed {seed}\n")
    if target.exists():
        shutil.rmtree(target)
    work.rename(target)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", type=int, help="number of records")
    parser.add_argument("--commits", type=int, default=None, help="number of commits (default: N)")
    parser.add_argument("--out", type=Path, default=None, help="folder (default: bench/.cache/...)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    path = build(args.n, commits=args.commits, out=args.out, seed=args.seed, force=args.force)
    print(f"{path} ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark of the audit trail on a long history: `log`, `blame` and `diff`, with and without the commit-graph.

The log (N records, about C commits by several people; consecutive saves share a commit when there
are more saves than commits) is built by bench/generate.py, or reused from bench/.cache/. Measured
through the façade, as the CLI and the TUI call it (index already caught up, OS cache warm):

  - `history(id)`: one record's commits with their field changes (git log --raw + cat-file + YAML);
  - `blame(id)`: the same plus who set each field;
  - `diff(c^, c)`: the record changes of one commit; `validate_since(HEAD~1)`: the PR gate for it;
  - `git log --format=%H -- <path>` alone, unbounded: git's own floor, for comparison;
  - `report("audit")`: the process audit, whose logging-delay part needs each record's first commit;
  - with `--table-build`: building the index's commit table (kakotui.store.trail) from scratch, as
    the first catch-up of an index does (history and the audit read it; without it git walks).

Records are sampled evenly by check date, oldest to newest (an old record makes git walk the most),
each measured `--repeat` times; medians and the slowest sample are printed. "without the
commit-graph" runs git with `-c core.commitGraph=false` (through GIT_CONFIG_COUNT).

Run: .venv/bin/python bench/bench_history.py [--records 100000] [--commits 100000] [--samples 12]
     [--repeat 3] [--log DIR] [--table-build] [--skip-without]
Results go to docs/PERFORMANCE-history.md, not to tests.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from bench.generate import build  # noqa: E402
from kakotui.log import ExceptionLog  # noqa: E402


@contextmanager
def without_commit_graph() -> Iterator[None]:
    """Every git process started meanwhile ignores the commit-graph (`-c core.commitGraph=false`).

    Set in the environment, not by moving the graph files: the cached log may be in use by others.
    """
    keys = ("GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0", "GIT_CONFIG_VALUE_0")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(dict(zip(keys, ("1", "core.commitGraph", "false"), strict=True)))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # git processes, once waited for
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median (wall ms, CPU ms of this process and its git children) of `fn`."""
    walls, cpus = [], []
    for _ in range(repeat):
        c0, t0 = _cpu(), time.perf_counter()
        fn()
        walls.append((time.perf_counter() - t0) * 1000)
        cpus.append((_cpu() - c0) * 1000)
    return statistics.median(walls), statistics.median(cpus)


def git_log(root: Path, path: str) -> None:
    subprocess.run(
        ["git", "-C", str(root), "log", "--format=%H", "--", path], check=True, capture_output=True
    )


def sample_ids(log: ExceptionLog, n: int) -> list[tuple[str, str]]:
    rows = log.records("", sort="checked", columns=["id", "checked_date"])
    step = max(1, (len(rows) - 1) // max(1, n - 1))
    picked = [*[rows[i] for i in range(0, len(rows), step)][: n - 1], rows[-1]]
    return [(str(r["id"]), str(r["checked_date"])) for r in picked]


Figures = dict[str, list[tuple[float, float]]]


def measure(log: ExceptionLog, ids: list[tuple[str, str]], repeat: int) -> tuple[Figures, list[int]]:
    out: Figures = {"history": [], "blame": [], "git log": []}
    saves: list[int] = []
    for rid, _date in ids:
        path = log.get(rid).path
        saves.append(len(log.history(rid)))  # also warms the OS cache
        out["history"].append(timed(lambda rid=rid: log.history(rid), repeat))
        out["blame"].append(timed(lambda rid=rid: log.blame(rid), repeat))
        out["git log"].append(timed(lambda path=path: git_log(log.root, path), repeat))
    commits = log.git.run("rev-list", "--max-count=12", "HEAD").decode().split()
    out["diff"] = [timed(lambda c=c: log.diff(f"{c}~1", c), repeat) for c in commits]
    out["validate_since"] = [timed(lambda: log.validate_since("HEAD~1"), repeat)]
    out["audit report"] = [timed(lambda: log.report("audit"), repeat)]
    return out, saves


def report(label: str, ids: list[tuple[str, str]], figures: Figures, saves: list[int]) -> None:
    print(f"\n## {label}\n")
    print("wall ms / CPU ms (this process and its git children), median of the repeats\n")
    print("| record (checked) | commits | history | blame | git log alone |")
    print("|---|---:|---:|---:|---:|")
    for i, (rid, date) in enumerate(ids):
        cells = " | ".join(
            f"{figures[k][i][0]:.0f} / {figures[k][i][1]:.0f}" for k in ("history", "blame", "git log")
        )
        print(f"| {rid} ({date}) | {saves[i]} | {cells} |")
    print()
    for key in ("history", "blame", "git log", "diff", "validate_since", "audit report"):
        walls = [w for w, _ in figures[key]]
        cpus = [c for _, c in figures[key]]
        print(
            f"- {key}: median {statistics.median(walls):.0f} ms wall, {statistics.median(cpus):.0f} ms CPU; "
            f"slowest {max(walls):.0f} ms wall ({len(walls)} samples)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--commits", type=int, default=None, help="default: as many as records")
    parser.add_argument("--samples", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--log", type=Path, default=None, help="an existing log to measure instead")
    parser.add_argument("--skip-without", action="store_true", help="only measure with the commit-graph")
    parser.add_argument(
        "--table-build", action="store_true", help="time building the commit table from scratch"
    )
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    root = args.log or build(args.records, commits=args.commits, say=lambda m: print(m, file=sys.stderr))
    print(f"log: {root} (ready in {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    log = ExceptionLog(root)
    t1 = time.perf_counter()
    log.refresh()
    count = log.index.count()
    commits = int(log.git.run("rev-list", "--count", "HEAD").decode())
    print(f"index caught up in {time.perf_counter() - t1:.1f} s", file=sys.stderr)
    print(f"# {count:,} records, {commits:,} commits, git {_git_version()}, {os.cpu_count()} cores")
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.table_build:
        from kakotui.store import trail

        trail.drop(log.index.db)
        c0, t2 = _cpu(), time.perf_counter()
        trail.update(log.git, log.index.db, log.git.head())
        print(
            f"- commit table built from scratch: {time.perf_counter() - t2:.1f} s wall, "
            f"{_cpu() - c0:.1f} s CPU (this process and git); load average {os.getloadavg()[0]:.1f}"
        )
    ids = sample_ids(log, args.samples)
    if not (log.git.git_dir / "objects/info/commit-graph").exists():
        print("writing the commit-graph (changed paths)...", file=sys.stderr)
        t2 = time.perf_counter()
        log.git.run("commit-graph", "write", "--reachable", "--changed-paths", "--no-progress")
        print(f"commit-graph written in {time.perf_counter() - t2:.1f} s", file=sys.stderr)
    report("with the commit-graph (changed-path filters)", ids, *measure(log, ids, args.repeat))
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not args.skip_without:
        with without_commit_graph():
            report("without the commit-graph", ids, *measure(log, ids, args.repeat))
    log.close()
    return 0


def _git_version() -> str:
    exe = shutil.which("git") or "git"
    return subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.split()[-1]


if __name__ == "__main__":
    raise SystemExit(main())

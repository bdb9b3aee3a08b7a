"""A tiny run of the benchmark harness (`bench/run.py --n 2000 --quick`), so it cannot rot.

The benchmarks themselves are not tests (CI does not run them); this only checks that the
harness builds a log, measures every in-process figure and writes both result files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(240)
def test_a_quick_benchmark_run_measures_every_figure_and_writes_the_reports(tmp_path: Path) -> None:
    md, out = tmp_path / "PERFORMANCE.md", tmp_path / "performance.json"
    env = {**os.environ, "KAKOTUI_BENCH_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--n",
            "2000",
            "--quick",
            "--md",
            str(md),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=230,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads(out.read_text("utf-8"))
    fig = results["sizes"]["2000"]
    assert fig["commits"] == 202  # the first commit, 2000 // 10 collapsed ones, the bench's FX-rate commit
    assert all(isinstance(ms, float) for ms in fig["reports_ms"].values()), fig["reports_ms"]
    for key in (
        "index_build_s",
        "catch_up_1000_s",
        "warm_open_s",
        "filter_ms",
        "sort_ms",
        "save_ms",
        "growth_kb",
    ):
        assert isinstance(fig[key], float) and fig[key] > 0, (key, fig[key])
    assert fig["status_clean_after_saves"] is True
    assert fig["commit_graph"] is True
    assert fig["loaders_per_cpu_s"]["yamlio.load (canonical fast path)"] > 0
    assert "not measured yet" in fig["tmux_first_row_s"]
    text = md.read_text("utf-8")
    assert "| first index build from the YAML files (s) |" in text
    assert results["machine"]["cores"] == os.cpu_count()

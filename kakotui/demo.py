"""`kakotui demo`: a fresh log from the sample records, with a believable history by several people."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

from kakotui.core.config import CONFIG_FILE
from kakotui.interchange import sample
from kakotui.log import ExceptionLog, LogError
from kakotui.store.gitrepo import init_repo
from kakotui.store.scaffold import scaffold_files

MARKER = ".git/kakotui/demo"


def build_demo(
    target: Path,
    *,
    count: int | None = None,
    station: str = "SZ1",
    progress: Callable[[str], None] | None = None,
) -> ExceptionLog:
    """Create (or re-create) a demo log at `target` and return it opened, its index built.

    A folder is only ever replaced if an earlier `kakotui demo` made it.
    """
    say = progress or (lambda _msg: None)
    target = Path(target).resolve()
    if target.exists():
        if (target / MARKER).is_file():
            shutil.rmtree(target)
        elif any(target.iterdir()):
            raise LogError(f"{target} exists and is not a kakotui demo; choose another folder")
    config_text = sample.sample_config_text()
    if count is None:
        records = sample.repo_sample_records()
    else:
        say(f"generating {count:,} records")
        records = sample.generate(count, start=date(2026, 1, 1), end=date(2026, 11, 25))
    say(f"building the history of {len(records):,} records")
    events = sample.history_events(records)
    extras = {
        path: data
        for path, data in scaffold_files(station=station).items()
        if path not in (CONFIG_FILE,) and not path.startswith("schema/")
    }
    stream = sample.fast_import_stream(events, config_text=config_text, extra_files=extras)
    target.mkdir(parents=True, exist_ok=True)
    git = init_repo(target)
    git.run("fast-import", "--quiet", input=stream)
    git.run("reset", "--hard", "--quiet", "HEAD")
    git.run("config", "kakotui.station", station)
    git.run("config", "merge.kakotui.name", "kakotui YAML-aware record merge")
    git.run("config", "merge.kakotui.driver", "kakotui merge-driver %O %A %B %P")
    (target / MARKER).parent.mkdir(parents=True, exist_ok=True)
    (target / MARKER).write_text("made by kakotui demo\n")
    git.close()
    log = ExceptionLog(target)
    say("indexing")
    log.refresh()
    return log

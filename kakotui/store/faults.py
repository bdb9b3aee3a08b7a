"""Storage faults said in words a person can act on, and where input goes when the log cannot hold it.

A save on a full or read-only disk fails in several places (the draft, the record file, git's objects
and refs, the index cache) with several spellings (`OSError` numbers, git's stderr). `storage_problem`
names the fault the same way wherever it struck. When the log's own disk refuses even the draft, the
draft goes to `fallback_drafts_dir(root)` (and a read-only log's index cache next to it): the person's
state folder (`$XDG_STATE_HOME`, else `~/.local/state`), usually another disk than a shared log.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
from pathlib import Path

__all__ = ["fallback_dir", "fallback_drafts_dir", "hold_previous", "storage_problem"]

_BY_ERRNO = {
    errno.ENOSPC: "the disk holding the log is full",
    errno.EDQUOT: "your disk quota is used up",
    errno.EROFS: "the disk holding the log is read-only",
    errno.EFBIG: "the file is too large for this disk (file size limit)",
    errno.EACCES: "permission denied: you may not write to the log's folder",
    errno.EPERM: "operation not permitted in the log's folder",
    errno.EIO: "input/output error: the disk may be failing",
}
# How git (and SQLite) spell the same faults in their messages.
_BY_TEXT = (
    ("No space left on device", errno.ENOSPC),
    ("Out of diskspace", errno.ENOSPC),  # git's csum-file: "sha1 file '...' write error. Out of diskspace"
    ("database or disk is full", errno.ENOSPC),
    ("Disk quota exceeded", errno.EDQUOT),
    ("Read-only file system", errno.EROFS),
    ("readonly database", errno.EROFS),
    ("File too large", errno.EFBIG),
    ("Permission denied", errno.EACCES),
    ("Input/output error", errno.EIO),
)


def storage_problem(exc: BaseException) -> str | None:
    """What a person should know about the storage fault behind `exc`, or None if it is not one.

    Looks at `OSError.errno`, then at the text of the exception and of a git failure's stderr.
    """
    code = exc.errno if isinstance(exc, OSError) else None
    if code not in _BY_ERRNO:
        text = f"{exc} {getattr(exc, 'stderr', '') or ''}"
        code = next((number for words, number in _BY_TEXT if words in text), None)
    if code is None:
        return None
    return f"{_BY_ERRNO[code]} ({os.strerror(code)})"


def fallback_dir(root: Path) -> Path:
    """This person's folder for the log at `root` when the log's disk refuses writes (one per log)."""
    base = os.environ.get("XDG_STATE_HOME", "").strip() or str(Path.home() / ".local" / "state")
    resolved = str(Path(root).resolve())
    slug = re.sub(r"[^A-Za-z0-9._-]", "_", Path(resolved).name)[:40] or "log"
    digest = hashlib.sha256(resolved.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return Path(base) / "kakotui" / f"{slug}-{digest}"


def fallback_drafts_dir(root: Path) -> Path:
    """Where drafts of the log at `root` go when the log's own disk refuses them."""
    return fallback_dir(root) / "drafts"


def hold_previous(path: Path) -> Path | None:
    """A second name (hard link) for the file at `path`, to put it back with `os.replace` when a save fails.

    It costs no disk space, so the previous version comes back even on a full disk. Named like
    `atomic_write`'s temporary files, so crash recovery removes one left behind. None when the file
    system refuses (no hard links, or no room for one more name).
    """
    for _attempt in range(3):
        link = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            os.link(path, link)
            return link
        except FileExistsError:
            continue
        except OSError:
            return None
    return None

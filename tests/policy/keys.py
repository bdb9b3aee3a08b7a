"""SSH signing keys made by the tests (ssh-keygen in the test's tmp dir), one per person."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.policy.world import EVERYONE, Someone, git


def make_key(folder: Path, name: str) -> Path:
    """A new ed25519 key pair without passphrase: the private key's path (the public one ends .pub)."""
    folder.mkdir(parents=True, exist_ok=True)
    key = folder / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)],
        check=True,
        capture_output=True,
    )
    return key


def public(key: Path) -> str:
    return key.with_name(key.name + ".pub").read_text().strip()


def keys_for_everyone(folder: Path) -> dict[str, Path]:
    """email -> private key path."""
    return {p.email: make_key(folder, p.email.split("@")[0]) for p in EVERYONE}


def sign_as(root: Path, key: Path | None) -> None:
    """This clone signs with `key` from now on (each person would have their own clone)."""
    if key is None:
        git(root, "config", "--unset", "user.signingkey")
    else:
        git(root, "config", "user.signingkey", str(key))


def signed_commit(root: Path, who: Someone, key: Path | None, message: str) -> str:
    """An empty commit by `who`, signed with `key` (None: unsigned), made with plain git."""
    sign = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key}"] if key else []
    git(root, *sign, "commit", "-q", "--allow-empty", *(["-S"] if key else []), "-m", message, who=who)
    return git(root, "rev-parse", "HEAD").strip()

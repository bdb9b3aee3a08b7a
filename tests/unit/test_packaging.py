"""The wheel ships the schemas and the stylesheet (a fresh `pip install kakotui` must work)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest


@pytest.mark.timeout(240)
def test_wheel_contains_schemas_and_tcss(tmp_path: Path, repo_root: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(repo_root), "-w", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("kakotui-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "kakotui/schema/exception.schema.json",
        "kakotui/schema/config.schema.json",
        "kakotui/tui/kakotui.tcss",
    } <= names
    # the shipped schemas are the repository's, byte for byte
    with zipfile.ZipFile(wheel) as zf:
        assert (
            zf.read("kakotui/schema/exception.schema.json")
            == (repo_root / "schema/exception.schema.json").read_bytes()
        )


def test_every_package_folder_is_listed_in_pyproject(repo_root: Path) -> None:
    import tomllib

    listed = set(tomllib.loads((repo_root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(repo_root).parts) for p in (repo_root / "kakotui").rglob("__init__.py")
    }
    assert found <= listed, f"not packaged: {sorted(found - listed)}"

"""Architecture: everything below the UI stands without textual, and no floor imports a floor above."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "kakotui"
HEADLESS = [
    "kakotui.core",
    "kakotui.store",
    "kakotui.reports",
    "kakotui.sync",
    "kakotui.interchange",
    "kakotui.log",
]
FLOORS = {
    "core": 1,
    "store": 2,
    "reports": 3,
    "sync": 3,
    "interchange": 3,
    "log": 4,
    "demo": 4,
    "cli": 5,
    "tui": 5,
}


def test_headless_modules_never_import_textual() -> None:
    modules = [p for p in PACKAGE.rglob("*.py") if "tui" not in p.parts]
    names = [
        ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        for p in modules
        if p.name != "cli.py" and "demo" not in p.name
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {sorted(set(names) | set(HEADLESS))!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"textual imported by a headless module: {out.stdout}"


def _floor(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "kakotui" or len(parts) < 2:
        return None
    return FLOORS.get(parts[1].removesuffix(".py"))


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_import_runs_up_a_floor(path: Path) -> None:
    rel = path.relative_to(PACKAGE)
    own = FLOORS.get(rel.parts[0].removesuffix(".py")) if len(rel.parts) else None
    if own is None:
        return
    tree = ast.parse(path.read_text("utf-8"))
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [node.module]
        for target in targets:
            floor = _floor(target)
            if floor is not None:
                assert floor <= own, f"{rel} (floor {own}) imports {target} (floor {floor})"
            if own < 5:
                assert not target.startswith("textual"), f"{rel} imports {target}"

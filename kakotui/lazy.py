"""Modules imported on first use, so that starting the TUI does not pay for import/export, sync or audit.

`name = lazy_module("kakotui.sync.engine")` behaves like `from kakotui.sync import engine as name`
once an attribute is read. Callers declare the real import under `if TYPE_CHECKING:` so mypy still
checks every call. The import runs under the interpreter's import lock, so two threads touching the
proxy at once get the same module.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

__all__ = ["lazy_module"]


class _LazyModule:
    __slots__ = ("_module", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        state = "imported" if self._module is not None else "not imported yet"
        return f"<lazy module {self._name!r} ({state})>"


def lazy_module(name: str) -> Any:
    """A stand-in for module `name` that imports it when an attribute is first read."""
    return _LazyModule(name)

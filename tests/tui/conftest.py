"""Fixtures of the TUI tests: a copy of the sample log per test (see logdata.py)."""

from tests.tui.logdata import log, log_root, template_log

__all__ = ["log", "log_root", "template_log"]

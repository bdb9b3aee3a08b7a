"""Fixtures of the report tests: the fixed log of fixedlog.py, built once and copied per test."""

from tests.reports.fixedlog import commits, fixed, fixed_root, fixed_template

__all__ = ["commits", "fixed", "fixed_root", "fixed_template"]

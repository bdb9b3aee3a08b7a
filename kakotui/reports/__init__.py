"""Reports that drive accountability: pure functions from the index's facts to report tables.

`compute(name, facts, filters, as_of=...)` builds one report; `render` (kakotui.reports.render)
turns it into a table, CSV, JSON or Markdown. Reports never touch git, files or the terminal: the
store opens the facts (live, or at a revision) and the façade wires the two.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from typing import Any

from kakotui.reports import audit, costs, meeting, reconcile, scorecard, trends
from kakotui.reports.model import Context, Filters, Report, ReportError
from kakotui.reports.volumes import parse_volumes
from kakotui.store.reportdata import FactSource, OpenedFacts

__all__ = ["REPORTS", "Filters", "Report", "ReportError", "compute", "context_for"]

Builder = Callable[..., Report]

REPORTS: dict[str, tuple[Builder, str]] = {
    "scorecard": (scorecard.build, "vendor scorecards: exceptions, Pareto, cost, recovery, grade"),
    "costs": (costs.build, "cost attribution: responsible party x month x cost type, per currency"),
    "reconcile": (reconcile.build, "per vendor and carrier: charged, recovered, outstanding, age"),
    "audit": (audit.build, "SLA breaches, aging, data gaps, logging immediacy, inspectors"),
    "trends": (trends.build, "exceptions and cost per week or month by category, vendor or station"),
    "meeting": (meeting.build, "the review-meeting pack: every report for a period, in one document"),
}


def context_for(facts: OpenedFacts, filters: Filters, *, now: datetime) -> Context:
    """The as-of moment (end of --until's day, else the revision's time, else `now`), volumes, stamp."""
    config = facts.config
    if filters.until is not None:
        as_of = datetime.combine(filters.until, time(23, 59, 59), config.tz)
        live = False
    elif facts.commit_time is not None:
        as_of = facts.commit_time
        live = False
    else:
        as_of = now.astimezone(config.tz).replace(microsecond=0)
        live = facts.live
    volumes, problems = parse_volumes(facts.volume_files, facts.volumes_schema)
    return Context(config, as_of, facts.revision, volumes, tuple(problems), live)


def compute(name: str, facts: OpenedFacts, filters: Filters, *, now: datetime, **options: Any) -> Report:
    """Build report `name` over `facts`; raises ReportError for what the person must fix."""
    if name not in REPORTS:
        raise ReportError(f"no report {name!r}; reports: {', '.join(REPORTS)}")
    builder = REPORTS[name][0]
    source: FactSource = facts.source
    return builder(source, filters, context_for(facts, filters, now=now), **options)

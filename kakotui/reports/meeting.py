"""The review-meeting pack: one document combining every report for a period, stamped with the revision.

Its main table is a summary whose figures are read from the reports it includes, so the summary
and the tables below it always agree. Rendered as Markdown it is the document to send out.
"""

from __future__ import annotations

from kakotui.reports import audit, costs, reconcile, scorecard, trends
from kakotui.reports.model import Cell, Column, Context, Filters, Report
from kakotui.reports.render import cell_text
from kakotui.store.reportdata import FactSource

__all__ = ["build"]


def _text(report: Report, key: str, value: Cell) -> str:
    return cell_text(value, report.columns[report.index(key)])


def build(source: FactSource, filters: Filters, ctx: Context) -> Report:
    card = scorecard.build(source, filters, ctx)
    cost = costs.build(source, filters, ctx)
    recon = reconcile.build(source, filters, ctx)
    checks = audit.build(source, filters, ctx)
    span = (filters.until or ctx.as_of.date()) - filters.since if filters.since else None
    by = "week" if span is not None and span.days <= 92 else "month"
    trend = trends.build(source, filters, ctx, by=by, group="category")
    cur = ctx.currency

    rows: list[tuple[Cell, ...]] = []

    def add(figure: str, value: str) -> None:
        rows.append((figure, value))

    n = card.total("exceptions")
    prev = card.total("previous")
    change = card.total("change")
    line = f"{n}"
    if prev is not None:
        line += (
            f" (previous period {prev}"
            + (f", {_text(card, 'change', change)}" if change is not None else "")
            + ")"
        )
    add("Exceptions checked", line)
    add("Open now (of these)", _text(card, "open", card.total("open")))
    add("Critical", _text(card, "critical", card.total("critical")))
    add("Median days to close", _text(card, "days_to_close", card.total("days_to_close")))
    add(f"Cost booked in the period ({cur})", _text(cost, "reporting", cost.total("reporting")))
    add(f"Charged to vendors, their exceptions ({cur})", _text(card, "cost", card.total("cost")))
    add(
        f"Recovered from vendors ({cur})",
        f"{_text(card, 'recovered', card.total('recovered'))} ({_text(card, 'recovery_rate', card.total('recovery_rate'))})",
    )
    add(
        f"Outstanding at the end, vendors and carriers ({cur})",
        _text(recon, "outstanding", recon.total("outstanding")),
    )
    for i, row in enumerate(checks.rows):
        late, overdue = row[checks.index("late")], row[checks.index("overdue")]
        add(
            f"SLA '{row[0]}' breached",
            f"{int(late or 0) + int(overdue or 0)} ({_text(checks, 'breach', checks.rows[i][checks.index('breach')])})",
        )
    gaps = checks.part("gaps")
    incomplete = [f"{r[0]} {r[2]}" for r in gaps.rows if r[2]]
    add("Data gaps", ", ".join(incomplete) if incomplete else "none")
    logging = checks.part("logging")
    if logging.totals is not None:
        add(
            "Median minutes from QC check to commit",
            _text(logging, "median", logging.totals[logging.index("median")]),
        )
    worst = [r for r in card.rows if r[card.index("grade")] not in (None, "A")]
    if worst:
        names = ", ".join(f"{r[0]} ({r[card.index('grade')]})" for r in worst[:5])
        add("Vendors below grade A", names)
    return Report(
        "meeting",
        f"Review meeting: {ctx.config.name}",
        (Column("figure", "figure"), Column("value", "value")),
        tuple(rows),
        None,
        (f"Computed from revision {ctx.revision or '(none)'}; reproduce with --at.",),
        (),
        (card, cost, recon, checks, trend),
        ctx.meta(filters),
    )

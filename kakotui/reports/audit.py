"""Process audit: SLA breaches per stage, open exceptions by age, data gaps, how immediately QC
failures reach the log (QC check to the record's first commit, from git), and activity per inspector.

Time figures are as of a moment: the end of `--until`'s day, else the revision's time (now for the
live log). A stage is done on time when it happened within its `sla_days` of the QC check
(kakotui.yaml); overdue when it has not happened and its deadline has passed. Void records are
left out of SLAs.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from kakotui.reports.common import id_drill, join, scope_of, term
from kakotui.reports.model import (
    Cell,
    Chart,
    Column,
    Context,
    Drill,
    Filters,
    Report,
    median,
    percent,
)
from kakotui.store.facts import GAPS
from kakotui.store.reportdata import Delays, FactSource, LoggingDelays

__all__ = ["AGE_BOUNDS", "STAGES", "build"]

STAGES = (
    ("decide", "decided_s", "decision made"),
    ("reship", "first_reship_s", "first reshipment created"),
    ("close", "closed_s", "record closed"),
)
AGE_BOUNDS = (1, 3, 7, 14, 30)


def _minutes(seconds: Decimal | int | None) -> Decimal | None:
    if seconds is None:
        return None
    return (Decimal(seconds) / 60).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)


def build(source: FactSource, filters: Filters, ctx: Context) -> Report:
    scope = scope_of(filters)
    as_of_s = int(ctx.as_of.timestamp())
    as_of_day = ctx.as_of.date()
    sla_days = ctx.config.sla_days
    rows: list[tuple[Cell, ...]] = []
    drills: list[Drill | None] = []
    for stage, column, what in STAGES:
        if stage not in sla_days:
            continue
        c = source.sla(scope, as_of_s, stage, column, sla_days[stage])
        judged = c.on_time + c.late + c.overdue
        rows.append(
            (
                stage,
                what,
                sla_days[stage],
                c.applicable,
                c.on_time,
                c.late,
                c.overdue,
                c.running,
                percent(c.late + c.overdue, judged),
            )
        )
        drills.append(id_drill(c.breached_ids, c.late + c.overdue))
    sla = (
        Column("stage", "stage"),
        Column("event", "done when"),
        Column("sla", "SLA days", "count", None),
        Column("applicable", "records", "count", None),
        Column("on_time", "on time", "count", None),
        Column("late", "late", "count", None),
        Column("overdue", "overdue", "count", None),
        Column("running", "within SLA, not done", "count", None),
        Column("breach", "breached %", "percent", None),
    )
    notes = [
        f"As of {ctx.as_of.isoformat()}; SLA days count from the QC check (kakotui.yaml sla_days). "
        "Drill-down: the breached records (late or overdue).",
    ]
    missing = [s for s, _, _ in STAGES if s not in sla_days]
    if missing:
        notes.append(f"No SLA configured for: {', '.join(missing)}.")
    delays = source.logging(scope)
    parts = (
        _aging(source, filters, ctx, as_of_s, as_of_day),
        _gaps(source, filters),
        _logging(delays, filters),
        _inspectors(source, filters, delays),
    )
    unreadable = source.unreadable()
    if unreadable:
        notes.append(
            f"{unreadable} record file(s) could not be read and are left out (run `kakotui validate`)."
        )
    return Report(
        "audit",
        "Process audit: SLA breaches",
        sla,
        tuple(rows),
        None,
        tuple(notes),
        tuple(drills),
        parts,
        ctx.meta(filters),
    )


def _aging(source: FactSource, filters: Filters, ctx: Context, as_of_s: int, as_of_day: date) -> Report:
    counts = source.open_ages(scope_of(filters), as_of_s, as_of_day.isoformat(), AGE_BOUNDS)
    labels: list[tuple[str, int, int | None]] = []
    lo = 0
    for b in AGE_BOUNDS:
        labels.append((f"{lo}-{b}", lo, b))
        lo = b + 1
    labels.append((f"{lo}+", lo, None))
    total = sum(counts)
    rows: list[tuple[Cell, ...]] = []
    drills: list[Drill | None] = []
    for (label, low, high), n in zip(labels, counts, strict=True):
        rows.append((label, n, percent(n, total)))
        since = as_of_day - timedelta(days=high) if high is not None else None
        until = as_of_day - timedelta(days=low)
        if filters.since and (since is None or since < filters.since):
            since = filters.since
        if filters.until and until > filters.until:
            until = filters.until
        terms = ["is:open", f"since:{since}" if since else "", f"until:{until}"]
        if filters.vendors:
            terms.append("vendor:" + ",".join(filters.vendors))
        if filters.stations:
            terms.append("station:" + ",".join(filters.stations))
        drills.append(Drill(" ".join(t for t in terms if t), exact=ctx.live))
    return Report(
        "audit.aging",
        "Open exceptions by age (days since the QC check)",
        (
            Column("age", "age days"),
            Column("open", "open", "count"),
            Column("share", "share %", "percent", None),
        ),
        tuple(rows),
        ("total", total, percent(total, total)),
        drills=tuple(drills),
        chart=Chart("age", "open"),
    )


def _gaps(source: FactSource, filters: Filters) -> Report:
    scope = scope_of(filters)
    counts = source.gaps(scope, list(GAPS))
    rows: list[tuple[Cell, ...]] = []
    drills: list[Drill | None] = []
    for code, meaning in GAPS.items():
        n = counts[code]
        rows.append((code, meaning, n))
        drills.append(id_drill(source.gap_ids(scope, code), n) if n else None)
    return Report(
        "audit.gaps",
        "Records incomplete for their stage",
        (Column("gap", "gap"), Column("meaning", "what is missing"), Column("records", "records", "count")),
        tuple(rows),
        drills=tuple(drills),
        notes=(
            "A record can have several gaps. Drill-down: the records (the first ones when there are many).",
        ),
    )


def _logging(delays: LoggingDelays, filters: Filters) -> Report:
    per_station = delays.per_station
    never = delays.never

    def row(name: str, d: Delays) -> tuple[Cell, ...]:
        return (
            name,
            d.records,
            _minutes(median(d.middle)),
            _minutes(d.p90),
            percent(d.within_hour, d.records),
            d.over_day,
            d.before_check,
        )

    rows = [row(s, per_station[s]) for s in sorted(per_station)]
    drills = [
        Drill(q) if (q := join(term("station", s), filters.query_terms())) else None
        for s in sorted(per_station)
    ]
    notes = [
        "From the QC check time written in the record to the author time of the commit that added its file.",
    ]
    if never:
        notes.append(f"{never} record(s) in scope have no commit yet (uncommitted) and are left out.")
    return Report(
        "audit.logging",
        "Logging immediacy: QC check to first commit",
        (
            Column("station", "station"),
            Column("records", "records", "count"),
            Column("median", "median minutes", "minutes", None),
            Column("p90", "90% within minutes", "minutes", None),
            Column("within_hour", "within 1 h %", "percent", None),
            Column("over_day", "over 24 h", "count", None),
            Column("before_check", "commit before check", "count", None),
        ),
        tuple(rows),
        row("total", delays.total) if delays.total is not None else None,
        tuple(notes),
        tuple(drills),
    )


def _inspectors(source: FactSource, filters: Filters, delays: LoggingDelays) -> Report:
    scope = scope_of(filters)
    stats = sorted(source.stats(scope, ["inspector"]), key=lambda s: (-s.records, s.key[0]))
    per = delays.inspector_middles
    rows: list[tuple[Cell, ...]] = []
    drills: list[Drill | None] = []
    for s in stats:
        name = s.key[0]
        rows.append(
            (
                name,
                s.records,
                s.critical,
                percent(s.with_evidence, s.records),
                s.with_gaps,
                _minutes(median(per.get(name, ()))),
            )
        )
        query = join(term("inspector", name), filters.query_terms())
        drills.append(Drill(query) if query is not None else None)
    return Report(
        "audit.inspectors",
        "Activity per inspector",
        (
            Column("inspector", "inspector"),
            Column("logged", "logged", "count"),
            Column("critical", "critical", "count", "severity:critical"),
            Column("evidence", "with evidence %", "percent", None),
            Column("gaps", "with gaps", "count", None),
            Column("median", "median minutes to commit", "minutes", None),
        ),
        tuple(rows),
        drills=tuple(drills),
        chart=Chart("inspector", "logged"),
    )

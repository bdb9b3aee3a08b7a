"""What every report is made of: filters, the report table (with its parts and drill-downs), errors.

A `Report` is one table of typed cells (text, integers, exact `Decimal`s, None for "no value"),
its totals, notes, the query behind each row (the drill-down the TUI applies to the main list) and
sub-tables (`parts`). Nothing here formats: `kakotui.reports.render` turns a report into text.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

from kakotui.core.config import Config
from kakotui.core.money import MINOR_DIGITS, from_minor

__all__ = [
    "Cell",
    "Chart",
    "Column",
    "Context",
    "Drill",
    "Filters",
    "Kind",
    "Report",
    "ReportError",
    "days",
    "median",
    "money",
    "percent",
    "quantile",
]

Cell = str | int | Decimal | None
Kind = Literal["text", "count", "money", "percent", "days", "minutes", "score"]

_TENTH = Decimal("0.1")


class ReportError(ValueError):
    """A report that cannot be computed honestly (a missing FX rate, a bad filter): says what to fix."""


@dataclass(frozen=True)
class Filters:
    """The period (inclusive local dates) and the vendor/station filters every report takes."""

    since: date | None = None
    until: date | None = None
    vendors: tuple[str, ...] = ()
    stations: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.since and self.until and self.since > self.until:
            raise ReportError(f"--since {self.since} is after --until {self.until}")

    def query_terms(self) -> str:
        """The same filters in the query language (`since:` and `until:` are on the QC check date)."""
        terms = []
        if self.vendors:
            terms.append("vendor:" + ",".join(self.vendors))
        if self.stations:
            terms.append("station:" + ",".join(self.stations))
        if self.since:
            terms.append(f"since:{self.since.isoformat()}")
        if self.until:
            terms.append(f"until:{self.until.isoformat()}")
        return " ".join(terms)

    def previous(self, today: date) -> Filters | None:
        """The period of the same length just before this one (None without a start)."""
        if self.since is None:
            return None
        until = self.until or today
        length = (until - self.since).days + 1
        return replace(self, since=self.since - timedelta(days=length), until=self.since - timedelta(days=1))

    def before(self) -> Filters | None:
        """Everything up to the day before the period starts (None without a start)."""
        if self.since is None:
            return None
        return replace(self, since=None, until=self.since - timedelta(days=1))

    def describe(self) -> str:
        if self.since is None and self.until is None:
            period = "all time"
        else:
            period = f"{self.since or '…'} to {self.until or '…'}"
        extra = [f"vendor {', '.join(self.vendors)}"] if self.vendors else []
        extra += [f"station {', '.join(self.stations)}"] if self.stations else []
        return "; ".join([period, *extra])


@dataclass(frozen=True)
class Column:
    """A column: its key, its header, the kind of its cells, and how its figures drill down.

    `drill` holds query terms added to the row's query for this column's figures ("" adds none);
    None means the column's figures are not counts of records and do not drill down.
    """

    key: str
    label: str
    kind: Kind = "text"
    drill: str | None = ""


@dataclass(frozen=True)
class Drill:
    """The records behind a row, as a query of the main list. `exact` is False for a superset."""

    query: str
    exact: bool = True


@dataclass(frozen=True)
class Chart:
    """Draw column `value` as horizontal bars labelled by column `label`."""

    label: str
    value: str


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...] = ()
    totals: tuple[Cell, ...] | None = None
    notes: tuple[str, ...] = ()
    drills: tuple[Drill | None, ...] = ()
    parts: tuple[Report, ...] = ()
    meta: tuple[tuple[str, str], ...] = ()
    chart: Chart | None = None

    def index(self, key: str) -> int:
        for i, col in enumerate(self.columns):
            if col.key == key:
                return i
        raise KeyError(f"{self.name} has no column {key!r}")

    def value(self, row: int, key: str) -> Cell:
        return self.rows[row][self.index(key)]

    def total(self, key: str) -> Cell:
        return None if self.totals is None else self.totals[self.index(key)]

    def find(self, **keys: str) -> int:
        """The first row whose text cells equal `keys` (tests, drill-downs)."""
        for i, row in enumerate(self.rows):
            if all(row[self.index(k)] == v for k, v in keys.items()):
                return i
        raise KeyError(f"{self.name}: no row {keys}")

    def part(self, name: str) -> Report:
        for part in self.parts:
            if part.name == name or part.name.endswith("." + name):
                return part
        raise KeyError(f"{self.name} has no part {name!r} (parts: {', '.join(p.name for p in self.parts)})")

    def walk(self) -> Iterator[Report]:
        yield self
        for part in self.parts:
            yield from part.walk()

    def drill(self, row: int, column: str | None = None) -> Drill | None:
        """The query behind a figure (the row's, narrowed by the column's terms); None if there is none."""
        base = self.drills[row] if row < len(self.drills) else None
        if base is None:
            return None
        if column is None:
            return base
        extra = self.columns[self.index(column)].drill
        if extra is None:
            return base if self.columns[self.index(column)].kind == "text" else None
        query = " ".join(t for t in (base.query, extra) if t)
        return Drill(query, base.exact)

    def meta_value(self, key: str) -> str:
        return dict(self.meta).get(key, "")


@dataclass(frozen=True)
class Context:
    """What reports need besides the facts: the settings, the moment, the revision, volumes."""

    config: Config
    as_of: datetime
    revision: str = ""
    volumes: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    volume_problems: tuple[str, ...] = ()
    live: bool = False
    """True when computed on the live log as of now: "open" in the main list then means open as of `as_of`."""

    @property
    def currency(self) -> str:
        return self.config.reporting_currency

    def money(self, minor: int | None) -> Decimal | None:
        return money(minor, self.currency)

    def meta(self, filters: Filters, **more: str) -> tuple[tuple[str, str], ...]:
        items = {
            "log": self.config.name,
            "period": filters.describe(),
            "revision": self.revision,
            "as_of": self.as_of.isoformat(),
            "currency": self.currency,
        }
        items.update(more)
        return tuple((k, v) for k, v in items.items() if v)


def money(minor: int | None, currency: str) -> Decimal | None:
    """Minor units as an exact decimal with the currency's digits (38.50, not 38.5)."""
    if minor is None:
        return None
    digits = MINOR_DIGITS.get(currency, 2)
    return from_minor(minor, currency).quantize(Decimal(1).scaleb(-digits))


def percent(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    """part/whole as a percentage to one decimal (half-even); None when whole is zero."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(_TENTH, rounding=ROUND_HALF_EVEN)


def days(seconds: int | Decimal | None) -> Decimal | None:
    """Seconds as days to one decimal (half-even)."""
    if seconds is None:
        return None
    return (Decimal(seconds) / 86400).quantize(_TENTH, rounding=ROUND_HALF_EVEN)


def median(values: Sequence[int]) -> Decimal | None:
    """The exact median (the mean of the two middle values for an even count)."""
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return Decimal(ordered[mid])
    return (Decimal(ordered[mid - 1]) + Decimal(ordered[mid])) / 2


def quantile(values: Sequence[int], q: Decimal) -> int | None:
    """The nearest-rank quantile (q in 0..1) of integer values: always one of the values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, int((q * len(ordered)).to_integral_value(rounding="ROUND_CEILING")))
    return ordered[min(rank, len(ordered)) - 1]

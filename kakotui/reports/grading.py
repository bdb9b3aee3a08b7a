"""Vendor grades: a weighted score from criteria configured in kakotui.yaml (`scorecard:`), or defaults.

Each criterion scores 100 at its target and 0 at its limit, linearly between and clamped (a target
below the limit means lower is better). A vendor's score is the weighted mean over the criteria
that have a value for it (no volumes, no PPM; no charged cost, no recovery rate); its grade is
the first grade whose minimum score it reaches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

__all__ = ["DEFAULT", "METRICS", "Criterion", "Grading", "grading_of"]

METRICS = {
    "recovery_rate": "recovered / cost charged to the vendor, %",
    "critical_share": "critical exceptions / exceptions, %",
    "days_to_close": "median days from QC check to closure",
    "repeat_share": "exceptions on a SKU that failed before / exceptions, %",
    "open_share": "open exceptions / exceptions, %",
    "defect_rate": "failed units / inspected units, % (needs volumes)",
    "ppm": "failed units per million inspected (needs volumes)",
}


@dataclass(frozen=True)
class Criterion:
    metric: str
    weight: int
    target: Decimal
    limit: Decimal

    def score(self, value: Decimal) -> Decimal:
        if self.target == self.limit:
            better = value <= self.target if self.target <= 0 else value >= self.target
            return Decimal(100) if better else Decimal(0)
        raw = (self.limit - value) * 100 / (self.limit - self.target)
        return min(Decimal(100), max(Decimal(0), raw))


@dataclass(frozen=True)
class Grading:
    criteria: tuple[Criterion, ...]
    grades: tuple[tuple[str, int], ...]  # (grade, minimum score), best first

    def score(self, values: Mapping[str, Decimal | None]) -> Decimal | None:
        total = Decimal(0)
        weights = 0
        for c in self.criteria:
            value = values.get(c.metric)
            if value is None:
                continue
            total += c.score(value) * c.weight
            weights += c.weight
        if not weights:
            return None
        return (total / weights).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)

    def grade(self, score: Decimal | None) -> str | None:
        if score is None:
            return None
        for name, minimum in self.grades:
            if score >= minimum:
                return name
        return self.grades[-1][0] if self.grades else None

    def describe(self) -> str:
        parts = [f"{c.metric} x{c.weight} (100 at {c.target}, 0 at {c.limit})" for c in self.criteria]
        grades = ", ".join(f"{g} >= {m}" for g, m in self.grades)
        return "score = weighted mean of " + "; ".join(parts) + f". Grades: {grades}."


DEFAULT = Grading(
    criteria=(
        Criterion("recovery_rate", 30, Decimal(90), Decimal(0)),
        Criterion("critical_share", 20, Decimal(0), Decimal(30)),
        Criterion("days_to_close", 20, Decimal(7), Decimal(30)),
        Criterion("repeat_share", 15, Decimal(0), Decimal(30)),
        Criterion("ppm", 15, Decimal(500), Decimal(5000)),
    ),
    grades=(("A", 85), ("B", 70), ("C", 55), ("D", 0)),
)


def grading_of(config_data: Mapping[str, Any]) -> Grading:
    """The grading of a log: its `scorecard` section (already schema-checked), defaults where absent."""
    section = config_data.get("scorecard") or {}
    criteria = tuple(
        Criterion(str(c["metric"]), int(c["weight"]), Decimal(str(c["target"])), Decimal(str(c["limit"])))
        for c in section.get("criteria") or ()
    )
    grades = tuple(
        sorted(
            ((str(g["grade"]), int(g["min_score"])) for g in section.get("grades") or ()), key=lambda g: -g[1]
        )
    )
    return Grading(criteria or DEFAULT.criteria, grades or DEFAULT.grades)

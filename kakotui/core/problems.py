"""Problems as values: what is wrong, where (file, field path) and which rule says so."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a record or a file; never an exception, never a traceback."""

    file: str
    field: str
    rule: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.message} [{self.rule}]"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def at_file(self, file: str) -> Problem:
        return Problem(file, self.field, self.rule, self.message, self.severity)


class InvalidRecord(Exception):
    """Raised by the façade when a save is refused; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems[:5]) or "invalid record")

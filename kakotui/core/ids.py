"""Record ids (`SZ1-2026-00042`) and the repository paths derived from them."""

from __future__ import annotations

import re
from dataclasses import dataclass

ID_RE = re.compile(r"^(?P<station>[A-Z][A-Z0-9]{1,7})-(?P<year>[0-9]{4})-(?P<seq>[0-9]{5})$")
PATH_RE = re.compile(
    r"^records/(?P<year>[0-9]{4})/(?P<station>[A-Z][A-Z0-9]{1,7})/(?P<bucket>[0-9]{3})/"
    r"(?P<id>[A-Z][A-Z0-9]{1,7}-[0-9]{4}-[0-9]{5})\.yaml$"
)
PER_FOLDER = 1000


class BadId(ValueError):
    """An id or path that is not one of ours (and may be trying to leave records/)."""


@dataclass(frozen=True, order=True)
class RecordId:
    station: str
    year: int
    seq: int

    @classmethod
    def parse(cls, text: str) -> RecordId:
        m = ID_RE.match(text.strip().upper()) if isinstance(text, str) else None
        if not m:
            raise BadId(
                f"not a record id: {str(text)[:60]!r} (expected STATION-YYYY-NNNNN, e.g. SZ1-2026-00042)"
            )
        return cls(m["station"], int(m["year"]), int(m["seq"]))

    def __str__(self) -> str:
        return f"{self.station}-{self.year:04d}-{self.seq:05d}"

    @property
    def path(self) -> str:
        """Repository-relative path: records/YYYY/STATION/NNN/ID.yaml (at most 1,000 files a folder)."""
        return f"records/{self.year:04d}/{self.station}/{self.seq // PER_FOLDER:03d}/{self}.yaml"

    def reshipment_ref(self, n: int) -> str:
        return f"{self}-R{n}"


def path_for(record_id: str) -> str:
    return RecordId.parse(record_id).path


def id_from_path(path: str) -> str | None:
    """The id a repository path must hold, or None if the path is not a record path."""
    m = PATH_RE.match(path)
    if not m:
        return None
    rid = m["id"]  # the pattern holds it in canonical form: STATION-YYYY-NNNNN
    station, year, seq = rid.split("-")
    # the path is `RecordId.parse(rid).path` when its folders are the id's year, station and thousand
    if m["year"] != year or m["station"] != station or m["bucket"] != f"{int(seq) // PER_FOLDER:03d}":
        return None
    return rid


def is_record_path(path: str) -> bool:
    return path.startswith("records/") and path.endswith(".yaml")

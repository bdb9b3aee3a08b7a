"""Inspected volumes: `volumes/YYYY-MM.yaml` files giving the units inspected per vendor in a month.

With them a scorecard shows defect rates and PPM. Each file is checked against
`schema/volumes.schema.json`; a bad file is left out and named in the report's notes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

from kakotui.core import yamlio
from kakotui.core.schemas import Schemas

__all__ = ["Volumes", "parse_volumes"]

Volumes = dict[str, dict[str, int]]
"""month (YYYY-MM) -> vendor id -> units inspected."""

_NAME = re.compile(r"^([0-9]{4}-(0[1-9]|1[0-2]))\.yaml$")


@lru_cache(maxsize=4)
def _schemas(schema_text: str) -> Schemas:
    return Schemas({"volumes": schema_text})  # compiling a validator costs ~50 ms: once per text


def parse_volumes(files: Mapping[str, bytes], schema_text: str) -> tuple[Volumes, list[str]]:
    """Parse and check each file (name -> content); returns the volumes and the problems."""
    if not files:
        return {}, []
    schemas = _schemas(schema_text)
    volumes: Volumes = {}
    problems: list[str] = []
    for name in sorted(files):
        where = f"volumes/{name}"
        match = _NAME.match(name)
        if match is None:
            problems.append(f"{where}: not a volumes file name (YYYY-MM.yaml); left out")
            continue
        try:
            data = yamlio.load(files[name])
        except yamlio.YamlError as exc:
            problems.append(f"{where}: {exc}; left out")
            continue
        errors = schemas.errors("volumes", data)
        if errors:
            problems.append(f"{where}: " + "; ".join(str(e) for e in errors[:3]) + "; left out")
            continue
        if data["month"] != match.group(1):
            problems.append(f"{where}: month {data['month']} does not match the file name; left out")
            continue
        volumes[data["month"]] = {str(k): int(v) for k, v in data["inspected"].items()}
    return volumes, problems

"""The JSON Schemas (draft 2020-12) and turning their errors into `Problem`s a person can act on."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from kakotui.core.problems import Problem

SCHEMA_FILES = {"exception": "exception.schema.json", "config": "config.schema.json"}
_MAX_ERRORS = 50


def packaged_schema_dir() -> Path:
    """The schema folder shipped with kakotui: inside the installed package, or the checkout's schema/."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "schema", package.parent / "schema"):
        if (candidate / SCHEMA_FILES["exception"]).is_file():
            return candidate
    raise FileNotFoundError(f"kakotui's JSON Schemas are missing (looked in {package / 'schema'})")


def load_schema_texts(folder: Path | None = None) -> dict[str, str]:
    folder = folder or packaged_schema_dir()
    return {name: (folder / file).read_text("utf-8") for name, file in SCHEMA_FILES.items()}


class Schemas:
    """Compiled validators for one set of schema texts (a log validates against its own schema/)."""

    def __init__(self, texts: Mapping[str, str]) -> None:
        self.documents: dict[str, dict[str, Any]] = {name: json.loads(text) for name, text in texts.items()}
        self._validators = {
            name: Draft202012Validator(doc, format_checker=Draft202012Validator.FORMAT_CHECKER)
            for name, doc in self.documents.items()
        }
        for doc in self.documents.values():
            Draft202012Validator.check_schema(doc)

    def errors(self, name: str, instance: Any) -> list[Problem]:
        """Every schema problem of `instance`, as Problems (file left empty for the caller)."""
        validator = self._validators[name]
        problems: list[Problem] = []
        for error in _leaf_errors(validator.iter_errors(instance)):
            problems.append(_to_problem(error))
            if len(problems) >= _MAX_ERRORS:
                problems.append(Problem("", "", "schema", "too many problems; the rest are not shown"))
                break
        return sorted(set(problems), key=lambda p: (p.field, p.rule, p.message))

    def is_valid(self, name: str, instance: Any) -> bool:
        return bool(self._validators[name].is_valid(instance))

    def property_order(self, name: str) -> dict[str, Any]:
        """The schema itself, for callers that order keys the way the schema lists them."""
        return self.documents[name]


@lru_cache(maxsize=1)
def packaged() -> Schemas:
    return Schemas(load_schema_texts())


def _leaf_errors(errors: Iterable[ValidationError]) -> Iterable[ValidationError]:
    """For anyOf/oneOf, report the most relevant branch instead of a wall of alternatives."""
    for error in errors:
        if error.validator in ("anyOf", "oneOf") and error.context:
            best = max(error.context, key=lambda e: (len(e.path), e.validator != "pattern"))
            if error.validator == "anyOf" and len(error.path) and error.path[-1] == "link":
                yield error
                continue
            yield best
        else:
            yield error


def _short(value: Any, limit: int = 60) -> str:
    """A bounded repr: str() of a hostile value can take seconds and megabytes."""
    if isinstance(value, str):
        text = value if len(value) <= limit else value[:limit] + "…"
        return repr(text)
    if isinstance(value, (dict, list)):
        return type(value).__name__
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def field_path(parts: Iterable[Any]) -> str:
    return ".".join(str(p) for p in parts)


_TYPE_WORDS = {"string": "text", "integer": "a whole number", "object": "a mapping", "array": "a list"}


def _to_problem(error: ValidationError) -> Problem:
    path = list(error.absolute_path)
    kind = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    value = error.instance
    why = f" ({schema['description']})" if "description" in schema and kind == "required" else ""
    if kind == "required":
        missing = next((f for f in error.validator_value if isinstance(value, dict) and f not in value), "?")
        return Problem("", field_path([*path, missing]), "schema:required", f"is required{why}")
    if kind == "additionalProperties":
        extra = (
            sorted(k for k in value if k not in schema.get("properties", {}))
            if isinstance(value, dict)
            else []
        )
        names = ", ".join(_short(k, 30) for k in extra[:5])
        return Problem("", field_path(path), "schema:unknown-field", f"unknown field(s): {names}")
    if kind == "enum":
        allowed = ", ".join(str(v) for v in error.validator_value)
        return Problem(
            "", field_path(path), "schema:enum", f"must be one of: {allowed} (got {_short(value)})"
        )
    if kind == "const":
        return Problem(
            "", field_path(path), "schema:const", f"must be {error.validator_value!r} (got {_short(value)})"
        )
    if kind == "type":
        expected = _TYPE_WORDS.get(str(error.validator_value), str(error.validator_value))
        return Problem("", field_path(path), "schema:type", f"must be {expected} (got {_short(value)})")
    if kind == "format":
        if error.validator_value == "date-time":
            msg = f"not a valid timestamp: {_short(value)} (RFC 3339 with an offset, e.g. 2026-11-26T09:14:00+08:00)"
        else:
            msg = f"not a valid {error.validator_value}: {_short(value)}"
        return Problem("", field_path(path), "schema:format", msg)
    if kind == "pattern":
        hint = schema.get("description") or _PATTERN_HINTS.get(str(path[-1]) if path else "", "")
        hint = f" ({hint})" if hint else ""
        return Problem(
            "", field_path(path), "schema:pattern", f"{_short(value)} is not in the expected form{hint}"
        )
    if kind in ("minLength", "maxLength", "minItems", "maxItems", "minimum", "maximum"):
        words = {
            "minLength": "must not be empty"
            if error.validator_value == 1
            else f"is shorter than {error.validator_value}",
            "maxLength": f"is longer than {error.validator_value} characters",
            "minItems": f"needs at least {error.validator_value} item(s)",
            "maxItems": f"has more than {error.validator_value} items",
            "minimum": f"must be at least {error.validator_value}",
            "maximum": f"must be at most {error.validator_value}",
        }
        return Problem("", field_path(path), f"schema:{kind}", words[kind])
    if kind == "uniqueItems":
        return Problem("", field_path(path), "schema:uniqueItems", "has duplicate items")
    if kind == "anyOf" and path and path[-1] == "link":
        return Problem(
            "",
            field_path(path),
            "schema:link",
            f"{_short(value)} must be an http(s) URL or a path inside the log",
        )
    message = error.message if len(error.message) < 200 else error.message[:200] + "…"
    return Problem("", field_path(path), f"schema:{kind}", message)


_PATTERN_HINTS = {
    "id": "STATION-YYYY-NNNNN, e.g. SZ1-2026-00042",
    "amount": "a decimal with at most 2 decimals, e.g. 38.50",
    "currency": "an ISO 4217 code such as CNY",
    "vendor": "a vendor id from kakotui.yaml: lower case, digits and dashes",
    "carrier": "a carrier id from kakotui.yaml: lower case, digits and dashes",
    "failure_code": "CATEGORY or CATEGORY-Detail, e.g. DEFECTIVE-BrokenHinge",
    "station": "upper case letters and digits, e.g. SZ1",
    "site": "upper case letters and digits, e.g. SZ",
    "sku": "no spaces",
    "order_id": "no spaces",
    "tracking": "no spaces",
    "sha256": "64 lower-case hex digits",
}

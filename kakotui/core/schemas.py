"""The JSON Schemas (draft 2020-12) and turning their errors into `Problem`s a person can act on.

Two validators hold each schema: `jsonschema_rs` (Rust, ~100x faster) answers "is this valid?"
for the common case, and the reference `jsonschema` words the problems of anything else. The fast
answer is trusted only where both are known to agree (tests/unit/test_schema_fast.py checks them
side by side over generated records and edge cases): strings with control characters (Python's
`\\s` matches U+001C-U+001F and U+0085, Rust's does not), leap seconds and year 0000 (which Rust's
date-time check accepts) always go to the reference validator.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kakotui.core.problems import Problem

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

_rs: Any
try:  # the fast "is it valid?" check; without it every record goes through the reference validator
    import jsonschema_rs as _rs
except ImportError:  # pragma: no cover - it is a dependency; kept optional so a broken wheel only slows
    _rs = None

SCHEMA_FILES = {"exception": "exception.schema.json", "config": "config.schema.json"}
_MAX_ERRORS = 50
# Where jsonschema_rs is more lenient than the reference validator (see the module docstring).
# Checked as one character class plus two substrings (over-approximating the times: a single
# alternation costs ~50 us a record, this ~5 us).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_OR_ESCAPE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\\]")


def strings_safe_in(text: str, *, screened: bool = False) -> bool:
    """True when no string of the data read from (or written as) YAML `text` can hold what the fast
    validator must not judge (see `Schemas.fast_valid`), so the data need not be walked for it.

    Every string of YAML data stands in its text verbatim except through a backslash escape (refused
    here) or a line fold, which leaves a space or a newline where it joins two lines: a string holding
    a control character, ":60" or "0000-" puts a backslash or that very text into the YAML. One search
    of the text (~8 us) instead of collecting every string of the record (~60 us). `screened`: the
    caller knows `yamlio.screen(text)` is true (no control character or backslash: no search)."""
    if not screened and _CONTROL_OR_ESCAPE.search(text):
        return False
    return ":60" not in text and "0000-" not in text


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
        # The reference validators are built (and `jsonschema`, ~0.2 CPU-s, imported) on first use:
        # opening a log whose records are valid never needs them.
        self._reference_validators: dict[str, Any] = {}
        self._fast: dict[str, Any] = {}
        for name, doc in self.documents.items():
            try:
                schema_ok = _rs is not None and bool(_rs.meta.is_valid(doc))
            except Exception:
                schema_ok = False
            if not schema_ok:
                self.reference(name)  # raises the reference validator's SchemaError for a bad schema
            try:
                if _rs is not None:
                    self._fast[name] = _rs.Draft202012Validator(doc, validate_formats=True)
            except Exception:  # a schema the Rust validator cannot compile: the reference only
                continue

    def reference(self, name: str) -> Any:
        """The reference `jsonschema` validator of schema `name` (checks the schema the first time)."""
        validator = self._reference_validators.get(name)
        if validator is None:
            from jsonschema import Draft202012Validator

            doc = self.documents[name]
            Draft202012Validator.check_schema(doc)
            validator = Draft202012Validator(doc, format_checker=Draft202012Validator.FORMAT_CHECKER)
            self._reference_validators[name] = validator
        return validator

    def fast_valid(self, name: str, instance: Any, *, strings_safe: bool = False) -> bool:
        """True only when the fast validator says valid and the instance is one both validators agree on.

        False means "ask the reference validator", not "invalid". `strings_safe`: the caller has
        checked the instance's text with `strings_safe_in` (its strings are not collected again).
        """
        fast = self._fast.get(name)
        if fast is None:
            return False
        if not strings_safe:
            strings: list[str] = []
            _strings(instance, strings)
            text = "\n".join(strings)
            if ":60" in text or "0000-" in text or _CONTROL.search(text):
                return False
        try:
            return bool(fast.is_valid(instance))
        except Exception:  # e.g. a lone surrogate or a huge integer Rust cannot take
            return False

    def errors(self, name: str, instance: Any, *, strings_safe: bool = False) -> list[Problem]:
        """Every schema problem of `instance`, as Problems (file left empty for the caller).

        `strings_safe`: as for `fast_valid`."""
        if self.fast_valid(name, instance, strings_safe=strings_safe):
            return []
        validator = self.reference(name)
        problems: list[Problem] = []
        for error in _leaf_errors(validator.iter_errors(instance)):
            problems.append(_to_problem(error))
            if len(problems) >= _MAX_ERRORS:
                problems.append(Problem("", "", "schema", "too many problems; the rest are not shown"))
                break
        return sorted(set(problems), key=lambda p: (p.field, p.rule, p.message))

    def is_valid(self, name: str, instance: Any) -> bool:
        return self.fast_valid(name, instance) or bool(self.reference(name).is_valid(instance))

    def property_order(self, name: str) -> dict[str, Any]:
        """The schema itself, for callers that order keys the way the schema lists them."""
        return self.documents[name]


@lru_cache(maxsize=1)
def packaged() -> Schemas:
    return Schemas(load_schema_texts())


def _strings(value: Any, out: list[str]) -> None:
    """Every string (keys too) inside `value`, appended to `out`."""
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                out.append(key)
            if isinstance(item, str):
                out.append(item)
            else:
                _strings(item, out)
    elif isinstance(value, list):
        for item in value:
            _strings(item, out)


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
        # jsonschema yields one error per missing property; its message names it ("'sku' is a required property")
        named = [f for f in error.validator_value if isinstance(value, dict) and f not in value]
        missing = next((f for f in named if error.message.startswith(repr(f))), named[0] if named else "?")
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

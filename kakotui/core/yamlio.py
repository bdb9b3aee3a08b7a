"""The only module that reads or writes YAML: strict loading and canonical writing.

Loading is strict: one document, no aliases/anchors, no tags, no duplicate keys, string keys only,
a size and depth cap, and plain scalars resolved the way the writer quotes them (only `true`,
`false`, `null`, `~` and plain decimal integers are not strings), so the YAML 1.1 traps (`NO`,
`on`, `0123`, `1:20`, dates) stay the strings their author meant.

Writing is canonical: mappings in the order given (callers order keys by the schema), 2-space
block style, multi-line text as `|` blocks, every string that any YAML parser could misread quoted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

try:  # the C parser is 10-20x faster; the pure one behaves the same
    from yaml import CParser as _Parser

    LIBYAML = True
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml.composer import Composer
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser, Composer):  # type: ignore[no-redef]
        def __init__(self, stream: Any) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)
            Composer.__init__(self)

    LIBYAML = False

MAX_BYTES = 1_000_000
MAX_DEPTH = 32
MAX_NODES = 50_000

STR = "tag:yaml.org,2002:str"
INT = "tag:yaml.org,2002:int"
BOOL = "tag:yaml.org,2002:bool"
NULL = "tag:yaml.org,2002:null"
MAP = "tag:yaml.org,2002:map"
SEQ = "tag:yaml.org,2002:seq"

_INT_RE = re.compile(r"^(?:0|-?[1-9][0-9]*)$")


@dataclass(frozen=True)
class YamlError(Exception):
    """A YAML text we refuse, with a message a person can act on and where it is."""

    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        return f"line {self.line}: {self.message}"


class _StrictResolver(yaml.resolver.BaseResolver):
    """Plain scalars: true/false, null/~/empty, decimal integers; everything else is a string."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is ScalarNode:
            if not implicit[0]:  # quoted or block scalar: always a string
                return STR
            if value in ("true", "false"):
                return BOOL
            if value in ("null", "~", ""):
                return NULL
            if _INT_RE.match(value):
                return INT
            return STR
        if kind is SequenceNode:
            return SEQ
        return MAP


class _StrictLoader(_Parser, _StrictResolver):  # type: ignore[misc, valid-type]
    def __init__(self, stream: Any) -> None:
        _Parser.__init__(self, stream)
        _StrictResolver.__init__(self)


def _mark(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _construct(node: Node, seen: set[int], depth: int, budget: list[int]) -> Any:
    """Build Python data from a node graph, refusing anything outside the strict subset.

    Walking the node graph (not the expanded data) means an alias bomb is caught at its first
    repeated node, before anything expands it.
    """
    if id(node) in seen:
        line, col = _mark(node)
        raise YamlError("aliases and anchors are not allowed", line, col)
    seen.add(id(node))
    budget[0] -= 1
    if budget[0] < 0:
        raise YamlError(f"too many values (more than {MAX_NODES})")
    if depth > MAX_DEPTH:
        line, col = _mark(node)
        raise YamlError(f"nested deeper than {MAX_DEPTH} levels", line, col)
    tag = node.tag
    if isinstance(node, ScalarNode):
        value = node.value
        if tag == STR:
            return value
        if tag == INT:
            if not _INT_RE.match(value):
                line, col = _mark(node)
                raise YamlError(f"not an integer: {value[:40]!r}", line, col)
            if len(value) > 18:
                line, col = _mark(node)
                raise YamlError("integer too large", line, col)
            return int(value)
        if tag == BOOL and value in ("true", "false"):
            return value == "true"
        if tag == NULL and value in ("null", "~", ""):
            return None
        line, col = _mark(node)
        raise YamlError(f"tags are not allowed ({tag})", line, col)
    if isinstance(node, SequenceNode):
        if tag != SEQ:
            line, col = _mark(node)
            raise YamlError(f"tags are not allowed ({tag})", line, col)
        return [_construct(item, seen, depth + 1, budget) for item in node.value]
    if isinstance(node, MappingNode):
        if tag != MAP:
            line, col = _mark(node)
            raise YamlError(f"tags are not allowed ({tag})", line, col)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or (
                isinstance(key_node, ScalarNode) and key_node.value == "<<" and key_node.tag != STR
            ):
                line, col = _mark(key_node)
                raise YamlError("merge keys (<<) are not allowed", line, col)
            if not isinstance(key_node, ScalarNode) or key_node.tag != STR:
                line, col = _mark(key_node)
                raise YamlError("keys must be plain strings", line, col)
            key = key_node.value
            if key in result:
                line, col = _mark(key_node)
                raise YamlError(f"duplicate key {key!r}", line, col)
            budget[0] -= 1
            result[key] = _construct(value_node, seen, depth + 1, budget)
        return result
    raise YamlError("unsupported YAML node")  # pragma: no cover


def load(text: str | bytes, *, max_bytes: int = MAX_BYTES) -> Any:
    """Parse one YAML document strictly; raise `YamlError` for anything we refuse."""
    if isinstance(text, bytes):
        if len(text) > max_bytes:
            raise YamlError(f"file too large ({len(text):,} bytes; the limit is {max_bytes:,})")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise YamlError(f"not valid UTF-8 (byte {exc.start})") from None
    elif len(text) > max_bytes:
        raise YamlError(f"file too large ({len(text):,} characters; the limit is {max_bytes:,})")
    if text.startswith("\ufeff"):
        text = text[1:]
    # Deep flow nesting is cheap to write and expensive to parse: refuse it before the parser.
    if text.count("[") + text.count("{") > 2 * MAX_NODES:
        raise YamlError("too many brackets")
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if "expected a single document" in str(exc) or "but found another document" in str(exc):
            problem = "more than one YAML document"
        raise YamlError(problem, mark.line + 1 if mark else None, mark.column + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise YamlError(str(exc)[:200]) from None
    except RecursionError:
        raise YamlError(f"nested deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()
    if node is None:
        return None
    return _construct(node, set(), 0, [MAX_NODES])


# ---------------------------------------------------------------------------------------------
# Canonical writing: a small emitter for the subset we write (mappings, sequences, strings, ints,
# bools, null). It is ours rather than PyYAML's so that every quoting decision is explicit (and the
# output does not depend on whether libyaml is installed), and it is ~20x faster than yaml.dump.

_SAFE_PLAIN = re.compile(r"^[^\W\d_][\w./()&+-]*(?: [\w./()&+-]+)*$")
# Words that YAML 1.1 or other parsers read as booleans, nulls or numbers.
_RESERVED = frozenset("y n yes no on off true false null nan inf infinity none".split())
_DQ_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def _plain_ok(value: str) -> bool:
    return bool(_SAFE_PLAIN.match(value)) and value.lower() not in _RESERVED


def _literal_ok(value: str) -> bool:
    """Multi-line text that a `|` block can hold exactly."""
    if "\n" not in value.rstrip("\n") or value[0] in " \n":
        return False
    return all(line == line.rstrip(" ") and line.isprintable() for line in value.split("\n"))


def _double_quoted(value: str) -> str:
    out = []
    for ch in value:
        if ch in _DQ_ESCAPES:
            out.append(_DQ_ESCAPES[ch])
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if _plain_ok(value):
            return value
        if value.isprintable():
            return "'" + value.replace("'", "''") + "'"
        return _double_quoted(value)
    raise TypeError(f"cannot write {type(value).__name__} as canonical YAML")


def _literal(value: str, indent: int, out: list[str], head: str) -> None:
    stripped = value.rstrip("\n")
    trailing = len(value) - len(stripped)
    chomp = "-" if trailing == 0 else "" if trailing == 1 else "+"
    out.append(f"{head}|{chomp}")
    pad = " " * indent
    out.extend(pad + line if line else "" for line in stripped.split("\n"))
    out.extend("" for _ in range(trailing - 1))


def _key(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"mapping keys must be strings, not {type(key).__name__}")
    return key if _plain_ok(key) else _scalar(key) if key.isprintable() else _double_quoted(key)


def _value(value: Any, indent: int, out: list[str], head: str) -> None:
    """Append `head` followed by `value` written at `indent` (its block children go deeper)."""
    if isinstance(value, dict):
        if not value:
            out.append(f"{head} {{}}" if head else "{}")
            return
        if head:
            out.append(head)
        _mapping(value, indent, out, first_prefix=None)
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append(f"{head} []" if head else "[]")
            return
        if head:
            out.append(head)
        pad = " " * indent
        for item in value:
            if isinstance(item, dict) and item:
                _mapping(item, indent + 2, out, first_prefix=pad + "- ")
            elif isinstance(item, (dict, list, tuple)) and item:
                _value(item, indent + 2, out, pad + "-")
            else:
                _value(item, indent + 2, out, pad + "-")
    elif isinstance(value, str) and _literal_ok(value):
        _literal(value, indent, out, f"{head} " if head else "")
    else:
        out.append(f"{head} {_scalar(value)}" if head else _scalar(value))


def _mapping(value: dict[str, Any], indent: int, out: list[str], first_prefix: str | None) -> None:
    pad = " " * indent
    for i, (key, item) in enumerate(value.items()):
        prefix = first_prefix if (i == 0 and first_prefix is not None) else pad
        _value(item, indent + 2, out, f"{prefix}{_key(key)}:")


def dump(data: Any) -> str:
    """Write data as canonical YAML text (mappings in their insertion order)."""
    out: list[str] = []
    _value(data, 0, out, "")
    return "\n".join(out) + "\n"

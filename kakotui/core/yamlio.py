"""The only module that reads or writes YAML: strict loading and canonical writing.

Loading is strict: one document, no aliases/anchors, no tags, no merge keys, no duplicate keys,
string keys only, a size, depth and value-count cap, and plain scalars resolved the way the writer
quotes them (only `true`, `false`, `null`, `~`, empty and plain decimal integers of up to 18 digits
are not strings), so the YAML 1.1 traps (`NO`, `on`, `0123`, `1:20`, dates) stay the strings their
author meant. Anything refused raises `YamlError` (never another exception) with a line where
there is one.

Writing is canonical: mappings in the order given (callers order keys by the schema), 2-space
block style, multi-line text as `|` blocks, every string that any YAML parser could misread quoted,
no anchors or aliases (a repeated object is written out again). Text that YAML cannot hold at
all (a lone surrogate such as U+D800, which has no UTF-8 form) and integers the loader would
refuse raise `ValueError`; types outside the subset (floats, dates, Decimal) raise `TypeError`.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

try:  # the C parser is ~10x faster; the pure one yields the same events
    from yaml._yaml import CParser as _Parser

    LIBYAML = True
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, stream: Any) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)

    LIBYAML = False

MAX_BYTES = 1_000_000
MAX_DEPTH = 32
MAX_NODES = 50_000
MAX_INT_DIGITS = 18  # |n| < 10**18: fits int64 and never reaches int()'s digit limit

_INT_RE = re.compile(r"0|-?[1-9][0-9]*")
# What the YAML reader accepts (YAML 1.1 "printable"); anything else is refused before parsing.
_NOT_YAML_CHAR = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NO_KEY = object()


class YamlError(Exception):
    """A YAML text we refuse, with a message a person can act on and where it is (1-based).

    A plain exception class (not a frozen dataclass) so that it pickles across a process pool
    and accepts `add_note`.
    """

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message, line, column)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        return f"line {self.line}: {self.message}"


def _error(message: str, event: Any) -> YamlError:
    mark = event.start_mark
    return YamlError(message, mark.line + 1, mark.column + 1)


def _plain(value: str, event: Any) -> Any:
    """Resolve a plain (unquoted) scalar: the few words and integers we write unquoted."""
    if value in ("true", "false"):
        return value == "true"
    if value in ("null", "~", ""):
        return None
    if _INT_RE.fullmatch(value):
        if len(value.lstrip("-")) > MAX_INT_DIGITS:
            raise _error(f"integer too large (more than {MAX_INT_DIGITS} digits)", event)
        return int(value)
    return value


def _refuse_decorations(event: Any) -> None:
    if event.anchor is not None:
        raise _error(f"aliases and anchors are not allowed (&{event.anchor})", event)
    if event.tag is not None:
        raise _error(f"tags are not allowed ({event.tag})", event)


def _build(parser: Any) -> Any:
    """Build data from the parser's events, refusing anything outside the strict subset.

    Working on events (not a composed node graph) means an alias or anchor is refused where it
    appears, before anything could expand it, and deep nesting is refused at the first level too
    many, before the parser reads the rest.
    """
    get = parser.get_event
    get()  # StreamStartEvent
    event = get()
    if type(event) is StreamEndEvent:
        return None
    # event is the DocumentStartEvent; each stack entry is [container, pending key or _NO_KEY]
    stack: list[list[Any]] = []
    budget = MAX_NODES
    root: Any = None
    while True:
        event = get()
        kind = type(event)
        if kind is ScalarEvent:
            _refuse_decorations(event)
            value: Any = _plain(event.value, event) if event.implicit[0] else event.value
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            _refuse_decorations(event)
            if stack and stack[-1][1] is _NO_KEY and type(stack[-1][0]) is dict:
                raise _error("keys must be plain strings, not a list or mapping", event)
            if len(stack) >= MAX_DEPTH:
                raise _error(f"nested deeper than {MAX_DEPTH} levels", event)
            budget -= 1
            stack.append([{} if kind is MappingStartEvent else [], _NO_KEY])
            continue
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            value = stack.pop()[0]
        elif kind is AliasEvent:
            raise _error(f"aliases and anchors are not allowed (*{event.anchor})", event)
        else:  # DocumentEndEvent
            break
        budget -= 1
        if budget < 0:
            raise _error(f"too many values (more than {MAX_NODES})", event)
        if not stack:
            root = value
            continue
        top = stack[-1]
        container = top[0]
        if type(container) is list:
            container.append(value)
        elif top[1] is not _NO_KEY:
            container[top[1]] = value
            top[1] = _NO_KEY
        elif type(value) is not str:
            raise _error(f"keys must be strings, not {value!r} (quote it)", event)
        elif value == "<<" and event.implicit[0]:
            raise _error("merge keys (<<) are not allowed", event)
        elif value in container:
            raise _error(f"duplicate key {value[:80]!r}", event)
        else:
            top[1] = value
    after = get()
    if type(after) is not StreamEndEvent:
        raise _error("more than one YAML document", after)
    return root


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def load(text: str | bytes, *, max_bytes: int = MAX_BYTES, screened: bool = False) -> Any:
    """Parse one YAML document strictly; raise `YamlError` for anything we refuse.

    `screened`: the caller has checked that `screen(text)` is true (its character checks are skipped)."""
    if isinstance(text, bytes):
        raw = text
        if len(raw) > max_bytes:
            raise YamlError(f"file too large ({len(raw):,} bytes; the limit is {max_bytes:,})")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            raise YamlError(f"not valid UTF-8 (byte {exc.start})", line) from None
    else:
        if len(text) > max_bytes:
            raise YamlError(f"file too large ({len(text):,} characters; the limit is {max_bytes:,} bytes)")
    if not screened:
        screened = screen(text)
    if not screened:
        bad = _NOT_YAML_CHAR.search(text)
        if bad:
            line, column = _position(text, bad.start())
            raise YamlError(
                f"character U+{ord(bad.group()):04X} is not allowed in YAML (escape it)", line, column
            )
    if not text.isascii():
        size = len(text.encode("utf-8"))
        if size > max_bytes:
            raise YamlError(f"file too large ({size:,} bytes; the limit is {max_bytes:,})")
    try:
        return _load_canonical(text, screened=screened)
    except _NotCanonical:
        return _load_events(text)


def _load_events(text: str) -> Any:
    """The strict loader proper: libyaml's events, refusing anything outside the subset."""
    try:
        parser = _Parser(text)
        try:
            return _build(parser)
        finally:
            parser.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.problem and exc.context:  # e.g. "... while scanning a quoted scalar (started on line 1)"
            where = f" (started on line {exc.context_mark.line + 1})" if exc.context_mark else ""
            problem = f"{problem} {exc.context}{where}"
        raise YamlError(problem, mark.line + 1 if mark else None, mark.column + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise YamlError(str(exc)[:200]) from None


# ---------------------------------------------------------------------------------------------
# Fast path for canonical text. Parsing a record through libyaml's events costs ~550 us; the
# files we write use a small line-oriented subset of YAML that a line parser reads several times
# faster. It accepts only lines of the exact shapes the canonical writer produces (block mappings
# with snake-case keys, block lists of scalars and mappings, single-quoted strings on one line,
# plain words and integers, `|`/`|-` literal blocks, `{}`/`[]`), at exactly the indentation the
# writer uses, and gives up (`_NotCanonical`) at anything else, so the strict loader above decides
# every other text, including every text it refuses. One loop over the lines with a stack of open
# containers (no call per line or per value: a record is ~60 lines). tests/unit/test_yamlio_fast.py
# checks that both give the same data, or that the fast path gave up, over generated and damaged texts.


class _NotCanonical(Exception):
    """The fast path does not read this text; the strict loader will."""


_NOT_FAST = re.compile("[\t\r\x85\u2028\u2029\ufeff]")  # tabs, other line breaks, BOM: strict path
# Every character that a check of `load` or of the schema screen looks for: outside YAML's printable
# set, outside the fast subset (above), C0/C1 controls and backslashes (`schemas.strings_safe_in`).
# A text without any needs none of those scans (`screen`): one search instead of three.
_SUSPECT = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\\\\\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]")
_FAST_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FAST_RESERVED_KEYS = frozenset(["true", "false", "null"])
# Plain words and keys already checked: most values repeat (statuses, vendors, people, keys).
_PLAIN_SEEN: dict[str, Any] = {}
_KEYS_SEEN: set[str] = set()
_SEEN_MAX = 50_000
_MISS = object()
# Whole lines already read whose meaning does not depend on the lines around them: an entry with a
# plain word or integer (`  severity: minor`, `    - kind: photo`) or a block key (`decision:`),
# as (indentation, a list item's dash?, key, value or _BLOCK). About half of a record's lines
# repeat across records: a lookup instead of splitting and checking the line (~20% of the parse).
_LINES: dict[str, tuple[int, bool, str, Any]] = {}
_BLOCK = object()


def screen(text: str) -> bool:
    """True when `text` holds no tab, carriage return or other line break, BOM, C0/C1 control
    character, backslash, or anything YAML cannot hold: `load(text, screened=True)` then skips its
    own character checks, and `schemas.strings_safe_in(text, screened=True)` its search."""
    # str.isprintable is ~5x the search: every character it passes is outside _SUSPECT but the
    # backslash (it refuses controls, line and paragraph separators, format characters such as the
    # BOM, surrogates and noncharacters); what it refuses (a no-break space, a bidi mark) is searched.
    if "\\" not in text and text.replace("\n", " ").isprintable():
        return True
    return _SUSPECT.search(text) is None


def _key_ok(key: str) -> bool:
    if key in _FAST_RESERVED_KEYS or not _FAST_KEY.fullmatch(key):
        return False
    if len(_KEYS_SEEN) < _SEEN_MAX:
        _KEYS_SEEN.add(key)
    return True


def _fast_plain(value: str) -> Any:
    """An unquoted one-line value: an integer, a plain word (`true`, `false`, `null` resolved), `{}`, `[]`."""
    result: Any
    if _INT_RE.fullmatch(value):
        if len(value.lstrip("-")) > MAX_INT_DIGITS:
            raise _NotCanonical
        result = int(value)
    elif _SAFE_PLAIN.fullmatch(value):
        result = _plain(value, None)
    elif value == "{}":
        return {}
    elif value == "[]":
        return []
    else:
        raise _NotCanonical
    if len(_PLAIN_SEEN) < _SEEN_MAX:
        _PLAIN_SEEN[value] = result
    return result


def _fast_literal(header: str, lines: list[str], i: int, indent: int) -> tuple[str, int]:
    """A `|` or `|-` block whose body starts at line `i`, indented `indent`; and the line after it."""
    if header != "|" and header != "|-":
        raise _NotCanonical
    body: list[str] = []
    blank = 0
    n = len(lines)
    while i < n:
        line = lines[i]
        content = line.lstrip(" ")
        if not content:
            if not body or line:  # leading blank lines, or a line of spaces: the strict path
                raise _NotCanonical
            blank += 1
        else:
            ind = len(line) - len(content)
            if ind < indent:
                break
            if not body and ind > indent:
                raise _NotCanonical  # YAML would take the deeper indentation as the block's
            if blank:
                body.extend([""] * blank)
                blank = 0
            body.append(line[indent:])
        i += 1
    if not body:
        raise _NotCanonical
    return "\n".join(body) + ("\n" if header == "|" else ""), i


def _fast_scalar(value: str, lines: list[str], i: int, indent: int) -> tuple[Any, int]:
    """A one-line value that is not a plain word seen before (after `key: ` or `- ` at `indent`),
    and the line after it (a literal block takes the lines below)."""
    first = value[0]
    if first == "'":
        if len(value) < 2 or value[-1] != "'":
            raise _NotCanonical
        inner = value[1:-1]
        if "'" in inner:
            if "'" in inner.replace("''", ""):
                raise _NotCanonical
            inner = inner.replace("''", "'")
        return inner, i
    if first == "|":
        return _fast_literal(value, lines, i, indent + 2)
    if first == " ":
        raise _NotCanonical
    return _fast_plain(value), i


def _load_canonical(text: str, *, screened: bool = False) -> Any:
    """The data of a text in the canonical subset (a top-level mapping); `_NotCanonical` otherwise."""
    if not text.endswith("\n") or (not screened and _NOT_FAST.search(text)):
        raise _NotCanonical
    lines = text[:-1].split("\n")
    n = len(lines)
    if n > MAX_NODES // 3 - 2 or not lines[0] or lines[0][0] == " ":
        raise _NotCanonical
    root: dict[str, Any] = {}
    frames: list[tuple[int, Any, bool]] = [(0, root, False)]  # open containers: (indentation, it, a list?)
    obj: Any = root
    item: Any
    top, is_list = 0, False
    seen, keys, miss, known, block = _PLAIN_SEEN, _KEYS_SEEN, _MISS, _LINES, _BLOCK
    i = 0
    while i < n:
        line = lines[i]
        hit = known.get(line)
        if hit is not None:  # a line read before: `key: word`, `- key: word` or `key:` at this indentation
            ind, dash, key, item = hit
            if ind != top:
                if ind > top:
                    raise _NotCanonical
                while ind < frames[-1][0]:
                    frames.pop()
                top, obj, is_list = frames[-1]
                if ind != top:
                    raise _NotCanonical
            i += 1
            if is_list != dash:
                raise _NotCanonical
            if dash:
                if len(frames) >= MAX_DEPTH - 1:
                    raise _NotCanonical
                new: dict[str, Any] = {}
                obj.append(new)
                ind += 2
                frames.append((ind, new, False))
                top, obj, is_list = ind, new, False
            if key in obj:
                raise _NotCanonical
            if item is not block:
                obj[key] = item
                continue
            top, item, is_list = _open_block(lines, i, ind, frames)
            obj[key] = item
            obj = item
            continue
        content = line.lstrip(" ")
        if not content or content[-1] == " ":
            raise _NotCanonical
        ind = len(line) - len(content)
        if ind != top:  # back out to the container this line belongs to
            if ind > top:
                raise _NotCanonical
            while ind < frames[-1][0]:
                frames.pop()
            top, obj, is_list = frames[-1]
            if ind != top:
                raise _NotCanonical
        i += 1
        line_ind, dash = ind, is_list
        if is_list:
            if content[:2] != "- ":
                raise _NotCanonical
            content = content[2:]
            key, sep, value = content.partition(": ")
            if not sep and content[-1] == ":":
                key = content[:-1]
            is_entry = (sep or content[-1] == ":") and (key in keys or _key_ok(key))
            if not is_entry:  # a scalar item
                item = seen.get(content, miss)
                if item is miss:
                    item, i = _fast_scalar(content, lines, i, ind)
                obj.append(item)
                continue
            if len(frames) >= MAX_DEPTH - 1:
                raise _NotCanonical
            item = {}  # a mapping item: its first entry is on the dash's line
            obj.append(item)
            ind += 2
            frames.append((ind, item, False))
            top, obj, is_list = ind, item, False
        else:
            key, sep, value = content.partition(": ")
            if not sep:
                if content[-1] != ":":
                    raise _NotCanonical
                key = content[:-1]
            if key not in keys and not _key_ok(key):
                raise _NotCanonical
        if key in obj:
            raise _NotCanonical
        if sep:
            item = seen.get(value, miss)
            if item is miss:
                item, i = _fast_scalar(value, lines, i, ind)
            elif len(known) < _SEEN_MAX and not isinstance(item, dict | list):
                known[line] = (line_ind, dash, key, item)
            obj[key] = item
        else:  # `key:`: a block mapping or list on the next lines, two spaces in
            if len(known) < _SEEN_MAX:
                known[line] = (line_ind, dash, key, block)
            top, item, is_list = _open_block(lines, i, ind, frames)
            obj[key] = item
            obj = item
    return root


def _open_block(
    lines: list[str], i: int, ind: int, frames: list[tuple[int, Any, bool]]
) -> tuple[int, Any, bool]:
    """The block mapping or list a `key:` line at indentation `ind` opens (its first line, `lines[i]`,
    two spaces further in), pushed on `frames`: (its indentation, it, a list?)."""
    if i >= len(lines) or len(frames) >= MAX_DEPTH - 1:
        raise _NotCanonical
    below = lines[i]
    ind += 2
    if below[:ind] != " " * ind or below[ind : ind + 1] in (" ", ""):
        raise _NotCanonical
    is_list = below[ind : ind + 2] == "- "
    item: Any = [] if is_list else {}
    frames.append((ind, item, is_list))
    return ind, item, is_list


# ---------------------------------------------------------------------------------------------
# Canonical writing: a small emitter for the subset we write (mappings, sequences, strings, ints,
# bools, null). It is ours rather than PyYAML's so that every quoting decision is explicit (and the
# output does not depend on whether libyaml is installed), and it is ~20x faster than yaml.dump.

_SAFE_PLAIN = re.compile(r"[^\W\d_][\w./()&+-]*(?: [\w./()&+-]+)*")
# Words that YAML 1.1 or other parsers read as booleans, nulls or numbers.
_RESERVED = frozenset(
    ["y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf", "infinity", "none"]
)
_DQ_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}
_SURROGATE = re.compile("[\ud800-\udfff]")
# YAML limits an implicit key to 1024 characters (libyaml and PyYAML refuse key 1025 of them);
# a longer key is written in the explicit `? key` form.
MAX_IMPLICIT_KEY = 1000


def _plain_ok(value: str) -> bool:
    return bool(_SAFE_PLAIN.fullmatch(value)) and value.lower() not in _RESERVED


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
            out.append(
                f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
            )
    return '"' + "".join(out) + '"'


def _string(value: str) -> str:
    if _plain_ok(value):
        return value
    if value.isprintable():
        return "'" + value.replace("'", "''") + "'"
    bad = _SURROGATE.search(value)
    if bad:
        raise ValueError(
            f"cannot write text with a lone surrogate (U+{ord(bad.group()):04X} at index {bad.start()}) "
            "as YAML: it has no UTF-8 form"
        )
    return _double_quoted(value)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        text = str(int(value))
        if len(text.lstrip("-")) > MAX_INT_DIGITS:
            raise ValueError(f"integer {text[:24]}... has more than {MAX_INT_DIGITS} digits")
        return text
    if isinstance(value, str):
        return _string(value)
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
    return _string(key)


def _container_depth(depth: int) -> int:
    """The depth of a container nested in `depth` others; the loader refuses more than MAX_DEPTH."""
    if depth >= MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels (or a cycle): the loader would refuse it")
    return depth + 1


# What a short string or key is written as, by its text: records repeat the same keys and most values
# (ids of vendors, statuses, codes, dates), so the quoting decision is made once per distinct text.
# Bounded in count and in length; the output is that of deciding every time (tests/unit/test_yamlio_emit.py).
_SCALAR_SEEN: dict[str, str] = {}
_KEY_SEEN: dict[str, str] = {}
_SEEN_LEN = 80


def _string_text(value: str) -> str | None:
    """How a string value is written on its line, or None when it needs a `|` block."""
    text = _SCALAR_SEEN.get(value)
    if text is None:
        if _literal_ok(value):
            return None
        text = _string(value)
        if len(value) <= _SEEN_LEN:
            if len(_SCALAR_SEEN) >= _SEEN_MAX:
                _SCALAR_SEEN.clear()
            _SCALAR_SEEN[value] = text
    return text


def _value(value: Any, indent: int, out: list[str], head: str, depth: int) -> None:
    """Append `head` followed by `value` written at `indent` (its block children go deeper).

    `depth` is the number of lists and mappings around `value`.
    """
    kind = type(value)
    if kind is str:
        text = _string_text(value)
        if text is not None:
            out.append(f"{head} {text}" if head else text)
        else:  # a block at the top level is still indented, so a line such as `---` stays content
            _literal(value, max(indent, 2), out, f"{head} " if head else "")
    elif kind is dict or (kind is not list and isinstance(value, dict)):
        inner = _container_depth(depth)
        if not value:
            out.append(f"{head} {{}}" if head else "{}")
            return
        if head:
            out.append(head)
        _mapping(value, indent, out, None, inner)
    elif kind is list or isinstance(value, (list, tuple)):
        inner = _container_depth(depth)
        if not value:
            out.append(f"{head} []" if head else "[]")
            return
        if head:
            out.append(head)
        pad = " " * indent
        dash = pad + "-"
        for item in value:
            if isinstance(item, dict) and item:
                _mapping(item, indent + 2, out, pad + "- ", _container_depth(inner))
            else:
                _value(item, indent + 2, out, dash, inner)
    elif isinstance(value, str) and _literal_ok(value):
        _literal(value, max(indent, 2), out, f"{head} " if head else "")
    else:
        out.append(f"{head} {_scalar(value)}" if head else _scalar(value))


def _mapping(
    value: dict[str, Any], indent: int, out: list[str], first_prefix: str | None, depth: int
) -> None:
    """Write a non-empty mapping; `depth` counts it and the containers around it."""
    pad = " " * indent
    inner = indent + 2
    prefix = pad if first_prefix is None else first_prefix
    seen = _KEY_SEEN
    append = out.append
    for key, item in value.items():
        text = seen.get(key) if type(key) is str else None
        if text is None:
            text = _key(key)
            if len(text) > MAX_IMPLICIT_KEY:
                append(f"{prefix}? {text}")
                _value(item, inner, out, f"{pad}:", depth)
                prefix = pad
                continue
            if type(key) is str and len(key) <= _SEEN_LEN:
                if len(seen) >= _SEEN_MAX:
                    seen.clear()
                seen[key] = text
        kind = type(item)
        if kind is str:  # the common case, inline: a key and a one-line string
            line = _SCALAR_SEEN.get(item)
            if line is not None:
                append(f"{prefix}{text}: {line}")
                prefix = pad
                continue
        elif kind is int and len(str(item)) <= MAX_INT_DIGITS:
            append(f"{prefix}{text}: {item}")
            prefix = pad
            continue
        _value(item, inner, out, f"{prefix}{text}:", depth)
        prefix = pad


def dump(data: Any) -> str:
    """Write data as canonical YAML text (mappings in their insertion order)."""
    out: list[str] = []
    _value(data, 0, out, "", 0)
    return "\n".join(out) + "\n"

"""The canonical fast path of `yamlio.load` against the strict event loader: same data, or it gives up.

The fast path must never accept a text the strict loader refuses, and must never read a text
differently; it may give up on anything (the strict loader then decides).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kakotui.core import yamlio
from kakotui.core.record import to_text
from kakotui.core.schemas import packaged
from kakotui.interchange import sample
from tests.unit.test_yamlio import DATA, FRAGMENTS, RECORDS, TRICKY, typed

_GAVE_UP = object()
_REFUSED = object()


def fast(text: str) -> Any:
    try:
        return yamlio._load_canonical(text)
    except yamlio._NotCanonical:
        return _GAVE_UP


def strict(text: str) -> Any:
    try:
        return yamlio._load_events(text)
    except yamlio.YamlError:
        return _REFUSED


def assert_agree(text: str) -> Any:
    """The fast result, after checking it against the strict one."""
    quick = fast(text)
    if quick is not _GAVE_UP:
        full = strict(text)
        assert full is not _REFUSED, f"fast path accepted a text the strict loader refuses: {text!r}"
        assert typed(quick) == typed(full), text
    return quick


def test_every_generated_record_takes_the_fast_path_and_reads_the_same() -> None:
    records = sample.generate(600, start=date(2025, 1, 1), end=date(2026, 11, 25))
    schemas = packaged()
    for record in records:
        text = to_text(record, schemas)
        quick = assert_agree(text)
        assert quick is not _GAVE_UP, text
        assert quick == record


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DATA)
def test_dumped_data_reads_the_same_or_falls_back(data: Any) -> None:
    assert_agree(yamlio.dump(data))


@settings(max_examples=200, deadline=None)
@given(RECORDS)
def test_record_shaped_data_takes_the_fast_path(record: dict[str, Any]) -> None:
    text = yamlio.dump(record)
    quick = assert_agree(text)
    if quick is not _GAVE_UP:
        assert typed(quick) == typed(record)
    assert typed(yamlio.load(text)) == typed(record)


JUNK = [
    *FRAGMENTS,
    *TRICKY[:40],
    "",
    "&a ",
    "*a",
    "!x ",
    "---\n",
    "\n- ",
    "\t",
    "  ",
    "\n  ",
    "a: b\n",
    "|\n",
]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(DATA, RECORDS), st.data())
def test_damaged_canonical_text_is_never_read_differently(data: Any, draw: st.DataObject) -> None:
    text = yamlio.dump(data)
    for _ in range(draw.draw(st.integers(1, 3))):
        at = draw.draw(st.integers(0, len(text)))
        cut = draw.draw(st.integers(0, 4))
        junk = draw.draw(st.sampled_from(JUNK))
        text = text[:at] + junk + text[at + cut :]
    assert_agree(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: b\n\n",  # a blank line
        "a: b # c\n",  # a comment
        "a:\n  - x\n  -  y\n",
        "a:\n- x\n",  # a list at its key's indentation (valid YAML, not ours)
        "a:\n",  # an empty value is null
        "a: b\n  c\n",  # a folded continuation line
        "a: 'b\n  c'\n",  # a quoted scalar over two lines
        "a: |\n    deeper\n  x\n",
        "a: |2\n  x\n",
        "a: |+\n  x\n\n",
        "a: >\n  x\n",
        'a: "b"\n',
        "a: &x b\nc: *x\n",
        "a: !!str b\n",
        "a: {b: c}\n",
        "a: [b]\n",
        "a: b\na: c\n",  # duplicate keys
        "true: b\n",
        "null: b\n",
        "'a': b\n",
        "a:\tb\n",
        "a: b\r\n",
        "a: x\u2028y\n",
        "\ufeffa: b\n",
        "--- \na: b\n",
        "a: b\n...\n",
        "a: b",  # no final newline
        "- a\n",  # a top-level list
        "a: 1234567890123456789\n",
        "a: b \n",
        "a: |\n  x\n   \n  y\n",  # a line of spaces inside a literal block
        "a:\n  b: c\n   d: e\n",
    ],
)
def test_texts_outside_the_subset_fall_back_to_the_strict_loader(text: str) -> None:
    assert fast(text) is _GAVE_UP
    try:
        expected = typed(yamlio._load_events(text))
    except yamlio.YamlError as exc:
        with pytest.raises(yamlio.YamlError) as raised:
            yamlio.load(text)
        assert str(raised.value) == str(exc)
    else:
        assert typed(yamlio.load(text)) == expected


def test_the_subset_covers_what_the_writer_writes() -> None:
    data = {
        "a": "plain words (and/more) + x-y",
        "b": "it's: 'quoted' # not a comment",
        "c": "line one\n\n  indented line\nlast\n",
        "d": "no final newline\nhere",
        "e": [1, -2, 0, True, False, None, "0123", "NO", {}, []],
        "f": [{"g": {"h": [{"i": "j"}]}, "k": "l"}, {"m": "x\ny"}],
        "p": {},
        "o": [],
    }
    text = yamlio.dump(data)
    assert typed(fast(text)) == typed(data)


def test_nesting_and_size_limits_are_left_to_the_strict_loader() -> None:
    deep: Any = "x"
    for _ in range(yamlio.MAX_DEPTH + 2):
        deep = {"k": deep}
    with pytest.raises(ValueError):
        yamlio.dump(deep)
    text = (
        "".join("  " * i + "k:\n" for i in range(yamlio.MAX_DEPTH + 2))
        + "  " * (yamlio.MAX_DEPTH + 2)
        + "k: x\n"
    )
    assert fast(text) is _GAVE_UP
    with pytest.raises(yamlio.YamlError, match="nested deeper"):
        yamlio.load(text)
    many = "a:\n" + "".join(f"  - k{i}: v\n" for i in range(yamlio.MAX_NODES // 2))
    assert fast(many) is _GAVE_UP
    with pytest.raises(yamlio.YamlError, match="too many values"):
        yamlio.load(many)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=40), st.data())
def test_a_screened_text_needs_none_of_the_character_checks(text: str, draw: st.DataObject) -> None:
    """`screen` is one search standing for three (YAML's printable set, the fast subset, the schema
    screen): a text it passes must pass each of them, and loading it with `screened=True` reads the
    same as without."""
    from kakotui.core.schemas import _CONTROL_OR_ESCAPE, strings_safe_in

    text = yamlio.dump({"a": text, "b": [text]}) if draw.draw(st.booleans()) else text
    if yamlio.screen(text):
        assert not yamlio._NOT_YAML_CHAR.search(text)
        assert not yamlio._NOT_FAST.search(text)
        assert not _CONTROL_OR_ESCAPE.search(text)
        assert strings_safe_in(text, screened=True) == strings_safe_in(text)
        try:
            expected = typed(yamlio.load(text, screened=False))
        except yamlio.YamlError:
            with pytest.raises(yamlio.YamlError):
                yamlio.load(text, screened=True)
        else:
            assert typed(yamlio.load(text, screened=True)) == expected


@pytest.mark.parametrize(
    "char", ["\t", "\r", "\x00", "\x1b", "\x7f", "\x85", "\x9b", "\\", "\u2028", "\ufeff", "\ufffe"]
)
def test_screen_stops_at_every_character_a_check_looks_for(char: str) -> None:
    assert not yamlio.screen(f"a: x{char}y\n")
    assert yamlio.screen("a: 'x: y 中文 ¥38.50'\n")


def test_lines_read_before_are_read_again_only_where_they_fit() -> None:
    """The fast path remembers whole lines (`key: word`, `- key: word`, `key:`): a remembered line in
    another place (a list where a mapping was, deeper, a block key with no block below, a key twice)
    is read as the strict loader reads it there, or left to it."""
    first = "a: b\nc:\n  - d: e\n    f: 1\n  - d: e\ng:\n  h: true\n"
    assert yamlio._load_canonical(first) == {
        "a": "b",
        "c": [{"d": "e", "f": 1}, {"d": "e"}],
        "g": {"h": True},
    }
    assert "  - d: e" in yamlio._LINES and "c:" in yamlio._LINES and "a: b" in yamlio._LINES
    for text in [
        "c:\n  a: b\n",  # a remembered top-level entry, now nested
        "c:\n  - a: b\n",  # nested and in a list
        "g:\n  - d: e\n",  # fine: a list item remembered elsewhere
        "g:\n    - d: e\n",  # too deep
        "c:\na: b\n",  # a remembered block key with no block below it
        "c:\n",  # ... at the end
        "a: b\na: b\n",  # a key twice
        "g:\n  h: true\n  - d: e\n",  # a list item inside a mapping
        "c:\n  - d: e\n  f: 1\n",  # an entry at a list's indentation
        "x:\n  - d: e\n    f: 1\n    d: e\n",  # a key twice in an item
        "c:\n  - d: e\n    f: 1\n",  # remembered lines in a new order
    ]:
        assert_agree(text)
    assert typed(fast("g:\n  - d: e\n")) == typed({"g": [{"d": "e"}]})
    assert fast("c:\na: b\n") is _GAVE_UP


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=[]), max_size=30))
def test_screen_is_exactly_the_search_for_suspect_characters(text: str) -> None:
    """The printable shortcut of `screen` never passes what the search would stop (it may only send
    more texts to the search)."""
    assert yamlio.screen(text) == (yamlio._SUSPECT.search(text) is None)
    assert yamlio.screen("a\n" + text + "\n") == (yamlio._SUSPECT.search(text) is None)

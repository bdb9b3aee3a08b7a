"""Tests for kakotui.core.textsafe: every dangerous character class comes out as a visible escape."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kakotui.core.textsafe import ELLIPSIS, NEWLINE_MARK, inert, inert_in_place

C0 = [chr(c) for c in range(0x20) if c not in (0x09, 0x0A)]
C1 = [chr(c) for c in range(0x80, 0xA0)]
BIDI = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)]
SEPARATORS = ["\u2028", "\u2029"]
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\ufeff"]
ALL_ESCAPED = [*C0, "\x7f", *C1, *BIDI, *SEPARATORS, *ZERO_WIDTH]


def _expected_escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


@pytest.mark.parametrize("single_line", [False, True])
@pytest.mark.parametrize("ch", ALL_ESCAPED, ids=lambda c: f"U+{ord(c):04X}")
def test_each_dangerous_character_becomes_a_visible_escape(ch: str, single_line: bool) -> None:
    out = inert(f"a{ch}b", single_line=single_line)
    assert out == f"a{_expected_escape(ch)}b"
    assert out.isprintable()


def test_named_escapes_read_as_expected() -> None:
    assert inert("\x1b[2J\x07") == "\\x1b[2J\\x07"
    assert inert("\x9b31m") == "\\x9b31m"
    assert inert("abc\u202edef") == "abc\\u202edef"
    assert inert("x\ry") == "x\\x0dy" == inert("x\ry", single_line=True)
    assert inert("\x7f") == "\\x7f"
    assert inert("\ufeffid") == "\\ufeffid"


def test_a_terminal_title_and_hyperlink_sequence_is_defused() -> None:
    hostile = "\x1b]0;pwned\x07\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"
    out = inert(hostile, single_line=True)
    assert "\x1b" not in out and "\x07" not in out
    assert out.startswith("\\x1b]0;pwned\\x07")


def test_newline_and_tab_kept_in_multi_line_mode() -> None:
    assert inert("line one\n\tline two") == "line one\n\tline two"


def test_newline_and_tab_flattened_in_single_line_mode() -> None:
    assert inert("line one\n\tline two", single_line=True) == f"line one{NEWLINE_MARK} line two"
    assert "\n" not in inert("a\n\n\nb", single_line=True)


@pytest.mark.parametrize(
    "text", ["[bold]x[/]", "[@click=app.quit]", "[/bold]", "[link=https://evil.example]x[/link]", "\\[x]"]
)
def test_markup_like_text_passes_through_unchanged(text: str) -> None:
    assert inert(text) == text
    assert inert(text, single_line=True) == text


def test_ordinary_unicode_is_untouched() -> None:
    text = "破损 铰链 Ünïcödé 🙂 é (e + combining acute: e\u0301) ١٢٣ שלום"
    assert inert(text, single_line=True) == text


def test_a_lone_surrogate_is_escaped_so_output_can_be_encoded() -> None:
    out = inert("bad\udcffbyte")
    assert out == "bad\\udcffbyte"
    out.encode("utf-8")


def test_limit_truncates_with_ellipsis() -> None:
    assert inert("abcdef", limit=4) == "abc" + ELLIPSIS
    assert inert("abcd", limit=4) == "abcd"
    assert inert("abc", limit=4) == "abc"
    assert inert("abcdef", limit=1) == ELLIPSIS
    assert inert("abcdef", limit=0) == ""


def test_limit_counts_escaped_characters_after_expansion() -> None:
    # One ESC becomes four characters; the limit bounds what is shown, not what came in.
    out = inert("\x1b\x1b\x1b", limit=6)
    assert len(out) == 6
    assert out.endswith(ELLIPSIS)
    assert "\x1b" not in out


def test_limit_bounds_work_on_huge_input() -> None:
    huge = "\x1b" * 5_000_000
    assert len(inert(huge, limit=20, single_line=True)) == 20


@given(st.text(), st.booleans(), st.one_of(st.none(), st.integers(min_value=1, max_value=40)))
def test_output_never_holds_a_dangerous_character(text: str, single_line: bool, limit: int | None) -> None:
    out = inert(text, limit, single_line=single_line)
    allowed = set() if single_line else {"\n", "\t"}
    for ch in out:
        if ch in allowed:
            continue
        category = unicodedata.category(ch)
        assert category not in ("Cc", "Cs", "Zl", "Zp"), repr(ch)
        assert ch not in ALL_ESCAPED, repr(ch)
    if limit is not None:
        assert len(out) <= limit


@given(st.text(), st.booleans())
def test_inert_in_place_keeps_positions_and_leaves_nothing_dangerous(text: str, keep_newlines: bool) -> None:
    out = inert_in_place(text, keep_newlines=keep_newlines)
    assert len(out) == len(text)  # one symbol per character: a cursor stays where it was
    for before, after in zip(text, out, strict=True):
        if before in "\t\n" and keep_newlines:
            assert after == before
        elif inert(before, single_line=True) != before:  # a character `inert` escapes or marks
            assert after != before and unicodedata.category(after) not in ("Cc", "Cf", "Cs", "Zl", "Zp")
        else:
            assert after == before


def test_inert_in_place_symbols() -> None:
    assert inert_in_place("a\x1b]2;x\x07b") == "a␛]2;x␇b"
    assert inert_in_place("\x9b\u202e\u200b\x7f") == "���␡"
    assert inert_in_place("l1\nl2\t", keep_newlines=True) == "l1\nl2\t"
    assert inert_in_place("l1\nl2") == "l1␊l2"

"""Make untrusted text inert for display: control, bidi and invisible characters become visible escapes.

Record text is data, never terminal instructions: an ESC or a C1 code would reach the terminal raw, a
bidi override would reorder what a reader sees, a zero-width character would hide a difference. `inert`
replaces each of them with a visible escape (`\\x1b`, `\\u202e`). It does not touch markup-like text such
as `[bold]`: widgets must never parse record text as markup in the first place.

It runs for every visible cell on every frame, so it is a `str.isprintable()` fast path and one
`str.translate` with tables built once at import.
"""

from __future__ import annotations

__all__ = ["ELLIPSIS", "NEWLINE_MARK", "inert", "inert_in_place"]

ELLIPSIS = "…"
"""Marks text cut at the limit."""

NEWLINE_MARK = "⏎"
"""Stands for a newline in single-line mode."""


def _escape(code: int) -> str:
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _build_table() -> dict[int, str]:
    codes: list[int] = [
        *range(0x00, 0x20),  # C0 controls (incl. BEL, BS, CR, ESC)
        0x7F,  # DEL
        *range(0x80, 0xA0),  # C1 controls (incl. CSI 0x9b, OSC 0x9d, NEL 0x85)
        0x061C,  # ARABIC LETTER MARK
        0x200E,  # LEFT-TO-RIGHT MARK
        0x200F,  # RIGHT-TO-LEFT MARK
        *range(0x202A, 0x202F),  # LRE, RLE, PDF, LRO, RLO
        *range(0x2066, 0x206A),  # LRI, RLI, FSI, PDI
        0x2028,  # LINE SEPARATOR
        0x2029,  # PARAGRAPH SEPARATOR
        *range(0x200B, 0x200E),  # ZERO WIDTH SPACE, NON-JOINER, JOINER
        0xFEFF,  # ZERO WIDTH NO-BREAK SPACE (BOM)
        *range(0xD800, 0xE000),  # lone surrogates: they cannot be encoded for the terminal at all
    ]
    return {code: _escape(code) for code in codes}


_MULTI_LINE: dict[int, str] = _build_table()
_MULTI_LINE.pop(0x0A)  # newline kept
_MULTI_LINE.pop(0x09)  # tab kept

_SINGLE_LINE: dict[int, str] = _build_table()
_SINGLE_LINE[0x0A] = NEWLINE_MARK
_SINGLE_LINE[0x09] = " "


def inert(text: str, limit: int | None = None, *, single_line: bool = False) -> str:
    """Return `text` safe to show: every control, bidi, separator and zero-width character escaped.

    Args:
        text: Untrusted text (from a record, a file name, an error message...).
        limit: At most this many characters are returned; text cut there ends with `…`.
        single_line: Show a newline as `⏎` and a tab as a space (list cells, one-line labels);
            otherwise newlines and tabs are kept.

    Returns:
        Text whose every character draws something visible; markup-like text is left as it is.
    """
    cut = False
    if limit is not None:
        if limit <= 0:
            return ""
        if len(text) > limit:
            # Every character maps to one or more, so nothing past `limit` can be shown.
            text = text[:limit]
            cut = True
    if not text.isprintable():
        # isprintable() is False for every character the tables hold (Cc, Cf, Zl, Zp, Cs), so
        # printable text (the usual case) skips the translation.
        text = text.translate(_SINGLE_LINE if single_line else _MULTI_LINE)
    if limit is not None and (cut or len(text) > limit):
        text = text[: limit - 1] + ELLIPSIS
    return text


def _symbol(code: int) -> str:
    if code < 0x20:
        return chr(0x2400 + code)  # the control pictures: ␛ for ESC, ␀ for NUL
    if code == 0x7F:
        return "\u2421"  # ␡
    return "\ufffd"  # C1, bidi, separators, zero-width, lone surrogates: �


_IN_PLACE: dict[int, str] = {code: _symbol(code) for code in _build_table()}
_IN_PLACE_LINES: dict[int, str] = {k: v for k, v in _IN_PLACE.items() if k not in (0x09, 0x0A)}


def inert_in_place(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with each character `inert` would escape replaced by ONE visible symbol (␛, �).

    For text a person edits in place (form inputs): positions do not move, so a cursor and a selection
    stay where they are, and an unchanged field can be mapped back to its original value. Tabs and
    newlines are kept with `keep_newlines` (multi-line areas), else shown as ␉ and ␊.
    """
    if text.isprintable():
        return text
    return text.translate(_IN_PLACE_LINES if keep_newlines else _IN_PLACE)

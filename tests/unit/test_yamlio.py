"""yamlio: strict loading refuses what it must, canonical writing round-trips and is read the same by PyYAML."""

from __future__ import annotations

import contextlib
import pickle
import time
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kakotui.core import yamlio
from kakotui.core.yamlio import YamlError, dump, load


def typed(value: Any) -> Any:
    """A comparable form that also tells `1` from `True` and keeps the order of keys."""
    if isinstance(value, dict):
        return ("map", [(type(k).__name__, k, typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("seq", [typed(v) for v in value])
    return (type(value).__name__, value)


# YAML 1.1 / 1.2 scalars that some parser reads as something other than the string.
TRAPS = [
    "NO", "no", "Yes", "on", "off", "y", "n", "~", "0123", "0128", "0x1F", "1e3", "1_000", "1:20", ".inf",
    "-.inf", ".nan", "2026-11-26", "2026-11-26T09:14:00+08:00", "+1", "-0", "00", "1.0", "null", "Null",
    "NULL", "true", "True", "=", "<<",
]  # fmt: skip
TRICKY = [
    *TRAPS, "", " ", "  lead", "trail ", "- item", "-", "?", "? x", "&a", "*a", "!tag", "!!str", "|", ">",
    "%YAML 1.2", "@at", "`tick`", "a: b", "a:", "a #b", "#c", "'q'", '"dq"', "it's", "a\nb", "a\nb\n",
    "a\n\nb\n\n\n", "\n", "\n\n", "\na", " a\nb", "a \nb", "a\n b", "a\tb", "\t", "\r\n", "a\rb", "x\u2028y",
    "x\u2029y", "x\u0085y", "\u202eevil", "\ufeffbom", "\x00", "\x07", "\x7f", "\u00a0nbsp", "\ufffe", "---",
    "...", "--- a", "a\n---\nb", "a\n...\nb", "a\n# not a comment\nb", "😀", "\U0010ffff", "Ǆ", "ªb", "²", "a b",
    "a  b", "a.b/c(d)&e+f-g", "[a]", "{a}", "a,b", "\\", "\\n", "0", "-1", "12", "999999999999999999",
]  # fmt: skip
FRAGMENTS = [*"-?:,[]{}#&*!|>'\"%@` \n\t\r\\~.=<_+", "\u2028", "\x85", "\u202e", ": ", " #", "---"]

TEXT = st.one_of(
    st.text(st.characters(codec="utf-8")),  # any Unicode text except lone surrogates
    st.sampled_from(TRICKY),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS + TRICKY), st.text(max_size=3)), max_size=6).map("".join),
)
INTS = st.integers(min_value=-(10**18) + 1, max_value=10**18 - 1)
SCALARS = st.one_of(st.none(), st.booleans(), INTS, st.integers(-5, 5), TEXT)
DATA = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=25,
)

TIMESTAMP = st.sampled_from(["2026-11-26T09:14:00+08:00", "2026-01-02T00:00:00Z"])
RECORDS = st.fixed_dictionaries(
    {
        "schema_version": st.just(1),
        "id": st.sampled_from(["SZ1-2026-00042", "NL2-2027-01000"]),
        "qc": st.fixed_dictionaries(
            {
                "checked_at": TIMESTAMP,
                "site": TEXT,
                "inspector": TEXT,
                "order_id": st.one_of(TEXT, st.from_regex(r"\A0[0-9]{3,8}\Z")),
                "sku": TEXT,
                "quantity": st.integers(1, 10_000),
                "severity": st.sampled_from(["minor", "major", "critical"]),
                "description": TEXT,
                "evidence": st.lists(TEXT, max_size=3),
            }
        ),
        "reshipments": st.lists(
            st.fixed_dictionaries(
                {
                    "ref": TEXT,
                    "status": st.sampled_from(["pending", "shipped"]),
                    "total": st.from_regex(r"\A[0-9]{1,5}\.[0-9]{2}\Z"),
                    "costs": st.lists(st.fixed_dictionaries({"kind": TEXT, "amount": TEXT}), max_size=3),
                    "note": TEXT,
                }
            ),
            max_size=3,
        ),
    },
    optional={"closure": st.fixed_dictionaries({"final_status": st.just("void"), "note": TEXT})},
)


def assert_canonical_text(text: str) -> None:
    assert text.endswith("\n")
    for line in text.split("\n"):
        assert line == line.rstrip(" \t"), f"trailing space in {line!r}"


# --- 1. round trips --------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DATA)
def test_load_of_dump_is_the_data_and_dump_of_that_is_the_same_text(data: Any) -> None:
    text = dump(data)
    assert typed(load(text)) == typed(data)
    assert dump(load(text)) == text
    assert_canonical_text(text)
    # other tools are not misled either: PyYAML's pure parser with its YAML 1.1 resolver
    assert typed(yaml.safe_load(text)) == typed(data)


@settings(max_examples=100, deadline=None)
@given(RECORDS)
def test_record_shaped_data_round_trips(record: dict[str, Any]) -> None:
    text = dump(record)
    assert typed(load(text)) == typed(record)
    assert typed(yaml.safe_load(text)) == typed(record)
    assert dump(load(text)) == text
    assert_canonical_text(text)


REALISTIC = {
    "schema_version": 1,
    "id": "SZ1-2026-00042",
    "qc": {
        "checked_at": "2026-11-26T09:14:00+08:00",
        "site": "SZ1",
        "inspector": "Li Wei",
        "order_id": "0012345",
        "sku": "0128",
        "item_title": "Kettle: 1.7 L, steel #2 \u202eevil\u202c",
        "quantity": 2,
        "failure_code": "NO",
        "severity": "major",
        "description": "Lid hinge cracked on arrival.\nVendor says: 'known batch'.\n",
        "evidence": ["photos/lid-1.jpg", "photos/lid 2.jpg"],
    },
    "decision": {"action": "reship", "by": "Ana Souza", "at": "2026-11-26T10:02:00+08:00", "reason": "on"},
    "reshipments": [
        {"ref": "RS-1", "tracking": "1e3", "total": "12.50", "costs": [{"kind": "item", "amount": "4.50"}]},
    ],
    "vendor_contacts": [],
    "closure": {"final_status": "resolved", "closed_by": "Ana Souza", "note": None},
}


def test_a_realistic_exception_record_round_trips_for_us_and_for_pyyaml() -> None:
    text = dump(REALISTIC)
    assert typed(load(text)) == typed(REALISTIC)
    assert typed(load(text.encode("utf-8"))) == typed(REALISTIC)
    assert typed(yaml.safe_load(text)) == typed(REALISTIC)
    assert dump(load(text)) == text
    assert '  item_title: "Kettle: 1.7 L, steel #2 \\u202eevil\\u202c"\n' in text  # bidi made visible


def test_a_lone_surrogate_cannot_be_written_and_is_refused_on_reading() -> None:
    """Decision (documented in yamlio): YAML text is UTF-8 and a lone surrogate has no UTF-8 form."""
    for data in ({"note": "a\ud800b"}, {"note\udfff": "x"}, ["\udc80"]):
        with pytest.raises(ValueError, match="surrogate"):
            dump(data)
    with pytest.raises(YamlError, match="U\\+D800") as raw:
        load("note: a\ud800b\n")
    assert raw.value.line == 1
    with pytest.raises(YamlError):
        load('note: "\\ud800"\n')  # the escaped form is refused by the parser


@pytest.mark.parametrize(
    "text",
    ["abc\n", "a\n---\nb", "a\n...\nb\n", "- x\n- y", "k: v\n", "a\nb\n\n\n", "x\n# y\n", "Ok\nplain"],
)
def test_text_that_once_lost_newlines_or_broke_the_document_round_trips(text: str) -> None:
    # `abc\n` was written plain (the newline was lost) and a top-level `|` block at column 0 let `---` end it.
    for data in (text, {"k": text}, [text], {"k": [text, {"j": text}]}):
        assert typed(load(dump(data))) == typed(data)
        assert typed(yaml.safe_load(dump(data))) == typed(data)


def test_keys_longer_than_a_yaml_implicit_key_use_the_explicit_form() -> None:
    for key in ("k" * 1025, "é" * 3000, "a: b " * 300, "line\n" * 300):
        data = {"first": 1, key: {"x": [key]}, "list": [{key: "v", "after": key}]}
        text = dump(data)
        assert "\n? " in text
        assert typed(load(text)) == typed(data)
        assert typed(yaml.safe_load(text)) == typed(data)
    assert dump({"k" * 1000: 1}) == "k" * 1000 + ": 1\n"  # short enough: the ordinary form


def test_integers_at_the_edge_of_the_range() -> None:
    for n in (10**18 - 1, -(10**18) + 1, 0, -1):
        assert typed(load(dump({"n": n}))) == typed({"n": n})
    assert load("n: -999999999999999999\n") == {"n": -999999999999999999}  # was refused: '-' counted
    for n in (10**18, -(10**18), 10**5000):
        with pytest.raises(ValueError, match="digits"):
            dump({"n": n})
    with pytest.raises(YamlError, match="integer too large") as err:
        load("a: 1\nn: 1000000000000000000\n")
    assert err.value.line == 2
    with pytest.raises(YamlError, match="integer too large"):
        load("n: " + "9" * 5000 + "\n")  # int() itself would raise ValueError past 4300 digits


def test_dump_refuses_what_it_cannot_write() -> None:
    with pytest.raises(TypeError):
        dump({"price": 1.5})
    with pytest.raises(TypeError):
        dump({1: "a"})
    loop: dict[str, Any] = {}
    loop["self"] = loop
    with pytest.raises(ValueError, match="deeper"):
        dump(loop)


# --- 2. YAML 1.1 traps --------------------------------------------------------------------------------


@pytest.mark.parametrize("trap", TRAPS)
def test_a_trap_string_is_quoted_and_read_back_as_the_same_string(trap: str) -> None:
    text = dump({"sku": trap})
    assert text == f"sku: '{trap}'\n"
    assert load(text) == {"sku": trap}
    assert yaml.safe_load(text) == {"sku": trap}
    as_key = dump({trap: "x", "list": [trap]})
    assert as_key == f"'{trap}': x\nlist:\n  - '{trap}'\n"
    assert load(as_key) == {trap: "x", "list": [trap]}
    assert yaml.safe_load(as_key) == {trap: "x", "list": [trap]}


def test_the_traps_are_real_pyyaml_misreads_them_unquoted() -> None:
    """Why the quoting matters: PyYAML's YAML 1.1 resolver turns these into non-strings."""
    for trap in ("NO", "on", "Yes", "~", "0123", "0x1F", "1_000", "1:20", ".inf", "2026-11-26", "+1", "null"):
        assert not isinstance(yaml.safe_load(f"v: {trap}\n")["v"], str), trap


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sku: 0123\n", "0123"),
        ("ok: NO\n", "NO"),
        ("t: 1:20\n", "1:20"),
        ("d: 2026-11-26\n", "2026-11-26"),
        ("ts: 2026-11-26T09:14:00+08:00\n", "2026-11-26T09:14:00+08:00"),
        ("v: 1e3\n", "1e3"),
        ("v: 0x1F\n", "0x1F"),
        ("v: 1_000\n", "1_000"),
        ("v: .inf\n", ".inf"),
        ("v: 1.0\n", "1.0"),
        ("v: on\n", "on"),
        ("v: Yes\n", "Yes"),
        ("v: y\n", "y"),
        ("v: True\n", "True"),
        ("v: Null\n", "Null"),
        ("v: -0\n", "-0"),
        ("v: +1\n", "+1"),
        ("v: 00\n", "00"),
        ("v: =\n", "="),
        ("v: true\n", True),
        ("v: false\n", False),
        ("v: null\n", None),
        ("v: ~\n", None),
        ("v:\n", None),
        ("v: 0\n", 0),
        ("v: 42\n", 42),
        ("v: -7\n", -7),
        ("v: '42'\n", "42"),
        ("v: 'true'\n", "true"),
    ],
)
def test_hand_written_plain_scalars_load_as_their_author_meant(text: str, expected: Any) -> None:
    assert typed(load(text)) == typed({text.split(":")[0]: expected})


# --- 3. canonical form --------------------------------------------------------------------------------


def test_canonical_text_of_a_small_record_is_exact() -> None:
    cost = {"kind": "shipping", "amount": "8.00"}  # the same object twice: written twice, no anchors
    record = {
        "id": "SZ1-2026-00042",
        "schema_version": 1,
        "qc": {
            "sku": "0123",
            "quantity": 2,
            "ok": True,
            "note": None,
            "description": "Lid cracked.\nPhotos attached.\n",
            "summary": "line one\n\n  indented line two",
            "log": "a\nb\n\n",
            "evidence": ["lid-1.jpg", "it's: here"],
            "tags": [],
            "extra": {},
        },
        "costs": [cost, cost],
        "matrix": [["a", "b"], []],
    }
    expected = (
        "id: SZ1-2026-00042\n"
        "schema_version: 1\n"
        "qc:\n"
        "  sku: '0123'\n"
        "  quantity: 2\n"
        "  ok: true\n"
        "  note: null\n"
        "  description: |\n"
        "    Lid cracked.\n"
        "    Photos attached.\n"
        "  summary: |-\n"
        "    line one\n"
        "\n"
        "      indented line two\n"
        "  log: |+\n"
        "    a\n"
        "    b\n"
        "\n"
        "  evidence:\n"
        "    - lid-1.jpg\n"
        "    - 'it''s: here'\n"
        "  tags: []\n"
        "  extra: {}\n"
        "costs:\n"
        "  - kind: shipping\n"
        "    amount: '8.00'\n"
        "  - kind: shipping\n"
        "    amount: '8.00'\n"
        "matrix:\n"
        "  -\n"
        "    - a\n"
        "    - b\n"
        "  - []\n"
    )
    text = dump(record)
    assert text == expected
    assert "&" not in text and "*" not in text
    assert_canonical_text(text)
    assert typed(load(text)) == typed(record)
    assert yaml.safe_load(text) == record


def test_text_a_quoted_line_cannot_hold_is_double_quoted_with_visible_escapes() -> None:
    cases = {
        "a\tb\n": '"a\\tb\\n"',
        "x\r\n\x00\\": '"x\\r\\n\\0\\\\"',
        "bell\x07 del\x7f nel\x85 nbsp\xa0": '"bell\\x07 del\\x7f nel\\x85 nbsp\\xa0"',
        "\u202eevil\u2028\ufeff": '"\\u202eevil\\u2028\\ufeff"',
        'tag\U000e0001 "q" it\'s': '"tag\\U000e0001 \\"q\\" it\'s"',
        " lead\nx": '" lead\\nx"',  # a leading space cannot start a `|` block without an indicator
        "tail \nx": '"tail \\nx"',  # nor may a line keep trailing spaces
    }
    for value, quoted in cases.items():
        assert dump({"k": value}) == f"k: {quoted}\n"
        assert load(dump({"k": value})) == {"k": value}


def test_keys_keep_insertion_order() -> None:
    assert dump({"z": 1, "a": 2, "m": {"w": 1, "b": 2}}) == "z: 1\na: 2\nm:\n  w: 1\n  b: 2\n"
    assert list(load("z: 1\na: 2\nm: 3\n")) == ["z", "a", "m"]


def test_scalars_and_empty_containers_at_the_top_level() -> None:
    for data, text in (
        (None, "null\n"),
        ("", "''\n"),
        ([], "[]\n"),
        ({}, "{}\n"),
        (7, "7\n"),
        ("a\nb", "|-\n  a\n  b\n"),
    ):
        assert dump(data) == text
        assert typed(load(text)) == typed(data)
    assert load("") is None
    assert load("# only a comment\n") is None


# --- 4. strict loading --------------------------------------------------------------------------------

BOMB = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(f"{c}: &{c} [{','.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)),
    ]
)


def test_the_billion_laughs_bomb_is_refused_at_once() -> None:
    assert len(BOMB.encode()) <= 512
    start = time.perf_counter()
    with pytest.raises(YamlError, match="aliases and anchors") as err:
        load(BOMB)
    assert time.perf_counter() - start < 0.5  # a safety bound, not a benchmark (measured ~0.1 ms)
    assert err.value.line == 1


@pytest.mark.parametrize(
    ("text", "problem", "line"),
    [
        ("a: &x 1\nb: *x\n", "aliases and anchors", 1),
        ("a: 1\nb: &x 2\n", "aliases and anchors", 2),  # an anchor nobody uses
        ("a: 1\nb: *x\n", "aliases and anchors", 2),
        ("item:\n  <<: *base\n  c: 2\n", "merge keys", 2),
        ("<<: {a: 1}\n", "merge keys", 1),
        ("a: !!python/object/apply:os.system [echo hi]\n", "tags are not allowed", 1),
        ("a: 1\nb: !!binary aGVsbG8=\n", "tags are not allowed", 2),
        ("a: !custom x\n", "tags are not allowed", 1),
        ("a: !!int '5'\n", "tags are not allowed", 1),
        ("a: !!str x\n", "tags are not allowed", 1),
        ("a: ! x\n", "tags are not allowed", 1),
        ("a: !!map {b: 1}\n", "tags are not allowed", 1),
        ("--- !!set\n? a\n", "tags are not allowed", 1),
        ("a: 1\n---\nb: 2\n", "more than one YAML document", 2),
        ("--- a\n--- b\n", "more than one YAML document", 2),
        ("a: 1\n...\n---\nb: 2\n", "more than one YAML document", 3),
        ("a: 1\nb: 2\na: 3\n", "duplicate key 'a'", 3),
        ("x:\n  a: 1\n  b:\n    - c: 1\n      c: 2\n", "duplicate key 'c'", 5),
        ("a: 1\n'a': 2\n", "duplicate key 'a'", 2),
        ("{a: 1, a: 2}\n", "duplicate key 'a'", 1),
        ("1: a\n", "keys must be strings", 1),
        ("ok: 1\nnull: x\n", "keys must be strings", 2),
        ("true: x\n", "keys must be strings", 1),
        ("~: x\n", "keys must be strings", 1),
        ("? [a]: b\n", "keys must be plain strings", 1),
        ("? [a]\n: b\n", "keys must be plain strings", 1),
        ("{a: 1}: b\n", "keys must be plain strings", 1),
        ("a: 'unbalanced\nb: 2\n", "while scanning a quoted scalar (started on line 1)", 3),
        ('a: "unbalanced\n', "while scanning a quoted scalar", 2),
        ("a: [1, 2\n", "did not find expected ',' or ']'", 2),
        ("a: b: c\n", "mapping values are not allowed", 1),
        ("a: 1\nb: \x07\n", "U+0007 is not allowed", 2),
        ("a: 1\n\x85b: 2\n\x00", "U+0000 is not allowed", 3),
    ],
)
def test_strict_loading_refuses_and_says_what_and_where(text: str, problem: str, line: int) -> None:
    with pytest.raises(YamlError) as err:
        load(text)
    assert problem in err.value.message
    assert err.value.line == line
    assert str(err.value).startswith(f"line {line}: ")
    with pytest.raises(YamlError):
        load(text.encode("utf-8"))


def test_size_cap_counts_bytes_for_both_bytes_and_text() -> None:
    fits = "a: " + "x" * 97
    assert load(fits, max_bytes=100) == {"a": "x" * 97}
    assert load(fits.encode(), max_bytes=100) == {"a": "x" * 97}
    for too_big in (fits + "x", (fits + "x").encode(), "a: " + "é" * 60):  # the last: 63 chars, 123 bytes
        with pytest.raises(YamlError, match="too large"):
            load(too_big, max_bytes=100)
    with pytest.raises(YamlError, match="too large"):
        load(b"#" * (yamlio.MAX_BYTES + 1))


def test_invalid_utf8_is_refused_with_its_line() -> None:
    with pytest.raises(YamlError, match="UTF-8") as err:
        load(b"a: 1\nb: caf\xc3\x28\n")
    assert err.value.line == 2
    with pytest.raises(YamlError, match="UTF-8"):
        load(b"\xff\xfea\x00:\x00")  # UTF-16 is not accepted either


def test_a_utf8_bom_is_accepted() -> None:
    assert load(b"\xef\xbb\xbfa: 1\n") == {"a": 1}
    assert load("\ufeffa: 1\n") == {"a": 1}


def nested_block_mappings(levels: int) -> str:
    return (
        "".join(f"{'  ' * i}k{i}:\n" for i in range(levels - 1)) + f"{'  ' * (levels - 1)}k{levels - 1}: 1\n"
    )


def test_nesting_is_capped_at_max_depth_both_ways() -> None:
    deepest: Any = "leaf"
    for _ in range(yamlio.MAX_DEPTH):
        deepest = {"k": deepest}
    assert typed(load(dump(deepest))) == typed(deepest)
    with pytest.raises(ValueError, match="deeper"):
        dump([deepest])
    assert load(nested_block_mappings(yamlio.MAX_DEPTH)) is not None
    with pytest.raises(YamlError, match="nested deeper than 32") as err:
        load(nested_block_mappings(40))
    assert err.value.line == 33


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000, "{" * 100_000, "- " * 499_000, "[" * 100_000 + "]" * 100_000, "a: " + "[a, " * 200_000],
    ids=["brackets", "braces", "dashes", "balanced", "wide"],
)
def test_pathological_input_is_refused_fast(text: str) -> None:
    start = time.perf_counter()
    with pytest.raises(YamlError):
        load(text)
    assert time.perf_counter() - start < 0.5  # a safety bound, not a benchmark


def test_too_many_values_are_refused() -> None:
    with pytest.raises(YamlError, match="too many values"):
        load("[" + "1," * (yamlio.MAX_NODES + 10) + "]")


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(st.characters(exclude_categories=())),  # surrogates included
        st.binary(),
        st.lists(st.sampled_from([*FRAGMENTS, *TRICKY, "a", "1", "\n  ", "&x ", "*x", "!!int ", "'"])).map(
            "".join
        ),
        st.lists(st.sampled_from([*FRAGMENTS, "a", "b", "1", "\n", "  "]), max_size=40).map("".join),
    )
)
def test_any_input_loads_or_raises_yaml_error_only(text: str | bytes) -> None:
    try:
        load(text)
    except YamlError as exc:
        assert exc.message
        assert exc.line is None or exc.line >= 1


@settings(max_examples=150, deadline=None)
@given(DATA, st.data())
def test_damaged_canonical_text_loads_or_raises_yaml_error_only(data: Any, draw: st.DataObject) -> None:
    text = dump(data)
    at = draw.draw(st.integers(0, len(text)))
    cut = draw.draw(st.integers(0, 3))
    junk = draw.draw(st.sampled_from([*FRAGMENTS, "", "&a ", "*a", "!x ", "---\n", "\n- ", "\t"]))
    with contextlib.suppress(YamlError):
        load(text[:at] + junk + text[at + cut :])


def test_yaml_error_pickles_and_takes_notes() -> None:
    """It crosses a process pool, and pytest/hypothesis add notes to it (a frozen dataclass could not)."""
    err = YamlError("duplicate key 'a'", 3, 1)
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.message, copy.line, copy.column, str(copy)) == (
        "duplicate key 'a'",
        3,
        1,
        "line 3: duplicate key 'a'",
    )
    err.add_note("in records/x.yaml")
    assert str(YamlError("no line")) == "no line"


# --- 5. the C parser is in use ----------------------------------------------------------------------------


def test_libyaml_is_used_on_this_machine() -> None:
    """PyYAML without libyaml still works, ~10x slower; notice a broken install (or a broken import)."""
    assert yamlio.LIBYAML is True

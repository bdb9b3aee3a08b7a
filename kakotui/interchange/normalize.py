"""Turning the values real spreadsheets hold into the values records hold: dates, money, names, words.

Every normalizer takes a raw cell (text from a CSV; str, int, float, datetime from an XLSX) and returns
the canonical form the flattened export writes (so a sheet value and a record value compare as
strings), or raises `BadValue` with a message a person can act on. Pure: no files, no git.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from kakotui.core.config import Config
from kakotui.core.money import format_amount
from kakotui.core.record import format_time

__all__ = [
    "EMPTY_WORDS",
    "FORMULA_ERRORS",
    "BadValue",
    "Vocabulary",
    "cell_text",
    "is_empty",
    "norm_key",
    "parse_datetime",
    "parse_int",
    "parse_money",
    "row_hash",
]

# What Excel and Google Sheets write in a cell whose formula failed.
FORMULA_ERRORS = frozenset(
    {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA", "#SPILL!", "#CALC!"}
)
# Cells that mean "nothing here" in free-form columns (identifiers only treat blank as empty).
EMPTY_WORDS = frozenset({"", "-", "--", "—", "–", "n/a", "none", "null", "nil", "无", "空"})

_EXCEL_EPOCH = datetime(1899, 12, 30)  # serial 1 = 1900-01-01 (Excel's 1900 leap-year bug included)
_SERIAL_MIN, _SERIAL_MAX = 20000, 80000  # 1954 .. 2119: a plain number outside is not a date


class BadValue(ValueError):
    """A cell we cannot turn into the field's value; the message says what was expected."""


def cell_text(value: Any) -> str:
    """A cell as text: whitespace stripped, NFC, numbers without a spurious `.0`."""
    if type(value) is str:
        if value.isascii():
            text = value.strip()
            return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text
        text = unicodedata.normalize("NFC", value).strip()
        return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return format_time(value) if value.tzinfo else value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    text = str(value)
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return text.strip().replace("\r\n", "\n").replace("\r", "\n")


def is_empty(value: Any, *, identifier: bool = False) -> bool:
    text = cell_text(value)
    return text == "" if identifier else text.casefold() in EMPTY_WORDS


def norm_key(text: str) -> str:
    """Comparison key of a name: case, width, spaces, dashes and punctuation ignored."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in text if ch.isalnum())


def row_hash(values: Iterable[str]) -> str:
    """A short stable hash of a row's cells (the source key of a row without a key column)."""
    digest = hashlib.sha1("\x1f".join(values).encode("utf-8")).hexdigest()
    return f"sha1:{digest[:16]}"


# ---------------------------------------------------------------------------------------------
# Dates and times

_SERIAL = re.compile(r"\d{5}(\.\d+)?")  # an Excel date serial written as text
_ISO = re.compile(
    r"^(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})"
    r"(?:[T ]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?)?"
    r"\s*(?P<tz>Z|[+-]\d{2}:?\d{2})?$"
)
_CJK = re.compile(
    r"^(?P<y>\d{4})年(?P<m>\d{1,2})月(?P<d>\d{1,2})[日号]"
    r"(?:\s*(?P<H>\d{1,2})[:：时](?P<M>\d{2})(?:[:：分](?P<S>\d{2}))?秒?)?$"
)
_NUMERIC = re.compile(
    r"^(?P<a>\d{1,2})[-/.](?P<b>\d{1,2})[-/.](?P<y>\d{4}|\d{2})"
    r"(?:[T ]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?\s*(?P<ampm>[AaPp][Mm])?)?$"
)
_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ]
    )
    for name in names
}
_WORDY = re.compile(
    r"^(?:(?P<d1>\d{1,2})[ -](?P<mon1>[A-Za-z]+)\.?,?[ -](?P<y1>\d{4})"
    r"|(?P<mon2>[A-Za-z]+)\.? (?P<d2>\d{1,2})(?:st|nd|rd|th)?,? (?P<y2>\d{4}))"
    r"(?:,?\s+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?\s*(?P<ampm>[AaPp][Mm])?)?$"
)
DATE_HINT = "e.g. 2026-11-20 09:14, 20/11/2026, 2026年11月20日, Nov 20, 2026 or an Excel date"


def _offset(text: str) -> timezone:
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4])))


def _hour(h: str | None, ampm: str | None) -> int:
    hour = int(h or 0)
    if ampm:
        if not 1 <= hour <= 12:
            raise BadValue(f"{hour} {ampm} is not a time")
        hour = hour % 12 + (12 if ampm.lower() == "pm" else 0)
    return hour


def _build(y: int, m: int, d: int, hh: int, mm: int, ss: int, tz: timezone, original: str) -> datetime:
    try:
        return datetime(y, m, d, hh, mm, ss, tzinfo=tz)
    except ValueError:
        raise BadValue(f"{original!r} is not a real date or time") from None


def parse_datetime(value: Any, tz: timezone, *, day_first: bool = True) -> str:
    """An RFC 3339 timestamp with offset; times without a zone are in `tz` (the log's time zone).

    `day_first` settles `03/04/2026` (3 April when true); an unambiguous value (`20/11/2026`) is
    read the only way it can be.
    """
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=tz)
        return format_time(moment.replace(microsecond=0))
    if isinstance(value, date):
        return format_time(datetime(value.year, value.month, value.day, tzinfo=tz))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _serial(float(value), tz, str(value))
    text = cell_text(value)
    if not text:
        raise BadValue("no date given")
    if _SERIAL.fullmatch(text):
        return _serial(float(text), tz, text)
    m = _ISO.match(text)
    if m:
        zone = _offset(m["tz"]) if m["tz"] else tz
        moment = _build(
            int(m["y"]),
            int(m["m"]),
            int(m["d"]),
            int(m["H"] or 0),
            int(m["M"] or 0),
            int(m["S"] or 0),
            zone,
            text,
        )
        return format_time(moment)
    m = _CJK.match(text)
    if m:
        moment = _build(
            int(m["y"]),
            int(m["m"]),
            int(m["d"]),
            int(m["H"] or 0),
            int(m["M"] or 0),
            int(m["S"] or 0),
            tz,
            text,
        )
        return format_time(moment)
    m = _NUMERIC.match(text)
    if m:
        a, b = int(m["a"]), int(m["b"])
        year = int(m["y"]) if len(m["y"]) == 4 else 2000 + int(m["y"])
        if a > 12 and b <= 12:
            day, month = a, b
        elif b > 12 and a <= 12:
            month, day = a, b
        else:
            day, month = (a, b) if day_first else (b, a)
        hour = _hour(m["H"], m["ampm"])
        moment = _build(year, month, day, hour, int(m["M"] or 0), int(m["S"] or 0), tz, text)
        return format_time(moment)
    m = _WORDY.match(text)
    if m:
        mon = (m["mon1"] or m["mon2"]).lower()
        if mon not in _MONTHS:
            raise BadValue(f"{text!r} is not a date ({DATE_HINT})")
        day = int(m["d1"] or m["d2"])
        year = int(m["y1"] or m["y2"])
        hour = _hour(m["H"], m["ampm"])
        moment = _build(year, _MONTHS[mon], day, hour, int(m["M"] or 0), int(m["S"] or 0), tz, text)
        return format_time(moment)
    raise BadValue(f"{text[:40]!r} is not a date ({DATE_HINT})")


def _serial(number: float, tz: timezone, original: str) -> str:
    if not _SERIAL_MIN <= number <= _SERIAL_MAX:
        raise BadValue(f"{original!r} is not a date ({DATE_HINT})")
    moment = _EXCEL_EPOCH + timedelta(days=number)
    seconds = round(moment.second + moment.microsecond / 1e6)
    moment = moment.replace(second=0, microsecond=0) + timedelta(seconds=seconds)
    return format_time(moment.replace(tzinfo=tz))


def day_first_for(values: Iterable[Any]) -> bool:
    """Whether a column's `a/b/yyyy` dates are day first: decided by any value only one way can read."""
    for value in values:
        if not isinstance(value, str):
            continue
        m = _NUMERIC.match(value.strip())
        if m:
            a, b = int(m["a"]), int(m["b"])
            if a > 12 >= b:
                return True
            if b > 12 >= a:
                return False
    return True


# ---------------------------------------------------------------------------------------------
# Numbers and money

_SYMBOLS = {
    "¥": "CNY",
    "￥": "CNY",
    "元": "CNY",
    "rmb": "CNY",
    "$": "USD",
    "us$": "USD",
    "€": "EUR",
    "£": "GBP",
}
_SYMBOLS |= {"円": "JPY", "₩": "KRW", "hk$": "HKD", "a$": "AUD", "c$": "CAD", "s$": "SGD"}
_MONEY = re.compile(
    r"^(?P<pre>[A-Za-z]{3}|[A-Za-z]{1,2}\$|[¥￥$€£₩]|rmb|RMB)?\s*(?P<sign>-)?\s*"
    r"(?P<num>\d[\d,.' \u00a0\u202f]*)\s*(?P<post>[A-Za-z]{3}|[¥￥$€£元円₩]|rmb|RMB)?$"
)
_DIGIT_GROUPS = re.compile(r"[' \u00a0\u202f]")  # thousands separators that are never decimal points
MONEY_HINT = "e.g. 38.50, ¥38.5, $12, 38,50 € or CNY 38.50"


def _decimal_text(num: str) -> str:
    """`1,234.50` / `1.234,50` / `38,50` / `1 234,5` -> `1234.50`-style text (the last separator decides)."""
    num = _DIGIT_GROUPS.sub("", num)
    last_dot, last_comma = num.rfind("."), num.rfind(",")
    if last_dot >= 0 and last_comma >= 0:
        decimal_sep = "." if last_dot > last_comma else ","
    elif last_comma >= 0:
        # `38,50` and `38,5` are decimals; `1,234` and `12,345,678` are thousands.
        tail = num[last_comma + 1 :]
        decimal_sep = "," if num.count(",") == 1 and len(tail) != 3 else ""
    elif num.count(".") > 1:
        decimal_sep = ""  # 1.234.567: thousands
    else:
        decimal_sep = "."
    thousands = {".", ","} - {decimal_sep}
    for sep in thousands:
        num = num.replace(sep, "")
    return num.replace(",", ".") if decimal_sep == "," else num


def parse_money(value: Any, default_currency: str, currencies: Iterable[str] = ()) -> str:
    """`38.50 CNY`: an exact amount (at most 2 decimals) and a currency code."""
    known = set(currencies)
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        return _money_text(amount, default_currency, str(value))
    text = cell_text(value)
    m = _MONEY.match(text)
    if not m or not m["num"].strip(" ,.'"):
        raise BadValue(f"{text[:40]!r} is not an amount ({MONEY_HINT})")
    marks = [x for x in (m["pre"], m["post"]) if x]
    currency = default_currency
    if len(marks) > 1 and {_currency(x, known) for x in marks} != {_currency(marks[0], known)}:
        raise BadValue(f"{text!r} names two currencies")
    if marks:
        currency = _currency(marks[0], known)
    try:
        amount = Decimal(_decimal_text(m["num"]))
    except InvalidOperation:
        raise BadValue(f"{text[:40]!r} is not an amount ({MONEY_HINT})") from None
    if m["sign"]:
        amount = -amount
    return _money_text(amount, currency, text)


def _currency(mark: str, known: set[str]) -> str:
    low = mark.lower()
    if low in _SYMBOLS:
        code = _SYMBOLS[low]
        if code == "CNY" and mark in "¥" and "JPY" in known and "CNY" not in known:
            return "JPY"
        return code
    return mark.upper()


def _money_text(amount: Decimal, currency: str, original: str) -> str:
    if amount < 0:
        raise BadValue(f"{original!r} is negative; costs are written as positive amounts")
    if amount != amount.quantize(Decimal("0.01")):
        raise BadValue(f"{original!r} has more than 2 decimals")
    return f"{format_amount(amount)} {currency}"


_WHOLE = re.compile(r"[x×*]?\s*(\d{1,9})(?:\.0+)?\s*(?:pcs?|pieces?|units?|x|件|个|只|双|套)?\.?", re.I)


def parse_int(value: Any) -> int:
    """A whole number: `2`, `2.0`, `2 pcs`, `x2`, `2件`."""
    if isinstance(value, bool):
        raise BadValue(f"{value!r} is not a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise BadValue(f"{value!r} is not a whole number")
    text = cell_text(value)
    m = _WHOLE.fullmatch(text)
    if not m:
        raise BadValue(f"{text[:40]!r} is not a whole number")
    return int(m[1])


def identifier(value: Any) -> str:
    """An SKU, order id or tracking number: kept exactly as typed (a number cell loses no zeros it had)."""
    if isinstance(value, float) and not value.is_integer():
        return repr(value)
    return cell_text(value)


# ---------------------------------------------------------------------------------------------
# Words: vendors, carriers, codes, statuses


# Status words -> (lifecycle status, final status or decision action implied). Phrases are comma-separated.
STATUS_WORDS: dict[str, tuple[str, str | None]] = {
    norm_key(phrase): (status, extra)
    for status, extra, phrases in (
        ("open", None, "open, new, pending, todo, to do, logged, reported, 待处理, 未处理, 新建, 待定"),
        ("decided", None, "decided, approved, in progress, processing, wip, 处理中, 已决定"),
        (
            "reshipping",
            None,
            "reshipping, reshipped, reship, shipped, in transit, sent, resent, 补发, 补发中, 已补发, 已发货, 运输中",
        ),
        ("awaiting-confirmation", None, "delivered, awaiting, awaiting confirmation, 已签收, 待确认"),
        ("awaiting-confirmation", "refund", "refunded, refund, 已退款, 退款"),
        (
            "awaiting-confirmation",
            "return-to-vendor",
            "returned to vendor, return to vendor, rtv, 退回供应商, 退货",
        ),
        ("awaiting-confirmation", "accept-as-is", "accepted, accepted as is, accept as is, 接受"),
        (
            "closed",
            "resolved",
            "closed, done, resolved, complete, completed, finished, ok, fixed, 已完成, 完成, 已解决, 已关闭, 关闭, 结案",
        ),
        ("closed", "written-off", "written off, write off, written-off, writeoff, 核销, 报损"),
        ("closed", "escalated", "escalated, 升级"),
        ("closed", "void", "void, cancelled, canceled, duplicate, invalid, 作废, 取消, 重复"),
    )
    for phrase in phrases.split(", ")
}

_PARTY_WORDS = {
    "vendor": "vendor supplier seller factory store shop 供应商 卖家 商家 厂家",
    "carrier": "carrier courier logistics shipping 物流 快递 承运商",
    "warehouse": "warehouse us we agent qc 仓库 我们 代购",
    "customer": "customer buyer client 客户 买家 顾客",
    "platform": "platform marketplace 平台",
}
PARTY_WORDS = {norm_key(w): party for party, words in _PARTY_WORDS.items() for w in words.split()}

_SEVERITY_WORDS = {
    "minor": "minor low small light 轻微 低 小",
    "major": "major medium moderate normal high 中 一般 严重 高",
    "critical": "critical blocker urgent severe 致命 紧急 非常严重",
}
SEVERITY_WORDS = {norm_key(w): s for s, words in _SEVERITY_WORDS.items() for w in words.split()}

_DECISION_WORDS = {
    "reship": "reship resend replace replacement 补发 重发 换货",
    "refund": "refund refunded 退款",
    "return-to-vendor": "return-to-vendor return rtv 退回 退货",
    "accept-as-is": "accept-as-is accept accepted keep 接受",
    "cancel": "cancel cancelled canceled 取消",
}
DECISION_WORDS = {norm_key(w): d for d, words in _DECISION_WORDS.items() for w in words.split()}

_RESHIP_WORDS = {
    "pending": "pending waiting 待发",
    "shipped": "shipped sent in-transit transit 已发货 运输中",
    "delivered": "delivered received 已签收 签收",
    "lost": "lost 丢失 丢件",
    "returned": "returned 退回",
}
RESHIP_WORDS = {norm_key(w): s for s, words in _RESHIP_WORDS.items() for w in words.split()}

_CONTACT_WORDS = {
    "pending": "pending waiting 等待",
    "credit": "credit credited 抵扣",
    "refund": "refund refunded 退款",
    "replacement": "replacement replaced 换货 补发",
    "rejected": "rejected refused declined 拒绝",
    "no-response": "no-response noresponse none silent 无回复 未回复",
}
CONTACT_WORDS = {norm_key(w): s for s, words in _CONTACT_WORDS.items() for w in words.split()}

_CUSTOMER_WORDS = {
    "received-ok": "received-ok ok received happy satisfied confirmed yes 满意 已确认 已收到",
    "unhappy": "unhappy complained complaint dissatisfied no 不满意 投诉",
    "no-response": "no-response noresponse none silent 无回复 未回复",
}
CUSTOMER_WORDS = {norm_key(w): s for s, words in _CUSTOMER_WORDS.items() for w in words.split()}

FINAL_WORDS = {
    norm_key(w): s
    for s, words in {
        "resolved": "resolved done closed ok 已解决 完成",
        "written-off": "written-off writtenoff writeoff 核销",
        "escalated": "escalated 升级",
        "void": "void cancelled canceled duplicate 作废",
    }.items()
    for w in words.split()
}


def word(value: Any, table: Mapping[str, str], what: str, allowed: Iterable[str]) -> str:
    """One of a controlled vocabulary, from its name or a known synonym (any case, spacing, dashes)."""
    text = cell_text(value)
    key = norm_key(text)
    for name in allowed:
        if norm_key(name) == key:
            return name
    if key in table:
        return table[key]
    raise BadValue(f"{text[:40]!r} is not a {what} (one of: {', '.join(allowed)})")


def _name_parts(name: str) -> set[str]:
    """Keys a configured name answers to: the whole, and its CJK and Latin halves (`汇鑫皮具 Huaxin ...`)."""
    keys = {norm_key(name)}
    cjk = "".join(ch for ch in name if ord(ch) > 0x2E7F and not ch.isspace())
    latin = " ".join(w for w in name.split() if all(ord(ch) < 0x2E80 for ch in w))
    if len(norm_key(cjk)) >= 2:  # two CJK characters already name a shop (义乌, 汇鑫)
        keys.add(norm_key(cjk))
    if len(norm_key(latin)) >= 3:
        keys.add(norm_key(latin))
    return keys


@dataclass
class Vocabulary:
    """A log's names (vendors, carriers, failure codes) and the mapping's own value tables."""

    config: Config
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    _vendors: dict[str, str] = field(init=False, default_factory=dict)
    _carriers: dict[str, str] = field(init=False, default_factory=dict)
    _codes: dict[str, str] = field(init=False, default_factory=dict)
    _details: dict[str, list[str]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        for table, names in ((self._vendors, self.config.vendors), (self._carriers, self.config.carriers)):
            for ident, name in names.items():
                for key in _name_parts(name):
                    table.setdefault(key, ident)
            for ident in names:
                table[norm_key(ident)] = ident
        for code in self.config.codes:
            self._codes[norm_key(code)] = code
            category = self.config.category_of(code)
            if category and code != category:
                self._details.setdefault(norm_key(code[len(category) + 1 :]), []).append(code)
        for category, label in self.config.categories.items():
            self._codes.setdefault(norm_key(label), category)

    def explicit(self, kind: str, text: str) -> str | None:
        table = self.values.get(kind)
        if not table:
            return None
        if text in table:
            return table[text]
        key = norm_key(text)
        for source, target in table.items():
            if norm_key(source) == key:
                return target
        return None

    def vendor(self, value: Any) -> str:
        return self._named(value, "vendor", self._vendors, self.config.vendors)

    def carrier(self, value: Any) -> str:
        return self._named(value, "carrier", self._carriers, self.config.carriers)

    def _named(self, value: Any, kind: str, table: dict[str, str], known: Mapping[str, str]) -> str:
        text = cell_text(value)
        given = self.explicit(kind, text)
        if given is not None:
            return given
        found = table.get(norm_key(text))
        if found is not None:
            return found
        listed = ", ".join(list(known)[:8]) + (", ..." if len(known) > 8 else "")
        raise BadValue(
            f"unknown {kind} {text[:60]!r}: not an id or name in kakotui.yaml ({listed}); add it there, or "
            f"map the name under `values: {kind}:` in the mapping file"
        )

    def failure_code(self, value: Any) -> str:
        text = cell_text(value)
        given = self.explicit("failure_code", text)
        if given is not None:
            return given
        key = norm_key(text)
        if key in self._codes:
            return self._codes[key]
        # "Broken hinge" or "zipper broken": one detail code named in the text, in one category.
        hits = {code for detail, codes in self._details.items() if detail and detail in key for code in codes}
        if len(hits) == 1:
            return hits.pop()
        raise BadValue(
            f"{text[:60]!r} is not a failure code of the taxonomy (e.g. DEFECTIVE-BrokenHinge); map it under "
            "`values: failure_code:` in the mapping file"
        )

    def vocab(self, kind: str, value: Any, table: Mapping[str, str], allowed: Iterable[str]) -> str:
        text = cell_text(value)
        given = self.explicit(kind, text)
        return given if given is not None else word(text, table, kind.replace("_", " "), allowed)

    def status(self, value: Any) -> tuple[str, str | None]:
        text = cell_text(value)
        given = self.explicit("status", text)
        key = norm_key(given if given is not None else text)
        if key in STATUS_WORDS:
            return STATUS_WORDS[key]
        raise BadValue(
            f"{text[:40]!r} is not a status we know (open, decided, reshipped, delivered, done, written off, "
            "void...); map it under `values: status:` in the mapping file"
        )

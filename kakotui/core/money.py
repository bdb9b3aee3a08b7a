"""Exact money: decimal strings in records, integer minor units in the index, never floats."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

# ISO 4217 minor units for the currencies a warehouse meets; others default to 2.
MINOR_DIGITS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "KWD": 3, "BHD": 3, "JOD": 3}
_MONEY_TEXT = re.compile(
    r"^\s*(?P<a>[0-9]+(?:\.[0-9]{1,2})?)\s*(?P<c>[A-Za-z]{3})\s*$|^\s*(?P<c2>[A-Za-z]{3})\s*(?P<a2>[0-9]+(?:\.[0-9]{1,2})?)\s*$"
)


class MoneyError(ValueError):
    pass


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str

    @classmethod
    def parse(cls, text: str, default_currency: str | None = None) -> Money:
        """`38.50CNY`, `38.50 CNY`, `CNY 38.50`, or `38.50` with a default currency."""
        m = _MONEY_TEXT.match(text)
        if m:
            amount = m["a"] or m["a2"]
            currency = (m["c"] or m["c2"]).upper()
        elif default_currency and re.match(r"^\s*[0-9]+(\.[0-9]{1,2})?\s*$", text):
            amount, currency = text.strip(), default_currency
        else:
            raise MoneyError(f"not an amount: {text[:40]!r} (write e.g. 38.50CNY)")
        return cls(Decimal(amount), currency)

    @classmethod
    def from_record(cls, data: Any) -> Money:
        try:
            return cls(Decimal(data["amount"]), str(data["currency"]))
        except (KeyError, TypeError, InvalidOperation, AttributeError) as exc:
            raise MoneyError(f"not a money value: {data!r:.60}") from exc

    def to_record(self) -> dict[str, str]:
        return {"amount": format_amount(self.amount), "currency": self.currency}

    @property
    def minor(self) -> int:
        return to_minor(self.amount, self.currency)

    def __str__(self) -> str:
        return f"{format_amount(self.amount)} {self.currency}"


def format_amount(amount: Decimal) -> str:
    """Canonical decimal string: two decimals, no exponent ('38.50', '0.00')."""
    return f"{amount.quantize(Decimal('0.01')):f}"


_SCALE = {digits: Decimal(10) ** digits for digits in (0, 2, 3)}
_CENT = Decimal("0.01")
_RATES: dict[str, Decimal] = {}  # rate texts already read (a log has a few hundred)


def to_minor(amount: Decimal, currency: str) -> int:
    digits = MINOR_DIGITS.get(currency, 2)
    scale = _SCALE.get(digits) or Decimal(10) ** digits
    return int((amount * scale).to_integral_value(rounding=ROUND_HALF_EVEN))


def from_minor(minor: int, currency: str) -> Decimal:
    digits = MINOR_DIGITS.get(currency, 2)
    return Decimal(minor) / (Decimal(10) ** digits)


def convert(amount: Decimal, currency: str, to: str, rates: dict[str, str] | None) -> Decimal | None:
    """Convert with a rate table {CUR: units of `to` per 1 CUR}; None when the rate is missing."""
    if currency == to:
        return amount
    if not rates or currency not in rates:
        return None
    text = rates[currency]
    rate = _RATES.get(text)
    if rate is None:
        rate = Decimal(text)
        if len(_RATES) < 10_000:
            _RATES[text] = rate
    return (amount * rate).quantize(_CENT, rounding=ROUND_HALF_EVEN)

"""Business rules a JSON Schema cannot state, each a named function returning Problems.

Every rule takes a record that already passed the schema (so shapes are known) and the log's config.
The rule names appear in error messages (`[rule:cost-attribution-sums]`) and in docs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from kakotui.core.config import Config
from kakotui.core.ids import id_from_path
from kakotui.core.problems import Problem
from kakotui.core.record import parse_time


@dataclass(frozen=True)
class Context:
    config: Config
    path: str | None = None  # repository path the record is stored at, when known
    known_ids: frozenset[str] | None = None  # every id in the log, when references are checked


Rule = Callable[[dict[str, Any], Context], Iterator[Problem]]
RULES: dict[str, Rule] = {}


def rule(name: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        RULES[name] = fn
        return fn

    return register


def _p(field: str, name: str, message: str) -> Problem:
    return Problem("", field, f"rule:{name}", message)


@rule("id-matches-path")
def id_matches_path(record: dict[str, Any], ctx: Context) -> Iterator[Problem]:
    if ctx.path is None:
        return
    expected = id_from_path(ctx.path)
    if expected is None:
        yield _p(
            "id", "id-matches-path", f"{ctx.path} is not a record path (records/YYYY/STATION/NNN/ID.yaml)"
        )
    elif expected != record["id"]:
        yield _p("id", "id-matches-path", f"id {record['id']} does not match its file name {expected}.yaml")


@rule("station-known")
def station_known(record: dict[str, Any], ctx: Context) -> Iterator[Problem]:
    qc = record["qc"]
    stations = ctx.config.stations
    if qc["station"] not in stations:
        yield _p(
            "qc.station", "station-known", f"unknown station {qc['station']!r} (known: {', '.join(stations)})"
        )
    elif stations[qc["station"]] != qc["site"]:
        yield _p(
            "qc.site", "station-known", f"station {qc['station']} belongs to site {stations[qc['station']]}"
        )
    id_station = record["id"].split("-")[0]
    if id_station not in stations:
        yield _p("id", "station-known", f"the id's station {id_station!r} is not registered in kakotui.yaml")


@rule("vendor-known")
def vendor_known(record: dict[str, Any], ctx: Context) -> Iterator[Problem]:
    vendor = record["qc"]["vendor"]
    if vendor not in ctx.config.vendors:
        yield _p(
            "qc.vendor", "vendor-known", f"unknown vendor {vendor!r}; add it to kakotui.yaml vendors first"
        )


@rule("failure-code-known")
def failure_code_known(record: dict[str, Any], ctx: Context) -> Iterator[Problem]:
    code = record["qc"]["failure_code"]
    if code not in ctx.config.codes:
        category = ctx.config.category_of(code)
        hint = (
            f"category {category} has no detail code {code[len(category) + 1 :]!r}"
            if category
            else "unknown category"
        )
        yield _p("qc.failure_code", "failure-code-known", f"{code!r} is not in the taxonomy ({hint})")


@rule("carrier-known")
def carrier_known(record: dict[str, Any], ctx: Context) -> Iterator[Problem]:
    for i, reship in enumerate(record.get("reshipments", [])):
        carrier = reship.get("carrier")
        if carrier is not None and carrier not in ctx.config.carriers:
            yield _p(f"reshipments.{i}.carrier", "carrier-known", f"unknown carrier {carrier!r}")


def _money_fields(record: dict[str, Any]) -> Iterator[tuple[str, dict[str, str]]]:
    for i, reship in enumerate(record.get("reshipments", [])):
        yield f"reshipments.{i}.total", reship["total"]
        for j, line in enumerate(reship["costs"]):
            yield f"reshipments.{i}.costs.{j}.amount", line["amount"]
    for i, contact in enumerate(record.get("vendor_contacts", [])):
        if "recovered" in contact:
            yield f"vendor_contacts.{i}.recovered", contact["recovered"]


def _currencies(record: dict[str, Any]) -> Iterator[str]:
    """The currency of every amount `_money_fields` names (without naming them)."""
    for reship in record.get("reshipments", []):
        yield reship["total"]["currency"]
        for line in reship["costs"]:
            yield line["amount"]["currency"]
    for contact in record.get("vendor_contacts", []):
        if "recovered" in contact:
            yield contact["recovered"]["currency"]


@rule("currency-known")
def currency_known(record: dict[str, Any], ctx: Context) -> Iterator[Problem]:
    currencies = ctx.config.currencies
    if all(c in currencies for c in _currencies(record)):
        return
    for field, money in _money_fields(record):
        if money["currency"] not in ctx.config.currencies:
            yield _p(
                f"{field}.currency",
                "currency-known",
                f"{money['currency']} is not a currency of this log ({', '.join(ctx.config.currencies)})",
            )


@rule("cost-attribution-sums")
def cost_attribution_sums(record: dict[str, Any], ctx: Context) -> Iterator[Problem]:
    for i, reship in enumerate(record.get("reshipments", [])):
        total = reship["total"]
        currencies = {line["amount"]["currency"] for line in reship["costs"]}
        if currencies != {total["currency"]}:
            yield _p(
                f"reshipments.{i}.costs",
                "cost-attribution-sums",
                f"every cost line must be in the reshipment's currency {total['currency']}",
            )
            continue
        attributed = sum((Decimal(line["amount"]["amount"]) for line in reship["costs"]), Decimal(0))
        if attributed != Decimal(total["amount"]):
            yield _p(
                f"reshipments.{i}.costs",
                "cost-attribution-sums",
                f"cost lines add up to {attributed:.2f} but the total is {Decimal(total['amount']):.2f} "
                f"{total['currency']}",
            )


@rule("reshipment-refs")
def reshipment_refs(record: dict[str, Any], ctx: Context) -> Iterator[Problem]:
    for i, reship in enumerate(record.get("reshipments", [])):
        expected = f"{record['id']}-R{i + 1}"
        if reship["ref"] != expected and not any(
            reship["ref"] == f"{alias}-R{i + 1}" for alias in record.get("aliases", [])
        ):
            yield _p(f"reshipments.{i}.ref", "reshipment-refs", f"must be {expected}")


def _timeline(record: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """(field, timestamp, field it must not precede) for every dated step."""
    steps: list[tuple[str, str, str | None]] = []
    checked = "qc.checked_at"
    if "decision" in record:
        steps.append(("decision.at", record["decision"]["at"], checked))
    for i, r in enumerate(record.get("reshipments", [])):
        steps.append((f"reshipments.{i}.created_at", r["created_at"], "decision.at"))
        if "shipped_at" in r:
            steps.append((f"reshipments.{i}.shipped_at", r["shipped_at"], f"reshipments.{i}.created_at"))
        if "delivered_at" in r:
            prev = f"reshipments.{i}.shipped_at" if "shipped_at" in r else f"reshipments.{i}.created_at"
            steps.append((f"reshipments.{i}.delivered_at", r["delivered_at"], prev))
    for i, c in enumerate(record.get("vendor_contacts", [])):
        steps.append(
            (f"vendor_contacts.{i}.at", c["at"], checked if i == 0 else f"vendor_contacts.{i - 1}.at")
        )
    if "customer_confirmation" in record:
        after = "decision.at" if "decision" in record else checked
        steps.append(("customer_confirmation.at", record["customer_confirmation"]["at"], after))
    return steps


def _stamps(record: dict[str, Any]) -> Iterator[Any]:
    """Every timestamp `dates_in_order` compares."""
    yield record["qc"]["checked_at"]
    if "decision" in record:
        yield record["decision"]["at"]
    for r in record.get("reshipments", []):
        yield r["created_at"]
        if "shipped_at" in r:
            yield r["shipped_at"]
        if "delivered_at" in r:
            yield r["delivered_at"]
    for c in record.get("vendor_contacts", []):
        yield c["at"]
    if "customer_confirmation" in record:
        yield record["customer_confirmation"]["at"]
    if record.get("closure"):
        yield record["closure"]["closed_at"]


def _as_text(text: Any) -> Any:
    return text


def _in_order(record: dict[str, Any]) -> bool:
    """Whether `dates_in_order` finds nothing (its comparisons, without naming the fields: the names
    are made only for a record that breaks the order).

    Timestamps written alike (`YYYY-MM-DDTHH:MM:SS` and one offset, as kakotui writes them) are in
    the order of their text: they are compared as text, without making a datetime of each (~3x).
    Seconds of 60 and year 0000 (valid for the schema, not for `parse_time`) are parsed."""
    offset = record["qc"]["checked_at"]
    offset = offset[19:] if isinstance(offset, str) and len(offset) == 25 else None
    if offset is not None and all(
        isinstance(t, str)
        and len(t) == 25
        and t[19:] == offset
        and t[10] == "T"
        and t[17:19] != "60"
        and t[:4] != "0000"
        for t in _stamps(record)
    ):
        return _in_order_by(record, _as_text)
    return _in_order_by(record, parse_time)


def _in_order_by(record: dict[str, Any], parse: Callable[[Any], Any]) -> bool:
    checked = parse(record["qc"]["checked_at"])
    if checked is None:
        return True
    latest = checked
    decided = None
    if "decision" in record:
        decided = parse(record["decision"]["at"])
        if decided is not None:
            if decided < checked:
                return False
            latest = max(latest, decided)
    for r in record.get("reshipments", []):
        created = parse(r["created_at"])
        if created is not None:
            if decided is not None and created < decided:
                return False
            latest = max(latest, created)
        before = created
        if "shipped_at" in r:
            shipped = parse(r["shipped_at"])
            if shipped is not None:
                if created is not None and shipped < created:
                    return False
                latest = max(latest, shipped)
            before = shipped
        if "delivered_at" in r:
            delivered = parse(r["delivered_at"])
            if delivered is not None:
                if before is not None and delivered < before:
                    return False
                latest = max(latest, delivered)
    previous: Any = checked
    for c in record.get("vendor_contacts", []):
        at = parse(c["at"])
        if at is not None:
            if previous is not None and at < previous:
                return False
            latest = max(latest, at)
        previous = at
    if "customer_confirmation" in record:
        confirmed = parse(record["customer_confirmation"]["at"])
        after = decided if "decision" in record else checked
        if confirmed is not None:
            if after is not None and confirmed < after:
                return False
            latest = max(latest, confirmed)
    closure = record.get("closure")
    if closure:
        closed = parse(closure["closed_at"])
        if closed is not None and closed < latest:
            return False
    return True


@rule("dates-in-order")
def dates_in_order(record: dict[str, Any], ctx: Context) -> Iterator[Problem]:
    if _in_order(record):
        return
    times: dict[str, datetime] = {}
    checked = parse_time(record["qc"]["checked_at"])
    if checked is None:
        return
    times["qc.checked_at"] = checked
    for field, text, after in _timeline(record):
        value = parse_time(text)
        if value is None:
            continue
        times[field] = value
        if after is not None and after in times and value < times[after]:
            yield _p(field, "dates-in-order", f"{text} is before {after} ({_fmt(times[after])})")
    closure = record.get("closure")
    if closure:
        closed = parse_time(closure["closed_at"])
        if closed is not None:
            latest_field, latest = max(times.items(), key=lambda kv: kv[1])
            if closed < latest:
                yield _p(
                    "closure.closed_at", "dates-in-order", f"closed before {latest_field} ({_fmt(latest)})"
                )


def _fmt(value: datetime) -> str:
    return value.isoformat()


@rule("loop-closed")
def loop_closed(record: dict[str, Any], ctx: Context) -> Iterator[Problem]:
    """A resolved record has closed the loop: goods delivered, customer confirmed, vendor answered."""
    closure = record.get("closure")
    if not closure or closure["final_status"] != "resolved":
        return
    decision = record.get("decision", {})
    reships = record.get("reshipments", [])
    if decision.get("action") == "reship" and reships and reships[-1]["status"] != "delivered":
        yield _p(
            "closure.final_status",
            "loop-closed",
            f"cannot close as resolved: the last reshipment {reships[-1]['ref']} is {reships[-1]['status']}, "
            "not delivered",
        )
    vendor_charged = (
        any(line["responsible"] == "vendor" for r in reships for line in r["costs"])
        or decision.get("action") == "return-to-vendor"
    )
    answered = any(c["outcome"] != "pending" for c in record.get("vendor_contacts", []))
    if vendor_charged and not answered:
        yield _p(
            "closure.final_status",
            "loop-closed",
            "cannot close as resolved: cost is attributed to the vendor but no vendor contact has an outcome",
        )


@rule("references-exist")
def references_exist(record: dict[str, Any], ctx: Context) -> Iterator[Problem]:
    if ctx.known_ids is None:
        return
    for i, other in enumerate(record.get("related", [])):
        if other == record["id"]:
            yield _p(f"related.{i}", "references-exist", "a record cannot refer to itself")
        elif other not in ctx.known_ids:
            yield _p(f"related.{i}", "references-exist", f"no record {other} in this log")


@rule("unresolved-conflict")
def unresolved_conflict(record: dict[str, Any], ctx: Context) -> Iterator[Problem]:
    """Sync kept both sites' values of a field (`conflicts`); a person must choose one."""
    for conflict in record.get("conflicts", []):
        path = conflict["path"]
        yield _p(
            path,
            "unresolved-conflict",
            f"unresolved conflict: this site has {_brief(conflict['ours'])}, the other site "
            f"{_brief(conflict['theirs'])}; choose with `kakotui resolve {record['id']} --take ours|theirs {path}`",
        )


def _brief(value: Any, limit: int = 50) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict | list):
        return "a mapping" if isinstance(value, dict) else "a list"
    text = repr(value[: limit + 1] if isinstance(value, str) else value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_rules(record: dict[str, Any], ctx: Context) -> list[Problem]:
    problems: list[Problem] = []
    for fn in RULES.values():
        problems.extend(fn(record, ctx))
    return problems

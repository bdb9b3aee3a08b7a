"""The settings of one log (`kakotui.yaml`): validated, then read through a typed view."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, timedelta, timezone
from typing import Any

from kakotui.core import yamlio
from kakotui.core.policy import Policy
from kakotui.core.problems import Problem
from kakotui.core.schemas import Schemas

CONFIG_FILE = "kakotui.yaml"
RESPONSIBLE_PARTIES = ("vendor", "carrier", "warehouse", "customer", "platform")


@dataclass(frozen=True)
class Config:
    """A typed view over a valid `kakotui.yaml` mapping (`data` keeps the mapping itself)."""

    data: dict[str, Any]
    name: str
    tz: timezone
    sites: dict[str, str]
    stations: dict[str, str]  # station id -> site code
    currencies: tuple[str, ...]
    reporting_currency: str
    fx_rates: dict[str, dict[str, str]]
    categories: dict[str, str]  # category -> label
    codes: frozenset[str]  # every valid failure code: categories and CATEGORY-Detail
    vendors: dict[str, str]  # id -> name
    carriers: dict[str, str]
    sla_days: dict[str, int] = field(default_factory=dict)
    people: tuple[dict[str, Any], ...] = ()

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Config:
        codes: set[str] = set()
        categories: dict[str, str] = {}
        for cat in data.get("failure_codes", []):
            categories[cat["category"]] = cat["label"]
            codes.add(cat["category"])
            codes.update(f"{cat['category']}-{c}" for c in cat.get("codes", []))
        return cls(
            data=data,
            name=data["name"],
            tz=parse_offset(data.get("timezone", "Z")),
            sites={s["code"]: s["name"] for s in data["sites"]},
            stations={s["id"]: s["site"] for s in data["stations"]},
            currencies=tuple(data["currencies"]),
            reporting_currency=data["reporting_currency"],
            fx_rates=data.get("fx_rates", {}),
            categories=categories,
            codes=frozenset(codes),
            vendors={v["id"]: v["name"] for v in data.get("vendors", [])},
            carriers={c["id"]: c["name"] for c in data.get("carriers", [])},
            sla_days=dict(data.get("sla_days", {})),
            people=tuple(data.get("people", [])),
        )

    def category_of(self, code: str) -> str | None:
        """The category of a failure code: the longest configured category it starts with."""
        cache: dict[str, str | None] | None = self.__dict__.get("_category_cache")
        if cache is None:
            cache = {}
            object.__setattr__(self, "_category_cache", cache)  # a log has a few dozen codes
        if code in cache:
            return cache[code]
        best = self._category_of(code)
        if len(cache) < 10_000:
            cache[code] = best
        return best

    def _category_of(self, code: str) -> str | None:
        best = None
        for cat in self.categories:
            if (code == cat or code.startswith(cat + "-")) and (best is None or len(cat) > len(best)):
                best = cat
        return best

    def rates_for(self, month: str) -> dict[str, str] | None:
        return self.fx_rates.get(month)

    @property
    def policy(self) -> Policy:
        """Who may change what (people, roles, four-eyes rules, signing): kakotui.core.policy."""
        cached = self.__dict__.get("_policy")
        if cached is None:
            cached = Policy.from_data(self.data)
            object.__setattr__(self, "_policy", cached)
        return cached


def parse_offset(text: str) -> timezone:
    if text == "Z":
        return UTC
    sign = -1 if text.startswith("-") else 1
    hours, minutes = int(text[1:3]), int(text[4:6])
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def config_problems(data: Any, schemas: Schemas) -> list[Problem]:
    """Schema problems plus the cross-references a schema cannot state."""
    problems = [p.at_file(CONFIG_FILE) for p in schemas.errors("config", data)]
    if problems or not isinstance(data, dict):
        return problems
    sites = {s["code"] for s in data["sites"]}
    for i, station in enumerate(data["stations"]):
        if station["site"] not in sites:
            problems.append(
                Problem(
                    CONFIG_FILE,
                    f"stations.{i}.site",
                    "config:site-exists",
                    f"unknown site {station['site']!r}",
                )
            )
    seen: set[str] = set()
    for i, station in enumerate(data["stations"]):
        if station["id"] in seen:
            problems.append(
                Problem(
                    CONFIG_FILE,
                    f"stations.{i}.id",
                    "config:unique-station",
                    f"station {station['id']} listed twice",
                )
            )
        seen.add(station["id"])
    if data["reporting_currency"] not in data["currencies"]:
        problems.append(
            Problem(
                CONFIG_FILE, "reporting_currency", "config:currency-listed", "must be one of the currencies"
            )
        )
    for month, rates in data.get("fx_rates", {}).items():
        for cur in rates:
            if cur not in data["currencies"]:
                problems.append(
                    Problem(
                        CONFIG_FILE,
                        f"fx_rates.{month}.{cur}",
                        "config:currency-listed",
                        f"unknown currency {cur}",
                    )
                )
    for kind in ("vendors", "carriers"):
        ids = [v["id"] for v in data.get(kind, [])]
        for dup in sorted({i for i in ids if ids.count(i) > 1}):
            problems.append(Problem(CONFIG_FILE, kind, f"config:unique-{kind}", f"{dup!r} listed twice"))
    return problems + _access_problems(data)


def _access_problems(data: dict[str, Any]) -> list[Problem]:
    """People, roles and four-eyes rules that refer to each other consistently."""
    problems: list[Problem] = []
    people = data.get("people", [])
    emails = [p["email"].lower() for p in people]
    for i, person in enumerate(people):
        if emails.count(person["email"].lower()) > 1:
            problems.append(
                Problem(
                    CONFIG_FILE,
                    f"people.{i}.email",
                    "config:unique-person",
                    f"{person['email']} listed twice",
                )
            )
    if "roles" not in data:
        if data.get("four_eyes"):
            problems.append(
                Problem(CONFIG_FILE, "four_eyes", "config:role-defined", "four_eyes needs a roles: section")
            )
        return problems
    roles = data["roles"]
    for i, person in enumerate(people):
        for role in person.get("roles", []):
            if role not in roles:
                problems.append(
                    Problem(CONFIG_FILE, f"people.{i}.roles", "config:role-defined", f"unknown role {role!r}")
                )
    for i, rule in enumerate(data.get("four_eyes", [])):
        for role in rule["approvers"]:
            if role not in roles:
                problems.append(
                    Problem(
                        CONFIG_FILE,
                        f"four_eyes.{i}.approvers",
                        "config:role-defined",
                        f"unknown role {role!r}",
                    )
                )
    if not any(spec.get("admin") for spec in roles.values()):
        problems.append(
            Problem(
                CONFIG_FILE,
                "roles",
                "config:admin-role",
                "no role has admin: true, so nobody could change kakotui.yaml or schema/ again",
            )
        )
    return problems


def load_config(text: str | bytes, schemas: Schemas) -> tuple[Config | None, list[Problem]]:
    """Parse and check `kakotui.yaml`; returns (config or None, problems)."""
    try:
        data = yamlio.load(text)
    except yamlio.YamlError as exc:
        return None, [Problem(CONFIG_FILE, "", "yaml", str(exc))]
    problems = config_problems(data, schemas)
    if problems:
        return None, problems
    return Config.from_data(data), []

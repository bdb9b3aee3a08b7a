"""Which sheet column fills which record field: the flat fields, a proposal from header names, the YAML file.

The flat fields are one vocabulary for both directions: `kakotui export` writes them as columns and
`kakotui import` reads them back, so an exported sheet imports without editing its mapping. A mapping
file is plain, editable YAML (read and written through `kakotui.core.yamlio`) and is validated before
use: an unknown field, a field filled by two columns or a bad default is an error, never a guess.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kakotui.core import yamlio
from kakotui.interchange.normalize import cell_text, norm_key

__all__ = [
    "EXPORT_ONLY",
    "FIELDS",
    "ColumnMapping",
    "FlatField",
    "MappingError",
    "load_mapping",
    "mapping_text",
    "propose",
]


@dataclass(frozen=True)
class FlatField:
    """One flat column: its name, the kind of value it holds, the headers it is recognized by."""

    name: str
    kind: str
    help: str
    synonyms: tuple[str, ...] = ()


def _f(name: str, kind: str, help: str, synonyms: str = "") -> FlatField:
    return FlatField(name, kind, help, tuple(s.strip() for s in synonyms.split(",") if s.strip()))


# In export order. Reshipment fields describe the first reshipment, vendor fields the first vendor
# contact (the ones a spreadsheet row holds); `record_json` carries the whole record for a lossless trip.
FIELDS: dict[str, FlatField] = {
    f.name: f
    for f in (
        _f("id", "id", "record id (an existing record is updated; a new one keeps it)", "record id, exception id, kakotui id"),
        _f("source_key", "text", "key of the sheet row a record came from", "source key, import key"),
        _f("status", "status", "lifecycle status in words (open, reshipped, done, void...)", "status, state, stage, 状态, 进度"),
        _f("checked_at", "datetime", "when QC found the failure", "qc date, checked at, checked, date, inspection date, inspected at, qc time, date logged, logged at, created, created at, 日期, 质检日期, 检查日期, 质检时间"),
        _f("station", "station", "station id from kakotui.yaml", "station, bench, 工位"),
        _f("site", "text", "site code (follows from the station)", "site, 站点"),
        _f("inspector", "person", "who inspected", "inspector, qc by, checked by, inspected by, qc inspector, qc, 质检员, 检查员"),
        _f("order_id", "ident", "order id", "order, order id, order no, order number, order #, 订单, 订单号"),
        _f("sku", "ident", "SKU", "sku, item code, product code, sku code, 货号, 商品编码"),
        _f("item_title", "text", "item title", "item, item title, title, product, product name, item name, 商品, 商品名称, 品名"),
        _f("quantity", "int", "quantity", "qty, quantity, count, pcs, 数量"),
        _f("vendor", "vendor", "vendor id or name from kakotui.yaml", "vendor, supplier, supplier name, vendor name, seller, store, shop, factory, 供应商, 卖家, 商家, 店铺"),
        _f("failure_code", "code", "failure code or its words (DEFECTIVE-BrokenHinge, broken hinge)", "failure code, code, issue, issue type, problem, defect, failure, qc issue, 问题, 问题类型, 异常类型, 瑕疵"),
        _f("severity", "severity", "minor, major, critical", "severity, priority, level, 严重程度, 等级"),
        _f("description", "longtext", "what is wrong", "description, notes, note, details, comment, comments, remarks, 描述, 备注, 说明"),
        _f("evidence", "evidence", "links, one a line (`photo https://...`)", "evidence, photo, photos, pictures, images, links, 照片, 图片"),
        _f("decision", "decision", "reship, refund, return-to-vendor, accept-as-is, cancel", "decision, action, resolution, 处理方式, 决定"),
        _f("decided_by", "person", "who decided", "decided by, approved by, 决定人"),
        _f("decided_at", "datetime", "when decided", "decided at, decision date, 决定日期"),
        _f("decision_reason", "longtext", "why", "decision reason, reason, 原因"),
        _f("reshipped_at", "datetime", "when the reshipment was created", "reship date, reshipped at, resend date, 补发日期"),
        _f("carrier", "carrier", "carrier id or name from kakotui.yaml", "carrier, courier, logistics, shipping company, 快递, 物流, 快递公司, 承运商"),
        _f("tracking", "ident", "tracking number", "tracking, tracking #, tracking number, tracking no, waybill, awb, 运单号, 快递单号"),
        _f("reship_status", "reship_status", "pending, shipped, delivered, lost, returned", "reship status, shipment status, shipping status, 物流状态, 补发状态"),
        _f("shipped_at", "datetime", "when shipped", "shipped at, ship date, shipped, 发货日期"),
        _f("delivered_at", "datetime", "when delivered", "delivered at, delivery date, delivered, 签收日期"),
        _f("reship_cost", "money", "reshipment total (38.50 CNY, ¥38.5, $12)", "reship cost, reshipment cost, cost, shipping cost, freight, amount, 补发费用, 费用, 运费, 金额"),
        _f("responsible", "party", "who bears the cost: vendor, carrier, warehouse, customer, platform", "responsible, responsible party, liable, who pays, charged to, fault, 责任方, 责任"),
        _f("cost_type", "cost_type", "freight, goods, handling, fees", "cost type, 费用类型"),
        _f("reship_note", "text", "note on the reshipment", "reship note, 补发备注"),
        _f("vendor_contacted_at", "datetime", "when the vendor was contacted", "vendor contacted, vendor contacted at, vendor contact date, 联系供应商日期"),
        _f("vendor_channel", "vendor_channel", "chat, email, phone, platform, in-person", "vendor channel"),
        _f("vendor_summary", "longtext", "what the vendor said", "vendor response, vendor reply, vendor summary, vendor notes, 供应商回复"),
        _f("vendor_outcome", "vendor_outcome", "pending, credit, refund, replacement, rejected, no-response", "vendor outcome, vendor result, 供应商结果"),
        _f("recovered", "money", "amount recovered from the vendor", "recovered, recovered amount, compensation, refund amount, 赔偿, 追回"),
        _f("confirmed_at", "datetime", "when the customer confirmed", "confirmed at, customer confirmed, confirmation date, 客户确认日期"),
        _f("customer_channel", "customer_channel", "chat, email, phone, platform", "customer channel"),
        _f("customer_outcome", "customer_outcome", "received-ok, unhappy, no-response", "customer outcome, customer response, customer feedback, 客户反馈"),
        _f("customer_note", "longtext", "note on the confirmation", "customer note"),
        _f("final_status", "final_status", "resolved, written-off, escalated, void", "final status, outcome, closure status, 结果"),
        _f("closed_at", "datetime", "when closed", "closed at, closed, close date, closed date, date closed, 关闭日期, 结案日期"),
        _f("closed_by", "person", "who closed", "closed by, 关闭人"),
        _f("closure_note", "longtext", "closing note", "closure note, closing note, 结案备注"),
        _f("record_json", "json", "the whole record as JSON (written by export; the base the other columns edit)", "record json, kakotui record"),
    )
}  # fmt: skip

EXPORT_ONLY = ("reshipments", "total_cost")
"""Columns export writes for people that import ignores (they follow from the record)."""

DEFAULTABLE = (
    "station", "inspector", "severity", "quantity", "vendor", "failure_code", "decision", "responsible",
    "cost_type", "vendor_outcome", "vendor_channel", "customer_outcome", "customer_channel", "final_status",
)  # fmt: skip
VALUE_TABLES = (
    "vendor", "carrier", "failure_code", "status", "severity", "decision", "responsible", "reship_status",
    "vendor_outcome", "customer_outcome", "final_status",
)  # fmt: skip
_TOP_KEYS = ("source", "sheet", "key", "date_order", "currency", "columns", "defaults", "values")
_KEY_NAMES = {"ticket", "ticketno", "ticketid", "case", "caseno", "caseid", "no", "ref", "reference",
              "rowid", "key", "exception", "exceptionno", "编号", "序号", "工单号", "单据号", "id"}  # fmt: skip


class MappingError(ValueError):
    """A mapping file we refuse: every problem, each naming where it is."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass
class ColumnMapping:
    """How one sheet maps to records."""

    columns: dict[str, str | None]  # sheet header -> flat field (None: ignored)
    key: list[str] = field(default_factory=list)  # headers identifying a row ([]: a hash of the row)
    source: str = ""
    sheet: str | None = None
    day_first: bool | None = None  # None: decided from the dates in the sheet
    currency: str | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)

    def column_of(self, target: str) -> str | None:
        return next((c for c, t in self.columns.items() if t == target), None)

    @property
    def targets(self) -> dict[str, str]:
        """flat field -> header, for the columns that fill a field."""
        return {t: c for c, t in self.columns.items() if t is not None}

    def check_against(self, headers: Sequence[str]) -> tuple[list[str], list[str]]:
        """(errors, warnings) of using this mapping on a sheet with `headers`."""
        errors: list[str] = []
        warnings: list[str] = []
        missing = [c for c in self.columns if c not in headers]
        if missing:
            shown = ", ".join(repr(h) for h in headers[:12]) + (", ..." if len(headers) > 12 else "")
            errors.append(
                "the mapping names column(s) the sheet does not have: "
                + ", ".join(repr(c) for c in missing)
                + f" (the sheet's columns: {shown})"
            )
        for key in self.key:
            if key not in headers:
                errors.append(f"key column {key!r} is not in the sheet")
        extra = [h for h in headers if h not in self.columns]
        if extra:
            warnings.append("column(s) not in the mapping are ignored: " + ", ".join(repr(h) for h in extra))
        return errors, warnings


# ---------------------------------------------------------------------------------------------
# Proposal


def _score(header: str, synonym: str) -> float:
    h, s = norm_key(header), norm_key(synonym)
    if not h or not s:
        return 0.0
    if h == s:
        return 1.0
    if len(s) >= 4 and (h.startswith(s) or h.endswith(s)):
        return 0.85
    if len(h) >= 4 and s.startswith(h):
        return 0.8
    ratio = difflib.SequenceMatcher(None, h, s).ratio()
    return ratio if ratio >= 0.84 else 0.0


def _ignored(header: str) -> bool:
    return norm_key(header) in {norm_key(x) for x in EXPORT_ONLY}


def propose(headers: Sequence[str], rows: Sequence[Sequence[Any]] = (), *, source: str = "") -> ColumnMapping:
    """A mapping from the header names (fuzzy, several languages) and a key column if one is unique."""
    candidates: list[tuple[float, int, str, str]] = []
    for position, header in enumerate(headers):
        if _ignored(header):
            continue
        for flat in FIELDS.values():
            best = max((_score(header, s) for s in (flat.name, *flat.synonyms)), default=0.0)
            if best > 0:
                candidates.append((best, -position, header, flat.name))
    columns: dict[str, str | None] = {h: None for h in headers}
    taken: set[str] = set()
    for _s, _pos, header, target in sorted(candidates, reverse=True):
        if columns[header] is None and target not in taken:
            columns[header] = target
            taken.add(target)
    mapping = ColumnMapping(columns=columns, source=source)
    mapping.key = _propose_key(headers, rows, mapping)
    return mapping


def _unique(rows: Sequence[Sequence[Any]], positions: Sequence[int]) -> bool:
    seen: set[tuple[str, ...]] = set()
    for row in rows:
        values = tuple(cell_text(row[p]) if p < len(row) else "" for p in positions)
        if not all(values) or values in seen:
            return False
        seen.add(values)
    return bool(rows)


def _propose_key(headers: Sequence[str], rows: Sequence[Sequence[Any]], mapping: ColumnMapping) -> list[str]:
    if mapping.column_of("id") or mapping.column_of("source_key"):
        return []
    for position, header in enumerate(headers):
        name = header.strip()
        if (norm_key(name) in _KEY_NAMES or name in ("#", "No.", "№")) and _unique(rows, [position]):
            return [header]
    pair = [mapping.column_of("order_id"), mapping.column_of("sku")]
    if all(pair) and _unique(rows, [headers.index(str(c)) for c in pair]):
        return [str(c) for c in pair]
    return []


# ---------------------------------------------------------------------------------------------
# The file


def mapping_text(mapping: ColumnMapping, *, sheet_label: str = "") -> str:
    """The mapping as an editable YAML file, with a comment that says how to edit it."""
    data: dict[str, Any] = {"source": mapping.source or "sheet"}
    if mapping.sheet:
        data["sheet"] = mapping.sheet
    data["key"] = mapping.key[0] if len(mapping.key) == 1 else (list(mapping.key) or None)
    data["date_order"] = {None: "auto", True: "day-first", False: "month-first"}[mapping.day_first]
    if mapping.currency:
        data["currency"] = mapping.currency
    data["columns"] = dict(mapping.columns)
    data["defaults"] = dict(mapping.defaults)
    data["values"] = {k: dict(v) for k, v in mapping.values.items()}
    fields = ", ".join(FIELDS)
    header = [
        f"# kakotui import mapping{f' for {sheet_label}' if sheet_label else ''}: edit it, then",
        "#   kakotui import SHEET --mapping THIS_FILE [--dry-run]",
        "# source: the name source keys start with (keep it when the file is renamed)",
        "# date_order: how to read 03/04/2026: auto (from the sheet's other dates), day-first, month-first",
        "# key: the column(s) that identify a row from one import to the next (~: a hash of the whole row,",
        "#      so an edited row would come in as a new record)",
        "# columns: every column of the sheet and the field it fills (~: ignored). Fields:",
        *_wrap(fields, "#   "),
        "# defaults: values for fields the sheet does not have, e.g. severity: major, decision: accept-as-is,",
        "#      customer_outcome: received-ok (needed to import rows whose status is closed/done)",
        "# values: names in the sheet -> ids, e.g. vendor: {Old Shop Name: hx-leather}",
    ]
    return "\n".join(header) + "\n" + yamlio.dump(data)


def _wrap(text: str, prefix: str, width: int = 100) -> list[str]:
    lines: list[str] = []
    current = ""
    for part in text.split(", "):
        if current and len(prefix) + len(current) + len(part) + 2 > width:
            lines.append(prefix + current + ",")
            current = part
        else:
            current = f"{current}, {part}" if current else part
    if current:
        lines.append(prefix + current)
    return lines


def load_mapping(text: str | bytes, *, name: str = "mapping") -> ColumnMapping:
    """Parse and validate a mapping file; `MappingError` lists every problem."""
    try:
        data = yamlio.load(text, max_bytes=1_000_000)
    except yamlio.YamlError as exc:
        raise MappingError([f"{name}: {exc}"]) from None
    if not isinstance(data, dict):
        raise MappingError([f"{name}: expected a mapping with `columns:`"])
    problems: list[str] = []
    for key in data:
        if key not in _TOP_KEYS:
            problems.append(f"{name}: unknown setting {key!r} (settings: {', '.join(_TOP_KEYS)})")
    columns_raw = data.get("columns")
    columns: dict[str, str | None] = {}
    if not isinstance(columns_raw, dict) or not columns_raw:
        problems.append(f"{name}: `columns:` must map each sheet column to a field (or ~)")
    else:
        seen: dict[str, str] = {}
        for header, target in columns_raw.items():
            if target is None:
                columns[str(header)] = None
                continue
            if not isinstance(target, str) or target not in FIELDS:
                close = difflib.get_close_matches(str(target), list(FIELDS), n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                problems.append(f"{name}: columns.{header}: unknown field {target!r}{hint}")
                continue
            if target in seen:
                problems.append(
                    f"{name}: columns.{header}: field {target!r} is already filled by column {seen[target]!r}"
                )
                continue
            seen[target] = str(header)
            columns[str(header)] = target
    key_raw = data.get("key")
    key = [key_raw] if isinstance(key_raw, str) else key_raw if isinstance(key_raw, list) else []
    if key_raw is not None and not (key and all(isinstance(k, str) for k in key)):
        problems.append(f"{name}: key: a column name or a list of column names (or ~)")
        key = []
    for k in key:
        if columns and k not in columns:
            problems.append(f"{name}: key: column {k!r} is not listed under columns")
    order = data.get("date_order", "auto")
    if order not in ("auto", "day-first", "month-first"):
        problems.append(f"{name}: date_order: auto, day-first or month-first (got {order!r})")
    currency = data.get("currency")
    if currency is not None and not (isinstance(currency, str) and re.fullmatch(r"[A-Z]{3}", currency)):
        problems.append(f"{name}: currency: an ISO 4217 code such as CNY (got {currency!r})")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        problems.append(f"{name}: defaults: a mapping of field: value")
        defaults = {}
    for target, value in defaults.items():
        if target not in DEFAULTABLE:
            problems.append(
                f"{name}: defaults.{target}: not a field with a default ({', '.join(DEFAULTABLE)})"
            )
        elif not isinstance(value, (str, int)) or isinstance(value, bool):
            problems.append(f"{name}: defaults.{target}: a text value")
    values = data.get("values") or {}
    tables: dict[str, dict[str, str]] = {}
    if not isinstance(values, dict):
        problems.append(f"{name}: values: a mapping of field: {{name in the sheet: value}}")
        values = {}
    for kind, table in values.items():
        if kind not in VALUE_TABLES:
            problems.append(
                f"{name}: values.{kind}: not a field with a value table ({', '.join(VALUE_TABLES)})"
            )
        elif not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            problems.append(f"{name}: values.{kind}: a mapping of name in the sheet: value")
        else:
            tables[kind] = {str(k): str(v) for k, v in table.items()}
    for label in ("source", "sheet"):
        if data.get(label) is not None and not isinstance(data[label], str):
            problems.append(f"{name}: {label}: a text")
    if problems:
        raise MappingError(problems)
    return ColumnMapping(
        columns=columns,
        key=[str(k) for k in key],
        source=str(data.get("source") or ""),
        sheet=data.get("sheet"),
        day_first=None if order == "auto" else order == "day-first",
        currency=currency,
        defaults=dict(defaults),
        values=tables,
    )


def describe(mapping: ColumnMapping) -> list[tuple[str, str]]:
    """(column, field or 'ignored') pairs, for people."""
    return [(c, t or "(ignored)") for c, t in mapping.columns.items()]


def headers_of(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)

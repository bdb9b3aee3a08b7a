"""The command line: parse arguments, call the `ExceptionLog` façade, print. Nothing else.

Exit codes: 0 success, 1 invalid data (the problems are printed), 2 usage errors.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from kakotui import __version__
from kakotui.core import yamlio
from kakotui.core.lifecycle import CostLine
from kakotui.core.money import Money, MoneyError, format_amount, from_minor
from kakotui.core.problems import InvalidRecord, Problem
from kakotui.core.textsafe import inert
from kakotui.log import ExceptionLog, LogError, SaveResult
from kakotui.store.gitrepo import GitError
from kakotui.store.query import FIELDS, QueryError

F = TypeVar("F", bound=Callable[..., Any])

LIST_COLUMNS = [
    "id",
    "status",
    "checked_date",
    "vendor",
    "sku",
    "failure_code",
    "cost",
    "responsible",
    "inspector",
]


class Failed(click.ClickException):
    """Invalid data: exit 1 with the message (problems already printed)."""

    exit_code = 1


def _fail(message: str) -> NoReturn:
    raise Failed(message)


def _print_problems(problems: Sequence[Problem], fmt: str = "text") -> None:
    if fmt == "json":
        click.echo(json.dumps([p.to_dict() for p in problems], ensure_ascii=False, indent=2))
        return
    for p in problems:
        click.echo(inert(str(p)), err=True)


def handle_errors(fn: F) -> F:
    """Turn library errors into clean messages and exit codes; never a traceback for bad input."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InvalidRecord as exc:
            click.echo("nothing was saved; fix these and try again:", err=True)
            _print_problems(exc.problems)
            sys.exit(1)
        except QueryError as exc:
            text = click.get_current_context().params.get("query") or ""
            query = " ".join(text) if isinstance(text, tuple) else str(text)
            click.echo(f"error in query: {exc.message}", err=True)
            if query:
                click.echo(f"  {query}\n  {' ' * exc.position}{'^' * max(exc.length, 1)}", err=True)
            sys.exit(2)
        except (LogError, GitError, MoneyError) as exc:
            click.echo(f"error: {inert(str(exc))}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def _open(ctx: click.Context) -> ExceptionLog:
    repo = ctx.obj.get("repo") if ctx.obj else None
    log = ExceptionLog.open(repo or os.environ.get("KAKOTUI_REPO") or None)
    ctx.call_on_close(log.close)
    return log


def _refresh(log: ExceptionLog, quiet: bool = False) -> None:
    """Catch the index up, with a progress bar when it has real work to do."""
    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if quiet or total < 2000 or not sys.stderr.isatty():
            return
        if bar is None:
            bar = click.progressbar(length=total, label="indexing records", file=sys.stderr)
            bar.__enter__()
        bar.update(done - bar.pos)

    log.refresh(progress)
    if bar is not None:
        bar.__exit__(None, None, None)


def _saved(result: SaveResult, fmt: str = "text") -> None:
    if fmt == "json":
        click.echo(
            json.dumps(
                {"id": result.id, "path": result.path, "commit": result.commit, "action": result.action}
            )
        )
    else:
        click.echo(f"{result.id}: saved ({result.action}, commit {result.commit[:10]})")


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--repo",
    type=click.Path(file_okay=False, path_type=Path),
    help="The log folder (default: the log that contains the current folder).",
)
@click.version_option(__version__, prog_name="kakotui")
@click.pass_context
def main(ctx: click.Context, repo: Path | None) -> None:
    """kakotui: the QC-exception and reshipment log, as YAML records in git.

    Run without a command to open the terminal UI on the log here.
    """
    ctx.ensure_object(dict)
    ctx.obj["repo"] = repo
    if ctx.invoked_subcommand is None:
        ctx.invoke(tui)


# -- setting up ----------------------------------------------------------------------------------


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--station", required=True, help="This clone's station id, e.g. SZ1 (2-8 upper-case letters/digits)."
)
@click.option("--site", help="Site code (default: the letters of the station id).")
@click.option("--site-name", help="Human name of the site, e.g. 'Shenzhen warehouse'.")
@click.option("--name", help="Name of the log.")
@handle_errors
def init(path: Path, station: str, site: str | None, site_name: str | None, name: str | None) -> None:
    """Create a new log at PATH: a git repository with kakotui.yaml, schema/, records/ and CI gates."""
    log = ExceptionLog.init(path, station=station, site=site, site_name=site_name, name=name)
    click.echo(f"created a kakotui log in {log.root} (station {station})")
    click.echo("next: add your vendors to kakotui.yaml, then `kakotui new --help`")
    log.close()


@main.command()
@click.argument("station", required=False)
@click.pass_context
@handle_errors
def station(ctx: click.Context, station: str | None) -> None:
    """Show or set the station this clone writes records as."""
    log = _open(ctx)
    if station:
        log.set_station(station)
    click.echo(log.station)


@main.command()
@click.option("--set", "set_", nargs=2, metavar="NAME EMAIL", help="Remember who you are for this log.")
@click.pass_context
@handle_errors
def whoami(ctx: click.Context, set_: tuple[str, str] | None) -> None:
    """Show (or set) the person commits are authored by."""
    log = _open(ctx)
    if set_:
        log.set_identity(*set_)
    click.echo(str(log.identity))
    if log.config.policy.enforced:  # roles (issue 10): what this person may do in this log
        me = log.me
        roles = ", ".join(me.roles) if me and me.roles else "none (not listed under people: in kakotui.yaml)"
        click.echo(f"roles: {inert(roles, limit=200, single_line=True)}", err=True)


# -- reading -------------------------------------------------------------------------------------


def _row_dict(row: Any, currency: str) -> dict[str, Any]:
    data = {k: row[k] for k in row.keys() if k not in ("search", "json", "problems")}  # noqa: SIM118 (sqlite3.Row iterates values)
    data["cost"] = (
        format_amount(from_minor(row["cost_minor"], currency)) if row["cost_minor"] is not None else None
    )
    data["valid"] = bool(row["valid"])
    data["problems"] = json.loads(row["problems"])
    return data


@main.command("list")
@click.argument("query", nargs=-1)
@click.option(
    "--sort",
    default="id",
    show_default=True,
    help="Sort key (id, status, age, vendor, sku, code, cost, responsible, inspector, checked, severity); prefix - for descending.",
)
@click.option("--limit", type=click.IntRange(min=1), help="At most N records.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
@click.pass_context
@handle_errors
def list_(ctx: click.Context, query: tuple[str, ...], sort: str, limit: int | None, fmt: str) -> None:
    """List exceptions matching QUERY, e.g. `vendor:acme status:open code:DEFECTIVE* cost>100 hinge`.

    \b
    Fields:
    """
    log = _open(ctx)
    _refresh(log)
    rows = log.records(" ".join(query), sort=sort, limit=limit)
    cur = log.config.reporting_currency
    if fmt == "json":
        click.echo(json.dumps([_row_dict(r, cur) for r in rows], ensure_ascii=False, indent=2))
        return
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow([*LIST_COLUMNS, "valid"])
        for r in rows:
            d = _row_dict(r, cur)
            writer.writerow(
                [d.get(c) if c != "cost" else d["cost"] or "" for c in LIST_COLUMNS] + [d["valid"]]
            )
        return
    headers = ["ID", "STATUS", "CHECKED", "VENDOR", "SKU", "CODE", f"COST {cur}", "RESPONSIBLE", "INSPECTOR"]
    table = []
    for r in rows:
        d = _row_dict(r, cur)
        flag = "" if d["valid"] else " !"
        table.append(
            [
                d["id"] + flag,
                d["status"],
                d["checked_date"],
                d["vendor"],
                d["sku"],
                d["failure_code"],
                d["cost"] or "",
                d["responsible"],
                d["inspector"],
            ]
        )
    _print_table(headers, table, right={6})
    invalid = sum(1 for r in rows if not r["valid"])
    click.echo(
        f"{len(rows)} record(s)"
        + (f", {invalid} with problems (!): run `kakotui validate`" if invalid else ""),
        err=True,
    )


list_.help = (list_.help or "") + "\n".join(f"      {k:<12} {v}" for k, v in FIELDS.items())


def _print_table(headers: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> None:  # type: ignore[assignment]
    from rich.cells import cell_len

    cells = [[inert(str(c), single_line=True, limit=40) for c in row] for row in rows]
    widths = [max([cell_len(h)] + [cell_len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: list[str]) -> str:
        out = []
        for i, v in enumerate(values):
            pad = " " * (widths[i] - cell_len(v))
            out.append(pad + v if i in right else v + pad)
        return "  ".join(out).rstrip()

    click.echo(line(headers))
    for row in cells:
        click.echo(line(row))


@main.command()
@click.argument("record_id")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@click.pass_context
@handle_errors
def show(ctx: click.Context, record_id: str, fmt: str) -> None:
    """Show one record (as stored, or as JSON), with its problems if any."""
    log = _open(ctx)
    _refresh(log)
    loaded = log.get(record_id)
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "id": loaded.id,
                    "path": loaded.path,
                    "valid": loaded.valid,
                    "record": loaded.record,
                    "problems": [p.to_dict() for p in loaded.problems],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        click.echo(inert(log.show_text(record_id)), nl=False)
        if loaded.problems:
            click.echo("# problems:", err=True)
            _print_problems(loaded.problems)
    if not loaded.valid:
        sys.exit(1)


# -- writing -------------------------------------------------------------------------------------


@main.command()
@click.option("--vendor", help="Vendor id from kakotui.yaml.")
@click.option("--sku", help="SKU (stored exactly as typed).")
@click.option("--order", "order_id", help="Order id.")
@click.option("--code", "failure_code", help="Failure code, e.g. DEFECTIVE-BrokenHinge.")
@click.option(
    "--severity", type=click.Choice(["minor", "major", "critical"]), default="major", show_default=True
)
@click.option("--title", "item_title", help="Item title.")
@click.option("--quantity", type=int, default=1, show_default=True)
@click.option("--description", help="What is wrong (free text).")
@click.option(
    "--evidence",
    multiple=True,
    metavar="[KIND=]LINK",
    help="Evidence link (http(s) URL or path in the log); KIND photo/video/doc. Repeatable.",
)
@click.option("--checked-at", help="When checked (RFC 3339; default now).")
@click.option("--inspector", help="Who checked (default: you).")
@click.option("--station", help="Station (default: this clone's).")
@click.option(
    "--from-file",
    type=click.File("rb"),
    help="Read the QC fields (YAML mapping) from a file, or - for stdin.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
@handle_errors
def new(ctx: click.Context, /, from_file: Any, fmt: str, evidence: tuple[str, ...], **fields: Any) -> None:
    """Log a new QC failure. Defaults: now, you, this station."""
    log = _open(ctx)
    _refresh(log, quiet=True)
    qc: dict[str, Any] = {}
    if from_file is not None:
        try:
            data = yamlio.load(from_file.read())
        except yamlio.YamlError as exc:
            _fail(f"{from_file.name}: {exc}")
        if isinstance(data, dict) and "qc" in data:
            data = data["qc"]
        if not isinstance(data, dict):
            _fail(f"{from_file.name}: expected a mapping of QC fields")
        qc.update(data)
    qc.update({k: v for k, v in fields.items() if v is not None})
    if evidence:
        qc["evidence"] = [_evidence(e) for e in evidence]
    missing = [f for f in ("vendor", "sku", "order_id", "failure_code") if not qc.get(f)]
    if missing:
        names = {"order_id": "--order", "failure_code": "--code"}
        _fail("missing: " + ", ".join(names.get(m, f"--{m}") for m in missing))
    _saved(log.new(qc), fmt)


def _evidence(text: str) -> dict[str, str]:
    kind, sep, link = text.partition("=")
    if not sep or kind not in ("photo", "video", "doc"):
        kind, link = ("video" if text.lower().endswith((".mp4", ".mov")) else "photo"), text
    return {"kind": kind, "link": link}


@main.command()
@click.argument("record_id")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="PATH=VALUE",
    help="Set a field by dotted path, e.g. qc.sku=0123 or reshipments.0.tracking=SF123.",
)
@click.option("--unset", "unsets", multiple=True, metavar="PATH", help="Remove an optional field.")
@click.pass_context
@handle_errors
def edit(ctx: click.Context, record_id: str, sets: tuple[str, ...], unsets: tuple[str, ...]) -> None:
    """Change fields of a record (the value typed is the value stored)."""
    if not sets and not unsets:
        raise click.UsageError("nothing to change: give --set PATH=VALUE or --unset PATH")
    changes: list[tuple[str, str | None]] = []
    for item in sets:
        path, sep, value = item.partition("=")
        if not sep:
            raise click.UsageError(f"--set {item!r}: expected PATH=VALUE")
        changes.append((path.strip(), value))
    changes.extend((p.strip(), None) for p in unsets)
    log = _open(ctx)
    _refresh(log, quiet=True)
    _saved(log.edit(record_id, changes))


@main.command()
@click.argument("record_id")
@click.option(
    "--action",
    "action",
    required=True,
    type=click.Choice(["reship", "refund", "return-to-vendor", "accept-as-is", "cancel"]),
)
@click.option("--reason", help="Why.")
@click.option("--at", help="When (RFC 3339; default now).")
@click.pass_context
@handle_errors
def decide(ctx: click.Context, record_id: str, action: str, reason: str | None, at: str | None) -> None:
    """Record the decision on an exception."""
    log = _open(ctx)
    _refresh(log, quiet=True)
    _saved(log.decide(record_id, action, reason=reason, at=at))


def _cost_lines(
    costs: tuple[str, ...], responsible: tuple[str, ...], types: tuple[str, ...], default_currency: str
) -> list[CostLine]:
    if not costs:
        raise click.UsageError("give at least one --cost AMOUNT (e.g. --cost 38.50CNY)")
    lines = []
    for i, text in enumerate(costs):
        party = responsible[i] if i < len(responsible) else (responsible[-1] if responsible else None)
        if party is None:
            raise click.UsageError(
                "give --responsible PARTY for the cost (vendor, carrier, warehouse, customer, platform)"
            )
        kind = types[i] if i < len(types) else (types[-1] if types else "freight")
        try:
            money = Money.parse(text, default_currency)
        except MoneyError as exc:
            raise click.UsageError(str(exc)) from None
        lines.append(CostLine(kind, money, party))
    return lines


@main.command()
@click.argument("record_id")
@click.option("--carrier", help="Carrier id from kakotui.yaml.")
@click.option("--tracking", help="Tracking number.")
@click.option(
    "--status",
    type=click.Choice(["pending", "shipped", "delivered", "lost", "returned"]),
    default=None,
    help="Status (default: shipped if a tracking number is given, else pending).",
)
@click.option(
    "--cost",
    "costs",
    multiple=True,
    metavar="AMOUNT",
    help="A cost line, e.g. 38.50CNY. Repeatable; pairs with --responsible and --type by position.",
)
@click.option(
    "--responsible",
    multiple=True,
    type=click.Choice(["vendor", "carrier", "warehouse", "customer", "platform"]),
)
@click.option("--type", "types", multiple=True, type=click.Choice(["freight", "goods", "handling", "fees"]))
@click.option("--note")
@click.option("--at", help="When (RFC 3339; default now).")
@click.option(
    "--update",
    "update",
    type=int,
    metavar="N",
    help="Update reshipment N (status, tracking) instead of adding one.",
)
@click.pass_context
@handle_errors
def reship(
    ctx: click.Context,
    record_id: str,
    carrier: str | None,
    tracking: str | None,
    status: str | None,
    costs: tuple[str, ...],
    responsible: tuple[str, ...],
    types: tuple[str, ...],
    note: str | None,
    at: str | None,
    update: int | None,
) -> None:
    """Create a reshipment with its cost attributed to the responsible parties (or update one)."""
    log = _open(ctx)
    _refresh(log, quiet=True)
    if update is not None:
        changes: dict[str, Any] = {"carrier": carrier, "tracking": tracking, "status": status, "note": note}
        when = at or log.now()
        if status in ("shipped", "lost", "returned"):
            changes["shipped_at"] = when
        if status == "delivered":
            changes["delivered_at"] = when
        _saved(log.update_reshipment(record_id, update, **changes))
        return
    lines = _cost_lines(costs, responsible, types, log.config.reporting_currency)
    _saved(
        log.reship(
            record_id,
            costs=lines,
            carrier=carrier,
            tracking=tracking,
            status=status or ("shipped" if tracking else "pending"),
            at=at,
            note=note,
        )
    )


@main.command()
@click.argument("record_id")
@click.option(
    "--vendor", "who", flag_value="vendor", default=True, help="A contact with the vendor (default)."
)
@click.option("--customer", "who", flag_value="customer", help="The customer's confirmation.")
@click.option(
    "--channel",
    type=click.Choice(["chat", "email", "phone", "platform", "in-person"]),
    default="chat",
    show_default=True,
)
@click.option("--summary", help="What was said (vendor contacts).")
@click.option(
    "--outcome",
    required=True,
    help="Vendor: pending, credit, refund, replacement, rejected, no-response. Customer: received-ok, unhappy, no-response.",
)
@click.option("--recovered", help="Amount recovered from the vendor, e.g. 20CNY.")
@click.option("--note")
@click.option("--at", help="When (RFC 3339; default now).")
@click.pass_context
@handle_errors
def contact(
    ctx: click.Context,
    record_id: str,
    who: str,
    channel: str,
    summary: str | None,
    outcome: str,
    recovered: str | None,
    note: str | None,
    at: str | None,
) -> None:
    """Log a vendor contact (append-only) or the customer's confirmation."""
    log = _open(ctx)
    _refresh(log, quiet=True)
    if who == "customer":
        _saved(log.confirm_customer(record_id, channel=channel, outcome=outcome, note=note, at=at))
        return
    if not summary:
        raise click.UsageError("a vendor contact needs --summary")
    money = Money.parse(recovered, log.config.reporting_currency) if recovered else None
    _saved(
        log.contact_vendor(
            record_id, channel=channel, summary=summary, outcome=outcome, recovered=money, at=at
        )
    )


@main.command()
@click.argument("record_id")
@click.option(
    "--final-status", required=True, type=click.Choice(["resolved", "written-off", "escalated", "void"])
)
@click.option("--note", help="Closing note (required for written-off and void).")
@click.option("--at", help="When (RFC 3339; default now).")
@click.pass_context
@handle_errors
def close(ctx: click.Context, record_id: str, final_status: str, note: str | None, at: str | None) -> None:
    """Close an exception (only when the loop is closed: the error says what is missing)."""
    log = _open(ctx)
    _refresh(log, quiet=True)
    _saved(log.close_record(record_id, final_status=final_status, note=note, at=at))


@main.command()
@click.argument("record_id")
@click.option("--reason", required=True)
@click.pass_context
@handle_errors
def reopen(ctx: click.Context, record_id: str, reason: str) -> None:
    """Reopen a closed exception (its closure is kept in reopenings)."""
    log = _open(ctx)
    _refresh(log, quiet=True)
    _saved(log.reopen(record_id, reason=reason))


# -- checking ------------------------------------------------------------------------------------


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--since",
    metavar="REV",
    help="Only what changed since REV (e.g. origin/main), plus every rule it can break elsewhere.",
)
@click.pass_context
@handle_errors
def validate(ctx: click.Context, paths: tuple[Path, ...], fmt: str, since: str | None) -> None:
    """Validate kakotui.yaml and the records (all problems at once: file, field, rule)."""
    log = _open(ctx)
    _refresh(log, quiet=True)
    if since is not None:
        count, problems = _validate_since(log, since, paths)  # issue 4, below
    else:
        count, problems = log.validate(list(paths) or None)
    errors = [p for p in problems if p.severity == "error"]
    if fmt == "json":
        click.echo(
            json.dumps(
                {"files": count, "problems": [p.to_dict() for p in problems]}, ensure_ascii=False, indent=2
            )
        )
    else:
        _print_problems(problems)
        bad = len({p.file for p in errors})
        click.echo(
            f"{count} file(s) checked, "
            + (f"{len(errors)} problem(s) in {bad} file(s)" if errors else "all valid"),
            err=True,
        )
    if errors:
        sys.exit(1)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--check", is_flag=True, help="Only report files that are not canonical (exit 1 if any).")
@click.pass_context
@handle_errors
def fmt(ctx: click.Context, paths: tuple[Path, ...], check: bool) -> None:
    """Rewrite record files in canonical form (keys in schema order, quoting, blocks)."""
    log = _open(ctx)
    changed, problems = log.fmt(list(paths) or None, check=check)
    _print_problems(problems)
    for rel in changed:
        click.echo(f"{'would reformat' if check else 'reformatted'} {rel}")
    if check and (changed or problems):
        sys.exit(1)
    if problems:
        sys.exit(1)
    if not changed:
        click.echo("all files canonical", err=True)


@main.command()
@click.option("--rebuild", is_flag=True, help="Throw the cache away and read every record again.")
@click.option(
    "--history",
    "with_history",
    is_flag=True,
    help="Also build the commit table that log, blame and the audit read (one pass over the whole "
    "history; otherwise the first of them builds it).",
)
@click.pass_context
@handle_errors
def index(ctx: click.Context, rebuild: bool, with_history: bool) -> None:
    """Bring the index (a cache under .git/kakotui/) up to date."""
    log = _open(ctx)
    if rebuild:
        stats = log.rebuild_index(_bar())
    else:
        stats = log.refresh(_bar())
    click.echo(
        f"index at {(stats.head or 'empty')[:10]}: {log.index.count()} record(s)"
        + (" (rebuilt)" if stats.rebuilt else f", {stats.changed} updated, {stats.removed} removed")
    )
    if with_history:
        built = log.index.build_trail(_bar(_TRAIL_LABEL))
        click.echo("commit table up to date" if built else "no commit table (a shallow clone: git answers)")


def _bar(label: str = "indexing records", *, tty_only: bool = False) -> Callable[[int, int], None]:
    """A progress bar on stderr; `tty_only`: none when stderr is not a terminal (output stays as is)."""
    state: dict[str, Any] = {}
    if tty_only and not sys.stderr.isatty():
        return lambda done, total: None

    def progress(done: int, total: int) -> None:
        if total == 0:
            return
        if "bar" not in state:
            state["bar"] = click.progressbar(length=total, label=label, file=sys.stderr)
            state["bar"].__enter__()
        bar = state["bar"]
        bar.update(done - bar.pos)
        if done >= total:
            bar.__exit__(None, None, None)

    return progress


# -- the UI and the demo -------------------------------------------------------------------------


@main.command()
@click.pass_context
def tui(ctx: click.Context) -> None:
    """Open the terminal UI on the log."""
    try:
        from kakotui.tui.app import run_app
    except ImportError as exc:  # pragma: no cover - the TUI ships with the package
        raise click.ClickException(f"the terminal UI is not available: {exc}") from None
    repo = ctx.obj.get("repo") if ctx.obj else None
    try:
        log = ExceptionLog.open(repo or os.environ.get("KAKOTUI_REPO") or None)
    except LogError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    run_app(log)


@main.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--no-tui", is_flag=True, help="Only create the demo log; do not open the UI.")
@click.option(
    "--records", "count", type=int, default=None, help="Generate this many records instead of the sample set."
)
@handle_errors
def demo(path: Path | None, no_tui: bool, count: int | None) -> None:
    """Make a demo log from the sample records (with a history by several people) and open it."""
    from kakotui.demo import build_demo

    target = path or Path(os.environ.get("TMPDIR", "/tmp")) / "kakotui-demo"
    log = build_demo(target, count=count, progress=lambda msg: click.echo(msg, err=True))
    click.echo(f"demo log ready in {log.root} ({log.index.count()} records)", err=True)
    if no_tui:
        click.echo(f"try: kakotui --repo {log.root} list status:open", err=True)
        log.close()
        return
    try:
        from kakotui.tui.app import run_app
    except ImportError:
        click.echo(f"try: kakotui --repo {log.root} list status:open", err=True)
        return
    run_app(log)


# -- audit trail: log, blame, diff (issue 4) ------------------------------------------------------


def _when(date_text: str) -> str:
    """`2026-11-20T09:14:00+08:00` -> `2026-11-20 09:14 +08:00` (as the commit recorded it)."""
    if len(date_text) >= 19 and date_text[10] == "T":
        return f"{date_text[:10]} {date_text[11:16]} {date_text[19:] or 'Z'}"
    return date_text


_TRAIL_LABEL = "reading the history (once per clone)"


@main.command("log")
@click.argument("record_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
@handle_errors
def log_(ctx: click.Context, record_id: str, fmt: str) -> None:
    """A record's history: who changed which fields, when and how (oldest first; follows renumbering)."""
    from kakotui.core.diff import describe

    log = _open(ctx)
    _refresh(log, quiet=True)
    history = log.history(record_id, progress=_bar(_TRAIL_LABEL, tty_only=True))
    # Verified authors (issue 10): marked only in logs that sign (a key or `signing: required`).
    signed = log.signatures([e.commit for e in history.entries]) if log.signing_configured else {}
    if fmt == "json":
        data = history.to_dict()
        for item in data["entries"] if signed else []:
            check = signed.get(item["commit"])
            item["signature"] = check.status if check else "unchecked"
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        for entry in history.entries:
            who = inert(f"{entry.author} <{entry.email}>", limit=80, single_line=True)
            if signed:
                check = signed.get(entry.commit)
                who += (
                    " [verified]"
                    if check and check.status == "verified"
                    else f" [{check.status if check else 'unchecked'}]"
                )
            action = inert(entry.action or "(committed outside kakotui)", limit=40, single_line=True)
            click.echo(f"{entry.commit[:10]}  {_when(entry.date)}  {who}  {action}")
            click.echo(f"    {inert(entry.subject, limit=200, single_line=True)}")
            if entry.problem:
                click.echo(f"    ! {inert(entry.problem, limit=300, single_line=True)}")
            for change in entry.changes:
                click.echo(f"    {describe(change)}")
            click.echo("")
        if history.uncommitted:
            click.echo("not committed yet (work tree)")
            for change in history.uncommitted:
                click.echo(f"    {describe(change)}")
            click.echo("")
        click.echo(f"{len(history.entries)} change(s) to {history.id} ({history.path})", err=True)
    _history_problems(history.problems)


def _history_problems(problems: Sequence[str]) -> None:
    for problem in problems:
        click.echo(f"error: {inert(problem)}", err=True)
    if problems:
        sys.exit(1)


@main.command()
@click.argument("record_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
@handle_errors
def blame(ctx: click.Context, record_id: str, fmt: str) -> None:
    """For each field of a record: who set its current value, when, in which commit."""
    from kakotui.core.diff import format_value

    log = _open(ctx)
    _refresh(log, quiet=True)
    result = log.blame(record_id, progress=_bar(_TRAIL_LABEL, tty_only=True))
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        rows = [
            [
                line.field,
                format_value(line.value, 40),
                line.commit[:10] or "-",
                _when(line.date)[:16],
                line.author,
                line.action or "",
            ]
            for line in result.lines
        ]
        _print_table(["FIELD", "VALUE", "COMMIT", "DATE", "AUTHOR", "ACTION"], rows)
    _history_problems(result.problems)


@main.command()
@click.argument("revs", nargs=-1, metavar="[REV [REV2]]")
@click.option("--staged", is_flag=True, help="Compare with what is staged for the next commit.")
@click.option("--format", "fmt", type=click.Choice(["text", "md", "json"]), default="text", show_default=True)
@click.pass_context
@handle_errors
def diff(ctx: click.Context, revs: tuple[str, ...], staged: bool, fmt: str) -> None:
    """Records added, changed and removed, field by field: REV (default HEAD) against REV2, the
    staged changes (--staged) or the work tree. `A...B` compares where B left A with B (a PR).

    \b
    kakotui diff                           uncommitted changes
    kakotui diff origin/main HEAD --format md   a pull request's changes, for a comment
    """
    from kakotui.core.diff import describe

    if len(revs) > 2:
        raise click.UsageError("give at most two revisions")
    if staged and len(revs) == 2:
        raise click.UsageError("give either a second revision or --staged, not both")
    log = _open(ctx)
    result = log.diff(revs[0] if revs else None, revs[1] if len(revs) > 1 else None, staged=staged)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return
    if fmt == "md":
        click.echo(result.markdown(), nl=False)
        return
    for rc in result.records:
        moved = f" (was {rc.old_path})" if rc.old_path else ""
        click.echo(inert(f"{rc.id}  {rc.status}  {rc.path}{moved}", single_line=True))
        if rc.problem:
            click.echo(f"    ! {inert(rc.problem, limit=300, single_line=True)}")
        for change in rc.changes:
            click.echo(f"    {describe(change)}")
    for status, path in result.other_files:
        click.echo(inert(f"{status} {path}", single_line=True))
    counts = {
        s: sum(1 for r in result.records if r.status == s) for s in ("added", "changed", "removed", "renamed")
    }
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no records changed"
    click.echo(f"{inert(result.base)} -> {inert(result.target)}: {summary}", err=True)


def _validate_since(log: ExceptionLog, rev: str, paths: Sequence[Path]) -> tuple[int, list[Problem]]:
    if paths:
        raise click.UsageError("give either PATHS or --since REV, not both")
    count, problems, since = log.validate_since(rev)
    changed = len(since.diff.records)
    scope = (
        "kakotui.yaml or schema/ changed: every record checked"
        if since.check_all
        else f"{changed} record(s) changed"
    )
    click.echo(f"since {inert(since.diff.base)}: {scope}", err=True)
    return count, problems


# -- who may change what: approvals, signatures (issue 10) ---------------------------------------------


@main.command()
@click.argument("commit")
@click.option("--note", default="", help="Why you approve (kept in the approval commit).")
@click.pass_context
@handle_errors
def approve(ctx: click.Context, commit: str, note: str) -> None:
    """Approve another person's change (four eyes): an empty commit naming COMMIT, by you."""
    log = _open(ctx)
    made = log.approve(commit, note=note)
    click.echo(f"approved {inert(commit, limit=40, single_line=True)} in commit {made[:10]}")


@main.command()
@click.argument("rev", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--all", "show_all", is_flag=True, help="List verified commits too.")
@click.pass_context
@handle_errors
def verify(ctx: click.Context, rev: str | None, fmt: str, show_all: bool) -> None:
    """Check every commit's signature (REV: default HEAD, or A..B) against the people's keys in
    kakotui.yaml as it stood before the commit; exit 1 on unsigned (where required), unknown-key,
    mismatched or bad signatures."""
    log = _open(ctx)
    checks = log.verify(rev)
    failed = [c for c in checks if not c.ok]
    if fmt == "json":
        rows = [
            {
                "commit": c.commit,
                "author": str(c.author),
                "status": c.status,
                "signer": c.signer,
                "key": c.key,
                "required": c.required,
                "ok": c.ok,
            }
            for c in checks
        ]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        for c in checks if show_all else failed:
            mark = "ok " if c.ok else "BAD"
            who = inert(str(c.author), limit=80, single_line=True)
            click.echo(f"{mark} {c.commit[:10]}  {c.status:<11}  {who}  {inert(c.describe(), limit=200)}")
        click.echo(
            f"{len(checks)} commit(s) checked, "
            + (f"{len(failed)} not verified" if failed else "every signature verified or not required"),
            err=True,
        )
    if failed:
        sys.exit(1)


@main.command()
@click.option(
    "--check", is_flag=True, help="Only say whether .kakotui/allowed_signers is current (exit 1 if not)."
)
@click.pass_context
@handle_errors
def signers(ctx: click.Context, check: bool) -> None:
    """Write .kakotui/allowed_signers from the people's signing keys in kakotui.yaml (admins commit it)."""
    from kakotui.core.policy import ALLOWED_SIGNERS

    log = _open(ctx)
    current = log.root / ALLOWED_SIGNERS
    wanted = log.signers_text()
    if check:
        if not current.is_file() or current.read_text("utf-8") != wanted:
            _fail(f"{ALLOWED_SIGNERS} does not match the people of kakotui.yaml: run `kakotui signers`")
        click.echo(f"{ALLOWED_SIGNERS} is current", err=True)
        return
    path = log.write_signers()
    click.echo(f"wrote {path.relative_to(log.root)}; commit it with kakotui.yaml", err=True)


# -- reports (issue 5) -------------------------------------------------------------------------------


def _report_day(end: bool) -> Callable[[click.Context, click.Parameter, str | None], Any]:
    """Parse YYYY-MM-DD, or YYYY-MM (its first day for --since, its last day for --until)."""
    from datetime import date, timedelta

    def convert(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
        if value is None:
            return None
        try:
            if len(value) == 7:
                first = date.fromisoformat(value + "-01")
                if not end:
                    return first
                return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
            return date.fromisoformat(value)
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD or YYYY-MM)") from None

    return convert


def _report_options(fn: F) -> F:
    decorators: list[Callable[[Any], Any]] = [
        click.option("--since", callback=_report_day(False), help="First day (YYYY-MM-DD or YYYY-MM)."),
        click.option("--until", callback=_report_day(True), help="Last day (YYYY-MM-DD or YYYY-MM)."),
        click.option("--vendor", "vendors", multiple=True, help="Only this vendor (repeat for several)."),
        click.option("--station", "stations", multiple=True, help="Only this station (repeat)."),
        click.option("--at", "at", metavar="REV", help="Compute from the log as it was at this revision."),
        click.option(
            "--format",
            "fmt",
            type=click.Choice(["table", "csv", "json", "md"]),
            default=None,
            help="Output format (default: table; md for meeting).",
        ),
        click.option("--part", help="With --format csv: the sub-table to write (e.g. pareto, aging)."),
        click.pass_context,
        handle_errors,
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


def _run_report(ctx: click.Context, name: str, fmt: str | None, part: str | None, **kwargs: Any) -> None:
    from kakotui.reports.render import render

    log = _open(ctx)
    _refresh(log)
    report = log.report(name, progress=_bar() if kwargs.get("at") else None, **kwargs)
    try:
        text = render(report, fmt or ("md" if name == "meeting" else "table"), part=part)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="--part") from None
    click.echo(text, nl=False)


@main.group()
def report() -> None:
    """Reports: vendor scorecards, cost attribution, reconciliation, process audit, trends, meeting pack.

    \b
    Every report takes --since/--until (inclusive days), --vendor/--station, --at REV and
    --format table|csv|json|md. Amounts are exact decimals; a missing FX rate is an error.
    """


@report.command("scorecard")
@_report_options
def report_scorecard(ctx: click.Context, fmt: str | None, part: str | None, **kwargs: Any) -> None:
    """Per vendor: exceptions, Pareto, severity, cost, recovered, outstanding, days to close, grade."""
    _run_report(ctx, "scorecard", fmt, part, **kwargs)


@report.command("costs")
@_report_options
def report_costs(ctx: click.Context, fmt: str | None, part: str | None, **kwargs: Any) -> None:
    """Cost by responsible party x month x cost type, per currency and in the reporting currency."""
    _run_report(ctx, "costs", fmt, part, **kwargs)


@report.command("reconcile")
@_report_options
def report_reconcile(ctx: click.Context, fmt: str | None, part: str | None, **kwargs: Any) -> None:
    """Per vendor and carrier: opening, charged, recovered, outstanding, and how old."""
    _run_report(ctx, "reconcile", fmt, part, **kwargs)


@report.command("audit")
@_report_options
def report_audit(ctx: click.Context, fmt: str | None, part: str | None, **kwargs: Any) -> None:
    """SLA breaches, open exceptions by age, data gaps, check-to-commit delay, inspectors."""
    _run_report(ctx, "audit", fmt, part, **kwargs)


@report.command("trends")
@click.option("--by", type=click.Choice(["week", "month"]), default="month", show_default=True)
@click.option(
    "--group", type=click.Choice(["category", "vendor", "station"]), default="category", show_default=True
)
@_report_options
def report_trends(ctx: click.Context, fmt: str | None, part: str | None, **kwargs: Any) -> None:
    """Exceptions and cost per week or month, by category, vendor or station."""
    _run_report(ctx, "trends", fmt, part, **kwargs)


@report.command("meeting")
@_report_options
def report_meeting(ctx: click.Context, fmt: str | None, part: str | None, **kwargs: Any) -> None:
    """The review-meeting pack (Markdown): every report for the period, stamped with the revision."""
    _run_report(ctx, "meeting", fmt, part, **kwargs)


# -- sync and the merge driver (issue 6) -----------------------------------------------------------


def _sync_stage(stage: str) -> None:
    if sys.stderr.isatty():
        click.echo(f"  {stage}...", err=True)


def _print_sync(summary: Any, fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(summary.to_dict(), ensure_ascii=False, indent=2, default=str))
    else:
        for line in summary.lines():
            click.echo(inert(line))


@main.command()
@click.option("--remote", default="origin", show_default=True, help="A remote's name, or a URL or path.")
@click.option("--dry-run", is_flag=True, help="Say what would happen; change nothing here or there.")
@click.option(
    "--to-bundle", type=click.Path(dir_okay=False, path_type=Path), help="Write the log to a bundle file."
)
@click.option(
    "--from-bundle", type=click.Path(dir_okay=False, path_type=Path), help="Merge a bundle file in."
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
@handle_errors
def sync(
    ctx: click.Context, remote: str, dry_run: bool, to_bundle: Path | None, from_bundle: Path | None, fmt: str
) -> None:
    """Exchange records with the other sites: fetch, merge field by field, validate, send.

    Remotes may be local paths, file://, ssh:// (or user@host:path) and https:// URLs. Offline
    sites carry a bundle file instead (--to-bundle here, --from-bundle there).
    """
    from kakotui.sync.engine import SyncError

    log = _open(ctx)
    try:
        summary = log.sync(
            remote, dry_run=dry_run, to_bundle=to_bundle, from_bundle=from_bundle, progress=_sync_stage
        )
    except SyncError as exc:
        if exc.summary is not None:
            _print_sync(exc.summary, fmt)
        click.echo(f"error: {inert(str(exc))}", err=True)
        sys.exit(1)
    _print_sync(summary, fmt)


@main.command("merge-driver")
@click.argument("base", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("ours", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("theirs", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("path", default="")
def merge_driver(base: Path, ours: Path, theirs: Path, path: str) -> None:
    """(Run by git.) Merge three versions of a record field by field into OURS; keep conflicts in it."""
    sys.exit(ExceptionLog.merge_driver(base, ours, theirs, path))


@main.command()
@click.argument("record_id", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
@handle_errors
def conflicts(ctx: click.Context, record_id: str | None, fmt: str) -> None:
    """List fields that sync kept with two values (one record, or the whole log)."""
    log = _open(ctx)
    _refresh(log, quiet=True)
    notes = log.conflicts(record_id)
    if fmt == "json":
        rows = [
            {"id": n.id, "field": n.field, "ours": n.ours, "theirs": n.theirs, "ours_author": n.ours_author,
             "theirs_author": n.theirs_author}
            for n in notes
        ]  # fmt: skip
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    for n in notes:
        here = json.dumps(n.ours, ensure_ascii=False, default=str) if n.ours is not None else "(absent)"
        there = json.dumps(n.theirs, ensure_ascii=False, default=str) if n.theirs is not None else "(absent)"
        click.echo(inert(f"{n.id}  {n.field}\n    ours:   {here[:200]}\n    theirs: {there[:200]}"))
    click.echo(f"{len(notes)} unresolved conflict(s)", err=True)


@main.command()
@click.argument("record_id")
@click.argument("fields", nargs=-1)
@click.option("--take", type=click.Choice(["ours", "theirs"]), required=True, help="Which value to keep.")
@click.pass_context
@handle_errors
def resolve(ctx: click.Context, record_id: str, fields: tuple[str, ...], take: str) -> None:
    """Resolve kept conflicts of a record: FIELDS (default: all) take ours or theirs; one commit."""
    log = _open(ctx)
    _refresh(log, quiet=True)
    notes = log.conflicts(record_id)
    if not notes:
        _fail(f"{record_id} has no unresolved conflicts")
    chosen = list(fields) or list(dict.fromkeys(n.field for n in notes))
    _saved(log.resolve(record_id, {f: take for f in chosen}))


# -- import and export (issue 7) -------------------------------------------------------------------


def _phase_bar(enabled: bool) -> Callable[[str, int, int], None]:
    """A progress bar per phase (reading, checking, writing) on stderr, for large files on a terminal."""
    state: dict[str, Any] = {}
    labels = {"reading": "reading rows", "checking": "checking records", "writing": "writing records"}

    def progress(phase: str, done: int, total: int) -> None:
        if not enabled or total < 2000 or not sys.stderr.isatty():
            return
        if state.get("phase") != phase:
            if "bar" in state:
                state["bar"].__exit__(None, None, None)
            state["phase"] = phase
            state["bar"] = click.progressbar(length=total, label=labels.get(phase, phase), file=sys.stderr)
            state["bar"].__enter__()
        bar = state["bar"]
        bar.update(done - bar.pos)
        if done >= total:
            bar.__exit__(None, None, None)
            del state["bar"]
            state["phase"] = None

    return progress


@main.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--mapping", "mapping_file", type=click.Path(path_type=Path, dir_okay=False),
              help="A mapping file (YAML: sheet column -> field), e.g. one written by --write-mapping.")  # fmt: skip
@click.option("--write-mapping", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the proposed mapping to this file (to edit and pass to --mapping), import nothing.")  # fmt: skip
@click.option("--sheet", help="The worksheet of an XLSX file (default: the first one with rows).")
@click.option("--station", help="Station new records are numbered at (default: this clone's).")
@click.option("--on-error", type=click.Choice(["stop", "skip"]), default="stop", show_default=True,
              help="stop: import nothing if any row has a problem; skip: import the valid rows.")  # fmt: skip
@click.option(
    "--dry-run", is_flag=True, help="Show exactly what would be created and changed; write nothing."
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
@handle_errors
def import_cmd(
    ctx: click.Context,
    file: Path,
    mapping_file: Path | None,
    write_mapping: Path | None,
    sheet: str | None,
    station: str | None,
    on_error: str,
    dry_run: bool,
    fmt: str,
) -> None:
    """Import exceptions from a CSV or XLSX sheet (one commit; re-importing changes only what changed).

    \b
    Without --mapping, columns are matched to fields by their header names (Vendor, 供应商, SKU,
    Tracking #, QC date, Reship cost, Responsible, Status...). Each row keeps its source key, so the
    same sheet imported again creates nothing new, and an updated sheet updates what changed.
    """
    from kakotui.interchange.mapping import describe, mapping_text

    log = _open(ctx)
    _refresh(log)
    if write_mapping is not None:
        if write_mapping.exists():
            _fail(f"{write_mapping} already exists: remove it or choose another name")
        data = log.read_sheet(file, sheet=sheet)
        proposal = log.load_mapping(mapping_file) if mapping_file else log.propose_mapping(data)
        if data.kind == "xlsx":
            proposal.sheet = proposal.sheet or data.name
        try:
            write_mapping.write_text(mapping_text(proposal, sheet_label=file.name), encoding="utf-8")
        except OSError as exc:
            _fail(f"cannot write {write_mapping}: {exc.strerror or exc}")
        for column, target in describe(proposal):
            click.echo(f"  {inert(column, single_line=True, limit=40):<40} -> {target}")
        key = ", ".join(proposal.key) or "(none: rows are known by a hash of their content)"
        click.echo(f"key: {inert(key, single_line=True, limit=80)}")
        click.echo(
            f"wrote {write_mapping}; edit it, then: kakotui import {file} --mapping {write_mapping}", err=True
        )
        return
    result = log.import_(
        file,
        mapping=mapping_file,
        sheet=sheet,
        station=station,
        on_error=on_error,
        dry_run=dry_run,
        progress=_phase_bar(fmt == "text"),
    )
    plan = result.plan
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "dry_run": dry_run,
                    "stopped": result.stopped,
                    "commit": result.commit,
                    "create": [{"row": p.row, "id": p.id} for p in plan.creates],
                    "update": [{"row": p.row, "id": p.id, "fields": p.changed} for p in plan.updates],
                    "unchanged": len(plan.unchanged),
                    "problems": [p.to_dict() for p in plan.problems],
                    "warnings": plan.warnings,
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        for warning in plan.warnings:
            click.echo(f"note: {inert(warning)}", err=True)
        if dry_run:
            for p in plan.creates:
                qc = p.record.get("qc", {})
                click.echo(
                    inert(
                        f"would create {p.id}  row {p.row}  {qc.get('vendor', '')} {qc.get('sku', '')} "
                        f"{qc.get('failure_code', '')}  ({lifecycle_status(p.record)})",
                        single_line=True,
                    )
                )
            for p in plan.updates:
                click.echo(
                    inert(
                        f"would update {p.id}  row {p.row}  fields: {', '.join(p.changed)}", single_line=True
                    )
                )
        for problem in plan.problems:
            click.echo(inert(str(problem), single_line=True, limit=400), err=True)
        click.echo(result.summary(), err=True)
    if result.stopped:
        sys.exit(1)


def lifecycle_status(record: dict[str, Any]) -> str:
    from kakotui.core.record import status_of

    return status_of(record)


@main.command("export")
@click.argument("query", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx", "json", "jsonl"]), default=None,
              help="Output format (default: from the -o file's extension, else csv).")  # fmt: skip
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write to this file (default: stdout).",
)
@click.option(
    "--lines", is_flag=True, help="One row per reshipment cost line (for finance) instead of per exception."
)
@click.pass_context
@handle_errors
def export_cmd(
    ctx: click.Context, query: tuple[str, ...], fmt: str | None, output: Path | None, lines: bool
) -> None:
    """Export the exceptions matching QUERY: one row per exception with flattened columns.

    \b
    The sheet imports back unchanged (`kakotui import FILE`): edit it in a spreadsheet and
    import it to apply the changes. JSON and JSONL hold the full records.
    """
    if fmt is None:
        suffix = output.suffix.lower().lstrip(".") if output is not None else ""
        fmt = suffix if suffix in ("csv", "xlsx", "json", "jsonl") else "csv"
    if fmt == "xlsx" and output is None:
        raise click.UsageError("an XLSX export needs a file: give -o FILE.xlsx")
    log = _open(ctx)
    _refresh(log)
    bar = _bar() if output is not None and sys.stderr.isatty() else None
    result = log.export(" ".join(query), fmt=fmt, path=output, lines=lines, progress=bar)
    for warning in result.warnings:
        click.echo(f"note: {inert(warning)}", err=True)
    where = f" to {output}" if output is not None else ""
    unit = "cost line(s)" if lines else "row(s)"
    click.echo(f"exported {result.records} record(s), {result.rows} {unit}{where} ({fmt})", err=True)

"""`regscout audit list`: who changed what, when and from where."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ..runtime import Runtime
from ..services.audit import filters_from_text
from .output import console, handle_errors, print_json

app = typer.Typer(help="The audit log: every change, with who made it, when and from where.", no_args_is_help=True)
FORMATS = ("table", "json", "jsonl")


@app.command("list")
@handle_errors
def list_events(
    actor: Annotated[str | None, typer.Option(help="Only this actor's changes (user, token or OS user name)")] = None,
    action: Annotated[
        str | None, typer.Option(help="An action, or the start of one: integration.update, policy.")
    ] = None,
    target: Annotated[str | None, typer.Option(help="Only changes of this integration, token, user, …")] = None,
    since: Annotated[str | None, typer.Option(help="From this ISO date or date-time on (UTC unless given)")] = None,
    until: Annotated[str | None, typer.Option(help="Before this date-time; a date includes that day")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Newest first, at most this many (not for jsonl)")] = 50,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json, or jsonl (every match, oldest first)")] = (
        "table"
    ),
) -> None:
    """List the audit log, newest first; `--format jsonl` exports every matching event, oldest first."""
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}")
    filters = filters_from_text(actor=actor, action=action, target=target, since=since, until=until)
    audit = Runtime.from_env().audit
    if fmt == "jsonl":
        audit.export_jsonl(sys.stdout, **filters)
        return
    entries = audit.list(**filters, limit=limit)
    if fmt == "json":
        print_json(entries)
        return
    table = Table("id")
    table.add_column("at (UTC)", no_wrap=True)
    table.add_column("actor")
    table.add_column("from")
    table.add_column("action", no_wrap=True)
    table.add_column("target")
    table.add_column("changes", overflow="fold")
    for entry in entries:
        table.add_row(
            str(entry.id),
            entry.at.strftime("%Y-%m-%d %H:%M:%S"),
            escape(f"{entry.actor} ({entry.actor_kind})"),
            entry.source or "—",
            entry.action,
            escape(entry.target),
            escape(entry.changes_text()),
        )
    console.print(table)

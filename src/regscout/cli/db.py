"""`regscout db …`: the vulnerability data (update, import, status)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ..runtime import Runtime
from ..services.audit import Actor
from ..vulndb.reports import SourceResult
from .output import console, err_console, handle_errors, print_json

app = typer.Typer(help="Vulnerability data: update, import, status.", no_args_is_help=True)

EXIT_FAILED = 1  # some source failed; its previous data keeps serving

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "—"


def _report(results: list[SourceResult], as_json: bool) -> None:
    if as_json:
        print_json(results)
    else:
        table = Table("source", "result", "mode", "records", "written", "removed", "seconds")
        for r in results:
            table.add_row(
                r.source,
                "[green]ok[/]" if r.ok else "[red]failed[/]",
                r.mode or "—",
                f"{r.records:,}",
                f"{r.written:,}",
                f"{r.removed:,}",
                f"{r.seconds:.1f}",
            )
        console.print(table)
    for r in results:
        if not r.ok:
            err_console.print(f"[bold red]{escape(r.source)}:[/] {escape(r.error or '')}", highlight=False)
    if any(not r.ok for r in results):
        raise typer.Exit(EXIT_FAILED)


@app.command("update")
@handle_errors
def update(
    source: Annotated[list[str] | None, typer.Option("--source", help="Update only this source (repeatable)")] = None,
    full: Annotated[bool, typer.Option("--full", help="Download every source whole, even where deltas exist")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Update the configured sources. A source that fails keeps its previous data (exit code 1)."""
    _report(Runtime.from_env().vulndb.update(source or None, full=full), as_json)


@app.command("import")
@handle_errors
def import_(
    path_or_url: Annotated[
        str, typer.Argument(help="An OSV zip (file or http(s) URL) or a directory of .json records")
    ],
    source: Annotated[
        str | None, typer.Option("--source", help="Source to replace (default: from the path, Debian/all.zip → debian)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Replace one source's records with an OSV export, for air-gapped installations."""
    result = Runtime.from_env().vulndb.import_path(path_or_url, source, actor=Actor.cli())
    if not as_json and result.ok:
        err_console.print(f"imported {result.records:,} records into source {result.source} in {result.seconds:.1f} s")
    _report([result], as_json)


@app.command("status")
@handle_errors
def status(as_json: JsonOpt = False) -> None:
    """Sources, records per ecosystem, last update, last error and the next scheduled update."""
    report = Runtime.from_env().vulndb.status()
    if as_json:
        print_json(report)
        return
    table = Table("source", "records", "updated", "last attempt", "next update", "last error", "url")
    for s in report.sources:
        name = s.name if s.configured else f"{s.name} (imported)"
        table.add_row(
            name,
            f"{s.record_count:,}",
            _when(s.last_success_at),
            _when(s.last_attempt_at),
            _when(s.next_update_at) if report.update_interval_seconds else "off",
            s.last_error or "",
            s.url,
        )
    console.print(table)
    counts = Table("source", "ecosystem", "records", "packages")
    for c in report.ecosystems:
        counts.add_row(c.source, c.ecosystem, f"{c.records:,}", f"{c.packages:,}")
    if report.ecosystems:
        console.print(counts)
    else:
        console.print("no vulnerability records yet: run `regscout db update` or `regscout db import`")

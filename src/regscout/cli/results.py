"""`regscout results …`: stored scan results per image digest and what changed for each."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from ..report.writer import rendered
from ..runtime import Runtime
from ..vulndb.matcher import Finding
from .output import EXIT_NOT_FOUND, console, emit, fail, handle_errors, json_text, print_json

app = typer.Typer(help="Stored scan results.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]


@app.command("list")
@handle_errors
def list_(as_json: JsonFlag = False) -> None:
    """Every scanned image with its findings per severity."""
    rows = Runtime.from_env().results.summary()
    if as_json:
        print_json(rows)
        return
    table = Table("image", "digest", "findings", "matched")
    for row in rows:
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(row["counts"].items())) or "none"
        table.add_row(
            f"{row['registry']}/{row['repository']}:{row['reference']}",
            row["digest"][:19],
            counts,
            row["matched_at"][:16],
        )
    console.print(table)


@app.command("show")
@handle_errors
def show(digest: str, as_json: JsonFlag = False) -> None:
    """The findings stored for an image digest."""
    findings = Runtime.from_env().results.findings(digest)
    if findings is None:
        fail(f"no stored result for {digest}; `regscout results list` shows them", EXIT_NOT_FOUND)
    fmt = "json" if as_json else "table"
    emit(rendered(digest, fmt, lambda: _findings_text(findings, as_json)), None, image=digest, fmt=fmt)


def _findings_text(findings: list[Finding], as_json: bool) -> str:
    if as_json:
        return json_text([asdict(f) for f in findings])
    table = Table("package", "vulnerability", "severity", "status", "installed", "fixed")
    for f in findings:
        table.add_row(f.package, f.id, f.severity, f.fix_state, f.version, ", ".join(f.fixed_versions) or "—")
    with console.capture() as captured:
        console.print(table)
    return captured.get()


@app.command("changes")
@handle_errors
def changes(digest: str, as_json: JsonFlag = False) -> None:
    """What changed for an image: findings that are new, fixed or withdrawn, and when."""
    rows = Runtime.from_env().results.changes(digest)
    if as_json:
        print_json(rows)
        return
    table = Table("when", "change", "vulnerability", "package", "detail")
    for row in rows:
        table.add_row(
            row["at"][:19], row["change"], row["finding"], f"{row['package']} {row['version']}", row["detail"]
        )
    console.print(table)

"""`regscout registry credentials …`: credential sets for the repositories of an integration that match a pattern."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table

from ..runtime import Runtime
from ..services.audit import Actor
from .output import EXIT_REGISTRY, console, fail, handle_errors, print_json

app = typer.Typer(
    help="Credentials for some repositories of an integration (used instead of its own for those).",
    no_args_is_help=True,
)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]
PatternArg = Annotated[str, typer.Argument(help="Repositories this set is for: 'team/*', 'team/app'")]


@app.command("add")
@handle_errors
def add(
    name: Annotated[str, typer.Argument(help="The integration")],
    pattern: PatternArg,
    username: Annotated[str | None, typer.Option("--username", help="User name for these repositories")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password/token from stdin")
    ] = False,
    password_env: Annotated[str | None, typer.Option("--password-env", help="Read it from this variable")] = None,
    no_test: Annotated[bool, typer.Option("--no-test", help="Save without testing")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Add a credential set; it is tested first (log in, read a repository it is for) and saved only if it works."""
    from .registry import read_secret, show_result

    secret = read_secret(password_stdin, password_env)
    if secret is None:
        fail("a credential set needs a password or token: --password-stdin or --password-env", 2)
    view, result = asyncio.run(
        Runtime.from_env().credential_sets.add(name, pattern, username, secret, actor=Actor.cli(), test=not no_test)
    )
    if as_json:
        print_json({"credential_set": view, "test": result})
        return
    if result is not None:
        show_result(result)
    console.print(f"saved the credential set for {view.pattern!r} of {name}", highlight=False)


@app.command("list")
@handle_errors
def list_(name: Annotated[str, typer.Argument(help="The integration")], as_json: JsonFlag = False) -> None:
    """The credential sets of an integration, in the order they are matched (secrets are never shown)."""
    sets = Runtime.from_env().credential_sets.list(name)
    if as_json:
        print_json(sets)
        return
    table = Table("pattern", "username", "status", "checked", "message")
    for view in sets:
        checked = view.checked_at.isoformat(timespec="seconds") if view.checked_at else "—"
        table.add_row(view.pattern, view.username or "—", view.status or "untested", checked, view.status_message or "")
    console.print(table)


@app.command("test")
@handle_errors
def test(
    name: Annotated[str, typer.Argument(help="The integration")], pattern: PatternArg, as_json: JsonFlag = False
) -> None:
    """Test a stored credential set now; exit 4 unless Connected."""
    from .registry import show_result

    result = asyncio.run(Runtime.from_env().credential_sets.test(name, pattern))
    if as_json:
        print_json(result)
    else:
        show_result(result)
    if result.status.value != "Connected":
        raise typer.Exit(EXIT_REGISTRY)


@app.command("remove")
@handle_errors
def remove(name: Annotated[str, typer.Argument(help="The integration")], pattern: PatternArg) -> None:
    """Remove a credential set: its repositories use the integration's own credentials again."""
    Runtime.from_env().credential_sets.remove(name, pattern, actor=Actor.cli())
    console.print(f"removed the credential set for {pattern!r} of {name}", highlight=False)

"""`regscout token …`: API bearer tokens."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ..access import ROLES
from ..runtime import Runtime
from ..services.audit import Actor
from .output import console, err_console, handle_errors, print_json

app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)


@app.command("create")
@handle_errors
def create(
    name: str,
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}")] = "admin",
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="Limit to a registry (HOST) or repositories (HOST/PATTERN); repeatable"),
    ] = None,
    user: Annotated[str | None, typer.Option(help="A console user's own token: acts with its role and scopes")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a token. It is printed once and only its hash is stored."""
    view, secret = Runtime.from_env().tokens.create(name, role, scopes=scope or [], user=user, actor=Actor.cli())
    if as_json:
        print_json({"token": view, "secret": secret.reveal()})
        return
    err_console.print(f"token [bold]{view.name}[/] created; it is shown only now:")
    print(secret.reveal())


@app.command("list")
@handle_errors
def list_(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List tokens (never their values)."""
    views = Runtime.from_env().tokens.list_all()
    if as_json:
        print_json(views)
        return
    table = Table("name", "prefix", "role", "user", "scopes", "created", "last used", "revoked")
    for v in views:
        table.add_row(
            v.name,
            v.prefix,
            v.role,
            v.user or "—",
            ", ".join(v.scopes) or "all",
            v.created_at.strftime("%Y-%m-%d %H:%M"),
            v.last_used_at.strftime("%Y-%m-%d %H:%M") if v.last_used_at else "—",
            v.revoked_at.strftime("%Y-%m-%d %H:%M") if v.revoked_at else "—",
        )
    console.print(table)


@app.command("revoke")
@handle_errors
def revoke(name: str) -> None:
    """Revoke a token; requests with it are refused from now on."""
    view = Runtime.from_env().tokens.revoke(name, actor=Actor.cli())
    console.print(f"revoked {view.name}")

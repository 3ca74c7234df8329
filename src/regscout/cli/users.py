"""`regscout users …`: the web console's users."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ..access import ROLES
from ..runtime import Runtime
from ..secrets import Secret
from ..services.audit import Actor
from .output import console, fail, handle_errors, print_json
from .registry import read_secret

app = typer.Typer(help="Manage the web console's users.", no_args_is_help=True)

StdinOption = Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input")]
EnvOption = Annotated[str | None, typer.Option("--password-env", help="Read the password from this variable")]
RoleOption = Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}")]
ScopeOption = Annotated[
    list[str] | None,
    typer.Option("--scope", help="Limit to a registry (HOST) or repositories (HOST/PATTERN); repeatable"),
]


def _password(stdin: bool, env: str | None) -> Secret:
    secret = read_secret(stdin, env)
    if secret is None:
        fail("give the password with --password-stdin or --password-env (never as an argument)", 2)
    return secret


@app.command("add")
@handle_errors
def add(
    username: str,
    password_stdin: StdinOption = False,
    password_env: EnvOption = None,
    role: RoleOption = "admin",
    scope: ScopeOption = None,
) -> None:
    """Add a console user (the password is stored as an argon2id hash)."""
    secret = _password(password_stdin, password_env)
    view = Runtime.from_env().users.add(username, secret, role, scopes=scope or [], actor=Actor.cli())
    console.print(f"added console user {view.username} ({view.role}{_scope_text(view.scopes)})")


@app.command("edit")
@handle_errors
def edit(
    username: str,
    role: Annotated[str | None, typer.Option(help=f"One of {', '.join(ROLES)}")] = None,
    scope: ScopeOption = None,
    all_scopes: Annotated[
        bool, typer.Option("--all-scopes", help="Remove every scope: the user sees everything")
    ] = False,
) -> None:
    """Change a user's role or scopes (its sessions and tokens use them from their next request)."""
    if all_scopes and scope:
        raise ValueError("give --scope or --all-scopes, not both")
    scopes = [] if all_scopes else scope
    view = Runtime.from_env().users.edit(username, role=role, scopes=scopes, actor=Actor.cli())
    console.print(f"{view.username}: {view.role}{_scope_text(view.scopes)}")


def _scope_text(scopes: list[str]) -> str:
    return f", limited to {', '.join(scopes)}" if scopes else ", every registry"


@app.command("passwd")
@handle_errors
def passwd(username: str, password_stdin: StdinOption = False, password_env: EnvOption = None) -> None:
    """Set a user's password; the user's browser sessions end."""
    secret = _password(password_stdin, password_env)
    Runtime.from_env().users.set_password(username, secret, actor=Actor.cli())
    console.print(f"password of {username} changed; its sessions ended")


@app.command("list")
@handle_errors
def list_(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The console users (never their hashes)."""
    views = Runtime.from_env().users.list_all()
    if as_json:
        print_json(views)
        return
    table = Table("user", "role", "scopes", "signs in", "created", "last sign-in", "disabled")
    for v in views:
        table.add_row(
            v.username,
            v.role,
            ", ".join(v.scopes) or "all",
            v.identity_provider or "password",
            v.created_at.strftime("%Y-%m-%d %H:%M"),
            v.last_login_at.strftime("%Y-%m-%d %H:%M") if v.last_login_at else "—",
            "yes" if v.disabled else "no",
        )
    console.print(table)


@app.command("remove")
@handle_errors
def remove(username: str) -> None:
    """Remove a console user and end its sessions."""
    Runtime.from_env().users.remove(username, actor=Actor.cli())
    console.print(f"removed {username}")

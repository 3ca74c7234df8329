"""`regscout harbor …`: the Harbors that call regscout as their external scanner."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..harbor_scanner.registrations import AUTH_SCHEMES, DEFAULT_TIMEOUT_SECONDS, AuthScheme, RegistrationView
from ..runtime import Runtime
from ..services.audit import Actor
from ..vulndb.sources import parse_duration
from .output import console, err_console, handle_errors, print_json
from .registry import read_ca

app = typer.Typer(
    help="Let a Harbor call regscout as its external scanner (Interrogation Services).", no_args_is_help=True
)

AuthOption = Annotated[
    str | None,
    typer.Option(
        "--auth",
        help=f"How Harbor presents the key: {', '.join(AUTH_SCHEMES)} (any: Bearer, Basic or X-ScannerAdapter-API-Key)",
    ),
]
HostsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--registry-host",
        help="A registry host[:port] its scans may pull from (repeat; default any): Harbor's external or core host",
    ),
]
TimeoutOption = Annotated[
    str | None, typer.Option("--scan-timeout", help="Time limit of one scan, e.g. 30m or 2h (default 30m)")
]


def _auth(value: str | None) -> AuthScheme | None:
    if value is None:
        return None
    for scheme in AUTH_SCHEMES:
        if value.lower() == scheme:
            return scheme
    raise ValueError(f"--auth must be one of {', '.join(AUTH_SCHEMES)}, not {value!r}")


def _endpoint(runtime: Runtime) -> str:
    settings = runtime.settings
    return f"http://<this host>:{settings.bind_port}{settings.harbor_prefix}"


HARBOR_AUTHORIZATION = {"any": "Bearer (or Basic, or APIKey)", "bearer": "Bearer", "basic": "Basic", "apikey": "APIKey"}


def _print_key(runtime: Runtime, view: RegistrationView, key: str, as_json: bool, what: str) -> None:
    if as_json:
        print_json({"registration": view, "key": key, "endpoint": _endpoint(runtime)})
        return
    user = f", user name {view.name}" if view.auth_scheme == "basic" else ""
    err_console.print(
        f"Harbor registration [bold]{view.name}[/] {what}. In Harbor: Administration → Interrogation Services → "
        f"New Scanner, Endpoint {_endpoint(runtime)}, Authorization {HARBOR_AUTHORIZATION[view.auth_scheme]}{user}, "
        "and this key, shown only now:"
    )
    print(key)


@app.command("add")
@handle_errors
def add(
    name: str,
    auth: AuthOption = None,
    scan_timeout: TimeoutOption = None,
    registry_host: HostsOption = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Do not verify the TLS certificate of Harbor's registry")
    ] = False,
    ca_file: Annotated[
        Path | None, typer.Option("--ca-file", help="PEM bundle that signed Harbor's registry certificate")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Register a Harbor and print its API key once (only its hash is stored)."""
    runtime = Runtime.from_env()
    timeout = parse_duration(scan_timeout, "--scan-timeout") if scan_timeout else None
    view, key = runtime.harbor_registrations.add(
        name,
        auth_scheme=_auth(auth) or "any",
        scan_timeout_seconds=float(timeout) if timeout else DEFAULT_TIMEOUT_SECONDS,
        insecure=insecure,
        ca_pem=read_ca(ca_file),
        registry_hosts=registry_host,
        actor=Actor.cli(),
    )
    _print_key(runtime, view, key.reveal(), as_json, "added")


@app.command("rotate")
@handle_errors
def rotate(name: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """A new API key; the old one stops working at once (Harbor's scans fail until it has the new one)."""
    runtime = Runtime.from_env()
    view, key = runtime.harbor_registrations.rotate(name, actor=Actor.cli())
    _print_key(runtime, view, key.reveal(), as_json, "has a new key")


@app.command("edit")
@handle_errors
def edit(
    name: str,
    auth: AuthOption = None,
    scan_timeout: TimeoutOption = None,
    registry_host: HostsOption = None,
    insecure: Annotated[
        bool | None, typer.Option("--insecure/--verify", help="TLS verification of Harbor's registry")
    ] = None,
    ca_file: Annotated[Path | None, typer.Option("--ca-file", help="Replace the CA bundle")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Change how Harbor authenticates, the scan time limit, or the TLS trust of its registry."""
    timeout = parse_duration(scan_timeout, "--scan-timeout") if scan_timeout else None
    view = Runtime.from_env().harbor_registrations.edit(
        name,
        auth_scheme=_auth(auth),
        scan_timeout_seconds=float(timeout) if timeout else None,
        insecure=insecure,
        ca_pem=read_ca(ca_file),
        registry_hosts=registry_host,
        actor=Actor.cli(),
    )
    if as_json:
        print_json(view)
        return
    console.print(f"updated {view.name}")


@app.command("list")
@handle_errors
def list_(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The registrations (never their keys)."""
    views = Runtime.from_env().harbor_registrations.list_all()
    if as_json:
        print_json(views)
        return
    table = Table("name", "key", "auth", "scan timeout", "registry hosts", "integration", "last scan", "last refused")
    for v in views:
        table.add_row(
            v.name,
            f"rsh_{v.key_prefix}_…",
            v.auth_scheme,
            f"{v.scan_timeout_seconds / 60:g} min",
            ", ".join(v.registry_hosts) or "any",
            v.integration or "— (created by the first scan)",
            v.last_scan_at.strftime("%Y-%m-%d %H:%M") if v.last_scan_at else "—",
            v.last_auth_failure_at.strftime("%Y-%m-%d %H:%M") if v.last_auth_failure_at else "—",
        )
    console.print(table)


@app.command("remove")
@handle_errors
def remove(name: str) -> None:
    """Remove a registration: its key stops working; its integration and results stay."""
    Runtime.from_env().harbor_registrations.remove(name, actor=Actor.cli())
    console.print(f"removed {name}")

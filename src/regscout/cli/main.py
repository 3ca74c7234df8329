"""The `regscout` command."""

from __future__ import annotations

import gc
import os
import sys
from typing import Annotated

import typer

from .. import __version__
from . import (
    accept,
    audit,
    db,
    harbor,
    image_group,
    images,
    jobs,
    policy,
    registry,
    results,
    secrets_cmd,
    tokens,
    users,
    worker,
)
from .output import handle_errors

app = typer.Typer(
    help="regscout: watch container image registries.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(registry.app, name="registry")
app.add_typer(tokens.app, name="token")
app.add_typer(harbor.app, name="harbor")
app.add_typer(policy.app, name="policy")
app.add_typer(accept.app, name="accept")
app.add_typer(users.app, name="users")
app.add_typer(audit.app, name="audit")
app.add_typer(secrets_cmd.app, name="secrets")
app.add_typer(db.app, name="db")
app.add_typer(results.app, name="results")
app.command("sbom")(images.sbom_command)
app.command("image-info")(images.image_info_command)
app.add_typer(jobs.app, name="jobs")
app.add_typer(image_group.app, name="image")
app.command("worker")(worker.worker_command)


@app.command()
@handle_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default REGSCOUT_HOST or 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default REGSCOUT_PORT or 8080)")] = None,
) -> None:
    """Run the API server, the scan workers (unless Celery runs them) and the schedules."""
    import uvicorn

    from ..api.app import create_app
    from ..runtime import Runtime, configure_logging
    from .output import err_console

    runtime = Runtime.from_env()
    configure_logging(runtime.settings.log_level)
    admin = runtime.tokens.bootstrap_admin()
    if admin is not None:
        err_console.print("[bold]First start:[/] an admin API token was created. It is shown only now:")
        print(admin.reveal(), flush=True)
    password = runtime.users.bootstrap_admin()
    if password is not None:
        err_console.print(
            "[bold]First start:[/] the console user [bold]admin[/] was created. Its password, shown only now:"
        )
        print(password.reveal(), flush=True)
    bind_host = host or runtime.settings.bind_host
    bind_port = port if port is not None else runtime.settings.bind_port
    err_console.print(
        f"regscout {__version__} listening on http://{bind_host}:{bind_port} "
        f"(database {runtime.db.engine.url.render_as_string(hide_password=True)})"
    )
    app = create_app(runtime, background=True)
    # What start-up created lives as long as the server: out of the collector's sight, full collections (one
    # every few requests, up to 0.2 s each on a page of 1,500 findings: bench/console) only walk request garbage.
    gc.freeze()
    uvicorn.run(app, host=bind_host, port=bind_port, log_config=None, access_log=False)


@app.command()
def version() -> None:
    """Print the version."""
    print(__version__)


def main() -> None:
    """The console entry point: an error no command anticipated is still one line on stderr and exit 1, never a
    traceback (REGSCOUT_DEBUG=1 shows it)."""
    try:
        app()
    except Exception as exc:
        if os.environ.get("REGSCOUT_DEBUG") == "1":
            raise
        from rich.markup import escape

        from ..secrets import redact
        from .output import err_console

        err_console.print(
            f"[bold red]error:[/] unexpected {type(exc).__name__}: {escape(redact(str(exc)))} "
            "(REGSCOUT_DEBUG=1 shows where; please report it)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)

"""`regscout registry …`: manage registry integrations."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ..registries.base import MANAGED_BY_OPTION, ConnectionResult, RepositoryListing
from ..registries.types import REGISTRY_TYPES
from ..runtime import Runtime
from ..scanning.syncs import SyncProgress
from ..secrets import Secret
from ..selection import PullSettings
from ..services.audit import Actor
from ..services.integrations import IntegrationChanges, IntegrationInput, IntegrationView
from ..services.sync import SyncPlan
from . import credentials
from .output import STATUS_STYLE, console, err_console, fail, handle_errors, print_json

app = typer.Typer(help="Manage registry integrations.", no_args_is_help=True)
app.add_typer(credentials.app, name="credentials")

TYPES_HELP = "Registry type: " + ", ".join(sorted(REGISTRY_TYPES))
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]
PULL = "Pull settings"


def read_secret(password_stdin: bool, password_env: str | None) -> Secret | None:
    """A password or token never comes from argv (it would show in `ps` and shell history)."""
    if password_stdin and password_env:
        fail("give either --password-stdin or --password-env, not both", 2)
    if password_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            fail("--password-stdin read an empty line", 2)
        return Secret(value)
    if password_env:
        value = os.environ.get(password_env, "")
        if not value:
            fail(f"environment variable {password_env} is empty or not set", 2)
        return Secret(value)
    return None


def parse_options(pairs: list[str] | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--option takes KEY=VALUE, got {pair!r}", 2)
        try:
            options[key] = json.loads(value)
        except ValueError:
            options[key] = [v for v in value.split(",") if v] if key == "repositories" else value
    return options


def read_ca(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text()
    except OSError as exc:
        fail(f"cannot read CA file {path}: {exc.strerror}", 2)


def show_result(result: ConnectionResult) -> None:
    style = STATUS_STYLE.get(result.status.value, "white")
    console.print(f"[{style}]{result.status.value}[/]: {result.message}", highlight=False)
    if result.hint:
        console.print(f"  hint: {result.hint}", highlight=False)
    if result.rights:
        console.print(f"  rights: [bold]{result.rights.verdict.value}[/] — {result.rights.detail}", highlight=False)
        if result.rights.recommendation:
            console.print(f"  recommendation: {result.rights.recommendation}", highlight=False)


def show_integration(view: IntegrationView) -> None:
    table = Table(show_header=False, box=None)
    for key, value in [
        ("name", view.name),
        ("type", view.type),
        ("url", view.url),
        ("description", view.description),
        ("auth", view.auth),
        ("username", view.username or "—"),
        ("credentials", "stored (encrypted)" if view.has_secret else "none"),
        ("tls", "verification OFF (insecure)" if view.tls_insecure else ("custom CA" if view.has_ca else "verified")),
        ("options", json.dumps(view.options) if view.options else "—"),
    ]:
        table.add_row(f"[bold]{key}[/]", str(value))
    if view.connection:
        c = view.connection
        style = STATUS_STYLE.get(c.status, "white")
        table.add_row("[bold]status[/]", f"[{style}]{c.status}[/] ({c.reason}) at {c.checked_at}")
        table.add_row("[bold]message[/]", c.message or "")
        if c.hint:
            table.add_row("[bold]hint[/]", c.hint)
        if c.rights:
            table.add_row("[bold]rights[/]", f"{c.rights}: {c.rights_detail}")
    else:
        table.add_row("[bold]status[/]", "not tested")
    console.print(table)


@app.command("add")
@handle_errors
def add(
    name: Annotated[str, typer.Option(help="Unique name of the integration")],
    type_: Annotated[str, typer.Option("--type", help=TYPES_HELP)],
    url: Annotated[str | None, typer.Option(help="Registry URL, e.g. https://registry.example.com")] = None,
    description: Annotated[str, typer.Option(help="Free text")] = "",
    username: Annotated[str | None, typer.Option(help="Account user name")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password or token from stdin")
    ] = False,
    password_env: Annotated[
        str | None, typer.Option("--password-env", help="Read the password or token from this variable")
    ] = None,
    auth: Annotated[
        str | None, typer.Option(help="anonymous, password or token (default: password when one is given)")
    ] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Do not verify TLS certificates (test registries only)")
    ] = False,
    ca_file: Annotated[
        Path | None, typer.Option("--ca-file", help="PEM bundle of the CA that signed the registry's certificate")
    ] = None,
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="Type option KEY=VALUE (repeatable)")
    ] = None,
    no_test: Annotated[bool, typer.Option("--no-test", help="Save without testing the connection")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Add an integration; the connection is tested first and nothing is saved if it fails."""
    runtime = Runtime.from_env()
    data = IntegrationInput(
        name=name,
        type=type_,
        url=url or "",
        description=description,
        username=username,
        secret=read_secret(password_stdin, password_env),
        auth=auth,  # type: ignore[arg-type]
        insecure=insecure,
        ca_pem=read_ca(ca_file),
        options=parse_options(option),
    )
    if insecure:
        err_console.print("[yellow]warning:[/] TLS verification is off for this registry")
    view, result = asyncio.run(runtime.integrations.add(data, actor=Actor.cli(), test=not no_test))
    if as_json:
        print_json({"integration": view, "test": result})
        return
    console.print(f"added [bold]{view.name}[/] ({view.type}, {view.url})", highlight=False)
    if result:
        show_result(result)


@dataclass
class PullOptions:
    """The `registry edit` options that change only the pull settings; None = not given."""

    mode: str | None = None
    schedule: str | None = None
    timezone: str | None = None
    scan_timeout: float | None = None
    rescan: bool | None = None
    include: list[str] | None = None
    clear_include: bool = False
    created_within: str | None = None
    latest: int | None = None
    no_condition: bool = False
    never: list[str] | None = None
    clear_never: bool = False
    always: list[str] | None = None
    clear_always: bool = False
    platforms: list[str] | None = None
    order_by: str | None = None
    max_concurrency: int | None = None
    requests_per_second: float | None = None
    no_rate_limit: bool = False

    def condition(self) -> dict[str, Any]:
        given = [self.created_within is not None, self.latest is not None, self.no_condition]
        if sum(given) > 1:
            fail("give only one of --created-within, --latest and --no-condition", 2)
        if self.created_within is not None:
            return {"condition": "created_within", "created_within": self.created_within}
        if self.latest is not None:
            return {"condition": "latest", "latest": self.latest}
        return {"condition": "none"} if self.no_condition else {}

    def changes(self, stored: PullSettings) -> dict[str, Any] | None:
        """The changed PullSettings fields; list options add to the stored list unless cleared first."""
        scalars = {
            "mode": self.mode,
            "schedule": self.schedule,
            "timezone": self.timezone,
            "scan_timeout_minutes": self.scan_timeout,
            "rescan": self.rescan,
            "platforms": self.platforms,
            "order_by": self.order_by,
            "max_concurrency": self.max_concurrency,
            "requests_per_second": self.requests_per_second,
        }
        changes: dict[str, Any] = {k: v for k, v in scalars.items() if v is not None}
        if self.no_rate_limit:
            if self.requests_per_second is not None:
                fail("give --requests-per-second or --no-rate-limit, not both", 2)
            changes["requests_per_second"] = None
        changes.update(self.condition())
        for field, added, clear in (
            ("include", self.include, self.clear_include),
            ("never", self.never, self.clear_never),
            ("always", self.always, self.clear_always),
        ):
            if added or clear:
                kept: list[str] = [] if clear else list(getattr(stored, field))
                changes[field] = kept + [p for p in added or [] if p not in kept]
        return changes or None


@app.command("edit")
@handle_errors
def edit(
    name: Annotated[str, typer.Argument(help="Integration to change")],
    new_name: Annotated[str | None, typer.Option("--name", help="Rename")] = None,
    url: Annotated[str | None, typer.Option(help="New registry URL")] = None,
    description: Annotated[str | None, typer.Option(help="New description")] = None,
    username: Annotated[str | None, typer.Option(help="New user name")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Update stored credentials from stdin")
    ] = False,
    password_env: Annotated[
        str | None, typer.Option("--password-env", help="Update stored credentials from this variable")
    ] = None,
    auth: Annotated[str | None, typer.Option(help="anonymous, password or token")] = None,
    insecure: Annotated[
        bool | None, typer.Option("--insecure/--verify-tls", help="Turn TLS verification off or on")
    ] = None,
    ca_file: Annotated[Path | None, typer.Option("--ca-file", help="Replace the CA bundle")] = None,
    clear_ca: Annotated[bool, typer.Option("--clear-ca", help="Remove the stored CA bundle")] = False,
    option: Annotated[list[str] | None, typer.Option("--option", "-o", help="Set type option KEY=VALUE")] = None,
    no_test: Annotated[bool, typer.Option("--no-test", help="Save without testing the connection")] = False,
    pull: Annotated[
        str | None,
        typer.Option("--pull", help="manual or automatic (automatic needs --schedule)", rich_help_panel=PULL),
    ] = None,
    schedule: Annotated[
        str | None, typer.Option(help="Cron expression or interval like 6h", rich_help_panel=PULL)
    ] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA time zone of the schedule", rich_help_panel=PULL)] = None,
    scan_timeout: Annotated[
        float | None,
        typer.Option(
            "--scan-timeout", metavar="MINUTES", help="Per image; fractions allowed (0.5 = 30 s)", rich_help_panel=PULL
        ),
    ] = None,
    rescan: Annotated[
        bool | None, typer.Option("--rescan/--no-rescan", help="Scan unchanged digests again", rich_help_panel=PULL)
    ] = None,
    include: Annotated[
        list[str] | None, typer.Option(metavar="PATTERN", help="Add a criterion (repeatable)", rich_help_panel=PULL)
    ] = None,
    clear_include: Annotated[
        bool, typer.Option("--clear-include", help="Remove the stored criteria first", rich_help_panel=PULL)
    ] = False,
    created_within: Annotated[
        str | None, typer.Option(metavar="N(d|m|y)", help="Only images created within", rich_help_panel=PULL)
    ] = None,
    latest: Annotated[
        int | None, typer.Option(metavar="N", help="Only the N newest tags per repository", rich_help_panel=PULL)
    ] = None,
    no_condition: Annotated[
        bool, typer.Option("--no-condition", help="No additional condition", rich_help_panel=PULL)
    ] = False,
    never: Annotated[
        list[str] | None, typer.Option(metavar="PATTERN", help="Add a never pattern", rich_help_panel=PULL)
    ] = None,
    clear_never: Annotated[
        bool, typer.Option("--clear-never", help="Remove stored never", rich_help_panel=PULL)
    ] = False,
    always: Annotated[
        list[str] | None, typer.Option(metavar="PATTERN", help="Add an always pattern", rich_help_panel=PULL)
    ] = None,
    clear_always: Annotated[
        bool, typer.Option("--clear-always", help="Remove stored always", rich_help_panel=PULL)
    ] = False,
    platform: Annotated[
        list[str] | None, typer.Option(metavar="OS/ARCH", help="Replace the platforms", rich_help_panel=PULL)
    ] = None,
    order_by: Annotated[
        str | None, typer.Option("--order-by", help="created or semver (for --latest)", rich_help_panel=PULL)
    ] = None,
    max_concurrency: Annotated[
        int | None, typer.Option("--max-concurrency", help="Scans of this registry at once", rich_help_panel=PULL)
    ] = None,
    requests_per_second: Annotated[
        float | None,
        typer.Option(
            "--requests-per-second", help="Limit requests to the registry (per process)", rich_help_panel=PULL
        ),
    ] = None,
    no_rate_limit: Annotated[
        bool, typer.Option("--no-rate-limit", help="Remove the request-rate limit", rich_help_panel=PULL)
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Change an integration. Stored credentials are kept unless new ones are given. The connection is
    tested only when more than the pull settings change."""
    runtime = Runtime.from_env()
    pull_options = PullOptions(
        mode=pull,
        schedule=schedule,
        timezone=timezone,
        scan_timeout=scan_timeout,
        rescan=rescan,
        include=include,
        clear_include=clear_include,
        created_within=created_within,
        latest=latest,
        no_condition=no_condition,
        never=never,
        clear_never=clear_never,
        always=always,
        clear_always=clear_always,
        platforms=platform,
        order_by=order_by,
        max_concurrency=max_concurrency,
        requests_per_second=requests_per_second,
        no_rate_limit=no_rate_limit,
    )
    changes = IntegrationChanges(
        description=description,
        url=url,
        username=username,
        secret=read_secret(password_stdin, password_env),
        auth=auth,  # type: ignore[arg-type]
        insecure=insecure,
        ca_pem=read_ca(ca_file),
        clear_ca=clear_ca,
        options=parse_options(option) if option else None,
        new_name=new_name,
        pull=pull_options.changes(runtime.integrations.pull_settings(name)),
    )
    view, result = asyncio.run(runtime.integrations.edit(name, changes, actor=Actor.cli(), test=not no_test))
    if as_json:
        print_json({"integration": view, "test": result})
        return
    console.print(f"updated [bold]{view.name}[/]", highlight=False)
    if result:
        show_result(result)


@app.command("list")
@handle_errors
def list_(as_json: JsonFlag = False) -> None:
    """List integrations with their last connection status."""
    views = Runtime.from_env().integrations.list_all()
    if as_json:
        print_json(views)
        return
    table = Table("name", "type", "url", "status", "rights", "checked")
    for view in views:
        c = view.connection
        status = f"[{STATUS_STYLE.get(c.status, 'white')}]{c.status}[/]" if c else "not tested"
        if not c and view.options.get(MANAGED_BY_OPTION):
            status = f"managed by {view.options[MANAGED_BY_OPTION]}"
        table.add_row(
            view.name,
            view.type,
            view.url,
            status,
            (c.rights or "—") if c else "—",
            c.checked_at.strftime("%Y-%m-%d %H:%M") if c and c.checked_at else "—",
        )
    console.print(table)


@app.command("show")
@handle_errors
def show(name: str, as_json: JsonFlag = False) -> None:
    """Show one integration (credentials are never shown)."""
    view = Runtime.from_env().integrations.get(name)
    if as_json:
        print_json(view)
    else:
        show_integration(view)


@app.command("test")
@handle_errors
def test(name: str, as_json: JsonFlag = False) -> None:
    """Test the connection now and store the result. Exits 4 unless Connected."""
    runtime = Runtime.from_env()
    with err_console.status(f"testing {name}…"):
        result = asyncio.run(runtime.integrations.test(name))
    if as_json:
        print_json(result)
    else:
        show_result(result)
    if result.status.value != "Connected":
        raise typer.Exit(4)


@app.command("delete")
@handle_errors
def delete(name: str, yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask")] = False) -> None:
    """Delete an integration and its stored credentials."""
    runtime = Runtime.from_env()
    runtime.integrations.get(name)
    if not yes and sys.stdin.isatty() and not typer.confirm(f"delete integration {name}?"):
        raise typer.Exit(1)
    runtime.integrations.delete(name, actor=Actor.cli())
    console.print(f"deleted {name}")


@app.command("repos")
@handle_errors
def repos(
    name: str,
    tags: Annotated[
        bool, typer.Option("--tags", help="Also list tags with digest, platforms and created time")
    ] = False,
    repository: Annotated[list[str] | None, typer.Option("--repository", "-r", help="Only these repositories")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Browse the repositories (and tags) the integration can see."""
    runtime = Runtime.from_env()
    with err_console.status(f"listing {name}…"):
        listings = asyncio.run(runtime.integrations.browse(name, with_tags=tags, repositories=repository))
    if as_json:
        print_json(listings)
        return
    show_listings(listings, tags)


def show_listings(listings: list[RepositoryListing], with_tags: bool) -> None:
    if not with_tags:
        for listing in listings:
            console.print(listing.name, highlight=False)
        console.print(f"[dim]{len(listings)} repositories[/]")
        return
    table = Table("repository", "tag", "digest", "platforms", "created", "source")
    count = 0
    for listing in listings:
        for note in listing.notes:
            table.add_row(listing.name, "", f"[dim]{note}[/]", "", "", "")
        if listing.error:
            table.add_row(listing.name, "", f"[red]{listing.error}[/]", "", "", "")
            continue
        for info in listing.tags or []:
            count += 1
            if info.error:
                table.add_row(info.repository, info.tag, f"[red]{info.error}[/]", "", "", "")
                continue
            table.add_row(
                info.repository,
                info.tag,
                (info.digest or "")[:19],
                ", ".join(info.platforms),
                info.created.strftime("%Y-%m-%d %H:%M:%S") if info.created else "—",
                info.created_source or "—",
            )
    console.print(table)
    console.print(
        f"[dim]{len(listings)} repositories, {count} tags; source: build = image config created, "
        "push = registry push time[/]"
    )


@app.command("sync")
@handle_errors
def sync(
    name: str,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show which images the pull settings select")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Follow the queued scans until they end")] = False,
    as_json: JsonFlag = False,
) -> None:
    """List the registry now and queue the images its pull settings select (--dry-run: only show them and why)."""
    runtime = Runtime.from_env()
    runtime.integrations.get(name)
    if dry_run:
        with err_console.status(f"listing {name}…"):
            plan = asyncio.run(runtime.sync.dry_run(name))
        if as_json:
            print_json(plan.to_json())
            return
        show_plan(plan)
        return
    with err_console.status(f"listing {name}…"):
        outcome = asyncio.run(runtime.sync_runner.run(name, "manual"))
    if as_json and not watch:
        print_json(outcome.to_json())
        return
    if not as_json:
        show_decisions(outcome.plan)
        console.print(
            f"sync {outcome.sync_id}: {len(outcome.plan.decisions)} found, {outcome.plan.selected} selected, "
            f"{outcome.queued} queued, {outcome.already_active} already queued or running, {outcome.gone} gone",
            highlight=False,
        )
    if watch:
        progress = watch_sync(runtime, outcome.sync_id, quiet=as_json)
        if as_json:
            print_json(progress.to_json())


def watch_sync(runtime: Runtime, sync_id: int, *, quiet: bool = False) -> SyncProgress:
    """Show done/total with an ETA until every job of the sync has ended; then the failures grouped by reason."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    current = runtime.sync_runner.progress(sync_id)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[eta]}"),
        console=err_console, disable=quiet,
    ) as bar:  # fmt: skip
        task = bar.add_task(f"sync {sync_id}", total=current.total, eta="")
        while current.state == "scanning":
            eta = f"ETA {current.eta_seconds:.0f} s" if current.eta_seconds else ""
            bar.update(task, completed=current.done, total=current.total, eta=eta)
            time.sleep(1)  # a display refresh, not synchronisation
            current = runtime.sync_runner.progress(sync_id)
        bar.update(task, completed=current.done, total=current.total, eta="")
    if not quiet:
        show_progress(current)
    return current


def show_progress(progress: SyncProgress) -> None:
    states = ", ".join(f"{count} {state}" for state, count in progress.by_state.items()) or "no jobs"
    console.print(
        f"sync {progress.sync_id} of {progress.integration} ({progress.trigger}, {progress.state}): "
        f"{progress.done}/{progress.total} done — {states}",
        highlight=False,
    )
    if progress.eta_seconds:
        console.print(f"ETA {progress.eta_seconds:.0f} s", highlight=False)
    if progress.error:
        err_console.print(f"[red]listing failed:[/] {progress.error}", highlight=False)
    for reason, count in progress.failures.items():
        console.print(f"  {count} failed: {reason}", highlight=False)


@app.command("sync-status")
@handle_errors
def sync_status(name: str, as_json: JsonFlag = False) -> None:
    """Progress of the newest sync: jobs done of total, ETA, failures grouped by reason."""
    progress = Runtime.from_env().sync_runner.latest(name)
    if as_json:
        print_json(progress.to_json())
        return
    show_progress(progress)


@app.command("images")
@handle_errors
def images(
    name: str,
    gone: Annotated[bool, typer.Option("--gone", help="Only images no longer in the registry")] = False,
    as_json: JsonFlag = False,
) -> None:
    """The images regscout covers for this integration (seen by a sync or added by hand), present or gone."""
    runtime = Runtime.from_env()
    integration_id, _view = runtime.integrations.identify(name)
    tracked = runtime.tracked.list(integration_id, state="gone" if gone else None)
    if as_json:
        print_json([image.to_json() for image in tracked])
        return
    table = Table("repository", "tag", "digest", "source", "state", "last seen")
    for image in tracked:
        table.add_row(
            image.repository,
            image.tag,
            (image.digest or "—")[:19],
            image.source,
            "[red]gone[/]" if image.state == "gone" else image.state,
            image.last_seen_at.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


def show_plan(plan: SyncPlan) -> None:
    show_decisions(plan)
    console.print(
        f"{len(plan.decisions)} found, {plan.selected} selected (dry run, {plan.settings.mode} mode; "
        "source: build = image config created, push = registry push time)",
        highlight=False,
    )


def show_decisions(plan: SyncPlan) -> None:
    """Every image found: selected or skipped, and the rule that decided it."""
    table = Table("repository", "tag", "digest", "created", "source", "decision", "rule")
    for decision in plan.decisions:
        c = decision.candidate
        table.add_row(
            c.repository,
            c.tag,
            (c.digest or "—")[:19],
            c.created.strftime("%Y-%m-%d %H:%M") if c.created else "—",
            c.created_source or "—",
            "[green]selected[/]" if decision.selected else "skipped",
            decision.rule,
        )
    console.print(table)
    for repository, error in plan.repository_errors.items():
        err_console.print(f"[red]{repository}[/]: {error}", highlight=False)


@app.command("types")
@handle_errors
def types(as_json: JsonFlag = False) -> None:
    """List the registry types and the least rights each needs."""
    from ..services.integrations import registry_types

    entries = registry_types()
    if as_json:
        print_json(entries)
        return
    table = Table("type", "name", "auth", "least rights")
    for entry in entries:
        table.add_row(entry["type"], entry["label"], ", ".join(entry["auth"]), entry["least_rights"])
    console.print(table)


@app.command("import")
@handle_errors
def import_(
    docker_config: Annotated[
        Path | None, typer.Option("--docker-config", help="A Docker config.json (e.g. ~/.docker/config.json)")
    ] = None,
    kube_secret: Annotated[
        Path | None,
        typer.Option(
            "--kube-secret", help="A kubernetes.io/dockerconfigjson Secret manifest (kubectl get secret -o yaml)"
        ),
    ] = None,
    allow_helpers: Annotated[
        bool, typer.Option("--allow-helpers", help="Run the docker-credential-* helpers the config names")
    ] = False,
    prefix: Annotated[str, typer.Option("--prefix", help="Put this before every integration name")] = "",
    no_test: Annotated[bool, typer.Option("--no-test", help="Save without testing")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create one integration per registry host of existing pull credentials, its type recognised from the host
    (docker.io, ghcr.io, quay.io, *.azurecr.io, …); each is tested and saved only when it connects. Exit 4 if
    any host failed."""
    from ..services.importing import RegistryImporter, docker_config_source, kube_secret_sources

    if (docker_config is None) == (kube_secret is None):
        fail("give one of --docker-config FILE and --kube-secret FILE", 2)
    path = docker_config or kube_secret
    assert path is not None
    try:
        text = path.read_text()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}", 2)
    sources = [docker_config_source(text, str(path))] if docker_config else kube_secret_sources(text, str(path))
    runtime = Runtime.from_env()
    results = asyncio.run(
        RegistryImporter(runtime.integrations).run(
            sources, actor=Actor.cli(), allow_helpers=allow_helpers, test=not no_test, prefix=prefix
        )
    )
    if as_json:
        print_json(results)
    else:
        table = Table("host", "type", "integration", "result", "detail")
        style = {"created": "green", "failed": "red", "skipped": "yellow"}
        for result in results:
            detail = result.message
            if result.test is not None and result.test.hint and result.outcome == "failed":
                detail += f" — {result.test.hint}"
            table.add_row(
                result.host, result.type, result.name or "—", f"[{style[result.outcome]}]{result.outcome}[/]", detail
            )
        console.print(table)
    if any(result.outcome == "failed" for result in results):
        raise typer.Exit(4)

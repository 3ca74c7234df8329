"""`regscout jobs list|show|cancel|retry` and `regscout image add`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ..runtime import Runtime
from ..scanning.jobs import Job, image_name
from .output import console, handle_errors, print_json

app = typer.Typer(help="Scan jobs: list, show, cancel, retry.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON")]
STATE_STYLE = {"queued": "cyan", "running": "blue", "succeeded": "green", "failed": "red", "cancelled": "yellow"}


def _when(job: Job) -> str:
    moment = job.finished_at or job.started_at or job.created_at
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _findings(job: Job) -> str:
    counts = (job.summary or {}).get("findings") or {}
    return ", ".join(f"{severity.lower()} {count}" for severity, count in counts.items()) or "—"


@app.command("list")
@handle_errors
def list_jobs(
    state: Annotated[
        list[str] | None, typer.Option("--state", help="queued, running, succeeded, failed, cancelled")
    ] = None,
    registry: Annotated[str | None, typer.Option(help="Only this integration's jobs")] = None,
    sync: Annotated[int | None, typer.Option(help="Only the jobs one sync queued")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Newest first, at most this many")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """List scan jobs, newest first."""
    jobs = Runtime.from_env().jobs.list(states=state or (), integration=registry, sync_id=sync, limit=limit)
    if as_json:
        print_json([job.to_json() for job in jobs])
        return
    table = Table("id", "state", "registry", "image", "platform", "trigger", "attempts", "when", "findings / reason")
    for job in jobs:
        style = STATE_STYLE.get(job.state, "")
        detail = _findings(job) if job.state == "succeeded" else (job.reason or "")
        table.add_row(
            str(job.id),
            f"[{style}]{job.state}[/]",
            job.integration,
            job.image,
            job.platform or "—",
            job.trigger,
            f"{job.attempts}/{job.max_attempts}",
            _when(job),
            detail,
        )
    console.print(table)


@app.command("show")
@handle_errors
def show(job_id: int, as_json: JsonFlag = False) -> None:
    """One job with every attempt: worker, outcome, reason."""
    job = Runtime.from_env().jobs.get(job_id)
    if as_json:
        print_json(job.to_json())
        return
    style = STATE_STYLE.get(job.state, "")
    console.print(f"job {job.id}: [{style}]{job.state}[/] — {job.integration} {job.image} {job.platform}".rstrip())
    console.print(
        f"trigger {job.trigger}; attempts {job.attempts} of {job.max_attempts}; timeout {job.timeout_seconds:g} s"
    )
    if job.reason:
        console.print(f"reason: {job.reason}", highlight=False)
    if job.result_digest:
        console.print(f"result: {job.result_digest} ({_findings(job)})")
    table = Table("attempt", "worker", "started", "finished", "outcome", "reason")
    for attempt in job.history:
        table.add_row(
            str(attempt.attempt),
            attempt.worker,
            attempt.started_at.strftime("%H:%M:%S"),
            attempt.finished_at.strftime("%H:%M:%S") if attempt.finished_at else "—",
            attempt.outcome or "running",
            attempt.reason or "",
        )
    if job.history:
        console.print(table)


@app.command("cancel")
@handle_errors
def cancel(job_id: int, as_json: JsonFlag = False) -> None:
    """Cancel a queued job, or stop a running one at its worker's next heartbeat."""
    job = Runtime.from_env().jobs.cancel(job_id)
    if as_json:
        print_json(job.to_json())
        return
    what = "cancelled" if job.state == "cancelled" else "asked its worker to stop"
    console.print(f"job {job.id} ({job.image}): {what}")


@app.command("retry")
@handle_errors
def retry(job_id: int, as_json: JsonFlag = False) -> None:
    """Queue a failed or cancelled job again."""
    runtime = Runtime.from_env()
    job = runtime.jobs.retry(job_id)
    runtime.notify_workers()
    if as_json:
        print_json(job.to_json())
        return
    console.print(f"job {job.id} ({job.image}) queued again")


def add_image(
    registry: Annotated[str, typer.Argument(help="The integration's name")],
    image: Annotated[str, typer.Argument(help="REPO[:TAG] or REPO@sha256:…")],
    platform: Annotated[
        list[str] | None,
        typer.Option("--platform", metavar="OS/ARCH", help="Scan these platforms of a multi-arch image"),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Queue an image of an integrated registry for scanning now."""
    runtime = Runtime.from_env()
    added = runtime.manual.add(registry, image, trigger="manual", platforms=platform or ())
    if as_json:
        print_json(
            {
                "integration": added.integration,
                "repository": added.repository,
                "reference": added.reference,
                "jobs": [{"id": e.job_id, "created": e.created} for e in added.jobs],
            }
        )
        return
    image = image_name(added.repository, added.reference)
    for enqueued in added.jobs:
        state = "queued" if enqueued.created else "already queued or running"
        console.print(f"job {enqueued.job_id}: {image} {state}", highlight=False)
    if runtime.job_config.executor == "local":
        console.print("regscout serve runs it; follow it with: regscout jobs show ID", style="dim")

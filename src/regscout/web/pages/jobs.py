"""The console's jobs pages: the queue and history (filtered, paged, refreshing itself while a shown job is queued
or running), and one job with every attempt, cancel and retry."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...scanning.jobs import ACTIVE, STATES, TRIGGERS, Job, JobError, JobNotFound
from ...services.console_ops import PER_PAGE, ConsoleJobs, JobFilter, JobPage
from ..auth import User, principal_of, runtime_of
from ..templating import render

router = APIRouter()

REFRESH_SECONDS = 2
# What a finished action says on the job's page (fixed texts: nothing from the query string is shown as is).
NOTICES = {
    "cancelled": "The job was cancelled.",
    "stopping": "Its worker was asked to stop the job; it stops at its next heartbeat.",
    "retried": "The job was queued again.",
}


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def blank_to_none(value: str | None) -> str | None:
    stripped = (value or "").strip()
    return stripped or None


def needs_refresh(jobs: Iterable[Job]) -> bool:
    """Whether the shown jobs can still change by themselves (one is queued or running)."""
    return any(job.state in ACTIVE for job in jobs)


def can_cancel(job: Job) -> bool:
    """A queued job, or a running one whose worker was not asked to stop yet."""
    return job.state == "queued" or (job.state == "running" and not job.cancel_requested)


def can_retry(job: Job) -> bool:
    """A failed or cancelled scan whose integration still exists (JobStore.retry's own rule)."""
    return job.kind == "scan" and job.state in ("failed", "cancelled") and job.integration_id is not None


def findings_text(job: Job) -> str:
    """`critical 1, high 2` from the job's summary; empty when it has none."""
    counts = (job.summary or {}).get("findings") or {}
    if not isinstance(counts, Mapping):
        return ""
    return ", ".join(f"{str(level).lower()} {n}" for level, n in counts.items() if n)


def rematch_text(job: Job) -> str:
    """What a re-match of stored results after a data update changed."""
    summary = job.summary or {}
    images = summary.get("images_changed", 0)
    return f"{images} image{'' if images == 1 else 's'} changed"


def moment(value: datetime | None) -> str:
    """A UTC time to the second (`2026-12-04 10:15:03 UTC`): attempts are seconds apart."""
    return "—" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else "", f"{rest} s" if rest else ""]
    return " ".join(part for part in parts if part)


def next_attempt_text(at: datetime | None, now: datetime | None = None) -> str:
    """When a queued job may run next: `as soon as a worker is free`, or the time a failed attempt backs off to."""
    if at is None:
        return ""
    if at <= (now or datetime.now(UTC)):
        return "as soon as a worker is free"
    return f"not before {moment(at)}"


def page_number(text: str | None) -> int:
    """`?page=` as a number of 1 or more; anything else is the first page (a bookmark never gets an error)."""
    stripped = (text or "").strip()
    return max(int(stripped), 1) if stripped.isdigit() else 1


def job_number(text: str) -> int | None:
    """A job id from the path; None when it is not one (the page then says there is no such job)."""
    return int(text) if text.isdigit() and len(text) < 19 else None


def filter_params(filters: JobFilter) -> dict[str, Any]:
    return {"state": filters.state, "registry": filters.registry, "trigger": filters.trigger}


def _empty_page() -> JobPage:
    return JobPage([], 0, 1, PER_PAGE)


@router.get("/jobs", response_class=HTMLResponse, include_in_schema=False)
def jobs_list(
    request: Request,
    user: User,
    state: str | None = None,
    registry: str | None = None,
    trigger: str | None = None,
    page: str | None = None,
) -> HTMLResponse:
    runtime = runtime_of(request)
    console_jobs = ConsoleJobs(runtime.db)
    filters = JobFilter(blank_to_none(state), blank_to_none(registry), blank_to_none(trigger))
    message = None
    try:
        listing = console_jobs.page(filters, page_number(page), visible=principal_of(request, user))
    except JobError as exc:
        message, listing = str(exc), _empty_page()
    context: dict[str, Any] = {
        "listing": listing,
        "filters": filters,
        "params": filter_params(filters),
        "refresh": needs_refresh(listing.jobs),
        "refresh_seconds": REFRESH_SECONDS,
        "findings_text": findings_text,
        "rematch_text": rematch_text,
        "moment": moment,
        "message": message,
        "counts": runtime.jobs.counts(),
        "states": STATES,
    }
    if is_htmx(request):
        return render(request, "jobs/_table.html", user, section="jobs", **context)
    return render(
        request,
        "jobs/list.html",
        user,
        section="jobs",
        status_code=422 if message else 200,
        registries=console_jobs.registries(),
        triggers=TRIGGERS,
        **context,
    )


def _detail(
    request: Request, user: User, job: Job, *, done: str | None = None, message: str | None = None, code: int = 200
) -> HTMLResponse:
    known = done if done in NOTICES else None
    next_at = ConsoleJobs(runtime_of(request).db).next_attempt_at(job.id) if job.state == "queued" else None
    context: dict[str, Any] = {
        "next_attempt": next_attempt_text(next_at),
        "job": job,
        "refresh": needs_refresh([job]),
        "refresh_seconds": REFRESH_SECONDS,
        "can_cancel": can_cancel(job),
        "can_retry": can_retry(job),
        "findings": findings_text(job),
        "rematch": rematch_text(job) if job.kind == "rematch" else "",
        "duration": duration_text(job.duration_seconds),
        "moment": moment,
        "duration_text": duration_text,
        "done": known,
        "notice": NOTICES.get(known or ""),
        "message": message,
    }
    template = "jobs/_detail.html" if is_htmx(request) else "jobs/detail.html"
    return render(request, template, user, section="jobs", status_code=code, title=f"Job {job.id}", **context)


def _not_found(request: Request, user: User, exc: JobNotFound) -> HTMLResponse:
    return render(request, "error.html", user, section="jobs", status_code=404, title="No such job", message=str(exc))


def _no_number(request: Request, user: User, text: str) -> HTMLResponse:
    return _not_found(request, user, JobNotFound(f"there is no job {text!r}: a job is known by its number"))


@router.get("/jobs/{job_id}", response_class=HTMLResponse, include_in_schema=False)
def job_detail(request: Request, user: User, job_id: str, done: str | None = None) -> HTMLResponse:
    number = job_number(job_id)
    if number is None:
        return _no_number(request, user, job_id)
    try:
        job = runtime_of(request).jobs.get(number)
    except JobNotFound as exc:
        return _not_found(request, user, exc)
    return _detail(request, user, job, done=done)


def _after_action(request: Request, user: User, job_text: str, action: str) -> Response:
    job_id = job_number(job_text)
    if job_id is None:
        return _no_number(request, user, job_text)
    runtime = runtime_of(request)
    try:
        if action == "cancel":
            job = runtime.jobs.cancel(job_id, f"cancelled by {user.username}")
            done = "cancelled" if job.state == "cancelled" else "stopping"
        else:
            runtime.jobs.retry(job_id)
            runtime.notify_workers()
            done = "retried"
    except JobNotFound as exc:
        return _not_found(request, user, exc)
    except JobError as exc:
        try:
            current = runtime.jobs.get(job_id)
        except JobNotFound as missing:
            return _not_found(request, user, missing)
        return _detail(request, user, current, message=str(exc), code=409)
    return RedirectResponse(f"/jobs/{job_id}?done={done}", status_code=303)


@router.post("/jobs/{job_id}/cancel", include_in_schema=False)
def cancel_job(request: Request, user: User, job_id: str) -> Response:
    return _after_action(request, user, job_id, "cancel")


@router.post("/jobs/{job_id}/retry", include_in_schema=False)
def retry_job(request: Request, user: User, job_id: str) -> Response:
    return _after_action(request, user, job_id, "retry")

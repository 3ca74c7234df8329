"""The console's vulnerability-data page: sources with their record counts, last update and its outcome, the next
scheduled update, records per ecosystem; "Update now" and "Import a file", both run in the background and followed
by htmx polling until their outcome shows."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...services.console_ops import (
    DataTask,
    DataTaskBusy,
    DataTasks,
    UploadError,
    is_upload_location,
    save_upload,
    without_upload_paths,
)
from ...vulndb.errors import SourceConfigError
from ...vulndb.reports import DBStatus, SourceStatus
from ...vulndb.sources import check_name
from ..auth import User, actor_of, runtime_of
from ..templating import render
from .jobs import REFRESH_SECONDS, duration_text, is_htmx, moment

router = APIRouter()

# How long a POST waits for its task before answering "running": a small import then shows its outcome at once.
ANSWER_WITHIN_SECONDS = 1.0
_TASKS_LOCK = threading.Lock()
UPLOAD_ACCEPT = ".zip,.json,.tar,.tar.gz,.tgz"


def data_tasks(request: Request) -> DataTasks:
    """The server's one runner of console updates and imports (kept on the application)."""
    state = request.app.state
    with _TASKS_LOCK:
        tasks: DataTasks | None = getattr(state, "console_data_tasks", None)
        if tasks is None:
            tasks = DataTasks(runtime_of(request).vulndb)
            state.console_data_tasks = tasks
    return tasks


def source_location(source: SourceStatus) -> str:
    """Where a source's records came from; a console upload's temporary file (removed after its import) is named
    as the upload it was."""
    if is_upload_location(source.url):
        return f"uploaded file {Path(source.url).name}"
    return source.url


def source_outcome(source: SourceStatus) -> str:
    """The last update's outcome: `failed` when the last attempt failed (the previous data keeps serving)."""
    if source.last_error:
        return "failed"
    if source.last_success_at is not None:
        return "ok"
    return "never updated"


def interval_text(seconds: int) -> str:
    if seconds <= 0:
        return "off"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"every {seconds // size} {unit}"
    return f"every {seconds} s"


def next_update_text(source: SourceStatus, interval: int) -> str:
    if not source.configured:
        return "not scheduled (imported source)"
    if interval <= 0 or source.next_update_at is None:
        return "off (no scheduled updates)"
    return moment(source.next_update_at)


def total_records(report: DBStatus) -> int:
    return sum(source.record_count for source in report.sources)


def task_headline(task: DataTask) -> str:
    """One sentence on how a console update or import went."""
    what = f"The {task.kind} of {task.what}"
    if task.running:
        return f"{what} is running since {moment(task.started_at)}; its outcome shows here when it ends."
    if task.error:
        return f"{what} failed: {without_upload_paths(task.error)}"
    failed = len(task.failed)
    ok = len(task.results) - failed
    ended = f"{what} ended at {moment(task.finished_at)}"
    if not failed:
        return f"{ended}: {ok} source{'' if ok == 1 else 's'} ok."
    return f"{ended}: {ok} ok, {failed} failed. A failed source keeps serving its previous data."


def _context(request: Request, message: str | None = None) -> dict[str, Any]:
    runtime = runtime_of(request)
    report = runtime.vulndb.status()
    return {
        "report": report,
        "task": data_tasks(request).current(),
        "message": message,
        "total": total_records(report),
        "configured": [source.name for source in report.sources if source.configured],
        "interval": interval_text(report.update_interval_seconds),
        "refresh_seconds": REFRESH_SECONDS,
        "source_location": source_location,
        "source_outcome": source_outcome,
        "next_update_text": next_update_text,
        "task_headline": task_headline,
        "tidy": without_upload_paths,
        "moment": moment,
        "duration_text": duration_text,
        "accept": UPLOAD_ACCEPT,
    }


def _page(request: Request, user: User, message: str | None = None, code: int = 200) -> HTMLResponse:
    return render(
        request, "vulndb/index.html", user, section="vulndb", status_code=code, oob=False, **_context(request, message)
    )


def _fragment(request: Request, user: User, message: str | None = None) -> HTMLResponse:
    """The task's status, and out of band the sources and ecosystems as they are now (htmx swaps all three)."""
    return render(request, "vulndb/_task.html", user, section="vulndb", oob=True, **_context(request, message))


def _answer(request: Request, user: User, task: DataTask | None, message: str | None, code: int) -> Response:
    if task is not None:
        task.wait(ANSWER_WITHIN_SECONDS)
    if is_htmx(request):
        return _fragment(request, user, message)
    if message:
        return _page(request, user, message, code)
    return RedirectResponse("/vulndb", status_code=303)


@router.get("/vulndb", response_class=HTMLResponse, include_in_schema=False)
def vulndb_page(request: Request, user: User) -> HTMLResponse:
    return _page(request, user)


@router.get("/vulndb/task", include_in_schema=False)
def vulndb_task(request: Request, user: User) -> Response:
    if not is_htmx(request):
        return RedirectResponse("/vulndb", status_code=303)
    return _fragment(request, user)


@router.post("/vulndb/update", include_in_schema=False)
def update_now(request: Request, user: User, source: Annotated[str, Form()] = "") -> Response:
    runtime = runtime_of(request)
    name = source.strip()
    if name and runtime.vulndb.config.source(name) is None:
        return _answer(request, user, None, f"{name!r} is not a configured source", 422)
    try:
        task = data_tasks(request).update([name] if name else None)
    except DataTaskBusy as exc:
        return _answer(request, user, None, str(exc), 409)
    return _answer(request, user, task, None, 200)


@router.post("/vulndb/import", include_in_schema=False)
def import_file(
    request: Request,
    user: User,
    file: Annotated[UploadFile | None, File()] = None,
    source: Annotated[str, Form()] = "",
) -> Response:
    runtime = runtime_of(request)
    name = source.strip()
    try:
        if not name:
            raise UploadError("name the source this file replaces (for example debian, or a name of your own)")
        check_name(name)
        if file is None or not file.filename:
            raise UploadError("choose a file to import")
        upload = save_upload(file.file, file.filename, runtime.vulndb.config.max_download_bytes)
    except (UploadError, SourceConfigError) as exc:
        return _answer(request, user, None, str(exc), 422)
    finally:
        if file is not None:
            file.file.close()
    try:
        task = data_tasks(request).import_upload(upload, name, actor_of(request, user))
    except DataTaskBusy as exc:
        return _answer(request, user, None, str(exc), 409)
    return _answer(request, user, task, None, 200)

"""The console's audit log page: every change with who made it, when and from where, filtered and paged newest
first, and the matching events as a JSON lines download."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ...api.audit import json_lines_download
from ...services.audit import ACTIONS, AuditEntry, filters_from_text
from ..auth import User, runtime_of
from ..templating import render
from .jobs import moment

router = APIRouter()
PER_PAGE = 50


def page_start(text: str | None) -> int | None:
    """`?before=` as an event id; anything else is the newest page (a bookmark never gets an error)."""
    stripped = (text or "").strip()
    return int(stripped) if stripped.isdigit() and len(stripped) < 19 else None


@router.get("/audit", response_class=HTMLResponse, include_in_schema=False)
def audit_page(
    request: Request,
    user: User,
    actor: str = "",
    action: str = "",
    target: str = "",
    since: str = "",
    until: str = "",
    before: str | None = None,
) -> HTMLResponse:
    params = {"actor": actor, "action": action, "target": target, "since": since, "until": until}
    entries: list[AuditEntry] = []
    message = None
    try:
        filters = filters_from_text(**params)
    except ValueError as exc:
        message = str(exc)
    else:
        entries = runtime_of(request).audit.list(**filters, limit=PER_PAGE + 1, before_id=page_start(before))
    return render(
        request,
        "audit/list.html",
        user,
        section="audit",
        status_code=422 if message else 200,
        entries=entries[:PER_PAGE],
        older=entries[PER_PAGE - 1].id if len(entries) > PER_PAGE else None,
        paged=page_start(before) is not None,
        params=params,
        actions=ACTIONS,
        message=message,
        moment=moment,
    )


@router.get("/audit/export", include_in_schema=False)
def audit_export(
    request: Request,
    user: User,
    actor: str = "",
    action: str = "",
    target: str = "",
    since: str = "",
    until: str = "",
) -> Response:
    """The matching events as JSON lines, oldest first (what `regscout audit list --format jsonl` writes)."""
    try:
        filters = filters_from_text(actor=actor, action=action, target=target, since=since, until=until)
    except ValueError as exc:
        return render(request, "error.html", user, section="audit", status_code=422, title="Bad time", message=str(exc))
    return json_lines_download(runtime_of(request).audit.iter_jsonl(**filters))

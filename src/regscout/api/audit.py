"""/api/v1/audit: the audit log, newest first in pages, or every matching event as JSON lines."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import StreamingResponse

from ..services.audit import MAX_LIMIT, AuditEntry, AuditFilters, filters_from_text
from .deps import RuntimeDep, TokenDep

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
JSON_LINES = "application/x-ndjson"


def audit_filters(
    actor: Annotated[str | None, Query(description="Only this actor's changes (user, token or OS user name)")] = None,
    action: Annotated[str | None, Query(description="An action, or the start of one: `policy.`")] = None,
    target: Annotated[str | None, Query(description="Only changes of this integration, token, user, …")] = None,
    since: Annotated[str | None, Query(description="From this ISO 8601 date or date-time on (UTC by default)")] = None,
    until: Annotated[str | None, Query(description="Before this date-time; a date alone includes that day")] = None,
) -> AuditFilters:
    try:
        return filters_from_text(actor=actor, action=action, target=target, since=since, until=until)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


FiltersDep = Annotated[AuditFilters, Depends(audit_filters)]


@router.get("")
def list_events(
    rt: RuntimeDep,
    _: TokenDep,
    filters: FiltersDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    before_id: Annotated[int | None, Query(description="The next page: the id of the last event of this one")] = None,
) -> list[AuditEntry]:
    """The matching events, newest first."""
    return rt.audit.list(**filters, limit=limit, before_id=before_id)


@router.get("/export", response_class=StreamingResponse, responses={200: {"content": {JSON_LINES: {}}}})
def export_events(rt: RuntimeDep, _: TokenDep, filters: FiltersDep) -> StreamingResponse:
    """Every matching event as one JSON object a line, oldest first, streamed."""
    return json_lines_download(rt.audit.iter_jsonl(**filters))


def json_lines_download(lines: Iterator[str]) -> StreamingResponse:
    return StreamingResponse(
        lines, media_type=JSON_LINES, headers={"Content-Disposition": 'attachment; filename="regscout-audit.jsonl"'}
    )

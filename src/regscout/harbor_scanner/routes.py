"""The pluggable scanner API that Harbor calls, under a configurable prefix: {prefix}/api/v1/metadata, /scan and
/scan/{id}/report. Every error is the scanner API's envelope with its own media type, so Harbor's log shows it."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, ParamSpec

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from ..api.deps import client_address
from ..runtime import Runtime
from . import mime
from .registrations import API_KEY_HEADER, Caller
from .request import ScanRequestError, parse_scan_request

log = logging.getLogger(__name__)
P = ParamSpec("P")


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps({"error": {"message": message}})
    return Response(body, status_code=status, media_type=mime.ERROR, headers=headers)


def _json(status: int, document: Any, media_type: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(document, separators=(",", ":")), status_code=status, media_type=media_type, headers=headers
    )


def enveloped(handler: Callable[P, Awaitable[Response]]) -> Callable[P, Awaitable[Response]]:
    """Whatever fails inside a handler is a 500 in the envelope, never FastAPI's own error body."""

    @functools.wraps(handler)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        try:
            return await handler(*args, **kwargs)
        except Exception:
            log.exception("Harbor scanner API: %s failed", handler.__name__)
            return error(500, f"regscout failed to answer {handler.__name__}; its log has the details")

    return wrapper


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _caller(request: Request) -> Caller | Response:
    runtime = _runtime(request)
    found = await run_in_threadpool(
        runtime.harbor_registrations.authenticate,
        request.headers.get("authorization"),
        request.headers.get(API_KEY_HEADER),
    )
    if isinstance(found, str):
        log.warning("Harbor scanner API: refused a call to %s: %s", request.url.path, found)
        return error(401, found, {"WWW-Authenticate": 'Bearer realm="regscout harbor scanner"'})
    return replace(found, address=client_address(request))


def router(prefix: str) -> APIRouter:
    api = APIRouter(prefix=f"{prefix.rstrip('/')}/api/v1", tags=["harbor scanner"], include_in_schema=True)

    @api.get("/metadata", response_class=Response)
    @enveloped
    async def metadata(request: Request) -> Response:
        """The scanner, its capabilities, and the vulnerability data's update times."""
        caller = await _caller(request)
        if isinstance(caller, Response):
            return caller
        document = await run_in_threadpool(_runtime(request).harbor_metadata.document)
        return _json(200, document, mime.METADATA)

    @api.post("/scan", response_class=Response, status_code=202)
    @enveloped
    async def scan(request: Request) -> Response:
        """Accept a scan request: queued in the job queue, answered with its id at once."""
        caller = await _caller(request)
        if isinstance(caller, Response):
            return caller
        body = await request.body()
        try:
            parsed = parse_scan_request(body)
            scan_id = await run_in_threadpool(_runtime(request).harbor_scans.accept, caller, parsed)
        except ScanRequestError as refused:
            return error(refused.status, refused.message)
        except ValueError as refused:  # the registry authorization cannot be used
            return error(422, str(refused))
        _runtime(request).notify_workers()
        return _json(202, {"id": scan_id}, mime.SCAN_RESPONSE)

    @api.get("/scan/{scan_id}/report", response_class=Response)
    @enveloped
    async def report(request: Request, scan_id: str, sbom_media_type: str | None = None) -> Response:
        """The report when ready (200), 302 with Refresh-After while the scan runs, 500 with the reason if it
        failed."""
        caller = await _caller(request)
        if isinstance(caller, Response):
            return caller
        report_type = mime.report_type(request.headers.get("accept"))
        if report_type is None:
            return error(501, f"regscout produces {', '.join(mime.REPORT_TYPES)}, not {request.headers.get('accept')}")
        answer = await run_in_threadpool(
            _runtime(request).harbor_scans.answer, caller, scan_id, report_type, sbom_media_type
        )
        if answer.status == 200:
            return _json(200, answer.report, report_type)
        if answer.status == 302:
            return Response(status_code=302, headers={"Refresh-After": str(answer.refresh_after)})
        return error(answer.status, answer.message)

    return api

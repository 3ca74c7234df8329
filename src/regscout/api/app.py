"""The FastAPI application."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from .. import __version__
from ..access import AccessDenied
from ..analysis.tarwalk import LayerFormatError
from ..harbor_scanner import routes as harbor_scanner
from ..harbor_scanner.metrics import HarborMetrics
from ..harbor_scanner.registrations import RegistrationError, RegistrationNotFound
from ..policy.model import PolicyError
from ..registries.errors import RegistryError
from ..registries.reference import InvalidReference
from ..report.writer import ReportError
from ..runtime import Runtime
from ..scanning.config import worker_name
from ..scanning.jobs import JobError, JobNotFound
from ..scanning.local import LocalExecutor
from ..scanning.manual import NotIntegrated
from ..scanning.metrics import JobMetrics
from ..scanning.syncs import SyncNotFound
from ..secrets import SecretKeyError, redact
from ..services.credential_sets import InvalidCredentialSet
from ..services.integrations import (
    ConnectionTestFailed,
    IntegrationError,
    IntegrationExists,
    IntegrationNotFound,
    InvalidIntegration,
)
from ..services.policies import AcceptanceNotFound, PolicyExists, PolicyNotFound
from ..services.tokens import TokenError
from ..services.verdicts import watch_expiries
from ..vulndb.scheduler import run_periodic_updates
from ..web.console import mount_console
from . import audit, harbor, images, jobs, policies, registries, results, tokens, vulndb

EXPIRY_CHECK_SECONDS = 60.0  # how soon after an acceptance expires its findings count again in stored verdicts
ERROR_STATUS: list[tuple[type[Exception], int]] = [
    (IntegrationNotFound, status.HTTP_404_NOT_FOUND),
    (JobNotFound, status.HTTP_404_NOT_FOUND),
    (SyncNotFound, status.HTTP_404_NOT_FOUND),
    (NotIntegrated, status.HTTP_404_NOT_FOUND),
    (RegistrationNotFound, status.HTTP_404_NOT_FOUND),
    (PolicyNotFound, status.HTTP_404_NOT_FOUND),
    (AcceptanceNotFound, status.HTTP_404_NOT_FOUND),
    (PolicyExists, status.HTTP_409_CONFLICT),
    (PolicyError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (JobError, status.HTTP_409_CONFLICT),
    (IntegrationExists, status.HTTP_409_CONFLICT),
    (InvalidIntegration, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (InvalidCredentialSet, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (RegistrationError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (TokenError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (ConnectionTestFailed, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (InvalidReference, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (LayerFormatError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (IntegrationError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (RegistryError, status.HTTP_502_BAD_GATEWAY),
    (SecretKeyError, status.HTTP_500_INTERNAL_SERVER_ERROR),
]


def problem(
    status_code: int, title: str, detail: Exception | str, type_: str = "about:blank", **extra: str
) -> JSONResponse:
    """An RFC 9457 problem document; `detail` and `error` as every other regscout error body has them."""
    body = {
        "type": type_,
        "title": title,
        "status": status_code,
        "detail": redact(str(detail)),
        "error": type(detail).__name__ if isinstance(detail, Exception) else "InternalError",
        **extra,
    }
    return JSONResponse(body, status_code=status_code, media_type="application/problem+json")


@asynccontextmanager
async def _background(app: FastAPI) -> AsyncIterator[None]:
    """What `regscout serve` runs beside the API: the embedded executor (unless Celery workers run the jobs), the
    pull schedules, periodic vulnerability-data updates (each re-matches stored results), and the check for expired
    risk acceptances (their findings count again in the stored verdicts)."""
    runtime: Runtime = app.state.runtime
    executor = _start_local_executor(runtime)
    interval = runtime.vulndb.config.update_interval
    stop = asyncio.Event()
    tasks = [asyncio.create_task(runtime.scheduler.run_forever(runtime.job_config.scheduler_tick_seconds))]
    # The dashboard's slowest figure, computed before anyone asks for it (then refreshed in the background).
    warm = asyncio.create_task(asyncio.to_thread(runtime.overview.top_vulnerabilities))
    updates = asyncio.create_task(run_periodic_updates(runtime.vulndb, interval, stop)) if interval > 0 else None
    expiries = asyncio.create_task(watch_expiries(runtime.verdicts, runtime.reevaluation, stop, EXPIRY_CHECK_SECONDS))
    try:
        yield
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if updates is not None:
            await updates
        await expiries
        await asyncio.gather(warm, return_exceptions=True)
        if executor is not None:
            runtime.local_executor = None
            await asyncio.to_thread(executor.stop)


def _start_local_executor(runtime: Runtime) -> LocalExecutor | None:
    config = runtime.job_config
    if config.executor != "local":
        return None
    executor = LocalExecutor(
        runtime.jobs,
        runtime.job_scanner(),
        worker_name("serve"),
        workers=config.workers,
        lease_seconds=config.lease_seconds,
        poll_seconds=config.poll_seconds,
    )
    executor.start()
    runtime.local_executor = executor
    return executor


def create_app(runtime: Runtime, *, background: bool = False) -> FastAPI:
    """The API. `background=True` (regscout serve) also runs the scheduled data updates."""
    app = FastAPI(
        lifespan=_background if background else None,
        title="regscout",
        version=__version__,
        description="Watch container image registries. Every /api/v1 route needs a bearer token.",
    )
    app.state.runtime = runtime

    for error_type, code in ERROR_STATUS:

        async def handler(_: Request, exc: Exception, code: int = code) -> JSONResponse:
            body: dict[str, object] = {"detail": redact(str(exc)), "error": type(exc).__name__}
            if isinstance(exc, ConnectionTestFailed):
                body["status"] = exc.result.status.value
                body["reason"] = exc.result.reason
                body["hint"] = exc.result.hint
            return JSONResponse(body, status_code=code)

        app.add_exception_handler(error_type, handler)

    async def report_failed(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ReportError)
        return problem(
            500,
            "The report could not be written",
            exc,
            type_="/problems/report-failed",
            image=exc.image,
            format=exc.format,
        )

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Starlette re-raises after this answer, so the server log gets the traceback; the client gets no internals.
        return problem(500, "Internal Server Error", f"unexpected {type(exc).__name__}; the server log has the details")

    async def access_denied(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AccessDenied)
        code = status.HTTP_404_NOT_FOUND if exc.hidden else status.HTTP_403_FORBIDDEN
        return JSONResponse({"detail": str(exc), "error": "AccessDenied"}, status_code=code)

    app.add_exception_handler(AccessDenied, access_denied)
    app.add_exception_handler(ReportError, report_failed)
    app.add_exception_handler(Exception, unexpected)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    registry = CollectorRegistry()
    registry.register(JobMetrics(runtime.db))
    registry.register(HarborMetrics(runtime.db))

    @app.get("/metrics", tags=["health"], response_class=Response)
    def metrics() -> Response:
        """Prometheus text format: jobs by state, queue depth, scan duration, registry errors by answer."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(registries.router)
    app.include_router(jobs.router)
    app.include_router(tokens.router)
    app.include_router(images.router)
    app.include_router(results.router)
    app.include_router(vulndb.router)
    app.include_router(harbor.router)
    app.include_router(audit.router)
    app.include_router(policies.router)
    app.include_router(harbor_scanner.router(runtime.settings.harbor_prefix))
    mount_console(app)
    return app


def application_routes(app: FastAPI) -> list[tuple[str, str, str]]:
    """Every (method, path, include prefix) the application answers, routers included (for access.ROUTES and its
    test: a route missing from the table is refused)."""
    found: list[tuple[str, str, str]] = []

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            original = getattr(route, "original_router", None)
            if original is not None:
                context = getattr(route, "include_context", None)
                walk(list(original.routes), prefix + (getattr(context, "prefix", "") or ""))
                continue
            methods = getattr(route, "methods", None)
            if methods:
                found.extend((m, prefix + route.path, prefix) for m in sorted(set(methods) - {"HEAD"}))

    walk(list(app.routes), "")
    return found

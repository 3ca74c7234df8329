"""The FastAPI application."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse

from .. import __version__
from ..analysis.tarwalk import LayerFormatError
from ..registries.errors import RegistryError
from ..registries.reference import InvalidReference
from ..runtime import Runtime
from ..secrets import SecretKeyError, redact
from ..services.integrations import (
    ConnectionTestFailed,
    IntegrationError,
    IntegrationExists,
    IntegrationNotFound,
    InvalidIntegration,
)
from ..services.tokens import TokenError
from ..vulndb.scheduler import run_periodic_updates
from . import images, registries, results, tokens, vulndb

ERROR_STATUS: list[tuple[type[Exception], int]] = [
    (IntegrationNotFound, status.HTTP_404_NOT_FOUND),
    (IntegrationExists, status.HTTP_409_CONFLICT),
    (InvalidIntegration, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (TokenError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (ConnectionTestFailed, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (InvalidReference, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (LayerFormatError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (IntegrationError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (RegistryError, status.HTTP_502_BAD_GATEWAY),
    (SecretKeyError, status.HTTP_500_INTERNAL_SERVER_ERROR),
]


@asynccontextmanager
async def _background(app: FastAPI) -> AsyncIterator[None]:
    """The server's own schedule: periodic vulnerability-data updates (each re-matches stored results)."""
    runtime: Runtime = app.state.runtime
    interval = runtime.vulndb.config.update_interval
    stop = asyncio.Event()
    task = asyncio.create_task(run_periodic_updates(runtime.vulndb, interval, stop)) if interval > 0 else None
    try:
        yield
    finally:
        stop.set()
        if task is not None:
            await task


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

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    app.include_router(registries.router)
    app.include_router(tokens.router)
    app.include_router(images.router)
    app.include_router(results.router)
    app.include_router(vulndb.router)
    return app

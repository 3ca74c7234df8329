"""The console's routes on the API's application: sign-in, the pages, and the static files."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from ..services.integrations import IntegrationNotFound
from . import auth
from .pages import acceptances, audit, dashboard, images, jobs, policies, registries, vulndb, vulnerabilities
from .templating import STATIC, check_assets, render

PAGES = (dashboard, registries, images, vulnerabilities, jobs, vulndb, policies, acceptances, audit)


def mount_console(app: FastAPI) -> None:
    check_assets()
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(auth.router)
    for page in PAGES:
        app.include_router(page.router)
    app.add_exception_handler(auth.NotSignedIn, auth.not_signed_in)
    app.add_exception_handler(auth.Forbidden, auth.forbidden)
    api_handler = app.exception_handlers[IntegrationNotFound]
    app.add_exception_handler(IntegrationNotFound, _page_not_found(api_handler))


Handler = Callable[[Request, Exception], Response | Awaitable[Response]]


def _page_not_found(api_handler: Handler) -> Handler:
    """A registry that does not exist: the API's JSON answer on its routes, a console page everywhere else."""

    async def handle(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            answer = api_handler(request, exc)
            return await answer if isinstance(answer, Awaitable) else answer
        user = auth.runtime_of(request).users.session_user(request.cookies.get(auth.SESSION_COOKIE, ""))
        return render(request, "error.html", user, status_code=404, title="No such registry", message=str(exc))

    return handle

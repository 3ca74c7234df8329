"""The console's routes on the API's application: sign-in, the pages, and the static files."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from . import auth
from .pages import dashboard, images, jobs, registries, vulndb, vulnerabilities
from .templating import STATIC, check_assets

PAGES = (dashboard, registries, images, vulnerabilities, jobs, vulndb)


def mount_console(app: FastAPI) -> None:
    check_assets()
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(auth.router)
    for page in PAGES:
        app.include_router(page.router)
    app.add_exception_handler(auth.NotSignedIn, auth.not_signed_in)
    app.add_exception_handler(auth.Forbidden, auth.forbidden)

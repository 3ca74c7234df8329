"""Signing in to the console: the session cookie, the CSRF check on every unsafe request, and the one place that
decides what a role may do (access control adds roles there)."""

from __future__ import annotations

import secrets as pysecrets
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..access import ROLE_PERMISSIONS, AccessDenied, Principal
from ..api.authorization import authorize_route, scopes_of
from ..api.deps import client_address
from ..runtime import Runtime
from ..services.audit import Actor
from ..services.users import SessionUser, same_token
from .templating import SECURITY_HEADERS, render

SESSION_COOKIE = "regscout_session"
LOGIN_CSRF_COOKIE = "regscout_login_csrf"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class NotSignedIn(Exception):
    """No live session: the browser is sent to the sign-in page (htmx: told to go there)."""


class Forbidden(Exception):
    """Not allowed (403), or, for what is out of the user's scopes, not found (404) as if it did not exist."""

    def __init__(self, message: str, status_code: int = 403) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, secure=_secure(request), samesite="lax", path="/")


async def signed_in(request: Request) -> SessionUser:
    """The session's user; for unsafe methods the request must also carry the session's CSRF token."""
    runtime = runtime_of(request)
    user = runtime.users.session_user(request.cookies.get(SESSION_COOKIE, ""))
    if user is None:
        raise NotSignedIn
    if request.method in UNSAFE:
        presented = request.headers.get("x-csrf-token")
        if presented is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            form = await request.form()
            value = form.get("csrf_token")
            presented = value if isinstance(value, str) else None
        if not same_token(user.csrf_token, presented):
            raise Forbidden("the form's security token is missing or out of date: reload the page and try again")
    try:
        authorize_route(request, principal_of(request, user), runtime)
    except AccessDenied as exc:
        raise Forbidden(str(exc), 404 if exc.hidden else 403) from None
    return user


User = Annotated[SessionUser, Depends(signed_in)]


def principal_of(request: Request, user: SessionUser) -> Principal:
    """The signed-in user as access control sees it (what it may do and see)."""
    return Principal("user", user.username, user.role, scopes_of(user.scopes), client_address(request))


def may(user: SessionUser, permission: str) -> bool:
    """Whether to show what needs this permission (the route table decides again when it is used)."""
    return permission in ROLE_PERMISSIONS.get(user.role, frozenset())


def actor_of(request: Request, user: SessionUser) -> Actor:
    """Who a change made in the console is in the audit log as: the signed-in user, from the client's address."""
    return Actor("user", user.username, client_address(request))


def safe_next(target: str | None) -> str:
    """Only a path on this site (never //host or a scheme), so the sign-in page cannot redirect elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


router = APIRouter()


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, next: str = "/", failed: bool = False) -> HTMLResponse:
    token = pysecrets.token_urlsafe(32)
    response = render(
        request, "login.html", None, next=safe_next(next), login_csrf=token, failed=failed, status_code=200
    )
    set_cookie(response, request, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


@router.post("/login", include_in_schema=False)
def login(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    if not same_token(request.cookies.get(LOGIN_CSRF_COOKIE, ""), csrf_token) or not csrf_token:
        raise Forbidden("the sign-in form's security token is missing or out of date: reload the page")
    signed = runtime_of(request).users.sign_in(username, password)
    if signed is None:
        return RedirectResponse(f"/login?failed=1&next={quote(safe_next(next))}", status_code=303)
    session_id, _user = signed
    response = RedirectResponse(safe_next(next), status_code=303)
    set_cookie(response, request, SESSION_COOKIE, session_id)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout", include_in_schema=False)
def logout(request: Request, _user: User) -> Response:
    runtime_of(request).users.sign_out(request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def not_signed_in(request: Request, _exc: Exception) -> Response:
    target = f"/login?next={quote(request.url.path + ('?' + request.url.query if request.url.query else ''))}"
    if request.headers.get("hx-request") == "true":
        return Response(status_code=401, headers={"HX-Redirect": target, **SECURITY_HEADERS})
    return RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)


def forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Forbidden)
    title = "Not found" if exc.status_code == 404 else "Not allowed"
    return render(request, "error.html", None, status_code=exc.status_code, title=title, message=exc.message)

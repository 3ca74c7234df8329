"""Rendering a console page: the Jinja2 environment (autoescaped), its filters, and the headers every page carries."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..access import PUBLIC, ROLE_PERMISSIONS, SIGNED_IN, route_permission
from ..services.users import SessionUser

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
VENDOR = STATIC / "vendor"
VENDOR_FILES = ("htmx.min.js", "uPlot.iife.min.js", "uPlot.min.css")

# Scripts and styles only from this server: no inline script runs, so an injected one cannot either.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

# Severity words and their order; the badge shows the word, so colour is never the only signal.
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "NONE", "UNKNOWN")

NAVIGATION = (
    ("dashboard", "/", "Dashboard"),
    ("registries", "/registries", "Registries"),
    ("images", "/images", "Images"),
    ("vulnerabilities", "/vulnerabilities", "Vulnerabilities"),
    ("jobs", "/jobs", "Jobs"),
    ("vulndb", "/vulndb", "Vulnerability data"),
    ("policies", "/policies", "Policies"),
    ("acceptances", "/acceptances", "Accepted risks"),
    ("audit", "/audit", "Audit"),
)


class ConsoleNotBuilt(RuntimeError):
    pass


def check_assets() -> None:
    missing = [name for name in VENDOR_FILES if not (VENDOR / name).is_file()]
    if missing:
        raise ConsoleNotBuilt(
            f"the console's front-end files are missing ({', '.join(missing)}): run bash scripts/build-web.sh"
        )


def when(value: datetime | None, missing: str = "—") -> str:
    """A UTC time as `2026-12-04 10:15 UTC`."""
    if value is None:
        return missing
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """How long ago, in the largest whole unit: `3 min ago`, `2 h ago`, `5 d ago`."""
    if value is None:
        return "never"
    seconds = ((now or datetime.now(UTC)) - value).total_seconds()
    if seconds < 0:
        return "in the future"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


def severity_class(level: str | None) -> str:
    """The CSS class of a severity badge (the text says the severity; the class only colours it)."""
    word = (level or "UNKNOWN").upper()
    return f"sev sev-{word.lower()}" if word in SEVERITIES else "sev sev-unknown"


def query(params: Mapping[str, Any], **changes: Any) -> str:
    """The query string of the current filters with some changed (None drops one): bookmarkable links."""
    merged = {k: v for k, v in {**params, **changes}.items() if v not in (None, "")}
    return "?" + urlencode(merged, doseq=True) if merged else "?"


def may_read(user: SessionUser | None, href: str) -> bool:
    """Whether the role may open this page (the navigation shows only those)."""
    permission = route_permission("GET", href, "")
    return (
        user is not None
        and permission is not None
        and (permission in (PUBLIC, SIGNED_IN) or permission in ROLE_PERMISSIONS.get(user.role, frozenset()))
    )


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=when, ago=ago, severity_class=severity_class)
    env.globals.update(navigation=NAVIGATION, severities=SEVERITIES, query=query, may_read=may_read)
    return env


ENVIRONMENT = _environment()


def render(
    request: Request,
    template: str,
    user: SessionUser | None,
    *,
    section: str = "",
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page (or, for an htmx request, the fragment the template renders without its layout)."""
    html = ENVIRONMENT.get_template(template).render(
        request=request,
        user=user,
        section=section,
        csrf_token=user.csrf_token if user else "",
        partial=request.headers.get("hx-request") == "true",
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)

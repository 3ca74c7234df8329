"""The console's accepted-risks page: every risk acceptance (a vulnerability accepted for an image, a repository,
a registry or everywhere, with the reason, who and until when), active, expired or revoked; a form to accept one;
revoke. Each change re-evaluates the stored images in the background."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...policy import Acceptance, PolicyError
from ...policy.model import parse_acceptance
from ..auth import User, actor_of, may, runtime_of
from ..templating import SECURITY_HEADERS, render
from .jobs import moment
from .registries import form_fields

router = APIRouter()
WRITE = "acceptances.write"
SCOPES = (
    ("everywhere", "Everywhere"),
    ("registry", "A registry"),
    ("repository", "A repository"),
    ("image", "An image"),
)


def where(acceptance: Acceptance) -> str:
    return {
        "image": f"image {acceptance.digest}",
        "repository": f"{acceptance.registry}/{acceptance.repository}",
        "registry": f"registry {acceptance.registry}",
    }.get(acceptance.scope, "everywhere")


def acceptance_from_form(form: dict[str, str], by: str) -> Acceptance:
    values: dict[str, Any] = {
        "vulnerability": form.get("vulnerability", "").strip(),
        "reason": form.get("reason", "").strip(),
        "scope": form.get("scope", ""),
        "by": by,
        "expires": form.get("expires", "").strip() or None,
    }
    for field in ("registry", "repository", "digest"):
        if form.get(field, "").strip() and field in _FIELDS_OF.get(values["scope"], ()):
            values[field] = form[field].strip()
    return parse_acceptance(values)


_FIELDS_OF = {
    "image": ("digest", "registry", "repository"),
    "repository": ("registry", "repository"),
    "registry": ("registry",),
}


def _page(
    request: Request, user: User, *, form: dict[str, str] | None = None, error: str = "", notice: str = ""
) -> HTMLResponse:
    now = datetime.now(UTC)
    views = runtime_of(request).acceptances.list_all(include_revoked=True)
    return render(
        request,
        "acceptances/list.html",
        user,
        section="acceptances",
        status_code=422 if error else 200,
        views=views,
        now=now,
        where=where,
        moment=moment,
        form=form or {"scope": "repository"},
        scopes=SCOPES,
        error=error,
        notice={"added": "Accepted. The stored images are being evaluated again.", "revoked": "Revoked."}.get(
            notice, ""
        ),
        may_write=may(user, WRITE),
    )


@router.get("/acceptances", response_class=HTMLResponse, include_in_schema=False)
def acceptances_page(request: Request, user: User, notice: str = "") -> HTMLResponse:
    return _page(request, user, notice=notice)


@router.post("/acceptances", include_in_schema=False)
async def add_acceptance(request: Request, user: User) -> Response:
    form = form_fields(await request.form())
    try:
        acceptance = acceptance_from_form(form, user.username)
    except PolicyError as exc:
        return _page(request, user, form=form, error=str(exc))
    runtime = runtime_of(request)
    runtime.acceptances.add(acceptance, actor=actor_of(request, user))
    runtime.reevaluation.request("acceptances")
    return RedirectResponse("/acceptances?notice=added", status_code=303, headers=SECURITY_HEADERS)


@router.post("/acceptances/{ident}/revoke", include_in_schema=False)
def revoke_acceptance(request: Request, user: User, ident: int) -> Response:
    runtime = runtime_of(request)
    runtime.acceptances.revoke(ident, actor=actor_of(request, user))
    runtime.reevaluation.request("acceptances")
    return RedirectResponse("/acceptances?notice=revoked", status_code=303, headers=SECURITY_HEADERS)

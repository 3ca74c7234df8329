"""The console's policies page: every policy in evaluation order with its action, scope, criteria and how many
stored images fail or warn under it; enable, disable, delete; and a policy document (YAML or JSON, as `regscout
policy export` writes) to create or replace policies by name. Each change re-evaluates the stored images in the
background."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...policy import Policy, PolicyError, dump_policies, load_policies
from ..auth import User, actor_of, may, runtime_of
from ..templating import SECURITY_HEADERS, render

router = APIRouter()
WRITE = "policies.write"
NOTICES = {
    "applied": "Saved. The stored images are being evaluated again.",
    "enabled": "Enabled. The stored images are being evaluated under it.",
    "disabled": "Disabled: its verdicts are cleared.",
    "deleted": "Deleted.",
    "defaults": "The shipped policies were added, disabled.",
}


def scope_text(policy: Policy) -> str:
    scope = policy.scope
    parts = [*scope.registries, *scope.repositories, *(f"tag {t}" for t in scope.tags)]
    return ", ".join(parts) or "every image"


def _redirect(notice: str) -> Response:
    return RedirectResponse(f"/policies?notice={notice}", status_code=303, headers=SECURITY_HEADERS)


def _list(request: Request, user: User, *, document: str = "", error: str = "", notice: str = "") -> HTMLResponse:
    runtime = runtime_of(request)
    views = runtime.policies.list_all()
    return render(
        request,
        "policies/list.html",
        user,
        section="policies",
        status_code=422 if error else 200,
        views=views,
        counts=runtime.verdicts.counts(),
        scope_text=scope_text,
        document=document if error else dump_policies([v.policy for v in views]),
        error=error,
        notice=NOTICES.get(notice, ""),
        may_write=may(user, WRITE),
    )


@router.get("/policies", response_class=HTMLResponse, include_in_schema=False)
def policies_page(request: Request, user: User, notice: str = "") -> HTMLResponse:
    return _list(request, user, notice=notice)


@router.post("/policies", include_in_schema=False)
def apply_policies(request: Request, user: User, document: Annotated[str, Form()] = "") -> Response:
    try:
        policies = load_policies(document)
    except PolicyError as exc:
        return _list(request, user, document=document, error=str(exc))
    runtime = runtime_of(request)
    applied = runtime.policies.apply(policies, actor=actor_of(request, user))
    if applied.changed:
        runtime.reevaluation.request("policies", [*applied.created, *applied.updated])
    return _redirect("applied")


@router.post("/policies/defaults", include_in_schema=False)
def add_defaults(request: Request, user: User) -> Response:
    runtime_of(request).policies.install_defaults(actor=actor_of(request, user))
    return _redirect("defaults")


@router.post("/policies/{name}/enable", include_in_schema=False)
def enable(request: Request, user: User, name: str) -> Response:
    return _set_enabled(request, user, name, True)


@router.post("/policies/{name}/disable", include_in_schema=False)
def disable(request: Request, user: User, name: str) -> Response:
    return _set_enabled(request, user, name, False)


def _set_enabled(request: Request, user: User, name: str, enabled: bool) -> Response:
    runtime = runtime_of(request)
    runtime.policies.set_enabled(name, enabled, actor=actor_of(request, user))
    runtime.reevaluation.request("policies", [name])
    return _redirect("enabled" if enabled else "disabled")


@router.post("/policies/{name}/delete", include_in_schema=False)
def delete(request: Request, user: User, name: str) -> Response:
    runtime = runtime_of(request)
    runtime.policies.delete(name, actor=actor_of(request, user))
    runtime.reevaluation.request("policies", [name])
    return _redirect("deleted")

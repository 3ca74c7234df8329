"""/api/v1/policies, /api/v1/acceptances and /api/v1/check (the CI gate). A change to policies or acceptances
starts the re-evaluation of the stored images in the background; its answer does not wait for it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from ..policy.model import parse_acceptance, parse_policy
from .authorization import require_image_in_scope
from .deps import ActorDep, RuntimeDep, TokenDep

router = APIRouter(prefix="/api/v1", tags=["policies"])


@router.get("/policies")
def list_policies(rt: RuntimeDep, _: TokenDep) -> list[dict[str, Any]]:
    counts = rt.verdicts.counts()
    return [{**v.as_json(), "images": counts.get(v.name, {})} for v in rt.policies.list_all()]


@router.get("/policies/{name}")
def get_policy(name: str, rt: RuntimeDep, _: TokenDep) -> dict[str, Any]:
    return rt.policies.get(name).as_json()


@router.post("/policies", status_code=status.HTTP_201_CREATED)
def create_policy(body: dict[str, Any], rt: RuntimeDep, actor: ActorDep) -> dict[str, Any]:
    """A policy document (name, description, enabled, action, scope, criteria), as `regscout policy show -f json`
    prints one."""
    view = rt.policies.create(parse_policy(body), actor=actor)
    rt.reevaluation.request("policies", [view.name])
    return view.as_json()


@router.put("/policies/{name}")
def replace_policy(name: str, body: dict[str, Any], rt: RuntimeDep, actor: ActorDep) -> dict[str, Any]:
    view = rt.policies.replace(name, parse_policy(body), actor=actor)
    rt.reevaluation.request("policies", {name, view.name})
    return view.as_json()


@router.post("/policies/{name}/enable")
def enable_policy(name: str, rt: RuntimeDep, actor: ActorDep) -> dict[str, Any]:
    view = rt.policies.set_enabled(name, True, actor=actor)
    rt.reevaluation.request("policies", [name])
    return view.as_json()


@router.post("/policies/{name}/disable")
def disable_policy(name: str, rt: RuntimeDep, actor: ActorDep) -> dict[str, Any]:
    view = rt.policies.set_enabled(name, False, actor=actor)
    rt.reevaluation.request("policies", [name])
    return view.as_json()


@router.delete("/policies/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_policy(name: str, rt: RuntimeDep, actor: ActorDep) -> None:
    rt.policies.delete(name, actor=actor)
    rt.reevaluation.request("policies", [name])


@router.post("/policies/defaults")
def install_default_policies(rt: RuntimeDep, actor: ActorDep) -> dict[str, list[str]]:
    """Adds the shipped policies (disabled) that are not stored yet."""
    return {"added": rt.policies.install_defaults(actor=actor)}


@router.get("/acceptances")
def list_acceptances(
    rt: RuntimeDep, _: TokenDep, include_revoked: bool = False, vulnerability: str | None = None
) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [
        v.as_json(now) for v in rt.acceptances.list_all(include_revoked=include_revoked, vulnerability=vulnerability)
    ]


@router.get("/acceptances/{ident}")
def get_acceptance(ident: int, rt: RuntimeDep, _: TokenDep) -> dict[str, Any]:
    return rt.acceptances.get(ident).as_json(datetime.now(UTC))


@router.post("/acceptances", status_code=status.HTTP_201_CREATED)
def create_acceptance(body: dict[str, Any], rt: RuntimeDep, actor: ActorDep) -> dict[str, Any]:
    """An acceptance (vulnerability, scope and its registry/repository/digest, reason, expires, purls, paths); ``by``
    defaults to the caller."""
    view = rt.acceptances.add(parse_acceptance({"by": actor.name, **body}), actor=actor)
    rt.reevaluation.request("acceptances")
    return view.as_json(datetime.now(UTC))


@router.delete("/acceptances/{ident}")
def revoke_acceptance(ident: int, rt: RuntimeDep, actor: ActorDep) -> dict[str, Any]:
    view = rt.acceptances.revoke(ident, actor=actor)
    rt.reevaluation.request("acceptances")
    return view.as_json(datetime.now(UTC))


class CheckRequest(BaseModel):
    image: str = Field(min_length=1, max_length=1000, description="An image reference, as `regscout image` takes")
    registry: str | None = Field(None, description="The integration to pull through (else by the image's host)")
    platform: str | None = None
    acceptances: list[dict[str, Any]] = Field(
        default_factory=list, description="The caller's acceptances (its .regscoutignore, VEX), evaluated first"
    )


@router.post("/check")
async def check_image(body: CheckRequest, rt: RuntimeDep, principal: TokenDep) -> dict[str, Any]:
    """Scan the image and evaluate the enabled policies: the check document (outcome pass, warn or fail). The
    answer is 200 whatever the outcome; the CLI turns a fail into exit 1."""
    require_image_in_scope(principal, body.image)
    acceptances = [parse_acceptance(a) for a in body.acceptances]
    return await rt.check.check(body.image, registry=body.registry, platform=body.platform, acceptances=acceptances)

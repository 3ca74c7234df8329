"""/api/v1/registries: the same operations as `regscout registry`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel, Field, SecretStr

from ..jsonable import plain
from ..secrets import Secret
from ..services.images import host_of
from ..services.integrations import IntegrationChanges, IntegrationInput, IntegrationView, registry_types
from .authorization import require_owns_url
from .deps import ActorDep, RuntimeDep, TokenDep

router = APIRouter(prefix="/api/v1", tags=["registries"])


class RegistryCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    type: str
    url: str | None = None
    description: str = ""
    auth: Literal["anonymous", "password", "token"] | None = None
    username: str | None = None
    password: SecretStr | None = Field(default=None, description="Password or token; write-only")
    insecure: bool = False
    ca_pem: str | None = Field(default=None, description="PEM bundle of the CA that signed the registry certificate")
    options: dict[str, Any] = Field(default_factory=dict)


class RegistryUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    url: str | None = None
    description: str | None = None
    auth: Literal["anonymous", "password", "token"] | None = None
    username: str | None = None
    password: SecretStr | None = Field(default=None, description="New password or token; omit to keep the stored one")
    insecure: bool | None = None
    ca_pem: str | None = None
    clear_ca: bool = False
    options: dict[str, Any] | None = None
    pull: dict[str, Any] | None = Field(
        default=None, description="Pull settings to change, merged over the stored ones; alone, no connection test"
    )


def _secret(value: SecretStr | None) -> Secret | None:
    return Secret(value.get_secret_value()) if value is not None else None


@router.get("/registry-types")
def list_types(_: TokenDep) -> list[dict[str, Any]]:
    return registry_types()


@router.get("/registries")
def list_registries(rt: RuntimeDep, principal: TokenDep) -> list[IntegrationView]:
    return [v for v in rt.integrations.list_all() if principal.sees_registry(host_of(v.url))]


@router.post("/registries", status_code=status.HTTP_201_CREATED)
async def create_registry(
    body: RegistryCreate,
    rt: RuntimeDep,
    principal: TokenDep,
    test: Annotated[bool, Query(description="Test the connection before saving")] = True,
) -> dict[str, Any]:
    require_owns_url(principal, body.url or "")
    actor = principal.actor
    data = IntegrationInput(
        name=body.name,
        type=body.type,
        url=body.url or "",
        description=body.description,
        username=body.username,
        secret=_secret(body.password),
        auth=body.auth,
        insecure=body.insecure,
        ca_pem=body.ca_pem,
        options=body.options,
    )
    view, result = await rt.integrations.add(data, actor=actor, test=test)
    return {"integration": plain(view), "test": plain(result)}


@router.get("/registries/{name}")
def get_registry(name: str, rt: RuntimeDep, _: TokenDep) -> IntegrationView:
    return rt.integrations.get(name)


@router.patch("/registries/{name}")
async def update_registry(
    name: str,
    body: RegistryUpdate,
    rt: RuntimeDep,
    actor: ActorDep,
    test: Annotated[bool, Query()] = True,
) -> dict[str, Any]:
    changes = IntegrationChanges(
        description=body.description,
        url=body.url,
        username=body.username,
        secret=_secret(body.password),
        auth=body.auth,
        insecure=body.insecure,
        ca_pem=body.ca_pem,
        clear_ca=body.clear_ca,
        options=body.options,
        new_name=body.name,
        pull=body.pull,
    )
    view, result = await rt.integrations.edit(name, changes, actor=actor, test=test)
    return {"integration": plain(view), "test": plain(result)}


@router.delete("/registries/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_registry(name: str, rt: RuntimeDep, actor: ActorDep) -> Response:
    rt.integrations.delete(name, actor=actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/registries/{name}/test")
async def test_registry(name: str, rt: RuntimeDep, _: TokenDep) -> dict[str, Any]:
    result = await rt.integrations.test(name)
    return dict(plain(result))


@router.get("/registries/{name}/repositories")
async def list_repositories(
    name: str,
    rt: RuntimeDep,
    _: TokenDep,
    tags: Annotated[bool, Query(description="Include tags with digest, platforms and created time")] = False,
    repository: Annotated[list[str] | None, Query(description="Only these repositories")] = None,
) -> list[dict[str, Any]]:
    listings = await rt.integrations.browse(name, with_tags=tags, repositories=repository)
    return list(plain(listings))


@router.get("/registries/{name}/sync")
async def sync_plan(
    name: str,
    rt: RuntimeDep,
    _: TokenDep,
    dry_run: Annotated[bool, Query(description="Only show which images the pull settings select")] = False,
) -> dict[str, Any]:
    rt.integrations.get(name)
    if not dry_run:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "GET shows the plan with dry_run=true; POST /registries/{name}/sync runs a sync and queues the images",
        )
    plan = await rt.sync.dry_run(name)
    return plan.to_json()


@router.post("/registries/{name}/sync", status_code=status.HTTP_202_ACCEPTED)
async def sync_now(name: str, rt: RuntimeDep, _: TokenDep) -> dict[str, Any]:
    """List the registry now and queue what its pull settings select; follow it at .../sync/latest."""
    outcome = await rt.sync_runner.run(name, "api")
    return outcome.to_json()


@router.get("/registries/{name}/sync/latest")
def sync_progress(name: str, rt: RuntimeDep, _: TokenDep) -> dict[str, Any]:
    """The newest sync of the integration: listing, then jobs done of total, ETA, failures by reason."""
    rt.integrations.get(name)
    return rt.sync_runner.latest(name).to_json()


@router.get("/syncs/{sync_id}")
def sync_by_id(sync_id: int, rt: RuntimeDep, _: TokenDep) -> dict[str, Any]:
    return rt.sync_runner.progress(sync_id).to_json()


@router.get("/registries/{name}/images")
def tracked_images(
    name: str,
    rt: RuntimeDep,
    _: TokenDep,
    state: Annotated[Literal["present", "gone"] | None, Query(description="present or gone")] = None,
) -> list[dict[str, Any]]:
    """The images regscout covers for this integration: seen by a sync or added by hand, and whether still there."""
    integration_id, _view = rt.integrations.identify(name)
    return [image.to_json() for image in rt.tracked.list(integration_id, state=state)]


class AddImage(BaseModel):
    image: str = Field(description="REPO[:TAG] or REPO@sha256:…")
    platforms: list[str] = Field(default_factory=list, description="Platforms of a multi-arch image to scan")


@router.post("/registries/{name}/images", status_code=status.HTTP_202_ACCEPTED)
def add_image(name: str, body: AddImage, rt: RuntimeDep, _: TokenDep) -> dict[str, Any]:
    """Queue an image of this integration for scanning now."""
    added = rt.manual.add(name, body.image, trigger="api", platforms=body.platforms)
    return {
        "integration": added.integration,
        "repository": added.repository,
        "reference": added.reference,
        "jobs": [{"id": e.job_id, "created": e.created} for e in added.jobs],
    }


class CredentialSetCreate(BaseModel):
    pattern: str = Field(min_length=1, max_length=300, description="Repositories this set is for: team/*, team/app")
    username: str | None = None
    password: SecretStr = Field(description="Password or token; write-only")


@router.get("/registries/{name}/credentials")
def list_credential_sets(name: str, rt: RuntimeDep, _: TokenDep) -> list[dict[str, Any]]:
    """The credential sets of an integration in match order; secrets are never returned."""
    return list(plain(rt.credential_sets.list(name)))


@router.post("/registries/{name}/credentials", status_code=status.HTTP_201_CREATED)
async def add_credential_set(
    name: str,
    body: CredentialSetCreate,
    rt: RuntimeDep,
    actor: ActorDep,
    test: Annotated[bool, Query(description="Test the set before saving")] = True,
) -> dict[str, Any]:
    secret = Secret(body.password.get_secret_value())
    view, result = await rt.credential_sets.add(name, body.pattern, body.username, secret, actor=actor, test=test)
    return {"credential_set": plain(view), "test": plain(result)}


@router.post("/registries/{name}/credentials/test")
async def test_credential_set(
    name: str, rt: RuntimeDep, _: TokenDep, pattern: Annotated[str, Query(description="The set's pattern")]
) -> dict[str, Any]:
    return dict(plain(await rt.credential_sets.test(name, pattern)))


@router.delete("/registries/{name}/credentials", status_code=status.HTTP_204_NO_CONTENT)
def remove_credential_set(
    name: str, rt: RuntimeDep, actor: ActorDep, pattern: Annotated[str, Query(description="The set's pattern")]
) -> Response:
    rt.credential_sets.remove(name, pattern, actor=actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

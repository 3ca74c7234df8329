"""/api/v1/harbor/registrations: the Harbors that may call regscout's scanner API (their keys shown once)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from ..harbor_scanner.registrations import AuthScheme, RegistrationView
from .deps import ActorDep, RuntimeDep, TokenDep

router = APIRouter(prefix="/api/v1/harbor/registrations", tags=["harbor"])


class RegistrationCreate(BaseModel):
    name: str = Field(min_length=1, max_length=60)
    auth_scheme: AuthScheme = "any"
    scan_timeout_seconds: float = Field(default=1800.0, ge=60, le=86400)
    insecure: bool = False
    ca_pem: str | None = None
    registry_hosts: list[str] = Field(default_factory=list)


class RegistrationEdit(BaseModel):
    auth_scheme: AuthScheme | None = None
    scan_timeout_seconds: float | None = Field(default=None, ge=60, le=86400)
    insecure: bool | None = None
    ca_pem: str | None = None
    registry_hosts: list[str] | None = None


def _with_key(rt: RuntimeDep, view: RegistrationView, key: str) -> dict[str, Any]:
    """The key is in this response only; it is stored hashed."""
    return {
        "registration": view.model_dump(mode="json"),
        "key": key,
        "endpoint_path": rt.settings.harbor_prefix or "/",
    }


@router.get("")
def list_registrations(rt: RuntimeDep, _: TokenDep) -> list[RegistrationView]:
    return rt.harbor_registrations.list_all()


@router.post("", status_code=status.HTTP_201_CREATED)
def add_registration(body: RegistrationCreate, rt: RuntimeDep, actor: ActorDep) -> dict[str, Any]:
    view, key = rt.harbor_registrations.add(
        body.name,
        auth_scheme=body.auth_scheme,
        scan_timeout_seconds=body.scan_timeout_seconds,
        insecure=body.insecure,
        ca_pem=body.ca_pem,
        registry_hosts=body.registry_hosts,
        actor=actor,
    )
    return _with_key(rt, view, key.reveal())


@router.get("/{name}")
def get_registration(name: str, rt: RuntimeDep, _: TokenDep) -> RegistrationView:
    return rt.harbor_registrations.get(name)


@router.patch("/{name}")
def edit_registration(name: str, body: RegistrationEdit, rt: RuntimeDep, actor: ActorDep) -> RegistrationView:
    return rt.harbor_registrations.edit(
        name,
        auth_scheme=body.auth_scheme,
        scan_timeout_seconds=body.scan_timeout_seconds,
        insecure=body.insecure,
        ca_pem=body.ca_pem,
        registry_hosts=body.registry_hosts,
        actor=actor,
    )


@router.post("/{name}/rotate")
def rotate_key(name: str, rt: RuntimeDep, actor: ActorDep) -> dict[str, Any]:
    view, key = rt.harbor_registrations.rotate(name, actor=actor)
    return _with_key(rt, view, key.reveal())


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def remove_registration(name: str, rt: RuntimeDep, actor: ActorDep) -> None:
    rt.harbor_registrations.remove(name, actor=actor)

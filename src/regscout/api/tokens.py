"""/api/v1/tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from ..services.tokens import TokenView
from .deps import ActorDep, RuntimeDep, TokenDep

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)


@router.get("")
def list_tokens(rt: RuntimeDep, _: TokenDep) -> list[TokenView]:
    return rt.tokens.list_all()


@router.post("", status_code=status.HTTP_201_CREATED)
def create_token(body: TokenCreate, rt: RuntimeDep, actor: ActorDep) -> dict[str, Any]:
    """The token value is in this response only; it is stored hashed."""
    view, secret = rt.tokens.create(body.name, actor=actor)
    return {"token": view.model_dump(mode="json"), "secret": secret.reveal()}


@router.delete("/{name}")
def revoke_token(name: str, rt: RuntimeDep, actor: ActorDep) -> TokenView:
    return rt.tokens.revoke(name, actor=actor)

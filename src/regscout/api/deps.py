"""Request dependencies: the runtime and bearer-token authentication."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..access import Principal
from ..runtime import Runtime
from ..services.audit import Actor
from ..services.tokens import TokenView
from .authorization import authorize_route, scopes_of

bearer = HTTPBearer(auto_error=False, description="An API token from `regscout token create`")


def runtime(request: Request) -> Runtime:
    value: Runtime = request.app.state.runtime
    return value


RuntimeDep = Annotated[Runtime, Depends(runtime)]


def principal_of_token(token: TokenView, source: str) -> Principal:
    return Principal("token", token.name, token.role, scopes_of(tuple(token.scopes)), source)


def require_token(
    request: Request, rt: RuntimeDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    """The bearer token's principal, after the route's permission (access.ROUTES) is checked."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    token = rt.tokens.verify(credentials.credentials)
    if token is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "the token is unknown or revoked",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    principal = principal_of_token(token, client_address(request))
    authorize_route(request, principal, rt)
    return principal


TokenDep = Annotated[Principal, Depends(require_token)]


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else ""


def request_actor(principal: TokenDep) -> Actor:
    """Who a change made through the API is in the audit log as: the bearer token, from the client's address."""
    return principal.actor


ActorDep = Annotated[Actor, Depends(request_actor)]

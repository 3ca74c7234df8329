"""Request dependencies: the runtime and bearer-token authentication."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..runtime import Runtime
from ..services.audit import Actor
from ..services.tokens import TokenView

bearer = HTTPBearer(auto_error=False, description="An API token from `regscout token create`")


def runtime(request: Request) -> Runtime:
    value: Runtime = request.app.state.runtime
    return value


RuntimeDep = Annotated[Runtime, Depends(runtime)]


def require_token(
    rt: RuntimeDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> TokenView:
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
    return token


TokenDep = Annotated[TokenView, Depends(require_token)]


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else ""


def request_actor(request: Request, token: TokenDep) -> Actor:
    """Who a change made through the API is in the audit log as: the bearer token, from the client's address."""
    return Actor("token", token.name, client_address(request))


ActorDep = Annotated[Actor, Depends(request_actor)]

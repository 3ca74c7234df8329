"""The one check every API and console request passes: the route's permission from access.ROUTES, for the
principal the request authenticated as. A route missing from the table is refused (fail closed)."""

from __future__ import annotations

import functools

from fastapi import Request

from ..access import AccessDenied, AccessScope, Principal, parse_scopes, route_permission


def route_key(request: Request) -> tuple[str, str]:
    route = request.scope.get("route")
    path = getattr(route, "path", None) or request.url.path  # the template as declared: {name:path}, not {name}
    return request.method, path


def authorize_route(request: Request, principal: Principal, harbor_prefix: str) -> None:
    method, path = route_key(request)
    permission = route_permission(method, path, harbor_prefix)
    if permission is None:
        raise AccessDenied(f"{method} {path} is not in regscout's access table, so nobody may call it")
    principal.require(permission)


@functools.lru_cache(maxsize=1024)
def scopes_of(texts: tuple[str, ...]) -> tuple[AccessScope, ...]:
    """Stored scopes, compiled once per distinct set (they were validated when stored)."""
    return parse_scopes(texts)

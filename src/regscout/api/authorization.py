"""The one check every API and console request passes: the route's permission from access.ROUTES for the principal
the request authenticated as (a route missing from the table is refused: fail closed), then, for a principal limited
by scopes, the object the path names — a registry, a job, a stored image — must be in its scopes: out of them it
answers 404 as if it did not exist; changing a registry needs a scope of the whole registry (403)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from fastapi import Request
from sqlalchemy import select

from ..access import AccessDenied, AccessScope, Principal, parse_scopes, route_permission
from ..registries.reference import parse_reference
from ..services.images import host_of
from ..store.jobs_models import ScanJob
from ..store.models import Integration
from ..store.results_models import ScanResult

if TYPE_CHECKING:
    from ..runtime import Runtime

SAFE = frozenset({"GET", "HEAD"})


def route_key(request: Request) -> tuple[str, str]:
    route = request.scope.get("route")
    path = getattr(route, "path", None) or request.url.path  # the template as declared: {name:path}, not {name}
    return request.method, path


def authorize_route(request: Request, principal: Principal, runtime: Runtime) -> None:
    method, path = route_key(request)
    permission = route_permission(method, path, runtime.settings.harbor_prefix)
    if permission is None:
        raise AccessDenied(f"{method} {path} is not in regscout's access table, so nobody may call it")
    principal.require(permission)
    if not principal.unrestricted:
        _guard_object(request, principal, runtime, path)


def _guard_object(request: Request, principal: Principal, runtime: Runtime, path: str) -> None:
    params = request.path_params
    with runtime.db.session() as session:
        if "name" in params and (path.startswith(("/api/v1/registries/", "/registries/"))):
            url = session.scalar(select(Integration.url).where(Integration.name == params["name"]))
            host = host_of(url) if url is not None else ""
            if url is None or not principal.sees_registry(host):
                raise AccessDenied(f"there is no registry {params['name']!r}", hidden=True)
            if request.method not in SAFE and not _repository_action(path) and not principal.owns_registry(host):
                raise AccessDenied(f"changing registry {params['name']!r} needs a scope of the whole registry {host}")
        if "job_id" in params:
            found = session.execute(
                select(Integration.url, ScanJob.repository)
                .join(Integration, Integration.id == ScanJob.integration_id)
                .where(ScanJob.id == _int(params["job_id"]))
            ).one_or_none()
            if found is None or not principal.sees(host_of(found[0]), found[1]):
                raise AccessDenied(f"there is no job {params['job_id']}", hidden=True)
        if "digest" in params:
            found = session.execute(
                select(ScanResult.registry_host, ScanResult.repository).where(
                    ScanResult.image_digest == params["digest"]
                )
            ).one_or_none()
            if found is None or not principal.sees(found[0], found[1]):
                raise AccessDenied(f"there is no stored image {params['digest']}", hidden=True)


def require_image_in_scope(principal: Principal, ref: str) -> None:
    """Before anything is pulled: the image a scan or check names must be in the principal's scopes."""
    if principal.unrestricted:
        return
    reference = parse_reference(ref)
    principal.require_sees(reference.registry_host, reference.repository, f"the image {ref}")


def require_owns_url(principal: Principal, url: str) -> None:
    """Adding a registry: a scoped principal needs a scope of the whole registry at that URL."""
    if principal.unrestricted:
        return
    host = host_of(url) if url else ""
    if not host or not principal.owns_registry(host):
        raise AccessDenied(f"adding a registry at {url or 'its default URL'} needs a scope of the whole registry")


def _repository_action(path: str) -> bool:
    """Queuing one image of a registry needs only that repository in scope (checked where it is named)."""
    return path.endswith("/images")


def _int(text: str) -> int:
    return int(text) if text.isdigit() and len(text) < 19 else -1


@functools.lru_cache(maxsize=1024)
def scopes_of(texts: tuple[str, ...]) -> tuple[AccessScope, ...]:
    """Stored scopes, compiled once per distinct set (they were validated when stored)."""
    return parse_scopes(texts)

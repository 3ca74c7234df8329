"""Who may do what, in one place: the roles, what each may do, which permission every route needs, and scopes.

- **Roles**: ``admin`` (everything), ``security-officer`` (registries, rules, scans, policies, acceptances, data),
  ``auditor`` (reads everything, changes nothing), ``ci`` (scans and checks only), ``harbor-scanner`` (only the
  Harbor scanner endpoints, which Harbor registrations' own keys call).
- **Permissions**: ``ROUTES`` maps every route of the application (``METHOD /path``) to the permission it needs,
  or to ``PUBLIC`` (no sign-in), ``SIGNED_IN`` (any signed-in user or token) or ``HARBOR`` (the scanner API checks
  its own keys). A route that is not in the table is refused for everyone (tests/integration/test_access_matrix.py
  fails for it), so a new route cannot be forgotten.
- **Scopes**: a user or token may be limited to registries and repositories (``ghcr.io``, ``ghcr.io/team/*``,
  ``*.example.com/**``). What is outside its scopes is not listed, not searched, not counted, and answers 404 as if
  it did not exist. No scope means everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from .policy.patterns import Pattern, registry_matches, registry_pattern, repository_matches, repository_pattern
from .services.audit import Actor

__all__ = [
    "HARBOR",
    "PUBLIC",
    "ROLES",
    "ROLE_PERMISSIONS",
    "ROUTES",
    "SIGNED_IN",
    "AccessDenied",
    "AccessScope",
    "Principal",
    "parse_scope",
    "parse_scopes",
    "route_permission",
]

ADMIN = "admin"
ROLES = (ADMIN, "security-officer", "auditor", "ci", "harbor-scanner")
PUBLIC = "public"
SIGNED_IN = "signed-in"
HARBOR = "harbor"
# The pluggable scanner API's paths under REGSCOUT_HARBOR_PREFIX (exactly these: the prefix may be "", the root).
HARBOR_PATHS = frozenset({"/api/v1/metadata", "/api/v1/scan", "/api/v1/scan/{scan_id}/report"})

READS = frozenset(
    {
        "registries.read",
        "images.read",
        "jobs.read",
        "vulndb.read",
        "policies.read",
        "acceptances.read",
        "audit.read",
        "users.read",
        "tokens.read",
    }
)
WRITES = frozenset(
    {
        "registries.write",  # integrations, credentials, pull rules, credential sets
        "scans.run",  # scan now, queue images, sync, retry and cancel jobs
        "check.run",  # the CI gate
        "policies.write",
        "acceptances.write",
        "vulndb.write",  # update and import vulnerability data
        "users.write",
        "tokens.write",
        "harbor.write",  # Harbor registrations
    }
)
PERMISSIONS = READS | WRITES
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    ADMIN: PERMISSIONS,
    "security-officer": (READS - {"users.read", "tokens.read"})
    | {"registries.write", "scans.run", "check.run", "policies.write", "acceptances.write", "vulndb.write"},
    "auditor": READS,
    "ci": frozenset({"scans.run", "check.run"}),
    "harbor-scanner": frozenset(),
}


class AccessDenied(Exception):
    """The principal may not do this (403); ``hidden`` when the object is out of its scopes (answered as 404)."""

    def __init__(self, message: str, *, hidden: bool = False) -> None:
        super().__init__(message)
        self.hidden = hidden


# ---------------------------------------------------------------------------------------------------- scopes


@dataclass(frozen=True)
class AccessScope:
    text: str
    registry: Pattern
    repository: Pattern | None  # None: every repository of the registry

    def covers(self, registry_host: str, repository: str) -> bool:
        return registry_matches(self.registry, registry_host) and (
            self.repository is None or repository_matches(self.repository, repository, "")
        )

    def names_registry(self, registry_host: str) -> bool:
        return registry_matches(self.registry, registry_host)

    def whole_registry(self, registry_host: str) -> bool:
        return self.repository is None and registry_matches(self.registry, registry_host)


def parse_scope(text: str) -> AccessScope:
    """``HOST`` (a whole registry) or ``HOST/REPOSITORY-PATTERN``; the host may be a pattern (``*.example.com``).
    ValueError with the reason when it is neither."""
    cleaned = text.strip()
    host, _, path = cleaned.partition("/")
    if not host or not ("." in host or ":" in host or host == "localhost" or "*" in host):
        raise ValueError(f"scope {text!r}: start with a registry host (ghcr.io, localhost:5000, *.example.com)")
    try:
        registry = registry_pattern(host)
        repository = repository_pattern(path) if path and path not in ("*", "**") else None
    except ValueError as exc:
        raise ValueError(f"scope {text!r}: {exc}") from None
    return AccessScope(cleaned, registry, repository)


def parse_scopes(texts: Iterable[str]) -> tuple[AccessScope, ...]:
    return tuple(parse_scope(t) for t in texts)


# ---------------------------------------------------------------------------------------------------- principals


@dataclass(frozen=True)
class Principal:
    """A signed-in console user or an API token, with what it may do and see."""

    kind: Literal["user", "token"]
    name: str
    role: str
    scopes: tuple[AccessScope, ...] = ()
    source: str = ""  # the client's address
    permissions: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "permissions", ROLE_PERMISSIONS.get(self.role, frozenset()))

    def allows(self, permission: str) -> bool:
        return permission in (PUBLIC, SIGNED_IN) or permission in self.permissions

    def require(self, permission: str) -> None:
        if not self.allows(permission):
            raise AccessDenied(f"the role {self.role} may not do this ({permission})")

    @property
    def unrestricted(self) -> bool:
        return not self.scopes

    def sees(self, registry_host: str, repository: str) -> bool:
        return self.unrestricted or any(s.covers(registry_host, repository) for s in self.scopes)

    def sees_registry(self, registry_host: str) -> bool:
        """A registry is shown when a scope names it (perhaps only some of its repositories)."""
        return self.unrestricted or any(s.names_registry(registry_host) for s in self.scopes)

    def owns_registry(self, registry_host: str) -> bool:
        """Changing a registry (or syncing all of it) needs a scope of the whole registry."""
        return self.unrestricted or any(s.whole_registry(registry_host) for s in self.scopes)

    def require_sees(self, registry_host: str, repository: str, what: str) -> None:
        if not self.sees(registry_host, repository):
            raise AccessDenied(f"{what} does not exist", hidden=True)

    def visible(self, pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """The (registry host, repository) pairs in scope, of those given."""
        return [p for p in pairs if self.sees(*p)]

    @property
    def actor(self) -> Actor:
        """Who this principal is in the audit log."""
        return Actor(self.kind, self.name, self.source)


# ---------------------------------------------------------------------------------------------------- routes

ROUTES: dict[str, str] = {}


def _routes(permission: str, keys: Sequence[str]) -> None:
    for key in keys:
        if key in ROUTES:
            raise AssertionError(f"{key} is listed twice in access.ROUTES")
        ROUTES[key] = permission


def route_permission(method: str, path: str, harbor_prefix: str) -> str | None:
    """The permission ``METHOD path`` (the route's path template) needs; None when the route is not listed. The
    scanner API under ``harbor_prefix`` checks Harbor's keys itself."""
    if path.startswith(harbor_prefix) and path[len(harbor_prefix) :] in HARBOR_PATHS:
        return HARBOR
    return ROUTES.get(f"{method.upper()} {path}")


_routes(
    PUBLIC,
    [
        "GET /healthz",
        "GET /metrics",  # Prometheus scrapes without a token (counts and integration names, never a secret)
        "GET /login",
        "POST /login",
        "GET /openapi.json",
        "GET /docs",
        "GET /docs/oauth2-redirect",
        "GET /redoc",
    ],
)
_routes(SIGNED_IN, ["POST /logout"])
_routes(
    "registries.read",
    [
        "GET /api/v1/registries",
        "GET /api/v1/registry-types",
        "GET /api/v1/registries/{name}",
        "GET /api/v1/registries/{name}/repositories",
        "GET /api/v1/registries/{name}/images",
        "GET /api/v1/registries/{name}/credentials",
        "GET /api/v1/registries/{name}/sync",
        "GET /api/v1/registries/{name}/sync/latest",
        "GET /api/v1/syncs/{sync_id}",
        "GET /registries",
        "GET /registries/new",
        "GET /registries/{name:path}",
        "GET /registries/{name:path}/edit",
        "GET /registries/{name:path}/delete",
        "GET /registries/{name:path}/pull",
        "POST /registries/{name:path}/pull/preview",
        "GET /registries/{name:path}/sync",
        "GET /registries/{name:path}/syncs/{sync_id:int}",
    ],
)
_routes(
    "registries.write",
    [
        "POST /api/v1/registries",
        "PATCH /api/v1/registries/{name}",
        "DELETE /api/v1/registries/{name}",
        "POST /api/v1/registries/{name}/test",
        "POST /api/v1/registries/{name}/credentials",
        "POST /api/v1/registries/{name}/credentials/test",
        "DELETE /api/v1/registries/{name}/credentials",
        "POST /registries/new",
        "POST /registries/{name:path}/edit",
        "POST /registries/{name:path}/delete",
        "POST /registries/{name:path}/test",
        "POST /registries/{name:path}/pull",
    ],
)
_routes(
    "scans.run",
    [
        "POST /api/v1/scan",
        "POST /api/v1/registries/{name}/images",
        "GET /api/v1/images/inspect",  # these two pull the image from its registry
        "GET /api/v1/images/sbom",
        "POST /api/v1/registries/{name}/sync",
        "POST /api/v1/jobs/{job_id}/retry",
        "POST /api/v1/jobs/{job_id}/cancel",
        "POST /registries/{name:path}/sync",
        "POST /jobs/{job_id}/retry",
        "POST /jobs/{job_id}/cancel",
    ],
)
_routes("check.run", ["POST /api/v1/check"])
_routes(
    "images.read",
    [
        "GET /api/v1/results",
        "GET /api/v1/results/{digest}",
        "GET /api/v1/results/{digest}/changes",
        "GET /",
        "GET /images",
        "GET /images/{digest}",
        "GET /images/{digest}/download/{fmt}",
        "GET /vulnerabilities",
    ],
)
_routes("jobs.read", ["GET /api/v1/jobs", "GET /api/v1/jobs/{job_id}", "GET /jobs", "GET /jobs/{job_id}"])
_routes("vulndb.read", ["GET /api/v1/db/status", "GET /vulndb", "GET /vulndb/task"])
_routes(
    "vulndb.write", ["POST /api/v1/db/update", "POST /api/v1/db/import", "POST /vulndb/update", "POST /vulndb/import"]
)
_routes(
    "policies.read",
    ["GET /api/v1/policies", "GET /api/v1/policies/{name}", "GET /policies"],
)
_routes(
    "policies.write",
    [
        "POST /api/v1/policies",
        "PUT /api/v1/policies/{name}",
        "DELETE /api/v1/policies/{name}",
        "POST /api/v1/policies/{name}/enable",
        "POST /api/v1/policies/{name}/disable",
        "POST /api/v1/policies/defaults",
        "POST /policies",
        "POST /policies/defaults",
        "POST /policies/{name}/enable",
        "POST /policies/{name}/disable",
        "POST /policies/{name}/delete",
    ],
)
_routes("acceptances.read", ["GET /api/v1/acceptances", "GET /api/v1/acceptances/{ident}", "GET /acceptances"])
_routes(
    "acceptances.write",
    [
        "POST /api/v1/acceptances",
        "DELETE /api/v1/acceptances/{ident}",
        "POST /acceptances",
        "POST /acceptances/{ident}/revoke",
    ],
)
_routes("audit.read", ["GET /api/v1/audit", "GET /api/v1/audit/export", "GET /audit", "GET /audit/export"])
_routes("tokens.read", ["GET /api/v1/tokens"])
_routes("tokens.write", ["POST /api/v1/tokens", "DELETE /api/v1/tokens/{name}"])
_routes(
    "harbor.write",
    [
        "GET /api/v1/harbor/registrations",
        "GET /api/v1/harbor/registrations/{name}",
        "POST /api/v1/harbor/registrations",
        "PATCH /api/v1/harbor/registrations/{name}",
        "POST /api/v1/harbor/registrations/{name}/rotate",
        "DELETE /api/v1/harbor/registrations/{name}",
    ],
)

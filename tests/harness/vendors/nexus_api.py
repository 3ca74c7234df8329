"""A Sonatype Nexus Repository REST API stand-in (``/service/rest``), for the ``nexus`` registry type.

Where each behaviour comes from:

* Paths, query parameters, status codes and models: the OpenAPI document Nexus serves at
  ``/service/rest/swagger.json``, as published (converted to OpenAPI 3, Nexus 3.90.1-01) in
  sonatype-nexus-community/nexus-repo-api-client-go ``api/openapi.yaml`` and its model pages ``docs/ComponentXO.md``,
  ``docs/AssetXO.md``, ``docs/ApiUser.md``, ``docs/ApiPrivilegeRepositoryView.md``, ``docs/ApiPrivilegeWildcard.md``,
  ``docs/SecurityManagementRolesAPI.md`` (RoleXOResponse):

  - ``GET /v1/repositories`` → a list of RepositoryXO (``name``, ``format``, ``type``, ``url``, ``attributes``);
  - ``GET /v1/repositories/docker/{hosted|proxy|group}/{repositoryName}`` → DockerHostedApiRepository & co.;
  - ``GET /v1/components?repository=&continuationToken=`` → PageComponentXO (``items``, ``continuationToken``),
    403 "Insufficient permissions to list components", 422 "Parameter 'repository' is required";
  - ``GET /v1/security/users?userId=&source=``, ``GET /v1/security/roles``, ``GET /v1/security/privileges``.

* Behaviour read in sonatype/nexus-public:

  - ``RepositoryManagerRESTAdapterImpl.getRepository`` (components): no repository → 422 "repositoryId is
    required.", unknown → 404 "Unable to locate repository with id <name>", no browse permission → 403;
    ``getRepositories`` (the repository list) returns only repositories the user may browse;
  - ``ComponentsResourceSupport`` / ``ComponentsResource`` (3.27+): 100 components per page in id order, and a
    continuation token whenever a page is full, so a repository holding an exact multiple of 100 ends with an
    empty page; a group lists only content stored in the group itself (``withOnlyGroupMemberContent``);
  - ``AbstractRepositoriesApiResource.getRepository``: the format-specific GET needs repository-admin READ
    (``getRepositoryWithAdmin``); without it, or for another format or type, 404 with the JSON string
    ``"Repository not found"``;
  - ``UserApiResource`` ``@RequiresPermissions("nexus:users:read")``; roles need ``nexus:roles:read``, privileges
    ``nexus:privileges:read``; otherwise 403;
  - the built-in privileges (security default configuration): ``nx-all`` is the wildcard ``nexus:*``,
    ``nx-<domain>-<action>`` application privileges are ``nexus:<domain>:<action>`` (``nx-apikey-all`` =
    ``nexus:apikey:*``), and ``nx-repository-view|admin-<format>-<repository>-<action>`` (``*`` for all formats,
    repositories or actions) are ``nexus:repository-view|admin:<format>:<repository>:<action>``; the built-in
    ``nx-admin`` role holds ``nx-all``, ``nx-anonymous`` holds ``nx-healthcheck-read``, ``nx-search-read``,
    ``nx-repository-view-*-*-read`` and ``-browse``. Permissions are checked as Shiro wildcard permissions: a
    held permission with fewer parts implies every more specific one.

* Docker components as Nexus returns them (``name`` = image, ``version`` = tag, ``group`` null, one asset
  ``/v2/<image>/manifests/<tag>`` whose ``checksum.sha256`` is the manifest digest, ``contentType`` its media type,
  ``lastModified`` like ``2024-06-27T02:21:58.195+00:00``): the general shape from Sonatype's "Components API"
  page (help.sonatype.com/en/components-api.html), the Docker specifics from responses quoted verbatim in
  public write-ups of real installations.

* Authentication: HTTP Basic (the REST API's only documented scheme, ``securitySchemes: BasicAuth``). A wrong or
  unknown user gets 401 with ``WWW-Authenticate: BASIC realm="Sonatype Nexus Repository Manager"``; no header is
  the ``anonymous`` user (role ``nx-anonymous``) when anonymous access is on, else the same 401.

* The Nexus UI/REST port is no registry root: ``GET /v2/`` there answers 404 with an HTML page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..httpserver import HarnessHTTPServer, QuietHandler
from ..images import Image, Index

__all__ = ["NexusAPI", "NexusRequest", "NexusUser"]

PAGE_SIZE = 100
REALM = 'BASIC realm="Sonatype Nexus Repository Manager"'
ACTIONS = ("browse", "read", "edit", "add", "delete", "*")
APPLICATION_PRIVILEGES = {
    "nx-users-read": ("users", "read"),
    "nx-users-all": ("users", "*"),
    "nx-roles-read": ("roles", "read"),
    "nx-roles-all": ("roles", "*"),
    "nx-privileges-read": ("privileges", "read"),
    "nx-privileges-all": ("privileges", "*"),
    "nx-search-read": ("search", "read"),
    "nx-healthcheck-read": ("healthcheck", "read"),
    "nx-apikey-all": ("apikey", "*"),
    "nx-component-upload": ("component", "create"),
}
BUILTIN_ROLES = {
    "nx-admin": ["nx-all"],
    "nx-anonymous": [
        "nx-healthcheck-read",
        "nx-search-read",
        "nx-repository-view-*-*-read",
        "nx-repository-view-*-*-browse",
    ],
}


@dataclass
class NexusUser:
    password: str
    roles: list[str]
    external_roles: list[str] = field(default_factory=list)
    source: str = "default"


@dataclass(frozen=True)
class NexusRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    authorization: str | None
    user: str | None
    status: int


@dataclass
class _Component:
    id: int
    name: str
    version: str
    sha256: str
    sha1: str
    media_type: str
    size: int
    last_modified: str
    blob_created: str | None


@dataclass
class _Repository:
    name: str
    format: str
    type: str
    http_port: int | None
    components: list[_Component] = field(default_factory=list)


@dataclass(frozen=True)
class _Text:
    """A plain-text body (JAX-RS exception messages); any other body is JSON."""

    text: str
    content_type: str = "text/plain"


@dataclass
class _Fault:
    pattern: re.Pattern[str]
    status: int
    remaining: int
    headers: dict[str, str]


def _nexus_time(value: str) -> str:
    """2024-06-27T02:21:58Z → 2024-06-27T02:21:58.000+00:00, as Nexus writes times."""
    if value.endswith("Z"):
        value = value[:-1] + ("" if "." in value else ".000") + "+00:00"
    return value


def _external_id(repository: str, internal: str) -> str:
    return base64.urlsafe_b64encode(f"{repository}:{internal}".encode()).rstrip(b"=").decode()


def implies(held: str, wanted: str) -> bool:
    """Shiro's WildcardPermission.implies over ``a:b,c:*`` strings."""
    held_parts = [set(p.split(",")) for p in held.split(":")]
    wanted_parts = [set(p.split(",")) for p in wanted.split(":")]
    for index, wanted_part in enumerate(wanted_parts):
        if index >= len(held_parts):
            return True
        part = held_parts[index]
        if "*" not in part and not wanted_part <= part:
            return False
    return all("*" in part for part in held_parts[len(wanted_parts) :])


class NexusAPI:
    """A Nexus REST API on 127.0.0.1; ``url`` is what the adapter's ``api_url`` option takes."""

    def __init__(self, users: Mapping[str, NexusUser] | None = None, *, anonymous: bool = False) -> None:
        self.users = dict(users or {})
        self.anonymous = anonymous
        self._lock = threading.Lock()
        self._repositories: dict[str, _Repository] = {}
        self._roles: dict[str, dict[str, Any]] = {
            role: {"id": role, "source": "default", "name": role, "description": role, "readOnly": True}
            | {"privileges": list(privileges), "roles": []}
            for role, privileges in BUILTIN_ROLES.items()
        }
        self._custom_privileges: dict[str, dict[str, Any]] = {}
        self._faults: list[_Fault] = []
        self._requests: list[NexusRequest] = []
        self._next_id = 1
        self._server = HarnessHTTPServer("127.0.0.1", _make_handler(self))
        self.url = f"http://127.0.0.1:{self._server.port}"
        self._server.start(name=f"nexus-api-{self._server.port}")

    # -- content -------------------------------------------------------------------------------
    def add_repository(
        self, name: str, fmt: str = "docker", kind: str = "hosted", *, http_port: int | None = None
    ) -> None:
        with self._lock:
            self._repositories.setdefault(name, _Repository(name, fmt, kind, http_port))

    def add_component(
        self,
        repository: str,
        name: str,
        version: str,
        artifact: Image | Index,
        last_modified: str,
        *,
        blob_created: str | None = None,
    ) -> None:
        """Record ``repository`` holding ``name:version`` = ``artifact``, pushed at ``last_modified`` (RFC 3339)."""
        with self._lock:
            repo = self._repositories[repository]
            repo.components.append(
                _Component(
                    self._next_id,
                    name,
                    version,
                    hashlib.sha256(artifact.manifest).hexdigest(),
                    hashlib.sha1(artifact.manifest, usedforsecurity=False).hexdigest(),
                    artifact.media_type,
                    len(artifact.manifest),
                    _nexus_time(last_modified),
                    _nexus_time(blob_created) if blob_created else None,
                )
            )
            self._next_id += 1

    def add_role(self, role_id: str, privileges: Iterable[str], roles: Iterable[str] = ()) -> None:
        with self._lock:
            self._roles[role_id] = {
                "id": role_id,
                "source": "default",
                "name": role_id,
                "description": f"{role_id} role",
                "readOnly": False,
                "privileges": list(privileges),
                "roles": list(roles),
            }

    def add_privilege(self, name: str, kind: str, **attributes: Any) -> None:
        """A custom privilege: ``repository-view`` (``format``, ``repository``, ``actions``), ``wildcard``
        (``pattern``) or ``application`` (``domain``, ``actions``)."""
        with self._lock:
            self._custom_privileges[name] = {
                "type": kind,
                "name": name,
                "description": name,
                "readOnly": False,
                **attributes,
            }

    # -- faults and records --------------------------------------------------------------------
    def fail(self, path_regex: str, status: int, *, times: int = 1, headers: Mapping[str, str] | None = None) -> None:
        """Answer the next ``times`` requests whose path matches ``path_regex`` with ``status``."""
        with self._lock:
            self._faults.append(_Fault(re.compile(path_regex), status, times, dict(headers or {})))

    @property
    def requests(self) -> list[NexusRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def close(self) -> None:
        self._server.close()

    def __enter__(self) -> NexusAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- privileges ----------------------------------------------------------------------------
    def _privileges(self) -> dict[str, dict[str, Any]]:
        """Every privilege, built-in and custom, as ``GET /v1/security/privileges`` shows them (plus the
        permission each stands for, under ``_permission``)."""
        out: dict[str, dict[str, Any]] = {
            "nx-all": {"type": "wildcard", "name": "nx-all", "pattern": "nexus:*"},
        }
        for name, (domain, action) in APPLICATION_PRIVILEGES.items():
            out[name] = {"type": "application", "name": name, "domain": domain, "actions": [action.upper()]}
        targets = {("*", "*")} | {(r.format, "*") for r in self._repositories.values()}
        targets |= {(r.format, r.name) for r in self._repositories.values()}
        for fmt, repo in sorted(targets):
            for kind in ("view", "admin"):
                for action in ACTIONS:
                    name = f"nx-repository-{kind}-{fmt}-{repo}-{action}"
                    actions = ["ALL"] if action == "*" else [action.upper()]
                    out[name] = {
                        "type": f"repository-{kind}",
                        "name": name,
                        "format": fmt,
                        "repository": repo,
                        "actions": actions,
                    }
        out.update(self._custom_privileges)
        for privilege in out.values():
            privilege.setdefault("description", privilege["name"])
            privilege.setdefault("readOnly", privilege["name"] not in self._custom_privileges)
            privilege["_permission"] = _permission(privilege)
        return out

    def _permissions(self, user: NexusUser) -> list[str]:
        privileges = self._privileges()
        pending = [*user.roles, *user.external_roles]
        seen: set[str] = set()
        held: list[str] = []
        while pending:
            role_id = pending.pop()
            if role_id in seen or role_id not in self._roles:
                continue
            seen.add(role_id)
            role = self._roles[role_id]
            pending.extend(role["roles"])
            held.extend(privileges[p]["_permission"] for p in role["privileges"] if p in privileges)
        return held

    # -- behaviour -----------------------------------------------------------------------------
    def _caller(self, authorization: str | None) -> tuple[bool, str | None, NexusUser | None]:
        """(authenticated, user id, user); no header is the anonymous user when anonymous access is on."""
        if not authorization:
            if not self.anonymous:
                return False, None, None
            return True, "anonymous", NexusUser("", ["nx-anonymous"])
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False, None, None
        try:
            user_id, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False, None, None
        user = self.users.get(user_id)
        if user is None or user.password != password:
            return False, None, None
        return True, user_id, user

    def _fault(self, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.remaining > 0 and fault.pattern.search(path):
                fault.remaining -= 1
                return fault
        return None

    def handle_get(
        self, path: str, query: dict[str, list[str]], authorization: str | None
    ) -> tuple[int, Any, dict[str, str], str | None]:
        """(status, body: a JSON value, a _Text or None, headers, user id)."""
        with self._lock:
            fault = self._fault(path)
            if fault is not None:
                return fault.status, None, fault.headers, None
            if path == "/v2/" or path.startswith("/v2/"):
                page = "<!DOCTYPE html><html><body>404 - Sonatype Nexus Repository</body></html>"
                return 404, _Text(page, "text/html"), {}, None
            if not path.startswith("/service/rest/"):
                return 404, None, {}, None
            authenticated, user_id, user = self._caller(authorization)
            if not authenticated or user is None:
                return 401, None, {"WWW-Authenticate": REALM}, None
            status, body = self._route(path[len("/service/rest") :], query, self._permissions(user))
            return status, body, {}, user_id

    def _route(self, path: str, query: dict[str, list[str]], held: list[str]) -> tuple[int, Any]:
        def allowed(permission: str) -> bool:
            return any(implies(p, permission) for p in held)

        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts == ["v1", "repositories"]:
            return 200, [
                self._repository_xo(r)
                for r in self._repositories.values()
                if allowed(f"nexus:repository-view:{r.format}:{r.name}:browse")
            ]
        if len(parts) == 5 and parts[:2] == ["v1", "repositories"]:
            repo = self._repositories.get(parts[4])
            if (
                repo is None
                or (repo.format, repo.type) != (parts[2], parts[3])
                or not allowed(f"nexus:repository-admin:{repo.format}:{repo.name}:read")
            ):
                return 404, "Repository not found"
            return 200, self._docker_repository(repo)
        if parts == ["v1", "components"]:
            return self._components(query, allowed)
        if parts == ["v1", "security", "users"]:
            if not allowed("nexus:users:read"):
                return 403, None
            prefix = query.get("userId", [""])[0]
            return 200, [self._api_user(uid, u) for uid, u in self.users.items() if uid.startswith(prefix)]
        if parts == ["v1", "security", "roles"]:
            return (200, list(self._roles.values())) if allowed("nexus:roles:read") else (403, None)
        if parts == ["v1", "security", "privileges"]:
            if not allowed("nexus:privileges:read"):
                return 403, None
            return 200, [{k: v for k, v in p.items() if k != "_permission"} for p in self._privileges().values()]
        return 404, None

    def _components(self, query: dict[str, list[str]], allowed: Any) -> tuple[int, Any]:
        name = query.get("repository", [""])[0]
        if not name:
            return 422, _Text("repositoryId is required.")
        repo = self._repositories.get(name)
        if repo is None:
            return 404, _Text(f"Unable to locate repository with id {name}")
        if not allowed(f"nexus:repository-view:{repo.format}:{repo.name}:browse"):
            return 403, None
        start = 0
        token = query.get("continuationToken", [""])[0]
        if token:
            ids = [self._token(repo, c) for c in repo.components]
            start = ids.index(token) + 1 if token in ids else len(ids)
        page = repo.components[start : start + PAGE_SIZE]
        following = self._token(repo, page[-1]) if len(page) == PAGE_SIZE else None
        return 200, {"items": [self._component_xo(repo, c) for c in page], "continuationToken": following}

    @staticmethod
    def _token(repo: _Repository, component: _Component) -> str:
        return hashlib.sha256(f"{repo.name}:{component.id}".encode()).hexdigest()[:32]

    def _repository_xo(self, repo: _Repository) -> dict[str, Any]:
        attributes: dict[str, Any] = (
            {"proxy": {"remoteUrl": "https://registry-1.docker.io"}} if repo.type == "proxy" else {}
        )
        return {
            "name": repo.name,
            "format": repo.format,
            "type": repo.type,
            "url": f"{self.url}/repository/{repo.name}",
            "attributes": attributes,
        }

    def _docker_repository(self, repo: _Repository) -> dict[str, Any]:
        return {
            **self._repository_xo(repo),
            "online": True,
            "storage": {"blobStoreName": "default", "strictContentTypeValidation": True, "writePolicy": "ALLOW"},
            "cleanup": None,
            "component": {"proprietaryComponents": False},
            "docker": {
                "v1Enabled": False,
                "forceBasicAuth": False,
                "httpPort": repo.http_port,
                "httpsPort": None,
                "subdomain": None,
            },
        }

    def _component_xo(self, repo: _Repository, c: _Component) -> dict[str, Any]:
        path = f"/v2/{c.name}/manifests/{c.version}"
        return {
            "id": _external_id(repo.name, f"c{c.id:08x}"),
            "repository": repo.name,
            "format": repo.format,
            "group": None,
            "name": c.name,
            "version": c.version,
            "assets": [
                {
                    "downloadUrl": f"{self.url}/repository/{repo.name}{path}",
                    "path": path,
                    "id": _external_id(repo.name, f"a{c.id:08x}"),
                    "repository": repo.name,
                    "format": repo.format,
                    "checksum": {"sha1": c.sha1, "sha256": c.sha256},
                    "contentType": c.media_type,
                    "lastModified": c.last_modified,
                    "lastDownloaded": None,
                    "uploader": "ci",
                    "uploaderIp": "127.0.0.1",
                    "fileSize": c.size,
                    "blobCreated": c.blob_created,
                    "blobStoreName": "default",
                }
            ],
        }

    @staticmethod
    def _api_user(user_id: str, user: NexusUser) -> dict[str, Any]:
        return {
            "userId": user_id,
            "firstName": user_id,
            "lastName": "User",
            "emailAddress": f"{user_id}@example.org",
            "source": user.source,
            "status": "active",
            "readOnly": False,
            "roles": list(user.roles),
            "externalRoles": list(user.external_roles),
        }

    def _record(self, request: NexusRequest) -> None:
        with self._lock:
            self._requests.append(request)


def _permission(privilege: Mapping[str, Any]) -> str:
    kind = privilege["type"]
    if kind == "wildcard":
        return str(privilege["pattern"])
    actions = ",".join("*" if a.upper() == "ALL" else a.lower() for a in privilege.get("actions") or []) or "*"
    if kind == "application":
        return f"nexus:{privilege['domain']}:{actions}"
    if kind in ("repository-view", "repository-admin"):
        return f"nexus:{kind}:{privilege['format']}:{privilege['repository']}:{actions}"
    return "nexus:none"


def _make_handler(api: NexusAPI) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            authorization = self.headers.get("Authorization")
            status, body, headers, user = api.handle_get(parts.path, query, authorization)
            api._record(NexusRequest("GET", parts.path, query, authorization, user, status))
            if isinstance(body, _Text):
                self.send_bytes(status, body.text.encode(), headers, content_type=body.content_type)
            elif body is None:
                self.send_bytes(status, b"", headers, content_type=None)
            else:
                self.send_bytes(status, json.dumps(body, indent=2).encode(), headers)

    return Handler

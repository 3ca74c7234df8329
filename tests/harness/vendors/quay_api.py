"""A Quay API stand-in (``/api/v1``), built from quay/quay's own source, which is Quay's API description.

Serves, with the behaviour of the file named:

* ``GET /api/v1/repository`` (``endpoints/api/repository.py`` ``RepositoryList.get``): one of ``namespace``,
  ``starred`` or ``public`` is required (400 ``invalid_request`` "namespace, starred or public are required
  for this API call"); ``public=true`` adds public repositories; an anonymous caller without it sees nothing
  (``get_visible_repositories``). Pages of ``REPOS_PER_PAGE = 100`` ordered by id, continued by an opaque
  ``next_page`` token (``page_support`` encrypts it; an undecipherable one means the first page). The listing
  is not capped by an OAuth token's scopes: it is a database query by user name. Repository entries as
  ``repository_models_interface.RepositoryBaseElement.to_dict`` writes them.
* ``GET /api/v1/repository/{ns}/{repo}`` (``Repository.get``): ``require_repo_read`` (public repositories
  allowed) runs before the lookup, so a missing repository is 401/403 for callers who are not admins of its
  namespace and 404 only past the check; ``can_write`` / ``can_admin`` from Modify/AdministerRepositoryPermission.
* ``GET /api/v1/repository/{ns}/{repo}/tag/`` (``endpoints/api/tag.py`` ``ListRepositoryTags.get``):
  ``limit`` (default 50, clamped to 1..100), ``page`` (from 1), ``onlyActiveTags``, ``specificTag``; answers
  ``{"tags", "page", "has_additional"}`` with ``_tag_dict`` fields (``start_ts``/``end_ts`` only when > 0,
  ``last_modified``/``expiration`` as RFC 2822). Order, paging and liveness from ``data/model/oci/tag.py``
  ``list_repository_tag_history``: ``lifetime_start`` descending then name, ``limit + 1`` rows fetched to set
  ``has_additional``, alive = no end or an end in the future, hidden tags never shown.
* ``GET /api/v1/organization/{org}`` (``endpoints/api/organization.py`` ``Organization.get``, ``org_view``),
  ``GET /api/v1/users/{name}`` (``endpoints/api/user.py`` ``Users.get``: non-robot users only, Flask's 404),
  ``GET /api/v1/user/`` (``User.get``, ``user_view``: ``is_me`` and the account fields only with
  UserAdminPermission, ``super_user`` only with SuperUserPermission, 401 ``invalid_token`` "Requires
  authentication" otherwise), ``GET /api/v1/superuser/organizations/`` (``endpoints/api/superuser.py``
  ``SuperUserOrganizationList.get``; 404 when ``FEATURE_SUPER_USERS`` is off).

Authentication (``auth/decorators.py`` ``process_oauth``, ``auth/oauth.py``): only ``Authorization: Bearer``
OAuth tokens are read. Basic credentials (robots, passwords) are ignored and an unknown token leaves the
request anonymous. Scopes cap roles as ``auth/permissions.py`` does (``SCOPE_MAX_REPO_ROLES``,
``SCOPE_MAX_TEAM_ROLES``, ``SCOPE_MAX_USER_ROLES``; superuser needs ``super:user``). Errors are the
``endpoints/exception.py`` ``ApiException`` bodies (``detail``, ``error_message``, ``error_type``, ``title``,
``type``, ``status``); ``Unauthorized`` is 401 ``invalid_token`` "Requires authentication" for an anonymous
caller and 403 ``insufficient_scope`` "Unauthorized" for a signed-in one.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..httpserver import HarnessHTTPServer, QuietHandler
from ..images import Image, Index

__all__ = ["QuayAPI", "QuayRequest", "QuayUser"]

REPOS_PER_PAGE = 100
REPO_ROLES = (None, "read", "write", "admin")
TEAM_ROLES = (None, "member", "creator", "admin")
USER_ROLES = (None, "read", "admin")
SCOPE_MAX_REPO = {"repo:read": "read", "repo:write": "write", "repo:admin": "admin"}
SCOPE_MAX_TEAM = {"repo:create": "creator", "org:admin": "admin"}
SCOPE_MAX_USER = {"user:read": "read", "user:admin": "admin"}
FLASK_NOT_FOUND = (
    "The requested URL was not found on the server. If you entered the URL manually please check your "
    "spelling and try again."
)


@dataclass
class QuayUser:
    """A Quay user. ``repo_roles``: ``"ns/repo"`` → read/write/admin (direct or through a team);
    ``org_roles``: organisation → the user's best team role there (member/creator/admin)."""

    superuser: bool = False
    repo_roles: dict[str, str] = field(default_factory=dict)
    org_roles: dict[str, str] = field(default_factory=dict)


@dataclass
class _Tag:
    name: str
    digest: str
    is_manifest_list: bool
    size: int
    start_ts: int
    end_ts: int | None = None
    hidden: bool = False

    def alive(self, now: float) -> bool:
        return not self.hidden and (self.end_ts is None or self.end_ts > now)

    def to_api(self) -> dict[str, Any]:
        info: dict[str, Any] = {"name": self.name, "reversion": False}
        if self.start_ts > 0:
            info["start_ts"] = self.start_ts
        if self.end_ts is not None and self.end_ts > 0:
            info["end_ts"] = self.end_ts
        info.update(manifest_digest=self.digest, is_manifest_list=self.is_manifest_list, size=self.size)
        if self.start_ts > 0:
            info["last_modified"] = formatdate(self.start_ts, usegmt=True)
        if self.end_ts is not None:
            info["expiration"] = formatdate(self.end_ts, usegmt=True)
        return info


@dataclass
class _Repository:
    rid: int
    namespace: str
    name: str
    public: bool
    tags: list[_Tag] = field(default_factory=list)
    state: str = "NORMAL"


@dataclass(frozen=True)
class _Caller:
    username: str
    user: QuayUser
    scopes: frozenset[str]


@dataclass(frozen=True)
class QuayRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    authorization: str | None
    status: int


@dataclass
class _Fault:
    remaining: int
    status: int
    pattern: re.Pattern[str]
    headers: dict[str, str]
    body: bytes
    content_type: str


def _cap(role: str | None, roles: tuple[str | None, ...], caps: dict[str, str], scopes: frozenset[str]) -> str | None:
    """auth/permissions.py _translate_role_for_scopes: the role, lowered to the most the scopes allow."""
    if role is None:
        return None
    allowed = max((roles.index(caps.get(scope)) for scope in scopes), default=0)
    return roles[min(roles.index(role), allowed)]


def _error(status: int, error_type: str, detail: str, **payload: Any) -> tuple[int, dict[str, Any]]:
    return status, {
        **payload,
        "detail": detail,
        "error_message": detail,
        "error_type": error_type,
        "title": error_type,
        "type": f"http://quay.invalid/api/v1/error/{error_type}",
        "status": status,
    }


class QuayAPI:
    """A Quay API on 127.0.0.1; ``url`` + ``/api/v1`` is what the adapter's ``api_url`` takes."""

    def __init__(self, *, superusers_enabled: bool = True, honour_active_filter: bool = True) -> None:
        self.superusers_enabled = superusers_enabled
        # False plays a Quay that ignores onlyActiveTags and returns the whole tag history.
        self.honour_active_filter = honour_active_filter
        self._lock = threading.Lock()
        self._organizations: set[str] = set()
        self._users: dict[str, QuayUser] = {}
        self._tokens: dict[str, tuple[str, frozenset[str]]] = {}
        self._repositories: dict[tuple[str, str], _Repository] = {}
        self._page_tokens: dict[str, tuple[str, int]] = {}
        self._faults: list[_Fault] = []
        self._requests: list[QuayRequest] = []
        self._server = HarnessHTTPServer("127.0.0.1", _make_handler(self))
        self.url = f"http://127.0.0.1:{self._server.port}"
        self.api_url = f"{self.url}/api/v1"
        self._server.start(name=f"quay-api-{self._server.port}")

    # -- content -------------------------------------------------------------------------------
    def add_organization(self, name: str) -> None:
        with self._lock:
            self._organizations.add(name)

    def add_user(self, name: str, user: QuayUser | None = None) -> QuayUser:
        with self._lock:
            return self._users.setdefault(name, user or QuayUser())

    def add_token(self, token: str, username: str, scopes: set[str] | frozenset[str]) -> None:
        """An OAuth access token that ``username`` granted with these scopes (e.g. ``{"repo:read"}``)."""
        with self._lock:
            self._tokens[token] = (username, frozenset(scopes))

    def add_repository(self, namespace: str, name: str, *, public: bool = False) -> None:
        with self._lock:
            key = (namespace, name)
            if key not in self._repositories:
                self._repositories[key] = _Repository(len(self._repositories) + 1, namespace, name, public)

    def add_tag(
        self,
        namespace: str,
        repository: str,
        tag: str,
        artifact: Image | Index,
        start_ts: int,
        *,
        end_ts: int | None = None,
        hidden: bool = False,
    ) -> None:
        """A tag lifetime: pushed at ``start_ts`` (unix seconds); ``end_ts`` in the past = history or expired."""
        self.add_repository(namespace, repository)
        size = sum(layer.size for image in _images(artifact) for layer in image.layers)
        entry = _Tag(tag, artifact.digest, isinstance(artifact, Index), size, start_ts, end_ts, hidden)
        with self._lock:
            self._repositories[(namespace, repository)].tags.append(entry)

    # -- faults and records --------------------------------------------------------------------
    def fail(
        self,
        path_regex: str,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        content_type: str = "text/html",
    ) -> None:
        """Answer the next ``times`` requests whose path matches with ``status`` (Quay's nginx answers 429
        and 5xx with HTML pages)."""
        with self._lock:
            self._faults.append(_Fault(times, status, re.compile(path_regex), dict(headers or {}), body, content_type))

    @property
    def requests(self) -> list[QuayRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def close(self) -> None:
        self._server.close()

    def __enter__(self) -> QuayAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- behaviour -----------------------------------------------------------------------------
    def _fault(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.pattern.search(path):
                    fault.remaining -= 1
                    return fault
        return None

    def _record(self, request: QuayRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _caller(self, authorization: str | None) -> _Caller | None:
        parts = (authorization or "").split()
        if len(parts) != 2 or parts[0].lower() != "bearer":
            return None  # Basic credentials are not read by the API
        found = self._tokens.get(parts[1])
        if found is None:
            return None  # an invalid token leaves the request anonymous
        username, scopes = found
        return _Caller(username, self._users.setdefault(username, QuayUser()), scopes)

    def _uncapped_repo_role(self, caller: _Caller, repo: _Repository) -> str | None:
        roles: list[str] = []
        if repo.namespace == caller.username:
            roles.append("admin")
        if caller.user.org_roles.get(repo.namespace) == "admin":
            roles.append("admin")  # TEAM_ORGWIDE_REPO_ROLES: only admin teams get org-wide repository roles
        direct = caller.user.repo_roles.get(f"{repo.namespace}/{repo.name}")
        if direct:
            roles.append(direct)
        return max(roles, key=REPO_ROLES.index, default=None)

    def _repo_role(self, caller: _Caller | None, namespace: str, name: str) -> str | None:
        if caller is None:
            return None
        repo = self._repositories.get((namespace, name))
        if repo is None:
            if caller.user.org_roles.get(namespace) == "admin" or namespace == caller.username:
                return _cap("admin", REPO_ROLES, SCOPE_MAX_REPO, caller.scopes)
            return None
        return _cap(self._uncapped_repo_role(caller, repo), REPO_ROLES, SCOPE_MAX_REPO, caller.scopes)

    def _unauthorized(self, caller: _Caller | None) -> tuple[int, dict[str, Any]]:
        if caller is None:
            return _error(401, "invalid_token", "Requires authentication")
        return _error(403, "insufficient_scope", "Unauthorized")

    def _repo_view(self, repo: _Repository, caller: _Caller | None) -> dict[str, Any]:
        view: dict[str, Any] = {
            "namespace": repo.namespace,
            "name": repo.name,
            "description": "",
            "is_public": repo.public,
            "kind": "image",
            "state": repo.state,
            "quota": None,
        }
        if caller is not None:
            view["is_starred"] = False
        return view

    def _list_repositories(self, query: dict[str, list[str]], caller: _Caller | None) -> tuple[int, Any]:
        namespace = _first(query, "namespace")
        public = _truthy(_first(query, "public"))
        if not namespace and not public and not _truthy(_first(query, "starred")):
            return _error(400, "invalid_request", "namespace, starred or public are required for this API call")
        start = 0
        token = _first(query, "next_page")
        if token and token in self._page_tokens and self._page_tokens[token][0] == (namespace or ""):
            start = self._page_tokens[token][1]
        visible = [
            repo
            for repo in sorted(self._repositories.values(), key=lambda r: r.rid)
            if (not namespace or repo.namespace == namespace)
            and ((public and repo.public) or (caller is not None and self._uncapped_repo_role(caller, repo)))
        ]
        page = visible[start : start + REPOS_PER_PAGE + 1]
        body: dict[str, Any] = {"repositories": [self._repo_view(r, caller) for r in page[:REPOS_PER_PAGE]]}
        if _truthy(_first(query, "last_modified")):
            for entry, repo in zip(body["repositories"], page, strict=False):
                alive = [t.start_ts for t in repo.tags if t.alive(time.time())]
                entry["last_modified"] = max(alive, default=None)
        if len(page) > REPOS_PER_PAGE:
            following = secrets.token_urlsafe(24)
            self._page_tokens[following] = (namespace or "", start + REPOS_PER_PAGE)
            body["next_page"] = following
        return 200, body

    def _read_repository(
        self, namespace: str, name: str, caller: _Caller | None
    ) -> tuple[_Repository | None, tuple[int, dict[str, Any]] | None]:
        """require_repo_read(allow_public) first, then the lookup."""
        repo = self._repositories.get((namespace, name))
        role = self._repo_role(caller, namespace, name)
        if role is None and not (repo is not None and repo.public):
            return None, self._unauthorized(caller)
        if repo is None:
            return None, _error(404, "not_found", "Not Found")
        return repo, None

    def _get_repository(self, namespace: str, name: str, caller: _Caller | None) -> tuple[int, Any]:
        repo, failure = self._read_repository(namespace, name, caller)
        if failure is not None or repo is None:
            return failure or _error(404, "not_found", "Not Found")
        role = self._repo_role(caller, namespace, name)
        view = self._repo_view(repo, caller)
        view.update(
            is_organization=namespace in self._organizations,
            status_token="",
            trust_enabled=False,
            tag_expiration_s=1209600,
            is_free_account=True,
            can_write=role in ("write", "admin") and repo.state == "NORMAL",
            can_admin=role == "admin",
        )
        return 200, view

    def _list_tags(self, namespace: str, name: str, query: dict[str, list[str]], caller: _Caller | None) -> Any:
        repo, failure = self._read_repository(namespace, name, caller)
        if failure is not None or repo is None:
            return failure or _error(404, "not_found", "Not Found")
        try:
            page = max(1, int(_first(query, "page") or 1))
            limit = min(100, max(1, int(_first(query, "limit") or 50)))
        except ValueError:
            return 400, {"message": {"limit": "invalid literal for int()"}}
        now = time.time()
        active_only = _truthy(_first(query, "onlyActiveTags")) and self.honour_active_filter
        specific = _first(query, "specificTag")
        rows = [
            tag
            for tag in sorted(repo.tags, key=lambda t: (-t.start_ts, t.name))
            if not tag.hidden and (not active_only or tag.alive(now)) and (not specific or tag.name == specific)
        ]
        chunk = rows[limit * (page - 1) : limit * page + 1]
        return 200, {"tags": [t.to_api() for t in chunk[:limit]], "page": page, "has_additional": len(chunk) > limit}

    def _organization(self, name: str, caller: _Caller | None) -> tuple[int, Any]:
        if name not in self._organizations:
            return _error(404, "not_found", "Not Found")
        team = caller.user.org_roles.get(name) if caller is not None else None
        role = _cap(team, TEAM_ROLES, SCOPE_MAX_TEAM, caller.scopes) if caller is not None else None
        is_admin = role == "admin"
        view: dict[str, Any] = {
            "name": name,
            "email": f"{name}@example.invalid" if is_admin else "",
            "avatar": {"name": name, "hash": "0" * 32, "color": "#000000", "kind": "org"},
            "is_admin": is_admin,
            "is_member": role is not None,
        }
        if role is not None:
            view["teams"] = {}
            view["ordered_teams"] = []
        if is_admin:
            view.update(invoice_email=False, invoice_email_address=None, tag_expiration_s=1209600)
            view["is_free_account"] = True
        return 200, view

    def _user_role(self, caller: _Caller) -> str | None:
        return _cap("admin", USER_ROLES, SCOPE_MAX_USER, caller.scopes)

    def _current_user(self, caller: _Caller | None) -> tuple[int, Any]:
        role = self._user_role(caller) if caller is not None else None
        if caller is None or role is None:
            return _error(401, "invalid_token", "Requires authentication", session_required=False)
        view: dict[str, Any] = {
            "anonymous": False,
            "username": caller.username,
            "avatar": {"name": caller.username, "hash": "0" * 32, "color": "#000000", "kind": "user"},
            "organizations": [
                {"name": org, "avatar": {}, "can_create_repo": False, "public": False}
                for org in sorted(caller.user.org_roles)
            ],
        }
        if role == "admin":
            view.update(can_create_repo=True, is_me=True, verified=True, email=f"{caller.username}@example.invalid")
        if caller.user.superuser and "super:user" in caller.scopes and self.superusers_enabled:
            view["super_user"] = True
        return 200, view

    def _superuser_organizations(self, caller: _Caller | None, query: dict[str, list[str]]) -> tuple[int, Any]:
        if not self.superusers_enabled:
            return 404, {"error": "Not Found"}
        if caller is None or not (caller.user.superuser and "super:user" in caller.scopes):
            return self._unauthorized(caller)
        limit = int(_first(query, "limit") or 100)
        return 200, {"organizations": [{"name": org} for org in sorted(self._organizations)[:limit]]}

    def handle_get(self, path: str, query: dict[str, list[str]], authorization: str | None) -> tuple[int, Any]:
        if not path.startswith("/api/v1/"):
            return 404, None
        with self._lock:
            caller = self._caller(authorization)
            route = path[len("/api/v1/") :]
            if route == "repository":
                return self._list_repositories(query, caller)
            if route.startswith("repository/"):
                rest = unquote(route[len("repository/") :])
                if rest.endswith("/tag/"):
                    namespace, _, name = rest[: -len("/tag/")].partition("/")
                    return self._list_tags(namespace, name, query, caller)
                namespace, _, name = rest.partition("/")
                return self._get_repository(namespace, name, caller)
            if route.startswith("organization/"):
                return self._organization(unquote(route[len("organization/") :]), caller)
            if route.startswith("users/"):
                name = unquote(route[len("users/") :])
                if name not in self._users:
                    return 404, {"message": FLASK_NOT_FOUND}
                return 200, {"anonymous": False, "username": name, "avatar": {"name": name, "kind": "user"}}
            if route == "user/":
                return self._current_user(caller)
            if route == "superuser/organizations/":
                return self._superuser_organizations(caller, query)
        return 404, {"message": FLASK_NOT_FOUND}


def _images(artifact: Image | Index) -> tuple[Image, ...]:
    return artifact.images if isinstance(artifact, Index) else (artifact,)


def _first(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None


def _truthy(value: str | None) -> bool:
    """util/parsing.py truthy_bool."""
    return (value or "").lower() in ("true", "1", "yes", "y", "t", "on")


def _make_handler(api: QuayAPI) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def _record(self, status: int) -> None:
            parts = urlsplit(self.path)
            api._record(
                QuayRequest(self.command, parts.path, parse_qs(parts.query), self.headers.get("Authorization"), status)
            )

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            fault = api._fault(parts.path)
            if fault is not None:
                self._record(fault.status)
                self.send_bytes(fault.status, fault.body, fault.headers, content_type=fault.content_type)
                return
            status, body = api.handle_get(parts.path, parse_qs(parts.query), self.headers.get("Authorization"))
            self._record(status)
            if body is None:
                page = b"<!doctype html><html><body><h1>404 Not Found</h1></body></html>"
                self.send_bytes(status, page, content_type="text/html")
                return
            self.send_bytes(status, json.dumps(body).encode())

    return Handler

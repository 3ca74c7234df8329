"""A Harbor v2 API stand-in (/api/v2.0), built from Harbor's published API description and handlers.

Sources (repository goharbor/harbor; notes with exact citations in the session's research notes):
* ``api/v2.0/swagger.yaml``: paths, query parameters (``page`` default 1, ``page_size`` default 10, maximum 100,
  ``with_detail`` default true, ``with_tag`` default true), the Project / Repository / Artifact / Tag / UserResp /
  Permission shapes, the ``{"errors": [{"code", "message"}]}`` body, ``X-Total-Count`` and ``Link`` headers.
* ``src/server/v2.0/handler/base.go`` ``Links`` and ``src/lib/link.go``: relative next/prev links joined with
  ``" , "``, set only when there is such a page; ``X-Total-Count`` always.
* ``src/server/v2.0/handler/project.go`` ``ListProjects``: admins see every project, users their member projects
  plus public ones, robots the projects their permissions name plus public ones, anonymous public ones;
  ``current_user_role_ids`` for users only; ``registry_id`` present only on proxy-cache projects.
* ``src/server/middleware/security/basic_auth.go``: wrong Basic credentials make the request anonymous (no 401 by
  themselves); ``handler/base.go`` ``RequireProjectAccess``: a failed check is 401 for anonymous, 403 otherwise,
  and an unknown project name is the same 403 (issues #17586, #19342).
* ``handler/user.go`` ``GetCurrentUserInfo``: 401 anonymous, 412 ``PRECONDITION`` for a robot;
  ``GetCurrentUserPermissions`` with ``scope=/project/{id}`` and ``relative``.
* ``handler/repository.go`` / ``artifact.go`` ``Prepare``: repository names are decoded a second time, so
  ``a/b`` must be sent as ``a%252Fb``; ``a%2Fb`` reaches no route (404). Listing the artifacts of an unknown
  repository is ``200 []``.
* ``src/common/rbac/project/rbac_util.go``: what each project role may do (a subset of resources here).
* go-swagger validation: ``page_size`` above 100 is ``422 UNPROCESSABLE_ENTITY``.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from ..httpserver import HarnessHTTPServer, QuietHandler
from ..images import Image, Index

__all__ = ["HarborAPI", "HarborRequest", "HarborRobot", "HarborUser"]

NEVER = "0001-01-01T00:00:00.000Z"
MAX_PAGE_SIZE = 100

READ = frozenset({("repository", "list"), ("repository", "read"), ("repository", "pull"), ("artifact", "read"),
                  ("artifact", "list"), ("tag", "list"), ("", "read")})  # fmt: skip
# role id -> (resource, action) pairs (rbac_util.go, the resources regscout looks at)
ROLE_POLICIES: dict[int, frozenset[tuple[str, str]]] = {
    5: READ,  # Limited Guest
    3: READ | {("member", "list"), ("label", "list")},  # Guest
    2: READ | {("repository", "push"), ("repository", "create"), ("repository", "update"), ("artifact", "create"),
               ("tag", "create"), ("scan", "create")},  # Developer
    4: READ | {("repository", "push"), ("repository", "delete"), ("artifact", "delete"), ("tag", "delete"),
               ("member", "list"), ("immutable-tag", "create")},  # Maintainer
    1: READ | {("repository", "push"), ("repository", "delete"), ("artifact", "delete"), ("member", "create"),
               ("metadata", "update"), ("robot", "create"), ("", "delete")},  # ProjectAdmin
}  # fmt: skip
PUBLIC = frozenset({("repository", "list"), ("repository", "pull"), ("artifact", "read"), ("artifact", "list"),
                    ("tag", "list"), ("", "read")})  # fmt: skip


@dataclass(frozen=True)
class HarborUser:
    password: str
    roles: Mapping[str, int] = field(default_factory=dict)  # project name -> role id
    sysadmin: bool = False


@dataclass(frozen=True)
class HarborRobot:
    """``access``: project name -> (resource, action) pairs; a project robot names its one project."""

    secret: str
    access: Mapping[str, frozenset[tuple[str, str]]] = field(default_factory=dict)


@dataclass
class _Artifact:
    id: int
    digest: str
    manifest_media_type: str
    config_media_type: str
    size: int
    push_time: str
    extra_attrs: dict[str, Any]
    references: list[dict[str, Any]] | None
    tags: list[tuple[str, str]]  # (name, push time)


@dataclass
class _Project:
    id: int
    name: str
    public: bool
    registry_id: int | None
    repositories: dict[str, list[_Artifact]] = field(default_factory=dict)


@dataclass(frozen=True)
class HarborRequest:
    method: str
    path: str  # as sent, still encoded
    query: dict[str, list[str]]
    caller: str | None


@dataclass(frozen=True)
class _Caller:
    name: str | None  # None: anonymous
    user: HarborUser | None = None
    robot: HarborRobot | None = None


class HarborAPI:
    def __init__(self, users: Mapping[str, HarborUser], robots: Mapping[str, HarborRobot] | None = None) -> None:
        self.users = dict(users)
        self.robots = dict(robots or {})
        self.projects: dict[str, _Project] = {}
        self.requests: list[HarborRequest] = []
        self._lock = threading.Lock()
        self._ids = 0
        self._server = HarnessHTTPServer("127.0.0.1", _make_handler(self))
        self._server.start("harbor-api")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v2.0"

    def close(self) -> None:
        self._server.close()

    def __enter__(self) -> HarborAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    # ---- content ----------------------------------------------------------------------------

    def add_project(self, name: str, *, public: bool = False, proxy_cache: bool = False) -> None:
        self.projects[name] = _Project(self._next_id(), name, public, 7 if proxy_cache else None)

    def add_artifact(self, repository: str, image: Image | Index, tags: Mapping[str, str], pushed: str) -> None:
        """An artifact of ``project/name`` as Harbor describes it once it was pushed: ``tags`` maps each tag to
        its push time."""
        project_name, _, name = repository.partition("/")
        project = self.projects[project_name]
        if isinstance(image, Index):
            references: list[dict[str, Any]] | None = [
                {"parent_id": 0, "child_id": self._next_id(), "child_digest": child.digest,
                 "platform": {"architecture": child.platform["architecture"], "os": child.platform["os"],
                              **({"variant": child.platform["variant"]} if "variant" in child.platform else {})}}
                for child in image.images
            ]  # fmt: skip
            extra: dict[str, Any] = {}
            config_type = ""
        else:
            config = image.config_json
            extra = {"architecture": config.get("architecture"), "os": config.get("os"),
                     "created": config.get("created"), "config": config.get("config", {})}  # fmt: skip
            references = None
            config_type = image.config.media_type
        project.repositories.setdefault(name, []).append(
            _Artifact(
                self._next_id(),
                image.digest,
                image.media_type,
                config_type,
                image.size,
                pushed,
                extra,
                references,
                list(tags.items()),
            )
        )

    # ---- behaviour --------------------------------------------------------------------------

    def _caller(self, header: str | None) -> _Caller:
        if not header or not header.lower().startswith("basic "):
            return _Caller(None)
        try:
            name, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return _Caller(None)
        robot = self.robots.get(name)
        if robot is not None and robot.secret == password:
            return _Caller(name, robot=robot)
        user = self.users.get(name)
        if user is not None and user.password == password:
            return _Caller(name, user=user)
        return _Caller(None)  # wrong credentials: Harbor carries on as anonymous

    def _policies(self, caller: _Caller, project: _Project) -> frozenset[tuple[str, str]]:
        granted: set[tuple[str, str]] = set(PUBLIC) if project.public else set()
        if caller.user is not None:
            if caller.user.sysadmin:
                return frozenset({(r, a) for policies in ROLE_POLICIES.values() for r, a in policies})
            role = caller.user.roles.get(project.name)
            if role is not None:
                granted |= ROLE_POLICIES[role]
        if caller.robot is not None:
            access = caller.robot.access.get(project.name) or caller.robot.access.get("*") or frozenset()
            granted |= access
            if ("repository", "push") in access:
                granted.add(("repository", "pull"))
        return frozenset(granted)

    def _visible(self, caller: _Caller, project: _Project, public_filter: bool | None) -> bool:
        if public_filter is not None and project.public != public_filter:
            return False
        if caller.user is not None and caller.user.sysadmin:
            return True
        if caller.user is not None and project.name in caller.user.roles:
            return True
        if caller.robot is not None and (project.name in caller.robot.access or "*" in caller.robot.access):
            return True
        return project.public

    def handle(
        self, method: str, raw_path: str, query: dict[str, list[str]], auth: str | None
    ) -> tuple[int, dict[str, str], Any]:
        caller = self._caller(auth)
        with self._lock:
            self.requests.append(HarborRequest(method, raw_path, query, caller.name))
        if method != "GET" or not raw_path.startswith("/api/v2.0/"):
            return _error(404, "NOT_FOUND", f"path {raw_path} was not found")
        segments = raw_path.removeprefix("/api/v2.0/").split("/")
        if segments == ["systeminfo"]:
            return 200, {}, {"auth_mode": "db_auth", "self_registration": False, "harbor_version": "v2.12.2-73072d0d"}
        if segments == ["users", "current"]:
            return self._current_user(caller)
        if segments == ["users", "current", "permissions"]:
            return self._permissions(caller, query)
        try:
            page, page_size = int(_one(query, "page", "1")), int(_one(query, "page_size", "10"))
        except ValueError:
            return _error(422, "UNPROCESSABLE_ENTITY", "validation failure list:\npage in query must be of type int64")
        if page_size > MAX_PAGE_SIZE:
            message = "validation failure list:\npage_size in query should be less than or equal to 100"
            return _error(422, "UNPROCESSABLE_ENTITY", message)
        if segments == ["projects"]:
            public = _one(query, "public", None)
            wanted = None if public is None else public == "true"
            detail = _one(query, "with_detail", "true") == "true"
            items = [
                self._project_json(caller, p, detail)
                for p in self.projects.values()
                if self._visible(caller, p, wanted)
            ]
            return _page(raw_path, query, items, page, page_size)
        if len(segments) >= 3 and segments[0] == "projects" and segments[2] == "repositories":
            return self._repositories(caller, segments, query, raw_path, page, page_size)
        return _error(404, "NOT_FOUND", f"path {raw_path} was not found")

    def _current_user(self, caller: _Caller) -> tuple[int, dict[str, str], Any]:
        if caller.name is None:
            return _error(401, "UNAUTHORIZED", "unauthorized")
        if caller.robot is not None:
            return _error(412, "PRECONDITION", "get current user not available for security context: robot")
        assert caller.user is not None
        return 200, {}, {"user_id": 3, "username": caller.name, "email": f"{caller.name}@example.com", "realname": "",
                         "comment": "", "sysadmin_flag": caller.user.sysadmin, "admin_role_in_auth": False,
                         "creation_time": "2024-01-01T00:00:00Z", "update_time": "2024-01-01T00:00:00Z"}  # fmt: skip

    def _permissions(self, caller: _Caller, query: dict[str, list[str]]) -> tuple[int, dict[str, str], Any]:
        if caller.name is None:
            return _error(401, "UNAUTHORIZED", "User need to log in first.")
        scope = _one(query, "scope", "") or ""
        relative = _one(query, "relative", "false") == "true"
        project = next((p for p in self.projects.values() if scope.rstrip("/") == f"/project/{p.id}"), None)
        if project is None:
            return 200, {}, []
        prefix = "" if relative else f"/project/{project.id}"
        return (
            200,
            {},
            [
                {"resource": (f"{prefix}/{r}" if r else prefix or ".") if not relative else (r or "."), "action": a}
                for r, a in sorted(self._policies(caller, project))
            ],
        )

    def _project_json(self, caller: _Caller, project: _Project, detail: bool) -> dict[str, Any]:
        item: dict[str, Any] = {
            "project_id": project.id, "owner_id": 1, "name": project.name,
            "creation_time": "2024-01-01T00:00:00.000Z", "update_time": "2024-01-01T00:00:00.000Z",
            "repo_count": len(project.repositories), "chart_count": 0,
        }  # fmt: skip
        if project.registry_id:
            item["registry_id"] = project.registry_id
        if detail:
            item["owner_name"] = "admin"
            item["metadata"] = {"public": "true" if project.public else "false"}
            item["cve_allowlist"] = {"id": project.id, "project_id": project.id, "items": []}
        if caller.user is not None and project.name in caller.user.roles:
            role = caller.user.roles[project.name]
            item["current_user_role_id"] = role
            item["current_user_role_ids"] = [role]
        return item

    def _repositories(
        self, caller: _Caller, segments: list[str], query: dict[str, list[str]], raw_path: str, page: int, size: int
    ) -> tuple[int, dict[str, str], Any]:
        project = self.projects.get(unquote(segments[1]))
        if len(segments) == 3:
            needed = ("repository", "list")
        elif len(segments) == 5 and segments[4] == "artifacts":
            needed = ("artifact", "list")
        else:
            return _error(404, "NOT_FOUND", f"path {raw_path} was not found")
        if project is None or needed not in self._policies(caller, project):
            if caller.name is None:
                return _error(401, "UNAUTHORIZED", "unauthorized")
            return _error(403, "FORBIDDEN", "forbidden")
        if len(segments) == 3:
            items = [
                {"id": index + 1, "project_id": project.id, "name": f"{project.name}/{name}",
                 "artifact_count": len(artifacts), "pull_count": 0,
                 "creation_time": "2024-01-01T00:00:00.000Z", "update_time": "2024-01-02T00:00:00.000Z"}
                for index, (name, artifacts) in enumerate(sorted(project.repositories.items()))
            ]  # fmt: skip
            return _page(raw_path, query, items, page, size)
        once = unquote(segments[3])
        if "/" in once:  # sent as a%2Fb: the router decodes it into more path segments
            return _error(404, "NOT_FOUND", f"path {unquote(raw_path)} was not found")
        artifacts = project.repositories.get(unquote(once), [])
        with_tag = _one(query, "with_tag", "true") == "true"
        items = [self._artifact_json(project, a, with_tag) for a in artifacts]
        return _page(raw_path, query, items, page, size)

    def _artifact_json(self, project: _Project, artifact: _Artifact, with_tag: bool) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": artifact.id, "type": "IMAGE", "media_type": artifact.config_media_type,
            "manifest_media_type": artifact.manifest_media_type, "project_id": project.id, "repository_id": 1,
            "digest": artifact.digest, "size": artifact.size, "icon": "", "push_time": artifact.push_time,
            "pull_time": NEVER, "extra_attrs": artifact.extra_attrs, "annotations": None,
            "references": artifact.references, "labels": None, "addition_links": {},
        }  # fmt: skip
        if with_tag:
            item["tags"] = [
                {"id": i + 1, "repository_id": 1, "artifact_id": artifact.id, "name": name, "push_time": pushed,
                 "pull_time": NEVER, "immutable": False, "signed": False}
                for i, (name, pushed) in enumerate(artifact.tags)
            ] or None  # fmt: skip
        return item

    def count(self, path_part: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if path_part in r.path)


def _one(query: Mapping[str, list[str]], key: str, default: str | None) -> str | None:
    values = query.get(key)
    return values[0] if values else default


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], Any]:
    return status, {}, {"errors": [{"code": code, "message": message}]}


def _page(
    raw_path: str, query: Mapping[str, list[str]], items: list[Any], page: int, size: int
) -> tuple[int, dict[str, str], Any]:
    total = len(items)
    headers = {"X-Total-Count": str(total)}
    links = []

    def link(number: int, rel: str) -> str:
        params = {k: v[0] for k, v in query.items()}
        params.update({"page": str(number), "page_size": str(size)})
        return f'<{raw_path}?{urlencode(sorted(params.items()), safe="=~*")}>; rel="{rel}"'

    if page > 1 and (page - 1) * size < total:
        links.append(link(page - 1, "prev"))
    if page * size < total:
        links.append(link(page + 1, "next"))
    if links:
        headers["Link"] = " , ".join(links)
    return 200, headers, items[(page - 1) * size : page * size]


def _make_handler(api: HarborAPI) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            status, headers, body = api.handle(
                "GET", parts.path, parse_qs(parts.query), self.headers.get("Authorization")
            )
            data = (json.dumps(body) + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler

"""A GitLab REST API (v4) stand-in: the Container Registry API, and the token, user, project and
membership endpoints regscout reads to check rights.

Built from GitLab's published API description and the endpoint code behind it (repository
``gitlabhq/gitlabhq``):

* ``doc/api/container_registry.md``, ``lib/api/project_container_repositories.rb``,
  ``lib/api/group_container_repositories.rb``, ``lib/api/entities/container_registry.rb``:
  ``GET /projects/:id/registry/repositories`` (``tags``, ``tags_count``) and
  ``GET /groups/:id/registry/repositories`` (no tags since 15.0; projects of subgroups included),
  repository fields ``id``, ``name``, ``path``, ``project_id``, ``location``, ``created_at``,
  ``cleanup_policy_started_at``, ``status`` (``delete_scheduled``/``delete_ongoing``);
  ``GET …/repositories/:repository_id/tags`` with only ``name``, ``path``, ``location`` per tag, paged by
  offset, or by keyset with ``pagination=keyset`` (``per_page``, ``sort``, ``last``; the next page only
  in ``Link: rel="next"``; ``405`` where the registry has no metadata database);
  ``GET …/tags/:tag_name`` (``revision``, ``short_revision``, ``digest``, ``created_at``,
  ``total_size``); ``id`` as a number or URL-encoded path (``acme%2Fapp``).
* ``doc/api/personal_access_tokens.md``, ``lib/api/personal_access_tokens/self_information.rb``,
  ``lib/api/entities/group_association_details.rb``, ``project_association_details.rb``:
  ``GET /personal_access_tokens/self`` (15.5+, any scope may call it, ``400`` for a token that is not an
  access token) and ``GET /personal_access_tokens/self/associations`` (17.4+, ``min_access_level``,
  ``{"groups": [...access_levels: int], "projects": [...access_levels: {project_access_level,
  group_access_level}]}``). Project and group access tokens are access tokens of a bot member.
* ``doc/api/rest/_index.md`` (pagination): ``page``, ``per_page`` (default 20, at most 100), headers
  ``x-page``, ``x-per-page``, ``x-next-page``, ``x-prev-page``, ``x-total``, ``x-total-pages`` and
  ``Link`` with ``prev``/``next``/``first``/``last``.
* ``doc/api/rest/authentication.md``: ``PRIVATE-TOKEN`` or ``Authorization: Bearer`` for access tokens,
  Bearer only for OAuth tokens; ``401 {"message": "401 Unauthorized"}``; a missing scope is
  ``403 {"error": "insufficient_scope", "error_description": …, "scope": …}``; deploy tokens are not
  accepted by the API (401).
* ``doc/api/projects.md``: ``permissions.project_access``/``group_access`` ``access_level`` on a single
  project, ``container_registry_access_level`` (``enabled``/``private``/``disabled``), list filters
  ``membership`` and ``min_access_level``; ``doc/api/users.md``: ``GET /user`` (``is_admin`` for
  administrators).
* ``doc/user/permissions.md``, ``doc/user/packages/container_registry``: a private project's registry
  needs Reporter; a disabled registry is refused (403); invisible groups and projects are ``404 … Not
  Found``.

* GraphQL (``POST /api/graphql``, also ``GET`` with ``query``/``variables`` parameters), only the query
  regscout sends: ``containerRepository(id: "gid://gitlab/ContainerRepository/<id>") { tags(first:, after:)
  { pageInfo { … } nodes { … } } }``. Sources: ``doc/api/graphql/reference/_index.md``
  (``ContainerRepositoryDetails.tags``, ``ContainerRepositoryTag``: ``name``/``path``/``location`` non-null,
  ``digest``, ``mediaType``, ``revision``, ``shortRevision``, ``totalSize`` (BigInt, a string),
  ``createdAt``, ``publishedAt``); ``app/graphql/types/container_registry/container_repository_details_type.rb``
  (``max_page_size: 20``); ``app/graphql/resolvers/container_repository_tags_resolver.rb`` and
  ``lib/gitlab/graphql/pagination/externally_paginated_array_connection.rb``: with the metadata database
  (``keyset_tags``) the registry is asked for ``first`` tags after the tag named by ``after``, the answer
  keeps the first ``min(first, 20)`` of them and ``endCursor`` is the registry's next-page marker, the
  last tag it sent; without it the whole list is a graphql-ruby array connection (cursors are base64
  positions, pages of at most 20). ``app/models/container_repository.rb`` (``transform_tags_page``) and
  ``lib/container_registry/tag.rb``: with the metadata database ``createdAt`` is the tag's first push,
  ``publishedAt`` its last, ``mediaType`` set; without it ``publishedAt`` and ``mediaType`` are null and
  ``createdAt`` is the image config's ``created`` (null for an index, which has no config).
  ``app/controllers/graphql_controller.rb``, ``lib/gitlab/auth/request_authenticator.rb``: the same
  ``PRIVATE-TOKEN`` or Bearer as REST, only tokens with ``api`` or ``read_api`` (deploy tokens and
  others: ``401 {"errors": [{"message": "Invalid token"}]}``), anonymous callers see public data;
  failures of a query come as HTTP 200 with an ``errors`` array (no ``data`` for a query that does not
  validate, ``null`` where a field failed). An object the caller may not read is ``null``.

Rate limiting answers ``429`` with ``Retry-After`` and the ``RateLimit-*`` headers and the plain-text
body ``Retry later`` (``doc/security/rate_limits.md``). Every request is recorded with its raw
(still URL-encoded) path, GraphQL requests with their body too.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from ..httpserver import HarnessHTTPServer, QuietHandler

__all__ = [
    "DEVELOPER",
    "GRAPHQL_PATH",
    "GUEST",
    "MAINTAINER",
    "OWNER",
    "REPORTER",
    "TAG_FIELDS",
    "APIRequest",
    "GitLabAPI",
    "GitLabToken",
    "GraphQLFault",
]

PREFIX = "/api/v4"
GRAPHQL_PATH = "/api/graphql"
TAGS_MAX_PAGE_SIZE = 20  # ContainerRepositoryDetails.tags max_page_size
# ContainerRepositoryTag fields this stand-in answers (not referrers, protection, userPermissions).
TAG_FIELDS = frozenset(
    {"name", "path", "location", "digest", "mediaType", "revision", "shortRevision", "totalSize", "createdAt",
     "publishedAt"}
)  # fmt: skip
PAGE_INFO_FIELDS = frozenset({"hasNextPage", "hasPreviousPage", "startCursor", "endCursor"})
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX_MEDIA_TYPES = frozenset(
    {"application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"}
)
GraphQLFault = Literal["refused", "field_error", "no_repository", "unauthorized", "server_error"]
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER = 10, 20, 30, 40, 50
ACCESS_LEVELS = frozenset({0, 5, 10, 15, 20, 30, 40, 50})
READ_API = frozenset({"api", "read_api"})
Visibility = Literal["private", "internal", "public"]
RegistryAccess = Literal["enabled", "private", "disabled"]

Answer = tuple[int, Any, dict[str, str]]


@dataclass(frozen=True)
class GitLabToken:
    """``kind``: personal / project / group access token (all access tokens), ``deploy`` (registry only) or
    ``oauth``. ``memberships``: group or project full path → access level (inherited by what lies below)."""

    kind: Literal["personal", "project", "group", "deploy", "oauth"]
    username: str
    scopes: tuple[str, ...] = ("read_api", "read_registry")
    memberships: Mapping[str, int] = field(default_factory=dict)
    is_admin: bool = False
    expires_at: str | None = None
    expired: bool = False


@dataclass
class _Tag:
    name: str
    digest: str
    created_at: str  # GitLab's created_at: the build time without the metadata database, the first push with it
    total_size: int
    published_at: str  # the last push (the metadata database's published_at)
    media_type: str


@dataclass
class _Repository:
    id: int
    project: _Project
    name: str
    status: str | None
    created_at: str
    tags: dict[str, _Tag] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return f"{self.project.path}/{self.name}" if self.name else self.project.path


@dataclass
class _Project:
    id: int
    path: str
    visibility: Visibility
    registry: RegistryAccess
    repositories: dict[str, _Repository] = field(default_factory=dict)


@dataclass
class _Group:
    id: int
    path: str
    visibility: Visibility


@dataclass(frozen=True)
class APIRequest:
    method: str
    path: str  # raw: URL-encoded segments stay encoded
    query: dict[str, list[str]]
    private_token: str | None
    authorization: str | None
    status: int
    body: Any = None  # a GraphQL request's JSON ({"query", "variables"})


@dataclass
class _Throttle:
    remaining: int
    retry_after: str
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class _Caller:
    token: GitLabToken | None
    user_id: int = 0


def _message(status: int, text: str) -> Answer:
    return status, {"message": f"{status} {text}"}, {}


def _insufficient_scope(scopes: frozenset[str]) -> Answer:
    return (
        403,
        {
            "error": "insufficient_scope",
            "error_description": "The request requires higher privileges than provided by the access token.",
            "scope": " ".join(sorted(scopes)),
        },
        {},
    )


class GitLabAPI:
    """A GitLab on 127.0.0.1. ``url`` is the API root (the adapter's ``api_url``); ``registry_host`` is what
    ``location`` fields name. ``keyset_tags``: the registry has the metadata database (GitLab.com), which
    also decides what GraphQL's tag fields hold; ``self_endpoint``: GitLab 15.5+; ``associations``: GitLab
    17.4+. ``graphql``: False for no ``/api/graphql`` (404: an old GitLab, or blocked on the way);
    ``tag_fields``: the ``ContainerRepositoryTag`` fields this GitLab has (an older one lacks ``mediaType``:
    the query then does not validate); ``tags_max_page_size``: the tags connection's cap. ``graphql_fault``
    makes it fail in GitLab's ways."""

    def __init__(
        self,
        registry_host: str,
        *,
        keyset_tags: bool = True,
        self_endpoint: bool = True,
        associations: bool = True,
        graphql: bool = True,
        tag_fields: frozenset[str] = TAG_FIELDS,
        tags_max_page_size: int = TAGS_MAX_PAGE_SIZE,
    ) -> None:
        self.registry_host = registry_host
        self.keyset_tags = keyset_tags
        self.self_endpoint = self_endpoint
        self.associations = associations
        self.graphql = graphql
        self.tag_fields = tag_fields
        self.tags_max_page_size = tags_max_page_size
        self._graphql_faults: list[tuple[GraphQLFault, int]] = []
        self._lock = threading.Lock()
        self._groups: dict[str, _Group] = {}
        self._projects: dict[str, _Project] = {}
        self._tokens: dict[str, tuple[GitLabToken, int]] = {}
        self._throttles: list[_Throttle] = []
        self._requests: list[APIRequest] = []
        self._next_id = 1
        self._server = HarnessHTTPServer("127.0.0.1", _make_handler(self))
        self.web_url = f"http://127.0.0.1:{self._server.port}"
        self.url = self.web_url + PREFIX
        self._server.start(name=f"gitlab-api-{self._server.port}")

    # -- content -------------------------------------------------------------------------------
    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def add_group(self, path: str, visibility: Visibility = "private") -> int:
        with self._lock:
            group = self._groups.setdefault(path, _Group(self._id(), path, visibility))
            return group.id

    def add_project(self, path: str, visibility: Visibility = "private", registry: RegistryAccess = "enabled") -> int:
        with self._lock:
            project = self._projects.setdefault(path, _Project(self._id(), path, visibility, registry))
            return project.id

    def add_repository(
        self, project: str, name: str = "", *, status: str | None = None, created_at: str = "2024-01-10T13:38:57.391Z"
    ) -> int:
        with self._lock:
            owner = self._projects[project]
            repository = owner.repositories.get(name)
            if repository is None:
                repository = owner.repositories[name] = _Repository(self._id(), owner, name, status, created_at)
            return repository.id

    def add_tag(
        self,
        project: str,
        repository: str,
        tag: str,
        digest: str,
        *,
        created_at: str = "2024-01-06T16:49:51.272+00:00",
        published_at: str | None = None,
        media_type: str = OCI_MANIFEST,
        total_size: int = 1024,
    ) -> None:
        """``created_at``: GitLab's ``created_at`` of the tag (a build time, or with the metadata database its
        first push); ``published_at``: its last push, by default ``created_at`` (never pushed again)."""
        self.add_repository(project, repository)
        entry = _Tag(tag, digest, created_at, total_size, published_at or created_at, media_type)
        with self._lock:
            self._projects[project].repositories[repository].tags[tag] = entry

    def add_token(self, value: str, token: GitLabToken) -> None:
        with self._lock:
            self._tokens[value] = (token, self._id())

    # -- faults and records --------------------------------------------------------------------
    def throttle(self, times: int = 1, *, retry_after: str = "1", path_regex: str = "") -> None:
        """Answer the next ``times`` requests whose raw path matches ``path_regex`` with 429."""
        with self._lock:
            self._throttles.append(_Throttle(times, retry_after, re.compile(path_regex)))

    def graphql_fault(self, kind: GraphQLFault, times: int = 1_000_000) -> None:
        """Answer the next ``times`` GraphQL requests as GitLab does when ``kind`` goes wrong:

        * ``refused``: the query does not validate here (HTTP 200, ``errors``, no ``data``), as on a GitLab
          that lacks a field, or one that refuses the operation;
        * ``field_error``: the tags field failed (HTTP 200, ``data.containerRepository.tags`` null and an
          error at that path: GitLab could not reach its registry);
        * ``no_repository``: ``data.containerRepository`` null (not visible to the caller);
        * ``unauthorized``: ``401 {"errors": [{"message": "Invalid token"}]}``;
        * ``server_error``: ``500 {"errors": [{"message": "Internal server error"}]}``.
        """
        with self._lock:
            self._graphql_faults.append((kind, times))

    def _take_graphql_fault(self) -> GraphQLFault | None:
        with self._lock:
            for index, (kind, remaining) in enumerate(self._graphql_faults):
                if remaining > 0:
                    self._graphql_faults[index] = (kind, remaining - 1)
                    return kind
        return None

    @property
    def requests(self) -> list[APIRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def close(self) -> None:
        self._server.close()

    def __enter__(self) -> GitLabAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _record(self, request: APIRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _throttled(self, path: str) -> _Throttle | None:
        with self._lock:
            for rule in self._throttles:
                if rule.remaining > 0 and rule.pattern.search(path):
                    rule.remaining -= 1
                    return rule
        return None

    # -- who is calling ------------------------------------------------------------------------
    def _caller(self, private_token: str | None, authorization: str | None) -> _Caller | Answer:
        scheme, _, bearer = (authorization or "").partition(" ")
        value = private_token or (bearer.strip() if scheme.lower() == "bearer" else None)
        if not value:
            return _Caller(None)
        with self._lock:
            found = self._tokens.get(value)
        if found is None or found[0].kind == "deploy" or (found[0].kind == "oauth" and private_token):
            return _message(401, "Unauthorized")
        token, user_id = found
        if token.expired:
            description = "Token is expired. You can either do re-authorization or token refresh."
            return (
                401,
                {"error": "invalid_token", "error_description": description},
                {"WWW-Authenticate": f'Bearer realm="", error="invalid_token", error_description="{description}"'},
            )
        return _Caller(token, user_id)

    @staticmethod
    def _level(token: GitLabToken | None, path: str) -> int:
        """The highest access level on ``path``, inherited from the groups above it."""
        if token is None:
            return 0
        levels = [level for key, level in token.memberships.items() if path == key or path.startswith(key + "/")]
        return max(levels, default=0)

    @staticmethod
    def _direct(token: GitLabToken | None, path: str) -> int | None:
        return token.memberships.get(path) if token is not None else None

    def _group_level(self, token: GitLabToken | None, path: str) -> int | None:
        """The highest level from the groups above a project (``group_access``), None without one."""
        if token is None:
            return None
        levels = [
            level for key, level in token.memberships.items() if key in self._groups and path.startswith(key + "/")
        ]
        return max(levels) if levels else None

    def _sees_project(self, caller: _Caller, project: _Project) -> bool:
        token = caller.token
        if project.visibility == "public" or (token is not None and token.is_admin):
            return True
        if project.visibility == "internal":
            return token is not None
        return self._level(token, project.path) >= GUEST

    def _reads_registry(self, caller: _Caller, project: _Project) -> bool:
        token = caller.token
        if project.registry == "disabled" or not self._sees_project(caller, project):
            return False
        if token is not None and token.is_admin:
            return True
        if project.registry == "private" or project.visibility == "private":
            return self._level(token, project.path) >= REPORTER
        return True

    def _sees_group(self, caller: _Caller, group: _Group) -> bool:
        token = caller.token
        if group.visibility == "public" or (token is not None and token.is_admin):
            return True
        if token is None:
            return False
        if group.visibility == "internal":
            return True
        # Members of a group, of a group above it, or of anything inside it can see it.
        below = any(key.startswith(group.path + "/") for key in token.memberships)
        return below or self._level(token, group.path) > 0

    def _reads_group_registry(self, caller: _Caller, group: _Group) -> bool:
        token = caller.token
        if group.visibility == "public" or (token is not None and token.is_admin):
            return True
        return self._level(token, group.path) >= REPORTER

    # -- entities ------------------------------------------------------------------------------
    def _repository_json(self, repository: _Repository, *, tags: bool, tags_count: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": repository.id,
            "name": repository.name,
            "path": repository.path,
            "project_id": repository.project.id,
            "location": f"{self.registry_host}/{repository.path}",
            "created_at": repository.created_at,
            "cleanup_policy_started_at": None,
            "status": repository.status,
        }
        if tags_count:
            body["tags_count"] = len(repository.tags)
        if tags:
            body["tags"] = [self._tag_json(repository, t) for t in sorted(repository.tags)]
        return body

    def _tag_json(self, repository: _Repository, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "path": f"{repository.path}:{name}",
            "location": f"{self.registry_host}/{repository.path}:{name}",
        }

    def _project_json(self, caller: _Caller, project: _Project, *, permissions: bool) -> dict[str, Any]:
        namespace = project.path.rsplit("/", 1)[0]
        body: dict[str, Any] = {
            "id": project.id,
            "name": project.path.rsplit("/", 1)[1],
            "path": project.path.rsplit("/", 1)[1],
            "path_with_namespace": project.path,
            "namespace": {"full_path": namespace, "kind": "group", "path": namespace.rsplit("/", 1)[-1]},
            "visibility": project.visibility,
            "web_url": f"{self.web_url}/{project.path}",
            "container_registry_enabled": project.registry != "disabled",
            "container_registry_access_level": project.registry,
        }
        if permissions:
            direct, inherited = self._direct(caller.token, project.path), self._group_level(caller.token, project.path)
            body["permissions"] = {
                "project_access": {"access_level": direct, "notification_level": 3} if direct else None,
                "group_access": {"access_level": inherited, "notification_level": 3} if inherited else None,
            }
        return body

    def _token_json(self, token: GitLabToken, user_id: int) -> dict[str, Any]:
        return {
            "id": user_id + 1000,
            "name": f"{token.kind} token of {token.username}",
            "revoked": False,
            "created_at": "2024-07-01T00:00:00.000Z",
            "description": "",
            "scopes": list(token.scopes),
            "user_id": user_id,
            "last_used_at": None,
            "active": True,
            "expires_at": token.expires_at,
        }

    # -- paging --------------------------------------------------------------------------------
    def _link(self, path: str, query: dict[str, list[str]], **changes: str) -> str:
        merged = {k: v for k, v in query.items() if k not in changes}
        merged.update({k: [v] for k, v in changes.items()})
        return f"{self.web_url}{path}?{urlencode(merged, doseq=True)}"

    def _offset_page(self, path: str, query: dict[str, list[str]], items: list[Any]) -> Answer:
        try:
            page = int(query.get("page", ["1"])[0])
            per_page = int(query.get("per_page", [str(DEFAULT_PER_PAGE)])[0])
        except ValueError:
            return 400, {"error": "page is invalid, per_page is invalid"}, {}
        if page < 1 or per_page < 1:
            return 400, {"error": "page does not have a valid value"}, {}
        per_page = min(per_page, MAX_PER_PAGE)
        pages = max(1, math.ceil(len(items) / per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        following = str(page + 1) if page < pages else ""
        previous = str(page - 1) if 1 < page <= pages + 1 else ""
        links = [f'<{self._link(path, query, page=previous, per_page=str(per_page))}>; rel="prev"'] if previous else []
        if following:
            links.append(f'<{self._link(path, query, page=following, per_page=str(per_page))}>; rel="next"')
        links.append(f'<{self._link(path, query, page="1", per_page=str(per_page))}>; rel="first"')
        links.append(f'<{self._link(path, query, page=str(pages), per_page=str(per_page))}>; rel="last"')
        headers = {
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Next-Page": following,
            "X-Prev-Page": previous,
            "X-Total": str(len(items)),
            "X-Total-Pages": str(pages),
            "Link": ", ".join(links),
        }
        return 200, chunk, headers

    def _keyset_tags(self, path: str, query: dict[str, list[str]], repository: _Repository) -> Answer:
        if not self.keyset_tags:
            return _message(405, "Method Not Allowed")
        descending = query.get("sort", ["asc"])[0] == "desc"
        try:
            per_page = min(max(int(query.get("per_page", [str(DEFAULT_PER_PAGE)])[0]), 1), MAX_PER_PAGE)
        except ValueError:
            return 400, {"error": "per_page is invalid"}, {}
        names = sorted(repository.tags, reverse=descending)
        last = query.get("last", [""])[0]
        if last:
            names = [n for n in names if (n < last if descending else n > last)]
        chunk = names[:per_page]
        headers: dict[str, str] = {}
        if len(names) > per_page:
            following = self._link(
                path, query, per_page=str(per_page), last=chunk[-1], sort="desc" if descending else "asc"
            )
            headers["Link"] = f'<{following}>; rel="next"'
        return 200, [self._tag_json(repository, n) for n in chunk], headers

    # -- GraphQL -------------------------------------------------------------------------------
    def graphql_request(self, body: Any, private_token: str | None, authorization: str | None) -> Answer:
        """``POST /api/graphql`` (``body``: the request's JSON) or ``GET`` (``body`` from the query string)."""
        if not self.graphql:
            return 404, {"error": "404 Not Found"}, {}
        caller = self._caller(private_token, authorization)
        token = caller.token if isinstance(caller, _Caller) else None
        if not isinstance(caller, _Caller) or (token is not None and not READ_API & set(token.scopes)):
            return 401, _gql_errors("Invalid token"), {}
        fault = self._take_graphql_fault()
        if fault == "unauthorized":
            return 401, _gql_errors("Invalid token"), {}
        if fault == "server_error":
            return 500, _gql_errors("Internal server error"), {}
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return 200, _gql_errors("No query string was present"), {}
        query: str = body["query"]
        variables = body.get("variables") or {}
        if not isinstance(variables, dict):
            return 422, _gql_errors("Unexpected end of document"), {}
        parsed = _parse_tags_query(query, variables, self.tag_fields)
        if isinstance(parsed, dict):
            return 200, parsed, {}
        if fault == "refused":
            return 200, _gql_errors("Query has complexity of 301, which exceeds max complexity of 250"), {}
        if fault == "no_repository":
            return 200, {"data": {"containerRepository": None}}, {}
        if fault == "field_error":
            message = (
                "Can't connect to the Container Registry. If this error persists, please review the "
                "troubleshooting documentation."
            )
            error = {
                "message": message,
                "locations": [{"line": 1, "column": 1}],
                "path": ["containerRepository", "tags"],
            }
            return 200, {"data": {"containerRepository": {"tags": None}}, "errors": [error]}, {}
        with self._lock:
            repository = self._repository_by_gid(parsed.repository_id)
            if repository is None or not self._reads_registry(caller, repository.project):
                return 200, {"data": {"containerRepository": None}}, {}
            connection = self._tags_connection(repository, parsed)
        if isinstance(connection, tuple):
            return connection
        return 200, {"data": {"containerRepository": {"tags": connection}}}, {}

    def _repository_by_gid(self, gid: int) -> _Repository | None:
        for project in self._projects.values():
            for repository in project.repositories.values():
                if repository.id == gid:
                    return repository
        return None

    def _tags_connection(self, repository: _Repository, query: _TagsQuery) -> dict[str, Any] | Answer:
        names = sorted(repository.tags)
        cap = self.tags_max_page_size
        first = None if query.first is None else max(query.first, 0)
        limit = cap if first is None else min(first, cap)  # graphql-ruby caps `first` at max_page_size
        if self.keyset_tags:
            # The resolver asks the registry for `first` tags after the tag named `after`; the connection keeps
            # the first `limit` of them, and its cursors are the registry's page markers.
            after = query.after or ""
            remaining = [n for n in names if n > after]
            asked = first if first else 100  # the registry's default page size
            registry_page = remaining[:asked]
            kept = registry_page[:limit]
            end = registry_page[-1] if registry_page and len(remaining) > len(registry_page) else None
            start = registry_page[0] if query.after and registry_page else None
            page_info = {"hasNextPage": end is not None, "hasPreviousPage": start is not None,
                         "startCursor": start, "endCursor": end}  # fmt: skip
        else:
            # A graphql-ruby array connection over every tag: cursors are base64 positions.
            offset = 0
            if query.after:
                try:
                    offset = int(base64.urlsafe_b64decode(query.after + "=" * (-len(query.after) % 4)).decode())
                except (binascii.Error, UnicodeDecodeError, ValueError):
                    return 200, _gql_errors(f"Invalid cursor: {query.after}"), {}
            kept = names[offset : offset + limit]
            page_info = {
                "hasNextPage": len(names) > offset + limit,
                "hasPreviousPage": offset > 0,
                "startCursor": _position_cursor(offset + 1) if kept else None,
                "endCursor": _position_cursor(offset + len(kept)) if kept else None,
            }
        connection: dict[str, Any] = {}
        if query.page_info:
            connection["pageInfo"] = {f: page_info[f] for f in query.page_info}
        if query.nodes:
            connection["nodes"] = [self._tag_node(repository, repository.tags[n], query.nodes) for n in kept]
        return connection

    def _tag_node(self, repository: _Repository, tag: _Tag, fields: tuple[str, ...]) -> dict[str, Any]:
        metadata = self.keyset_tags
        index = tag.media_type in INDEX_MEDIA_TYPES
        values: dict[str, Any] = {
            "name": tag.name,
            "path": f"{repository.path}:{tag.name}",
            "location": f"{self.registry_host}/{repository.path}:{tag.name}",
            "digest": tag.digest,
            "mediaType": tag.media_type if metadata else None,
            "revision": None,  # the config digest, which this stand-in does not know
            "shortRevision": None,
            "totalSize": str(tag.total_size),  # BigInt: a string
            # Without the metadata database, GitLab reads createdAt from the image config, which an index lacks.
            "createdAt": tag.created_at if metadata or not index else None,
            "publishedAt": tag.published_at if metadata else None,
        }
        return {f: values[f] for f in fields}

    # -- routes --------------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, query: dict[str, list[str]], caller: _Caller) -> Answer:
        if method != "GET":
            return _message(405, "Method Not Allowed")  # regscout never writes; nothing here may change
        if not raw_path.startswith(PREFIX + "/"):
            return 404, {"error": "404 Not Found"}, {}
        parts = [unquote(p) for p in raw_path[len(PREFIX) + 1 :].split("/")]
        if parts[0] == "personal_access_tokens" and parts[1:2] == ["self"]:
            return self._token_self(parts[2:], query, caller)
        if parts == ["user"]:
            return self._user(caller)
        token = caller.token
        if token is not None and not READ_API & set(token.scopes):
            return _insufficient_scope(READ_API)
        with self._lock:
            if parts[0] == "projects":
                return self._projects_route(raw_path, parts[1:], query, caller)
            if parts[0] == "groups" and len(parts) == 4 and parts[2:] == ["registry", "repositories"]:
                return self._group_repositories(raw_path, parts[1], query, caller)
        return 404, {"error": "404 Not Found"}, {}

    def _token_self(self, rest: list[str], query: dict[str, list[str]], caller: _Caller) -> Answer:
        if not self.self_endpoint or (rest and (rest != ["associations"] or not self.associations)):
            return 404, {"error": "404 Not Found"}, {}
        token = caller.token
        if token is None:
            return _message(401, "Unauthorized")
        if token.kind == "oauth":
            return _message(400, "Bad request - This endpoint requires token type to be a personal access token")
        if not rest:
            return 200, self._token_json(token, caller.user_id), {}
        raw_level = query.get("min_access_level", ["0"])[0]
        if not raw_level.isdigit() or int(raw_level) not in ACCESS_LEVELS:
            return 400, {"error": "min_access_level does not have a valid value"}, {}
        minimum = int(raw_level)
        with self._lock:
            groups = [
                {
                    "id": group.id,
                    "web_url": f"{self.web_url}/groups/{group.path}",
                    "name": group.path.rsplit("/", 1)[-1],
                    "parent_id": None,
                    "organization_id": 1,
                    "access_levels": self._level(token, group.path),
                    "visibility": group.visibility,
                }
                for group in sorted(self._groups.values(), key=lambda g: g.id)
                if self._level(token, group.path) >= max(minimum, 1)
            ]
            projects = [
                {
                    **self._project_json(caller, project, permissions=False),
                    "access_levels": {
                        "project_access_level": self._direct(token, project.path),
                        "group_access_level": self._group_level(token, project.path),
                    },
                }
                for project in sorted(self._projects.values(), key=lambda p: p.id)
                if self._level(token, project.path) >= max(minimum, 1)
            ]
        status, page, headers = self._offset_page("/api/v4/personal_access_tokens/self/associations", query, projects)
        group_status, group_page, _ = self._offset_page("", query, groups)
        if status != 200 or group_status != 200:
            return status, page, headers
        return 200, {"groups": group_page, "projects": page}, headers

    def _user(self, caller: _Caller) -> Answer:
        token = caller.token
        if token is None:
            return _message(401, "Unauthorized")
        allowed = READ_API | {"read_user"}
        if not allowed & set(token.scopes):
            return _insufficient_scope(allowed)
        body: dict[str, Any] = {
            "id": caller.user_id,
            "username": token.username,
            "name": token.username,
            "state": "active",
            "web_url": f"{self.web_url}/{token.username}",
            "bot": token.kind in ("project", "group"),
        }
        if token.is_admin:
            body["is_admin"] = True
        return 200, body, {}

    def _find_project(self, ref: str) -> _Project | None:
        if ref.isdigit():
            return next((p for p in self._projects.values() if p.id == int(ref)), None)
        return self._projects.get(ref)

    def _projects_route(self, raw_path: str, rest: list[str], query: dict[str, list[str]], caller: _Caller) -> Answer:
        if not rest:
            return self._project_list(raw_path, query, caller)
        project = self._find_project(rest[0])
        if project is None or not self._sees_project(caller, project):
            return _message(404, "Project Not Found")
        if len(rest) == 1:
            return 200, self._project_json(caller, project, permissions=True), {}
        if rest[1:3] != ["registry", "repositories"]:
            return 404, {"error": "404 Not Found"}, {}
        if not self._reads_registry(caller, project):
            return _message(403, "Forbidden")
        if len(rest) == 3:
            repositories = [
                self._repository_json(r, tags=_flag(query, "tags"), tags_count=_flag(query, "tags_count"))
                for r in sorted(project.repositories.values(), key=lambda r: r.id)
            ]
            return self._offset_page(raw_path, query, repositories)
        repository = next((r for r in project.repositories.values() if str(r.id) == rest[3]), None)
        if repository is None:
            return _message(404, "Repository Not Found")
        if rest[4:] == ["tags"]:
            if query.get("pagination", [""])[0] == "keyset":
                return self._keyset_tags(raw_path, query, repository)
            tags = [self._tag_json(repository, name) for name in sorted(repository.tags)]
            return self._offset_page(raw_path, query, tags)
        if len(rest) == 6 and rest[4] == "tags":
            tag = repository.tags.get(rest[5])
            if tag is None:
                return _message(404, "Tag Not Found")
            return 200, self._tag_details(repository, tag), {}
        return 404, {"error": "404 Not Found"}, {}

    def _tag_details(self, repository: _Repository, tag: _Tag) -> dict[str, Any]:
        revision = tag.digest.removeprefix("sha256:")
        return {
            **self._tag_json(repository, tag.name),
            "revision": revision,
            "short_revision": revision[:9],
            "digest": tag.digest,
            "created_at": tag.created_at,
            "total_size": tag.total_size,
        }

    def _project_list(self, raw_path: str, query: dict[str, list[str]], caller: _Caller) -> Answer:
        token = caller.token
        membership = _flag(query, "membership") and token is not None
        raw_level = query.get("min_access_level", [""])[0]
        if raw_level and (not raw_level.isdigit() or int(raw_level) not in ACCESS_LEVELS):
            return 400, {"error": "min_access_level does not have a valid value"}, {}
        minimum = int(raw_level) if raw_level else 0
        chosen = []
        for project in sorted(self._projects.values(), key=lambda p: p.id):
            level = self._level(token, project.path)
            if not self._sees_project(caller, project):
                continue
            if (membership and level < GUEST) or (minimum and level < minimum):
                continue
            chosen.append(self._project_json(caller, project, permissions=False))
        return self._offset_page(raw_path, query, chosen)

    def _group_repositories(self, raw_path: str, ref: str, query: dict[str, list[str]], caller: _Caller) -> Answer:
        group = (
            next((g for g in self._groups.values() if g.id == int(ref)), None)
            if ref.isdigit()
            else self._groups.get(ref)
        )
        if group is None or not self._sees_group(caller, group):
            return _message(404, "Group Not Found")
        if not self._reads_group_registry(caller, group):
            return _message(403, "Forbidden")
        repositories = [
            self._repository_json(repository, tags=False, tags_count=False)
            for project in self._projects.values()
            if project.path.startswith(group.path + "/") and self._reads_registry(caller, project)
            for repository in project.repositories.values()
        ]
        repositories.sort(key=lambda r: int(r["id"]))
        return self._offset_page(raw_path, query, repositories)


@dataclass(frozen=True)
class _TagsQuery:
    repository_id: int
    first: int | None
    after: str | None
    page_info: tuple[str, ...]
    nodes: tuple[str, ...]


_GQL_REPOSITORY = re.compile(r"\bcontainerRepository\s*\(\s*id\s*:\s*(\$\w+|\"[^\"]*\")\s*\)\s*\{")
_GQL_TAGS = re.compile(r"\btags\s*(?:\(([^)]*)\))?\s*\{")
_GQL_ARGUMENT = re.compile(r"(\w+)\s*:\s*(\$\w+|\"[^\"]*\"|-?\d+|null)")
_GQL_SELECTION = r"\b{}\s*\{{([^{{}}]*)\}}"
_GQL_NAME = re.compile(r"[A-Za-z_]\w*")
_GID = re.compile(r"gid://gitlab/ContainerRepository/(\d+)")


def _gql_errors(message: str, **extra: Any) -> dict[str, Any]:
    return {"errors": [{"message": message, **extra}]}


def _position_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(str(position).encode()).decode().rstrip("=")


def _location(query: str, index: int) -> dict[str, int]:
    line = query.count("\n", 0, index) + 1
    return {"line": line, "column": index - (query.rfind("\n", 0, index) + 1) + 1}


def _gql_value(raw: str, variables: dict[str, Any]) -> Any:
    if raw.startswith("$"):
        return variables.get(raw[1:])
    return None if raw == "null" else json.loads(raw)


def _parse_tags_query(query: str, variables: dict[str, Any], tag_fields: frozenset[str]) -> _TagsQuery | dict[str, Any]:
    """The one operation this stand-in answers, read with a few patterns (no GraphQL engine): the
    ``containerRepository`` id, the ``tags`` arguments and the fields under ``pageInfo`` and ``nodes``. What it
    cannot read is refused as GitLab refuses a query that does not validate: HTTP 200, ``errors``, no ``data``."""
    operation = re.match(r"\s*(?:query\s*(\w+)?)?", query)
    name = f"query {operation.group(1)}" if operation and operation.group(1) else "query"
    if re.match(r"\s*(mutation|subscription)\b", query):
        return _gql_errors("this stand-in answers only the containerRepository tags query")
    repository = _GQL_REPOSITORY.search(query)
    tags = _GQL_TAGS.search(query, repository.end()) if repository else None
    if repository is None or tags is None:
        return _gql_errors("this stand-in answers only containerRepository(id:) { tags { pageInfo nodes } }")
    arguments = {k: _gql_value(v, variables) for k, v in _GQL_ARGUMENT.findall(tags.group(1) or "")}
    unknown = set(arguments) - {"first", "after", "last", "before", "sort", "name", "referrers", "referrerType"}
    if unknown:
        field = sorted(unknown)[0]
        return _gql_errors(
            f"Field 'tags' doesn't accept argument '{field}'",
            locations=[_location(query, tags.start())],
            path=[name, "containerRepository", "tags", field],
            extensions={"code": "argumentNotAccepted", "name": "tags", "typeName": "Field", "argumentName": field},
        )
    gid = _gql_value(repository.group(1), variables)
    matched = _GID.fullmatch(gid) if isinstance(gid, str) else None
    if matched is None:
        problem = f'"{gid}" does not represent an instance of ContainerRepository'
        return _gql_errors(
            "Variable $id of type ContainerRepositoryID! was provided invalid value",
            locations=[_location(query, repository.start())],
            extensions={"value": gid, "problems": [{"path": [], "explanation": problem}]},
        )
    first, after = arguments.get("first"), arguments.get("after")
    if (first is not None and not isinstance(first, int)) or (after is not None and not isinstance(after, str)):
        return _gql_errors("Argument 'first' on Field 'tags' has an invalid value")
    body = query[tags.end() :]
    if re.search(r"\bedges\b", body):
        return _gql_errors("this stand-in answers tags { pageInfo nodes }, not edges")
    selections: dict[str, tuple[str, ...]] = {}
    for selection, allowed, type_name in (
        ("pageInfo", PAGE_INFO_FIELDS, "PageInfo"),
        ("nodes", tag_fields, "ContainerRepositoryTag"),
    ):
        found = re.search(_GQL_SELECTION.format(selection), body)
        fields = tuple(_GQL_NAME.findall(found.group(1))) if found else ()
        for field in fields:
            if field not in allowed and field != "__typename":
                assert found is not None
                at = tags.end() + found.start(1) + found.group(1).index(field)
                return _gql_errors(
                    f"Field '{field}' doesn't exist on type '{type_name}'",
                    locations=[_location(query, at)],
                    path=[name, "containerRepository", "tags", selection, field],
                    extensions={"code": "undefinedField", "typeName": type_name, "fieldName": field},
                )
        selections[selection] = tuple(f for f in fields if f != "__typename")
    return _TagsQuery(int(matched.group(1)), first, after, selections["pageInfo"], selections["nodes"])


def _flag(query: dict[str, list[str]], name: str) -> bool:
    return query.get(name, ["false"])[0].lower() in ("true", "1", "yes")


def _make_handler(api: GitLabAPI) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def _serve(self) -> None:
            raw = self.read_body()
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            private_token = self.headers.get("PRIVATE-TOKEN")
            authorization = self.headers.get("Authorization")
            graphql = parts.path == GRAPHQL_PATH and self.command in ("GET", "POST")
            body: Any = None
            if graphql:
                body = _graphql_body(self.command, raw, query)
            rule = api._throttled(parts.path)
            if rule is not None:
                api._record(APIRequest(self.command, parts.path, query, private_token, authorization, 429, body))
                headers = {
                    "Retry-After": rule.retry_after,
                    "RateLimit-Name": "throttle_authenticated_api",
                    "RateLimit-Limit": "2000",
                    "RateLimit-Observed": "2001",
                    "RateLimit-Remaining": "0",
                }
                self.send_bytes(429, b"Retry later\n", headers, content_type="text/plain")
                return
            if graphql:
                status, answer, headers = api.graphql_request(body, private_token, authorization)
            else:
                caller = api._caller(private_token, authorization)
                if isinstance(caller, _Caller):
                    status, answer, headers = api.handle(self.command, parts.path, query, caller)
                else:
                    status, answer, headers = caller
            # Recorded before answering, so a test sees every request its client got an answer to.
            api._record(APIRequest(self.command, parts.path, query, private_token, authorization, status, body))
            self.send_bytes(status, json.dumps(answer).encode(), headers)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    return Handler


def _graphql_body(method: str, raw: bytes, query: dict[str, list[str]]) -> Any:
    """The GraphQL request: the JSON body of a POST, or the ``query``/``variables`` parameters of a GET."""
    if method == "GET":
        variables: Any = query.get("variables", ["{}"])[0]
        try:
            variables = json.loads(variables) if variables else {}
        except ValueError:
            variables = None
        return {"query": query.get("query", [""])[0], "variables": variables}
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return None

"""A JFrog Artifactory REST API stand-in, and Docker fronts that route /v2/ to the real registry.

Built from JFrog's REST API reference (jfrog.com/help/r/jfrog-rest-apis/<page>) and Artifactory's own sources
(knottnhupfer/artifactory-oss); each behaviour and where it comes from:

* Auth on every call: ``Authorization: Basic`` (user + password, access token or API key), ``Authorization:
  Bearer <access token>``, ``X-JFrog-Art-Api: <API key>`` ("Introduction to the Artifactory REST APIs",
  "Access Tokens"). Bad credentials answer 401 ``{"errors": [{"status": 401, "message": "Bad credentials"}]}``
  even where anonymous access would be allowed ("Error Responses" for the body). Access tokens are JWTs whose
  ``sub`` is ``jfac@<id>/users/<name>`` and ``scp`` a scope such as ``applied-permissions/user``,
  ``applied-permissions/admin`` or ``applied-permissions/groups:<g>`` ("Create Token"); here an admin scope gives
  admin rights and any other scope the user's own permissions.
* ``GET /api/system/version`` → ``{"version", "revision", "addons", "license"}`` ("System Version").
* ``GET /api/repositories?type=&packageType=`` → ``[{"key", "type", "description", "url", "packageType"}]`` with
  ``type`` LOCAL, REMOTE, VIRTUAL or FEDERATED and, for a remote repository, the upstream ``url``; only the
  repositories the caller may read ("Get Repositories"; jfrog/jfrog-client-go
  ``artifactory/services/repositories.go``; goharbor/harbor ``src/pkg/reg/adapter/jfrog/client.go``).
* ``GET /api/docker/{repoKey}/v2/_catalog?n=&last=`` → ``{"repositories": [...]}`` and
  ``GET /api/docker/{repoKey}/v2/{image}/tags/list?n=&last=`` → ``{"name", "tags"}`` ("List Docker Repositories",
  "List Docker Tags"; pages by ``n`` and ``last`` since 5.4.6, Pro or JCR only). A virtual repository lists its
  members' images. ``prefixed_names`` makes a repository answer ``<repoKey>/<image>``, as some versions do. Their
  errors use the Docker registry's error body (``NAME_UNKNOWN``, ``DENIED``), as the Docker API they mirror does.
* ``POST /api/search/aql`` (text/plain) → ``{"results": [...], "range": {"start_pos", "end_pos", "total",
  "limit", "notification"}}`` ("AQL Execution"). Items domain only, criteria with ``$eq``, ``$ne``, ``$match``,
  ``$nmatch``, ``$or``, ``$and``; ``.include()``, ``.sort()``, ``.offset()``, ``.limit()``; field names from
  ``AqlPhysicalFieldEnum`` (repo, path, name, type, size, created, created_by, modified, modified_by, updated,
  sha256). A non-admin must include repo, path and name or gets 400 "For permissions reasons AQL demands the
  following fields: repo, path and name." (``AqlQueryValidator.java``; "Users Without Admin Privileges"), sees
  only readable repositories, and is capped at ``aql_user_limit`` rows with the "results are trimmed"
  notification ("Limiting AQL Search Results"). Anonymous callers get 403 ("Only non-anonymous users are allowed
  to access AQL queries", ``AqlResource.java``); query errors are 400 text/plain. A user with ``aql=False`` is
  refused with 403, as a platform that blocks AQL for a user does.
* Docker storage layout for AQL: ``<image>/<tag>/manifest.json`` or ``list.manifest.json`` whose ``sha256`` is the
  manifest digest, an index's platform manifests under ``<image>/sha256__<hex>/manifest.json``; a remote
  repository's items live in ``<repoKey>-cache``; a virtual repository has none ("ARTIFACTORY: How to fix a
  missing signature key docker client error"; "Artifactory Query Language": remote caches).
* ``GET /api/storage/{repoKey}?permissions`` → ``{"uri", "principals": {"users": {name: [letters]}, "groups":
  {...}}}`` with letters r, n, w, d, m; only for an admin or a user with Manage, else 403 (404 with
  ``hide_unauthorized``); 400 "This method can only be invoked on local repositories." otherwise
  (``ArtifactResource.java``; "Effective Item Permissions").
* ``GET /api/security/users`` → ``[{"name", "uri", "realm"}]`` for an admin, 403 for anyone else ("Get Users").
* ``GET /`` is the web UI (HTML) and ``/v2/`` there answers 404 HTML: an Artifactory URL that is not a Docker
  endpoint.

``DockerFront`` plays Artifactory's port and subdomain access methods ("Docker Repository URL Formats", "The
Ports Method for Docker"): ``/v2/<image>/…`` of a repository becomes ``/v2/<repoKey>/<image>/…`` on the real
registry, which holds the images under that name; its token realm points back at the front (Artifactory serves
its own ``/v2/token``), whose scopes get the same prefix before the harness token issuer signs them.
"""

from __future__ import annotations

import base64
import fnmatch
import http.client
import json
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from ..httpserver import HarnessHTTPServer, QuietHandler
from ..images import Image, Index
from ..registry import RunningRegistry

__all__ = [
    "ArtRequest",
    "ArtUser",
    "ArtifactoryAPI",
    "DockerFront",
    "access_token",
]

VERSION = "7.77.5"
DEFAULT_AQL_USER_LIMIT = 1000
HTML = b"<!doctype html><html><head><title>JFrog</title></head><body>Artifactory</body></html>"
TRIMMED = "AQL query reached the search hard limit, results are trimmed."
_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host"})


@dataclass(frozen=True)
class ArtUser:
    """A user. ``permissions`` maps a repository key (or ``*`` for any) to permission letters: r Read,
    n Annotate, w Deploy/Cache, d Delete/Overwrite, m Manage."""

    password: str
    admin: bool = False
    permissions: Mapping[str, str] = field(default_factory=lambda: {"*": "r"})
    api_key: str | None = None
    aql: bool = True


@dataclass
class _Tag:
    digest: str
    index: bool
    created: str
    modified: str
    size: int
    children: tuple[str, ...] = ()


@dataclass
class _Repo:
    key: str
    type: str
    url: str | None
    members: tuple[str, ...] = ()
    prefixed_names: bool = False
    images: dict[str, dict[str, _Tag]] = field(default_factory=dict)


@dataclass(frozen=True)
class ArtRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    auth: str | None  # "basic:<user>", "bearer", "api_key" or None
    status: int
    body: str = ""


@dataclass
class _Fault:
    pattern: re.Pattern[str]
    status: int
    remaining: int
    headers: dict[str, str]


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def access_token(user: str, scope: str = "applied-permissions/user") -> str:
    """A JWT-shaped JFrog access token (unsigned: nothing here checks signatures)."""
    now = int(time.time())
    claims = {
        "sub": f"jfac@01harness/users/{user}",
        "scp": scope,
        "aud": "*@*",
        "iss": "jfac@01harness",
        "iat": now,
        "exp": now + 3600,
        "jti": secrets.token_hex(8),
    }
    return f"{_b64({'alg': 'RS256', 'typ': 'JWT'})}.{_b64(claims)}.{secrets.token_urlsafe(16)}"


def _rest_error(status: int, message: str) -> dict[str, Any]:
    return {"errors": [{"status": status, "message": message}]}


def _docker_error(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message, "detail": detail}]}


class AqlError(ValueError):
    pass


def _closing(text: str, start: int) -> int:
    """Index of the bracket closing the one at ``start``, skipping JSON strings."""
    depth, position, quoted = 0, start, False
    while position < len(text):
        char = text[position]
        if quoted:
            if char == "\\":
                position += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char in "({[":
            depth += 1
        elif char in ")}]":
            depth -= 1
            if depth == 0:
                return position
        position += 1
    raise AqlError("unbalanced brackets")


def parse_aql(text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(criteria, modifiers) of ``items.find({...}).include(...).sort({...}).offset(n).limit(n)``."""
    text = text.strip()
    match = re.match(r"(\w+(?:\.\w+)*)\.find\(", text)
    if not match:
        raise AqlError("it looks like there is a syntax error near the following sub-query: " + text[:40])
    if match.group(1) != "items":
        raise AqlError(f"the domain '{match.group(1)}' is not supported here")
    end = _closing(text, match.end() - 1)
    inner = text[match.end() : end].strip()
    criteria = json.loads(inner) if inner else {}
    modifiers: dict[str, Any] = {}
    rest = text[end + 1 :]
    while rest.strip():
        found = re.match(r"\s*\.(\w+)\(", rest)
        if not found:
            raise AqlError("it looks like there is a syntax error near: " + rest[:40])
        close = _closing(rest, found.end() - 1)
        argument = rest[found.end() : close].strip()
        name = found.group(1)
        if name == "include":
            modifiers[name] = json.loads(f"[{argument}]")
        elif name == "sort":
            modifiers[name] = json.loads(argument)
        elif name in ("offset", "limit"):
            modifiers[name] = int(argument)
        else:
            raise AqlError(f"unknown modifier {name}")
        rest = rest[close + 1 :]
    if not isinstance(criteria, dict):
        raise AqlError("the criteria must be an object")
    return criteria, modifiers


def _condition(value: Any, condition: Any) -> bool:
    if not isinstance(condition, dict):
        return bool(value == condition)
    for operator, operand in condition.items():
        text = "" if value is None else str(value)
        ok = {
            "$eq": value == operand,
            "$ne": value != operand,
            "$match": fnmatch.fnmatchcase(text, str(operand)),
            "$nmatch": not fnmatch.fnmatchcase(text, str(operand)),
        }.get(operator)
        if ok is None:
            raise AqlError(f"unsupported operator {operator}")
        if not ok:
            return False
    return True


def aql_matches(item: Mapping[str, Any], criteria: Mapping[str, Any]) -> bool:
    for key, condition in criteria.items():
        if key == "$or":
            if not any(aql_matches(item, c) for c in condition):
                return False
        elif key == "$and":
            if not all(aql_matches(item, c) for c in condition):
                return False
        elif not _condition(item.get(key), condition):
            return False
    return True


AQL_DEFAULT_FIELDS = (
    "repo",
    "path",
    "name",
    "type",
    "size",
    "created",
    "created_by",
    "modified",
    "modified_by",
    "updated",
)


class ArtifactoryAPI:
    """An Artifactory on 127.0.0.1; ``url`` (``…/artifactory``) is what the adapter's ``api_url`` takes."""

    def __init__(
        self,
        users: Mapping[str, ArtUser] | None = None,
        *,
        anonymous: str | None = None,
        hide_unauthorized: bool = False,
        aql_user_limit: int = DEFAULT_AQL_USER_LIMIT,
    ) -> None:
        """``anonymous``: the permission letters of the anonymous user on every repository (None: anonymous
        access is off)."""
        self.users = dict(users or {})
        self.anonymous = anonymous
        self.hide_unauthorized = hide_unauthorized
        self.aql_user_limit = aql_user_limit
        self._lock = threading.Lock()
        self._repos: dict[str, _Repo] = {}
        self._tokens: dict[str, tuple[str, str]] = {}
        self._faults: list[_Fault] = []
        self._requests: list[ArtRequest] = []
        self._server = HarnessHTTPServer("127.0.0.1", _make_handler(self))
        self.root = f"http://127.0.0.1:{self._server.port}"
        self.url = f"{self.root}/artifactory"
        self._server.start(name=f"artifactory-api-{self._server.port}")

    # -- content -------------------------------------------------------------------------------
    def add_repository(
        self,
        key: str,
        kind: str = "local",
        *,
        url: str | None = None,
        members: tuple[str, ...] = (),
        prefixed_names: bool = False,
    ) -> None:
        with self._lock:
            self._repos[key] = _Repo(key, kind, url, members, prefixed_names)

    def add_tag(
        self, key: str, image: str, tag: str, artifact: Image | Index, created: str, modified: str | None = None
    ) -> None:
        """Record ``image:tag`` of ``key`` as deployed at ``created`` (and last modified at ``modified``)."""
        children = tuple(i.digest for i in artifact.images) if isinstance(artifact, Index) else ()
        record = _Tag(
            artifact.digest, isinstance(artifact, Index), created, modified or created, artifact.size, children
        )
        with self._lock:
            self._repos[key].images.setdefault(image, {})[tag] = record

    def issue_token(self, user: str, scope: str = "applied-permissions/user") -> str:
        token = access_token(user, scope)
        with self._lock:
            self._tokens[token] = (user, scope)
        return token

    # -- faults and records --------------------------------------------------------------------
    def fail(self, path_regex: str, status: int, *, times: int = 1, headers: Mapping[str, str] | None = None) -> None:
        """Answer the next ``times`` requests whose path matches with ``status`` (e.g. 429 with Retry-After)."""
        with self._lock:
            self._faults.append(_Fault(re.compile(path_regex), status, times, dict(headers or {})))

    @property
    def requests(self) -> list[ArtRequest]:
        with self._lock:
            return list(self._requests)

    def calls(self, path_regex: str, method: str = "GET") -> list[ArtRequest]:
        return [r for r in self.requests if r.method == method and re.search(path_regex, r.path)]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def close(self) -> None:
        self._server.close()

    def __enter__(self) -> ArtifactoryAPI:
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

    def _caller(self, headers: Mapping[str, str]) -> tuple[bool, str | None, str | None, str | None]:
        """(valid, user name, admin scope flag as "admin" or None, auth kind) of a request."""
        api_key = headers.get("X-JFrog-Art-Api")
        if api_key:
            for name, user in self.users.items():
                if user.api_key and secrets.compare_digest(user.api_key, api_key):
                    return True, name, None, "api_key"
            return False, None, None, "api_key"
        authorization = headers.get("Authorization") or ""
        scheme, _, value = authorization.partition(" ")
        if not authorization:
            return True, None, None, None
        if scheme.lower() == "bearer":
            with self._lock:
                record = self._tokens.get(value.strip())
            if record is None:
                return False, None, None, "bearer"
            return True, record[0], "admin" if record[1] == "applied-permissions/admin" else None, "bearer"
        if scheme.lower() == "basic":
            try:
                name, _, secret = base64.b64decode(value.strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False, None, None, "basic"
            user = self.users.get(name)
            with self._lock:
                token = self._tokens.get(secret)
            if user is not None and (
                secrets.compare_digest(user.password, secret)
                or (user.api_key is not None and secrets.compare_digest(user.api_key, secret))
                or (token is not None and token[0] == name)
            ):
                admin = "admin" if token is not None and token[1] == "applied-permissions/admin" else None
                return True, name, admin, f"basic:{name}"
            return False, name, None, f"basic:{name}"
        return False, None, None, scheme.lower()

    def _is_admin(self, name: str | None, scope: str | None) -> bool:
        return scope == "admin" or (name is not None and self.users[name].admin)

    def _letters(self, name: str | None, scope: str | None, key: str) -> str:
        if self._is_admin(name, scope):
            return "rnwdm"
        if name is None:
            return self.anonymous or ""
        permissions = self.users[name].permissions
        return permissions.get(key, permissions.get("*", ""))

    def _can_read(self, name: str | None, scope: str | None, key: str) -> bool:
        return "r" in self._letters(name, scope, key)

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(target)
        path, query = unquote(parts.path), parse_qs(parts.query, keep_blank_values=True)
        fault = self._fault(path)
        if fault is not None:
            return fault.status, _rest_error(fault.status, "injected"), fault.headers
        if path in ("", "/"):
            return 200, HTML, {}
        if not path.startswith("/artifactory/api/"):
            return 404, HTML, {}
        valid, name, scope, _ = self._caller(headers)
        if not valid:
            return 401, _rest_error(401, "Bad credentials"), {"WWW-Authenticate": 'Basic realm="Artifactory Realm"'}
        if name is None and self.anonymous is None:
            return (
                401,
                _rest_error(401, "Authentication is required"),
                {"WWW-Authenticate": 'Basic realm="Artifactory Realm"'},
            )
        route = path[len("/artifactory/api/") :]
        if method == "POST" and route == "search/aql":
            return self._aql(name, scope, body.decode("utf-8", "replace"))
        if method != "GET":
            return 405, _rest_error(405, "Method Not Allowed"), {}
        if route == "system/version":
            return 200, {"version": VERSION, "revision": "77705900", "addons": ["docker", "build"], "license": "x"}, {}
        if route == "repositories":
            return self._repositories(name, scope, query)
        if route == "security/users":
            if not self._is_admin(name, scope):
                return 403, _rest_error(403, "Forbidden"), {}
            return (
                200,
                [
                    {"name": n, "uri": f"{self.url}/api/security/users/{n}", "realm": "internal"}
                    for n in sorted(self.users)
                ],
                {},
            )
        if route.startswith("storage/") and "permissions" in query:
            return self._permissions(name, scope, route[len("storage/") :])
        if route.startswith("docker/"):
            return self._docker(name, scope, route[len("docker/") :], query)
        return 404, _rest_error(404, "Not Found"), {}

    def _repositories(
        self, name: str | None, scope: str | None, query: dict[str, list[str]]
    ) -> tuple[int, Any, dict[str, str]]:
        kind = (query.get("type") or [""])[0].lower()
        package = (query.get("packageType") or [""])[0].lower()
        if kind and kind not in ("local", "remote", "virtual", "federated", "distribution"):
            return 400, _rest_error(400, f"Invalid repository type '{kind}'"), {}
        with self._lock:
            repos = sorted(self._repos.values(), key=lambda r: r.key)
        listed = [
            {
                "key": r.key,
                "type": r.type.upper(),
                "description": "",
                "url": r.url if r.type == "remote" and r.url else f"{self.url}/{r.key}",
                "packageType": "Docker",
            }
            for r in repos
            if (not kind or r.type == kind)
            and (not package or package == "docker")
            and self._can_read(name, scope, r.key)
        ]
        return 200, listed, {}

    def _permissions(self, name: str | None, scope: str | None, key: str) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            repo = self._repos.get(key.strip("/"))
        if repo is None:
            return 404, _rest_error(404, "Unable to find item"), {}
        if repo.type not in ("local", "federated"):
            return 400, _rest_error(400, "This method can only be invoked on local repositories."), {}
        letters = self._letters(name, scope, repo.key)
        if "m" not in letters:
            if self.hide_unauthorized:
                return 404, _rest_error(404, "Resource not found"), {}
            return 403, _rest_error(403, f"Request for '{repo.key}' is forbidden for user '{name or 'anonymous'}'."), {}
        users = {n: list(self._letters(n, None, repo.key)) for n in sorted(self.users)}
        return (
            200,
            {
                "uri": f"{self.url}/api/storage/{repo.key}",
                "principals": {"users": {n: v for n, v in users.items() if v}, "groups": {"readers": ["r"]}},
            },
            {},
        )

    def _images_of(self, repo: _Repo) -> dict[str, dict[str, _Tag]]:
        images = {image: dict(tags) for image, tags in repo.images.items()}
        for member in repo.members:
            for image, tags in self._repos[member].images.items():
                images.setdefault(image, {}).update({t: v for t, v in tags.items() if t not in images[image]})
        return images

    def _docker(
        self, name: str | None, scope: str | None, route: str, query: dict[str, list[str]]
    ) -> tuple[int, Any, dict[str, str]]:
        key, _, rest = route.partition("/")
        with self._lock:
            repo = self._repos.get(key)
            images = self._images_of(repo) if repo is not None else {}
        if repo is None:
            return 404, _docker_error("NAME_UNKNOWN", "Repository name not known to registry.", {"name": key}), {}
        if not self._can_read(name, scope, key):
            return 403, _docker_error("DENIED", f"User is not permitted to read {key}"), {}
        try:
            size = int((query.get("n") or ["0"])[0]) or None
        except ValueError:
            return 400, _docker_error("PAGINATION_NUMBER_INVALID", "invalid number of results requested"), {}
        last = (query.get("last") or [""])[0]
        if rest == "v2/_catalog":
            names = sorted(f"{key}/{i}" if repo.prefixed_names else i for i in images)
            return 200, {"repositories": _page(names, last, size)}, {}
        match = re.fullmatch(r"v2/(.+)/tags/list", rest)
        if match is None:
            return 404, _docker_error("UNSUPPORTED", "The operation is unsupported."), {}
        image = match.group(1)
        if image not in images:
            return 404, _docker_error("NAME_UNKNOWN", "Repository name not known to registry.", {"name": image}), {}
        return 200, {"name": image, "tags": _page(sorted(images[image]), last, size)}, {}

    def _items(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        with self._lock:
            repos = list(self._repos.values())
        for repo in repos:
            if repo.type == "virtual":
                continue
            storage = f"{repo.key}-cache" if repo.type == "remote" else repo.key
            for image, tags in repo.images.items():
                for tag, record in tags.items():
                    items.append(
                        _item(
                            storage,
                            f"{image}/{tag}",
                            "list.manifest.json" if record.index else "manifest.json",
                            record.digest,
                            record,
                        )
                    )
                    items += [
                        _item(storage, f"{image}/sha256__{c[7:]}", "manifest.json", c, record) for c in record.children
                    ]
        return items

    def _aql(self, name: str | None, scope: str | None, query: str) -> tuple[int, Any, dict[str, str]]:
        if name is None:
            return 403, _rest_error(403, "Only non-anonymous users are allowed to access AQL queries"), {}
        if not self.users[name].aql and scope != "admin":
            return 403, _rest_error(403, "Forbidden"), {}
        admin = self._is_admin(name, scope)
        try:
            criteria, modifiers = parse_aql(query)
            include = modifiers.get("include") or list(AQL_DEFAULT_FIELDS)
            if not admin and not {"repo", "path", "name"} <= set(include):
                raise AqlError("For permissions reasons AQL demands the following fields: repo, path and name.")
            rows = [i for i in self._items() if aql_matches(i, criteria)]
        except (AqlError, ValueError) as error:
            return 400, f"Failed to parse query: {error}".encode(), {"Content-Type": "text/plain"}
        if not admin:
            rows = [r for r in rows if self._can_read(name, scope, r["repo"].removesuffix("-cache"))]
        for order, fields in reversed(list((modifiers.get("sort") or {}).items())):
            rows.sort(key=lambda r: tuple(str(r.get(f, "")) for f in fields), reverse=order == "$desc")
        offset = modifiers.get("offset", 0)
        limit = modifiers.get("limit")
        window = rows[offset:]
        trimmed = False
        if limit is not None:
            window = window[:limit]
        if not admin and len(window) > self.aql_user_limit:
            window, trimmed = window[: self.aql_user_limit], True
        results = [{f: row.get(f) for f in include if f in row} for row in window]
        range_: dict[str, Any] = {"start_pos": offset, "end_pos": offset + len(results), "total": len(results)}
        if limit is not None:
            range_["limit"] = limit
        if trimmed:
            range_["notification"] = TRIMMED
        return 200, {"results": results, "range": range_}, {}


def _item(repo: str, path: str, name: str, digest: str, record: _Tag) -> dict[str, Any]:
    return {
        "repo": repo,
        "path": path,
        "name": name,
        "type": "file",
        "size": record.size,
        "created": record.created,
        "created_by": "deployer",
        "modified": record.modified,
        "modified_by": "deployer",
        "updated": record.modified,
        "sha256": digest.removeprefix("sha256:"),
    }


def _page(names: list[str], last: str, size: int | None) -> list[str]:
    after = [n for n in names if n > last] if last else names
    return after[:size] if size else after


def _make_handler(api: ArtifactoryAPI) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def _serve(self) -> None:
            body = self.read_body() if self.command == "POST" else b""
            headers = {k: v for k, v in self.headers.items()}
            status, payload, extra = api.handle(self.command, self.path, headers, body)
            _, _, _, auth = api._caller(headers)
            parts = urlsplit(self.path)
            record = ArtRequest(
                self.command,
                unquote(parts.path),
                parse_qs(parts.query, keep_blank_values=True),
                auth,
                status,
                body.decode("utf-8", "replace"),
            )
            with api._lock:
                api._requests.append(record)
            if isinstance(payload, bytes):
                content_type = extra.pop("Content-Type", "text/html" if payload.startswith(b"<!") else "text/plain")
                self.send_bytes(status, payload, extra, content_type=content_type)
            else:
                self.send_bytes(status, json.dumps(payload).encode(), extra)

        do_GET = do_POST = _serve

    return Handler


@dataclass(frozen=True)
class FrontRequest:
    method: str
    host: str
    path: str  # as the client sent it
    upstream: str  # as the registry received it ("" when answered by the front itself)
    status: int


class DockerFront:
    """The Docker endpoint of a port (``key``) or subdomain (``suffix``: hosts ``<repoKey>.<suffix>``) access method,
    in front of ``registry``, which holds the images as ``<repoKey>/<image>``."""

    def __init__(self, registry: RunningRegistry, *, key: str | None = None, suffix: str | None = None) -> None:
        if (key is None) == (suffix is None):
            raise ValueError("give key (port method) or suffix (subdomain method)")
        upstream = urlsplit(registry.url)
        if upstream.scheme != "http":
            raise ValueError("the front forwards to a plain-HTTP registry")
        self.registry = registry
        self.key = key
        self.suffix = suffix
        self._upstream = (upstream.hostname or "127.0.0.1", upstream.port or 80)
        self._lock = threading.Lock()
        self._requests: list[FrontRequest] = []
        self._server = HarnessHTTPServer("127.0.0.1", _front_handler(self))
        self.port = self._server.port
        self.url = f"http://127.0.0.1:{self.port}"
        self._server.start(name=f"docker-front-{self.port}")

    @property
    def requests(self) -> list[FrontRequest]:
        with self._lock:
            return list(self._requests)

    def manifest_gets(self) -> list[str]:
        return [r.upstream for r in self.requests if r.method == "GET" and "/manifests/" in r.path]

    def close(self) -> None:
        self._server.close()

    def repository_of(self, host: str) -> str | None:
        if self.key is not None:
            return self.key
        name = host.rsplit(":", 1)[0].lower()
        suffix = f".{self.suffix}"
        return name[: -len(suffix)] if name.endswith(suffix) and len(name) > len(suffix) else None

    def forward(
        self, method: str, host: str, target: str, headers: Mapping[str, str]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        key = self.repository_of(host)
        parts = urlsplit(target)
        if key is None or not parts.path.startswith("/v2/"):
            self._record(method, host, target, "", 404)
            return 404, [("Content-Type", "text/html")], HTML
        if parts.path == "/v2/token":
            return self._token(host, key, parts.query, headers)
        rest = parts.path[len("/v2/") :]
        upstream = "/v2/" + (f"{key}/{rest}" if rest else "") + (f"?{parts.query}" if parts.query else "")
        status, answer, body = self._send(method, self._upstream, upstream, headers)
        fixed = [(k, self._rewrite(k, v, host, key)) for k, v in answer]
        self._record(method, host, target, upstream, status)
        return status, fixed, body

    def _token(
        self, host: str, key: str, query: str, headers: Mapping[str, str]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        issuer = self.registry.token_issuer
        if issuer is None:
            self._record("GET", host, "/v2/token", "", 404)
            return 404, [("Content-Type", "application/json")], b"{}"
        pairs = []
        for name, value in parse_qs(query, keep_blank_values=True).items():
            for item in value:
                if name == "scope" and item.startswith("repository:"):
                    item = f"repository:{key}/{item[len('repository:') :]}"
                pairs.append((name, item))
        issuer_url = urlsplit(issuer.url)
        target = f"{issuer_url.path}?{urlencode(pairs)}"
        status, answer, body = self._send(
            "GET", (issuer_url.hostname or "127.0.0.1", issuer_url.port or 80), target, headers
        )
        self._record("GET", host, "/v2/token", target, status)
        return status, answer, body

    def _send(
        self, method: str, address: tuple[str, int], target: str, headers: Mapping[str, str]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(*address, timeout=30)
        try:
            connection.request(method, target, headers={k: v for k, v in headers.items() if k.lower() not in _HOP})
            response = connection.getresponse()
            body = response.read()
            return response.status, [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP], body
        finally:
            connection.close()

    def _rewrite(self, name: str, value: str, host: str, key: str) -> str:
        if name.lower() == "www-authenticate" and value.lower().startswith("bearer"):
            value = re.sub(r'realm="[^"]*"', f'realm="http://{host}/v2/token"', value)
            return value.replace(f"repository:{key}/", "repository:")
        if name.lower() == "link":
            return value.replace(f"/v2/{key}/", "/v2/")
        return value

    def _record(self, method: str, host: str, path: str, upstream: str, status: int) -> None:
        with self._lock:
            self._requests.append(FrontRequest(method, host, path, upstream, status))


def _front_handler(front: DockerFront) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def _serve(self) -> None:
            headers = {k: v for k, v in self.headers.items()}
            status, answer, body = front.forward(self.command, self.headers.get("Host", ""), self.path, headers)
            self.send_response(status)
            for name, value in answer:
                if name.lower() != "content-length" or self.command == "HEAD":
                    self.send_header(name, value)
            if self.command != "HEAD":
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = _serve

    return Handler

"""A GitHub REST API stand-in: the Packages subset that ghcr.io's packages are listed through.

Built from GitHub's published API description and documentation:

* Paths, parameters and bodies: github/rest-api-description
  ``descriptions/api.github.com/api.github.com.2022-11-28.yaml`` — ``GET /orgs/{org}/packages``,
  ``GET /users/{username}/packages``, ``GET /user/packages`` (``package_type`` required, ``visibility``,
  ``page`` default 1, ``per_page`` default 30 and "max 100"), ``GET
  /{orgs/{org}|users/{username}|user}/packages/{package_type}/{package_name}/versions`` (``page``,
  ``per_page``, ``state``), the ``package`` schema (id, name, package_type, url, html_url, version_count,
  visibility, owner, created_at, updated_at) and the ``package-version`` schema (id, name, url,
  package_html_url, html_url, created_at, updated_at, ``metadata.package_type`` and
  ``metadata.container.tags``), ``GET /users/{username}`` and ``GET /user`` (``type`` User/Organization).
  Errors are the ``basic-error`` body (``message``, ``documentation_url``, ``status``). A container version's
  ``name`` is its manifest digest and an index's children are untagged versions (snok/container-retention-policy
  ``README.md``, "Safely handling multi-platform packages").
* Pagination: github/docs ``content/rest/using-the-rest-api/using-pagination-in-the-rest-api.md`` — a
  ``Link`` header with absolute ``next``/``last``/``first``/``prev`` URLs, none when everything fits in one page.
* Scopes: github/docs ``content/apps/oauth-apps/building-oauth-apps/scopes-for-oauth-apps.md`` —
  ``X-OAuth-Scopes`` (the token's scopes) and ``X-Accepted-OAuth-Scopes`` on responses to classic tokens;
  ``content/packages/learn-github-packages/about-permissions-for-github-packages.md`` and
  ``data/reusables/package_registry/packages-classic-pat-only.md`` — GitHub Packages accepts only classic
  personal access tokens (``read:packages``, ``write:packages``, ``delete:packages``). A fine-grained token
  is answered 403 "Resource not accessible by personal access token"; a GitHub App installation token
  (GITHUB_TOKEN) cannot use the list endpoints (the description's ``enabledForGitHubApps: false``; snok's
  README: temporal tokens work only on named packages), answered 403 "Resource not accessible by
  integration". A classic token without the scope gets 403 "You need at least read:packages scope to list
  packages." and a package it cannot see 404 "Package not found.".
* SSO: github/docs ``content/rest/authentication/authenticating-to-the-rest-api.md`` — a classic token not
  authorised for an organisation that enforces SAML SSO gets 403 with ``X-GitHub-SSO: required; url=…``.
* Rate limits: github/docs ``content/rest/using-the-rest-api/rate-limits-for-the-rest-api.md`` —
  ``x-ratelimit-limit``/``-remaining``/``-used``/``-reset`` (UTC epoch seconds)/``-resource`` on every
  response; over the primary limit 403 or 429 with ``x-ratelimit-remaining: 0``; over a secondary limit 403
  or 429 with a message saying so and ``retry-after`` in seconds.
* Bad or missing credentials: 401 "Bad credentials" / "Requires authentication"
  (``content/rest/authentication/authenticating-to-the-rest-api.md``, "Failed login limit").
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from ..httpserver import HarnessHTTPServer, QuietHandler

__all__ = ["GitHubAPI", "GitHubRequest", "GitHubToken", "Package", "PackageVersion"]

DOCS = "https://docs.github.com/rest"
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
RATE_LIMIT = 5000
TokenKind = Literal["classic", "fine-grained", "installation"]


@dataclass(frozen=True)
class GitHubToken:
    """A token: its account and kind. ``scopes`` are a classic token's (sent as X-OAuth-Scopes);
    ``packages`` are the ``owner/name`` packages an installation token (GITHUB_TOKEN) was given;
    ``sso_authorized`` the SSO organisations a classic token was authorised for."""

    login: str
    kind: TokenKind = "classic"
    scopes: tuple[str, ...] = ("read:packages",)
    packages: frozenset[str] = frozenset()
    sso_authorized: frozenset[str] = frozenset()


@dataclass
class Owner:
    login: str
    type: Literal["User", "Organization"]
    id: int
    members: set[str] = field(default_factory=set)
    sso: bool = False

    def to_api(self, base: str) -> dict[str, Any]:
        kind = "orgs" if self.type == "Organization" else "users"
        return {
            "login": self.login,
            "id": self.id,
            "node_id": f"MDQ6{self.id}",
            "type": self.type,
            "site_admin": False,
            "url": f"{base}/users/{self.login}",
            "html_url": f"https://github.com/{self.login}",
            "repos_url": f"{base}/{kind}/{self.login}/repos",
        }


@dataclass
class PackageVersion:
    id: int
    digest: str
    created_at: str
    tags: list[str]

    def to_api(self, base: str, owner: Owner, package: str) -> dict[str, Any]:
        path = f"{'orgs' if owner.type == 'Organization' else 'users'}/{owner.login}/packages/container"
        return {
            "id": self.id,
            "name": self.digest,
            "url": f"{base}/{path}/{package}/versions/{self.id}",
            "package_html_url": f"https://github.com/{owner.login}/packages/container/package/{package}",
            "html_url": f"https://github.com/{owner.login}/packages/container/{package}/{self.id}",
            "license": None,
            "description": None,
            "created_at": self.created_at,
            "updated_at": self.created_at,
            "metadata": {"package_type": "container", "container": {"tags": list(self.tags)}},
        }


@dataclass
class Package:
    owner: str
    name: str
    id: int
    visibility: Literal["private", "public"] = "private"
    versions: list[PackageVersion] = field(default_factory=list)

    def to_api(self, base: str, owner: Owner) -> dict[str, Any]:
        created = min((v.created_at for v in self.versions), default="2024-01-01T00:00:00Z")
        updated = max((v.created_at for v in self.versions), default=created)
        kind = "orgs" if owner.type == "Organization" else "users"
        return {
            "id": self.id,
            "name": self.name,
            "package_type": "container",
            "owner": owner.to_api(base),
            "version_count": len(self.versions),
            "visibility": self.visibility,
            "url": f"{base}/{kind}/{owner.login}/packages/container/{self.name}",
            "html_url": f"https://github.com/{kind}/{owner.login}/packages/container/package/{self.name}",
            "created_at": created,
            "updated_at": updated,
        }


@dataclass(frozen=True)
class GitHubRequest:
    method: str
    raw_path: str  # as sent: a package name's "/" arrives as %2F
    query: dict[str, str]
    authorization: str | None
    status: int

    @property
    def path(self) -> str:
        return unquote(self.raw_path)


@dataclass
class _Limit:
    times: int
    status: int
    secondary: bool
    reset_in: int
    retry_after: str | None


class _Answer(Exception):
    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, dict(headers or {})


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> _Answer:
    return _Answer(status, {"message": message, "documentation_url": DOCS, "status": str(status)}, headers)


class GitHubAPI:
    """The API on 127.0.0.1; ``url`` is what the ghcr adapter's ``api_url`` option takes."""

    def __init__(self, tokens: Mapping[str, GitHubToken] | None = None) -> None:
        self.tokens = dict(tokens or {})
        self._lock = threading.Lock()
        self._owners: dict[str, Owner] = {}
        self._packages: dict[tuple[str, str], Package] = {}
        self._limits: list[_Limit] = []
        self._used: dict[str, int] = {}
        self._requests: list[GitHubRequest] = []
        self._next_id = 1
        self._server = HarnessHTTPServer("127.0.0.1", _make_handler(self))
        self.url = f"http://127.0.0.1:{self._server.port}"
        self._server.start(name=f"github-api-{self._server.port}")

    # -- content -------------------------------------------------------------------------------
    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def add_owner(
        self,
        login: str,
        type: Literal["User", "Organization"] = "Organization",
        *,
        members: tuple[str, ...] = (),
        sso: bool = False,
    ) -> Owner:
        with self._lock:
            owner = self._owners.setdefault(login.lower(), Owner(login, type, self._id()))
            owner.members.update(members)
            owner.sso = owner.sso or sso
            return owner

    def add_package(self, owner: str, name: str, *, visibility: Literal["private", "public"] = "private") -> Package:
        with self._lock:
            key = (owner.lower(), name)
            package = self._packages.get(key)
            if package is None:
                package = self._packages[key] = Package(owner.lower(), name, self._id(), visibility)
            return package

    def add_version(self, owner: str, package: str, digest: str, created_at: str, tags: tuple[str, ...] = ()) -> None:
        """A pushed manifest; a tag moves here from any older version of the package."""
        record = self.add_package(owner, package)
        with self._lock:
            for version in record.versions:
                version.tags = [t for t in version.tags if t not in tags]
            record.versions.append(PackageVersion(self._id(), digest, created_at, list(tags)))

    # -- faults and records --------------------------------------------------------------------
    def rate_limit(
        self,
        times: int = 1,
        *,
        status: int = 403,
        secondary: bool = False,
        reset_in: int = 1800,
        retry_after: str | None = None,
    ) -> None:
        """Answer the next ``times`` authenticated requests as over the primary limit (remaining 0,
        reset in ``reset_in`` s) or, with ``secondary``, over a secondary limit (``retry_after``)."""
        with self._lock:
            self._limits.append(_Limit(times, status, secondary, reset_in, retry_after))

    @property
    def requests(self) -> list[GitHubRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def close(self) -> None:
        self._server.close()

    def __enter__(self) -> GitHubAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- behaviour -----------------------------------------------------------------------------
    def _record(self, request: GitHubRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _caller(self, authorization: str | None) -> tuple[str, GitHubToken]:
        scheme, _, value = (authorization or "").partition(" ")
        if not value or scheme.lower() not in ("bearer", "token"):
            raise _error(401, "Requires authentication")
        token = self.tokens.get(value.strip())
        if token is None:
            raise _error(401, "Bad credentials")
        return value.strip(), token

    def _rate_headers(self, secret: str, *, exhausted: bool = False, reset_in: int = 3600) -> dict[str, str]:
        with self._lock:
            used = self._used[secret] = self._used.get(secret, 0) + 1
        return {
            "x-ratelimit-limit": str(RATE_LIMIT),
            "x-ratelimit-remaining": "0" if exhausted else str(max(0, RATE_LIMIT - used)),
            "x-ratelimit-used": str(RATE_LIMIT if exhausted else used),
            "x-ratelimit-reset": str(int(time.time()) + reset_in),
            "x-ratelimit-resource": "core",
        }

    def _limited(self, secret: str, token: GitHubToken) -> None:
        with self._lock:
            rule = next((r for r in self._limits if r.times > 0), None)
            if rule is None:
                return
            rule.times -= 1
        if rule.secondary:
            headers = self._rate_headers(secret)
            if rule.retry_after is not None:
                headers["retry-after"] = rule.retry_after
            raise _error(
                rule.status,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                headers,
            )
        raise _error(
            rule.status,
            f"API rate limit exceeded for user ID {self._owner_id(token.login)}.",
            self._rate_headers(secret, exhausted=True, reset_in=rule.reset_in),
        )

    def _owner_id(self, login: str) -> int:
        with self._lock:
            owner = self._owners.get(login.lower())
            return owner.id if owner else 1

    def _owner(self, login: str, type: str | None = None) -> Owner:
        with self._lock:
            owner = self._owners.get(login.lower())
        if owner is None or (type is not None and owner.type != type):
            raise _error(404, "Not Found")
        return owner

    def _account(self, login: str) -> Owner:
        """The token's own account: every token belongs to a user, listed as an owner or not."""
        with self._lock:
            return self._owners.get(login.lower()) or Owner(login, "User", self._id())

    def handle_get(self, raw_path: str, query: dict[str, str], authorization: str | None) -> _Answer:
        try:
            secret, token = self._caller(authorization)
            self._limited(secret, token)
            headers = self._rate_headers(secret)
            if token.kind == "classic":
                headers["X-OAuth-Scopes"] = ", ".join(token.scopes)
            try:
                body, total = self._route([unquote(p) for p in raw_path.strip("/").split("/")], query, token)
            except _Answer as answer:
                answer.headers = {**headers, **answer.headers}
                raise
            if total is not None:
                headers.update(self._links(raw_path, query, total))
            return _Answer(200, body, headers)
        except _Answer as answer:
            return answer

    def _route(self, parts: list[str], query: dict[str, str], token: GitHubToken) -> tuple[Any, int | None]:
        """(body, item count for a list page's Link header)."""
        match parts:
            case ["user"]:
                if token.kind == "installation":
                    raise _error(403, "Resource not accessible by integration")
                return self._account(token.login).to_api(self.url), None
            case ["users", login]:
                return self._owner(login).to_api(self.url), None
            case ["orgs", login, "packages"]:
                return self._list(self._owner(login, "Organization"), query, token)
            case ["users", login, "packages"]:
                return self._list(self._owner(login, "User"), query, token)
            case ["user", "packages"]:
                return self._list(self._owner(token.login), query, token)
            case ["orgs", login, "packages", "container", name, "versions"]:
                return self._versions(self._owner(login, "Organization"), name, query, token)
            case ["users", login, "packages", "container", name, "versions"]:
                return self._versions(self._owner(login, "User"), name, query, token)
            case ["user", "packages", "container", name, "versions"]:
                return self._versions(self._owner(token.login), name, query, token)
        raise _error(404, "Not Found")

    def _packages_allowed(self, owner: Owner, token: GitHubToken, *, listing: bool) -> None:
        if token.kind == "fine-grained":
            raise _error(403, "Resource not accessible by personal access token")
        if token.kind == "installation":
            if listing:
                raise _error(403, "Resource not accessible by integration")
            return
        if not {"read:packages", "write:packages"} & set(token.scopes):
            raise _error(
                403,
                "You need at least read:packages scope to list packages.",
                {"X-Accepted-OAuth-Scopes": "read:packages"},
            )
        if owner.sso and owner.login.lower() not in token.sso_authorized:
            url = f"https://github.com/orgs/{owner.login}/sso?authorization_request={secrets.token_urlsafe(12)}"
            raise _error(
                403,
                "Resource protected by organization SAML enforcement. You must grant your Personal Access token "
                "access to this organization.",
                {"X-GitHub-SSO": f"required; url={url}"},
            )

    def _visible(self, package: Package, owner: Owner, token: GitHubToken) -> bool:
        if token.kind == "installation":
            return f"{owner.login.lower()}/{package.name}" in token.packages
        if package.visibility == "public":
            return True
        login = token.login.lower()
        return login == owner.login.lower() or login in {m.lower() for m in owner.members}

    def _list(self, owner: Owner, query: dict[str, str], token: GitHubToken) -> tuple[list[dict[str, Any]], int]:
        if "package_type" not in query:
            raise _error(400, "package_type is required")
        self._packages_allowed(owner, token, listing=True)
        with self._lock:
            packages = sorted(
                (p for (o, _), p in self._packages.items() if o == owner.login.lower()), key=lambda p: p.name
            )
        wanted = query.get("visibility")
        visible = [
            p.to_api(self.url, owner)
            for p in packages
            if query["package_type"] == "container"
            and self._visible(p, owner, token)
            and (wanted is None or wanted == p.visibility)
        ]
        return self._page(visible, query)

    def _versions(
        self, owner: Owner, name: str, query: dict[str, str], token: GitHubToken
    ) -> tuple[list[dict[str, Any]], int]:
        self._packages_allowed(owner, token, listing=False)
        with self._lock:
            package = self._packages.get((owner.login.lower(), name))
        if package is None or not self._visible(package, owner, token):
            raise _error(404, "Package not found.")
        newest_first = sorted(package.versions, key=lambda v: v.id, reverse=True)
        return self._page([v.to_api(self.url, owner, name) for v in newest_first], query)

    @staticmethod
    def _page_numbers(query: dict[str, str]) -> tuple[int, int]:
        try:
            page = max(1, int(query.get("page", "1")))
            per_page = min(MAX_PER_PAGE, max(1, int(query.get("per_page", str(DEFAULT_PER_PAGE)))))
        except ValueError:
            raise _error(400, "page and per_page must be integers") from None
        return page, per_page

    def _page(self, items: list[dict[str, Any]], query: dict[str, str]) -> tuple[list[dict[str, Any]], int]:
        page, per_page = self._page_numbers(query)
        start = (page - 1) * per_page
        return items[start : start + per_page], len(items)

    def _links(self, raw_path: str, query: dict[str, str], total: int) -> dict[str, str]:
        """The Link header of a list page: none when everything fits in one page."""
        page, per_page = self._page_numbers(query)
        last = max(1, -(-total // per_page))
        if last == 1:
            return {}

        def link(number: int, rel: str) -> str:
            return f'<{self.url}{raw_path}?{urlencode({**query, "page": str(number)})}>; rel="{rel}"'

        rels = []
        if page > 1:
            rels += [link(page - 1, "prev"), link(1, "first")]
        if page < last:
            rels += [link(page + 1, "next"), link(last, "last")]
        return {"Link": ", ".join(rels)}


def _make_handler(api: GitHubAPI) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query))
            answer = api.handle_get(parts.path, dict(query), self.headers.get("Authorization"))
            api._record(GitHubRequest("GET", parts.path, query, self.headers.get("Authorization"), answer.status))
            headers = {"X-GitHub-Api-Version-Selected": "2022-11-28", **answer.headers}
            self.send_bytes(answer.status, json.dumps(answer.body).encode(), headers)

    return Handler

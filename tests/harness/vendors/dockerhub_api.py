"""A Docker Hub API stand-in (hub.docker.com, API reference ``content/reference/api/hub/latest.yaml``).

Serves

* ``POST /v2/auth/token`` ``{"identifier", "secret"}`` → ``{"access_token": <JWT>}``, 401 with the
  ``error`` schema (``errinfo``, ``detail``, ``message``) for bad credentials;
* ``GET /v2/namespaces/{ns}/repositories`` (``page``, ``page_size`` ≤ 1000) and
  ``GET /v2/namespaces/{ns}/repositories/{repo}/tags`` (``page_size`` ≤ 100): pages of
  ``{"count", "next", "previous", "results"}`` with absolute ``next``/``previous`` URLs;
* ``GET /v2/namespaces/{ns}/repositories/{repo}/tags/{tag}``: one tag.

A request without ``Authorization`` sees public repositories only; a bearer token from
``/v2/auth/token`` also sees the private repositories of the namespaces its account belongs to.
Rate limiting answers 429 with ``Retry-After`` (seconds) and/or ``X-Retry-After`` (unix time) and
the documented ``{"detail": "Rate limit exceeded", "error": false}`` body.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..httpserver import HarnessHTTPServer, QuietHandler
from ..images import Image, Index

__all__ = ["DockerHubAPI", "HubAccount", "HubRepository", "HubRequest", "HubTag"]

TAGS_MAX_PAGE = 100
REPOSITORIES_MAX_PAGE = 1000
DEFAULT_PAGE_SIZE = 10


@dataclass(frozen=True)
class HubAccount:
    """A user (identifier = user name) or an organisation access token (identifier = org name).
    ``namespaces``: the namespaces whose private repositories the account may see."""

    secret: str
    namespaces: frozenset[str] = frozenset()


@dataclass
class HubTag:
    name: str
    digest: str
    media_type: str
    pushed: str
    images: list[dict[str, Any]]
    full_size: int = 0

    def to_api(self, tag_id: int, repository_id: int) -> dict[str, Any]:
        return {
            "creator": 1,
            "id": tag_id,
            "images": self.images,
            "last_updated": self.pushed,
            "last_updater": 1,
            "last_updater_username": "harness",
            "name": self.name,
            "repository": repository_id,
            "full_size": self.full_size,
            "v2": True,
            "tag_status": "active",
            "tag_last_pulled": None,
            "tag_last_pushed": self.pushed,
            "media_type": self.media_type,
            "content_type": "image",
            "digest": self.digest,
        }


@dataclass
class HubRepository:
    namespace: str
    name: str
    private: bool = False
    tags: dict[str, HubTag] = field(default_factory=dict)
    id: int = 0

    def to_api(self) -> dict[str, Any]:
        pushed = max((t.pushed for t in self.tags.values()), default=None)
        return {
            "name": self.name,
            "namespace": self.namespace,
            "repository_type": "image",
            "status": 1,
            "status_description": "active",
            "description": "",
            "is_private": self.private,
            "star_count": 0,
            "pull_count": 0,
            "last_updated": pushed,
            "last_modified": pushed,
            "date_registered": "2024-01-01T00:00:00.000000Z",
            "affiliation": "",
            "media_types": sorted({t.media_type for t in self.tags.values()}),
            "content_types": ["image"],
            "categories": [],
            "storage_size": sum(t.full_size for t in self.tags.values()),
        }


@dataclass(frozen=True)
class HubRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    authorization: str | None
    status: int


@dataclass
class _Throttle:
    remaining: int
    retry_after: str | None
    x_retry_after: str | None
    pattern: re.Pattern[str]


def _hub_time(value: str) -> str:
    """Hub timestamps carry microseconds: 2024-01-02T03:04:05.000000Z."""
    return value.replace("Z", ".000000Z") if value.endswith("Z") and "." not in value else value


def hub_images(artifact: Image | Index) -> tuple[str, list[dict[str, Any]]]:
    """(media type, ``images[]``) as the Hub shows them for a pushed image or index."""
    members = artifact.images if isinstance(artifact, Index) else (artifact,)
    images = []
    for image in members:
        platform = image.platform
        images.append(
            {
                "architecture": platform["architecture"],
                "features": "",
                "variant": platform.get("variant"),
                "digest": image.digest,
                "os": platform["os"],
                "os_features": "",
                "os_version": None,
                "size": sum(layer.size for layer in image.layers),
                "status": "active",
                "last_pulled": None,
                "last_pushed": None,
            }
        )
    return artifact.media_type, images


class DockerHubAPI:
    """A Hub API on 127.0.0.1; ``url`` is what the adapter's ``hub_url`` option takes."""

    def __init__(self, accounts: Mapping[str, HubAccount] | None = None) -> None:
        self.accounts = dict(accounts or {})
        self._lock = threading.Lock()
        self._namespaces: dict[str, dict[str, HubRepository]] = {}
        self._tokens: dict[str, str] = {}
        self._throttles: list[_Throttle] = []
        self._requests: list[HubRequest] = []
        self._next_id = 1
        self._server = HarnessHTTPServer("127.0.0.1", _make_handler(self))
        self.url = f"http://127.0.0.1:{self._server.port}"
        self._server.start(name=f"hub-api-{self._server.port}")

    # -- content -------------------------------------------------------------------------------
    def add_namespace(self, namespace: str) -> None:
        with self._lock:
            self._namespaces.setdefault(namespace, {})

    def add_repository(self, namespace: str, name: str, *, private: bool = False) -> HubRepository:
        with self._lock:
            repos = self._namespaces.setdefault(namespace, {})
            repo = repos.get(name)
            if repo is None:
                repo = repos[name] = HubRepository(namespace, name, private, id=self._next_id)
                self._next_id += 1
            return repo

    def add_tag(self, namespace: str, repository: str, tag: str, artifact: Image | Index, pushed: str) -> HubTag:
        """Record ``tag`` as pushed at ``pushed`` (RFC 3339) with the digest of ``artifact``."""
        media_type, images = hub_images(artifact)
        for image in images:
            image["last_pushed"] = _hub_time(pushed)
        full_size = sum(int(i["size"]) for i in images)
        record = HubTag(tag, artifact.digest, media_type, _hub_time(pushed), images, full_size)
        self.add_repository(namespace, repository).tags[tag] = record
        return record

    # -- faults and records --------------------------------------------------------------------
    def throttle(
        self,
        times: int = 1,
        *,
        retry_after: str | None = None,
        x_retry_after: str | None = None,
        path_regex: str = "",
    ) -> None:
        """Answer the next ``times`` requests whose path matches ``path_regex`` with 429."""
        with self._lock:
            self._throttles.append(_Throttle(times, retry_after, x_retry_after, re.compile(path_regex)))

    @property
    def requests(self) -> list[HubRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def close(self) -> None:
        self._server.close()

    def __enter__(self) -> DockerHubAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- behaviour -----------------------------------------------------------------------------
    def _throttled(self, path: str) -> _Throttle | None:
        with self._lock:
            for rule in self._throttles:
                if rule.remaining > 0 and rule.pattern.search(path):
                    rule.remaining -= 1
                    return rule
        return None

    def _record(self, request: HubRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _login(self, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            data = json.loads(body)
        except ValueError:
            return 400, {"errinfo": {}, "detail": "invalid JSON body", "message": "invalid JSON body"}
        identifier, secret = (data.get("identifier"), data.get("secret")) if isinstance(data, dict) else (None, None)
        if not isinstance(identifier, str) or not isinstance(secret, str):
            return 400, {"errinfo": {}, "detail": "identifier and secret are required", "message": "bad request"}
        account = self.accounts.get(identifier)
        if account is None or not secrets.compare_digest(account.secret, secret):
            return 401, {
                "errinfo": {},
                "detail": "Incorrect authentication credentials",
                "message": "Incorrect authentication credentials",
            }
        token = _fake_jwt(identifier)
        with self._lock:
            self._tokens[token] = identifier
        return 200, {"access_token": token}

    def _caller(self, authorization: str | None) -> tuple[bool, HubAccount | None, str | None]:
        """(token valid, account, identifier); no header = anonymous and valid."""
        if not authorization:
            return True, None, None
        scheme, _, token = authorization.partition(" ")
        with self._lock:
            identifier = self._tokens.get(token) if scheme.lower() == "bearer" else None
        if identifier is None:
            return False, None, None
        return True, self.accounts.get(identifier), identifier

    def _visible(self, repo: HubRepository, account: HubAccount | None, identifier: str | None) -> bool:
        if not repo.private:
            return True
        return account is not None and (repo.namespace in account.namespaces or repo.namespace == identifier)

    def _page(
        self, path: str, query: dict[str, list[str]], items: list[dict[str, Any]], maximum: int
    ) -> tuple[int, dict[str, Any]]:
        try:
            page = int(query.get("page", ["1"])[0])
            size = int(query.get("page_size", [str(DEFAULT_PAGE_SIZE)])[0])
        except ValueError:
            return 400, {"errinfo": {}, "detail": "page and page_size must be integers", "message": "bad request"}
        if page < 1 or size < 1:
            return 400, {"errinfo": {}, "detail": "page and page_size must be at least 1", "message": "bad request"}
        size = min(size, maximum)
        start = (page - 1) * size
        if start >= len(items) and page > 1:
            return 404, {"errinfo": {}, "detail": "Invalid page.", "message": "not found"}

        def link(number: int) -> str:
            return f"{self.url}{path}?page={number}&page_size={size}"

        return 200, {
            "count": len(items),
            "next": link(page + 1) if start + size < len(items) else None,
            "previous": link(page - 1) if page > 1 else None,
            "results": items[start : start + size],
        }

    def handle_get(self, path: str, query: dict[str, list[str]], authorization: str | None) -> tuple[int, Any]:
        valid, account, identifier = self._caller(authorization)
        if not valid:
            return 401, {"errinfo": {}, "message": "unauthorized"}
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if len(parts) < 4 or parts[:2] != ["v2", "namespaces"] or parts[3] != "repositories":
            return 404, {"errinfo": {}, "message": "not found"}
        namespace = parts[2]
        with self._lock:
            repos = self._namespaces.get(namespace)
            if repos is None:
                return 404, {"errinfo": {"namespace": namespace}, "message": "not found"}
            if len(parts) == 4:
                visible = [
                    r.to_api()
                    for r in sorted(repos.values(), key=lambda r: r.name)
                    if self._visible(r, account, identifier)
                ]
                return self._page(path, query, visible, REPOSITORIES_MAX_PAGE)
            repo = repos.get(parts[4])
            if repo is None or not self._visible(repo, account, identifier) or len(parts) < 6 or parts[5] != "tags":
                return 404, {"errinfo": {}, "message": "not found"}
            if len(parts) == 6:
                ordered = sorted(repo.tags.values(), key=lambda t: (t.pushed, t.name), reverse=True)
                tags = [t.to_api(i + 1, repo.id) for i, t in enumerate(ordered)]
                return self._page(path, query, tags, TAGS_MAX_PAGE)
            tag = repo.tags.get(parts[6]) if len(parts) == 7 else None
            if tag is None:
                return 404, {"errinfo": {}, "message": "not found"}
            return 200, tag.to_api(1, repo.id)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _fake_jwt(subject: str) -> str:
    """JWT-shaped, unsigned: the Hub's tokens are JWTs, and nothing here verifies signatures."""
    now = int(time.time())
    header = _b64({"alg": "none", "typ": "JWT"})
    payload = _b64({"sub": subject, "iat": now, "exp": now + 600, "jti": secrets.token_hex(8)})
    return f"{header}.{payload}.{secrets.token_urlsafe(16)}"


def _make_handler(api: DockerHubAPI) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            parts = urlsplit(self.path)
            api._record(
                HubRequest(self.command, parts.path, parse_qs(parts.query), self.headers.get("Authorization"), status)
            )
            self.send_bytes(status, json.dumps(body).encode(), headers)

        def _maybe_throttle(self) -> bool:
            rule = api._throttled(urlsplit(self.path).path)
            if rule is None:
                return False
            headers = {}
            if rule.retry_after is not None:
                headers["Retry-After"] = rule.retry_after
            if rule.x_retry_after is not None:
                headers["X-Retry-After"] = rule.x_retry_after
            self._answer(429, {"detail": "Rate limit exceeded", "error": False}, headers)
            return True

        def do_POST(self) -> None:
            body = self.read_body()
            if self._maybe_throttle():
                return
            if urlsplit(self.path).path != "/v2/auth/token":
                self._answer(404, {"errinfo": {}, "message": "not found"})
                return
            self._answer(*api._login(body))

        def do_GET(self) -> None:
            if self._maybe_throttle():
                return
            parts = urlsplit(self.path)
            self._answer(*api.handle_get(parts.path, parse_qs(parts.query), self.headers.get("Authorization")))

    return Handler

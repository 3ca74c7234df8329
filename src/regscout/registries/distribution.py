"""The OCI Distribution (Docker Registry HTTP API v2) client every adapter drives.

One instance talks to one registry over one pooled httpx client. It discovers the auth scheme
once, fetches bearer tokens per scope set and caches them until shortly before expiry, follows
pagination `Link` headers, retries what is worth retrying, and never carries credentials across a
redirect to another origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import hashlib
import json
import logging
import random
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import httpcore
import httpx

from .. import __version__
from .auth import Challenge, Credentials, TlsSettings, Token, parse_challenge, token_lifetime
from .errors import (
    AccessDeniedError,
    AuthenticationError,
    BlobTransferError,
    DigestMismatchError,
    NotARegistryError,
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    RegistryError,
    ServerError,
    TLSError,
    TooLargeError,
    UnreachableError,
    safe_url,
)
from .manifest import (
    ACCEPT,
    MAX_MANIFEST_BYTES,
    Manifest,
    parse_manifest,
    sha256_digest,
    verify_digest,
)
from .netstream import AsyncioTransport
from .pacing import pacer_for

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
RETRY_CODES = frozenset({"TOOMANYREQUESTS", "UNKNOWN", "UNAVAILABLE", "BLOB_UPLOAD_INVALID"})
MAX_REDIRECTS = 5
MAX_CONFIG_BYTES = 8 * 1024 * 1024
CATALOG_SCOPE = "registry:catalog:*"


def pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


# httpcore reads a response body 64 KiB per call, each call a trip through the event loop. Reading up to 1 MiB
# (what netstream's receiver holds from one socket read) makes a layer blob a few hundred reads instead of thousands;
# a read still returns whatever has arrived, so small responses are unaffected. The attribute is a class constant
# of httpcore's connection classes, set once for the process.
BODY_READ_BYTES = 1 << 20
httpcore.AsyncHTTP11Connection.READ_NUM_BYTES = BODY_READ_BYTES
httpcore.AsyncHTTP2Connection.READ_NUM_BYTES = BODY_READ_BYTES


@dataclass(frozen=True)
class ClientOptions:
    # httpcore's pool costs grow with (waiting requests x connections); 16 was the fastest setting
    # for listing 2,000 tags on the local registry (bench/discovery), 32 was twice as slow.
    max_connections: int = 16
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 20.0
    retry_after_max: float = 120.0
    http2: bool = True
    requests_per_second: float | None = None  # shared by every client of the same registry in this process


@dataclass
class RateLimit:
    limit: str | None = None
    remaining: str | None = None
    source: str | None = None


@dataclass
class ClientStats:
    requests: int = 0
    token_requests: int = 0
    retries: int = 0
    bytes_received: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PingResult:
    http_status: int
    challenge: Challenge | None
    api_version: str | None


def _origin_key(url: str) -> str:
    scheme, host, port = _origin(url)
    return f"{scheme}://{host}:{port or ''}"


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def _error_codes(response: httpx.Response) -> list[str]:
    """Distribution error codes from a (read) response body; bodies may be HTML or empty."""
    try:
        data = response.json()
    except (ValueError, UnicodeDecodeError):
        return []
    if not isinstance(data, dict) or not isinstance(data.get("errors"), list):
        return []
    return [str(e.get("code", "")) for e in data["errors"] if isinstance(e, dict)]


def _error_message(response: httpx.Response) -> str:
    try:
        data = response.json()
        errors = data.get("errors") if isinstance(data, dict) else None
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message") or errors[0].get("code") or "")[:300]
    except (ValueError, UnicodeDecodeError):
        pass
    return ""


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as delta seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - (now if now is not None else time.time()))
    return None


def retry_after(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds to wait from `Retry-After`, else from `X-Retry-After`, which the Docker Hub API
    documents as a unix time rather than a delay."""
    seconds = retry_after_seconds(headers.get("Retry-After"), now)
    if seconds is not None:
        return seconds
    value = (headers.get("X-Retry-After") or "").strip()
    if value.isdigit():
        return max(0.0, float(value) - (now if now is not None else time.time()))
    return None


def _find_ssl_error(exc: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return current
        for arg in getattr(current, "args", ()):
            if isinstance(arg, ssl.SSLError):
                return arg
        current = current.__cause__ or current.__context__
    return None


def classify_transport_error(exc: httpx.TransportError, url: str) -> RegistryError:
    ssl_error = _find_ssl_error(exc)
    text = str(ssl_error or exc)
    if ssl_error is not None or "SSL" in text or "CERTIFICATE" in text.upper():
        if isinstance(ssl_error, ssl.SSLCertVerificationError):
            detail = ssl_error.verify_message or str(ssl_error)
            lowered = detail.lower()
            if "expired" in lowered:
                reason = "expired"
            elif "hostname" in lowered or "ip address mismatch" in lowered:
                reason = "hostname_mismatch"
            else:
                reason = "untrusted_ca"
            return TLSError(f"TLS certificate verification failed: {detail}", url=url, reason=reason)
        if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text:
            return TLSError(
                "TLS handshake failed: the port speaks plain HTTP",
                url=url,
                reason="plain_http",
                hint="Use http:// for this port, or the registry's TLS port",
            )
        return TLSError(f"TLS handshake failed: {text[:200]}", url=url)
    if isinstance(exc, httpx.TimeoutException):
        return UnreachableError("the registry did not answer in time", url=url, reason="timeout")
    return UnreachableError(f"cannot connect: {type(exc).__name__}: {str(exc)[:200]}", url=url)


class RegistryClient:
    """Async client for one registry. Use as `async with RegistryClient(...) as client:`."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials | None = None,
        tls: TlsSettings | None = None,
        options: ClientOptions | None = None,
        *,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"registry URL {base_url!r} must be http(s)://host[:port]")
        self.credentials = credentials
        self.tls = tls or TlsSettings()
        self.options = options or ClientOptions()
        rate = self.options.requests_per_second
        self._pacer = pacer_for(_origin_key(base_url), rate) if rate else None
        self.stats = ClientStats()
        self.rate_limit = RateLimit()
        self._sleep = sleep
        self._origin = _origin(self.base_url)
        self._challenge: Challenge | None = None
        self._scheme_known = False
        self._tokens: dict[tuple[str, ...], Token] = {}
        self._token_locks: dict[tuple[str, ...], asyncio.Lock] = {}
        self._ping_lock = asyncio.Lock()
        ssl_context = self.tls.context()
        limits = httpx.Limits(
            max_connections=self.options.max_connections,
            max_keepalive_connections=self.options.max_connections,
        )
        timeout = httpx.Timeout(
            connect=self.options.connect_timeout,
            read=self.options.read_timeout,
            write=self.options.read_timeout,
            pool=None,
        )

        def make_client() -> httpx.AsyncClient:
            return httpx.AsyncClient(
                transport=AsyncioTransport(ssl_context, limits, http2=self.options.http2),
                timeout=timeout,
                follow_redirects=False,
                headers={"User-Agent": f"regscout/{__version__}"},
                trust_env=False,
            )

        self._http = make_client()
        # Other origins (object storage behind a redirect) get their own client: no auth, no cookies.
        self._foreign = make_client()

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._foreign.aclose()

    def url(self, path: str) -> str:
        return self.base_url + path

    # ---- auth -------------------------------------------------------------------------------

    async def ping(self) -> PingResult:
        """GET /v2/ without credentials: tells whether this is a registry and which auth it wants."""
        response = await self._send_raw("GET", self.url("/v2/"), headers={}, client=self._http)
        try:
            body_start = (await response.aread())[:512]
        finally:
            await response.aclose()
        api_version = response.headers.get("Docker-Distribution-API-Version")
        challenge = parse_challenge(response.headers.get("WWW-Authenticate"))
        looks_like_html = body_start.lstrip().lower().startswith((b"<!doctype", b"<html"))
        if response.status_code == 200 and (api_version or not looks_like_html):
            self._challenge, self._scheme_known = None, True
        elif response.status_code == 401 and challenge and challenge.scheme in ("bearer", "basic"):
            self._challenge, self._scheme_known = challenge, True
        elif response.status_code in RETRY_STATUSES or response.status_code >= 500:
            raise ServerError(
                f"registry answered HTTP {response.status_code} on /v2/",
                url=str(response.url),
                http_status=response.status_code,
            )
        else:
            raise NotARegistryError(
                f"no registry API here: GET /v2/ answered HTTP {response.status_code}"
                + (" with an HTML page" if looks_like_html else ""),
                url=str(response.url),
                http_status=response.status_code,
            )
        return PingResult(response.status_code, challenge, api_version)

    async def _ensure_scheme(self) -> None:
        if self._scheme_known:
            return
        async with self._ping_lock:
            if not self._scheme_known:
                await self.ping()

    @property
    def auth_scheme(self) -> str | None:
        """ "bearer", "basic", or None when the registry needs no auth (after a ping)."""
        return self._challenge.scheme if self._challenge else None

    async def token(self, scopes: list[str], *, force: bool = False) -> Token:
        """A bearer token for these scopes, from the cache while it is fresh."""
        await self._ensure_scheme()
        challenge = self._challenge
        if challenge is None or challenge.scheme != "bearer" or not challenge.realm:
            raise ProtocolError("the registry does not use bearer tokens", url=self.base_url)
        key = tuple(sorted(set(scopes)))
        cached = self._tokens.get(key)
        if cached and cached.fresh() and not force:
            return cached
        lock = self._token_locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(key)
            if cached and cached.fresh() and not force:
                return cached
            token = await self._fetch_token(challenge, list(key))
            self._tokens[key] = token
            return token

    async def _fetch_token(self, challenge: Challenge, scopes: list[str]) -> Token:
        assert challenge.realm is not None
        query: list[tuple[str, str]] = []
        if challenge.service:
            query.append(("service", challenge.service))
        query.extend(("scope", scope) for scope in scopes)
        separator = "&" if "?" in challenge.realm else "?"
        url = challenge.realm + (separator + urlencode(query) if query else "")
        headers = {"Accept": "application/json"}
        if self.credentials:
            headers["Authorization"] = self.credentials.basic_header()
        client = self._http if _origin(url) == self._origin else self._foreign
        self.stats.token_requests += 1
        response = await self._send_with_retries("GET", url, headers=headers, client=client)
        try:
            await response.aread()
        finally:
            await response.aclose()
        if response.status_code in (401, 403):
            if self.credentials:
                raise AuthenticationError(
                    f"the token service rejected the credentials of user {self.credentials.username!r}"
                    f" (HTTP {response.status_code})",
                    url=url,
                    http_status=response.status_code,
                )
            raise AuthenticationError(
                "the registry requires credentials",
                url=url,
                http_status=response.status_code,
                hint="Give a user name and password or token with pull rights",
            )
        if response.status_code == 429:
            raise RateLimitedError(
                "the token service is rate limiting",
                url=url,
                http_status=429,
                retry_after=retry_after(response.headers),
            )
        if response.status_code >= 400:
            raise ServerError(
                f"the token service answered HTTP {response.status_code}", url=url, http_status=response.status_code
            )
        try:
            data = response.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProtocolError("the token service answered with something that is not JSON", url=url) from exc
        value = data.get("token") or data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(value, str) or not value:
            raise ProtocolError("the token service answered without a token", url=url)
        return Token(value, time.monotonic() + token_lifetime(data.get("expires_in")))

    async def _auth_header(self, scopes: list[str] | None) -> str | None:
        await self._ensure_scheme()
        if self._challenge is None:
            return None
        if self.credentials is not None and self.credentials.bearer:
            return "Bearer " + self.credentials.secret.reveal()
        if self._challenge.scheme == "basic":
            return self.credentials.basic_header() if self.credentials else None
        return "Bearer " + (await self.token(scopes or [])).value

    # ---- requests ---------------------------------------------------------------------------

    async def _send_raw(
        self, method: str, url: str, *, headers: dict[str, str], client: httpx.AsyncClient, body: bytes | None = None
    ) -> httpx.Response:
        if self._pacer is not None:
            await self._pacer.wait()
        self.stats.requests += 1
        request = client.build_request(method, url, headers=headers, content=body)
        try:
            return await client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise classify_transport_error(exc, url) from None

    async def _backoff(self, attempt: int, retry_after: float | None) -> None:
        self.stats.retries += 1
        if retry_after is not None:
            delay = min(retry_after, self.options.retry_after_max)
        else:
            delay = min(self.options.backoff_max, self.options.backoff_base * 2 ** (attempt - 1))
            delay *= 0.5 + random.random() / 2  # noqa: S311 - jitter, not security
        await self._sleep(delay)

    async def _send_with_retries(
        self, method: str, url: str, *, headers: dict[str, str], client: httpx.AsyncClient, body: bytes | None = None
    ) -> httpx.Response:
        """Send, retrying transport failures, 408/429/5xx and retryable error codes."""
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._send_raw(method, url, headers=headers, client=client, body=body)
            except (TLSError, UnreachableError) as error:
                if isinstance(error, TLSError) or attempt >= self.options.attempts:
                    raise
                log.info("retrying %s %s after %s", method, error.url, error.reason)
                await self._backoff(attempt, None)
                continue
            self._observe(response)
            if response.status_code not in RETRY_STATUSES and response.status_code < 500:
                if response.status_code < 400 or method == "HEAD":
                    return response
                await response.aread()
                if not RETRY_CODES.intersection(_error_codes(response)):
                    return response
            if attempt >= self.options.attempts:
                return response
            wait = retry_after(response.headers)
            await response.aclose()
            log.info("retrying %s %s after HTTP %s", method, response.url, response.status_code)
            await self._backoff(attempt, wait)

    def _observe(self, response: httpx.Response) -> None:
        headers = response.headers
        if "ratelimit-limit" in headers or "ratelimit-remaining" in headers:
            self.rate_limit = RateLimit(
                headers.get("ratelimit-limit"),
                headers.get("ratelimit-remaining"),
                headers.get("docker-ratelimit-source"),
            )
        for warning in headers.get_list("Warning"):
            if len(self.stats.warnings) < 20:
                self.stats.warnings.append(warning[:4096])
                log.warning("registry warning: %s", warning[:4096])

    async def request(
        self,
        method: str,
        path_or_url: str,
        *,
        scopes: list[str] | None = None,
        accept: str | None = None,
    ) -> httpx.Response:
        """An authenticated request that follows redirects safely. The caller reads and closes
        the (streamed) response; errors are raised as RegistryError subclasses."""
        url = path_or_url if "://" in path_or_url else self.url(path_or_url)
        auth_allowed = True
        reauthenticated = False
        redirects = 0
        while True:
            headers: dict[str, str] = {}
            if accept:
                headers["Accept"] = accept
            same_origin = _origin(url) == self._origin
            if auth_allowed and same_origin:
                auth = await self._auth_header(scopes)
                if auth:
                    headers["Authorization"] = auth
            client = self._http if same_origin and auth_allowed else self._foreign
            response = await self._send_with_retries(method, url, headers=headers, client=client)
            status = response.status_code
            if status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                await response.aclose()
                redirects += 1
                if redirects > MAX_REDIRECTS:
                    raise ProtocolError("too many redirects", url=url)
                target = urljoin(url, response.headers["Location"])
                if _origin(target) != self._origin:
                    auth_allowed = False  # never again for this request, even if it comes back
                url = target
                continue
            if status == 401 and auth_allowed and same_origin and not reauthenticated:
                challenge = parse_challenge(response.headers.get("WWW-Authenticate"))
                if challenge and challenge.scheme in ("bearer", "basic"):
                    reauthenticated = True
                    known = self._challenge
                    self._challenge, self._scheme_known = challenge, True
                    if challenge.scheme == "bearer" and (
                        known is None or known.scheme != "bearer" or challenge.error != "insufficient_scope"
                    ):
                        wanted = sorted(set((scopes or []) + challenge.scopes))
                        await response.aclose()
                        await self.token(wanted, force=True)
                        scopes = wanted
                        continue
                    if challenge.scheme == "basic" and (known is None or known.scheme != "basic") and self.credentials:
                        await response.aclose()
                        continue
            if status >= 400:
                await response.aread()
                await response.aclose()
                raise self._status_error(response, url)
            return response

    async def api_json(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
        limit: int = 32 * 1024 * 1024,
    ) -> tuple[Any, httpx.Headers]:
        """A vendor REST API call (Docker Hub, Harbor, Kubernetes, ...) with the same retries, error
        classes and request accounting as the /v2/ traffic. It goes through the client that never
        carries registry credentials: the caller passes the API's own auth header."""
        request_headers = {"Accept": "application/json", **(headers or {})}
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            request_headers["Content-Type"] = "application/json"
        response = await self._send_with_retries(method, url, headers=request_headers, client=self._foreign, body=body)
        if response.status_code >= 400:
            await response.aread()
            await response.aclose()
            raise self._status_error(response, url)
        raw = await self._read_limited(response, limit, f"{method} {safe_url(url)}")
        if not raw:
            return None, response.headers
        try:
            return json.loads(raw), response.headers
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProtocolError("the API answered with something that is not JSON", url=url) from exc

    def _status_error(self, response: httpx.Response, url: str) -> RegistryError:
        status = response.status_code
        codes = _error_codes(response)
        detail = _error_message(response)
        suffix = f": {detail}" if detail else ""
        if status == 401:
            challenge = parse_challenge(response.headers.get("WWW-Authenticate"))
            if self.credentials is None:
                return AuthenticationError(
                    f"the registry requires credentials{suffix}",
                    url=url,
                    http_status=401,
                    code=",".join(codes) or None,
                    hint="Give a user name and password or token with pull rights",
                )
            if self._challenge and self._challenge.scheme == "basic":
                return AuthenticationError(
                    f"the registry rejected the credentials{suffix}",
                    url=url,
                    http_status=401,
                    code=",".join(codes) or None,
                )
            scope = " ".join(challenge.scopes) if challenge else ""
            return AccessDeniedError(
                f"access denied{' to ' + scope if scope else ''}{suffix}",
                url=url,
                http_status=401,
                code=",".join(codes) or None,
            )
        if status == 403:
            return AccessDeniedError(
                f"access forbidden{suffix}", url=url, http_status=403, code=",".join(codes) or None
            )
        if status == 404:
            return NotFoundError(
                f"not found{suffix}",
                url=url,
                http_status=404,
                code=",".join(codes) or None,
                hint="Check the repository name and tag",
            )
        if status == 429 or "TOOMANYREQUESTS" in codes:
            return RateLimitedError(
                f"rate limited{suffix}",
                url=url,
                http_status=status,
                retry_after=retry_after(response.headers),
            )
        if status >= 500:
            return ServerError(f"the registry answered HTTP {status}{suffix}", url=url, http_status=status)
        return ProtocolError(
            f"the registry answered HTTP {status}{suffix}", url=url, http_status=status, code=",".join(codes) or None
        )

    async def _read_limited(self, response: httpx.Response, limit: int, what: str) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            await response.aclose()
            raise TooLargeError(f"{what} is {declared} bytes, over the {limit}-byte limit", url=str(response.url))
        chunks: list[bytes] = []
        total = 0
        try:
            async for chunk in response.aiter_raw():
                total += len(chunk)
                if total > limit:
                    raise TooLargeError(f"{what} is over the {limit}-byte limit", url=str(response.url))
                chunks.append(chunk)
        except httpx.TransportError as exc:
            raise BlobTransferError(
                f"{what}: transfer interrupted ({type(exc).__name__})", url=str(response.url)
            ) from None
        finally:
            await response.aclose()
        self.stats.bytes_received += total
        return b"".join(chunks)

    # ---- listing ----------------------------------------------------------------------------

    async def _paginate(self, path: str, key: str, scopes: list[str], page_size: int) -> AsyncIterator[str]:
        """Walk a paginated list, yielding each name once. Follows `Link`; where a server sends a
        full page without one, continues with `last=`, and stops when that brings nothing new
        (distribution 2.8 ignores `n` and `last` on tags/list and returns everything at once)."""
        url: str | None = self.url(f"{path}?n={page_size}")
        seen_pages: set[str] = set()
        yielded: set[str] = set()
        while url is not None:
            if url in seen_pages:
                raise ProtocolError("the registry's pagination loops", url=url)
            seen_pages.add(url)
            try:
                response = await self.request("GET", url, scopes=scopes, accept="application/json")
            except ProtocolError as error:
                if error.code and "PAGINATION_NUMBER_INVALID" in error.code and page_size > 1:
                    page_size //= 2
                    seen_pages.discard(url)
                    url = self.url(f"{path}?n={page_size}")
                    continue
                raise
            body = await self._read_limited(response, 64 * 1024 * 1024, f"{path} page")
            try:
                data = json.loads(body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise ProtocolError(f"{path} answered with something that is not JSON", url=url) from exc
            items = data.get(key) if isinstance(data, dict) else None
            if items is None:
                items = []
            if not isinstance(items, list):
                raise ProtocolError(f"{path}: '{key}' is not a list", url=url)
            fresh = [str(item) for item in items if str(item) not in yielded]
            yielded.update(fresh)
            for item in fresh:
                yield item
            next_link = response.links.get("next", {}).get("url")
            if next_link:
                url = urljoin(url, next_link)
            elif len(items) >= page_size and fresh:
                url = self.url(f"{path}?{urlencode({'n': page_size, 'last': str(items[-1])})}")
            else:
                url = None

    def catalog(self, page_size: int = 1000) -> AsyncIterator[str]:
        return self._paginate("/v2/_catalog", "repositories", [CATALOG_SCOPE], page_size)

    def tags(self, repository: str, page_size: int = 1000) -> AsyncIterator[str]:
        return self._paginate(f"/v2/{repository}/tags/list", "tags", [pull_scope(repository)], page_size)

    # ---- manifests and blobs ----------------------------------------------------------------

    async def head_manifest(self, repository: str, reference: str) -> tuple[str | None, str | None]:
        """(digest, media type) without a pull; the digest may be None where a registry omits it."""
        response = await self.request(
            "HEAD", f"/v2/{repository}/manifests/{reference}", scopes=[pull_scope(repository)], accept=ACCEPT
        )
        await response.aclose()
        content_type = response.headers.get("Content-Type")
        return response.headers.get("Docker-Content-Digest"), content_type

    async def manifest(self, repository: str, reference: str) -> Manifest:
        response = await self.request(
            "GET", f"/v2/{repository}/manifests/{reference}", scopes=[pull_scope(repository)], accept=ACCEPT
        )
        body = await self._read_limited(response, MAX_MANIFEST_BYTES, f"manifest {repository}:{reference}")
        digest = sha256_digest(body)
        expected = reference if reference.startswith("sha256:") else response.headers.get("Docker-Content-Digest")
        if expected:
            verify_digest(body, expected, f"manifest {repository}@{reference}")
        return parse_manifest(body, response.headers.get("Content-Type"), digest)

    async def blob(self, repository: str, digest: str, *, limit: int = MAX_CONFIG_BYTES) -> bytes:
        """A small blob (a config), read whole and verified."""
        response = await self.request("GET", f"/v2/{repository}/blobs/{digest}", scopes=[pull_scope(repository)])
        body = await self._read_limited(response, limit, f"blob {digest}")
        verify_digest(body, digest, f"blob {repository}@{digest}")
        return body

    async def stream_blob(self, repository: str, digest: str) -> AsyncIterator[bytes]:
        """Yield a blob's bytes as they arrive. The digest is checked when the stream ends, and a
        mismatch raises DigestMismatchError: consumers must not commit anything before the end."""
        response = await self.request("GET", f"/v2/{repository}/blobs/{digest}", scopes=[pull_scope(repository)])
        hasher = hashlib.sha256()
        received = 0
        try:
            # Hashed here, piece by piece (hashlib releases the GIL): a thread of its own for it cost
            # more in hand-offs than the hashing itself.
            async for piece in response.aiter_raw():
                hasher.update(piece)
                received += len(piece)
                yield piece
        except httpx.TransportError as exc:
            raise BlobTransferError(
                f"blob {digest}: transfer interrupted after {received} bytes ({type(exc).__name__})",
                url=str(response.url),
            ) from None
        finally:
            await response.aclose()
            self.stats.bytes_received += received
        if digest.startswith("sha256:") and "sha256:" + hasher.hexdigest() != digest:
            raise DigestMismatchError(
                f"blob {digest} digest mismatch: got sha256:{hasher.hexdigest()} after {received} bytes",
                url=str(response.url),
            )

"""A Docker-registry token server (distribution ``docs/spec/auth/token.md``, ``jwt.md``, ``oauth.md``).

Runs a stdlib ``ThreadingHTTPServer`` on a background thread and serves

* ``GET /token?service=S&scope=A&scope=B[&offline_token=true]`` with optional Basic auth,
* ``POST /token`` (OAuth2 form: ``grant_type=password|refresh_token``, ``username``, ``password``,
  ``refresh_token``, ``service``, ``scope`` space-separated, ``client_id``, ``access_type``).

Tokens are RS256 JWTs whose header carries ``x5c`` = [base64 DER of the issuer's self-signed
certificate]; that certificate is the registry's ``auth.token.rootcertbundle``. The ``access``
claim is the intersection of the requested scopes and what the account is granted.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jwt

from .accounts import Account
from .httpserver import HarnessHTTPServer, QuietHandler
from .pki import CertKey, make_self_signed_signer

__all__ = ["AccessEntry", "TokenIssuer", "TokenRequest", "grant_access", "parse_scope"]

DEFAULT_SERVICE = "regscout-test"
DEFAULT_ISSUER = "regscout-harness"


@dataclass(frozen=True)
class TokenRequest:
    """One request the token endpoint answered.

    ``user`` is None for anonymous requests; ``scopes`` are the requested scope strings in order;
    ``method`` is "GET" or "POST"; ``status`` is the HTTP status answered; ``granted`` is the
    ``access`` claim of the issued token (empty when no token was issued).
    """

    user: str | None
    scopes: tuple[str, ...]
    method: str
    service: str | None = None
    status: int = 200
    granted: tuple[AccessEntry, ...] = ()


@dataclass(frozen=True)
class AccessEntry:
    type: str
    name: str
    actions: tuple[str, ...]

    def to_claim(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "actions": list(self.actions)}


def parse_scope(scope: str) -> tuple[str, str, tuple[str, ...]] | None:
    """``repository:library/alpine:pull,push`` -> ("repository", "library/alpine", ("pull","push")).

    The resource type ends at the first colon and the actions start after the last one, so names
    containing colons (``registry:catalog:*`` aside, e.g. a host:port prefix) survive.
    """
    first = scope.find(":")
    last = scope.rfind(":")
    if first <= 0 or last == first:
        return None
    rtype, name, actions = scope[:first], scope[first + 1 : last], scope[last + 1 :]
    if not name:
        return None
    return rtype, name, tuple(a for a in actions.split(",") if a)


def grant_access(account: Account | None, scopes: Iterable[str], *, anonymous_pull: bool) -> tuple[AccessEntry, ...]:
    """The ``access`` claim for ``account`` (None = anonymous) asking for ``scopes``."""
    merged: dict[tuple[str, str], list[str]] = {}
    for scope in scopes:
        parsed = parse_scope(scope)
        if parsed is None:
            continue
        rtype, name, wanted = parsed
        if rtype == "repository" or rtype.startswith("repository("):
            anonymous = {"pull"} if anonymous_pull else set()
            allowed = set(account.actions_on(name)) if account is not None else anonymous
            granted = [a for a in wanted if a in allowed or "*" in allowed]
        elif rtype == "registry" and name == "catalog":
            ok = account is not None and account.catalog
            granted = [a for a in wanted if a == "*"] if ok else []
        else:
            granted = []
        if not granted:
            continue
        acts = merged.setdefault((rtype, name), [])
        acts.extend(a for a in granted if a not in acts)
    return tuple(AccessEntry(t, n, tuple(a)) for (t, n), a in merged.items())


def _rfc3339(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TokenIssuer:
    """A token server. ``url`` is the token endpoint (the registry's ``realm``).

    ``accounts`` is used by reference: mutating the mapping (e.g. ``RunningRegistry.accounts``)
    changes who can log in from the next request on. ``expires_in`` and ``anonymous_pull`` may also
    be changed at run time.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        accounts: MutableMapping[str, Account],
        service: str = DEFAULT_SERVICE,
        issuer: str = DEFAULT_ISSUER,
        anonymous_pull: bool = False,
        expires_in: int = 300,
        bind_host: str = "127.0.0.1",
    ) -> None:
        self.accounts = accounts
        self.service = service
        self.issuer = issuer
        self.anonymous_pull = anonymous_pull
        self.expires_in = expires_in
        self.signer: CertKey = make_self_signed_signer()
        workdir.mkdir(parents=True, exist_ok=True)
        self.cert_file: Path = workdir / "token-signer.pem"
        self.cert_file.write_bytes(self.signer.cert_pem)
        self._x5c = base64.b64encode(self.signer.cert_der).decode("ascii")
        self._lock = threading.Lock()
        self._requests: list[TokenRequest] = []
        self._refresh_tokens: dict[str, str] = {}
        self._server = HarnessHTTPServer(bind_host, _make_handler(self))
        self.base_url = f"http://{bind_host}:{self._server.port}"
        self.url = f"{self.base_url}/token"
        self._server.start(name=f"token-issuer-{self._server.port}")

    # -- records -------------------------------------------------------------------------
    @property
    def requests(self) -> list[TokenRequest]:
        """A snapshot of every request answered so far (oldest first)."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def _record(self, req: TokenRequest) -> None:
        with self._lock:
            self._requests.append(req)

    # -- minting ---------------------------------------------------------------------------
    def mint(
        self,
        subject: str,
        access: Iterable[AccessEntry],
        *,
        expires_in: int | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        now: float | None = None,
        extra_claims: Mapping[str, Any] | None = None,
    ) -> str:
        """Sign a token directly (tests can forge wrong-audience or expired tokens with this)."""
        t = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "iss": self.issuer if issuer is None else issuer,
            "sub": subject,
            "aud": self.service if audience is None else audience,
            "exp": t + (self.expires_in if expires_in is None else expires_in),
            "nbf": t,
            "iat": t,
            "jti": secrets.token_hex(16),
            "access": [a.to_claim() for a in access],
        }
        if extra_claims:
            claims.update(extra_claims)
        return jwt.encode(claims, self.signer.key, algorithm="RS256", headers={"x5c": [self._x5c]})

    def decode(self, token: str) -> dict[str, Any]:
        """Verify and decode a token this issuer minted."""
        decoded: dict[str, Any] = jwt.decode(
            token,
            self.signer.cert.public_key(),  # type: ignore[arg-type]
            algorithms=["RS256"],
            audience=self.service,
            issuer=self.issuer,
        )
        return decoded

    def _issue(
        self,
        user: str | None,
        scopes: tuple[str, ...],
        method: str,
        service: str | None,
        *,
        offline: bool,
    ) -> tuple[int, dict[str, Any]]:
        account = self.accounts.get(user) if user is not None else None
        access = grant_access(account, scopes, anonymous_pull=self.anonymous_pull)
        now = time.time()
        token = self.mint(user or "", access, now=now)
        body: dict[str, Any] = {
            "token": token,
            "access_token": token,
            "expires_in": self.expires_in,
            "issued_at": _rfc3339(now),
        }
        if offline and user is not None:
            refresh = secrets.token_urlsafe(24)
            with self._lock:
                self._refresh_tokens[refresh] = user
            body["refresh_token"] = refresh
        self._record(TokenRequest(user, scopes, method, service, 200, access))
        return 200, body

    def _check_password(self, user: str, password: str) -> bool:
        account = self.accounts.get(user)
        if account is None:
            return False
        return hmac.compare_digest(account.password.encode(), password.encode())

    def _refresh_user(self, refresh_token: str) -> str | None:
        with self._lock:
            return self._refresh_tokens.get(refresh_token)

    def handle(
        self,
        method: Literal["GET", "POST"],
        query: Mapping[str, list[str]],
        authorization: str | None,
    ) -> tuple[int, dict[str, Any]]:
        """Answer one token request; returns (status, JSON body)."""
        service = _first(query, "service")
        if method == "GET":
            scopes = tuple(s for raw in query.get("scope", []) for s in raw.split())
        else:
            scopes = tuple((_first(query, "scope") or "").split())

        def fail(status: int, code: str, message: str, user: str | None) -> tuple[int, dict[str, Any]]:
            self._record(TokenRequest(user, scopes, method, service, status, ()))
            return status, {"errors": [{"code": code, "message": message, "detail": None}]}

        if service is not None and service != self.service:
            return fail(400, "DENIED", f"unknown service {service!r}", None)

        if method == "GET":
            user: str | None = None
            if authorization:
                creds = _parse_basic(authorization)
                if creds is None:
                    return fail(401, "UNAUTHORIZED", "malformed Authorization header", None)
                user, password = creds
                if not self._check_password(user, password):
                    return fail(401, "UNAUTHORIZED", "authentication required", user)
            offline = (_first(query, "offline_token") or "").lower() == "true"
            return self._issue(user, scopes, method, service, offline=offline)

        grant_type = _first(query, "grant_type") or ""
        offline = _first(query, "access_type") == "offline"
        if grant_type == "password":
            user = _first(query, "username")
            password = _first(query, "password") or ""
            if not user:
                return fail(400, "UNSUPPORTED", "username required", None)
            if not self._check_password(user, password):
                return fail(401, "UNAUTHORIZED", "authentication required", user)
            return self._issue(user, scopes, method, service, offline=offline)
        if grant_type == "refresh_token":
            user = self._refresh_user(_first(query, "refresh_token") or "")
            if user is None or user not in self.accounts:
                return fail(401, "UNAUTHORIZED", "invalid refresh token", user)
            return self._issue(user, scopes, method, service, offline=offline)
        return fail(400, "UNSUPPORTED", f"unsupported grant_type {grant_type!r}", None)

    def close(self) -> None:
        self._server.close()

    def __enter__(self) -> TokenIssuer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _first(query: Mapping[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None


def _parse_basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None
    return user, password


def _make_handler(issuer: TokenIssuer) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def _answer(self, method: Literal["GET", "POST"]) -> None:
            parts = urllib.parse.urlsplit(self.path)
            body = self.read_body() if method == "POST" else b""
            if parts.path.rstrip("/") != "/token":
                self.send_bytes(404, b'{"errors":[{"code":"NOT_FOUND","message":"no such path"}]}')
                return
            if method == "GET":
                query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
            else:
                query = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            status, payload = issuer.handle(method, query, self.headers.get("Authorization"))
            headers: dict[str, str] = {}
            if status == 401:
                headers["WWW-Authenticate"] = 'Basic realm="regscout-harness token issuer"'
            self.send_bytes(status, json.dumps(payload).encode(), headers)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

    return Handler

"""Registry credentials, TLS settings, WWW-Authenticate parsing and the bearer token cache."""

from __future__ import annotations

import base64
import functools
import json
import re
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from ..secrets import Secret


@dataclass(frozen=True)
class Credentials:
    username: str
    secret: Secret
    # A bearer token that was already exchanged (Harbor sends one to its scanner): sent as it is, never
    # exchanged again.
    bearer: bool = False

    def basic_header(self) -> str:
        raw = f"{self.username}:{self.secret.reveal()}".encode()
        return "Basic " + base64.b64encode(raw).decode()


@dataclass(frozen=True)
class TlsSettings:
    verify: bool = True
    ca_pem: str | None = None

    def context(self) -> ssl.SSLContext:
        return _ssl_context(self.verify, self.ca_pem)


@functools.lru_cache(maxsize=64)
def _ssl_context(verify: bool, ca_pem: str | None) -> ssl.SSLContext:
    """One context per TLS setting for the process: loading the system's CA store costs ~20 ms, which every
    client (two per scanned image) paid before. A context is safe to share once configured."""
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif ca_pem:
        ctx.load_verify_locations(cadata=ca_pem)
    return ctx


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lower case: "bearer" or "basic"
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scopes(self) -> list[str]:
        scope = self.params.get("scope")
        return scope.split(" ") if scope else []

    @property
    def error(self) -> str | None:
        return self.params.get("error")


_PARAM = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*("((?:[^"\\]|\\.)*)"|[^,\s]*)\s*,?')


def parse_challenge(header: str | None) -> Challenge | None:
    """Parse the first challenge of a WWW-Authenticate header (quoted values may hold commas,
    spaces and colons)."""
    if not header:
        return None
    header = header.strip()
    scheme, _, rest = header.partition(" ")
    if not scheme:
        return None
    params: dict[str, str] = {}
    position = 0
    while position < len(rest):
        match = _PARAM.match(rest, position)
        if not match or match.end() == position:
            break
        value = match.group(3) if match.group(3) is not None else match.group(2)
        params[match.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
        position = match.end()
    return Challenge(scheme.lower(), params)


@dataclass
class Token:
    value: str
    expires_at: float

    def fresh(self, now: float | None = None) -> bool:
        return (now if now is not None else time.monotonic()) < self.expires_at

    def claims(self) -> dict[str, Any]:
        """The JWT payload, read without verification (only for the rights probe)."""
        return jwt_claims(self.value)


def token_lifetime(expires_in: Any) -> float:
    """Seconds we may use a token: the server's expires_in (default 60 s by the spec),
    less a safety margin."""
    seconds = float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else 60.0
    return max(seconds - min(30.0, seconds * 0.1), 1.0)


def jwt_claims(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, UnicodeDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def granted_actions(claims: dict[str, Any], resource_type: str, name: str) -> set[str]:
    actions: set[str] = set()
    access = claims.get("access")
    if not isinstance(access, list):
        return actions
    for entry in access:
        if (
            isinstance(entry, dict)
            and entry.get("type") == resource_type
            and entry.get("name") == name
            and isinstance(entry.get("actions"), list)
        ):
            actions.update(str(a) for a in entry["actions"])
    return actions

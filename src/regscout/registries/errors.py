"""Errors a registry can cause, each carrying the connection status it maps to and a hint.

Messages never hold credentials: URLs are passed through `safe_url`, which drops userinfo and
query strings (presigned blob URLs carry signatures in the query).
"""

from __future__ import annotations

import enum
from urllib.parse import urlsplit, urlunsplit


class ConnectionStatus(enum.StrEnum):
    CONNECTED = "Connected"
    AUTHORIZATION_FAILED = "Authorization failed"
    NOT_FOUND = "Not found"
    SSL_HANDSHAKE_ERROR = "SSL handshake error"
    RATE_LIMITED = "Rate limited"
    UNKNOWN = "Unknown"


def safe_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class RegistryError(Exception):
    """Base of every registry failure. `reason` is a stable machine word; `hint` says what to do."""

    status: ConnectionStatus = ConnectionStatus.UNKNOWN
    reason = "error"
    hint = ""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        http_status: int | None = None,
        code: str | None = None,
        hint: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.message = message
        self.url = safe_url(url) if url else None
        self.http_status = http_status
        self.code = code
        if hint is not None:
            self.hint = hint
        if reason is not None:
            self.reason = reason
        super().__init__(self.describe())

    def describe(self) -> str:
        text = self.message
        if self.url:
            text += f" ({self.url})"
        if self.hint:
            text += f". {self.hint}"
        return text


class UnreachableError(RegistryError):
    reason = "unreachable"
    hint = "Check the host name, the port and any proxy between regscout and the registry"


class TLSError(RegistryError):
    status = ConnectionStatus.SSL_HANDSHAKE_ERROR
    reason = "tls"
    hint = (
        "Give the CA that signed the registry's certificate (--ca-file), or, only for a test "
        "registry, turn verification off (--insecure)"
    )


class NotARegistryError(RegistryError):
    status = ConnectionStatus.NOT_FOUND
    reason = "not_a_registry"
    hint = (
        "The URL answers but is not a registry API root: give the registry host (and, for "
        "Artifactory or Nexus, the Docker access method, port or path) without /v2/"
    )


class NotFoundError(RegistryError):
    status = ConnectionStatus.NOT_FOUND
    reason = "not_found"


class AuthenticationError(RegistryError):
    status = ConnectionStatus.AUTHORIZATION_FAILED
    reason = "bad_credentials"
    hint = "The registry refused the user name or password/token: check them and update the stored credentials"


class AccessDeniedError(RegistryError):
    status = ConnectionStatus.AUTHORIZATION_FAILED
    reason = "insufficient_rights"
    hint = "The credentials are valid but lack read access here: grant pull (read) rights on the repositories"


class RateLimitedError(RegistryError):
    status = ConnectionStatus.RATE_LIMITED
    reason = "rate_limited"
    hint = "The registry is throttling requests: wait, authenticate (anonymous quotas are lower), or lower concurrency"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class ServerError(RegistryError):
    reason = "server_error"
    hint = "The registry failed on its side; try again later or check the registry's logs"


class ProtocolError(RegistryError):
    reason = "protocol"
    hint = "The registry answered with something that is not valid for the Distribution API"


class UnsupportedManifestError(ProtocolError):
    reason = "unsupported_manifest"


class DigestMismatchError(ProtocolError):
    reason = "digest_mismatch"
    hint = "The content does not match its digest: the registry or a proxy altered it; nothing was kept"


class BlobTransferError(RegistryError):
    reason = "transfer_interrupted"
    hint = "The transfer broke off; nothing partial was kept. Try again"


class TooLargeError(ProtocolError):
    reason = "too_large"

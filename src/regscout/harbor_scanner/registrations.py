"""The Harbors that may call regscout: one registration each, with an API key shown once and stored hashed, the
way Harbor presents it, and the settings its scans run under (time limit, TLS trust of its registry)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as pysecrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..registries.auth import TlsSettings
from ..registries.base import MANAGED_BY_OPTION
from ..scanning.jobs import now_utc
from ..secrets import Secret
from ..services.audit import Actor, AuditLog, changed_fields, created_fields, deleted_fields, fingerprint
from ..store.db import Database
from ..store.harbor_models import HarborRegistration
from ..store.models import Integration

KEY_PREFIX = "rsh_"
AuthScheme = Literal["any", "bearer", "basic", "apikey"]
AUTH_SCHEMES: tuple[AuthScheme, ...] = ("any", "bearer", "basic", "apikey")
API_KEY_HEADER = "x-scanneradapter-api-key"
INTEGRATION_LABEL = "Harbor External Integration"
DEFAULT_TIMEOUT_SECONDS = 30 * 60
LAST_SCAN_EVERY = timedelta(minutes=1)


class RegistrationError(Exception):
    """A registration request that cannot be carried out; the message says why."""


class RegistrationNotFound(RegistrationError):
    pass


class RegistrationView(BaseModel):
    """What may be shown of a registration: never the key, only its prefix."""

    name: str
    key_prefix: str
    auth_scheme: str
    scan_timeout_seconds: float
    tls_insecure: bool
    has_ca: bool
    registry_hosts: list[str]
    integration: str | None
    created_at: datetime
    key_rotated_at: datetime
    last_scan_at: datetime | None
    last_auth_failure_at: datetime | None


@dataclass(frozen=True)
class Caller:
    """The registration a request authenticated as, with what its scans need."""

    id: int
    name: str
    scan_timeout_seconds: float
    tls: TlsSettings
    integration_id: int | None
    registry_hosts: tuple[str, ...] = ()
    address: str = ""  # the client's, set by the scanner API for the audit log

    @property
    def actor(self) -> Actor:
        return Actor("harbor", self.name, self.address)

    def allows(self, registry_url: str) -> bool:
        return not self.registry_hosts or url_host(registry_url) in self.registry_hosts


def url_host(url: str) -> str:
    """host[:port] of a URL, lower case, the port only when the URL names one."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host


def _hosts(hosts: list[str] | None) -> list[str]:
    cleaned = sorted({host.strip().lower() for host in hosts or [] if host.strip()})
    for host in cleaned:
        if "/" in host or " " in host or host.startswith(("http:", "https:")):
            raise RegistrationError(f"{host!r} is not a registry host: give host or host:port, e.g. harbor.example.com")
    return cleaned


def integration_name(registration: str) -> str:
    return f"{INTEGRATION_LABEL} ({registration})"


def managed_by(registration: str) -> str:
    return f"Harbor registration {registration}"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _new_key() -> tuple[str, str]:
    """(prefix, key). 256 random bits, so a fast hash is enough to store it (services/tokens.py does the same)."""
    prefix = pysecrets.token_hex(6)
    return prefix, f"{KEY_PREFIX}{prefix}_{pysecrets.token_urlsafe(32)}"


def _audited_fields(row: HarborRegistration) -> dict[str, Any]:
    return {
        "auth_scheme": row.auth_scheme,
        "scan_timeout_seconds": row.scan_timeout_seconds,
        "tls_insecure": row.tls_insecure,
        "ca": fingerprint(row.ca_pem),
        "registry_hosts": list(row.registry_hosts or []),
    }


def _view(session: Session, row: HarborRegistration) -> RegistrationView:
    integration = session.get(Integration, row.integration_id) if row.integration_id is not None else None
    return RegistrationView(
        name=row.name,
        key_prefix=row.key_prefix,
        auth_scheme=row.auth_scheme,
        scan_timeout_seconds=row.scan_timeout_seconds,
        tls_insecure=row.tls_insecure,
        has_ca=row.ca_pem is not None,
        registry_hosts=list(row.registry_hosts or []),
        integration=integration.name if integration is not None else None,
        created_at=row.created_at,
        key_rotated_at=row.key_rotated_at,
        last_scan_at=row.last_scan_at,
        last_auth_failure_at=row.last_auth_failure_at,
    )


@dataclass(frozen=True)
class Presented:
    """The key a request carried and how: "bearer", "basic" (with its user name) or "apikey"."""

    scheme: str
    key: str
    username: str | None = None


def presented_key(authorization: str | None, api_key: str | None) -> Presented | None:
    """The key in `Authorization: Bearer`, `Authorization: Basic` (the password) or `X-ScannerAdapter-API-Key`."""
    if api_key:
        return Presented("apikey", api_key.strip())
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return Presented("bearer", value.strip())
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, colon, password = decoded.partition(":")
        return Presented("basic", password, username) if colon else None
    return None


class Registrations:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.audit = AuditLog(db)

    def add(
        self,
        name: str,
        *,
        auth_scheme: AuthScheme = "any",
        scan_timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        insecure: bool = False,
        ca_pem: str | None = None,
        registry_hosts: list[str] | None = None,
        actor: Actor,
    ) -> tuple[RegistrationView, Secret]:
        if not name or len(name) > 60 or name != name.strip() or ":" in name:
            raise RegistrationError("a name of 1 to 60 characters, without surrounding spaces or ':', is required")
        _check(auth_scheme, scan_timeout_seconds)
        prefix, key = _new_key()
        with self.db.session() as session:
            if session.scalar(select(HarborRegistration.id).where(HarborRegistration.name == name)) is not None:
                raise RegistrationError(f"a Harbor registration named {name!r} exists; rotate its key or remove it")
            row = HarborRegistration(
                name=name,
                key_prefix=prefix,
                key_hash=_hash(key),
                auth_scheme=auth_scheme,
                scan_timeout_seconds=scan_timeout_seconds,
                tls_insecure=insecure,
                ca_pem=ca_pem,
                registry_hosts=_hosts(registry_hosts),
            )
            session.add(row)
            session.flush()
            changes = created_fields({**_audited_fields(row), "key_prefix": prefix})
            self.audit.record(session, actor, "harbor_registration.create", name, changes)
            return _view(session, row), Secret(key)

    def rotate(self, name: str, *, actor: Actor) -> tuple[RegistrationView, Secret]:
        """A new key; the old one stops working with this commit (every request reads the row)."""
        prefix, key = _new_key()
        with self.db.session() as session:
            row = self._row(session, name)
            before = {"key_prefix": row.key_prefix, "key": row.key_hash}
            row.key_prefix, row.key_hash, row.key_rotated_at = prefix, _hash(key), now_utc()
            changes = changed_fields(before, {"key_prefix": row.key_prefix, "key": row.key_hash})
            self.audit.record(session, actor, "harbor_registration.rotate", name, changes)
            session.flush()
            return _view(session, row), Secret(key)

    def edit(
        self,
        name: str,
        *,
        auth_scheme: AuthScheme | None = None,
        scan_timeout_seconds: float | None = None,
        insecure: bool | None = None,
        ca_pem: str | None = None,
        registry_hosts: list[str] | None = None,
        actor: Actor,
    ) -> RegistrationView:
        with self.db.session() as session:
            row = self._row(session, name)
            before = _audited_fields(row)
            _check(auth_scheme or row.auth_scheme, scan_timeout_seconds or row.scan_timeout_seconds)
            if auth_scheme is not None:
                row.auth_scheme = auth_scheme
            if scan_timeout_seconds is not None:
                row.scan_timeout_seconds = scan_timeout_seconds
            if insecure is not None:
                row.tls_insecure = insecure
            if ca_pem is not None:
                row.ca_pem = ca_pem or None
            if registry_hosts is not None:
                row.registry_hosts = _hosts(registry_hosts)
            session.flush()
            if changes := changed_fields(before, _audited_fields(row)):
                self.audit.record(session, actor, "harbor_registration.update", name, changes)
            return _view(session, row)

    def list_all(self) -> list[RegistrationView]:
        with self.db.session() as session:
            rows = session.scalars(select(HarborRegistration).order_by(HarborRegistration.name)).all()
            return [_view(session, row) for row in rows]

    def get(self, name: str) -> RegistrationView:
        with self.db.session() as session:
            return _view(session, self._row(session, name))

    def remove(self, name: str, *, actor: Actor) -> None:
        """Remove the registration and its pending scans; its integration and the results stay."""
        with self.db.session() as session:
            row = self._row(session, name)
            session.delete(row)
            changes = deleted_fields({**_audited_fields(row), "key_prefix": row.key_prefix})
            self.audit.record(session, actor, "harbor_registration.delete", name, changes)

    def authenticate(self, authorization: str | None, api_key: str | None) -> Caller | str:
        """The caller, or why it is refused (one indexed read: a rotated key fails from the next request on)."""
        presented = presented_key(authorization, api_key)
        if presented is None:
            return (
                "no API key: send it as Authorization: Bearer <key>, as the password of Basic authorization, "
                "or in X-ScannerAdapter-API-Key"
            )
        parts = presented.key.split("_")
        if not presented.key.startswith(KEY_PREFIX) or len(parts) < 3:
            return "the API key is not a regscout Harbor key (they start with rsh_); check the scanner's settings"
        with self.db.session() as session:
            row = session.scalar(select(HarborRegistration).where(HarborRegistration.key_prefix == parts[1]))
            if row is None or not hmac.compare_digest(row.key_hash, _hash(presented.key)):
                return (
                    "the API key is unknown or was rotated; give Harbor the current key "
                    "(regscout harbor rotate NAME prints a new one)"
                )
            if row.auth_scheme != "any" and row.auth_scheme != presented.scheme:
                row.last_auth_failure_at = now_utc()
                return f"registration {row.name!r} takes its key only as {row.auth_scheme}, not {presented.scheme}"
            if presented.scheme == "basic" and presented.username not in (row.name, ""):
                row.last_auth_failure_at = now_utc()
                return f"with Basic authorization the user name is the registration's name, {row.name!r}"
            return Caller(
                row.id,
                row.name,
                row.scan_timeout_seconds,
                TlsSettings(verify=not row.tls_insecure, ca_pem=row.ca_pem),
                row.integration_id,
                tuple(row.registry_hosts or ()),
            )

    @staticmethod
    def _row(session: Session, name: str) -> HarborRegistration:
        row = session.scalar(select(HarborRegistration).where(HarborRegistration.name == name))
        if row is None:
            raise RegistrationNotFound(f"no Harbor registration named {name!r}; `regscout harbor list` shows them")
        return row

    def ensure_integration(self, session: Session, caller: Caller, registry_url: str) -> tuple[int, str]:
        """The registration's Harbor External Integration (id, name), created on its first scan; its URL follows
        the registry URL Harbor sends."""
        row = session.get_one(HarborRegistration, caller.id)
        integration = session.get(Integration, row.integration_id) if row.integration_id is not None else None
        if integration is None:
            name = integration_name(row.name)
            integration = session.scalar(select(Integration).where(Integration.name == name))
            if integration is None:
                integration = Integration(
                    name=name,
                    description=(
                        f"{INTEGRATION_LABEL}: created by the first scan of Harbor registration {row.name}. "
                        "Harbor starts its scans; images cannot be added or scanned from regscout"
                    ),
                    type="docker-registry",
                    url=registry_url,
                    auth="anonymous",
                    tls_insecure=row.tls_insecure,
                    ca_pem=row.ca_pem,
                    options={MANAGED_BY_OPTION: managed_by(row.name)},
                )
                session.add(integration)
                session.flush()
                changes = created_fields({"type": integration.type, "url": registry_url})
                self.audit.record(session, caller.actor, "integration.create", name, changes)
            row.integration_id = integration.id
        elif integration.url != registry_url:
            changes = changed_fields({"url": integration.url}, {"url": registry_url})
            self.audit.record(session, caller.actor, "integration.update", integration.name, changes)
            integration.url = registry_url
        now = now_utc()
        # Written at most once a minute: every scan writing it would make each POST take the database's write
        # lock at its first statement, and a burst of Harbor's POSTs queue behind one another for it.
        if row.last_scan_at is None or now - row.last_scan_at > LAST_SCAN_EVERY:
            row.last_scan_at = now
        return integration.id, integration.name


def _check(auth_scheme: str, scan_timeout_seconds: float) -> None:
    if auth_scheme not in AUTH_SCHEMES:
        raise RegistrationError(f"auth scheme {auth_scheme!r} is not one of {', '.join(AUTH_SCHEMES)}")
    if not 60 <= scan_timeout_seconds <= 24 * 3600:
        raise RegistrationError("the scan timeout must be between 1 minute and 24 hours")

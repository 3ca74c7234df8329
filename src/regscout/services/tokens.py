"""API bearer tokens. A token is `rst_<prefix>_<secret>`; only the SHA-256 of the whole token is
stored. Tokens are 256-bit random, so a fast hash is safe here (argon2 is for passwords a person
chooses); the prefix finds the row without scanning."""

from __future__ import annotations

import hashlib
import hmac
import secrets as pysecrets
from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import select

from ..secrets import Secret
from ..store.db import Database
from ..store.models import ApiToken
from .audit import SYSTEM, Actor, AuditLog, created_fields

TOKEN_PREFIX = "rst_"  # noqa: S105 - a prefix, not a password


class TokenError(Exception):
    pass


class TokenView(BaseModel):
    name: str
    prefix: str
    role: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _view(row: ApiToken) -> TokenView:
    return TokenView(
        name=row.name,
        prefix=row.prefix,
        role=row.role,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


class TokenService:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.audit = AuditLog(db)

    def create(self, name: str, role: str = "admin", *, actor: Actor) -> tuple[TokenView, Secret]:
        if not name or len(name) > 100:
            raise TokenError("a token name of 1 to 100 characters is required")
        prefix = pysecrets.token_hex(6)
        plain = f"{TOKEN_PREFIX}{prefix}_{pysecrets.token_urlsafe(32)}"
        with self.db.session() as session:
            if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
                raise TokenError(f"a token named {name!r} exists; revoke it or choose another name")
            row = ApiToken(name=name, prefix=prefix, token_hash=_hash(plain), role=role)
            session.add(row)
            session.flush()
            view = _view(row)
            self.audit.record(session, actor, "token.create", name, created_fields({"role": role, "prefix": prefix}))
        return view, Secret(plain)

    def list_all(self) -> list[TokenView]:
        with self.db.session() as session:
            return [_view(row) for row in session.scalars(select(ApiToken).order_by(ApiToken.created_at))]

    def revoke(self, name: str, *, actor: Actor) -> TokenView:
        with self.db.session() as session:
            row = session.scalar(select(ApiToken).where(ApiToken.name == name))
            if row is None:
                raise TokenError(f"no token named {name!r}")
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
                self.audit.record(session, actor, "token.revoke", name, {"prefix": row.prefix})
            return _view(row)

    def verify(self, presented: str) -> TokenView | None:
        parts = presented.split("_")
        if len(parts) < 3 or not presented.startswith(TOKEN_PREFIX):
            return None
        with self.db.session() as session:
            row = session.scalar(select(ApiToken).where(ApiToken.prefix == parts[1]))
            if row is None or row.revoked_at is not None or not hmac.compare_digest(row.token_hash, _hash(presented)):
                return None
            row.last_used_at = datetime.now(UTC)
            return _view(row)

    def bootstrap_admin(self) -> Secret | None:
        """At first start (no token at all), create the admin token; the caller prints it once."""
        with self.db.session() as session:
            if session.scalar(select(ApiToken.id).limit(1)) is not None:
                return None
        return self.create("admin", actor=SYSTEM)[1]

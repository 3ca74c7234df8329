"""API bearer tokens. A token is `rst_<prefix>_<secret>`; only the SHA-256 of the whole token is
stored. Tokens are 256-bit random, so a fast hash is safe here (argon2 is for passwords a person
chooses); the prefix finds the row without scanning."""

from __future__ import annotations

import hashlib
import hmac
import secrets as pysecrets
from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import select

from ..access import ADMIN, ROLES, parse_scopes
from ..secrets import Secret
from ..store.console_models import ConsoleUser
from ..store.db import Database
from ..store.models import ApiToken
from .audit import SYSTEM, Actor, AuditLog, created_fields

TOKEN_PREFIX = "rst_"  # noqa: S105 - a prefix, not a password


class TokenError(Exception):
    pass


class TokenView(BaseModel):
    name: str
    prefix: str
    role: str  # for a user's token, the user's role now
    user: str | None = None  # the console user it belongs to (it acts with the user's role and scopes)
    scopes: list[str] = []
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _view(row: ApiToken, owner: ConsoleUser | None = None) -> TokenView:
    return TokenView(
        name=row.name,
        prefix=row.prefix,
        role=owner.role if owner is not None else row.role,
        user=owner.username if owner is not None else None,
        scopes=list(owner.scopes if owner is not None else row.scopes or []),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


class TokenService:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.audit = AuditLog(db)

    def create(
        self,
        name: str,
        role: str = ADMIN,
        *,
        scopes: Sequence[str] = (),
        user: str | None = None,
        actor: Actor,
    ) -> tuple[TokenView, Secret]:
        """A token of its own ``role`` and ``scopes``, or, with ``user``, one that acts as that console user (its
        role and scopes, as they are at each request)."""
        if not name or len(name) > 100:
            raise TokenError("a token name of 1 to 100 characters is required")
        if role not in ROLES:
            raise TokenError(f"role {role!r} is not one of {', '.join(ROLES)}")
        try:
            parse_scopes(scopes)
        except ValueError as exc:
            raise TokenError(str(exc)) from None
        prefix = pysecrets.token_hex(6)
        plain = f"{TOKEN_PREFIX}{prefix}_{pysecrets.token_urlsafe(32)}"
        with self.db.session() as session:
            if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
                raise TokenError(f"a token named {name!r} exists; revoke it or choose another name")
            owner = None
            if user is not None:
                owner = session.scalar(select(ConsoleUser).where(ConsoleUser.username == user))
                if owner is None:
                    raise TokenError(f"no console user named {user!r}; `regscout users list` shows them")
                if scopes or role != ADMIN:
                    raise TokenError("a user's token acts with the user's role and scopes: give --user alone")
            row = ApiToken(
                name=name,
                prefix=prefix,
                token_hash=_hash(plain),
                role=role,
                scopes=list(scopes),
                user_id=owner.id if owner is not None else None,
            )
            session.add(row)
            session.flush()
            view = _view(row, owner)
            fields = {"role": view.role, "prefix": prefix, "user": view.user, "scopes": view.scopes}
            self.audit.record(session, actor, "token.create", name, created_fields(fields))
        return view, Secret(plain)

    def list_all(self) -> list[TokenView]:
        with self.db.session() as session:
            rows = session.execute(
                select(ApiToken, ConsoleUser)
                .outerjoin(ConsoleUser, ConsoleUser.id == ApiToken.user_id)
                .order_by(ApiToken.created_at)
            )
            return [_view(row, owner) for row, owner in rows]

    def revoke(self, name: str, *, actor: Actor) -> TokenView:
        with self.db.session() as session:
            row = session.scalar(select(ApiToken).where(ApiToken.name == name))
            if row is None:
                raise TokenError(f"no token named {name!r}")
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
                self.audit.record(session, actor, "token.revoke", name, {"prefix": row.prefix})
            return _view(row, session.get(ConsoleUser, row.user_id) if row.user_id is not None else None)

    def verify(self, presented: str) -> TokenView | None:
        parts = presented.split("_")
        if len(parts) < 3 or not presented.startswith(TOKEN_PREFIX):
            return None
        with self.db.session() as session:
            found = session.execute(
                select(ApiToken, ConsoleUser)
                .outerjoin(ConsoleUser, ConsoleUser.id == ApiToken.user_id)
                .where(ApiToken.prefix == parts[1])
            ).one_or_none()
            if found is None:
                return None
            row, owner = found
            if row.revoked_at is not None or not hmac.compare_digest(row.token_hash, _hash(presented)):
                return None
            if owner is not None and owner.disabled:
                return None
            row.last_used_at = datetime.now(UTC)
            return _view(row, owner)

    def bootstrap_admin(self) -> Secret | None:
        """At first start (no token at all), create the admin token; the caller prints it once."""
        with self.db.session() as session:
            if session.scalar(select(ApiToken.id).limit(1)) is not None:
                return None
        return self.create("admin", actor=SYSTEM)[1]

"""The console's users and their sessions. Passwords are argon2id hashes (argon2-cffi's defaults); a session id is
256 random bits held by the browser, and only its SHA-256 is stored, with the CSRF token its forms must carry."""

from __future__ import annotations

import hashlib
import hmac
import secrets as pysecrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..access import ADMIN, ROLES, parse_scopes
from ..scanning.jobs import now_utc
from ..secrets import Secret
from ..store.console_models import ConsoleSession, ConsoleUser
from ..store.db import Database
from .audit import SECRET_CHANGED, SYSTEM, Actor, AuditLog, changed_fields, created_fields, deleted_fields

UNUSABLE_PASSWORD = "!"  # noqa: S105 - the hash of a user who signs in elsewhere (OpenID Connect): no password matches
MIN_PASSWORD = 12
# Sessions seen within this much of the last write are not written again: one UPDATE a minute, not per request.
TOUCH_EVERY = timedelta(seconds=60)


class UserError(Exception):
    """A request about users that cannot be carried out; the message says why."""


class UserView(BaseModel):
    username: str
    role: str
    scopes: list[str] = []
    identity_provider: str = ""  # "" for a password here; the OpenID Connect issuer otherwise
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True)
class SessionUser:
    """Who a browser session belongs to, and the CSRF token its unsafe requests must carry."""

    username: str
    role: str
    csrf_token: str
    scopes: tuple[str, ...] = ()


def _view(row: ConsoleUser) -> UserView:
    return UserView(
        username=row.username,
        role=row.role,
        scopes=list(row.scopes or []),
        identity_provider=row.identity_provider,
        disabled=row.disabled,
        created_at=row.created_at,
        last_login_at=row.last_login_at,
    )


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _check_name(username: str) -> None:
    if not username or len(username) > 100 or username != username.strip() or any(c.isspace() for c in username):
        raise UserError("a user name of 1 to 100 characters without spaces is required")


def _check_access(role: str, scopes: Sequence[str]) -> None:
    if role not in ROLES:
        raise UserError(f"role {role!r} is not one of {', '.join(ROLES)}")
    try:
        parse_scopes(scopes)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _check_password(password: Secret) -> None:
    if len(password.reveal()) < MIN_PASSWORD:
        raise UserError(f"a console password has at least {MIN_PASSWORD} characters")


class UserService:
    def __init__(self, db: Database, idle_timeout: timedelta = timedelta(minutes=30)) -> None:
        self.db = db
        self.idle_timeout = idle_timeout
        self.hasher = PasswordHasher()
        self.audit = AuditLog(db)
        # Verifying against this costs what a real check costs, so an unknown name takes as long as a wrong password.
        self._dummy_hash = self.hasher.hash(pysecrets.token_urlsafe(16))

    # ---- users ------------------------------------------------------------------------------

    def add(
        self, username: str, password: Secret, role: str = ADMIN, *, scopes: Sequence[str] = (), actor: Actor
    ) -> UserView:
        _check_name(username)
        _check_access(role, scopes)
        _check_password(password)
        with self.db.session() as session:
            if session.scalar(select(ConsoleUser.id).where(ConsoleUser.username == username)) is not None:
                raise UserError(f"a console user named {username!r} exists")
            row = ConsoleUser(
                username=username,
                password_hash=self.hasher.hash(password.reveal()),
                role=role,
                scopes=list(scopes),
            )
            session.add(row)
            session.flush()
            changes = created_fields({"role": role, "scopes": list(scopes), "password": SECRET_CHANGED})
            self.audit.record(session, actor, "user.create", username, changes)
            return _view(row)

    def edit(
        self, username: str, *, role: str | None = None, scopes: Sequence[str] | None = None, actor: Actor
    ) -> UserView:
        """A new role or new scopes; the user's sessions and tokens act with them from the next request."""
        with self.db.session() as session:
            row = self._row(session, username)
            new_role = role or row.role
            new_scopes = list(scopes) if scopes is not None else list(row.scopes or [])
            _check_access(new_role, new_scopes)
            changes = changed_fields(
                {"role": row.role, "scopes": list(row.scopes or [])}, {"role": new_role, "scopes": new_scopes}
            )
            row.role, row.scopes = new_role, new_scopes
            if changes:
                self.audit.record(session, actor, "user.update", username, changes)
            return _view(row)

    def sso_sign_in(self, username: str, role: str, scopes: Sequence[str], issuer: str) -> tuple[str, SessionUser]:
        """A session for a user the identity provider vouched for: created at the first sign-in (without a
        password here), its role and scopes set from the provider's groups at every sign-in. A local user of the
        same name is refused (an identity provider must not take over a local account)."""
        _check_name(username)
        _check_access(role, scopes)
        actor = Actor("user", username, "")
        with self.db.session() as session:
            row = session.scalar(select(ConsoleUser).where(ConsoleUser.username == username))
            if row is None:
                row = ConsoleUser(
                    username=username,
                    password_hash=UNUSABLE_PASSWORD,
                    role=role,
                    scopes=list(scopes),
                    identity_provider=issuer,
                )
                session.add(row)
                session.flush()
                fields = {"role": role, "scopes": list(scopes), "identity_provider": issuer}
                self.audit.record(session, actor, "user.create", username, created_fields(fields))
            elif row.identity_provider != issuer:
                raise UserError(f"the user {username!r} does not sign in through {issuer}")
            elif row.disabled:
                raise UserError(f"the user {username!r} is disabled")
            else:
                before = {"role": row.role, "scopes": list(row.scopes or [])}
                after = {"role": role, "scopes": list(scopes)}
                if before != after:
                    row.role, row.scopes = role, list(scopes)
                    self.audit.record(session, actor, "user.update", username, changed_fields(before, after))
            return self._open_session(session, row)

    def set_password(self, username: str, password: Secret, *, actor: Actor) -> UserView:
        """A new password; the user's sessions end (every browser signs in again)."""
        _check_password(password)
        with self.db.session() as session:
            row = self._row(session, username)
            row.password_hash = self.hasher.hash(password.reveal())
            session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == row.id))
            self.audit.record(session, actor, "user.password", username, {"password": SECRET_CHANGED})
            return _view(row)

    def remove(self, username: str, *, actor: Actor) -> None:
        with self.db.session() as session:
            row = self._row(session, username)
            session.delete(row)
            self.audit.record(session, actor, "user.delete", username, deleted_fields({"role": row.role}))

    def list_all(self) -> list[UserView]:
        with self.db.session() as session:
            return [_view(row) for row in session.scalars(select(ConsoleUser).order_by(ConsoleUser.username))]

    def bootstrap_admin(self) -> Secret | None:
        """At first start (no user at all): the user `admin` with a random password, which the caller prints once."""
        with self.db.session() as session:
            if session.scalar(select(func.count()).select_from(ConsoleUser)):
                return None
        password = Secret(pysecrets.token_urlsafe(18))
        try:
            self.add("admin", password, actor=SYSTEM)
        except UserError:  # another server process created it in between
            return None
        return password

    @staticmethod
    def _row(session: object, username: str) -> ConsoleUser:
        from sqlalchemy.orm import Session

        assert isinstance(session, Session)
        row = session.scalar(select(ConsoleUser).where(ConsoleUser.username == username))
        if row is None:
            raise UserError(f"no console user named {username!r}; `regscout users list` shows them")
        return row

    # ---- sign in and sessions ---------------------------------------------------------------------

    def sign_in(self, username: str, password: str) -> tuple[str, SessionUser] | None:
        """A new session (its id for the cookie) when the password is right; None otherwise, after the same work."""
        with self.db.session() as session:
            row = session.scalar(select(ConsoleUser).where(ConsoleUser.username == username))
            stored = row.password_hash if row is not None and not row.disabled else self._dummy_hash
            try:
                self.hasher.verify(stored, password)
            except (VerificationError, InvalidHashError):
                return None
            if row is None or row.disabled:
                return None
            if self.hasher.check_needs_rehash(row.password_hash):
                row.password_hash = self.hasher.hash(password)
            return self._open_session(session, row)

    def _open_session(self, session: Session, row: ConsoleUser) -> tuple[str, SessionUser]:
        now = now_utc()
        row.last_login_at = now
        session_id, csrf = pysecrets.token_urlsafe(32), pysecrets.token_urlsafe(32)
        session.add(ConsoleSession(id_hash=_hash(session_id), user_id=row.id, csrf_token=csrf, last_seen_at=now))
        session.execute(delete(ConsoleSession).where(ConsoleSession.last_seen_at < now - self.idle_timeout))
        return session_id, SessionUser(row.username, row.role, csrf, tuple(row.scopes or ()))

    def session_user(self, session_id: str) -> SessionUser | None:
        """The user of a live session (one indexed read); an idle one is ended here."""
        if not session_id:
            return None
        now = now_utc()
        with self.db.session() as session:
            found = session.execute(
                select(ConsoleSession, ConsoleUser)
                .join(ConsoleUser, ConsoleUser.id == ConsoleSession.user_id)
                .where(ConsoleSession.id_hash == _hash(session_id))
            ).one_or_none()
            if found is None:
                return None
            row, user = found
            if user.disabled or now - row.last_seen_at > self.idle_timeout:
                session.delete(row)
                return None
            if now - row.last_seen_at > TOUCH_EVERY:
                row.last_seen_at = now
            return SessionUser(user.username, user.role, row.csrf_token, tuple(user.scopes or ()))

    def sign_out(self, session_id: str) -> None:
        with self.db.session() as session:
            session.execute(delete(ConsoleSession).where(ConsoleSession.id_hash == _hash(session_id)))


def same_token(expected: str, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(expected.encode(), presented.encode())

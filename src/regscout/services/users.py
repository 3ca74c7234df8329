"""The console's users and their sessions. Passwords are argon2id hashes (argon2-cffi's defaults); a session id is
256 random bits held by the browser, and only its SHA-256 is stored, with the CSRF token its forms must carry."""

from __future__ import annotations

import hashlib
import hmac
import secrets as pysecrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel
from sqlalchemy import delete, func, select

from ..scanning.jobs import now_utc
from ..secrets import Secret
from ..store.console_models import ConsoleSession, ConsoleUser
from ..store.db import Database
from .audit import SECRET_CHANGED, SYSTEM, Actor, AuditLog, created_fields, deleted_fields

ROLES = ("admin",)  # access control (issue 16) adds more; the console checks roles in one place (web/auth.py)
MIN_PASSWORD = 12
# Sessions seen within this much of the last write are not written again: one UPDATE a minute, not per request.
TOUCH_EVERY = timedelta(seconds=60)


class UserError(Exception):
    """A request about users that cannot be carried out; the message says why."""


class UserView(BaseModel):
    username: str
    role: str
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True)
class SessionUser:
    """Who a browser session belongs to, and the CSRF token its unsafe requests must carry."""

    username: str
    role: str
    csrf_token: str


def _view(row: ConsoleUser) -> UserView:
    return UserView(
        username=row.username,
        role=row.role,
        disabled=row.disabled,
        created_at=row.created_at,
        last_login_at=row.last_login_at,
    )


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


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

    def add(self, username: str, password: Secret, role: str = "admin", *, actor: Actor) -> UserView:
        if not username or len(username) > 100 or username != username.strip() or any(c.isspace() for c in username):
            raise UserError("a user name of 1 to 100 characters without spaces is required")
        if role not in ROLES:
            raise UserError(f"role {role!r} is not one of {', '.join(ROLES)}")
        _check_password(password)
        with self.db.session() as session:
            if session.scalar(select(ConsoleUser.id).where(ConsoleUser.username == username)) is not None:
                raise UserError(f"a console user named {username!r} exists")
            row = ConsoleUser(username=username, password_hash=self.hasher.hash(password.reveal()), role=role)
            session.add(row)
            session.flush()
            changes = created_fields({"role": role, "password": SECRET_CHANGED})
            self.audit.record(session, actor, "user.create", username, changes)
            return _view(row)

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
            now = now_utc()
            row.last_login_at = now
            session_id, csrf = pysecrets.token_urlsafe(32), pysecrets.token_urlsafe(32)
            session.add(ConsoleSession(id_hash=_hash(session_id), user_id=row.id, csrf_token=csrf, last_seen_at=now))
            session.execute(delete(ConsoleSession).where(ConsoleSession.last_seen_at < now - self.idle_timeout))
            return session_id, SessionUser(row.username, row.role, csrf)

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
            return SessionUser(user.username, user.role, row.csrf_token)

    def sign_out(self, session_id: str) -> None:
        with self.db.session() as session:
            session.execute(delete(ConsoleSession).where(ConsoleSession.id_hash == _hash(session_id)))


def same_token(expected: str, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(expected.encode(), presented.encode())

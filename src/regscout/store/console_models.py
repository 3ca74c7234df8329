"""Tables of the web console: its users (argon2 password hashes) and their sessions (stored hashed)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, UTCDateTime, utcnow


class ConsoleUser(Base):
    __tablename__ = "console_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(200), nullable=False)  # argon2id, with its parameters
    role: Mapped[str] = mapped_column(String(20), default="admin", nullable=False)
    # registry/repository patterns the user is limited to (access.parse_scope); empty: everything (revision 0017)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    # "" for a user with a password here; the OpenID Connect issuer for one that signs in there
    identity_provider: Mapped[str] = mapped_column(String(500), default="", nullable=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ConsoleSession(Base):
    """A signed-in browser. The cookie holds the session id; only its SHA-256 is stored."""

    __tablename__ = "console_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("console_users.id", ondelete="CASCADE"), nullable=False, index=True)
    csrf_token: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

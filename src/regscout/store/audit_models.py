"""The audit log's table: one row per change, never updated or deleted (revision 0015 adds triggers that refuse it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, UTCDateTime, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_actor", "actor"),
        Index("ix_audit_events_action", "action"),
        Index("ix_audit_events_target", "target"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    actor_kind: Mapped[str] = mapped_column(String(20), nullable=False)  # user, token, cli, system, harbor
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    source: Mapped[str] = mapped_column(String(100), nullable=False)  # client address, "local" (CLI), "" (system)
    action: Mapped[str] = mapped_column(String(100), nullable=False)  # dotted: integration.create, token.revoke …
    target: Mapped[str] = mapped_column(String(500), nullable=False)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)  # what changed, secrets as {"changed": true}

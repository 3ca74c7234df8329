"""Tables of policies: the policies themselves, risk acceptances, each stored image's verdict per policy, and the
changes of verdict (the events notifications read)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, UTCDateTime, utcnow


class PolicyRow(Base):
    __tablename__ = "policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)  # the order verdicts are listed in
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)
    document: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)  # Policy, as model_dump(mode="json")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_by: Mapped[str] = mapped_column(String(200), default="", nullable=False)


class AcceptanceRow(Base):
    """A risk acceptance. Revoked ones are kept (who revoked it and when) but take no part in evaluation."""

    __tablename__ = "acceptances"
    __table_args__ = (Index("ix_acceptances_vulnerability", "vulnerability"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vulnerability: Mapped[str] = mapped_column(String(100), nullable=False)
    scope: Mapped[str] = mapped_column(String(20), nullable=False)  # image | repository | registry | everywhere
    document: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)  # Acceptance, as model_dump(mode="json")
    expires: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(200))


class PolicyVerdict(Base):
    """One stored image's verdict under one policy, from its last evaluation. The violations themselves are not
    kept: an image's page evaluates it again (milliseconds), so what it shows is never staler than the data."""

    __tablename__ = "policy_verdicts"
    __table_args__ = (Index("ix_policy_verdicts_policy_outcome", "policy", "outcome"),)

    result_id: Mapped[int] = mapped_column(ForeignKey("scan_results.id", ondelete="CASCADE"), primary_key=True)
    policy: Mapped[str] = mapped_column(String(200), primary_key=True)
    action: Mapped[str] = mapped_column(String(10), nullable=False)
    outcome: Mapped[str] = mapped_column(String(10), nullable=False)  # pass | warn | fail
    violations: Mapped[int] = mapped_column(Integer, nullable=False)
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class VerdictEvent(Base):
    """An image's verdict under a policy changed: from ``before`` to ``after`` ("" = no verdict: the policy did not
    exist, was disabled or did not cover the image)."""

    __tablename__ = "verdict_events"
    __table_args__ = (Index("ix_verdict_events_at", "at"), Index("ix_verdict_events_digest", "image_digest"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    image_digest: Mapped[str] = mapped_column(String(80), nullable=False)
    registry_host: Mapped[str] = mapped_column(String(300), nullable=False)
    repository: Mapped[str] = mapped_column(String(500), nullable=False)
    reference: Mapped[str] = mapped_column(String(200), nullable=False)
    policy: Mapped[str] = mapped_column(String(200), nullable=False)
    before: Mapped[str] = mapped_column(String(10), nullable=False)
    after: Mapped[str] = mapped_column(String(10), nullable=False)
    cause: Mapped[str] = mapped_column(String(40), nullable=False)  # scan | policies | acceptances | data | expiry

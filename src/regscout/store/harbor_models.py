"""Tables of regscout as Harbor's external scanner: the Harbor registrations (their API keys, hashed) and the
scan requests Harbor sent, with the report each one is answered with."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, UTCDateTime, utcnow


class HarborRegistration(Base):
    """One Harbor that calls regscout, with the key it presents and the settings its scans run under."""

    __tablename__ = "harbor_registrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    key_prefix: Mapped[str] = mapped_column(String(20), unique=True, nullable=False)  # finds the row
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False)  # SHA-256 of the whole key
    # How Harbor may present the key: "any", or one of "bearer", "basic", "apikey".
    auth_scheme: Mapped[str] = mapped_column(String(10), default="any", nullable=False)
    scan_timeout_seconds: Mapped[float] = mapped_column(Float, default=1800.0, nullable=False)
    tls_insecure: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    ca_pem: Mapped[str | None] = mapped_column(Text)
    # Registry hosts (host[:port]) its scans may pull from; empty: any. A stolen key then cannot aim regscout
    # at other hosts.
    registry_hosts: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    integration_id: Mapped[int | None] = mapped_column(ForeignKey("integrations.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    key_rotated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_scan_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_auth_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class HarborScan(Base):
    """A scan request from Harbor: the artifact, the capability asked for, the job that pulls it, and the report
    once rendered. The registry credential Harbor sent is kept (encrypted) only until the scan has ended."""

    __tablename__ = "harbor_scans"
    __table_args__ = (Index("ix_harbor_scans_job", "job_id"), Index("ix_harbor_scans_created", "created_at"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the opaque id Harbor polls with
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("harbor_registrations.id", ondelete="CASCADE"), nullable=False
    )
    job_id: Mapped[int | None] = mapped_column(ForeignKey("scan_jobs.id", ondelete="SET NULL"))
    capability: Mapped[str] = mapped_column(String(20), nullable=False)  # vulnerability | sbom
    sbom_media_type: Mapped[str | None] = mapped_column(String(100))
    registry_url: Mapped[str] = mapped_column(String(500), nullable=False)
    repository: Mapped[str] = mapped_column(String(500), nullable=False)
    tag: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    digest: Mapped[str] = mapped_column(String(80), nullable=False)
    mime_type: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    authorization_ciphertext: Mapped[str | None] = mapped_column(Text)  # wiped when the scan ends
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the body of the 200, once ready
    error: Mapped[str | None] = mapped_column(Text)  # the body of the 500, once failed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

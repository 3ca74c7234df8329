"""Tables of scan results: the latest inventory and findings per image digest, and what changed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, UTCDateTime, utcnow


class ScanResult(Base):
    __tablename__ = "scan_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_digest: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)
    # The multi-arch index the image was chosen from: what a registry lists for the tag.
    index_digest: Mapped[str | None] = mapped_column(String(80))
    registry_host: Mapped[str] = mapped_column(String(300), nullable=False)
    repository: Mapped[str] = mapped_column(String(500), nullable=False)
    reference: Mapped[str] = mapped_column(String(200), nullable=False)
    platform: Mapped[str] = mapped_column(String(60), nullable=False)
    inventory: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # zlib JSON
    findings: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # zlib JSON
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)  # findings per severity
    analyzed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    matched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class FindingChange(Base):
    __tablename__ = "finding_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_digest: Mapped[str] = mapped_column(String(80), index=True, nullable=False)
    finding_id: Mapped[str] = mapped_column(String(100), nullable=False)
    package: Mapped[str] = mapped_column(String(300), nullable=False)
    version: Mapped[str] = mapped_column(String(200), nullable=False)
    change: Mapped[str] = mapped_column(String(20), nullable=False)  # new | fixed | withdrawn
    detail: Mapped[str] = mapped_column(Text, default="", nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

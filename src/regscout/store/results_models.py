"""Tables of scan results: the latest inventory and findings per image digest, and what changed."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, UTCDateTime, utcnow


class ScanResult(Base):
    __tablename__ = "scan_results"
    __table_args__ = (
        Index("ix_scan_results_registry_repository", "registry_host", "repository"),
        Index("ix_scan_results_matched_at", "matched_at"),
        Index("ix_scan_results_worst", "critical", "high", "medium", "low", "id"),  # the images list's default order
        # The console's other sorts and filters (revision 0013).
        Index("ix_scan_results_analyzed_at", "analyzed_at"),
        Index("ix_scan_results_os", "os"),
        Index("ix_scan_results_repository_reference", "repository", "reference"),
        Index("ix_scan_results_fixable", "fixable"),
        Index("ix_scan_results_verdict", "verdict"),  # revision 0016
    )

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
    # The image's layers, history and config (zlib JSON of ImageDetails); None for results stored before 0013.
    details: Mapped[bytes | None] = mapped_column(LargeBinary)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)  # findings per severity
    analyzed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    matched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    # What lists filter and sort on, as columns (the blobs above are for re-matching and reports).
    os: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    packages: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    critical: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    high: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    medium: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    low: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    other: Mapped[int] = mapped_column(Integer, default=0, nullable=False)  # NONE and UNKNOWN
    fixable: Mapped[int] = mapped_column(Integer, default=0, nullable=False)  # findings with a fixed version
    # The policies' verdict (revision 0016): the worst of pass | warn | fail; "" when no enabled policy covers it.
    verdict: Mapped[str] = mapped_column(String(10), default="", nullable=False)
    accepted: Mapped[int] = mapped_column(Integer, default=0, nullable=False)  # findings under a risk acceptance
    evaluated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ImageFinding(Base):
    """One finding of a stored result, as a row: what searches by vulnerability or package read (indexed)."""

    __tablename__ = "image_findings"
    __table_args__ = (
        Index("ix_image_findings_vuln", "vuln_id"),
        Index("ix_image_findings_result", "result_id"),
        # A package's findings across images, in the order the console pages them (revision 0013).
        # a package search answered from the index alone (PostgreSQL also keeps what its aggregates read)
        Index(
            "ix_image_findings_package_vuln",
            "package",
            "vuln_id",
            "result_id",
            postgresql_include=["severity", "fixed_versions"],
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("scan_results.id", ondelete="CASCADE"), nullable=False)
    vuln_id: Mapped[str] = mapped_column(String(100), nullable=False)
    package: Mapped[str] = mapped_column(String(300), nullable=False)
    version: Mapped[str] = mapped_column(String(200), nullable=False)
    ecosystem: Mapped[str] = mapped_column(String(40), nullable=False)
    severity: Mapped[str] = mapped_column(String(10), nullable=False)
    score: Mapped[float | None] = mapped_column(Float)
    fix_state: Mapped[str] = mapped_column(String(20), nullable=False)
    fixed_versions: Mapped[str] = mapped_column(Text, default="", nullable=False)


class FindingsDaily(Base):
    """Open findings per severity over every stored image at the end of each day (the last write of the day)."""

    __tablename__ = "findings_daily"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    severity: Mapped[str] = mapped_column(String(10), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    images: Mapped[int] = mapped_column(Integer, nullable=False)  # images with at least one of this severity


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

"""Tables of the scan machinery: jobs and their attempts, syncs, the images regscout covers, schedules,
and claims that make one worker fetch a shared layer while the others wait for its result."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, UTCDateTime, utcnow


class SyncRun(Base):
    """One listing of a registry and the jobs it queued."""

    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    integration_id: Mapped[int | None] = mapped_column(ForeignKey("integrations.id", ondelete="SET NULL"), index=True)
    integration_name: Mapped[str] = mapped_column(String(100), nullable=False)
    trigger: Mapped[str] = mapped_column(String(20), nullable=False)
    state: Mapped[str] = mapped_column(String(20), nullable=False)  # listing | queued | failed
    found: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    selected: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    queued: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    gone: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    repository_errors: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    listed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ScanJob(Base):
    __tablename__ = "scan_jobs"
    __table_args__ = (
        Index("ix_scan_jobs_claim", "state", "priority", "id"),
        Index("ix_scan_jobs_integration_state", "integration_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="scan", nullable=False)  # scan | rematch
    integration_id: Mapped[int | None] = mapped_column(ForeignKey("integrations.id", ondelete="SET NULL"))
    integration_name: Mapped[str] = mapped_column(String(100), default="", nullable=False)
    sync_id: Mapped[int | None] = mapped_column(ForeignKey("sync_runs.id", ondelete="SET NULL"), index=True)
    repository: Mapped[str] = mapped_column(String(500), default="", nullable=False)
    reference: Mapped[str] = mapped_column(String(200), default="", nullable=False)  # tag or digest
    digest: Mapped[str | None] = mapped_column(String(80))  # as listed when queued, else as scanned
    platform: Mapped[str] = mapped_column(String(60), default="", nullable=False)
    state: Mapped[str] = mapped_column(String(20), nullable=False)
    trigger: Mapped[str] = mapped_column(String(20), nullable=False)
    priority: Mapped[int] = mapped_column(Integer, default=0, nullable=False)  # higher runs first
    # Set while queued or running, NULL after: one active job per image and platform (NULLs never collide).
    active_key: Mapped[str | None] = mapped_column(String(900), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    max_attempts: Mapped[int] = mapped_column(Integer, default=4, nullable=False)
    timeout_seconds: Mapped[float] = mapped_column(Float, default=1800.0, nullable=False)
    max_concurrency: Mapped[int] = mapped_column(Integer, default=4, nullable=False)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_requested: Mapped[bool] = mapped_column(default=False, nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)  # why it failed or was cancelled
    result_digest: Mapped[str | None] = mapped_column(String(80))
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # findings per severity, layers, bytes
    bytes_fetched: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    duration_seconds: Mapped[float | None] = mapped_column(Float)  # of the attempt that succeeded
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)


class JobAttempt(Base):
    """One run of a job by one worker, with how it ended."""

    __tablename__ = "job_attempts"
    __table_args__ = (UniqueConstraint("job_id", "attempt"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("scan_jobs.id", ondelete="CASCADE"), nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    worker: Mapped[str] = mapped_column(String(200), nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(20))  # succeeded | failed | timed_out | lost | cancelled
    reason: Mapped[str | None] = mapped_column(Text)
    # The registry's answer class when the registry failed the attempt: an HTTP status, "timeout", "connection".
    registry_status: Mapped[str | None] = mapped_column(String(20))


class TrackedImage(Base):
    """An image (repository:tag) of an integration that regscout covers: seen in a sync or added by hand."""

    __tablename__ = "tracked_images"
    __table_args__ = (UniqueConstraint("integration_id", "repository", "tag"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"), nullable=False)
    repository: Mapped[str] = mapped_column(String(500), nullable=False)
    tag: Mapped[str] = mapped_column(String(200), nullable=False)  # a digest for images added by digest
    digest: Mapped[str | None] = mapped_column(String(80))
    source: Mapped[str] = mapped_column(String(20), nullable=False)  # sync | manual
    state: Mapped[str] = mapped_column(String(20), default="present", nullable=False)  # present | gone
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    gone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ScheduleState(Base):
    """When an automatic integration is next due; the compare-and-set on next_run_at is the scheduler's lock."""

    __tablename__ = "schedule_states"

    integration_id: Mapped[int] = mapped_column(
        ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    spec: Mapped[str] = mapped_column(String(200), nullable=False)  # schedule and time zone it was computed from
    next_run_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_sync_id: Mapped[int | None] = mapped_column(Integer)


class LayerClaim(Base):
    """A worker fetching a layer that the cache lacks; others wait for the cache instead of fetching it too."""

    __tablename__ = "layer_claims"

    diff_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

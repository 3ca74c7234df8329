"""The durable job queue: scan jobs in the database, claimed under a lease, requeued on timeout or loss.

Every state change is a compare-and-set on (id, state, lease owner), so any number of workers in any number of
processes can share the table; a worker whose lease was taken from it can no longer write its job.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..store.db import Database, rows_changed
from ..store.jobs_models import JobAttempt, ScanJob

STATES = ("queued", "running", "succeeded", "failed", "cancelled")
ACTIVE = ("queued", "running")
TERMINAL = ("succeeded", "failed", "cancelled")
TRIGGERS = ("manual", "schedule", "rescan", "data_update", "api", "harbor")
# Images a person asked for run before the thousands a schedule queued.
# Harbor waits on its scans with a deadline, as a person does.
PRIORITY = {"manual": 10, "api": 10, "harbor": 10, "rescan": 0, "schedule": 0, "data_update": 5}
REQUEUES = 3
CLAIM_LOCK = 0x5247_5343_1000_0000  # + integration id: PostgreSQL advisory lock of one integration's claims
_CLAIM_LOCK = threading.Lock()  # the same within this process (SQLite has no advisory locks)


class JobError(Exception):
    """A request about a job that cannot be carried out; the message says why."""


class JobNotFound(JobError):
    pass


def now_utc() -> datetime:
    return datetime.now(UTC)


def image_name(repository: str, reference: str) -> str:
    """``repo:tag`` or ``repo@sha256:…``."""
    return f"{repository}{'@' if reference.startswith('sha256:') else ':'}{reference}"


@dataclass(frozen=True)
class JobSpec:
    """What to scan: one image and platform of one integration."""

    integration_id: int
    integration_name: str
    repository: str
    reference: str  # a tag, or a digest (sha256:…)
    platform: str
    trigger: str
    timeout_seconds: float
    max_concurrency: int = 4
    digest: str | None = None
    sync_id: int | None = None

    def __post_init__(self) -> None:
        if self.trigger not in TRIGGERS:
            raise ValueError(f"trigger {self.trigger!r} is not one of {', '.join(TRIGGERS)}")
        if self.timeout_seconds <= 0:
            raise ValueError("the scan timeout must be longer than zero")

    @property
    def active_key(self) -> str:
        return "\x1f".join((str(self.integration_id), self.repository, self.reference, self.platform))


@dataclass(frozen=True)
class Attempt:
    attempt: int
    worker: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    reason: str | None
    registry_status: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "worker": self.worker,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "outcome": self.outcome,
            "reason": self.reason,
            "registry_status": self.registry_status,
        }


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    integration_id: int | None
    integration: str
    repository: str
    reference: str
    digest: str | None
    platform: str
    state: str
    trigger: str
    attempts: int
    max_attempts: int
    timeout_seconds: float
    reason: str | None
    result_digest: str | None
    summary: dict[str, Any] | None
    bytes_fetched: int
    sync_id: int | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    history: list[Attempt] = field(default_factory=list)

    @property
    def image(self) -> str:
        return "(stored results)" if self.kind == "rematch" else image_name(self.repository, self.reference)

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "integration": self.integration,
            "repository": self.repository,
            "reference": self.reference,
            "image": self.image,
            "digest": self.digest,
            "platform": self.platform,
            "state": self.state,
            "trigger": self.trigger,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "timeout_seconds": self.timeout_seconds,
            "reason": self.reason,
            "result_digest": self.result_digest,
            "summary": self.summary,
            "bytes_fetched": self.bytes_fetched,
            "sync_id": self.sync_id,
            "worker": self.lease_owner,
            "lease_expires_at": self.lease_expires_at.isoformat() if self.lease_expires_at else None,
            "cancel_requested": self.cancel_requested,
            "created_at": self.created_at.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_seconds": self.duration_seconds,
            "history": [a.to_json() for a in self.history],
        }


def job_from_row(row: ScanJob, history: Iterable[JobAttempt] = ()) -> Job:
    return Job(
        id=row.id,
        kind=row.kind,
        integration_id=row.integration_id,
        integration=row.integration_name,
        repository=row.repository,
        reference=row.reference,
        digest=row.digest,
        platform=row.platform,
        state=row.state,
        trigger=row.trigger,
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        timeout_seconds=row.timeout_seconds,
        reason=row.reason,
        result_digest=row.result_digest,
        summary=row.summary,
        bytes_fetched=row.bytes_fetched,
        sync_id=row.sync_id,
        lease_owner=row.lease_owner,
        lease_expires_at=row.lease_expires_at,
        cancel_requested=row.cancel_requested,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        history=[
            Attempt(a.attempt, a.worker, a.started_at, a.finished_at, a.outcome, a.reason, a.registry_status)
            for a in history
        ],
    )


@dataclass(frozen=True)
class Enqueued:
    job_id: int
    created: bool  # False: the image already had a queued or running job, which is returned instead


@dataclass(frozen=True)
class Heartbeat:
    owner: bool  # False: the lease was lost (expired and taken); stop working on the job
    cancel_requested: bool


@dataclass(frozen=True)
class Failure:
    """How an attempt failed. ``retry`` False ends the job at once (wrong credentials, a missing image)."""

    reason: str
    retry: bool
    outcome: str = "failed"  # failed | timed_out | lost
    registry_status: str | None = None


class JobStore:
    def __init__(self, db: Database, *, retry_delay_seconds: float = 30.0, clock: Callable[[], datetime] = now_utc):
        self.db = db
        self.retry_delay_seconds = retry_delay_seconds
        self.clock = clock

    # ------------------------------------------------------------------------------------------------ queueing

    def enqueue(self, specs: Sequence[JobSpec]) -> list[Enqueued]:
        """Queue each image; one already queued or running is not queued twice (its job id is returned)."""
        if not specs:
            return []
        try:
            with self.db.session() as session:
                return self._enqueue(session, specs)
        except IntegrityError:
            # Another process queued one of these images between our check and our insert: take them one by one.
            return [self._enqueue_one(spec) for spec in specs]

    def enqueue_in(self, session: Session, specs: Sequence[JobSpec]) -> list[Enqueued]:
        """`enqueue` within the caller's transaction (its rows and the jobs commit together). A concurrent insert
        of the same image raises IntegrityError at commit; the caller retries the whole transaction."""
        return self._enqueue(session, specs)

    def _enqueue(self, session: Session, specs: Sequence[JobSpec]) -> list[Enqueued]:
        keys = [s.active_key for s in specs]
        existing = dict(
            session.execute(select(ScanJob.active_key, ScanJob.id).where(ScanJob.active_key.in_(keys))).all()
        )
        now = self.clock()
        fresh: dict[str, JobSpec] = {}
        for spec in specs:
            if spec.active_key not in existing and spec.active_key not in fresh:
                fresh[spec.active_key] = spec
        created: dict[str, int] = {}
        if fresh:
            # One multi-row INSERT … RETURNING, without building ORM objects (a Harbor burst or a sync's thousands).
            inserted = session.execute(
                insert(ScanJob).returning(ScanJob.active_key, ScanJob.id, sort_by_parameter_order=True),
                [_row_values(spec, now) for spec in fresh.values()],
            )
            created = {str(key): int(job_id) for key, job_id in inserted}
        out: list[Enqueued] = []
        for spec in specs:
            if spec.active_key in created:
                out.append(Enqueued(created.pop(spec.active_key), True))  # the first of duplicates is new
                existing.setdefault(spec.active_key, out[-1].job_id)
            else:
                out.append(Enqueued(existing[spec.active_key], False))
        return out

    def _enqueue_one(self, spec: JobSpec) -> Enqueued:
        try:
            with self.db.session() as session:
                return self._enqueue(session, [spec])[0]
        except IntegrityError:
            with self.db.session() as session:
                job_id = session.scalar(select(ScanJob.id).where(ScanJob.active_key == spec.active_key))
            if job_id is None:  # it finished in between: queue it now
                return self._enqueue_one(spec)
            return Enqueued(job_id, False)

    # ------------------------------------------------------------------------------------------------ claiming

    def claim_next(self, worker: str, lease_seconds: float) -> Job | None:
        """Take the first runnable job (priority, then age) whose integration is below its concurrency limit."""
        now = self.clock()
        with self.db.session() as session:
            running = dict(
                session.execute(
                    select(ScanJob.integration_id, func.count())
                    .where(ScanJob.state == "running")
                    .group_by(ScanJob.integration_id)
                ).all()
            )
            candidates = session.execute(
                select(ScanJob.id, ScanJob.integration_id, ScanJob.max_concurrency)
                .where(ScanJob.state == "queued", ScanJob.not_before <= now)
                .order_by(ScanJob.priority.desc(), ScanJob.id)
                .limit(64)
            ).all()
        for job_id, integration_id, limit in candidates:
            if running.get(integration_id, 0) >= limit:
                continue
            job = self.claim(job_id, worker, lease_seconds, limit=(integration_id, limit))
            if job is not None:
                return job
        return None

    def claim(
        self, job_id: int, worker: str, lease_seconds: float, *, limit: tuple[int | None, int] | None = None
    ) -> Job | None:
        """Take this queued job; None when another worker took it first or it is no longer queued, or when
        ``limit`` (integration id, most running at once) is reached. Claims against one integration's limit take
        turns: in this process under a lock, across processes on PostgreSQL under an advisory lock."""
        now = self.clock()
        with _CLAIM_LOCK, self.db.session() as session:
            if limit is not None and not self._below_limit(session, *limit):
                return None
            taken = rows_changed(
                session,
                update(ScanJob)
                .where(ScanJob.id == job_id, ScanJob.state == "queued")
                .values(
                    state="running",
                    lease_owner=worker,
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                    attempts=ScanJob.attempts + 1,
                    started_at=now,
                    finished_at=None,
                    updated_at=now,
                ),
            )
            if taken != 1:
                return None
            row = session.get_one(ScanJob, job_id)
            session.refresh(row)
            session.add(JobAttempt(job_id=job_id, attempt=row.attempts, worker=worker, started_at=now))
            return job_from_row(row)

    @staticmethod
    def _below_limit(session: Session, integration_id: int | None, most: int) -> bool:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK + (integration_id or 0)})
        running = session.scalar(
            select(func.count()).where(ScanJob.integration_id == integration_id, ScanJob.state == "running")
        )
        return int(running or 0) < most

    def heartbeat(self, job_id: int, worker: str, lease_seconds: float) -> Heartbeat:
        now = self.clock()
        with self.db.session() as session:
            extended = rows_changed(
                session,
                update(ScanJob)
                .where(ScanJob.id == job_id, ScanJob.state == "running", ScanJob.lease_owner == worker)
                .values(lease_expires_at=now + timedelta(seconds=lease_seconds)),
            )
            if extended != 1:
                return Heartbeat(False, False)
            cancel = session.scalar(select(ScanJob.cancel_requested).where(ScanJob.id == job_id))
            return Heartbeat(True, bool(cancel))

    # ------------------------------------------------------------------------------------------------ endings

    def succeed(
        self,
        job_id: int,
        worker: str,
        *,
        result_digest: str,
        summary: dict[str, Any],
        bytes_fetched: int,
    ) -> bool:
        """Record success; False when the worker no longer holds the job (its lease was taken)."""
        now = self.clock()
        with self.db.session() as session:
            row = self._owned(session, job_id, worker)
            if row is None:
                return False
            row.state, row.active_key, row.reason = "succeeded", None, None
            row.result_digest, row.summary, row.bytes_fetched = result_digest, summary, bytes_fetched
            row.digest = row.digest or result_digest
            row.finished_at, row.lease_owner, row.lease_expires_at = now, None, None
            row.duration_seconds = (now - row.started_at).total_seconds() if row.started_at else None
            self._end_attempt(session, row, now, "succeeded", None, None)
            return True

    def fail(self, job_id: int, worker: str, failure: Failure) -> str | None:
        """Record a failed attempt: requeue when allowed, else fail the job. Returns the new state, or None when
        the worker no longer holds the job."""
        now = self.clock()
        with self.db.session() as session:
            row = self._owned(session, job_id, worker)
            if row is None:
                return None
            self._end_attempt(session, row, now, failure.outcome, failure.reason, failure.registry_status)
            return self._after_failure(row, failure, now)

    def cancelled(self, job_id: int, worker: str, reason: str) -> bool:
        """The worker stopped a running job because cancellation was asked for."""
        now = self.clock()
        with self.db.session() as session:
            row = self._owned(session, job_id, worker)
            if row is None:
                return False
            self._end_attempt(session, row, now, "cancelled", reason, None)
            _finish(row, "cancelled", reason, now)
            return True

    def release(self, job_id: int, worker: str, reason: str) -> bool:
        """Hand a running job back to the queue without counting the attempt (its worker is shutting down)."""
        now = self.clock()
        with self.db.session() as session:
            row = self._owned(session, job_id, worker)
            if row is None:
                return False
            self._end_attempt(session, row, now, "interrupted", reason, None)
            row.state, row.max_attempts, row.not_before = "queued", row.max_attempts + 1, now
            row.lease_owner, row.lease_expires_at = None, None
            return True

    def reap(self) -> list[int]:
        """Requeue (or fail) running jobs whose lease expired: their worker died or stopped answering."""
        now = self.clock()
        with self.db.session() as session:
            expired = session.execute(
                select(ScanJob.id, ScanJob.lease_owner).where(
                    ScanJob.state == "running", ScanJob.lease_expires_at < now
                )
            ).all()
        reaped: list[int] = []
        for job_id, owner in expired:
            with self.db.session() as session:
                row = self._owned(session, job_id, owner or "", expired_before=now)
                if row is None:
                    continue
                failure = Failure(f"worker {owner} stopped answering (lease expired)", retry=True, outcome="lost")
                self._end_attempt(session, row, now, failure.outcome, failure.reason, None)
                if row.cancel_requested:
                    _finish(row, "cancelled", "cancelled while its worker was lost", now)
                else:
                    self._after_failure(row, failure, now)
                reaped.append(job_id)
        return reaped

    def _owned(
        self, session: Session, job_id: int, worker: str, *, expired_before: datetime | None = None
    ) -> ScanJob | None:
        query = (
            select(ScanJob)
            .where(ScanJob.id == job_id, ScanJob.state == "running", ScanJob.lease_owner == worker)
            .with_for_update()
        )
        if expired_before is not None:
            query = query.where(ScanJob.lease_expires_at < expired_before)
        return session.scalar(query)

    def _end_attempt(
        self, session: Session, row: ScanJob, now: datetime, outcome: str, reason: str | None, status: str | None
    ) -> None:
        attempt = session.scalar(
            select(JobAttempt).where(JobAttempt.job_id == row.id, JobAttempt.attempt == row.attempts)
        )
        if attempt is None:
            attempt = JobAttempt(job_id=row.id, attempt=row.attempts, worker=row.lease_owner or "", started_at=now)
            session.add(attempt)
        attempt.finished_at, attempt.outcome, attempt.reason, attempt.registry_status = now, outcome, reason, status

    def _after_failure(self, row: ScanJob, failure: Failure, now: datetime) -> str:
        if failure.retry and row.attempts < row.max_attempts:
            row.state, row.reason = "queued", failure.reason
            row.lease_owner, row.lease_expires_at = None, None
            # A lost worker's job already waited out its lease; a failed attempt backs off before the next.
            delay = 0.0 if failure.outcome == "lost" else self.retry_delay_seconds * row.attempts
            row.not_before = now + timedelta(seconds=delay)
            return "queued"
        _finish(row, "failed", _final_reason(row, failure), now)
        return "failed"

    # ------------------------------------------------------------------------------------------------ requests

    def cancel(self, job_id: int, reason: str = "cancelled by a user") -> Job:
        """Cancel a queued job at once; ask the worker of a running one to stop (it does at its next heartbeat)."""
        now = self.clock()
        with self.db.session() as session:
            row = session.scalar(select(ScanJob).where(ScanJob.id == job_id).with_for_update())
            if row is None:
                raise JobNotFound(f"there is no job {job_id}")
            if row.state in TERMINAL:
                raise JobError(f"job {job_id} has already {row.state}; only queued or running jobs can be cancelled")
            if row.state == "queued":
                _finish(row, "cancelled", reason, now)
            else:
                row.cancel_requested, row.reason = True, reason
            return job_from_row(row)

    def retry(self, job_id: int) -> Job:
        """Queue a failed or cancelled job again, with a fresh allowance of attempts; its history is kept."""
        now = self.clock()
        try:
            with self.db.session() as session:
                row = session.scalar(select(ScanJob).where(ScanJob.id == job_id).with_for_update())
                if row is None:
                    raise JobNotFound(f"there is no job {job_id}")
                if row.state not in ("failed", "cancelled"):
                    raise JobError(f"job {job_id} is {row.state}; only failed or cancelled jobs can be retried")
                if row.integration_id is None:
                    raise JobError(f"job {job_id} belongs to integration {row.integration_name!r}, which was deleted")
                row.state, row.reason, row.cancel_requested = "queued", None, False
                row.active_key = _key_of(row)
                row.max_attempts = row.attempts + 1 + REQUEUES
                row.not_before, row.finished_at, row.updated_at = now, None, now
                session.flush()
                return job_from_row(row)
        except IntegrityError:
            raise JobError(f"{_image_of_id(self.db, job_id)} already has a queued or running job") from None

    def record_rematch(self, started_at: datetime, summary: dict[str, Any]) -> int:
        """A re-match of stored results after a data update, kept as an ended job so it shows in the job list."""
        now = self.clock()
        with self.db.session() as session:
            row = ScanJob(
                kind="rematch",
                integration_name="",
                repository="",
                reference="",
                platform="",
                state="succeeded",
                trigger="data_update",
                priority=PRIORITY["data_update"],
                attempts=1,
                max_attempts=1,
                timeout_seconds=1.0,
                max_concurrency=1,
                not_before=started_at,
                cancel_requested=False,
                summary=summary,
                bytes_fetched=0,
                duration_seconds=(now - started_at).total_seconds(),
                created_at=started_at,
                started_at=started_at,
                finished_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            return row.id

    def cancel_for_integration(self, session: Session, integration_id: int, reason: str) -> int:
        """Within the caller's transaction (deleting an integration): cancel its queued jobs, stop its running
        ones. Returns how many jobs were affected."""
        now = self.clock()
        rows = session.scalars(
            select(ScanJob).where(ScanJob.integration_id == integration_id, ScanJob.state.in_(ACTIVE))
        ).all()
        for row in rows:
            if row.state == "queued":
                _finish(row, "cancelled", reason, now)
            else:
                row.cancel_requested, row.reason = True, reason
        return len(rows)

    # ------------------------------------------------------------------------------------------------ reading

    def get(self, job_id: int) -> Job:
        with self.db.session() as session:
            row = session.get(ScanJob, job_id)
            if row is None:
                raise JobNotFound(f"there is no job {job_id}")
            history = session.scalars(
                select(JobAttempt).where(JobAttempt.job_id == job_id).order_by(JobAttempt.attempt)
            ).all()
            return job_from_row(row, history)

    def list(
        self,
        *,
        states: Sequence[str] = (),
        integration: str | None = None,
        sync_id: int | None = None,
        limit: int = 100,
    ) -> list[Job]:
        for state in states:
            if state not in STATES:
                raise JobError(f"unknown job state {state!r}; states are {', '.join(STATES)}")
        query = select(ScanJob).order_by(ScanJob.id.desc()).limit(limit)
        if states:
            query = query.where(ScanJob.state.in_(states))
        if integration is not None:
            query = query.where(ScanJob.integration_name == integration)
        if sync_id is not None:
            query = query.where(ScanJob.sync_id == sync_id)
        with self.db.session() as session:
            return [job_from_row(row) for row in session.scalars(query)]

    def counts(self) -> dict[str, int]:
        """Jobs per state (every state present, zero included)."""
        with self.db.session() as session:
            found = dict(session.execute(select(ScanJob.state, func.count()).group_by(ScanJob.state)).all())
        return {state: int(found.get(state, 0)) for state in STATES}

    def runnable(self) -> int:
        """Queued jobs whose time has come (the depth a worker would see now)."""
        with self.db.session() as session:
            return int(
                session.scalar(
                    select(func.count()).where(ScanJob.state == "queued", ScanJob.not_before <= self.clock())
                )
                or 0
            )


def _row_values(spec: JobSpec, now: datetime) -> dict[str, Any]:
    return dict(
        kind="scan",
        integration_id=spec.integration_id,
        integration_name=spec.integration_name,
        sync_id=spec.sync_id,
        repository=spec.repository,
        reference=spec.reference,
        digest=spec.digest,
        platform=spec.platform,
        state="queued",
        trigger=spec.trigger,
        priority=PRIORITY[spec.trigger],
        active_key=spec.active_key,
        attempts=0,
        max_attempts=1 + REQUEUES,
        timeout_seconds=spec.timeout_seconds,
        max_concurrency=spec.max_concurrency,
        not_before=now,
        cancel_requested=False,
        bytes_fetched=0,
        created_at=now,
        updated_at=now,
    )


def _key_of(row: ScanJob) -> str:
    return "\x1f".join((str(row.integration_id), row.repository, row.reference, row.platform))


def _image_of_id(db: Database, job_id: int) -> str:
    with db.session() as session:
        row = session.get_one(ScanJob, job_id)
        return image_name(row.repository, row.reference)


def _finish(row: ScanJob, state: str, reason: str | None, now: datetime) -> None:
    row.state, row.reason, row.active_key = state, reason, None
    row.finished_at, row.lease_owner, row.lease_expires_at = now, None, None


def _final_reason(row: ScanJob, failure: Failure) -> str:
    if not failure.retry:
        return failure.reason
    requeues = row.attempts - 1
    return f"{failure.reason}; gave up after {row.attempts} attempts (requeued {requeues} times)"

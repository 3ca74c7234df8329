"""A sync: list one registry, decide with its pull settings, record which images are present or gone, queue
the selected ones, and report progress while their jobs run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from ..registries.base import MANAGED_BY_OPTION
from ..services.sync import SyncPlan, SyncService
from ..store.db import Database
from ..store.jobs_models import ScanJob, SyncRun
from .jobs import TERMINAL, JobError, JobSpec, JobStore, now_utc
from .tracked import TrackedImages


class SyncNotFound(JobError):
    pass


@dataclass(frozen=True)
class SyncOutcome:
    sync_id: int
    plan: SyncPlan
    queued: int  # new jobs
    already_active: int  # selected images that already had a queued or running job
    gone: int

    def to_json(self) -> dict[str, Any]:
        return {**self.plan.to_json(), "sync_id": self.sync_id, "queued": self.queued,
                "already_active": self.already_active, "gone": self.gone}  # fmt: skip


@dataclass(frozen=True)
class SyncProgress:
    sync_id: int
    integration: str
    trigger: str
    state: str  # listing | failed | scanning | done
    started_at: datetime
    found: int
    selected: int
    gone: int
    error: str | None
    total: int
    done: int
    by_state: dict[str, int]
    failures: dict[str, int]  # reason -> jobs
    eta_seconds: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "sync_id": self.sync_id,
            "integration": self.integration,
            "trigger": self.trigger,
            "state": self.state,
            "started_at": self.started_at.isoformat(),
            "found": self.found,
            "selected": self.selected,
            "gone": self.gone,
            "error": self.error,
            "total": self.total,
            "done": self.done,
            "jobs": self.by_state,
            "failures": self.failures,
            "eta_seconds": self.eta_seconds,
        }


def specs_for(plan: SyncPlan, integration_id: int, sync_id: int, trigger: str) -> list[JobSpec]:
    """One job per selected image and platform. A rescan of a digest scanned before is marked as such."""
    settings = plan.settings
    specs: list[JobSpec] = []
    for decision in plan.decisions:
        if not decision.selected:
            continue
        candidate = decision.candidate
        platforms = plan.platforms.get(candidate.reference) or ("",)
        for platform in platforms:
            specs.append(
                JobSpec(
                    integration_id=integration_id,
                    integration_name=plan.integration,
                    repository=candidate.repository,
                    reference=candidate.tag,
                    platform=platform,
                    trigger="rescan" if trigger == "schedule" and candidate.digest in plan.scanned_digests else trigger,
                    timeout_seconds=settings.scan_timeout_minutes * 60,
                    max_concurrency=settings.max_concurrency,
                    digest=candidate.digest,
                    sync_id=sync_id,
                )
            )
    return specs


class SyncRunner:
    def __init__(
        self,
        db: Database,
        planner: SyncService,
        jobs: JobStore,
        tracked: TrackedImages,
        notify: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.planner = planner
        self.jobs = jobs
        self.tracked = tracked
        self.notify = notify

    async def run(self, name: str, trigger: str) -> SyncOutcome:
        """List, decide, record and queue. A registry that cannot be listed fails the sync with its error
        (recorded on the sync), and nothing is marked gone."""
        integration_id, view = self.planner.integrations.identify(name)
        managed_by = view.options.get(MANAGED_BY_OPTION)
        if managed_by:
            raise JobError(
                f"integration {view.name!r} is managed by {managed_by}: its scans start from Harbor "
                "(a project's Scan, or Scan All); regscout does not sync or rescan it"
            )
        sync_id = self._start(integration_id, view.name, trigger)
        try:
            plan = await self.planner.dry_run(name)
        except Exception as error:
            self._failed(sync_id, error)
            raise
        listed = [(d.candidate.repository, d.candidate.tag, d.candidate.digest) for d in plan.decisions]
        gone = self.tracked.seen(
            integration_id, listed, source="sync", unlisted_repositories=set(plan.repository_errors)
        )
        enqueued = self.jobs.enqueue(specs_for(plan, integration_id, sync_id, trigger))
        queued = sum(e.created for e in enqueued)
        self._listed(sync_id, plan, queued, gone)
        if queued:
            self.notify()
        return SyncOutcome(sync_id, plan, queued, len(enqueued) - queued, gone)

    def _start(self, integration_id: int, name: str, trigger: str) -> int:
        with self.db.session() as session:
            row = SyncRun(
                integration_id=integration_id,
                integration_name=name,
                trigger=trigger,
                state="listing",
                found=0,
                selected=0,
                queued=0,
                gone=0,
                repository_errors={},
                started_at=now_utc(),
            )
            session.add(row)
            session.flush()
            return row.id

    def _failed(self, sync_id: int, error: Exception) -> None:
        describe = getattr(error, "describe", None)
        with self.db.session() as session:
            row = session.get_one(SyncRun, sync_id)
            row.state, row.error = "failed", describe() if callable(describe) else str(error)
            row.listed_at = now_utc()

    def _listed(self, sync_id: int, plan: SyncPlan, queued: int, gone: int) -> None:
        with self.db.session() as session:
            row = session.get_one(SyncRun, sync_id)
            row.state = "queued"
            row.found, row.selected, row.queued, row.gone = len(plan.decisions), plan.selected, queued, gone
            row.repository_errors = dict(plan.repository_errors)
            row.listed_at = now_utc()

    # ------------------------------------------------------------------------------------------------ progress

    def latest(self, name: str) -> SyncProgress:
        with self.db.session() as session:
            sync_id = session.scalar(
                select(SyncRun.id).where(SyncRun.integration_name == name).order_by(SyncRun.id.desc()).limit(1)
            )
        if sync_id is None:
            raise SyncNotFound(f"integration {name!r} has not been synced yet; run: regscout registry sync {name}")
        return self.progress(sync_id)

    def progress(self, sync_id: int) -> SyncProgress:
        now = now_utc()
        with self.db.session() as session:
            row = session.get(SyncRun, sync_id)
            if row is None:
                raise SyncNotFound(f"there is no sync {sync_id}")
            by_state = dict(
                session.execute(
                    select(ScanJob.state, func.count()).where(ScanJob.sync_id == sync_id).group_by(ScanJob.state)
                ).all()
            )
            failures = Counter(
                dict(
                    session.execute(
                        select(ScanJob.reason, func.count())
                        .where(ScanJob.sync_id == sync_id, ScanJob.state == "failed")
                        .group_by(ScanJob.reason)
                    ).all()
                )
            )
            first_start = session.scalar(select(func.min(ScanJob.started_at)).where(ScanJob.sync_id == sync_id))
        total = sum(by_state.values())
        done = sum(count for state, count in by_state.items() if state in TERMINAL)
        state = row.state if row.state in ("listing", "failed") else ("done" if done == total else "scanning")
        return SyncProgress(
            sync_id=row.id,
            integration=row.integration_name,
            trigger=row.trigger,
            state=state,
            started_at=row.started_at,
            found=row.found,
            selected=row.selected,
            gone=row.gone,
            error=row.error,
            total=total,
            done=done,
            by_state={k: int(v) for k, v in sorted(by_state.items())},
            failures={str(reason): int(count) for reason, count in failures.most_common()},
            eta_seconds=_eta(first_start, now, done, total),
        )


def _eta(first_start: datetime | None, now: datetime, done: int, total: int) -> float | None:
    """Remaining jobs at the rate seen so far; None until one job has ended."""
    if first_start is None or done == 0 or done >= total:
        return 0.0 if total and done >= total else None
    elapsed = (now - first_start).total_seconds()
    return round(elapsed / done * (total - done), 1)

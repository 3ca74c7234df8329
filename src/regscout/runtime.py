"""Wires settings, database, key ring and services together for the CLI and the server."""

from __future__ import annotations

import logging
import sys
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from .secrets import RedactingFilter, SecretBox, load_key_ring
from .settings import Settings

# Services are imported where they are first used: a command loads only what it needs (start-up time).
if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from .harbor_scanner.metadata import Metadata
    from .harbor_scanner.registrations import Registrations
    from .harbor_scanner.scans import HarborScans
    from .results.service import Change, ResultsService
    from .scanning.config import JobConfig
    from .scanning.jobs import JobStore
    from .scanning.local import LocalExecutor
    from .scanning.manual import ManualAdd
    from .scanning.scanner import JobScanner
    from .scanning.scheduler import Scheduler
    from .scanning.syncs import SyncRunner
    from .scanning.tracked import TrackedImages
    from .services.audit import AuditLog
    from .services.check import CheckService
    from .services.credential_sets import CredentialSets
    from .services.images import ImageService
    from .services.integrations import IntegrationService
    from .services.overview import Overview
    from .services.policies import AcceptanceService, PolicyService
    from .services.scan import ScanService
    from .services.sync import SyncService
    from .services.tokens import TokenService
    from .services.users import UserService
    from .services.verdicts import ReevaluationQueue, Verdicts
    from .store.db import Database
    from .vulndb.service import VulnDBService


@dataclass
class Runtime:
    settings: Settings
    # Set by `regscout serve` when it runs the embedded executor: queueing then wakes its workers at once.
    local_executor: LocalExecutor | None = None

    @classmethod
    def from_env(cls) -> Runtime:
        return cls(Settings.from_env())

    @cached_property
    def db(self) -> Database:
        from .store.db import Database

        self.settings.ensure_home()
        database = Database(self.settings.database_url)
        database.migrate()
        return database

    @cached_property
    def box(self) -> SecretBox:
        self.settings.ensure_home()
        return SecretBox(load_key_ring(self.settings.secret_key, self.settings.key_file))

    @cached_property
    def audit(self) -> AuditLog:
        from .services.audit import AuditLog

        return AuditLog(self.db)

    @cached_property
    def integrations(self) -> IntegrationService:
        from .services.integrations import IntegrationService

        service = IntegrationService(self.db, self.box)
        service.on_delete.append(self._integration_deleted)
        return service

    @cached_property
    def credential_sets(self) -> CredentialSets:
        from .services.credential_sets import CredentialSets

        return CredentialSets(self.integrations)

    def _integration_deleted(self, session: Session, integration_id: int, name: str) -> None:
        # Not integrated any more: nothing of it is scanned (the schedule row goes with the integration's row).
        self.jobs.cancel_for_integration(session, integration_id, f"integration {name!r} was deleted")

    @cached_property
    def images(self) -> ImageService:
        from .analysis.cache import LayerCache
        from .services.images import ImageService

        return ImageService(self.integrations, LayerCache(self.db))

    @cached_property
    def tokens(self) -> TokenService:
        from .services.tokens import TokenService

        return TokenService(self.db)

    @cached_property
    def overview(self) -> Overview:
        from .services.overview import Overview

        return Overview(self.db, self.integrations, self.jobs, self.vulndb)

    @cached_property
    def users(self) -> UserService:
        from datetime import timedelta

        from .services.users import UserService

        return UserService(self.db, timedelta(seconds=self.settings.session_idle_seconds))

    @cached_property
    def vulndb(self) -> VulnDBService:
        from .vulndb.service import VulnDBService

        service = VulnDBService(self.db)
        service.on_change.append(self.rematch)
        service.on_change.append(self._vulndb_changed)
        return service

    def _vulndb_changed(self) -> None:
        if "harbor_metadata" in self.__dict__:  # only where it was built: its update times are now stale
            self.harbor_metadata.invalidate()

    @cached_property
    def harbor_registrations(self) -> Registrations:
        from .harbor_scanner.registrations import Registrations

        return Registrations(self.db)

    @cached_property
    def harbor_scans(self) -> HarborScans:
        from .harbor_scanner.scans import HarborScans

        return HarborScans(self.db, self.box, self.jobs, self.harbor_registrations, notify=self.notify_workers)

    @cached_property
    def harbor_metadata(self) -> Metadata:
        from .harbor_scanner.metadata import Metadata

        return Metadata(self.vulndb)

    @cached_property
    def results(self) -> ResultsService:
        from .results.service import ResultsService

        return ResultsService(self.db, self.verdicts)

    @cached_property
    def verdicts(self) -> Verdicts:
        from .services.verdicts import Verdicts

        return Verdicts(self.db, self.vulndb.store.published_dates)

    @cached_property
    def reevaluation(self) -> ReevaluationQueue:
        from .services.verdicts import ReevaluationQueue

        return ReevaluationQueue(self.verdicts)

    @cached_property
    def check(self) -> CheckService:
        from .services.check import CheckService

        return CheckService(self.scans, self.verdicts)

    @cached_property
    def policies(self) -> PolicyService:
        from .services.policies import PolicyService

        return PolicyService(self.db, self.audit)

    @cached_property
    def acceptances(self) -> AcceptanceService:
        from .services.policies import AcceptanceService

        return AcceptanceService(self.db, self.audit)

    @cached_property
    def scans(self) -> ScanService:
        from .services.scan import ScanService

        return ScanService(self.images, self.vulndb, self.results)

    @cached_property
    def sync(self) -> SyncService:
        from .services.sync import SyncService

        return SyncService(self.integrations, self.results)

    @cached_property
    def job_config(self) -> JobConfig:
        from .scanning.config import JobConfig

        return JobConfig.from_env()

    @cached_property
    def jobs(self) -> JobStore:
        from .scanning.jobs import JobStore

        return JobStore(self.db, retry_delay_seconds=self.job_config.retry_delay_seconds)

    @cached_property
    def tracked(self) -> TrackedImages:
        from .scanning.tracked import TrackedImages

        return TrackedImages(self.db)

    @cached_property
    def sync_runner(self) -> SyncRunner:
        from .scanning.syncs import SyncRunner

        return SyncRunner(self.db, self.sync, self.jobs, self.tracked, notify=self.notify_workers)

    @cached_property
    def manual(self) -> ManualAdd:
        from .scanning.manual import ManualAdd

        return ManualAdd(self.db, self.integrations, self.jobs, self.tracked, notify=self.notify_workers)

    @cached_property
    def scheduler(self) -> Scheduler:
        from .scanning.scheduler import Scheduler

        return Scheduler(self.db, self.sync_runner)

    def job_scanner(self) -> JobScanner:
        from .scanning.scanner import JobScanner

        return JobScanner(self.scans, self.tracked, self.harbor_scans)

    def notify_workers(self) -> None:
        """Jobs were queued or requeued: wake the embedded workers, or send Celery a message per runnable job."""
        if self.local_executor is not None:
            self.local_executor.notify()
        elif self.job_config.executor == "celery":
            from .scanning.celery_app import dispatch

            dispatch(self.job_config, self.jobs.runnable())

    def rematch(self) -> dict[str, list[Change]]:
        """After the vulnerability data changed: match every stored inventory again, record what changed."""
        from .scanning.jobs import now_utc

        started = now_utc()
        changed = self.results.rematch_all(self.vulndb, exists=self.vulndb.store.existing_ids)
        kinds = Counter(change.change for changes in changed.values() for change in changes)
        self.jobs.record_rematch(started, {"images_changed": len(changed), "changes": dict(kinds)})
        return changed


def configure_logging(level: str = "INFO") -> None:
    """Log to stderr through the redacting filter, so no secret reaches a log line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "hpack"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

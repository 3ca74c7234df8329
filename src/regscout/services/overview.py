"""What the console's dashboard shows, each figure one aggregate query over indexed columns (never every row)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import case, desc, func, select

from ..scanning.jobs import Job, JobStore
from ..services.integrations import IntegrationService
from ..store.db import Database
from ..store.results_models import FindingsDaily, ImageFinding, ScanResult
from ..vulndb.service import VulnDBService

HISTORY_DAYS = 30
TOP_REFRESH = 60.0  # seconds: how old the dashboard's "vulnerabilities in the most images" may be
STALE_AFTER = timedelta(hours=48)
SEVERITY_RANK = {"CRITICAL": 5, "HIGH": 4, "MEDIUM": 3, "LOW": 2, "NONE": 1, "UNKNOWN": 0}


@dataclass(frozen=True)
class ImageLine:
    digest: str
    registry: str
    repository: str
    reference: str
    critical: int
    high: int
    medium: int
    low: int
    other: int
    fixable: int
    matched_at: datetime


@dataclass(frozen=True)
class VulnerabilityLine:
    vuln_id: str
    severity: str
    images: int
    fixable: bool


@dataclass(frozen=True)
class DataAge:
    updated_at: datetime | None
    stale: bool
    sources: int
    failing: list[str]


@dataclass
class Dashboard:
    registries: Counter[str]
    jobs: dict[str, int]
    images: int
    history: list[tuple[date, dict[str, int]]]
    top_images: list[ImageLine]
    top_vulnerabilities: list[VulnerabilityLine]
    data: DataAge
    first_day: date
    last_day: date
    failed_jobs: list[Job] = field(default_factory=list)


def image_line(row: ScanResult) -> ImageLine:
    return ImageLine(
        row.image_digest,
        row.registry_host,
        row.repository,
        row.reference,
        row.critical,
        row.high,
        row.medium,
        row.low,
        row.other,
        row.fixable,
        row.matched_at,
    )


class Overview:
    def __init__(self, db: Database, integrations: IntegrationService, jobs: JobStore, vulndb: VulnDBService) -> None:
        self.db = db
        self.integrations = integrations
        self.jobs = jobs
        self.vulndb = vulndb
        self._top_lock = threading.Lock()
        self._top: tuple[list[VulnerabilityLine] | None, float] = (None, 0.0)
        self._top_refreshing = False

    def dashboard(self, now: datetime | None = None) -> Dashboard:
        now = now or datetime.now(UTC)
        statuses = Counter(
            view.connection.status if view.connection else "Not tested" for view in self.integrations.list_all()
        )
        with self.db.session() as session:
            images = int(session.scalar(select(func.count()).select_from(ScanResult)) or 0)
            first_day = (now - timedelta(days=HISTORY_DAYS - 1)).date()
            days: dict[date, dict[str, int]] = {}
            for day, severity, count in session.execute(
                select(FindingsDaily.day, FindingsDaily.severity, FindingsDaily.count)
                .where(FindingsDaily.day >= first_day)
                .order_by(FindingsDaily.day)
            ):
                days.setdefault(day, {})[severity] = count
            worst = session.scalars(
                select(ScanResult)
                .where((ScanResult.critical + ScanResult.high + ScanResult.medium + ScanResult.low) > 0)
                .order_by(desc(ScanResult.critical), desc(ScanResult.high), desc(ScanResult.medium))
                .limit(10)
            ).all()
            top_images = [image_line(row) for row in worst]
        vulnerabilities = self.top_vulnerabilities()
        return Dashboard(
            registries=statuses,
            jobs=self.jobs.counts(),
            images=images,
            history=self._history(days, first_day, now.date()),
            top_images=top_images,
            top_vulnerabilities=vulnerabilities,
            data=self.data_age(now),
            first_day=first_day,
            last_day=now.date(),
            failed_jobs=self.jobs.list(states=("failed",), limit=10),
        )

    def top_vulnerabilities(self) -> list[VulnerabilityLine]:
        """The vulnerabilities in the most images: an aggregate over every finding row (about a second at 1,000,000),
        so the dashboard shows the last one computed and recomputes it in the background once it is older than
        TOP_REFRESH; only the first call of a process waits (regscout serve makes it at start)."""
        with self._top_lock:
            cached, at = self._top
            stale = cached is None or time.monotonic() - at > TOP_REFRESH
            start = stale and not self._top_refreshing and cached is not None
            if start:
                self._top_refreshing = True
        if cached is None:
            return self._compute_top()
        if start:
            threading.Thread(target=self._refresh_top, name="dashboard-top", daemon=True).start()
        return cached

    def _refresh_top(self) -> None:
        try:
            self._compute_top()
        finally:
            with self._top_lock:
                self._top_refreshing = False

    def _compute_top(self) -> list[VulnerabilityLine]:
        affected = func.count(func.distinct(ImageFinding.result_id))
        rank = case(SEVERITY_RANK, value=ImageFinding.severity, else_=0)
        with self.db.session() as session:
            top = session.execute(
                select(
                    ImageFinding.vuln_id,
                    affected,
                    func.max(func.length(ImageFinding.fixed_versions)),
                    func.max(rank),
                )
                .group_by(ImageFinding.vuln_id)
                .order_by(desc(affected), ImageFinding.vuln_id)
                .limit(10)
            ).all()
        by_rank = {rank: word for word, rank in SEVERITY_RANK.items()}
        lines = [
            VulnerabilityLine(vuln, by_rank.get(int(worst_rank or 0), "UNKNOWN"), int(n), bool(fixed))
            for vuln, n, fixed, worst_rank in top
        ]
        with self._top_lock:
            self._top = (lines, time.monotonic())
        return lines

    @staticmethod
    def _history(days: dict[date, dict[str, int]], first: date, last: date) -> list[tuple[date, dict[str, int]]]:
        """One point per day; a day without a write carries the previous day's figures (nothing changed)."""
        points: list[tuple[date, dict[str, int]]] = []
        carried: dict[str, int] | None = None
        day = first
        while day <= last:
            carried = days.get(day, carried)
            if carried is not None:
                points.append((day, carried))
            day += timedelta(days=1)
        return points

    def data_age(self, now: datetime) -> DataAge:
        sources = self.vulndb.store.sources()
        succeeded = [row.last_success_at for row in sources if row.last_success_at is not None]
        updated = max(succeeded) if succeeded else None
        failing = [row.name for row in sources if row.last_error]
        return DataAge(updated, updated is None or now - updated > STALE_AFTER, len(sources), failing)

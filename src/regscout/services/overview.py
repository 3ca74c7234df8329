"""What the console's dashboard shows, each figure one aggregate query over indexed columns (never every row)."""

from __future__ import annotations

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
            affected = func.count(func.distinct(ImageFinding.result_id))
            rank = case(SEVERITY_RANK, value=ImageFinding.severity, else_=0)
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
        vulnerabilities = [
            VulnerabilityLine(vuln, by_rank.get(int(worst_rank or 0), "UNKNOWN"), int(n), bool(fixed))
            for vuln, n, fixed, worst_rank in top
        ]
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

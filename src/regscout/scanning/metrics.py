"""Prometheus metrics read from the database at scrape time, so every server reports the same figures whichever
process (local executor or Celery worker) ran the jobs."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select

from ..store.db import Database
from ..store.jobs_models import JobAttempt, ScanJob
from .jobs import STATES, now_utc

DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


class JobMetrics(Collector):
    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | HistogramMetricFamily]:
        with self.db.session() as session:
            by_state = dict(session.execute(select(ScanJob.state, func.count()).group_by(ScanJob.state)).all())
            depth = session.scalar(
                select(func.count()).where(ScanJob.state == "queued", ScanJob.not_before <= now_utc())
            )
            duration = ScanJob.duration_seconds
            bucket_columns = [func.sum(case((duration <= bound, 1), else_=0)) for bound in DURATION_BUCKETS]
            histogram = session.execute(
                select(func.count(), func.coalesce(func.sum(duration), 0.0), *bucket_columns).where(
                    ScanJob.state == "succeeded", duration.is_not(None)
                )
            ).one()
            errors = session.execute(
                select(ScanJob.integration_name, JobAttempt.registry_status, func.count())
                .join(ScanJob, ScanJob.id == JobAttempt.job_id)
                .where(JobAttempt.registry_status.is_not(None))
                .group_by(ScanJob.integration_name, JobAttempt.registry_status)
            ).all()
        jobs = GaugeMetricFamily("regscout_jobs", "Scan jobs by state", labels=["state"])
        for state in STATES:
            jobs.add_metric([state], float(by_state.get(state, 0)))
        yield jobs
        yield GaugeMetricFamily("regscout_queue_depth", "Queued jobs ready to run", value=float(depth or 0))
        count, total, *cumulative = histogram
        buckets = [(f"{bound:g}", float(n or 0)) for bound, n in zip(DURATION_BUCKETS, cumulative, strict=True)]
        buckets.append(("+Inf", float(count or 0)))
        scan = HistogramMetricFamily("regscout_scan_duration_seconds", "Duration of successful scans")
        scan.add_metric([], buckets, float(total or 0))
        yield scan
        failures = CounterMetricFamily(
            "regscout_registry_errors", "Scan attempts failed by the registry, by answer", labels=["registry", "status"]
        )
        for registry, status, n in errors:
            failures.add_metric([registry, str(status)], float(n))
        yield failures

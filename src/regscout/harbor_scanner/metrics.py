"""Prometheus metrics of Harbor's scans, labelled by registration (read from the database at scrape time)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select

from ..store.db import Database
from ..store.harbor_models import HarborRegistration, HarborScan

OUTCOMES = ("running", "reported", "failed")


class HarborMetrics(Collector):
    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        outcome = case(
            (HarborScan.report.is_not(None), "reported"), (HarborScan.error.is_not(None), "failed"), else_="running"
        )
        with self.db.session() as session:
            names = list(session.scalars(select(HarborRegistration.name)))
            counts = session.execute(
                select(HarborRegistration.name, outcome, func.count())
                .join(HarborRegistration, HarborRegistration.id == HarborScan.registration_id)
                .group_by(HarborRegistration.name, outcome)
            ).all()
        found = {(name, state): n for name, state, n in counts}
        scans = GaugeMetricFamily(
            "regscout_harbor_scans",
            "Harbor's scan requests of the last day, by registration and outcome",
            labels=["registration", "outcome"],
        )
        for name in names:
            for state in OUTCOMES:
                scans.add_metric([name, state], float(found.get((name, state), 0)))
        yield scans

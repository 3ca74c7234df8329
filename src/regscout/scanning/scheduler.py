"""Fire the syncs of automatic integrations when due, once per due time however many servers run.

The lock is a compare-and-set on the integration's stored next-run time: the server whose UPDATE moves it from
the due time to the next one runs the sync; every other server's UPDATE matches no row."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from ..selection import PullSettings
from ..services.integrations import IntegrationNotFound, pull_settings_of
from ..store.db import Database, rows_changed
from ..store.jobs_models import ScheduleState
from ..store.models import Integration
from .jobs import now_utc
from .schedule import first_run, next_run, spec_key
from .syncs import SyncOutcome, SyncRunner

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Due:
    integration_id: int
    name: str
    due_at: datetime


class Scheduler:
    def __init__(self, db: Database, runner: SyncRunner, clock: Callable[[], datetime] = now_utc) -> None:
        self.db = db
        self.runner = runner
        self.clock = clock

    def claim_due(self) -> list[Due]:
        """Bring stored schedules in line with the settings, then take the runs that are due."""
        now = self.clock()
        claimed: list[Due] = []
        for integration_id, name, settings in self._automatic():
            key = spec_key(settings.schedule or "", settings.timezone)
            due_at = self._due_at(integration_id, key, settings, now)
            if due_at is None or due_at > now:
                continue
            following = next_run(settings.schedule or "", settings.timezone, now)
            with self.db.session() as session:
                moved = rows_changed(
                    session,
                    update(ScheduleState)
                    .where(ScheduleState.integration_id == integration_id, ScheduleState.next_run_at == due_at)
                    .values(next_run_at=following, last_run_at=now),
                )
            if moved == 1:
                claimed.append(Due(integration_id, name, due_at))
        return claimed

    def _automatic(self) -> list[tuple[int, str, PullSettings]]:
        with self.db.session() as session:
            rows = session.scalars(select(Integration).where(Integration.pull_settings.is_not(None))).all()
            automatic = []
            manual_ids = []
            for row in rows:
                settings = pull_settings_of(row)
                if settings.mode == "automatic" and settings.schedule:
                    automatic.append((row.id, row.name, settings))
                else:
                    manual_ids.append(row.id)
            scheduled = set(session.scalars(select(ScheduleState.integration_id)))
            dropped = scheduled.intersection(manual_ids)
            if dropped:  # back to manual mode: no schedule any more
                session.execute(delete(ScheduleState).where(ScheduleState.integration_id.in_(dropped)))
        return automatic

    def _due_at(self, integration_id: int, key: str, settings: PullSettings, now: datetime) -> datetime | None:
        try:
            with self.db.session() as session:
                state = session.get(ScheduleState, integration_id)
                if state is not None and state.spec == key:
                    return state.next_run_at
                first = first_run(settings.schedule or "", settings.timezone, now)
                if state is None:
                    session.add(ScheduleState(integration_id=integration_id, spec=key, next_run_at=first))
                else:
                    state.spec, state.next_run_at = key, first
        except IntegrityError:
            pass
        # Another server may have written the row at the same moment; read back what is stored.
        with self.db.session() as session:
            stored = session.get(ScheduleState, integration_id)
            return stored.next_run_at if stored is not None else None

    def next_runs(self) -> dict[str, datetime]:
        """Integration name -> next due time, for status displays."""
        with self.db.session() as session:
            rows = session.execute(
                select(Integration.name, ScheduleState.next_run_at).join(
                    ScheduleState, ScheduleState.integration_id == Integration.id
                )
            ).all()
        return {name: at for name, at in rows}

    async def tick(self) -> list[SyncOutcome]:
        outcomes: list[SyncOutcome] = []
        for due in await asyncio.to_thread(self.claim_due):
            try:
                outcome = await self.runner.run(due.name, "schedule")
            except IntegrationNotFound:
                continue  # deleted since it was claimed
            except Exception as error:  # noqa: BLE001 - one registry's failure must not stop the others' schedules
                log.warning("scheduled sync of %s failed: %s", due.name, error)
                continue
            log.info("scheduled sync of %s: %d found, %d queued", due.name, len(outcome.plan.decisions), outcome.queued)
            await asyncio.to_thread(self._remember, due.integration_id, outcome.sync_id)
            outcomes.append(outcome)
        return outcomes

    def _remember(self, integration_id: int, sync_id: int) -> None:
        with self.db.session() as session:
            state = session.get(ScheduleState, integration_id)
            if state is not None:
                state.last_sync_id = sync_id

    async def run_forever(self, tick_seconds: float) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("the scheduler's tick failed")
            await asyncio.sleep(tick_seconds)

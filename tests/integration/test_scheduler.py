"""The pull schedule: due runs fire once however many servers run (SQLite and PostgreSQL), with a real sync."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from regscout.runtime import Runtime
from regscout.scanning.scheduler import Scheduler
from regscout.scanning.syncs import SyncOutcome
from regscout.services.audit import SYSTEM
from regscout.services.integrations import IntegrationChanges, IntegrationInput
from regscout.store.jobs_models import ScheduleState
from tests.harness.images import Pusher, small_image
from tests.harness.registry import RunningRegistry, start_registry


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    running = start_registry("anonymous", tmp_path_factory.mktemp("scheduler-registry"))
    try:
        with Pusher(running) as pusher:
            for tag in ("1", "2"):
                pusher.push("svc", tag, small_image(f"scheduler-{tag}"))
        yield running
    finally:
        running.stop()


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def fire_together(schedulers: list[Scheduler]) -> list[SyncOutcome]:
    """Each scheduler ticks in its own thread, as separate servers would, released at the same moment."""
    barrier = threading.Barrier(len(schedulers))
    outcomes: list[SyncOutcome] = []

    def tick(scheduler: Scheduler) -> None:
        barrier.wait()
        outcomes.extend(asyncio.run(scheduler.tick()))

    threads = [threading.Thread(target=tick, args=(s,)) for s in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_a_due_sync_fires_once_across_servers_and_then_at_the_next_time(
    runtime: Runtime, registry: RunningRegistry
) -> None:
    asyncio.run(
        runtime.integrations.add(
            IntegrationInput(name="reg", type="docker-registry", url=registry.url), test=False, actor=SYSTEM
        )
    )
    pull = {"mode": "automatic", "schedule": "1h"}
    asyncio.run(runtime.integrations.edit("reg", IntegrationChanges(pull=pull), test=False, actor=SYSTEM))
    clock = Clock()
    servers = [Scheduler(runtime.db, runtime.sync_runner, clock) for _ in range(3)]

    first = fire_together(servers)
    assert len(first) == 1 and first[0].queued == 2
    assert {job.trigger for job in runtime.jobs.list()} == {"schedule"}
    assert fire_together(servers) == []  # not due again yet
    with runtime.db.session() as session:
        state = session.get_one(ScheduleState, runtime.integrations.identify("reg")[0])
        assert state.next_run_at == clock.now + timedelta(hours=1)
        assert state.last_sync_id == first[0].sync_id

    clock.now += timedelta(hours=1, seconds=1)
    second = fire_together(servers)
    assert len(second) == 1 and second[0].queued == 0  # the same images are still queued: not twice
    assert second[0].already_active == 2

    # A new schedule is computed afresh; manual mode drops it; so does deleting the integration.
    asyncio.run(
        runtime.integrations.edit(
            "reg", IntegrationChanges(pull={"schedule": "0 3 * * *", "timezone": "UTC"}), test=False, actor=SYSTEM
        )
    )
    servers[0].claim_due()
    assert servers[0].next_runs()["reg"].hour == 3
    asyncio.run(runtime.integrations.edit("reg", IntegrationChanges(pull={"mode": "manual"}), test=False, actor=SYSTEM))
    assert servers[0].claim_due() == [] and servers[0].next_runs() == {}
    asyncio.run(runtime.integrations.edit("reg", IntegrationChanges(pull=pull), test=False, actor=SYSTEM))
    servers[0].claim_due()
    runtime.integrations.delete("reg", actor=SYSTEM)
    assert servers[0].next_runs() == {}
    assert {job.state for job in runtime.jobs.list()} == {"cancelled"}

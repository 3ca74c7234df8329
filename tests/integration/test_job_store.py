"""The job queue in the database (SQLite and PostgreSQL): dedupe, leases, requeue limits, cancel, retry."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from regscout.runtime import Runtime
from regscout.scanning.jobs import CLAIM_LOCK, Failure, JobError, JobNotFound, JobSpec, JobStore
from regscout.services.audit import SYSTEM
from regscout.services.integrations import IntegrationInput
from tests.services import postgres_database

from .cli_support import wait_until
from .conftest import make_runtime

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def integration(rt: Runtime, name: str = "lab") -> int:
    asyncio.run(
        rt.integrations.add(
            IntegrationInput(name=name, type="docker-registry", url="http://127.0.0.1:1"), test=False, actor=SYSTEM
        )
    )
    return rt.integrations.identify(name)[0]


def spec(integration_id: int, tag: str, *, trigger: str = "schedule", limit: int = 4, name: str = "lab") -> JobSpec:
    return JobSpec(integration_id, name, "team/app", tag, "", trigger, timeout_seconds=60, max_concurrency=limit)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(runtime: Runtime, clock: Clock) -> JobStore:
    return JobStore(runtime.db, retry_delay_seconds=10, clock=clock)


def test_an_image_is_queued_once_while_active_and_again_after(runtime: Runtime, store: JobStore) -> None:
    lab = integration(runtime)
    first, again = store.enqueue([spec(lab, "1.0"), spec(lab, "1.0")])
    assert first.created and not again.created and again.job_id == first.job_id
    job = store.claim_next("w1", 30)
    assert job is not None and job.id == first.job_id
    assert store.enqueue([spec(lab, "1.0")])[0].job_id == first.job_id  # running counts as active
    assert store.succeed(job.id, "w1", result_digest="sha256:" + "a" * 64, summary={}, bytes_fetched=10)
    later = store.enqueue([spec(lab, "1.0")])[0]
    assert later.created and later.job_id != first.job_id


def test_a_retryable_failure_is_requeued_three_times_then_fails_with_the_count(
    runtime: Runtime, store: JobStore, clock: Clock
) -> None:
    lab = integration(runtime)
    job_id = store.enqueue([spec(lab, "slow")])[0].job_id
    for attempt in range(1, 5):
        job = store.claim_next("w1", 30)
        assert job is not None and job.id == job_id and job.attempts == attempt
        state = store.fail(job_id, "w1", Failure("timed out after 3 s", retry=True, outcome="timed_out"))
        assert state == ("queued" if attempt < 4 else "failed")
        assert store.claim_next("w1", 30) is None  # not before its retry delay
        clock.advance(10 * attempt)
    final = store.get(job_id)
    assert final.state == "failed"
    assert final.reason == "timed out after 3 s; gave up after 4 attempts (requeued 3 times)"
    assert [a.outcome for a in final.history] == ["timed_out"] * 4
    assert store.enqueue([spec(lab, "slow")])[0].created  # a failed job no longer blocks the image


def test_a_permanent_failure_ends_the_job_at_once(runtime: Runtime, store: JobStore) -> None:
    lab = integration(runtime)
    job_id = store.enqueue([spec(lab, "1.0")])[0].job_id
    assert store.claim_next("w1", 30) is not None
    assert store.fail(job_id, "w1", Failure("authorization failed", retry=False, registry_status="401")) == "failed"
    job = store.get(job_id)
    assert (job.state, job.reason, job.attempts) == ("failed", "authorization failed", 1)
    assert job.history[0].registry_status == "401"


def test_an_expired_lease_is_taken_again_and_the_old_worker_cannot_write(
    runtime: Runtime, store: JobStore, clock: Clock
) -> None:
    lab = integration(runtime)
    job_id = store.enqueue([spec(lab, "1.0")])[0].job_id
    assert store.claim_next("dead", 5) is not None
    clock.advance(4)
    assert store.reap() == []  # lease still valid
    assert store.heartbeat(job_id, "dead", 5).owner
    clock.advance(4)
    assert store.reap() == []  # the heartbeat extended it
    clock.advance(2)
    assert store.reap() == [job_id]
    taken = store.claim_next("alive", 5)
    assert taken is not None and taken.id == job_id and taken.attempts == 2
    assert not store.heartbeat(job_id, "dead", 5).owner
    assert not store.succeed(job_id, "dead", result_digest="sha256:" + "b" * 64, summary={}, bytes_fetched=0)
    assert store.succeed(job_id, "alive", result_digest="sha256:" + "c" * 64, summary={"x": 1}, bytes_fetched=7)
    job = store.get(job_id)
    assert job.state == "succeeded" and job.result_digest == "sha256:" + "c" * 64
    assert [(a.worker, a.outcome) for a in job.history] == [("dead", "lost"), ("alive", "succeeded")]


def test_cancel_and_retry(runtime: Runtime, store: JobStore) -> None:
    lab = integration(runtime)
    queued, running = (e.job_id for e in store.enqueue([spec(lab, "q"), spec(lab, "r")]))
    claimed = store.claim(running, "w1", 30)
    assert claimed is not None
    assert store.cancel(queued).state == "cancelled"
    assert store.cancel(running).state == "running"
    beat = store.heartbeat(running, "w1", 30)
    assert beat.owner and beat.cancel_requested
    assert store.cancelled(running, "w1", "cancelled while running")
    with pytest.raises(JobError, match="already cancelled"):
        store.cancel(queued)
    with pytest.raises(JobNotFound):
        store.cancel(10_000)
    retried = store.retry(queued)
    assert retried.state == "queued" and retried.max_attempts == retried.attempts + 4
    with pytest.raises(JobError, match="only failed or cancelled"):
        store.retry(queued)
    # Another job for the same image is active: retrying the old one would queue it twice.
    store.enqueue([spec(lab, "r")])
    with pytest.raises(JobError, match="already has a queued or running job"):
        store.retry(running)


def test_people_go_first_and_each_registry_keeps_its_concurrency_limit(runtime: Runtime, store: JobStore) -> None:
    lab, other = integration(runtime, "lab"), integration(runtime, "other")
    scheduled = [e.job_id for e in store.enqueue([spec(lab, f"s{i}", limit=2) for i in range(4)])]
    manual = store.enqueue([spec(lab, "by-hand", trigger="manual", limit=2)])[0].job_id
    elsewhere = store.enqueue([spec(other, "x", name="other")])[0].job_id
    order = [store.claim_next(f"w{i}", 30) for i in range(4)]
    assert [job.id if job else None for job in order] == [manual, scheduled[0], elsewhere, None]


def test_concurrent_claims_take_each_job_exactly_once(runtime: Runtime, store: JobStore) -> None:
    lab = integration(runtime)
    ids = {e.job_id for e in store.enqueue([spec(lab, f"t{i}", limit=100) for i in range(40)])}
    taken: dict[str, list[int]] = {}

    def work(name: str) -> None:
        mine = taken.setdefault(name, [])
        while (job := store.claim_next(name, 30)) is not None:
            mine.append(job.id)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = [job_id for jobs in taken.values() for job_id in jobs]
    assert sorted(claimed) == sorted(ids)


def test_deleting_an_integration_cancels_its_jobs(runtime: Runtime) -> None:
    lab, other = integration(runtime, "lab"), integration(runtime, "other")
    store = runtime.jobs
    queued, running = (e.job_id for e in store.enqueue([spec(lab, "q"), spec(lab, "r")]))
    kept = store.enqueue([spec(other, "x", name="other")])[0].job_id
    assert store.claim(running, "w1", 30) is not None
    runtime.integrations.delete("lab", actor=SYSTEM)
    assert store.get(queued).state == "cancelled"
    assert store.get(queued).reason == "integration 'lab' was deleted"
    assert store.heartbeat(running, "w1", 30).cancel_requested
    assert store.get(kept).state == "queued"
    with pytest.raises(JobError, match="was deleted"):
        store.retry(queued)


def test_simultaneous_claimers_never_exceed_a_registry_s_limit(runtime: Runtime) -> None:
    lab = integration(runtime)
    runtime.jobs.enqueue([spec(lab, f"t{i}", limit=2) for i in range(10)])
    stores = [JobStore(runtime.db) for _ in range(6)]  # as separate workers would have
    barrier = threading.Barrier(len(stores))
    claimed: list[int] = []

    def claim(store: JobStore, name: str) -> None:
        barrier.wait()
        job = store.claim_next(name, 30)
        if job is not None:
            claimed.append(job.id)

    threads = [threading.Thread(target=claim, args=(s, f"w{i}")) for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claimed) == 2
    assert runtime.jobs.counts()["running"] == 2


def test_a_claim_waits_for_another_process_claiming_against_the_same_limit(tmp_path: Path) -> None:
    """Across processes only the database can keep the limit: PostgreSQL's advisory lock per integration (SQLite
    keeps it within one process, which is how the embedded executor runs). Another process is mid-claim: it holds
    the lock and has marked a job running, uncommitted. Our claim must wait for it and then see the limit reached;
    without the lock it would count no running job and take a second one."""
    with postgres_database() as url:
        rt = make_runtime(tmp_path / "home", url)
        lab = integration(rt)
        first, _second = (e.job_id for e in rt.jobs.enqueue([spec(lab, f"t{i}", limit=1) for i in range(2)]))
        other = rt.db.engine.connect()
        transaction = other.begin()
        other.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK + lab})
        other.execute(
            text("UPDATE scan_jobs SET state = 'running', lease_owner = 'other' WHERE id = :id"), {"id": first}
        )
        claimed: list[object] = []
        claimer = threading.Thread(target=lambda: claimed.append(JobStore(rt.db).claim_next("w", 30)))
        claimer.start()
        wait_until(
            lambda: bool(
                other.execute(text("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).all()
            ),
            30,
            lambda: "the claim did not wait for the advisory lock",
        )
        transaction.commit()
        claimer.join(30)
        other.close()
        assert claimed == [None]
        assert rt.jobs.counts()["running"] == 1
        rt.db.dispose()

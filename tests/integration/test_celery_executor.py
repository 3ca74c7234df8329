"""The Celery executor for real: `regscout worker` processes on Redis and on RabbitMQ, state in PostgreSQL, scans of
a real registry behind a fault proxy. The test process plays the server: it queues images through the Runtime,
whose notify sends the wake-ups (REGSCOUT_EXECUTOR=celery), and reads the outcome from the database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from kombu import Connection
from sqlalchemy import select, update

from regscout.runtime import Runtime
from regscout.scanning import celery_app
from regscout.scanning.config import JobConfig
from regscout.scanning.jobs import TERMINAL, Job, JobSpec
from regscout.secrets import generate_key
from regscout.services.audit import SYSTEM
from regscout.services.integrations import IntegrationChanges, IntegrationInput
from regscout.store.jobs_models import ScanJob
from regscout.store.results_models import ScanResult
from tests.harness.faults import FaultProxy, Hang
from tests.harness.fixtures import FaultProxyFactory
from tests.harness.images import Pusher, small_image
from tests.harness.registry import RunningRegistry, start_registry
from tests.services import broker_url, postgres_database

from .cli_support import REGSCOUT, CliEnv, free_port, wait_until
from .conftest import make_runtime

LEASE_SECONDS = 4  # short, so that a killed worker's job runs again soon; long enough for a loaded machine
THREADS = 2  # REGSCOUT_WORKERS: scans at once per worker process
BLOBS = r"/v2/.+/blobs/sha256:"


# ------------------------------------------------------------------------------------------------ processes


class WorkerProcess:
    """One `regscout worker` subprocess; its output goes to a file that the test reads."""

    def __init__(self, cli: CliEnv, log: Path, args: tuple[str, ...] = ()) -> None:
        self.log_path = log
        self._log = log.open("w")
        self.process = subprocess.Popen(
            [*REGSCOUT, "worker", *args], env=cli.env(), stdout=self._log, stderr=subprocess.STDOUT, text=True
        )
        self.pid = self.process.pid
        # worker_name(): celery@HOST:PID:RANDOM/THREAD, the lease owner of each job this process runs
        self.marker = f":{self.pid}:"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"regscout worker exited with {self.process.returncode}:\n{self.log()}")
        return " ready." in self.log()

    def owns(self, job: Job) -> bool:
        return self.marker in (job.lease_owner or "")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM (a warm shutdown, as systemd or Kubernetes stop it); returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
                raise AssertionError(f"regscout worker did not stop within {timeout} s:\n{self.log()}") from None
        self._log.close()
        return self.process.returncode


class Cluster:
    """A Celery deployment for one test: its own broker queue, worker processes, and a Runtime that queues jobs
    the way a server does (ManualAdd, then a wake-up through the broker)."""

    def __init__(self, runtime: Runtime, cli: CliEnv, broker: str, queue: str, prefix: str) -> None:
        self.runtime = runtime
        self.cli = cli
        self.broker = broker
        self.queue = queue
        self.prefix = prefix
        self.workers: list[WorkerProcess] = []

    def spawn_workers(self, count: int, *args: str) -> list[WorkerProcess]:
        started = [
            WorkerProcess(self.cli, self.cli.home.parent / f"worker-{len(self.workers) + i}.log", args)
            for i in range(count)
        ]
        self.workers += started
        return started

    def start_workers(self, count: int, *args: str) -> list[WorkerProcess]:
        return wait_ready(self.spawn_workers(count, *args))

    def integration(self, name: str, url: str, **pull: Any) -> str:
        full = f"{self.prefix}-{name}"
        integrations = self.runtime.integrations
        asyncio.run(
            integrations.add(IntegrationInput(name=full, type="docker-registry", url=url), test=False, actor=SYSTEM)
        )
        if pull:
            asyncio.run(integrations.edit(full, IntegrationChanges(pull=pull), test=False, actor=SYSTEM))
        return full

    def add(self, integration: str, image: str, trigger: str = "manual") -> int:
        added = self.runtime.manual.add(integration, image, trigger=trigger)
        assert added.jobs[0].created
        return added.jobs[0].job_id

    def jobs(self, integration: str) -> list[Job]:
        return self.runtime.jobs.list(integration=integration, limit=1000)

    def wait_for(self, integration: str, state: str, count: int, seconds: float) -> list[Job]:
        def reached() -> bool:
            jobs = self.jobs(integration)
            if any(job.state in TERMINAL and job.state != state for job in jobs):
                raise AssertionError(self.describe(integration, f"{count} jobs {state}"))
            return len(jobs) == count and all(job.state == state for job in jobs)

        wait_until(reached, seconds, lambda: self.describe(integration, f"{count} jobs {state}"))
        return self.jobs(integration)

    def describe(self, integration: str, wanted: str) -> str:
        jobs = self.jobs(integration)
        states = Counter(job.state for job in jobs)
        reasons = Counter(job.reason for job in jobs if job.reason)
        logs = "\n".join(f"--- worker {w.pid}\n{w.log()[-4000:]}" for w in self.workers)
        return f"wanted {wanted}, have {dict(states)}, reasons {dict(reasons)}\n{logs}"

    def waiting(self) -> int:
        config = JobConfig(executor="celery", broker_url=self.broker)
        return celery_app.waiting(celery_app.create_app(config, self.queue), self.queue)


def wait_ready(workers: list[WorkerProcess]) -> list[WorkerProcess]:
    for worker in workers:
        wait_until(worker.ready, 60, lambda w=worker: f"regscout worker did not become ready:\n{w.log()}")
    return workers


def delete_queue(broker: str, queue: str) -> None:
    """Leave the broker as it was: the test's queue and, on Redis, what a killed worker left unacknowledged."""
    with Connection(broker, connect_timeout=3) as connection, contextlib.suppress(*connection.channel_errors):
        connection.default_channel.queue_delete(queue)
        connection.default_channel.exchange_delete(queue)  # Celery's exchange for the queue, of the same name
    if broker.startswith("redis"):
        import redis

        client = redis.Redis.from_url(broker)
        client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        for tag, raw in client.hgetall("unacked").items():
            if json.loads(raw)[-1] == queue:  # [message, exchange, routing key]
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
        client.close()


def cancel_leftovers(runtime: Runtime) -> None:
    """Tests share the module's database: no test leaves a job for the next one's workers."""
    with runtime.db.session() as session:
        session.execute(
            update(ScanJob)
            .where(ScanJob.state.in_(("queued", "running")))
            .values(state="cancelled", active_key=None, lease_owner=None, lease_expires_at=None)
        )


def push_images(registry: RunningRegistry, prefix: str, count: int) -> dict[str, str]:
    """``count`` distinct small images; image (repository:tag) -> digest."""
    items = [(f"{prefix}/app{i}", "1", small_image(f"{prefix}-{i}")) for i in range(count)]
    with Pusher(registry) as pusher:
        pusher.push_many(items)
    return {f"{repo}:{tag}": image.digest for repo, tag, image in items}


def hanging_proxy(factory: FaultProxyFactory, registry: RunningRegistry, seconds: float) -> FaultProxy:
    proxy = factory(registry)
    proxy.add_fault(BLOBS, Hang(seconds), times=None, method="GET")
    return proxy


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    running = start_registry("anonymous", tmp_path_factory.mktemp("celery-registry"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest) -> str:
    return broker_url(str(request.param))


@pytest.fixture
def cluster(
    request: pytest.FixtureRequest, tmp_path: Path, broker: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cluster]:
    queue = f"regscout-test-{secrets.token_hex(4)}"
    key = generate_key()
    settings = {
        "REGSCOUT_EXECUTOR": "celery",
        "REGSCOUT_BROKER_URL": broker,
        "REGSCOUT_CELERY_QUEUE": queue,
        "REGSCOUT_JOB_RETRY_DELAY_SECONDS": "0",
        "REGSCOUT_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
        "REGSCOUT_JOB_POLL_SECONDS": "0.5",
        "REGSCOUT_WORKERS": str(THREADS),
    }
    for name, value in settings.items():  # this process queues like a server configured for Celery
        monkeypatch.setenv(name, value)
    home = tmp_path / "home"
    runtime = make_runtime(home, database_url, key)
    runtime.db  # noqa: B018 - migrated here, before any worker starts
    cli = CliEnv(
        home,
        extra={
            **settings,
            "REGSCOUT_DATABASE_URL": database_url,
            "REGSCOUT_SECRET_KEY": key,
            "REGSCOUT_LOG_LEVEL": "INFO",
        },
    )
    prefix = f"{request.node.originalname.removeprefix('test_')[:20]}-{urlsplit(broker).scheme}-{secrets.token_hex(2)}"
    made = Cluster(runtime, cli, broker, queue, prefix.replace("_", "-"))
    try:
        yield made
    finally:
        for worker in made.workers:
            worker.stop()
        cancel_leftovers(runtime)
        delete_queue(broker, queue)
        runtime.db.dispose()


def leaked_password(broker: str, text: str) -> bool:
    password = urlsplit(broker).password
    return bool(password) and (f":{password}@" in text or broker in text)


# ------------------------------------------------------------------------------------------------ tests


def test_a_killed_worker_job_is_finished_by_the_other_worker(
    cluster: Cluster, registry: RunningRegistry, fault_proxy_factory: FaultProxyFactory
) -> None:
    victim, survivor = cluster.spawn_workers(2)  # they start while the images are pushed
    images = push_images(registry, cluster.prefix, 50)
    # Every blob answers after 0.5 s: long enough to kill a worker in the middle of a scan.
    proxy = hanging_proxy(fault_proxy_factory, registry, 0.5)
    name = cluster.integration("fleet", proxy.url)
    wait_ready([victim, survivor])
    integration_id, _ = cluster.runtime.integrations.identify(name)
    specs = [JobSpec(integration_id, name, *image.split(":"), "", "manual", timeout_seconds=60) for image in images]
    ids = [queued.job_id for queued in cluster.runtime.jobs.enqueue(specs)]  # as a sync queues them, in one go
    cluster.runtime.notify_workers()

    def victim_just_started() -> Job | None:
        """A job the victim started a moment ago, once the shared base layer is in the cache (a scan finished)."""
        now = datetime.now(UTC)
        jobs = cluster.jobs(name)
        if not any(job.state == "succeeded" for job in jobs):
            return None
        for job in jobs:
            if (
                job.state == "running"
                and victim.owns(job)
                and job.started_at
                and now - job.started_at < timedelta(seconds=0.2)
            ):
                return job
        return None

    wait_until(lambda: victim_just_started() is not None, 60, lambda: cluster.describe(name, "a job of the victim"))
    victim.kill()
    held = {job.id for job in cluster.jobs(name) if job.state == "running" and victim.owns(job)}
    assert held, "the victim held no running job when it was killed"

    jobs = cluster.wait_for(name, "succeeded", 50, 120)

    assert sorted(job.id for job in jobs) == sorted(ids)
    history = {job.id: cluster.runtime.jobs.get(job.id).history for job in jobs}
    for job_id, attempts in history.items():
        if job_id not in held:
            assert [a.outcome for a in attempts] == ["succeeded"], (job_id, attempts)
            continue
        lost, finished = attempts
        assert (lost.outcome, finished.outcome) == ("lost", "succeeded")
        assert victim.marker in lost.worker and "stopped answering (lease expired)" in (lost.reason or "")
        assert survivor.marker in finished.worker
        assert lost.finished_at is not None and finished.started_at >= lost.finished_at
        assert finished.started_at - lost.started_at >= timedelta(seconds=LEASE_SECONDS - 0.5)
    with cluster.runtime.db.session() as session:
        stored = Counter(
            session.scalars(select(ScanResult.image_digest).where(ScanResult.image_digest.in_(images.values())))
        )
    assert stored == Counter(images.values())  # every image exactly once
    assert survivor.stop() == 0
    assert not leaked_password(cluster.broker, victim.log() + survivor.log())


def test_b_hanging_registry_times_out_four_times_then_fails(
    cluster: Cluster, registry: RunningRegistry, fault_proxy_factory: FaultProxyFactory
) -> None:
    (image,) = push_images(registry, cluster.prefix, 1)
    proxy = hanging_proxy(fault_proxy_factory, registry, 120)
    name = cluster.integration("hangs", proxy.url, scan_timeout_minutes=0.025)  # 1.5 s
    cluster.start_workers(1)
    started = time.monotonic()
    job_id = cluster.add(name, image)

    cluster.wait_for(name, "failed", 1, 60)

    job = cluster.runtime.jobs.get(job_id)
    assert "timed out" in (job.reason or "") and "4 attempts" in (job.reason or ""), job.reason
    assert [a.outcome for a in job.history] == ["timed_out"] * 4
    assert all(a.reason == "timed out after 1.5 s" for a in job.history)
    assert job.attempts == 4
    assert time.monotonic() - started < 40  # four attempts of 1.5 s, not four of the registry's 120 s


def test_c_deleted_integration_cancels_its_jobs(
    cluster: Cluster, registry: RunningRegistry, fault_proxy_factory: FaultProxyFactory
) -> None:
    first, second = push_images(registry, cluster.prefix, 2)
    proxy = hanging_proxy(fault_proxy_factory, registry, 120)
    name = cluster.integration("doomed", proxy.url, max_concurrency=1)
    cluster.start_workers(1)
    running_id = cluster.add(name, first)
    wait_until(
        lambda: cluster.runtime.jobs.get(running_id).state == "running",
        30,
        lambda: cluster.describe(name, "the first job running"),
    )
    queued_id = cluster.add(name, second)
    # Its wake-up is taken, but the job waits: one scan at a time on this registry (max_concurrency 1).
    wait_until(lambda: cluster.waiting() == 0, 30, lambda: "the wake-up of the second job was not taken")
    assert cluster.runtime.jobs.get(queued_id).state == "queued"

    cluster.runtime.integrations.delete(name, actor=SYSTEM)

    queued = cluster.runtime.jobs.get(queued_id)
    assert (queued.state, queued.reason) == ("cancelled", f"integration {name!r} was deleted")
    assert queued.history == []
    wait_until(
        lambda: cluster.runtime.jobs.get(running_id).state == "cancelled",
        15,  # seen at the next heartbeat (every lease/3), not after the 120 s hang
        lambda: cluster.describe(name, "the running job cancelled"),
    )
    assert [a.outcome for a in cluster.runtime.jobs.get(running_id).history] == ["cancelled"]


def test_c_manual_job_runs_before_older_scheduled_ones(cluster: Cluster, registry: RunningRegistry) -> None:
    images = list(push_images(registry, cluster.prefix, 4))
    name = cluster.integration("prio", registry.url)
    scheduled = [cluster.add(name, image, trigger="schedule") for image in images[:3]]
    waiting = cluster.waiting()
    # Queued last, by the command in a process of its own, while no worker runs: its wake-up waits in the broker.
    added = json.loads(cluster.cli.run("image", "add", name, images[3], "--json").stdout)
    manual = added["jobs"][0]["id"]
    assert cluster.waiting() == waiting + 1 == 4

    cluster.start_workers(1, "--concurrency", "1")
    cluster.wait_for(name, "succeeded", 4, 60)

    started = {job_id: cluster.runtime.jobs.get(job_id).history[0].started_at for job_id in [manual, *scheduled]}
    order = sorted(started, key=lambda job_id: started[job_id])
    assert order == [manual, *scheduled]  # priority first, then age


def test_lost_wakeup_does_not_strand_a_job(cluster: Cluster, registry: RunningRegistry) -> None:
    (image,) = push_images(registry, cluster.prefix, 1)
    name = cluster.integration("nowake", registry.url)
    (worker,) = cluster.start_workers(1)
    integration_id, _ = cluster.runtime.integrations.identify(name)
    repository, tag = image.split(":")
    spec = JobSpec(integration_id, name, repository, tag, "", "manual", timeout_seconds=60)
    # Straight into the database, as if the wake-up had been lost: no message at all.
    (enqueued,) = cluster.runtime.jobs.enqueue([spec])
    assert cluster.waiting() == 0

    cluster.wait_for(name, "succeeded", 1, 30)

    assert cluster.runtime.jobs.get(enqueued.job_id).history[0].worker.startswith("celery@")
    assert "not taken for a while" in worker.log()


def test_sigterm_hands_a_running_job_back(
    cluster: Cluster, registry: RunningRegistry, fault_proxy_factory: FaultProxyFactory
) -> None:
    (image,) = push_images(registry, cluster.prefix, 1)
    proxy = hanging_proxy(fault_proxy_factory, registry, 120)
    name = cluster.integration("stopping", proxy.url)
    (worker,) = cluster.start_workers(1)
    job_id = cluster.add(name, image)
    wait_until(
        lambda: cluster.runtime.jobs.get(job_id).state == "running",
        30,
        lambda: cluster.describe(name, "the job running"),
    )
    started = time.monotonic()

    assert worker.stop() == 0

    assert time.monotonic() - started < 15  # not after the registry's 120 s
    job = cluster.runtime.jobs.get(job_id)
    assert job.state == "queued" and job.lease_owner is None
    assert [a.outcome for a in job.history] == ["interrupted"]
    assert job.max_attempts == 5  # the interrupted attempt does not count against the job


# ------------------------------------------------------------------------------------------------ the command


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "REGSCOUT_EXECUTOR=celery"),
        ({"REGSCOUT_EXECUTOR": "celery"}, "REGSCOUT_BROKER_URL"),
        ({"REGSCOUT_EXECUTOR": "local", "REGSCOUT_BROKER_URL": "redis://127.0.0.1:6379/0"}, "REGSCOUT_EXECUTOR=celery"),
    ],
)
def test_worker_refuses_without_celery_settings(tmp_path: Path, settings: dict[str, str], message: str) -> None:
    result = CliEnv(tmp_path / "home", extra=settings).run("worker", check_code=2)
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_dispatch_tops_up_the_waiting_wakeups(broker: str, monkeypatch: pytest.MonkeyPatch) -> None:
    queue = f"regscout-test-{secrets.token_hex(4)}"
    monkeypatch.setenv(celery_app.QUEUE_ENV, queue)
    config = JobConfig(executor="celery", broker_url=broker)
    app = celery_app.create_app(config, queue)
    try:
        assert celery_app.dispatch(config, 3) == 3
        assert celery_app.dispatch(config, 5) == 2  # three wait already
        assert celery_app.dispatch(config, 2) == 0
        assert celery_app.dispatch(config, 10_000) == celery_app.MAX_WAKEUPS - 5
        assert celery_app.waiting(app, queue) == celery_app.MAX_WAKEUPS
    finally:
        delete_queue(broker, queue)


def test_dispatch_to_an_unreachable_broker_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    closed = f"amqp://scanner:s3cret-broker-pw@127.0.0.1:{free_port()}//"
    config = JobConfig(executor="celery", broker_url=closed)
    with caplog.at_level("WARNING", logger="regscout.scanning.celery_app"):
        assert celery_app.dispatch(config, 2) == 0
    assert "could not send 2 wake-up(s)" in caplog.text
    assert "s3cret-broker-pw" not in caplog.text

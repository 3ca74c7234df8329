"""The Celery executor: `regscout worker` processes, on any number of machines, run the scan jobs.

The broker (Redis or RabbitMQ) carries only wake-ups: messages of the task ``regscout.work``, without arguments.
The database stays the queue of record. A worker that receives a wake-up claims the next runnable job with the
same compare-and-set as the local executor, so priorities, per-registry concurrency limits and leases are the
same; a wake-up that finds nothing to do costs one query. Nothing depends on a message arriving exactly once:
the maintenance thread of every worker requeues the jobs of workers that died (their lease expired) and sends
wake-ups again for runnable jobs that nobody took, so a lost message delays a job by a few poll intervals at most.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from celery import Celery, bootsteps
from kombu.exceptions import KombuError
from kombu.utils.url import maybe_sanitize_url
from sqlalchemy import func, select

from ..secrets import Secret
from ..store.jobs_models import ScanJob
from .config import JobConfig
from .jobs import Job, JobStore
from .worker import Scanner, Worker

log = logging.getLogger(__name__)

TASK = "regscout.work"
DEFAULT_QUEUE = "regscout"
QUEUE_ENV = "REGSCOUT_CELERY_QUEUE"
# One wake-up per runnable job, up to this many per call: each finished job sends the next one, and idle
# workers ask for more (maintenance), so a sync that queues 10 000 images need not put 10 000 messages on the broker.
MAX_WAKEUPS = 200
# A runnable job still queued after this many poll intervals lost its wake-up (or waits behind a limit).
STALE_POLLS = 3
# Publishing gives up quickly: the job is in the database whatever happens to its wake-up.
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
# Redis hands an unacknowledged message to another worker after this long (acks_late: a scan holds its message).
VISIBILITY_TIMEOUT_SECONDS = 3 * 3600


def queue_name() -> str:
    """The queue that servers send wake-ups to and workers consume (REGSCOUT_CELERY_QUEUE, default regscout)."""
    return os.environ.get(QUEUE_ENV, "").strip() or DEFAULT_QUEUE


def safe_url(url: str) -> str:
    """The broker URL for messages and logs: the password replaced by ``**``."""
    return str(maybe_sanitize_url(url))


def broker_password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def create_app(config: JobConfig, queue: str | None = None) -> Any:
    """A Celery app for the broker in ``config``: wake-ups only, JSON, no result backend."""
    if not config.broker_url:
        raise ValueError("the Celery executor needs REGSCOUT_BROKER_URL (redis://… or amqp://…)")
    password = broker_password(config.broker_url)
    if password:
        Secret(password)  # known to the log filter from now on: the broker password never reaches a log line
    app = Celery("regscout", broker=config.broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=queue or queue_name(),
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_enable_remote_control=False,
        worker_send_task_events=False,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=5,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
    )
    app.task(name=TASK, ignore_result=True)(_work)
    app.steps["worker"].add(_Tick)
    return app


class _Tick(bootsteps.StartStopStep):  # type: ignore[misc]
    """Celery's event loop sleeps until its next timer, up to 10 s with RabbitMQ, and only then sees that a warm
    shutdown was asked for: a timer every second makes `regscout worker` stop within a second of SIGTERM."""

    requires = ("celery.worker.components:Hub",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.entry: Any = None

    def start(self, parent: Any) -> None:
        if getattr(parent, "hub", None) is not None:
            self.entry = parent.hub.call_repeatedly(1.0, _tick)

    def stop(self, parent: Any) -> None:
        if self.entry is not None:
            self.entry.cancel()
            self.entry = None


def _tick() -> None:
    """Nothing to do: the timer only bounds how long the event loop sleeps."""


def send_wakeups(app: Any, count: int, *, queue: str, countdown: float = 0.0) -> int:
    """Publish ``count`` wake-ups (at most MAX_WAKEUPS); returns how many went out. A broker that cannot be reached
    is logged, not raised: the jobs wait in the database, and workers find them when the broker is back."""
    wanted = min(max(count, 0), MAX_WAKEUPS)
    sent = 0
    try:
        with app.producer_or_acquire() as producer:
            for _ in range(wanted):
                app.send_task(
                    TASK,
                    queue=queue,
                    countdown=countdown if countdown > 0 else None,
                    producer=producer,
                    retry=True,
                    retry_policy=PUBLISH_RETRY,
                )
                sent += 1
    except (KombuError, OSError) as error:
        log.warning(
            "could not send %d wake-up(s) to %s (%s: %s); workers will find the jobs in the database",
            wanted - sent,
            safe_url(str(app.conf.broker_url)),
            type(error).__name__,
            error,
        )
    return sent


def waiting(app: Any, queue: str) -> int:
    """Wake-ups in the queue that no worker has taken yet (0 when the queue does not exist or cannot be read)."""
    connection = app.connection_for_write()
    errors = (*connection.connection_errors, *connection.channel_errors, KombuError, OSError)
    try:
        with connection:
            # Few quick tries: a broker that is down must not hold up whoever queued the jobs.
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, interval_max=0)
            declared = connection.default_channel.queue_declare(queue=queue, passive=True)
    except errors:
        return 0
    return int(declared.message_count)


def top_up(app: Any, wanted: int, *, queue: str) -> int:
    """Make sure ``wanted`` wake-ups wait in the queue, counting those already there; returns how many were sent.
    Queueing images one at a time then sends one wake-up each, not one per runnable job each time."""
    wanted = min(wanted, MAX_WAKEUPS)
    if wanted <= 0:
        return 0
    return send_wakeups(app, wanted - waiting(app, queue), queue=queue)


_dispatchers: dict[tuple[str, str], Any] = {}
_dispatchers_lock = threading.Lock()


def dispatch(config: JobConfig, count: int) -> int:
    """Jobs were queued (by a server, a sync, a CLI command) and ``count`` are runnable: make sure as many
    wake-ups wait for the workers (up to MAX_WAKEUPS). Returns how many were sent."""
    if count <= 0 or not config.broker_url:
        return 0
    queue = queue_name()
    with _dispatchers_lock:
        app = _dispatchers.get((config.broker_url, queue))
        if app is None:
            app = _dispatchers[(config.broker_url, queue)] = create_app(config, queue)
    return top_up(app, count, queue=queue)


def runnable_in(store: JobStore, job_id: int) -> float:
    """Seconds until a queued job may run (its retry delay); 0 when it may run now or is not queued."""
    with store.db.session() as session:
        not_before = session.scalar(select(ScanJob.not_before).where(ScanJob.id == job_id, ScanJob.state == "queued"))
    if not_before is None:
        return 0.0
    return max(0.0, (not_before - store.clock()).total_seconds())


def stale_runnable(store: JobStore, older_than: float) -> int:
    """Queued jobs that have been runnable for longer than ``older_than`` seconds: nobody took them."""
    cutoff = store.clock() - timedelta(seconds=older_than)
    with store.db.session() as session:
        count = session.scalar(select(func.count()).where(ScanJob.state == "queued", ScanJob.not_before <= cutoff))
    return int(count or 0)


class WorkerHost:
    """What runs inside one `regscout worker` process: the task body for each pool thread, and maintenance."""

    def __init__(
        self,
        app: Any,
        store: JobStore,
        scanner: Scanner,
        config: JobConfig,
        *,
        name: str,
        queue: str,
        concurrency: int,
    ) -> None:
        self.app = app
        self.store = store
        self.scanner = scanner
        self.config = config
        self.name = name
        self.queue = queue
        self.concurrency = concurrency
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._running: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]] = {}
        self._busy = 0
        self._local = threading.local()
        self._index = itertools.count()
        self._maintenance: threading.Thread | None = None

    # ------------------------------------------------------------------------------------------ the task

    def work(self) -> str:
        """One wake-up: claim the next runnable job and run it on this thread's own event loop."""
        if self._stopping.is_set():
            return "stopping"
        with self._busy_thread():
            worker = self._worker()
            job = self.store.claim_next(worker.name, self.config.lease_seconds)
            if job is None:
                return "idle"
            ended = asyncio.run(self._run(worker, job))
        if not self._stopping.is_set() and self.store.runnable() > 0:
            # A slot is free again (this job's): wake a worker for a job that may have waited for it.
            self.wake()
        return ended

    def _worker(self) -> Worker:
        worker: Worker | None = getattr(self._local, "worker", None)
        if worker is None:
            name = f"{self.name}/{next(self._index)}"
            worker = Worker(
                self.store, self.scanner, name, lease_seconds=self.config.lease_seconds, on_ended=self._ended
            )
            self._local.worker = worker
        return worker

    @contextmanager
    def _busy_thread(self) -> Iterator[None]:
        with self._lock:
            self._busy += 1
        try:
            yield
        finally:
            with self._lock:
                self._busy -= 1

    async def _run(self, worker: Worker, job: Job) -> str:
        task = asyncio.current_task()
        assert task is not None
        key = threading.get_ident()
        with self._lock:
            stopping = self._stopping.is_set()
            if not stopping:
                self._running[key] = (asyncio.get_running_loop(), task)
        try:
            if stopping:
                return await worker.hand_back(job)
            return await worker.run(job)
        except asyncio.CancelledError:
            return "released"  # the worker is shutting down; Worker.run handed the job back
        finally:
            with self._lock:
                self._running.pop(key, None)

    def _ended(self, job: Job, state: str) -> None:
        """Worker's callback when a job ended or went back: wake a worker for a job handed back by a stopping one,
        and for a requeued job when its retry delay is over."""
        if state == "released":
            self.wake()
            return
        if state != "queued":
            return
        countdown = runnable_in(self.store, job.id)
        if countdown > 0:  # without a delay, the wake-up that work() sends after every job covers it
            self.wake(countdown=countdown)

    def wake(self, count: int = 1, *, countdown: float = 0.0) -> int:
        return send_wakeups(self.app, count, queue=self.queue, countdown=countdown)

    # ------------------------------------------------------------------------------------------ maintenance

    def start_maintenance(self) -> None:
        self._maintenance = threading.Thread(target=self._maintain, name="regscout-maintenance", daemon=True)
        self._maintenance.start()

    def _maintain(self) -> None:
        interval = self.config.lease_seconds / 4
        while not self._stopping.wait(interval):
            try:
                self.maintain_once()
            except Exception:
                log.exception("job maintenance failed; trying again in %g s", interval)

    def maintain_once(self) -> None:
        """Requeue the jobs of workers that stopped answering; wake workers for jobs nobody took."""
        reaped = self.store.reap()
        if reaped:
            log.warning("requeued jobs whose worker stopped answering (lease expired): %s", reaped)
        for job_id in reaped:
            self.wake(countdown=runnable_in(self.store, job_id))
        with self._lock:
            idle = self.concurrency - self._busy
        if idle > 0:
            stale = stale_runnable(self.store, STALE_POLLS * self.config.poll_seconds)
            sent = top_up(self.app, min(stale, idle), queue=self.queue) if stale else 0
            if sent:
                log.info("%d runnable job(s) not taken for a while: sent %d wake-up(s)", stale, sent)

    # ------------------------------------------------------------------------------------------ stopping

    def stop(self) -> None:
        """Stop taking jobs; running scans are interrupted and their jobs handed back (not counted as attempts)."""
        with self._lock:
            self._stopping.set()
            running = list(self._running.values())
        for loop, task in running:
            loop.call_soon_threadsafe(task.cancel)

    def join_maintenance(self, timeout: float = 10.0) -> None:
        if self._maintenance is not None:
            self._maintenance.join(timeout)


_host: WorkerHost | None = None


def install(host: WorkerHost | None) -> None:
    """Make ``host`` the one that this process's ``regscout.work`` tasks run on (None: none)."""
    global _host
    _host = host


def _work() -> str:
    if _host is None:
        raise RuntimeError("regscout.work runs only inside `regscout worker`")
    return _host.work()

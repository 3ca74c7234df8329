"""`regscout worker`: a Celery worker that runs scan jobs (REGSCOUT_EXECUTOR=celery)."""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .output import EXIT_INVALID, fail

if TYPE_CHECKING:
    from ..runtime import Runtime
    from ..scanning.config import JobConfig

log = logging.getLogger("regscout.worker")

NEEDS_CELERY = (
    "regscout worker runs scan jobs for the Celery executor: set REGSCOUT_EXECUTOR=celery and "
    "REGSCOUT_BROKER_URL (redis://host:6379/0 or amqp://user:password@host:5672//). "
    "With the default local executor, `regscout serve` runs the scans itself."
)
# Per-message lines of Celery ("received", "succeeded in 0.01 s: 'idle'") only at DEBUG: regscout logs each job.
CHATTY_LOGGERS = ("celery.app.trace", "celery.worker.strategy")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def worker_command(
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", "-c", min=1, help="Scans at once (default REGSCOUT_WORKERS)")
    ] = None,
    queue: Annotated[
        str | None,
        typer.Option("--queue", "-Q", help="Broker queue to take wake-ups from (default REGSCOUT_CELERY_QUEUE)"),
    ] = None,
    loglevel: Annotated[
        str | None,
        typer.Option("--loglevel", "-l", help="DEBUG, INFO, WARNING or ERROR (default REGSCOUT_LOG_LEVEL)"),
    ] = None,
) -> None:
    """Run scan jobs: take wake-ups from the Celery broker, jobs from the database (REGSCOUT_EXECUTOR=celery)."""
    from ..runtime import Runtime, configure_logging

    config = _celery_config()
    runtime = Runtime.from_env()
    level = (loglevel or runtime.settings.log_level).upper()
    if level not in LEVELS:
        fail(f"--loglevel {loglevel!r} must be one of {', '.join(LEVELS)}", EXIT_INVALID)
    configure_logging(level)
    if level != "DEBUG":
        for name in CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    _open_database(runtime)
    raise typer.Exit(_run(runtime, config, concurrency or config.workers, queue, level))


def _celery_config() -> JobConfig:
    from ..scanning.config import JobConfig

    try:
        config = JobConfig.from_env()
    except ValueError as error:
        fail(str(error), EXIT_INVALID)
    if config.executor != "celery" or not config.broker_url:
        fail(NEEDS_CELERY, EXIT_INVALID)
    return config


def _open_database(runtime: Runtime, attempts: int = 5) -> None:
    """Open the database and apply migrations. Workers started together on a new database race to create its
    tables, and a database started with them may not answer yet: a few tries, a second apart."""
    from sqlalchemy.exc import SQLAlchemyError

    for attempt in range(1, attempts + 1):
        try:
            runtime.db  # noqa: B018 - opening it applies the migrations
            return
        except SQLAlchemyError as error:
            if attempt == attempts:
                fail(f"cannot open the database: {error}", 1)
            log.warning("cannot open the database yet (%s); trying again", type(error).__name__)
            time.sleep(1.0)


def _run(runtime: Runtime, config: JobConfig, concurrency: int, queue: str | None, level: str) -> int:
    from celery import signals

    from ..scanning import celery_app
    from ..scanning.config import worker_name

    queue_name = queue or celery_app.queue_name()
    app = celery_app.create_app(config, queue_name)
    name = worker_name("celery")
    host = celery_app.WorkerHost(
        app,
        runtime.jobs,
        runtime.job_scanner(),
        config,
        name=name,
        queue=queue_name,
        concurrency=concurrency,
    )

    def keep_our_logging(**_: Any) -> None:
        """Receiving setup_logging tells Celery to leave logging alone: configure_logging set it up."""

    def shutting_down(**_: Any) -> None:
        host.stop()

    signals.setup_logging.connect(keep_our_logging, weak=False)
    signals.worker_shutting_down.connect(shutting_down, weak=False)
    log.info(
        "worker %s: %d scan(s) at once, queue %r on %s, database %s",
        name,
        concurrency,
        queue_name,
        celery_app.safe_url(str(config.broker_url)),
        runtime.db.engine.url.render_as_string(hide_password=True),
    )
    celery_app.install(host)
    host.start_maintenance()
    try:
        return _celery_worker(app, concurrency, queue_name, level)
    finally:
        host.stop()
        host.join_maintenance()
        celery_app.install(None)
        signals.worker_shutting_down.disconnect(shutting_down)
        signals.setup_logging.disconnect(keep_our_logging)
        runtime.db.dispose()


def _celery_worker(app: Any, concurrency: int, queue: str, level: str) -> int:
    """Celery's worker in this process, until it stops; returns its exit code. Threads, not processes: a scan
    never outlives the worker that runs it."""
    worker = app.Worker(
        hostname=f"regscout-{os.getpid()}@{socket.gethostname()}",
        pool_cls="threads",
        concurrency=concurrency,
        queues=[queue],
        loglevel=level,
        without_mingle=True,
        without_gossip=True,
        without_heartbeat=True,
        quiet=True,
    )
    worker.start()
    return int(worker.exitcode or 0)

"""Run one claimed job: scan under the job's time limit while keeping the lease alive, then record how it
ended. Executors (local threads, Celery) differ only in how they learn that there is work."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..analysis.tarwalk import LayerFormatError
from ..registries.errors import (
    BlobTransferError,
    DigestMismatchError,
    NotFoundError,
    RateLimitedError,
    RegistryError,
    ServerError,
    UnreachableError,
)
from ..services.integrations import IntegrationNotFound
from .jobs import Failure, Job, JobStore

log = logging.getLogger(__name__)

GONE_CODES = frozenset({"MANIFEST_UNKNOWN", "NAME_UNKNOWN"})
# Failures that a later attempt may not meet: the network, the registry's load, a transfer cut short.
TRANSIENT = (UnreachableError, RateLimitedError, ServerError, BlobTransferError, DigestMismatchError)


@dataclass(frozen=True)
class ScanSummary:
    digest: str
    summary: dict[str, Any]
    bytes_fetched: int


class ImageGone(Exception):
    """The registry no longer has the image (manifest or repository unknown)."""


Scanner = Callable[[Job], Awaitable[ScanSummary]]


def classify(error: BaseException) -> Failure:
    """Turn what a scan raised into a failure record: retried when another attempt could succeed."""
    if isinstance(error, ImageGone):
        return Failure(f"image gone from the registry: {error}", retry=False, registry_status="404")
    if isinstance(error, IntegrationNotFound):
        return Failure(str(error), retry=False)
    if isinstance(error, RegistryError):
        status = str(error.http_status) if error.http_status else error.reason
        return Failure(error.describe(), retry=isinstance(error, TRANSIENT), registry_status=status)
    if isinstance(error, LayerFormatError):
        return Failure(f"unreadable layer: {error}", retry=False)
    if isinstance(error, OSError):
        return Failure(f"{type(error).__name__}: {error}", retry=True)
    return Failure(f"{type(error).__name__}: {error}", retry=False)


def is_gone(error: BaseException) -> bool:
    return isinstance(error, NotFoundError) and error.code in GONE_CODES


def _seconds(value: float) -> str:
    if value >= 60 and value % 60 == 0:
        minutes = int(value // 60)
        return f"{minutes} min"
    return f"{value:g} s"


class Worker:
    def __init__(
        self,
        store: JobStore,
        scanner: Scanner,
        name: str,
        *,
        lease_seconds: float,
        on_ended: Callable[[Job, str], None] | None = None,
    ) -> None:
        self.store = store
        self.scanner = scanner
        self.name = name
        self.lease_seconds = lease_seconds
        self.on_ended = on_ended

    async def run(self, job: Job) -> str:
        """Run a job this worker has claimed; returns the state it was left in ("lost" when the lease went).

        Cancelled (the executor is stopping), it hands the job back to the queue at once instead of leaving it to
        its lease, and re-raises. A failure of regscout's own code fails the attempt, to be retried."""
        log.info("job %d: attempt %d of %d: %s (%s)", job.id, job.attempts, job.max_attempts, job.image, job.platform)
        task = asyncio.ensure_future(self.scanner(job))
        try:
            ended = await self._supervise(job, task)
        except asyncio.CancelledError:
            await _stop(task)
            await self.hand_back(job)
            raise
        except Exception:
            log.exception("job %d: the worker failed", job.id)
            ended = await self._fail(job, Failure("internal error in the worker", retry=True))
        log.info("job %d: %s", job.id, ended)
        self._report(job, ended)
        return ended

    async def hand_back(self, job: Job) -> str:
        """Give a claimed job back to the queue without counting the attempt ("released"; "lost" if no longer
        ours)."""
        released = await asyncio.to_thread(self.store.release, job.id, self.name, "the worker stopped")
        if released:
            log.info("job %d: handed back to the queue (the worker is stopping)", job.id)
        ended = "released" if released else "lost"
        self._report(job, ended)
        return ended

    def _report(self, job: Job, state: str) -> None:
        if self.on_ended is not None:
            self.on_ended(job, state)

    async def _supervise(self, job: Job, task: asyncio.Future[ScanSummary]) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + job.timeout_seconds
        interval = self.lease_seconds / 3
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                await _stop(task)
                failure = Failure(
                    f"timed out after {_seconds(job.timeout_seconds)}",
                    retry=True,
                    outcome="timed_out",
                    registry_status="timeout",
                )
                return await self._fail(job, failure)
            done, _ = await asyncio.wait({task}, timeout=min(remaining, interval))
            if done:
                return await self._ended(job, task)
            beat = await asyncio.to_thread(self.store.heartbeat, job.id, self.name, self.lease_seconds)
            if not beat.owner:
                await _stop(task)
                log.warning("job %d: lease lost to another worker; abandoning this attempt", job.id)
                return "lost"
            if beat.cancel_requested:
                await _stop(task)
                recorded = await asyncio.to_thread(self.store.cancelled, job.id, self.name, "cancelled while running")
                return "cancelled" if recorded else "lost"

    async def _ended(self, job: Job, task: asyncio.Future[ScanSummary]) -> str:
        error = task.exception()
        if error is None:
            result = task.result()
            recorded = await asyncio.to_thread(
                self.store.succeed,
                job.id,
                self.name,
                result_digest=result.digest,
                summary=result.summary,
                bytes_fetched=result.bytes_fetched,
            )
            return "succeeded" if recorded else "lost"
        if isinstance(error, IntegrationNotFound):
            recorded = await asyncio.to_thread(
                self.store.cancelled, job.id, self.name, f"integration {job.integration!r} was deleted"
            )
            return "cancelled" if recorded else "lost"
        if not isinstance(error, Exception):
            raise error
        return await self._fail(job, classify(error))

    async def _fail(self, job: Job, failure: Failure) -> str:
        log.warning("job %d: attempt %d failed: %s", job.id, job.attempts, failure.reason)
        state = await asyncio.to_thread(self.store.fail, job.id, self.name, failure)
        return state or "lost"


async def _stop(task: asyncio.Future[Any]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

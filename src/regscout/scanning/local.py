"""The embedded executor: worker tasks on an event loop in a thread of `regscout serve`.

Jobs live in the database, so queued jobs survive a restart, and a job that was running when the server died is
taken again once its lease expires. Workers poll the table every few seconds and wake at once when this process
queues something; nothing else has to run."""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from .jobs import JobStore
from .worker import Scanner, Worker

log = logging.getLogger(__name__)


class LocalExecutor:
    def __init__(
        self,
        store: JobStore,
        scanner: Scanner,
        name: str,
        *,
        workers: int,
        lease_seconds: float,
        poll_seconds: float,
    ) -> None:
        self.store = store
        self.scanner = scanner
        self.name = name
        self.workers = workers
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="regscout-local-executor", daemon=True)
        self._thread.start()
        self._started.wait()

    def notify(self) -> None:
        """Jobs were queued: wake idle workers now rather than at their next poll."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking jobs; running scans are interrupted and their jobs go back to the queue uncounted."""
        if self._loop is None or self._stopping is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout)

    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        # Each scan keeps up to three layer-analysis threads busy; heartbeats and database calls need threads too,
        # and must not queue behind the analyses (a starved heartbeat would lose the lease).
        self._loop.set_default_executor(ThreadPoolExecutor(self.workers * 4 + 4, thread_name_prefix="regscout-scan"))
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._started.set()
        tasks = [asyncio.create_task(self._work(index)) for index in range(self.workers)]
        tasks.append(asyncio.create_task(self._reap()))
        await self._stopping.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _work(self, index: int) -> None:
        assert self._wake is not None
        worker = Worker(self.store, self.scanner, f"{self.name}/{index}", lease_seconds=self.lease_seconds)
        while True:
            job = await asyncio.to_thread(self.store.claim_next, worker.name, self.lease_seconds)
            if job is None:
                await self._idle()
                continue
            await worker.run(job)  # cancelled when the server stops: the worker hands the job back first

    async def _idle(self) -> None:
        assert self._wake is not None
        try:
            await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
        except TimeoutError:
            return
        self._wake.clear()

    async def _reap(self) -> None:
        while True:
            reaped = await asyncio.to_thread(self.store.reap)
            if reaped:
                log.warning("requeued jobs whose worker stopped answering: %s", reaped)
                self.notify()
            await asyncio.sleep(max(self.lease_seconds / 4, self.poll_seconds))

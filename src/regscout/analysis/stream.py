"""Feed a layer blob from the async registry client into the analysis thread.

Download and analysis overlap: the event loop receives pieces while a worker thread decompresses
and walks them (isal and zstd release the GIL). At most IN_FLIGHT_BYTES are handed over and not
yet taken, so memory stays flat however large the layer; the worker wakes the event loop only
when half of that has drained, not once per piece. A failure on either side stops the other, and
a download that fails its digest check fails the analysis, so nothing partial is kept."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Executor
from typing import Any, TypeVar

T = TypeVar("T")
IN_FLIGHT_BYTES = 8 << 20
_END = b""


class _Handoff:
    """Pieces from the event loop to one worker thread, with byte-counted back-pressure."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int = IN_FLIGHT_BYTES) -> None:
        self._loop = loop
        self._limit = limit
        self._pieces: queue.SimpleQueue[bytes | BaseException] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._waiter: asyncio.Future[None] | None = None

    # ---- the event loop's side
    def put(self, piece: bytes) -> bool:
        """Hand a piece over; False if the worker is now too far behind (wait for `room`)."""
        with self._lock:
            self._in_flight += len(piece)
            full = self._in_flight > self._limit
        self._pieces.put(piece)
        return not full

    def end(self, error: BaseException | None = None) -> None:
        self._pieces.put(_END if error is None else error)

    async def room(self, worker: asyncio.Future[Any]) -> bool:
        """Wait until the worker has taken half of what is in flight; False if it ends first."""
        with self._lock:
            if self._in_flight <= self._limit:
                return True
            waiter = self._waiter = self._loop.create_future()
        await asyncio.wait({waiter, worker}, return_when=asyncio.FIRST_COMPLETED)
        if waiter.done():
            return True
        waiter.cancel()
        return False

    # ---- the worker's side
    def pieces(self) -> Iterator[bytes]:
        while True:
            item = self._pieces.get()  # blocks without the GIL
            if isinstance(item, BaseException):
                raise item
            if not item:
                return
            with self._lock:
                self._in_flight -= len(item)
                waiter = self._waiter if self._in_flight <= self._limit // 2 else None
                if waiter is not None:
                    self._waiter = None
            if waiter is not None:
                self._loop.call_soon_threadsafe(_wake, waiter)
            yield item


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def consume_in_thread(
    chunks: AsyncIterator[bytes], work: Callable[[Iterator[bytes]], T], executor: Executor | None = None
) -> T:
    """Run `work(pieces)` in a thread while `chunks` are pumped into `pieces`."""
    loop = asyncio.get_running_loop()
    handoff = _Handoff(loop)
    worker = loop.run_in_executor(executor, work, handoff.pieces())

    async def pump() -> None:
        try:
            async for chunk in chunks:
                if worker.done():
                    return  # the worker finished or failed: stop downloading
                if chunk and not handoff.put(chunk) and not await handoff.room(worker):
                    return
            handoff.end()
        except BaseException as error:  # the download failed: the worker must fail too
            handoff.end(error)
            if not isinstance(error, Exception):
                raise

    pumping = asyncio.ensure_future(pump())
    try:
        result = await worker
    finally:
        if not pumping.done():
            pumping.cancel()
        await asyncio.gather(pumping, return_exceptions=True)
        if not worker.done():  # cancelled: a worker still reading must not wait for pieces forever
            handoff.end(asyncio.CancelledError())
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()
    return result

"""Feed a layer blob from the async registry client into the analysis thread.

Download and analysis overlap: the event loop receives chunks while a worker thread decompresses
and walks them (isal and zstd release the GIL). A bounded number of chunks is in flight, so
memory stays flat however large the layer; a failure on either side stops the other, and a
download that fails its digest check fails the analysis, so nothing partial is kept."""

from __future__ import annotations

import asyncio
import io
import queue
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from typing import Any, BinaryIO, TypeVar, cast

T = TypeVar("T")
IN_FLIGHT_CHUNKS = 8
_END = b""


class _QueueReader(io.RawIOBase):
    """A blocking raw stream over chunks handed across from the event loop. The worker thread
    waits on a thread-safe queue (without the GIL), so a chunk costs the event loop one put and
    one wake-up to free its slot."""

    def __init__(self, chunks: queue.SimpleQueue[bytes | BaseException], release: Callable[[], object]) -> None:
        self._chunks = chunks
        self._release = release
        self._buffer = memoryview(b"")
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer:
            if self._ended:
                return 0
            item = self._chunks.get()
            if isinstance(item, BaseException):
                raise item
            self._release()
            if item == _END:
                self._ended = True
                return 0
            self._buffer = memoryview(item)
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


async def consume_in_thread(
    chunks: AsyncIterator[bytes], work: Callable[[BinaryIO], T], executor: Executor | None = None
) -> T:
    """Run `work(reader)` in a thread while `chunks` are pumped into `reader`."""
    loop = asyncio.get_running_loop()
    handed: queue.SimpleQueue[bytes | BaseException] = queue.SimpleQueue()
    slots = asyncio.Semaphore(IN_FLIGHT_CHUNKS)
    raw = _QueueReader(handed, lambda: loop.call_soon_threadsafe(slots.release))
    reader = cast(BinaryIO, io.BufferedReader(raw, 1 << 20))
    worker = loop.run_in_executor(executor, work, reader)

    async def pump() -> None:
        try:
            async for chunk in chunks:
                if not chunk:
                    continue
                if not await _slot(slots, worker):
                    return  # the worker finished or failed: stop downloading
                handed.put(chunk)
            handed.put(_END)
        except BaseException as error:  # the download failed: the worker must fail too
            handed.put(error)
            if not isinstance(error, Exception):
                raise

    pumping = asyncio.ensure_future(pump())
    try:
        result = await worker
    finally:
        if not pumping.done():
            pumping.cancel()
        await asyncio.gather(pumping, return_exceptions=True)
        if not worker.done():  # cancelled: a worker still reading must not wait for chunks forever
            handed.put(asyncio.CancelledError())
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()
    return result


async def _slot(slots: asyncio.Semaphore, worker: asyncio.Future[Any]) -> bool:
    """Wait for a free slot; False if the worker ends first (it will read no more chunks)."""
    if worker.done():
        return False
    if not slots.locked():
        await slots.acquire()  # free at once
        return True
    acquire = asyncio.ensure_future(slots.acquire())
    waiting: set[asyncio.Future[Any]] = {acquire, worker}
    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    if acquire.done():
        return True
    acquire.cancel()
    return False

"""The hand-over of blob pieces from the event loop to the analysis thread: back-pressure by bytes,
early stops on either side, errors carried across."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

import pytest

from regscout.analysis.stream import IN_FLIGHT_BYTES, _Handoff, consume_in_thread

pytestmark = pytest.mark.anyio


async def test_room_waits_until_half_of_the_limit_has_drained() -> None:
    loop = asyncio.get_running_loop()
    handoff = _Handoff(loop, limit=10)
    accepted = [handoff.put(b"x") for _ in range(11)]
    assert accepted == [True] * 10 + [False]  # the 11th byte is over the limit
    worker: asyncio.Future[None] = loop.create_future()  # a worker that has not finished
    pieces = handoff.pieces()
    room = asyncio.ensure_future(handoff.room(worker))
    await asyncio.sleep(0)  # let the task register its waiter (one step of this loop, no other thread)
    await asyncio.to_thread(lambda: [next(pieces) for _ in range(5)])
    assert not room.done()  # 6 bytes in flight: still over half the limit, so no wake-up was sent
    await asyncio.to_thread(next, pieces)
    assert await room is True


async def test_room_is_refused_when_the_worker_ends_first() -> None:
    loop = asyncio.get_running_loop()
    handoff = _Handoff(loop, limit=1)
    handoff.put(b"xy")
    worker: asyncio.Future[None] = loop.create_future()
    room = asyncio.ensure_future(handoff.room(worker))
    await asyncio.sleep(0)
    worker.set_result(None)
    assert await room is False


async def test_an_error_handed_over_is_raised_in_the_worker() -> None:
    handoff = _Handoff(asyncio.get_running_loop())
    handoff.put(b"first")
    handoff.end(ConnectionResetError("reset by peer"))
    pieces = handoff.pieces()
    assert next(pieces) == b"first"
    with pytest.raises(ConnectionResetError, match="reset by peer"):
        next(pieces)


async def test_a_worker_that_stops_early_stops_the_download() -> None:
    produced = 0
    closed = threading.Event()

    async def blob() -> AsyncIterator[bytes]:
        nonlocal produced
        try:
            for _ in range(1000):
                produced += 1
                yield bytes(1 << 20)
        finally:
            closed.set()

    def first_piece_only(pieces: Iterator[bytes]) -> int:
        return len(next(pieces))

    assert await consume_in_thread(blob(), first_piece_only) == 1 << 20
    assert closed.is_set()
    assert produced <= IN_FLIGHT_BYTES // (1 << 20) + 2  # never more than the in-flight limit ahead


async def test_a_download_error_fails_the_worker() -> None:
    async def blob() -> AsyncIterator[bytes]:
        yield b"a" * 100
        raise OSError("connection reset")

    def read_all(pieces: Iterator[bytes]) -> bytes:
        return b"".join(pieces)

    with pytest.raises(OSError, match="connection reset"):
        await consume_in_thread(blob(), read_all)


async def test_every_byte_arrives_in_order() -> None:
    data = bytes(range(256)) * 40_000  # 10 MB, over the in-flight limit

    async def blob() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 70_001):
            yield data[start : start + 70_001]

    assert await consume_in_thread(blob(), lambda pieces: b"".join(pieces)) == data

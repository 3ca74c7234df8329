"""A request-rate limit per registry (Docker Hub's pull quota, a fragile on-premise registry): every client of
the same registry in this process shares one schedule of request slots, across threads and event loops."""

from __future__ import annotations

import asyncio
import threading
import time


class RequestPacer:
    def __init__(self, requests_per_second: float) -> None:
        if requests_per_second <= 0:
            raise ValueError("requests per second must be above zero")
        self.interval = 1.0 / requests_per_second
        self._next = 0.0
        self._lock = threading.Lock()

    def reserve(self, now: float | None = None) -> float:
        """Take the next free slot; returns how long to wait for it."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            slot = max(moment, self._next)
            self._next = slot + self.interval
        return slot - moment

    async def wait(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)


_PACERS: dict[tuple[str, float], RequestPacer] = {}
_PACERS_LOCK = threading.Lock()


def pacer_for(registry: str, requests_per_second: float) -> RequestPacer:
    """The process-wide pacer of one registry (by origin) at one rate."""
    with _PACERS_LOCK:
        key = (registry, requests_per_second)
        pacer = _PACERS.get(key)
        if pacer is None:
            pacer = _PACERS[key] = RequestPacer(requests_per_second)
        return pacer

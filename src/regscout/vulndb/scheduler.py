"""Scheduled updates in the server: each configured source is updated when its last attempt is
`interval_seconds` old (at once if it was never attempted), so a restart does not download
everything again and `regscout db status` can say when the next update is due."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from datetime import UTC, datetime, timedelta

from .service import VulnDBService

log = logging.getLogger(__name__)

# A source still due right after an update (its failure could not be recorded) waits this long
RETRY_PAUSE = timedelta(seconds=300)


async def _wait(stop_event: asyncio.Event, seconds: float) -> bool:
    """True when `stop_event` was set within `seconds`."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop_event.wait(), timeout=max(seconds, 0.0))
    return stop_event.is_set()


async def _update(service: VulnDBService, names: list[str], stop_event: asyncio.Event) -> None:
    """Run the update in a thread; when the server stops meanwhile, cancel it (the source being
    written is rolled back, the previous data stays) and wait for the thread to finish."""
    cancel = threading.Event()
    work = asyncio.ensure_future(asyncio.to_thread(service.update, names, cancel=cancel))
    stopping = asyncio.ensure_future(stop_event.wait())
    try:
        await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not work.done():
            cancel.set()
        results = await work
    except asyncio.CancelledError:
        cancel.set()  # the task running the schedule was cancelled rather than stopped
        raise
    finally:
        stopping.cancel()
    for result in results:
        if not result.ok:
            log.warning("scheduled update of %s failed: %s", result.source, result.error)


async def run_periodic_updates(service: VulnDBService, interval_seconds: int, stop_event: asyncio.Event) -> None:
    """Update the vulnerability data every `interval_seconds` until `stop_event` is set (0: never)."""
    if interval_seconds <= 0:
        return
    pause = min(RETRY_PAUSE, timedelta(seconds=interval_seconds))
    held_back: dict[str, datetime] = {}
    while not stop_event.is_set():
        try:
            schedule = await asyncio.to_thread(service.schedule, interval_seconds)
        except Exception:
            log.exception("could not read the vulnerability-data schedule")
            if await _wait(stop_event, RETRY_PAUSE.total_seconds()):
                return
            continue
        now = datetime.now(UTC)
        schedule = {name: max(at, held_back.get(name, at)) for name, at in schedule.items()}
        due = [name for name, at in schedule.items() if at <= now]
        if due:
            try:
                await _update(service, due, stop_event)
            except Exception:
                log.exception("scheduled vulnerability-data update failed")
            held_back = {name: datetime.now(UTC) + pause for name in due}
            continue
        if not schedule:
            await stop_event.wait()
            return
        if await _wait(stop_event, (min(schedule.values()) - now).total_seconds()):
            return

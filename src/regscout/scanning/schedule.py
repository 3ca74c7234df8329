"""When an automatic integration is next due: a cron expression evaluated in a time zone, or an interval."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from croniter import croniter

from ..selection import check_schedule

_INTERVAL = re.compile(r"([0-9]+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def interval_of(spec: str) -> timedelta | None:
    m = _INTERVAL.fullmatch(spec.strip())
    return timedelta(seconds=int(m[1]) * _UNIT_SECONDS[m[2]]) if m else None


def local_zone(name: str | None) -> tzinfo:
    """The named zone, else the server's own."""
    if name:
        return ZoneInfo(name)
    zone = datetime.now().astimezone().tzinfo
    return zone if zone is not None else UTC


def spec_key(schedule: str, timezone: str | None) -> str:
    """What a stored next-run time was computed from; a changed key means: compute it again."""
    return f"{schedule.strip()}|{timezone or ''}"


def first_run(schedule: str, timezone: str | None, now: datetime) -> datetime:
    """An interval runs at once when the schedule is set; a cron expression at its next time."""
    if interval_of(schedule) is not None:
        return now
    return next_run(schedule, timezone, now)


def next_run(schedule: str, timezone: str | None, after: datetime) -> datetime:
    """The first due time strictly after ``after`` (timezone-aware, returned in UTC).

    Cron fields are read on the wall clock of ``timezone``: "0 3 * * *" in Europe/Berlin is 03:00 Berlin time in
    summer and in winter."""
    if after.utcoffset() is None:
        raise ValueError("after must be timezone-aware")
    check_schedule(schedule)
    interval = interval_of(schedule)
    if interval is not None:
        return (after + interval).astimezone(UTC)
    local = after.astimezone(local_zone(timezone))
    due: datetime = croniter(schedule.strip(), local).get_next(datetime)
    return due.astimezone(UTC)
